//! Live-tail benchmark: append-to-delivery latency over 1,000 lines, and the
//! memory and CPU of the host holding 200 idle followers.
//!
//! `cargo bench -p spin-logs-tests --bench tail`

mod support;

use spin_logs_tests::TestHost;
use std::io::BufRead;
use std::time::{Duration, Instant};
use support::{auth, start};

const INGEST: &str = "/system/v1/logs/v2/ingest";
const FOLLOWERS: usize = 200;

fn main() {
    let host = start(vec![("max_followers".into(), "1000".into())]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let body = r#"{"name":"t","agent_id":"A","framework_id":"F","container_id":"c"}"#;
    let r = agent
        .put(host.url(&format!("{INGEST}/tasks/t")))
        .header("authorization", auth())
        .header("content-type", "application/json")
        .send(body.as_bytes())
        .expect("register");
    assert!(r.status().is_success());
    append(&agent, &host, "start\n");
    let follow = host.url("/system/v1/logs/v2/follow/system/v1/agent/A/logs/v2/task/frameworks/F/executors/t/runs/c/stdout?cursor=END");

    // Latency: one follower; a writer appends 1,000 lines, each stamped.
    let origin = Instant::now();
    let latencies = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut got: Vec<Duration> = Vec::new();
            let mut last_id: Option<String> = None;
            while got.len() < 1000 {
                let mut req = agent
                    .get(&follow)
                    .header("authorization", auth())
                    .header("accept", "text/event-stream");
                if let Some(id) = &last_id {
                    req = req.header("last-event-id", id);
                }
                let resp = req.call().expect("follow");
                for line in std::io::BufReader::new(resp.into_body().into_reader()).lines() {
                    let Ok(line) = line else { break };
                    if let Some(id) = line.strip_prefix("id: ") {
                        last_id = Some(id.to_owned());
                    }
                    let Some(data) = line.strip_prefix("data: ") else {
                        continue;
                    };
                    let v: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
                    if let Some(sent) = v["fields"]["MESSAGE"]
                        .as_str()
                        .and_then(|m| m.strip_prefix("at "))
                    {
                        let sent = Duration::from_micros(sent.parse().expect("stamp"));
                        got.push(origin.elapsed().saturating_sub(sent));
                    }
                    if got.len() >= 1000 {
                        break;
                    }
                }
            }
            got
        });
        std::thread::sleep(Duration::from_millis(500));
        for _ in 0..1000 {
            append(
                &agent,
                &host,
                &format!("at {}\n", origin.elapsed().as_micros()),
            );
            std::thread::sleep(Duration::from_millis(7));
        }
        reader.join().expect("reader")
    });
    let mut sorted = latencies.clone();
    sorted.sort();
    let pct = |p: f64| sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)];
    println!("== append-to-delivery latency over {} lines", sorted.len());
    println!(
        "p50 {:>7.1} ms   p99 {:>7.1} ms   max {:>7.1} ms",
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(pct(1.0))
    );

    // 200 idle followers.
    let (rss0, cpu0) = usage();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (rss, cpu_secs, window) = std::thread::scope(|s| {
        for _ in 0..FOLLOWERS {
            let (agent, follow, stop) = (&agent, &follow, &stop);
            s.spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let Ok(resp) = agent
                        .get(follow)
                        .header("authorization", auth())
                        .header("accept", "text/event-stream")
                        .call()
                    else {
                        continue;
                    };
                    for line in std::io::BufReader::new(resp.into_body().into_reader()).lines() {
                        if line.is_err() || stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_secs(3)); // all connected and idle
        let (_, cpu_a) = usage();
        let start = Instant::now();
        std::thread::sleep(Duration::from_secs(10));
        let (rss, cpu_b) = usage();
        let window = start.elapsed();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (rss, cpu_b - cpu_a, window)
    });
    println!("\n== {FOLLOWERS} idle followers (host and clients in this process)");
    println!(
        "RSS {:.1} MiB (before: {:.1} MiB)",
        rss as f64 / 1048576.0,
        rss0 as f64 / 1048576.0
    );
    println!(
        "CPU {:.1}% of one core over {:.0} s ({:.2} ms CPU per follower-second); before: {:.1} s CPU total",
        100.0 * cpu_secs / window.as_secs_f64(),
        window.as_secs_f64(),
        1000.0 * cpu_secs / (window.as_secs_f64() * FOLLOWERS as f64),
        cpu0
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn append(agent: &ureq::Agent, host: &TestHost, text: &str) {
    let r = agent
        .post(host.url(&format!("{INGEST}/tasks/t/files/stdout")))
        .header("authorization", auth())
        .header("content-type", "text/plain")
        .send(text.as_bytes())
        .expect("append");
    assert_eq!(r.status(), 200);
}

/// Resident memory (bytes) and user+system CPU seconds of this process.
fn usage() -> (u64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    // Fields after the command: state is [0], utime [11], stime [12] (clock ticks).
    let ticks: f64 = fields
        .get(11)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
    (rss_kb * 1024, ticks / 100.0)
}
