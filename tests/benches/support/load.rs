//! A closed-loop load generator (wrk's model): `connections` clients, each on
//! its own keep-alive connection, send the next request as soon as the last
//! answer is read, for a fixed time. Requests per second is what it reports.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What one run measured.
#[derive(Debug, Clone, Copy)]
pub struct Load {
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
        requests_per_s: count.load(Ordering::Relaxed) as f64 / took,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    }
}
