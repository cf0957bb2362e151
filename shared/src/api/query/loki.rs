//! Loki's read API, as Loki answers it, so Grafana and `logcli` work
//! unchanged: `query_range`, `query`, `labels`, `label/{name}/values`,
//! `series`; its WebSocket `tail` is a 400 pointing to the SSE tail.

use super::logql::{Matrix, Ranged, matrix_json, sample, seconds, step_param, warn_partial};
use super::params::{HOUR_NS, budget, direction_param, duration_param, limit_param};
use super::params::{logql_problem, now_ns, number_param, time_param, time_range};
use crate::env::Env;
use crate::logql::{self, Labels, Query, Selector};
use crate::read::search::{self, Hit, Selected, Stats};
use crate::routes::query::Loki;
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;
use crate::web::query::Query as Params;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Answers one of Loki's read routes.
pub(super) fn answer(route: Loki, req: &Request, env: &Env) -> Result<Response, Problem> {
    match route {
        Loki::Tail => Err(websocket_tail()),
        Loki::QueryRange => query_range(&params(req)?, env),
        Loki::Query => instant(&params(req)?, env),
        Loki::Labels => labels(&params(req)?, env),
        Loki::LabelValues(name) => label_values(&params(req)?, env, &name),
        Loki::Series => series(&params(req)?, env),
    }
}

/// Loki takes its parameters in the query string or a form body.
fn params(req: &Request) -> Result<Params, Problem> {
    if req.method == Method::POST && !req.body.is_empty() {
        let body = std::str::from_utf8(&req.body)
            .map_err(|_| Problem::bad_request("the form body is not UTF-8"))?;
        Ok(Params::parse(body))
    } else {
        Ok(req.query.clone())
    }
}

fn websocket_tail() -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "WebSocket Not Supported",
        "Loki's /tail is a WebSocket, which this host cannot hold: \
         GET /k8s/v1/tail?query=<the same query> streams it as Server-Sent Events \
         (and /system/v1/logs/v2/follow/... follows one task file or the journal)",
    )
}

fn loki_ok(data: Value) -> Response {
    Response::json(StatusCode::OK, &json!({"status": "success", "data": data}))
}

fn loki_stats(s: &Stats, returned: usize) -> Value {
    let secs = (s.elapsed_ms as f64 / 1000.0).max(1e-6);
    json!({"summary": {
        "bytesProcessedPerSecond": (s.bytes_scanned as f64 / secs) as u64,
        "linesProcessedPerSecond": (s.entries_scanned as f64 / secs) as u64,
        "totalBytesProcessed": s.bytes_scanned,
        "totalLinesProcessed": s.entries_scanned,
        "totalEntriesReturned": returned,
        "execTime": s.elapsed_ms as f64 / 1000.0,
        "queueTime": 0,
    }})
}

fn query_param(p: &Params) -> Result<Query, Problem> {
    let q = p
        .get("query")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| Problem::bad_param("query", "query is required: a LogQL expression"))?;
    logql::parse(q).map_err(logql_problem)
}

/// `query_range`: a log query's streams, or a metric query's matrix; the
/// range defaults to the last hour.
fn query_range(p: &Params, env: &Env) -> Result<Response, Problem> {
    let query = query_param(p)?;
    let since = duration_param(p, "since")?;
    let (from, to) = time_range(
        time_param(p, "start")?,
        time_param(p, "end")?,
        since,
        Some(HOUR_NS),
    )?;
    let run = Ranged {
        env,
        query: &query,
        from,
        to,
        budget: budget(env, number_param(p, "budget_ms")?)?,
    };
    match &query {
        Query::Log(_) => streams(p, &run),
        Query::Metric(expr) => {
            let step = step_param(p.get("step").or(p.get("interval")), from, to)?;
            let m = run.matrix(expr, step)?;
            matrix_answer("matrix", matrix_json(&m.series), &m)
        }
    }
}

fn streams(p: &Params, run: &Ranged) -> Result<Response, Problem> {
    let dir = direction_param(p.get("direction"))?;
    let limit = limit_param(number_param(p, "limit")?)?;
    let page = run.page(dir, limit, None)?;
    let data = json!({
        "resultType": "streams",
        "result": streams_json(&page.hits),
        "stats": loki_stats(&page.stats, page.hits.len()),
    });
    let partial = page.stats.budget_exhausted;
    Ok(loki_ok(warn_partial(data, partial, &page.stats)))
}

/// A metric answer: `result` of `result_type`, with the matrix's stats and a
/// warning when the budget cut it short.
fn matrix_answer(result_type: &str, result: Value, m: &Matrix) -> Result<Response, Problem> {
    let data = json!({
        "resultType": result_type,
        "result": result,
        "stats": loki_stats(&m.stats, m.series.len()),
    });
    Ok(loki_ok(warn_partial(data, m.partial(), &m.stats)))
}

