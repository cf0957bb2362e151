//! What `/metrics`, `/stats`, `/clusters/{id}/metrics` and `/health` say.
//!
//! `/metrics` reads a fixed list of counters (`store::metrics`), the cluster
//! list, each cluster's status and lag record, the jobs index and the
//! follower-slot records: a few hundred key reads, whatever the volume of
//! logs, so a scrape every 15 s costs the same on day one and day 1000.
//! `/stats` adds totals by namespace and pod, from the stream index and each
//! stream's head (a read per stream, bounded).

use super::cluster;
use super::job::{self, Status, collect_key, lag_key};
use super::settings;
use crate::env::Env;
use crate::model::stream;
use crate::read::format::rfc3339_ns;
use crate::store::metrics::{self as m, BUCKETS_MS, CLASSES, REFUSALS, SOURCES};
use crate::util::clock::now_micros;
use crate::web::problem::Problem;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::time::Instant;

/// Streams `/stats` visits at most.
const MAX_STREAMS: usize = 5000;

/// Every counter a scrape reads, by key.
struct Counters(HashMap<String, i64>);

impl Counters {
    fn read(env: &Env, clusters: &[String]) -> Counters {
        let families = crate::routes::COMPONENTS;
        let mut keys = Vec::new();
        for f in &families {
            for c in CLASSES {
                keys.extend((0..=BUCKETS_MS.len()).map(|b| m::request_key(f, c, b)));
            }
            keys.push(m::duration_sum_key(f));
            keys.push(m::rate_limited_key(f));
        }
        for s in SOURCES {
            for c in clusters.iter().map(String::as_str).chain([""]) {
                keys.push(m::lines_key(s, c));
                keys.push(m::bytes_key(s, c));
            }
        }
        keys.extend(REFUSALS.iter().map(|r| m::refused_key(r)));
        for c in clusters {
            keys.extend(["runs", "errors", "gaps"].iter().map(|w| collect_key(w, c)));
        }
        keys.extend([m::ARCHIVED_RAW, m::ARCHIVED_STORED, m::EXPIRED].map(String::from));
        let values = m::read(env.store.meta.as_ref(), &keys);
        Counters(keys.into_iter().zip(values).collect())
    }

    fn get(&self, key: &str) -> i64 {
        self.0.get(key).copied().unwrap_or(0)
    }
}

/// The exposition being written.
struct Text(String);

impl Text {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            let inner: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(self.0, "{{{}}}", inner.join(","));
        }
        let _ = writeln!(self.0, " {value}");
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// What a scrape knows besides counters.
struct Scene {
    clusters: Vec<String>,
    statuses: Vec<Option<cluster::Status>>,
    lags: Vec<Option<u64>>,
    jobs: Vec<job::Indexed>,
    followers: u64,
}

impl Scene {
    fn read(env: &Env) -> Result<Scene, Problem> {
        let clusters = settings::load(env)?.clusters;
        let mut statuses = Vec::new();
        let mut lags = Vec::new();
        for c in &clusters {
            statuses.push(cluster::status(env, c)?);
            lags.push(
                env.store
                    .meta
                    .get(&lag_key(c))?
                    .map(|b| m::counter(Some(b)) as u64),
            );
        }
        Ok(Scene {
            clusters,
            statuses,
            lags,
            jobs: job::index(env)?,
            followers: followers(env)?,
        })
    }
}

/// Live follower slots over every caller that ever followed.
fn followers(env: &Env) -> Result<u64, Problem> {
    #[derive(serde::Deserialize)]
    struct Slot {
        expires: u64,
    }
    let keys: Vec<String> = match env.store.meta.get(m::FOLLOWER_KEYS)? {
        Some(b) => serde_json::from_slice(&b).unwrap_or_default(),
        None => Vec::new(),
    };
    let now = now_micros();
    let mut live = 0;
    for value in env.store.meta.get_many(&keys)?.into_iter().flatten() {
        let slots: Vec<Slot> = serde_json::from_slice(&value).unwrap_or_default();
        live += slots.iter().filter(|s| s.expires > now).count() as u64;
    }
    Ok(live)
}

