//! A closed-loop load generator (wrk's model): `connections` clients, each on
//! its own keep-alive connection, send the next request as soon as the last
//! answer is read, for a fixed time. Requests per second is what it reports.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What one run measured.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Answers counted.
    pub requests: u64,
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Runs GET `url` (with `authorization`, if any) on `connections` clients for
/// `secs` seconds; every answer must have status `expect`.
pub fn run(
    url: &str,
    authorization: Option<&str>,
    expect: u16,
    connections: usize,
    secs: f64,
) -> Load {
    let stop = AtomicBool::new(false);
    let count = AtomicU64::new(0);
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..connections)
            .map(|_| {
                let (stop, count) = (&stop, &count);
                s.spawn(move || {
                    let agent = super::agent();
                    let mut mine = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let mut req = agent.get(url);
                        if let Some(a) = authorization {
                            req = req.header("authorization", a);
                        }
                        let r = req.call().expect("request");
                        assert_eq!(r.status(), expect, "{url}");
                        let _ = r.into_body().read_to_vec().expect("body");
                        mine.push(t.elapsed());
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    mine
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    let took = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Load {
        requests: count.load(Ordering::Relaxed),
        requests_per_s: count.load(Ordering::Relaxed) as f64 / took,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    }
}

/// The same measure with `wrk` (Debian's package, installed on first use),
/// the load generator the figures were taken with: its threads are
/// C and cheap, so on a small machine it leaves more of the CPU to the
/// server than [`run`] does. `None` if it cannot be had. Panics unless
/// (nearly) every answer had the status class of `expect`: `wrk` counts
/// every answer, so a row meant for reads that got 429s would otherwise
/// measure refusals (as one did: a small read under a 100-a-minute limit).
pub fn wrk(
    url: &str,
    authorization: Option<&str>,
    expect: u16,
    connections: usize,
    secs: f64,
) -> Option<Load> {
    let wrk = spin_logs_tests::services::debian_binary("wrk", "wrk").ok()?;
    let mut cmd = std::process::Command::new(wrk);
    cmd.args(["-t", "2", "-c", &connections.to_string()]).args([
        "-d",
        &format!("{}s", secs.ceil() as u64),
        "--latency",
    ]);
    if let Some(a) = authorization {
        cmd.args(["-H", &format!("Authorization: {a}")]);
    }
    let out = cmd.arg(url).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |label: &str| -> Option<&str> {
        text.lines()
            .find_map(|l| l.trim_start().strip_prefix(label))
            .map(str::trim)
    };
    let ms = |v: &str| -> Option<f64> {
        let (n, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
        let n: f64 = n.parse().ok()?;
        Some(match unit {
            "us" => n / 1000.0,
            "ms" => n,
            "s" => n * 1000.0,
            _ => return None,
        })
    };
    let total: u64 = text
        .lines()
        .find(|l| l.contains(" requests in "))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let other: u64 = field("Non-2xx or 3xx responses:").map_or(Some(0), |n| n.parse().ok())?;
    let as_expected = if expect < 400 { total - other } else { other };
    assert!(
        as_expected as f64 >= 0.99 * total as f64,
        "{url}: {other} of {total} answers were not 2xx or 3xx, {expect} expected"
    );
    Some(Load {
        requests: total,
        requests_per_s: field("Requests/sec:")?.parse().ok()?,
        p50_ms: ms(field("50%")?)?,
        p99_ms: ms(field("99%")?)?,
    })
}

/// [`wrk`] if it can be had, else [`run`] (which also checks every status).
pub fn measure(
    url: &str,
    authorization: Option<&str>,
    expect: u16,
    connections: usize,
    secs: f64,
) -> Load {
    wrk(url, authorization, expect, connections, secs)
        .unwrap_or_else(|| run(url, authorization, expect, connections, secs))
}
