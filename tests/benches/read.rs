//! Read-side benchmark: `cursor=END&skip=-100` on a 1 MiB and a 1 GiB file,
//! and a full 256 MiB read through the API beside `curl` of the same bytes
//! from a plain static file server (`python3 -m http.server`).
//!
//! `cargo bench -p spin-logs-tests --bench read` (`BENCH_BIG_MIB`, default
//! 1024, sets the big file; `BENCH_FULL_MIB`, default 256, the full read).

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

fn env_mib(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let big_mib = env_mib("BENCH_BIG_MIB", 1024);
    let full_mib = env_mib("BENCH_FULL_MIB", 256);
    // One response may carry the whole file for the throughput run.
    let host = start(vec![(
        "max_response_bytes".into(),
        (4u64 << 30).to_string(),
    )]);
    let agent = agent();
    let batch = batch_of_lines();

    for (task, mib) in [("small", 1), ("full", full_mib), ("big", big_mib)] {
        register(&agent, &host, task);
        let start = Instant::now();
        ingest(&agent, &host, task, &batch, mib);
        eprintln!(
            "ingested {mib} MiB into {task} in {:.1} s",
            start.elapsed().as_secs_f64()
        );
    }

    println!("== cursor=END&skip=-100 (median of 51, body read whole)");
    let small = last_100(&agent, &host, "small");
    let big = last_100(&agent, &host, "big");
    println!("{:>10}  {:>8.2} ms", "1 MiB", ms(small));
    println!("{:>10}  {:>8.2} ms", format!("{big_mib} MiB"), ms(big));
    println!(
        "ratio big/small: {:.2} (target: within 1.5)",
        big.as_secs_f64() / small.as_secs_f64()
    );

    println!("\n== full read of {full_mib} MiB with curl (best of 3)");
    let api = host.url(&read_path("full", ""));
    let api_speed = best_curl(&api, Some(auth()), (full_mib * batch.len()) as u64);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut file = Vec::with_capacity(full_mib * BATCH);
    for _ in 0..full_mib {
        file.extend_from_slice(&batch);
    }
    std::fs::write(dir.path().join("stdout"), &file).expect("write file");
    drop(file);
    let port = free_port();
    let mut server = Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m http.server");
    std::thread::sleep(Duration::from_millis(800));
    let static_speed = best_curl(
        &format!("http://127.0.0.1:{port}/stdout"),
        None,
        (full_mib * batch.len()) as u64,
    );
    let _ = server.kill();
    let _ = server.wait();
    println!(
        "{:>22}  {:>8.1} MB/s",
        "spin-logs (test host)",
        api_speed / 1e6
    );
    println!(
        "{:>22}  {:>8.1} MB/s",
        "python3 http.server",
        static_speed / 1e6
    );
    println!("ratio spin-logs/static: {:.2}", api_speed / static_speed);
}

/// Bytes per second of the best of three `curl` downloads of `url`.
fn best_curl(url: &str, auth: Option<&str>, expect: u64) -> f64 {
    (0..3)
        .map(|_| {
            let mut curl = Command::new("curl");
            if let Some(a) = auth {
                curl.args(["-H", &format!("authorization: {a}")]);
            }
            let out = curl
                .args([
                    "-s",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{size_download} %{time_total}",
                    url,
                ])
                .output()
                .expect("curl runs");
            let text = String::from_utf8_lossy(&out.stdout);
            let mut parts = text.split_whitespace();
            let size: u64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
            let secs: f64 = parts
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::MAX);
            assert_eq!(size, expect, "curl {url} got the whole file");
            size as f64 / secs
        })
        .fold(0.0, f64::max)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
