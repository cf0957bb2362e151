//! Foundation benchmark: ingest throughput, component sizes, and the cost of
//! "the last 100 lines" on a small and a large file, all through the test host.
//!
//! `cargo bench -p spin-logs-tests --bench foundation` (set `BENCH_BIG_MIB` to
//! change the large file's size; default 256). Prints a table and the ratio the
//! index promises to keep near 1: last-100 on the big file / on the small one.

use spin_logs_tests::{HostOptions, TestHost};
use std::time::{Duration, Instant};

const INGEST: &str = "/system/v1/logs/v2/ingest";
const LINE: usize = 100;
const BATCH: usize = 1024 * 1024;

fn main() {
    let big_mib: usize = std::env::var("BENCH_BIG_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let host = TestHost::start(HostOptions::default()).expect("host starts");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();

    println!("== component sizes (wasm32-wasip2, release)");
    let manifest = spin_logs_tests::manifest::Manifest::load(&spin_logs_tests::repo_root())
        .expect("spin.toml");
    for (name, component) in &manifest.components {
        let bytes = std::fs::metadata(manifest.source_path(component))
            .map(|m| m.len())
            .unwrap_or(0);
        println!("{name:>10}  {:>8.1} KiB", bytes as f64 / 1024.0);
    }

    register(&agent, &host, "small");
    register(&agent, &host, "big");
    let batch = batch_of_lines();
    let lines_per_batch = batch.iter().filter(|b| **b == b'\n').count();

    ingest(&agent, &host, "small", &batch, 1);
    let start = Instant::now();
    ingest(&agent, &host, "big", &batch, big_mib);
    let took = start.elapsed().as_secs_f64();
    let mb = (big_mib * BATCH) as f64 / 1e6;
    println!("\n== ingest: {big_mib} x 1 MiB batches of {LINE}-byte lines, one client");
    println!(
        "{:>10.1} MB/s  {:>10.0} lines/s  ({took:.1} s)",
        mb / took,
        (big_mib * lines_per_batch) as f64 / took
    );

    let parallel = 4;
    let start = Instant::now();
    std::thread::scope(|s| {
        for w in 0..parallel {
            let (agent, host, batch) = (&agent, &host, &batch);
            s.spawn(move || {
                let task = format!("par{w}");
                register(agent, host, &task);
                ingest(agent, host, &task, batch, 16);
            });
        }
    });
    let took = start.elapsed().as_secs_f64();
    let mb = (parallel * 16 * BATCH) as f64 / 1e6;
    println!("== ingest: {parallel} clients x 16 MiB to separate files");
    println!(
        "{:>10.1} MB/s  {:>10.0} lines/s",
        mb / took,
        (parallel * 16 * lines_per_batch) as f64 / took
    );

    println!("\n== cursor=END&skip=-100 (median of 51 reads, body read whole)");
    let small = last_100(&agent, &host, "small");
    let big = last_100(&agent, &host, "big");
    println!("{:>10}  {:>8.2} ms", "1 MiB", ms(small));
    println!("{:>10}  {:>8.2} ms", format!("{big_mib} MiB"), ms(big));
    println!(
        "ratio big/small: {:.2} (target: within 1.5)",
        big.as_secs_f64() / small.as_secs_f64()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn register(agent: &ureq::Agent, host: &TestHost, id: &str) {
    let body =
        format!(r#"{{"name":"{id}","agent_id":"A","framework_id":"F","container_id":"{id}-c"}}"#);
    let r = agent
        .put(host.url(&format!("{INGEST}/tasks/{id}")))
        .header("content-type", "application/json")
        .send(body.as_bytes())
        .expect("register");
    assert!(r.status().is_success(), "register {id}: {}", r.status());
}

/// 1 MiB of 100-byte lines (99 visible bytes and a newline).
fn batch_of_lines() -> Vec<u8> {
    let mut out = Vec::with_capacity(BATCH);
    let mut i = 0u64;
    while out.len() + LINE <= BATCH {
        let line = format!(
            "2026-11-21T00:00:00Z INFO request {i:>12} served in 3ms path=/api/v1/items status=200 ok"
        );
        out.extend_from_slice(&line.as_bytes()[..LINE - 1]);
        out.push(b'\n');
        i += 1;
    }
    out
}

fn ingest(agent: &ureq::Agent, host: &TestHost, task: &str, batch: &[u8], times: usize) {
    let url = host.url(&format!("{INGEST}/tasks/{task}/files/stdout"));
    for _ in 0..times {
        let r = agent
            .post(&url)
            .header("content-type", "text/plain")
            .send(batch)
            .expect("append");
        assert_eq!(r.status(), 200, "append to {task}");
    }
}

fn last_100(agent: &ureq::Agent, host: &TestHost, task: &str) -> Duration {
    let url = host.url(&format!(
        "/system/v1/agent/A/logs/v2/task/frameworks/F/executors/{task}/runs/{task}-c/stdout?cursor=END&skip=-100"
    ));
    let mut times: Vec<Duration> = (0..51)
        .map(|_| {
            let start = Instant::now();
            let r = agent.get(&url).call().expect("read");
            assert_eq!(r.status(), 200);
            let body = r.into_body().read_to_vec().expect("body");
            assert_eq!(body.iter().filter(|b| **b == b'\n').count(), 100);
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}
