//! Storage backends side by side (issue 11): ingest MB/s and the latency of
//! "the last 100 lines" with the embedded default (SQLite), with Redis, and
//! with Redis for metadata plus S3 (`s3s-fs`) for log bytes, in one run on
//! the same data.
//!
//! Then an archive run on each: two sealed index pages (256 appends of
//! 256 KiB, 64 MiB) packed into gzip objects, timed from the first `POST
//! /k8s/v1/archive/start` to `DONE`, and the last-100 read again, now
//! reading through to the archive for nothing (the tail stays hot) and a
//! full read that does.
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
    // One database per backend row: rows must not see each other's logs.
    let redis_config = |db: u32| {
        let path = dir.path().join(format!("redis-{db}.toml"));
        std::fs::write(
            &path,
            format!(
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
                redis.url(db)
            ),
        )
        .expect("runtime config");
        path
    };
    let agent = agent();
    let batch = batch_of_lines();

    println!("== {mib} x 1 MiB batches of {LINE}-byte lines per backend, one client");
    println!(
        "{:>16}  {:>10}  {:>14}",
        "backend", "ingest", "last-100 (p50)"
    );
    let mut figures = Vec::new();
    let grace = || {
        vec![
            ("archive_grace_ms".to_owned(), "0".to_owned()),
            ("job_step_ms".to_owned(), "20000".to_owned()),
        ]
    };
    let mut archives = Vec::new();
    for (name, opts) in [
        (
            "SQLite",
            HostOptions {
                variables: grace(),
                ..Default::default()
            },
        ),
        (
            "Redis",
            HostOptions {
                runtime_config: Some(redis_config(0)),
                variables: grace(),
                ..Default::default()
            },
        ),
        (
            "Redis + S3",
            HostOptions {
                runtime_config: Some(redis_config(1)),
                variables: [s3.variables(), grace()].concat(),
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
        archives.push((name, archive_run(&agent, &host, &batch)));
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
    println!(
        "\n== archive run: every sealed page (64 MiB each; two of the archive task) -> gzip objects (level 6)"
    );
    println!(
        "{:>16}  {:>10}  {:>7}  {:>14}",
        "backend", "archive", "ratio", "full read after"
    );
    for (name, a) in &archives {
        println!(
            "{name:>16}  {:>5.1} MB/s  {:>7.3}  {:>9.1} MB/s",
            a.mbs, a.ratio, a.read_mbs
        );
    }
}

struct ArchiveRun {
    mbs: f64,
    ratio: f64,
    read_mbs: f64,
}

/// Fills a task with two sealed pages, archives them, and reads it all back.
fn archive_run(agent: &ureq::Agent, host: &spin_logs_tests::TestHost, batch: &[u8]) -> ArchiveRun {
    let task = "archived";
    register(agent, host, task);
    let quarter = &batch[..batch.len() / 4 / LINE * LINE]; // whole lines
    ingest(agent, host, task, quarter, 2 * 128 + 1);
    let post = |path: &str, body: &str| -> serde_json::Value {
        let r = agent
            .post(&host.url(path))
            .header("authorization", auth())
            .header("content-type", "application/json")
            .send(body)
            .expect("post");
        let status = r.status();
        let v: serde_json::Value =
            serde_json::from_slice(&r.into_body().read_to_vec().expect("body")).expect("json");
        assert!(status.is_success(), "{path}: {v}");
        v
    };
    let policy = post(
        "/k8s/v1/archive/policies",
        r#"{"name":"bench","selector":{},"archive_after":0}"#,
    );
    let start = Instant::now();
    let run = loop {
        let run = post(
            "/k8s/v1/archive/start",
            &format!(r#"{{"policy_id":{}}}"#, policy["id"]),
        );
        if run["status"] == "DONE" {
            break run;
        }
    };
    let took = start.elapsed().as_secs_f64();
    let bytes = run["stats"]["bytes_archived"].as_u64().expect("bytes");
    assert!(run["stats"]["pages_archived"].as_u64() >= Some(2), "{run}");
    let stored = run["stats"]["stored_bytes"].as_u64().expect("stored");
    let url = host.url(&support::read_path(task, "/download"));
    let start = Instant::now();
    let r = agent
        .get(&url)
        .header("authorization", auth())
        .call()
        .expect("read");
    let body = r
        .into_body()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .expect("body");
    let read = start.elapsed().as_secs_f64();
    assert_eq!(body.len(), quarter.len() * (2 * 128 + 1));
    ArchiveRun {
        mbs: bytes as f64 / 1e6 / took,
        ratio: stored as f64 / bytes as f64,
        read_mbs: body.len() as f64 / 1e6 / read,
    }
}
