//! Kubernetes logs at scale (issue 14): Kubernetes-like lines from 1,000
//! pods pushed in both of Loki's bodies (push MB/s for each), then, on the
//! same store, a selective query (one pod, one hour: p50 of 51) and a
//! full-text search for a rare string beside `grep -c` on the same lines on
//! disk, as ratios from one run, and the first page of a common string; at two total sizes, so the selective query's
//! ratio between them shows whether it depends on the total.
//!
//! Then what Grafana asks of the same store (issue 28): `index/volume`,
//! `index/volume_range`, `index/stats` and `detected_labels` over the 1,000
//! streams and the whole day (from the index: they must not scan entries),
//! and `quantile_over_time` over an unwrapped value for an hour beside the
//! same query with `count_over_time` (p50 of 11 each).
//!
//! `cargo bench -p spin-logs-tests --bench loki` (`BENCH_LOKI_MIB=100,1024`
//! sets the sizes).

mod support;

use serde_json::{Value, json};
use spin_logs_tests::enc;
use std::io::Write;
use std::time::{Duration, Instant};
use support::*;

#[allow(dead_code)] // PushResponse: the schema's, not sent
mod logproto {
    include!(concat!(env!("OUT_DIR"), "/logproto.rs"));
}

const PODS: usize = 1000;
const NAMESPACES: usize = 20;
/// Pods per push: a shipper's batch covers many streams.
const PODS_PER_PUSH: usize = 100;
const NEEDLE: &str = "needle-7f3a9c";
const SPAN_NS: u64 = 24 * 3600 * 1_000_000_000;

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64
}

fn labels(pod: usize) -> Vec<(String, String)> {
    vec![
        ("cluster".into(), "bench".into()),
        ("namespace".into(), format!("ns-{}", pod % NAMESPACES)),
        ("pod".into(), format!("app-{pod}-7d9f")),
        ("container".into(), "app".into()),
        ("stream".into(), "stdout".into()),
    ]
}

