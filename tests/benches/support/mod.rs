//! What the benchmarks share: a host with a signing key, a typical log batch,
//! task registration, and the timed "last 100 lines" read.

#![allow(dead_code)] // each benchmark uses its own subset

pub mod load;
pub mod plot;
pub mod servers;
pub mod spin;

#[allow(unused_imports)]
pub use spin::{App, Url};
use spin_logs_tests::{HostOptions, TestHost};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const SECRET: &str = "spin-logs benchmark secret, 32+ bytes long";

/// A host with `variables`, a signing key, and rate limits no benchmark
/// reaches (still counted, so their cost is in the figures).
pub fn start(variables: Vec<(String, String)>) -> TestHost {
    start_with(HostOptions {
        variables,
        ..Default::default()
    })
}

/// [`start`] with other host options (a runtime config, say).
pub fn start_with(mut opts: HostOptions) -> TestHost {
    opts.variables = with_bench_defaults(std::mem::take(&mut opts.variables));
    TestHost::start(opts).expect("host starts")
}

/// `variables` after the benchmarks' secret and rate limits high enough
/// never to refuse (a later entry wins).
pub fn with_bench_defaults(mut variables: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = [
        ("auth_hs256_secret", SECRET),
        ("rate_limit_standard", "100000000"),
        ("rate_limit_heavy", "100000000"),
        ("rate_limit_ingest", "100000000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    all.append(&mut variables);
    all
}

/// The `Authorization` value every benchmark request sends: a superuser
/// token for a day.
pub fn auth() -> &'static str {
    static AUTH: OnceLock<String> = OnceLock::new();
    AUTH.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let perms = [spin_logs::routes::SUPERUSER.to_owned()];
        let token =
            spin_logs::auth::jwt::sign_hs256(SECRET.as_bytes(), "bench", &perms, now, 86_400)
                .expect("token");
        format!("Bearer {token}")
    })
}

/// A superuser token for `uid` (each uid is its own caller: its own rate
/// limit and follower slots).
pub fn auth_as(uid: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let perms = [spin_logs::routes::SUPERUSER.to_owned()];
    let token = spin_logs::auth::jwt::sign_hs256(SECRET.as_bytes(), uid, &perms, now, 86_400)
        .expect("token");
    format!("Bearer {token}")
}

pub const INGEST: &str = "/system/v1/logs/v2/ingest";
pub const LINE: usize = 100;
pub const BATCH: usize = 1024 * 1024;

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Registers task `id` with agent `A`, framework `F`, container `{id}-c`.
pub fn register(agent: &ureq::Agent, host: &impl Url, id: &str) {
    let body =
        format!(r#"{{"name":"{id}","agent_id":"A","framework_id":"F","container_id":"{id}-c"}}"#);
    let r = agent
        .put(host.url(&format!("{INGEST}/tasks/{id}")))
        .header("authorization", auth())
        .header("content-type", "application/json")
        .send(body.as_bytes())
        .expect("register");
    assert!(r.status().is_success(), "register {id}: {}", r.status());
}

/// 1 MiB of 100-byte log lines (99 visible bytes and a newline).
pub fn batch_of_lines() -> Vec<u8> {
    let mut out = Vec::with_capacity(BATCH);
    let mut i = 0u64;
    while out.len() + LINE <= BATCH {
        let mut line = format!(
            "2026-11-21T00:00:00Z INFO request {i:>12} served in 3ms path=/api/v1/items status=200 ok"
        )
        .into_bytes();
        line.resize(LINE - 1, b' ');
        out.extend_from_slice(&line);
        out.push(b'\n');
        i += 1;
    }
    out
}

/// Appends `batch` to the task's stdout `times` times.
pub fn ingest(agent: &ureq::Agent, host: &impl Url, task: &str, batch: &[u8], times: usize) {
    let url = host.url(&format!("{INGEST}/tasks/{task}/files/stdout"));
    for _ in 0..times {
        let r = agent
            .post(&url)
            .header("authorization", auth())
            .header("content-type", "text/plain")
            .send(batch)
            .expect("append");
        assert_eq!(r.status(), 200, "append to {task}");
    }
}

/// The agent route of a task registered by [`register`].
pub fn read_path(task: &str, query: &str) -> String {
    format!(
        "/system/v1/agent/A/logs/v2/task/frameworks/F/executors/{task}/runs/{task}-c/stdout{query}"
    )
}

/// Median time of 51 `cursor=END&skip=-100` reads, bodies read whole.
pub fn last_100(agent: &ureq::Agent, host: &impl Url, task: &str) -> Duration {
    let url = host.url(&read_path(task, "?cursor=END&skip=-100"));
    let mut times: Vec<Duration> = (0..51)
        .map(|_| {
            let start = Instant::now();
            let r = agent
                .get(&url)
                .header("authorization", auth())
                .call()
                .expect("read");
            assert_eq!(r.status(), 200);
            let body = r.into_body().read_to_vec().expect("body");
            assert_eq!(body.iter().filter(|b| **b == b'\n').count(), 100);
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Log lines with realistic variety (timestamps, levels, paths, ids, client
/// addresses, latencies), from a fixed seed so every run archives the same bytes.
pub fn typical_log(bytes: usize, seed: u64) -> Vec<u8> {
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

/// One page of `/k8s/v1/search` for `body`, which must answer 200.
pub fn search_page(
    agent: &ureq::Agent,
    search: &str,
    body: &serde_json::Value,
) -> serde_json::Value {
    let r = agent
        .post(search)
        .header("authorization", auth())
        .header("content-type", "application/json")
        .send(body.to_string().as_bytes())
        .expect("search");
    assert_eq!(r.status(), 200);
    serde_json::from_slice(&r.into_body().read_to_vec().expect("body")).expect("json")
}
