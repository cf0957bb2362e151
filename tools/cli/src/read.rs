//! `cat`: a read route, page after page.
//!
//! A read stops before `max_response_bytes` on a line boundary and says
//! where to go on (`X-Next-Cursor`); without `--limit` the CLI goes on until
//! the log's end, so `cat` prints the whole log on any host.

use crate::client::Client;
use crate::error::{CliError, CliResult};
use std::io::Write;

pub struct ReadOptions {
    pub limit: Option<u64>,
    pub skip: Option<i64>,
    pub cursor: Option<String>,
    pub filters: Vec<String>,
    pub json: bool,
}

/// Copies `segments`' read to `out`; returns how many pages it took.
pub fn cat(
    client: &Client,
    segments: &[String],
    opts: &ReadOptions,
    out: &mut dyn Write,
) -> CliResult<usize> {
    let accept = if opts.json {
        "application/x-ndjson"
    } else {
        "text/plain"
    };
    let mut cursor = opts.cursor.clone();
    let mut skip = opts.skip;
    let mut pages = 0;
    loop {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(l) = opts.limit {
            query.push(("limit", l.to_string()));
        }
        if let Some(s) = skip {
            query.push(("skip", s.to_string()));
        }
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        for f in &opts.filters {
            query.push(("filter", f.clone()));
        }
        let answer = client.get(&client.url_of(segments, &query), &[("accept", accept)])?;
        pages += 1;
        if answer.status() == 204 {
            return Ok(pages);
        }
        let next = answer.header("x-next-cursor").map(str::to_owned);
        std::io::copy(&mut answer.reader(), out)
            .map_err(|e| CliError::Network(format!("reading the log: {e}")))?;
        match next {
            // With a limit the user asked for one page's worth.
            Some(c) if opts.limit.is_none() => {
                cursor = Some(c);
                skip = None;
            }
            _ => return Ok(pages),
        }
    }
}