/// One line like a web service writes, ~150 bytes, deterministic.
fn line(pod: usize, i: usize, rare: bool) -> String {
    let levels = ["info", "info", "info", "warn", "error", "debug"];
    let paths = [
        "/api/cart",
        "/api/pay",
        "/healthz",
        "/api/items/42",
        "/login",
    ];
    let h = (pod * 7919 + i * 104_729) % 1_000_003;
    format!(
        "level={} ts={} caller=http.go:{} method=GET path={} status={} duration={}ms bytes={} trace_id={:016x}{}",
        levels[h % levels.len()],
        i,
        100 + h % 400,
        paths[h % paths.len()],
        [200, 200, 200, 404, 500][h % 5],
        h % 900,
        h % 65_536,
        (h as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        if rare {
            format!(" {NEEDLE}")
        } else {
            String::new()
        }
    )
}

struct Pushed {
    /// The first push of every stream: it registers the stream (metadata,
    /// postings, label values) besides appending, so it is timed apart.
    first_bytes: u64,
    first_time: Duration,
    json_bytes: u64,
    json_time: Duration,
    proto_bytes: u64,
    proto_time: Duration,
    rare: usize,
    t0: u64,
    per_pod: usize,
}

fn push(agent: &ureq::Agent, url: &str, content_type: &str, body: &[u8]) {
    let r = agent
        .post(url)
        .header("authorization", auth())
        .header("content-type", content_type)
        .send(body)
        .expect("push");
    assert_eq!(r.status(), 204, "push");
}

/// Pushes `mib` MiB of lines over a day: slices of time, each pushed as
/// batches of 100 pods: the first slice (every stream's first push) as JSON,
/// timed apart, then alternately snappy protobuf and JSON. Writes
/// every line to `disk` too.
fn fill(
    agent: &ureq::Agent,
    host: &spin_logs_tests::TestHost,
    mib: usize,
    disk: &mut impl Write,
) -> Pushed {
    let avg = line(1, 1, false).len() + 1;
    let per_pod = (mib << 20) / PODS / avg;
    let per_push = ((4usize << 20) / PODS_PER_PUSH / avg).max(1);
    let t0 = now_ns() - SPAN_NS - 600 * 1_000_000_000;
    let step = SPAN_NS / per_pod as u64;
    let url = host.url("/loki/api/v1/push");
    let mut p = Pushed {
        first_bytes: 0,
        first_time: Duration::ZERO,
        json_bytes: 0,
        json_time: Duration::ZERO,
        proto_bytes: 0,
        proto_time: Duration::ZERO,
        rare: 0,
        t0,
        per_pod,
    };
    let mut slice = 0;
    let mut from = 0;
    while from < per_pod {
        let to = (from + per_push).min(per_pod);
        for group in (0..PODS).step_by(PODS_PER_PUSH) {
            let mut raw = 0u64;
            let mut streams = Vec::new();
            for pod in group..group + PODS_PER_PUSH {
                let entries: Vec<(u64, String)> = (from..to)
                    .map(|i| {
                        let rare = (pod * per_pod + i) % 1_000_003 == 17;
                        let l = line(pod, i, rare);
                        raw += l.len() as u64 + 1;
                        p.rare += rare as usize;
                        (t0 + i as u64 * step + pod as u64, l)
                    })
                    .collect();
                for (_, l) in &entries {
                    writeln!(disk, "{l}").expect("disk");
                }
                streams.push((pod, entries));
            }
            if slice % 2 == 1 || slice == 0 {
                let body = json!({"streams": streams.iter().map(|(pod, e)| {
                    let labels: serde_json::Map<String, Value> = labels(*pod).into_iter().map(|(k, v)| (k, json!(v))).collect();
                    json!({"stream": labels, "values": e.iter().map(|(t, l)| json!([t.to_string(), l])).collect::<Vec<_>>()})
                }).collect::<Vec<_>>()})
                .to_string();
                let start = Instant::now();
                push(agent, &url, "application/json", body.as_bytes());
                if slice == 0 {
                    p.first_time += start.elapsed();
                    p.first_bytes += raw;
                } else {
                    p.json_time += start.elapsed();
                    p.json_bytes += raw;
                }
            } else {
                let req = logproto::PushRequest {
                    streams: streams
                        .iter()
                        .map(|(pod, e)| logproto::StreamAdapter {
                            labels: format!(
                                "{{{}}}",
                                labels(*pod)
                                    .iter()
                                    .map(|(k, v)| format!("{k}={v:?}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                            entries: e
                                .iter()
                                .map(|(t, l)| logproto::EntryAdapter {
                                    timestamp: Some(prost_types::Timestamp {
                                        seconds: (t / 1_000_000_000) as i64,
                                        nanos: (t % 1_000_000_000) as i32,
                                    }),
                                    line: l.clone(),
                                    structured_metadata: vec![],
                                    parsed: vec![],
                                })
                                .collect(),
                            hash: 0,
                        })
                        .collect(),
                    format: String::new(),
                };
                let body = snap::raw::Encoder::new()
                    .compress_vec(&prost::Message::encode_to_vec(&req))
                    .expect("snappy");
                let start = Instant::now();
                push(agent, &url, "application/x-protobuf", &body);
                p.proto_time += start.elapsed();
                p.proto_bytes += raw;
            }
        }
        slice += 1;
        from = to;
    }
    p
}

fn get_json(agent: &ureq::Agent, url: &str) -> Value {
    let r = agent
        .get(url)
        .header("authorization", auth())
        .call()
        .expect("get");
    assert_eq!(r.status(), 200);
    serde_json::from_slice(
        &r.into_body()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .expect("body"),
    )
    .expect("json")
}

fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_LOKI_MIB")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 1024]);
    let agent = agent();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut selective = Vec::new();
    println!("== Kubernetes-like lines from {PODS} pods in {NAMESPACES} namespaces over a day");
    for mib in sizes {
        let host = start(vec![("query_budget_ms".into(), "25000".into())]);
        let path = dir.path().join(format!("lines-{mib}.log"));
        let mut disk = std::io::BufWriter::new(std::fs::File::create(&path).expect("file"));
        let p = fill(&agent, &host, mib, &mut disk);
        drop(disk);
        let mb = |b: u64, t: Duration| b as f64 / 1e6 / t.as_secs_f64();
        println!("-- {mib} MiB ({} entries a pod)", p.per_pod);
        println!(
            "first push of each stream (JSON; it registers the stream): {:7.1} MB/s of lines",
            mb(p.first_bytes, p.first_time)
        );
        println!(
            "push, JSON:            {:7.1} MB/s of lines",
            mb(p.json_bytes, p.json_time)
        );
        println!(
            "push, snappy protobuf: {:7.1} MB/s of lines",
            mb(p.proto_bytes, p.proto_time)
        );

        // One pod, one hour in the middle of the day.
        let pod = 123;
        let start = p.t0 + SPAN_NS / 2;
        let url = host.url(&format!(
            "/k8s/v1/?namespace=ns-{}&pod=app-{pod}-7d9f&start={start}&end={}&limit=5000",
            pod % NAMESPACES,
            start + 3_600_000_000_000
        ));
        let mut times: Vec<Duration> = (0..51)
            .map(|_| {
                let s = Instant::now();
                let page = get_json(&agent, &url);
                assert!(
                    page["count"].as_u64().unwrap_or(0) > 0,
                    "the hour has entries"
                );
                s.elapsed()
            })
            .collect();
        times.sort();
        let p50 = times[25];
        println!("one pod, one hour:     {:7.1} ms p50", ms(p50));
        selective.push((mib, p50));

        // A rare string over everything, paging until done, beside grep -c.
        let search = host.url("/k8s/v1/search");
        let s = Instant::now();
        let mut found = 0;
        let mut cursor: Option<String> = None;
        let mut calls = 0;
        loop {
            let mut body = json!({"contains": NEEDLE, "direction": "forward", "limit": 1000});
            if let Some(c) = &cursor {
                body["cursor"] = json!(c);
            }
            let page = search_page(&agent, &search, &body);
            found += page["count"].as_u64().unwrap_or(0) as usize;
            calls += 1;
            if page["has_more"] != true {
                break;
            }
            cursor = page["next_cursor"].as_str().map(str::to_owned);
        }
        let ours = s.elapsed();
        assert_eq!(found, p.rare, "every rare line found");
        let g = Instant::now();
        let out = std::process::Command::new("grep")
            .args(["-c", NEEDLE])
            .arg(&path)
            .output()
            .expect("grep");
        let grep = g.elapsed();
        let counted: usize = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        assert_eq!(counted, p.rare);
        println!(
            "rare string ({found} lines): {:7.1} ms in {calls} call(s); grep -c {:7.1} ms; ratio {:.1}x",
            ms(ours),
            ms(grep),
            ours.as_secs_f64() / grep.as_secs_f64()
        );
        let _ = std::fs::remove_file(&path);
        common_string(&agent, &search);
        grafana(&agent, &host, &p);
    }
    if let [(a, ta), .., (b, tb)] = selective.as_slice() {
        println!(
            "one pod, one hour: {:.1} ms at {a} MiB, {:.1} ms at {b} MiB: ratio {:.2} for {:.0}x the data",
            ms(*ta),
            ms(*tb),
            tb.as_secs_f64() / ta.as_secs_f64(),
            *b as f64 / *a as f64
        );
    }
}

/// A string in about one line in five, over everything: the first page of
/// 1,000 (what Explore asks first), p50 of 11. Every segment's filter says
/// "may match", so this is what the filters cost a search they cannot help.
fn common_string(agent: &ureq::Agent, search: &str) {
    let body = json!({"contains": "path=/api/pay", "direction": "forward", "limit": 1000});
    let mut times: Vec<Duration> = (0..11)
        .map(|_| {
            let s = Instant::now();
            let page = search_page(agent, search, &body);
            assert_eq!(page["count"], 1000, "a full first page");
            s.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "common string, first 1,000 hits: {:7.1} ms p50",
        ms(times[5])
    );
}

/// p50 of 11 calls of `path` (each answer checked by `check`).
fn p50(agent: &ureq::Agent, url: &str, check: impl Fn(&Value)) -> Duration {
    let mut times: Vec<Duration> = (0..11)
        .map(|_| {
            let s = Instant::now();
            let body = get_json(agent, url);
            let t = s.elapsed();
            check(&body);
            t
        })
        .collect();
    times.sort();
    times[5]
}

/// What Grafana and Logs Drilldown ask, timed on the filled store.
fn grafana(agent: &ureq::Agent, host: &spin_logs_tests::TestHost, p: &Pushed) {
    let (start, end) = (p.t0, p.t0 + SPAN_NS + 1);
    let day = format!("start={start}&end={end}");
    let all = enc("{cluster=`bench`}");
    let result_len = |b: &Value| b["data"]["result"].as_array().map_or(0, Vec::len);
    let t = p50(
        agent,
        &host.url(&format!(
            "/loki/api/v1/index/volume?query={}&limit=5000&{day}",
            enc("{service_name=~`.+`}")
        )),
        |b| assert!(result_len(b) >= 1, "{b}"),
    );
    println!(
        "index/volume, 1 service, {PODS} streams, a day:      {:7.1} ms p50",
        ms(t)
    );
    let t = p50(
        agent,
        &host.url(&format!(
            "/loki/api/v1/index/volume?query={all}&targetLabels=pod&limit=5000&{day}"
        )),
        |b| assert_eq!(result_len(b), PODS, "one series a pod"),
    );
    println!(
        "index/volume by pod ({PODS} series), a day:          {:7.1} ms p50",
        ms(t)
    );
    let t = p50(
        agent,
        &host.url(&format!(
            "/loki/api/v1/index/volume_range?query={all}&targetLabels=namespace&step=3600&{day}"
        )),
        |b| assert_eq!(result_len(b), NAMESPACES),
    );
    println!(
        "index/volume_range by namespace, hourly, a day:    {:7.1} ms p50",
        ms(t)
    );
    let t = p50(
        agent,
        &host.url(&format!("/loki/api/v1/index/stats?query={all}&{day}")),
        |b| assert_eq!(b["streams"], PODS as u64),
    );
    println!(
        "index/stats, {PODS} streams, a day:                  {:7.1} ms p50",
        ms(t)
    );
    let t = p50(
        agent,
        &host.url(&format!("/loki/api/v1/detected_labels?query=&{day}")),
        |b| {
            assert!(
                b["detectedLabels"]
                    .as_array()
                    .is_some_and(|l| !l.is_empty()),
                "{b}"
            )
        },
    );
    println!(
        "detected_labels, {PODS} streams, a day:              {:7.1} ms p50",
        ms(t)
    );

    // An hour in the middle of the day, one namespace (50 streams), 1m steps.
    let from = p.t0 + SPAN_NS / 2;
    let hour = format!("start={from}&end={}&step=60", from + 3_600_000_000_000);
    let sel = r#"{namespace="ns-3"} | logfmt"#;
    let mut figures = Vec::new();
    for (name, q) in [
        (
            "quantile_over_time",
            format!("sum by (path) (quantile_over_time(0.99, {sel} | unwrap bytes [5m]))"),
        ),
        (
            "count_over_time",
            format!("sum by (path) (count_over_time({sel} [5m]))"),
        ),
    ] {
        let t = p50(
            agent,
            &host.url(&format!(
                "/loki/api/v1/query_range?query={}&{hour}",
                enc(&q)
            )),
            |b| assert!(result_len(b) >= 1, "{b}"),
        );
        println!(
            "{name:>18}, 50 streams, an hour, 1m steps: {:7.1} ms p50",
            ms(t)
        );
        figures.push(t);
    }
    println!(
        "quantile_over_time / count_over_time: {:.2}",
        figures[0].as_secs_f64() / figures[1].as_secs_f64()
    );
}