/// The Prometheus text exposition (format 0.0.4).
pub fn prometheus(env: &Env) -> Result<String, Problem> {
    let scene = Scene::read(env)?;
    let n = Counters::read(env, &scene.clusters);
    let mut t = Text(String::new());
    requests(&mut t, &n);
    received(&mut t, &n, &scene.clusters);
    collection(&mut t, &n, &scene);
    t.head(
        "spin_logs_followers_active",
        "gauge",
        "Follows holding a slot now.",
    );
    t.sample("spin_logs_followers_active", &[], scene.followers);
    t.head(
        "spin_logs_collect_jobs",
        "gauge",
        "Collection jobs by state.",
    );
    for s in Status::ALL {
        let count = scene.jobs.iter().filter(|j| j.status == s).count();
        t.sample("spin_logs_collect_jobs", &[("state", s.name())], count);
    }
    storage(&mut t, &n);
    Ok(t.0)
}

fn requests(t: &mut Text, n: &Counters) {
    let families = crate::routes::COMPONENTS;
    t.head(
        "spin_logs_requests_total",
        "counter",
        "Requests answered, by route family and status class.",
    );
    for f in &families {
        for c in CLASSES {
            let total: i64 = (0..=BUCKETS_MS.len())
                .map(|b| n.get(&m::request_key(f, c, b)))
                .sum();
            t.sample(
                "spin_logs_requests_total",
                &[("family", f), ("code", c)],
                total,
            );
        }
    }
    let name = "spin_logs_request_duration_seconds";
    t.head(
        name,
        "histogram",
        "Time to the response head, by route family.",
    );
    for f in &families {
        let mut cumulative = 0;
        for b in 0..=BUCKETS_MS.len() {
            cumulative += CLASSES
                .iter()
                .map(|c| n.get(&m::request_key(f, c, b)))
                .sum::<i64>();
            let le = BUCKETS_MS
                .get(b)
                .map_or("+Inf".to_owned(), |ms| format!("{}", *ms as f64 / 1000.0));
            t.sample(
                &format!("{name}_bucket"),
                &[("family", f), ("le", &le)],
                cumulative,
            );
        }
        let sum = n.get(&m::duration_sum_key(f)) as f64 / 1e6;
        t.sample(&format!("{name}_sum"), &[("family", f)], sum);
        t.sample(&format!("{name}_count"), &[("family", f)], cumulative);
    }
    t.head(
        "spin_logs_rate_limited_total",
        "counter",
        "Requests the gate refused for their rate (429), by route family.",
    );
    for f in &families {
        t.sample(
            "spin_logs_rate_limited_total",
            &[("family", f)],
            n.get(&m::rate_limited_key(f)),
        );
    }
}

fn received(t: &mut Text, n: &Counters, clusters: &[String]) {
    for (name, key, help) in [
        (
            "spin_logs_lines_received_total",
            m::lines_key as fn(&str, &str) -> String,
            "Lines stored, by source (push, pull, task, journal) and registered cluster.",
        ),
        (
            "spin_logs_bytes_received_total",
            m::bytes_key,
            "Bytes stored (as encoded), by source and registered cluster.",
        ),
    ] {
        t.head(name, "counter", help);
        for s in SOURCES {
            for c in clusters.iter().map(String::as_str).chain([""]) {
                t.sample(name, &[("source", s), ("cluster", c)], n.get(&key(s, c)));
            }
        }
    }
    t.head(
        "spin_logs_lines_refused_total",
        "counter",
        "Lines not stored, by reason.",
    );
    for r in REFUSALS {
        t.sample(
            "spin_logs_lines_refused_total",
            &[("reason", r)],
            n.get(&m::refused_key(r)),
        );
    }
}

fn collection(t: &mut Text, n: &Counters, scene: &Scene) {
    for (what, help) in [
        ("runs", "Collection steps run, by cluster."),
        (
            "errors",
            "Collection errors (listing, pulling), by cluster.",
        ),
        (
            "gaps",
            "Container instances lost between two steps (restart count jumps), by cluster.",
        ),
    ] {
        let name = format!("spin_logs_collect_{what}_total");
        t.head(&name, "counter", help);
        for c in &scene.clusters {
            t.sample(&name, &[("cluster", c)], n.get(&collect_key(what, c)));
        }
    }
    t.head(
        "spin_logs_collect_lag_seconds",
        "gauge",
        "Seconds since a continuous job last visited every target of the cluster.",
    );
    let now = now_micros();
    for (c, lag) in scene.clusters.iter().zip(&scene.lags) {
        if let Some(at) = lag {
            t.sample(
                "spin_logs_collect_lag_seconds",
                &[("cluster", c)],
                now.saturating_sub(*at) as f64 / 1e6,
            );
        }
    }
    t.head(
        "spin_logs_cluster_up",
        "gauge",
        "1 when the last refresh found the cluster connected.",
    );
    for (c, s) in scene.clusters.iter().zip(&scene.statuses) {
        let up = s.as_ref().is_some_and(|s| s.state == "connected");
        t.sample("spin_logs_cluster_up", &[("cluster", c)], u8::from(up));
    }
}

