//! `search`: labelled streams by LogQL (`{...}`) or by plain text, page
//! after page (`next_cursor`) until `--limit` entries or the end.
//!
//! A page may end early because the server's scan budget ran out
//! (`has_more` with a cursor): the next page goes on from there, so a long
//! search loses and repeats nothing.

use crate::client::Client;
use crate::error::{CliError, CliResult};
use serde_json::{Value, json};
use std::io::Write;

pub struct SearchOptions {
    pub query: String,
    pub namespace: Option<String>,
    pub since: Option<String>,
    pub limit: u64,
    pub context: Option<u64>,
    pub json: bool,
}

/// Prints the matches; returns how many.
pub fn search(client: &Client, opts: &SearchOptions, out: &mut dyn Write) -> CliResult<u64> {
    let logql = opts.query.trim_start().starts_with('{');
    let url = client.url(if logql {
        "/k8s/v1/search/logql"
    } else {
        "/k8s/v1/search"
    });
    let mut body = if logql {
        json!({ "query": opts.query })
    } else {
        json!({ "contains": [opts.query] })
    };
    if let Some(ns) = &opts.namespace {
        if logql {
            return Err(CliError::Usage(
                "--namespace goes in the LogQL selector itself".into(),
            ));
        }
        body["namespace"] = json!(ns);
    }
    if let Some(s) = &opts.since {
        body["since"] = json!(s);
    }
    if let Some(c) = opts.context {
        if logql {
            return Err(CliError::Usage(
                "--context is for a plain-text search".into(),
            ));
        }
        body["context_before"] = json!(c);
        body["context_after"] = json!(c);
    }
    let mut printed = 0u64;
    let write = |out: &mut dyn Write, s: &str| {
        writeln!(out, "{s}").map_err(|e| CliError::local("writing the output", e))
    };
    while printed < opts.limit {
        body["limit"] = json!((opts.limit - printed).min(5000));
        let page = client.post_json(&url, &body)?;
        if page.get("logs").is_none() {
            // A metric query: its result as the server gave it.
            write(out, &page.to_string())?;
            return Ok(0);
        }
        for entry in page["logs"].as_array().into_iter().flatten() {
            if opts.json {
                write(out, &entry.to_string())?;
            } else {
                for c in lines(&entry["context_before"]) {
                    write(out, &format!("  {c}"))?;
                }
                write(
                    out,
                    &format!("{} {}", text(&entry["timestamp"]), text(&entry["line"])),
                )?;
                for c in lines(&entry["context_after"]) {
                    write(out, &format!("  {c}"))?;
                }
            }
            printed += 1;
        }
        match page["next_cursor"].as_str() {
            Some(c) if page["has_more"] == true => body["cursor"] = json!(c),
            _ => break,
        }
    }
    Ok(printed)
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// Context lines as strings (each may be a string or an entry).
fn lines(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|c| match c.as_str() {
            Some(s) => s.to_owned(),
            None => c["line"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}
