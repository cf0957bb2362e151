//! Archive benchmark, one run on the same data: a sandbox of typical log text
//! (`BENCH_ARCHIVE_MIB`, default 100 MiB, in three files) archived
//! - by the sandbox archive route (streamed `.tar.gz`), through the API,
//! - by a log collection job (collected in steps, then downloaded),
//! - by `tar czf` of the same files on disk (GNU tar + gzip -6),
//!
//! printing throughput, compressed size and the host's peak memory while the
//! archive streams (VmHWM, reset just before; host and client share the process).
//!
//! `cargo bench -p spin-logs-tests --bench archive`

mod support;

use std::io::Read;
use std::process::Command;
use std::time::Instant;
use support::*;

/// Log lines with realistic variety (timestamps, levels, paths, ids, client
/// addresses, latencies), from a fixed seed so every run archives the same bytes.
fn typical_log(bytes: usize, seed: u64) -> Vec<u8> {
    const LEVELS: [&str; 4] = ["INFO", "INFO", "WARN", "DEBUG"];
    const PATHS: [&str; 6] = [
        "/api/v1/items",
        "/api/v1/items/{id}",
        "/api/v1/orders",
        "/healthz",
        "/api/v1/users/{id}/cart",
        "/static/app.js",
    ];
    const MSGS: [&str; 5] = [
        "request served",
        "cache miss, fetching from origin",
        "upstream slow, retrying",
        "session refreshed",
        "db query finished",
    ];
    let mut x = seed | 1;
    let mut next = move || {
        // xorshift64*: cheap, deterministic, good enough for text variety.
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut out = Vec::with_capacity(bytes + 256);
    let mut ms = 1_763_700_000_000u64;
    while out.len() < bytes {
        ms += next() % 50;
        let r = next();
        let line = format!(
            "{}.{:03}Z {:<5} [{}] {} method=GET path={} status={} bytes={} dur={}ms client=10.{}.{}.{} trace={:016x}\n",
            ms / 1000,
            ms % 1000,
            LEVELS[(r % 4) as usize],
            ["web", "worker", "db"][(r >> 8) as usize % 3],
            MSGS[(r >> 16) as usize % 5],
            PATHS[(r >> 24) as usize % 6].replace("{id}", &((r >> 32) % 100_000).to_string()),
            [200, 200, 200, 304, 404, 500][(r >> 40) as usize % 6],
            (r >> 20) % 65_536,
            (r >> 44) % 900,
            (r >> 8) % 256,
            (r >> 16) % 256,
            (r >> 24) % 256,
            next()
        );
        out.extend_from_slice(line.as_bytes());
    }
    out
}

fn peak_rss_reset() {
    // Linux: writing 5 resets the peak resident set size (VmHWM) to the current RSS.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    let total_mib: usize = std::env::var("BENCH_ARCHIVE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let host = start(vec![("job_step_ms".into(), "10000".into())]);
    let agent = agent();
    register(&agent, &host, "bench");
    let files = [
        ("stdout", total_mib * 6 / 10, 1),
        ("stderr", total_mib * 2 / 10, 2),
        ("app.log", total_mib - total_mib * 8 / 10, 3),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("bench")).expect("task dir");
    let mut raw = 0u64;
    for (name, mib, seed) in files {
        let text = typical_log(mib << 20, seed);
        std::fs::write(dir.path().join("bench").join(name), &text).expect("write file");
        raw += text.len() as u64;
        let url = host.url(&format!("{INGEST}/tasks/bench/files/{name}"));
        let mut rest = &text[..];
        while !rest.is_empty() {
            let cut = if rest.len() <= BATCH {
                rest.len()
            } else {
                rest[..BATCH]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(rest.len(), |n| n + 1)
            };
            let r = agent
                .post(&url)
                .header("authorization", auth())
                .header("content-type", "text/plain")
                .send(&rest[..cut])
                .expect("append");
            assert_eq!(r.status(), 200);
            rest = &rest[cut..];
        }
    }
    eprintln!("sandbox: {:.1} MiB in 3 files", mib(raw));

    println!(
        "== {:.0} MiB sandbox of typical log text, one run",
        mib(raw)
    );
    println!(
        "{:<34} {:>9} {:>11} {:>10} {:>8}",
        "", "seconds", "MiB/s (in)", "size MiB", "ratio"
    );

    // tar czf of the same files on disk.
    let out_path = dir.path().join("disk.tar.gz");
    let start = Instant::now();
    let status = Command::new("tar")
        .arg("czf")
        .arg(&out_path)
        .arg("-C")
        .arg(dir.path())
        .arg("bench")
        .status()
        .expect("tar runs");
    assert!(status.success());
    let tar_secs = start.elapsed().as_secs_f64();
    let tar_size = std::fs::metadata(&out_path).expect("tar output").len();
    let row = |name: &str, secs: f64, size: u64| {
        println!(
            "{name:<34} {secs:>9.2} {:>11.1} {:>10.2} {:>7.1}%",
            mib(raw) / secs,
            mib(size),
            100.0 * size as f64 / raw as f64
        );
    };
    row("tar czf (files on disk)", tar_secs, tar_size);

    // The sandbox archive through the API, streamed and discarded.
    let url = host.url(
        "/system/v1/agent/A/logs/v2/task/frameworks/F/executors/bench/runs/bench-c/files/archive",
    );
    let rss_before = status_kib("VmRSS:");
    peak_rss_reset();
    let start = Instant::now();
    let r = agent
        .get(&url)
        .header("authorization", auth())
        .call()
        .expect("archive");
    assert_eq!(r.status(), 200);
    let mut reader = r.into_body().into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut api_size = 0u64;
    loop {
        let n = reader.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        api_size += n as u64;
    }
    let api_secs = start.elapsed().as_secs_f64();
    let peak = status_kib("VmHWM:");
    row("sandbox archive (API, streamed)", api_secs, api_size);

    // A log collection job: collect in steps, then download.
    let jobs = host.url("/api/public/v1.0/groups/0123456789abcdef01234567/logCollectionJobs");
    let start = Instant::now();
    let r = agent
        .post(&jobs)
        .header("authorization", auth())
        .header("content-type", "application/json")
        .send(br#"{"tasks":["bench"]}"#.as_slice())
        .expect("create job");
    assert_eq!(r.status(), 201);
    let job: serde_json::Value =
        serde_json::from_slice(&r.into_body().read_to_vec().expect("body")).expect("JSON");
    let id = job["id"].as_str().expect("id").to_owned();
    let mut polls = 1;
    loop {
        let r = agent
            .get(format!("{jobs}/{id}"))
            .header("authorization", auth())
            .call()
            .expect("poll");
        let job: serde_json::Value =
            serde_json::from_slice(&r.into_body().read_to_vec().expect("body")).expect("JSON");
        polls += 1;
        if job["status"] != "IN_PROGRESS" {
            assert_eq!(job["status"], "SUCCESS");
            break;
        }
    }
    let collect_secs = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let r = agent
        .get(format!("{jobs}/{id}/download"))
        .call()
        .expect("download");
    let job_size = r
        .into_body()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .expect("archive")
        .len() as u64;
    let download_secs = start.elapsed().as_secs_f64();
    row(
        &format!("job: collect ({polls} requests)"),
        collect_secs,
        job_size,
    );
    row("job: download (stored parts)", download_secs, job_size);

    println!(
        "\nsandbox archive vs tar czf: {:.2}x the time, {:.3}x the size",
        api_secs / tar_secs,
        api_size as f64 / tar_size as f64
    );
    println!(
        "peak RSS while streaming: {:.1} MiB (before: {:.1} MiB; host + client in one process; the sandbox is {:.0} MiB)",
        peak as f64 / 1024.0,
        rss_before as f64 / 1024.0,
        mib(raw)
    );
}
