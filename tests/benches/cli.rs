//! `spin-logs download` beside `curl -o` of the same bytes, in one run: a
//! task's file (the download route) and its sandbox `.tar.gz`.
//!
//! `cargo bench -p spin-logs-tests --bench cli` (`BENCH_CLI_MIB`, default
//! 128, sets the file's size). The CLI is the dev-profile build the tests
//! run (its dependencies optimised, as every dev build here); curl is the
//! system's. Each figure is the median of three runs.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn timed(mut cmd: Command, out: &Path) -> (Duration, u64) {
    let _ = std::fs::remove_file(out);
    let started = Instant::now();
    let status = cmd.status().expect("runs");
    let took = started.elapsed();
    assert!(status.success(), "{cmd:?}");
    (took, std::fs::metadata(out).expect("saved").len())
}

fn main() {
    let mib: usize = std::env::var("BENCH_CLI_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    let cli = spin_logs_tests::builder::native_binary("spin-logs-cli", "spin-logs")
        .expect("the CLI builds");
    let host = start(vec![("max_response_bytes".into(), "0".into())]);
    let agent = agent();
    register(&agent, &host, "bench");
    let log = typical_log(4 << 20, 7);
    ingest(&agent, &host, "bench", &log, mib / 4);
    let dir = tempfile::tempdir().expect("temp dir");
    let token = auth().trim_start_matches("Bearer ").to_owned();

    println!("| Figure | spin-logs download | curl -o | ratio |");
    println!("|---|---|---|---|");
    let base = read_path("bench", "");
    for (figure, cli_args, route) in [
        (
            format!("task file, {mib} MiB"),
            vec!["download", "bench"],
            format!("{base}/download"),
        ),
        (
            format!("sandbox .tar.gz of {mib} MiB"),
            vec!["download", "--archive", "bench"],
            base.replace("/stdout", "/files/archive"),
        ),
    ] {
        let out = dir.path().join("out");
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        let mut bytes = 0;
        for _ in 0..3 {
            let mut c = Command::new(&cli);
            c.args(&cli_args)
                .arg("-o")
                .arg(&out)
                .arg("--quiet")
                .env("SPIN_LOGS_SERVER", host.base_url())
                .env("SPIN_LOGS_TOKEN", &token);
            let (t, n) = timed(c, &out);
            ours.push(t);
            bytes = n;
            let mut c = Command::new("curl");
            c.args(["-sS", "--fail", "-o"])
                .arg(&out)
                .arg("-H")
                .arg(format!("authorization: {}", auth()))
                .arg(host.url(&route));
            let (t, n) = timed(c, &out);
            assert_eq!(n, bytes, "the same bytes");
            theirs.push(t);
        }
        let rate = |d: Duration| bytes as f64 / d.as_secs_f64() / 1e6;
        let (a, b) = (rate(median(ours)), rate(median(theirs)));
        println!(
            "| {figure} ({bytes} bytes) | {a:.0} MB/s | {b:.0} MB/s | {:.2} |",
            a / b
        );
    }
}
