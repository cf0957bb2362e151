//! The examples of Loki's LogQL documentation (grafana/loki
//! `docs/sources/query/`, extracted to `tests/fixtures/logql-examples.txt`
//! with the commit they come from) run through `query_range` on the real
//! components (issue 28). Pipeline fragments run after a selector; the
//! examples the docs call invalid must be refused as parse errors; syntax
//! placeholders (`<re>`) and Grafana `$variables` are counted but not run.
//! The share parsed and answered is printed, and must not fall below what
//! was measured when this test was written.

mod common;

use common::*;
use serde_json::json;
use spin_logs_tests::enc;

/// Answered when this test was written (of the runnable examples); raise it
/// when LogQL grows, never lower it.
const ANSWERED_AT_LEAST: usize = 112;

#[derive(Debug)]
struct Example {
    section: String,
    needs: String,
    query: String,
}

fn examples() -> Vec<Example> {
    let text = std::fs::read_to_string(
        spin_logs_tests::repo_root().join("tests/fixtures/logql-examples.txt"),
    )
    .expect("fixture");
    let mut out = Vec::new();
    let (mut section, mut needs) = (String::new(), String::new());
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("#  needs: ") {
            needs = n.to_owned();
        } else if let Some(s) = line.strip_prefix("# ") {
            if !s.starts_with("====") && s.contains(':') && !s.starts_with("Format:") {
                section = s.to_owned();
            }
        } else if line.starts_with('#') || line.trim().is_empty() {
        } else {
            out.push(Example {
                section: section.clone(),
                needs: std::mem::take(&mut needs),
                query: line.to_owned(),
            });
        }
    }
    out
}

#[test]
fn the_examples_of_lokis_logql_docs_are_answered() {
    let host = host();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    // A little of what the examples select, so most answer with data.
    let line = |i: u64| {
        format!(
            "level=error msg=\"GET /home (200) 12ms\" duration={i}s status_code=500 \
             bytes_processed={} request_time=0.{i} org_id=o{} addr=192.168.4.{i} \
             remote_addr=2001:db8::{i} query=\"sum(x)\" user=kling{i} cost={i} label_identifier={i}",
            i * 100,
            i % 3
        )
    };
    let streams: Vec<_> = ["mysql", "myapp", "security", "varlogs", "example"]
        .iter()
        .map(|job| {
            let values: Vec<_> = (1..=9u64)
                .map(|i| json!([(now - i * 20_000_000_000).to_string(), line(i)]))
                .collect();
            json!({"stream": {"job": job, "job_name": job, "cluster": "ops-tools1",
                              "container": "ingress-nginx", "app": "foo"}, "values": values})
        })
        .collect();
    let r = send(
        &host,
        "POST",
        "/loki/api/v1/push",
        Some("application/json"),
        json!({ "streams": streams }).to_string().as_bytes(),
    );
    assert_eq!(r.status, 204, "{}", r.text());

    let all = examples();
    assert!(all.len() > 100, "{} examples", all.len());
    let (mut placeholders, mut runnable, mut parsed, mut answered) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for ex in &all {
        if ex.needs.contains("not runnable") || ex.needs.contains("Grafana template variables") {
            placeholders += 1;
            continue;
        }
        runnable += 1;
        let invalid = ex.needs.to_lowercase().contains("invalid");
        let q = ex.query.trim().trim_start_matches("...").trim();
        let query = if q.starts_with("| unwrap") {
            // `unwrap` belongs in a range aggregation, as the docs' prose says.
            format!("sum_over_time({{job=\"mysql\"}} | logfmt {q} [1m])")
        } else if q.starts_with('|') || q.starts_with("!=") {
            format!("{{job=\"mysql\"}} {q}")
        } else {
            q.to_owned()
        };
        let r = get(
            &host,
            &format!(
                "/loki/api/v1/query_range?query={}&start={}&end={}&step=60000ms&limit=100",
                enc(&query),
                now - 3_600_000_000_000,
                now
            ),
        );
        let message = match r.status {
            200 => String::new(),
            _ => serde_json::from_slice::<serde_json::Value>(&r.body)
                .ok()
                .and_then(|b| b["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| r.text()),
        };
        let parse_error = r.status == 400 && message.starts_with("parse error");
        let ok = if invalid {
            parse_error
        } else {
            r.status == 200
        };
        if invalid || !parse_error {
            parsed += 1;
        }
        if ok {
            answered += 1;
        } else {
            failures.push(format!(
                "  [{}] {} ({}): {} {}",
                ex.section, query, ex.needs, r.status, message
            ));
        }
    }
    let pct = |n: usize| 100.0 * n as f64 / runnable as f64;
    println!(
        "LogQL documentation examples: {} in all, {placeholders} placeholders not run, \
         {runnable} runnable: {parsed} parsed ({:.1} %), {answered} answered ({:.1} %)",
        all.len(),
        pct(parsed),
        pct(answered)
    );
    if !failures.is_empty() {
        println!("not answered:\n{}", failures.join("\n"));
    }
    assert!(
        answered >= ANSWERED_AT_LEAST,
        "{answered} of {runnable} answered, fewer than the {ANSWERED_AT_LEAST} measured:\n{}",
        failures.join("\n")
    );
}
