//! `GET /k8s/v1/namespaces`, `/pods` and `/containers`: listings from the
//! stream index, each with its counts and first and last timestamps.

use super::page::ts_json;
use super::params::eq;
use crate::env::Env;
use crate::logql::{Matcher, Selector};
use crate::read::search::{self, Selected};
use crate::web::message::Response;
use crate::web::problem::Problem;
use crate::web::query::Query as Params;
use http::StatusCode;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Counts and times over some streams.
#[derive(Default)]
struct Tally {
    streams: u64,
    entries: u64,
    bytes: u64,
    first: Option<u64>,
    last: Option<u64>,
}

impl Tally {
    fn add(&mut self, s: &Selected) {
        self.streams += 1;
        self.entries += s.snap.lines();
        self.bytes += s.snap.size();
        self.first = Some(self.first.map_or(s.meta.first, |f| f.min(s.meta.first)));
        self.last = Some(self.last.map_or(s.last(), |l| l.max(s.last())));
    }

    /// `o` with the counts and times added.
    fn json(&self, mut o: Map<String, Value>) -> Value {
        o.insert("streams".into(), json!(self.streams));
        o.insert("entries".into(), json!(self.entries));
        o.insert("bytes".into(), json!(self.bytes));
        o.insert(
            "first_timestamp".into(),
            self.first.map_or(Value::Null, ts_json),
        );
        o.insert(
            "last_timestamp".into(),
            self.last.map_or(Value::Null, ts_json),
        );
        Value::Object(o)
    }
}

fn required<'a>(p: &'a Params, name: &str) -> Result<&'a str, Problem> {
    p.get(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Problem::bad_param(name, format!("{name} is required")))
}

/// The streams of one cluster (`?cluster=`) or all, with `name=value` for
/// each of `labels`.
fn streams(p: &Params, env: &Env, labels: &[(&str, &str)]) -> Result<Vec<Selected>, Problem> {
    let mut matchers: Vec<Matcher> = p
        .get("cluster")
        .filter(|c| !c.is_empty())
        .map(|c| eq("cluster", c))
        .into_iter()
        .collect::<Result<_, _>>()?;
    for (name, value) in labels {
        matchers.push(eq(name, value)?);
    }
    Ok(search::select(&env.store, &Selector { matchers })?)
}

/// The object of one listed name: `name` and `fields`, then its tally.
fn listed(name: &str, fields: &[(&str, Value)], t: &Tally) -> Value {
    let mut o = Map::new();
    o.insert("name".into(), json!(name));
    for (k, v) in fields {
        o.insert((*k).into(), v.clone());
    }
    t.json(o)
}

/// `GET /k8s/v1/namespaces`: every namespace with streams (in `?cluster=`).
pub(super) fn namespaces(p: &Params, env: &Env) -> Result<Response, Problem> {
    let mut out = Vec::new();
    for ns in crate::model::stream::values(&env.store, "namespace")? {
        let streams = streams(p, env, &[("namespace", &ns)])?;
        if !streams.is_empty() {
            out.push(namespace_json(&ns, &streams));
        }
    }
    Ok(Response::json(
        StatusCode::OK,
        &json!({"namespaces": out, "count": out.len()}),
    ))
}

fn namespace_json(ns: &str, streams: &[Selected]) -> Value {
    let mut t = Tally::default();
    let mut pods = BTreeSet::new();
    let mut clusters = BTreeSet::new();
    for s in streams {
        t.add(s);
        if let Some(pod) = s.meta.labels.get("pod") {
            pods.insert(pod.clone());
        }
        if let Some(c) = s.meta.labels.get("cluster") {
            clusters.insert(c.clone());
        }
    }
    listed(
        ns,
        &[("clusters", json!(clusters)), ("pods", json!(pods.len()))],
        &t,
    )
}

/// One pod's tally, its containers and the nodes it ran on.
#[derive(Default)]
struct Pod {
    tally: Tally,
    containers: BTreeSet<String>,
    nodes: BTreeSet<String>,
}

/// `GET /k8s/v1/pods?namespace=`: the namespace's pods.
pub(super) fn pods(p: &Params, env: &Env) -> Result<Response, Problem> {
    let ns = required(p, "namespace")?;
    let streams = streams(p, env, &[("namespace", ns)])?;
    let mut by_pod: BTreeMap<String, Pod> = BTreeMap::new();
    for s in &streams {
        let Some(pod) = s.meta.labels.get("pod") else {
            continue;
        };
        let e = by_pod.entry(pod.clone()).or_default();
        e.tally.add(s);
        if let Some(c) = s.meta.labels.get("container") {
            e.containers.insert(c.clone());
        }
        if let Some(n) = s.meta.labels.get("node") {
            e.nodes.insert(n.clone());
        }
    }
    let pods: Vec<Value> = by_pod
        .into_iter()
        .map(|(name, pod)| {
            let fields = [
                ("namespace", json!(ns)),
                ("containers", json!(pod.containers)),
                ("node", json!(pod.nodes.into_iter().next())),
            ];
            listed(&name, &fields, &pod.tally)
        })
        .collect();
    Ok(Response::json(
        StatusCode::OK,
        &json!({"namespace": ns, "pods": pods, "count": pods.len()}),
    ))
}

/// `GET /k8s/v1/containers?namespace=&pod=`: the pod's containers.
pub(super) fn containers(p: &Params, env: &Env) -> Result<Response, Problem> {
    let ns = required(p, "namespace")?;
    let pod = required(p, "pod")?;
    let streams = streams(p, env, &[("namespace", ns), ("pod", pod)])?;
    let mut by: BTreeMap<String, (Tally, BTreeSet<String>)> = BTreeMap::new();
    for s in &streams {
        let name = s.meta.labels.get("container").cloned().unwrap_or_default();
        let e = by.entry(name).or_default();
        e.0.add(s);
        if let Some(st) = s.meta.labels.get("stream") {
            e.1.insert(st.clone());
        }
    }
    let list: Vec<Value> = by
        .into_iter()
        .map(|(name, (t, outputs))| {
            let fields = [
                ("namespace", json!(ns)),
                ("pod", json!(pod)),
                ("outputs", json!(outputs)),
            ];
            listed(&name, &fields, &t)
        })
        .collect();
    Ok(Response::json(
        StatusCode::OK,
        &json!({"namespace": ns, "pod": pod, "containers": list, "count": list.len()}),
    ))
}
