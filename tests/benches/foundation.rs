//! Foundation benchmark: ingest throughput, component sizes, and the cost of
//! "the last 100 lines" on a small and a large file, all through the test host.
//!
//! `cargo bench -p spin-logs-tests --bench foundation` (set `BENCH_BIG_MIB` to
//! change the large file's size; default 256). Prints a table and the ratio the
//! index promises to keep near 1: last-100 on the big file / on the small one.

mod support;

use std::time::Instant;
use support::*;

fn main() {
    let big_mib: usize = std::env::var("BENCH_BIG_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let host = start(Vec::new());
    let agent = agent();

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
    let mb = (big_mib * batch.len()) as f64 / 1e6;
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
    let mb = (parallel * 16 * batch.len()) as f64 / 1e6;
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