fn storage(t: &mut Text, n: &Counters) {
    let appended: i64 = SOURCES
        .iter()
        .flat_map(|s| {
            n.0.iter()
                .filter(move |(k, _)| k.starts_with(&format!("m/bytes/{s}/")))
        })
        .map(|(_, v)| *v)
        .sum();
    let hot = (appended - n.get(m::ARCHIVED_RAW) - n.get(m::EXPIRED)).max(0);
    t.head("spin_logs_stored_bytes", "gauge", "Bytes kept: hot (appended since metrics began, less archived and expired) and archived (compressed, as written).");
    t.sample("spin_logs_stored_bytes", &[("tier", "hot")], hot);
    t.sample(
        "spin_logs_stored_bytes",
        &[("tier", "archived")],
        n.get(m::ARCHIVED_STORED),
    );
}

/// One cluster's counters and state, as JSON.
pub fn cluster_json(env: &Env, id: &str) -> Result<Value, Problem> {
    let c = cluster::find(env, id)?;
    let ids = vec![c.id.clone()];
    let n = Counters::read(env, &ids);
    let status = cluster::status(env, id)?;
    let lag = env
        .store
        .meta
        .get(&lag_key(id))?
        .map(|b| m::counter(Some(b)) as u64);
    let by_source = |key: fn(&str, &str) -> String| -> Map<String, Value> {
        SOURCES
            .iter()
            .map(|s| ((*s).to_owned(), json!(n.get(&key(s, id)))))
            .collect()
    };
    let jobs = job::index(env)?;
    let mut states: BTreeMap<&str, usize> = BTreeMap::new();
    for j in jobs.iter().filter(|j| j.cluster_id == id) {
        *states.entry(j.status.name()).or_default() += 1;
    }
    Ok(json!({
        "cluster_id": id,
        "up": status.as_ref().is_some_and(|s| s.state == "connected"),
        "status": status,
        "lines_received": by_source(m::lines_key),
        "bytes_received": by_source(m::bytes_key),
        "collect": {
            "runs": n.get(&collect_key("runs", id)),
            "errors": n.get(&collect_key("errors", id)),
            "gaps": n.get(&collect_key("gaps", id)),
            "lag_seconds": lag.map(|at| now_micros().saturating_sub(at) as f64 / 1e6),
            "jobs": states,
        },
        "streams": totals(env, Some(id))?,
    }))
}

/// The `/stats` answer: the scrape's counters as JSON, and totals by
/// namespace and pod (one cluster's with `cluster`).
pub fn stats(env: &Env, cluster: Option<&str>) -> Result<Value, Problem> {
    if let Some(id) = cluster {
        return cluster_json(env, id);
    }
    let scene = Scene::read(env)?;
    let n = Counters::read(env, &scene.clusters);
    let mut requests = Map::new();
    for f in crate::routes::COMPONENTS {
        let by: Map<String, Value> = CLASSES
            .iter()
            .map(|c| {
                (
                    (*c).to_owned(),
                    json!(
                        (0..=BUCKETS_MS.len())
                            .map(|b| n.get(&m::request_key(f, c, b)))
                            .sum::<i64>()
                    ),
                )
            })
            .collect();
        requests.insert(f.to_owned(), Value::Object(by));
    }
    let received: Map<String, Value> = SOURCES
        .iter()
        .map(|s| {
            let lines: i64 =
                n.0.iter()
                    .filter(|(k, _)| k.starts_with(&format!("m/lines/{s}/")))
                    .map(|(_, v)| *v)
                    .sum();
            ((*s).to_owned(), json!(lines))
        })
        .collect();
    let refused: Map<String, Value> = REFUSALS
        .iter()
        .map(|r| ((*r).to_owned(), json!(n.get(&m::refused_key(r)))))
        .collect();
    Ok(json!({
        "requests": requests,
        "lines_received": received,
        "lines_refused": refused,
        "followers_active": scene.followers,
        "jobs": crate::util::sort::collect::<BTreeMap<_, _>, _>(Status::ALL.iter().map(|s| (s.name(), scene.jobs.iter().filter(|j| j.status == *s).count()))),
        "clusters": scene.clusters,
        "streams": totals(env, None)?,
    }))
}

