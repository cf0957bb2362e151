//! Collection from a cluster (issue 27): lines per second pulled from the
//! Kubernetes API server stand-in into streams by a bulk job, beside the same
//! lines pushed through Loki's JSON push (the anchor: the same store, the same
//! streams' shape, no cluster in between); and the cost of one continuous
//! step over 100 idle pods, beside the cheapest request the same component
//! answers (`GET /k8s/v1/health?probe=live`). Ratios come from one run.
//!
//! `cargo bench -p spin-logs-tests --bench collect` (`BENCH_COLLECT_LINES`
//! sets the lines per pod of the pull, 10 pods).

mod support;

use serde_json::{Value, json};
use spin_logs_tests::k8s::{K8sServer, PodSpec, now_ns};
use std::time::{Duration, Instant};
use support::*;

const PODS: usize = 10;
const IDLE_PODS: usize = 100;

/// One line like a web service writes, ~130 bytes, deterministic.
fn line(pod: usize, i: usize) -> String {
    let h = (pod * 7919 + i * 104_729) % 1_000_003;
    format!(
        "level=info ts={i} caller=http.go:{} method=GET path=/api/items/{} status=200 duration={}ms trace_id={:016x}",
        100 + h % 400,
        h % 1000,
        h % 900,
        (h as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    )
}

fn post(agent: &ureq::Agent, host: &impl Url, path: &str, body: &Value) -> Value {
    let mut r = agent
        .post(host.url(path))
        .header("authorization", auth())
        .header("content-type", "application/json")
        .send(body.to_string().as_bytes())
        .expect("request");
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    assert!((200..300).contains(&status), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn get(agent: &ureq::Agent, host: &impl Url, path: &str) -> Value {
    let mut r = agent
        .get(host.url(path))
        .header("authorization", auth())
        .call()
        .expect("request");
    assert!(r.status().is_success(), "{path}: {}", r.status());
    serde_json::from_slice(&r.body_mut().read_to_vec().expect("body")).expect("JSON")
}

fn p50(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let per_pod: usize = std::env::var("BENCH_COLLECT_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let agent = agent();
    let k = K8sServer::start().expect("stand-in");
    let first = now_ns() - 1800 * 1_000_000_000;
    let mut total_bytes = 0usize;
    let mut lines_of = Vec::new();
    for p in 0..PODS {
        k.add_pod("bench", &format!("app-{p}"), PodSpec::new(&["app"]));
        let lines: Vec<(u64, String)> = (0..per_pod)
            .map(|i| (first + i as u64 * 50_000_000, line(p, i)))
            .collect();
        total_bytes += lines.iter().map(|(_, l)| l.len() + 1).sum::<usize>();
        let borrowed: Vec<(u64, &str)> = lines.iter().map(|(t, l)| (*t, l.as_str())).collect();
        k.append("bench", &format!("app-{p}"), "app", &borrowed);
        lines_of.push(lines);
    }
    let total = PODS * per_pod;
    let host = start(vec![
        ("k8s_allowed_hosts".into(), k.http_url()),
        ("job_step_ms".into(), "3000".into()),
    ]);
    post(
        &agent,
        &host,
        "/k8s/v1/clusters/configs",
        &json!({"id": "bench", "server": k.http_url(), "token": K8sServer::TOKEN}),
    );
    post(
        &agent,
        &host,
        "/k8s/v1/config",
        &json!({"cluster_id": "bench", "namespace": "bench", "budget_bytes": 8 * 1024 * 1024,
                "start_at": "beginning"}),
    );

    // Pull: one bulk job over the namespace, stepped by polling it.
    let started = Instant::now();
    let job = post(
        &agent,
        &host,
        "/k8s/v1/collect/bulk",
        &json!({"cluster_id": "bench", "namespace": "bench"}),
    );
    let id = job["id"].as_str().expect("job id").to_owned();
    let mut polls = 0;
    let job = loop {
        let j = get(&agent, &host, &format!("/k8s/v1/collect/jobs/{id}"));
        polls += 1;
        if j["status"] != "running" {
            break j;
        }
    };
    let pull = started.elapsed();
    assert_eq!(job["status"], "done", "{job:#}");
    assert_eq!(job["stats"]["lines"], total as u64, "{job:#}");

    // Anchor: the same lines pushed (Loki JSON, 2,000 lines a push) into
    // streams of the same shape under another cluster label.
    let started = Instant::now();
    for (p, lines) in lines_of.iter().enumerate() {
        for chunk in lines.chunks(2000) {
            let values: Vec<Value> = chunk
                .iter()
                .map(|(t, l)| json!([t.to_string(), l]))
                .collect();
            let body = json!({"streams": [{"stream": {"cluster": "pushed", "namespace": "bench",
                "pod": format!("app-{p}"), "container": "app", "node": "node-1"}, "values": values}]});
            let r = agent
                .post(host.url("/loki/api/v1/push"))
                .header("authorization", auth())
                .header("content-type", "application/json")
                .send(body.to_string().as_bytes())
                .expect("push");
            assert_eq!(r.status().as_u16(), 204);
        }
    }
    let push = started.elapsed();
    let rate = |d: Duration| total as f64 / d.as_secs_f64();
    let mbs = |d: Duration| total_bytes as f64 / 1e6 / d.as_secs_f64();
    println!(
        "pull  {total} lines ({:.1} MB) from {PODS} pods: {:8.0} lines/s, {:5.1} MB/s ({} steps)",
        total_bytes as f64 / 1e6,
        rate(pull),
        mbs(pull),
        polls + 1
    );
    println!(
        "push  the same lines (anchor):           {:8.0} lines/s, {:5.1} MB/s",
        rate(push),
        mbs(push)
    );
    println!("ratio pull/push: {:.2}", rate(pull) / rate(push));

    // An idle continuous step over 100 pods.
    for p in 0..IDLE_PODS {
        let name = format!("idle-{p}");
        k.add_pod("idle", &name, PodSpec::new(&["app"]));
        k.append(
            "idle",
            &name,
            "app",
            &[(now_ns() - 1_000_000_000, "started")],
        );
    }
    post(
        &agent,
        &host,
        "/k8s/v1/collect/continuous",
        &json!({"cluster_id": "bench", "namespace": "idle"}),
    );
    for _ in 0..3 {
        post(&agent, &host, "/k8s/v1/collect/step", &json!({})); // settle
    }
    let before = k.requests().len();
    let steps: Vec<Duration> = (0..11)
        .map(|_| {
            let t = Instant::now();
            let r = post(&agent, &host, "/k8s/v1/collect/step", &json!({}));
            assert_eq!(r["advanced"], 1, "{r}");
            t.elapsed()
        })
        .collect();
    let per_step = (k.requests().len() - before) as f64 / 11.0;
    let step = p50(steps);
    let live: Vec<Duration> = (0..51)
        .map(|_| {
            let t = Instant::now();
            get(&agent, &host, "/k8s/v1/health?probe=live");
            t.elapsed()
        })
        .collect();
    let live = p50(live);
    println!(
        "step  continuous, {IDLE_PODS} idle pods: p50 {:7.1} ms, {per_step:.0} API requests a step",
        ms(step)
    );
    println!(
        "      GET /k8s/v1/health?probe=live (anchor): p50 {:7.2} ms; ratio {:.0}x",
        ms(live),
        step.as_secs_f64() / live.as_secs_f64()
    );
}
