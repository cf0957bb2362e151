//! The web viewer in headless Chromium (`tests/browser/viewer.py bench`):
//! its first paint beside the same files from nginx, and the time from
//! opening a 100,000-line file (from its start) until every line is in the
//! view beside a bare `EventSource` that only parses the same events.
//!
//! `cargo bench -p spin-logs-tests --bench viewer` (`BENCH_LINES`, default
//! 100000). Chromium and Playwright are installed as the tests install them.

mod support;

use std::process::Command;
use support::servers::with_nginx;
use support::*;

fn main() {
    let lines: usize = std::env::var("BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let (python, chromium) = spin_logs_tests::services::playwright().expect("playwright");
    let host = start(vec![
        ("max_response_bytes".into(), "0".into()),
        ("tail_budget_ms".into(), "25000".into()),
    ]);
    let agent = agent();
    register(&agent, &host, "web.1");
    // Log lines of a typical length (~90 bytes), numbered, in 10,000-line batches.
    let mut at = 0;
    while at < lines {
        let n = (lines - at).min(10_000);
        let batch: String = (at..at + n)
            .map(|i| match i % 50 {
                17 => format!("2026-12-04T10:{:02}:{:02}Z level=error msg=\"GET /api/v1/pay\" status=502 duration=1.2s upstream=payments trace={i:08x}\n", i / 60 % 60, i % 60),
                _ => format!("2026-12-04T10:{:02}:{:02}Z level=info msg=\"GET /api/v1/items\" status=200 duration={}ms user=u{}\n", i / 60 % 60, i % 60, 5 + i % 40, i % 97),
            })
            .collect();
        ingest(&agent, &host, "web.1", batch.as_bytes(), 1);
        at += n;
    }

    // The same three files, from nginx: the anchor for first paint.
    let copy = tempfile::tempdir().expect("dir");
    let ui = copy.path().join("ui");
    std::fs::create_dir(&ui).expect("ui/");
    for (path, name) in [
        ("/ui/", "index.html"),
        ("/ui/app.js", "app.js"),
        ("/ui/app.css", "app.css"),
    ] {
        let body = agent
            .get(host.url(path))
            .call()
            .expect("get")
            .into_body()
            .read_to_vec()
            .expect("body");
        std::fs::write(ui.join(name), body).expect("write");
    }
    let artifacts = spin_logs_tests::repo_root().join("target/viewer-artifacts");
    let token = auth().trim_start_matches("Bearer ").to_owned();
    let report: serde_json::Value = with_nginx(copy.path(), |nginx| {
        let out = Command::new(&python)
            .arg(spin_logs_tests::repo_root().join("tests/browser/viewer.py"))
            .args(["bench", &host.base_url(), &token])
            .arg(&artifacts)
            .env("CHROMIUM", &chromium)
            .env("BENCH_LINES", lines.to_string())
            .env("ANCHOR_UI", format!("{nginx}/ui/"))
            .output()
            .expect("viewer.py");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("report")
    });
    let f = |k: &str| report[k].as_f64().unwrap_or(f64::NAN);
    assert_eq!(report["lines"], lines, "every line shown: {report}");
    println!("| Figure | viewer | anchor | ratio |");
    println!("|---|---|---|---|");
    for (what, ours, theirs) in [
        (
            "first paint of /ui/, cold cache",
            "first_paint_ms_cold",
            "anchor_first_paint_ms_cold",
        ),
        (
            "first paint of /ui/, warm cache",
            "first_paint_ms_warm",
            "anchor_first_paint_ms_warm",
        ),
    ] {
        println!(
            "| {what} | {:.0} ms | nginx, same files: {:.0} ms | {:.2} |",
            f(ours),
            f(theirs),
            f(ours) / f(theirs)
        );
    }
    println!(
        "| {lines} lines of tail shown (opened from the start) | {:.2} s | bare EventSource, parse only: {:.2} s | {:.2} |",
        f("show_all_lines_s"),
        f("bare_eventsource_s"),
        f("show_all_lines_s") / f("bare_eventsource_s")
    );
    println!(
        "rows in the DOM after {lines} lines: {}; JS heap: {:.0} MB",
        report["rows_in_dom"],
        f("js_heap_mb")
    );
}
