//! Storage backends side by side (issue 11): ingest MB/s and the latency of
//! "the last 100 lines" with the embedded default (SQLite), with Redis, and
//! with Redis for metadata plus S3 (`s3s-fs`) for log bytes, in one run on
//! the same data.
//!
//! `cargo bench -p spin-logs-tests --bench backends` (set `BENCH_BACKEND_MIB`
//! for the amount ingested per backend; default 64).

mod support;

use spin_logs_tests::HostOptions;
use spin_logs_tests::services::{RedisServer, S3Server};
use std::time::Instant;
use support::*;

fn main() {
    let mib: usize = std::env::var("BENCH_BACKEND_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let redis = RedisServer::start().expect("redis-server");
    let s3 = S3Server::start().expect("s3s-fs");
    let dir = tempfile::tempdir().expect("temp dir");
    let redis_config = dir.path().join("redis.toml");
    std::fs::write(
        &redis_config,
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
            redis.url(0)
        ),
    )
    .expect("runtime config");
    let agent = agent();
    let batch = batch_of_lines();

    println!("== {mib} x 1 MiB batches of {LINE}-byte lines per backend, one client");
    println!(
        "{:>16}  {:>10}  {:>14}",
        "backend", "ingest", "last-100 (p50)"
    );
    let mut figures = Vec::new();
    for (name, opts) in [
        ("SQLite", HostOptions::default()),
        (
            "Redis",
            HostOptions {
                runtime_config: Some(redis_config.clone()),
                ..Default::default()
            },
        ),
        (
            "Redis + S3",
            HostOptions {
                runtime_config: Some(redis_config.clone()),
                variables: s3.variables(),
                ..Default::default()
            },
        ),
    ] {
        let host = start_with(opts);
        let task = format!("bench-{}", figures.len());
        register(&agent, &host, &task);
        let start = Instant::now();
        ingest(&agent, &host, &task, &batch, mib);
        let took = start.elapsed().as_secs_f64();
        let mbs = (mib * batch.len()) as f64 / 1e6 / took;
        let last = last_100(&agent, &host, &task);
        println!("{name:>16}  {mbs:>6.1} MB/s  {:>11.2} ms", ms(last));
        figures.push((name, mbs, last));
    }
    let (_, base_mbs, base_last) = figures[0];
    println!("\nratios against SQLite (ingest MB/s, last-100 latency):");
    for (name, mbs, last) in &figures[1..] {
        println!(
            "{name:>16}  ingest x{:.2}  last-100 x{:.2}",
            mbs / base_mbs,
            last.as_secs_f64() / base_last.as_secs_f64()
        );
    }
}