/// Entries grouped by the labels each ended with, streams in first-seen order.
fn streams_json(hits: &[Hit]) -> Value {
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, (Labels, Vec<Value>)> = BTreeMap::new();
    for h in hits {
        let key = crate::model::stream::canonical(&h.labels);
        let g = groups.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            ((*h.labels).clone(), Vec::new())
        });
        g.1.push(json!([h.key.ts.to_string(), h.line]));
    }
    Value::Array(
        order
            .into_iter()
            .filter_map(|k| groups.remove(&k))
            .map(|(labels, values)| json!({"stream": labels, "values": values}))
            .collect(),
    )
}

/// The value of a sum of `vector(<number>)` terms: the query Grafana's Loki
/// data source sends as its health check (`vector(1)+vector(1)`).
fn constant_vector(query: &str) -> Option<f64> {
    let compact: String = query.chars().filter(|c| !c.is_whitespace()).collect();
    compact
        .split('+')
        .map(|term| {
            term.strip_prefix("vector(")?
                .strip_suffix(')')?
                .parse::<f64>()
                .ok()
        })
        .sum()
}

/// `query`: a metric query at one instant (`time`, default now).
fn instant(p: &Params, env: &Env) -> Result<Response, Problem> {
    if let Some(v) = p.get("query").and_then(constant_vector) {
        let at = time_param(p, "time")?.unwrap_or_else(now_ns);
        let result = json!([{"metric": {}, "value": [seconds(at as i64), sample(v)]}]);
        return Ok(loki_ok(json!({"resultType": "vector", "result": result})));
    }
    let query = query_param(p)?;
    let Query::Metric(expr) = &query else {
        return Err(Problem::bad_param(
            "query",
            "log queries are not supported as an instant query type, please change your query to a range query type",
        ));
    };
    let at = time_param(p, "time")?.unwrap_or_else(now_ns);
    let run = Ranged {
        env,
        query: &query,
        from: at,
        to: at,
        budget: budget(env, number_param(p, "budget_ms")?)?,
    };
    let m = run.matrix(expr, 1)?;
    matrix_answer("vector", vector_json(&m), &m)
}

/// Each series' last point.
fn vector_json(m: &Matrix) -> Value {
    let result: Vec<Value> = m
        .series
        .iter()
        .filter_map(|s| {
            s.points
                .last()
                .map(|(t, v)| json!({"metric": s.labels, "value": [seconds(*t), sample(*v)]}))
        })
        .collect();
    json!(result)
}

/// The streams a Loki label or series look-up is about: those matching
/// `query`/`match[]` selectors and alive in `start..end` when given.
fn matching_streams(
    env: &Env,
    selectors: &[Selector],
    p: &Params,
) -> Result<Vec<Selected>, Problem> {
    let (start, end) = (time_param(p, "start")?, time_param(p, "end")?);
    let mut out: Vec<Selected> = Vec::new();
    let mut seen = BTreeSet::new();
    for sel in selectors {
        for s in search::select(&env.store, sel)? {
            let alive =
                start.is_none_or(|t| s.last() >= t) && end.is_none_or(|t| s.meta.first <= t);
            if alive && seen.insert(s.id.clone()) {
                out.push(s);
            }
        }
    }
    Ok(out)
}

fn selector_param(text: &str, name: &str) -> Result<Selector, Problem> {
    logql::parse_selector(text).map_err(|e| logql_problem(e).with("parameter", name))
}

/// `labels`: every label name, or those of the streams `query` matches.
fn labels(p: &Params, env: &Env) -> Result<Response, Problem> {
    match p.get("query").filter(|q| !q.is_empty()) {
        None => Ok(loki_ok(json!(crate::model::stream::names(&env.store)?))),
        Some(q) => {
            let streams = matching_streams(env, &[selector_param(q, "query")?], p)?;
            let names: BTreeSet<&String> =
                streams.iter().flat_map(|s| s.meta.labels.keys()).collect();
            Ok(loki_ok(json!(names)))
        }
    }
}

/// `label/{name}/values`: every value of `name`, or those of the streams
/// `query` matches.
fn label_values(p: &Params, env: &Env, name: &str) -> Result<Response, Problem> {
    match p.get("query").filter(|q| !q.is_empty()) {
        None => Ok(loki_ok(json!(crate::model::stream::values(
            &env.store, name
        )?))),
        Some(q) => {
            let streams = matching_streams(env, &[selector_param(q, "query")?], p)?;
            let values: BTreeSet<&String> = streams
                .iter()
                .filter_map(|s| s.meta.labels.get(name))
                .collect();
            Ok(loki_ok(json!(values)))
        }
    }
}

/// `series`: the label sets of the streams the `match[]` selectors match.
fn series(p: &Params, env: &Env) -> Result<Response, Problem> {
    let selectors: Vec<Selector> = p
        .all("match[]")
        .chain(p.all("match"))
        .map(|m| selector_param(m, "match[]"))
        .collect::<Result<_, _>>()?;
    if selectors.is_empty() {
        return Err(Problem::bad_param(
            "match[]",
            "match[] is required: one or more stream selectors",
        ));
    }
    let streams = matching_streams(env, &selectors, p)?;
    Ok(loki_ok(json!(
        streams.iter().map(|s| &s.meta.labels).collect::<Vec<_>>()
    )))
}