/// Lines, bytes and first/last timestamps by namespace and pod, from each
/// stream's head (at most [`MAX_STREAMS`] streams: `truncated` says so).
fn totals(env: &Env, cluster: Option<&str>) -> Result<Value, Problem> {
    let ids = match cluster {
        Some(c) => stream::postings(&env.store, "cluster", c)?,
        None => stream::all(&env.store)?,
    };
    #[derive(Default)]
    struct Sum {
        streams: u64,
        lines: u64,
        bytes: u64,
        first: Option<u64>,
        last: Option<u64>,
    }
    let add = |s: &mut Sum, lines: u64, bytes: u64, first: u64, last: Option<u64>| {
        s.streams += 1;
        s.lines += lines;
        s.bytes += bytes;
        s.first = Some(s.first.map_or(first, |f| f.min(first)));
        s.last = s.last.max(last);
    };
    let mut by: BTreeMap<String, (Sum, BTreeMap<String, Sum>)> = BTreeMap::new();
    for id in ids.iter().take(MAX_STREAMS) {
        let Some(meta) = stream::meta(&env.store, id)? else {
            continue;
        };
        let Some(ns) = meta.labels.get("namespace").cloned() else {
            continue;
        };
        let pod = meta.labels.get("pod").cloned().unwrap_or_default();
        let Some(head) = meta.log(env.store.clone(), id).head()? else {
            continue;
        };
        let entry = by.entry(ns).or_default();
        add(
            &mut entry.0,
            head.lines,
            head.size,
            meta.first,
            head.last_key,
        );
        add(
            entry.1.entry(pod).or_default(),
            head.lines,
            head.size,
            meta.first,
            head.last_key,
        );
    }
    let view = |s: &Sum| {
        json!({
            "streams": s.streams, "lines": s.lines, "bytes": s.bytes,
            "first_timestamp": s.first.map(rfc3339_ns), "last_timestamp": s.last.map(rfc3339_ns),
        })
    };
    let namespaces: Map<String, Value> = by
        .iter()
        .map(|(ns, (sum, pods))| {
            let mut v = view(sum);
            v["pods"] = Value::Object(pods.iter().map(|(p, s)| (p.clone(), view(s))).collect());
            (ns.clone(), v)
        })
        .collect();
    Ok(json!({"namespaces": namespaces, "truncated": ids.len() > MAX_STREAMS}))
}

/// A dependency's check: its state and how long it took.
fn check(f: impl FnOnce() -> Result<(), String>) -> Value {
    let started = Instant::now();
    let result = f();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(()) => json!({"status": "ok", "latency_ms": ms}),
        Err(e) => json!({"status": "down", "latency_ms": ms, "error": e}),
    }
}

/// Readiness: the key-value store and the blob store answer (a read of a
/// key that need not exist), and every enabled cluster was connected at its
/// last refresh. `down` when storage is, `degraded` when a cluster is not.
pub fn health(env: &Env) -> (&'static str, Value) {
    let kv = check(|| {
        env.store
            .meta
            .get("health/probe")
            .map(drop)
            .map_err(|e| e.to_string())
    });
    let blobs = check(|| {
        env.store
            .blobs
            .get("health/probe")
            .map(drop)
            .map_err(|e| e.to_string())
    });
    let storage_down = kv["status"] == "down" || blobs["status"] == "down";
    let mut clusters = Map::new();
    if !storage_down && let Ok(list) = cluster::all(env) {
        for c in list.iter().filter(|c| c.enabled) {
            let state = cluster::status(env, &c.id)
                .ok()
                .flatten()
                .map_or("unknown".to_owned(), |s| s.state);
            clusters.insert(c.id.clone(), json!(state));
        }
    }
    let degraded = clusters.values().any(|s| s != "connected");
    let status = if storage_down {
        "down"
    } else if degraded {
        "degraded"
    } else {
        "ok"
    };
    (
        status,
        json!({"status": status, "checks": {"kv": kv, "blobs": blobs}, "clusters": clusters}),
    )
}
