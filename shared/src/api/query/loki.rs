//! Loki's read API, as Loki 3 answers it, so Grafana, Logs Drilldown and
//! `logcli` work unchanged. This module dispatches the routes and holds
//! what they share: parameters from the query string or a form body, Loki's
//! time bounds (`end` exclusive for entries), the `{"status":"success"}`
//! envelope, and errors that carry Loki's `message` beside the problem.
//! The label look-ups are here too; the rest have modules of their own.

use super::loki_query::{instant, query_range};
use super::params::{HOUR_NS, duration_param, logql_problem, now_ns, time_param};
use super::{detected, limits, patterns, volume};
use crate::env::Env;
use crate::logql::{self, Selector};
use crate::read::search::{self, Selected, Stats};
use crate::routes::query::Loki;
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;
use crate::web::query::Query as Params;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Answers one of Loki's read routes; an error carries `message`.
pub(super) fn answer(route: Loki, req: &Request, env: &Env) -> Result<Response, Problem> {
    route_answer(route, req, env).map_err(with_message)
}

fn route_answer(route: Loki, req: &Request, env: &Env) -> Result<Response, Problem> {
    let p = || params(req);
    match route {
        Loki::Tail => Err(websocket_tail()),
        Loki::QueryRange => query_range(&p()?, req, env),
        Loki::Query => instant(&p()?, req, env),
        Loki::Labels => labels(&p()?, env),
        Loki::LabelValues(name) => label_values(&p()?, env, &name),
        Loki::Series => series(&p()?, env),
        Loki::IndexStats => volume::stats(&p()?, env),
        Loki::IndexVolume => volume::volume(&p()?, env, false),
        Loki::IndexVolumeRange => volume::volume(&p()?, env, true),
        Loki::DetectedLabels => detected::labels(&p()?, env),
        Loki::DetectedFields => detected::fields(&p()?, env),
        Loki::DetectedFieldValues(name) => detected::values(&p()?, env, &name),
        Loki::Patterns => patterns::patterns(&p()?, env),
        Loki::DrilldownLimits => limits::drilldown(env),
    }
}

/// Grafana shows a Loki error's `message` (and the raw body without one),
/// so every problem of these routes repeats its detail there.
pub(super) fn with_message(p: Problem) -> Problem {
    let detail = p.detail.clone();
    p.with("message", detail)
}

/// Loki takes its parameters in the query string or a form body.
fn params(req: &Request) -> Result<Params, Problem> {
    if req.method == Method::POST && !req.body.is_empty() {
        let body = std::str::from_utf8(&req.body)
            .map_err(|_| Problem::bad_request("the form body is not UTF-8"))?;
        let mut form = Params::parse(body);
        if !req.query.is_empty() {
            form = Params::parse(&format!("{}&{}", req.query.raw(), body));
        }
        Ok(form)
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
         (`spin-logs tail -f '<query>'` follows it; /system/v1/logs/v2/follow/... follows \
         one task file or the journal); in Grafana, use Explore's auto-refresh instead of Live",
    )
}

/// A WebSocket handshake to a Loki path (Grafana's Live tail), refused
/// before routing as every handshake is: Loki's words, with `message`.
pub(crate) fn websocket_refused() -> Problem {
    with_message(websocket_tail())
}

/// `{"status":"success","data":...}`.
pub(super) fn loki_ok(data: Value) -> Response {
    Response::json(StatusCode::OK, &json!({"status": "success", "data": data}))
}

/// Loki's `stats` object, filled with what the search counted.
pub(super) fn loki_stats(s: &Stats, returned: usize) -> Value {
    let secs = (s.elapsed_ms as f64 / 1000.0).max(1e-6);
    let zero_ingester = json!({"compressedBytes": 0, "decompressedBytes": 0, "decompressedLines": 0,
        "headChunkBytes": 0, "headChunkLines": 0, "totalBatches": 0, "totalChunksMatched": 0,
        "totalDuplicates": 0, "totalLinesSent": 0, "totalReached": 0});
    json!({
        "summary": {
            "bytesProcessedPerSecond": (s.bytes_scanned as f64 / secs) as u64,
            "linesProcessedPerSecond": (s.entries_scanned as f64 / secs) as u64,
            "totalBytesProcessed": s.bytes_scanned,
            "totalLinesProcessed": s.entries_scanned,
            "totalEntriesReturned": returned,
            "execTime": s.elapsed_ms as f64 / 1000.0,
            "queueTime": 0,
        },
        "ingester": zero_ingester,
        "store": {"compressedBytes": s.bytes_scanned, "decompressedBytes": s.bytes_scanned,
            "decompressedLines": s.entries_scanned, "chunksDownloadTime": 0, "totalChunksRef": 0,
            "totalChunksDownloaded": 0, "totalDuplicates": 0},
    })
}

/// Loki's bounds: `end` (default now) and `start` (default `end - since`,
/// `since` an hour by default), in ns; `end` before `start` is refused in
/// Loki's words. Entries are `start <= ts < end`; a metric query's steps
/// run from `start` to `end` inclusive.
pub(super) fn bounds(p: &Params) -> Result<(u64, u64), Problem> {
    let end = time_param(p, "end")?.unwrap_or_else(now_ns);
    let since = duration_param(p, "since")?.unwrap_or(HOUR_NS);
    let start = time_param(p, "start")?.unwrap_or_else(|| end.saturating_sub(since));
    if end < start {
        return Err(Problem::bad_param(
            "end",
            "end timestamp must not be before or equal to start time",
        ));
    }
    Ok((start, end))
}

/// The last instant (inclusive) of entries before an exclusive `end`.
pub(super) fn last_ns(end: u64) -> u64 {
    end.saturating_sub(1)
}

/// The LogQL in `query`, required.
pub(super) fn query_param(p: &Params) -> Result<logql::Query, Problem> {
    let q = p
        .get("query")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| Problem::bad_param("query", "query is required: a LogQL expression"))?;
    logql::parse(q).map_err(logql_problem)
}

/// The streams a look-up is about: those matching `selectors` and alive
/// in `start..end` when given.
pub(super) fn matching_streams(
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
                start.is_none_or(|t| s.last() >= t) && end.is_none_or(|t| s.meta.first < t.max(1));
            if alive && seen.insert(s.id.clone()) {
                out.push(s);
            }
        }
    }
    Ok(out)
}

pub(super) fn selector_param(text: &str, name: &str) -> Result<Selector, Problem> {
    logql::parse_selector(text).map_err(|e| logql_problem(e).with("parameter", name))
}

/// The selector of `query` when it names one: a whole log query is read
/// for its selector (Grafana sends `{a="b"} |= "x"` to label look-ups).
pub(super) fn optional_selector(p: &Params) -> Result<Option<Selector>, Problem> {
    let Some(q) = p
        .get("query")
        .map(str::trim)
        .filter(|q| !q.is_empty() && *q != "{}")
    else {
        return Ok(None);
    };
    match logql::parse(q).map_err(logql_problem)? {
        logql::Query::Log(l) => Ok(Some(l.selector)),
        logql::Query::Metric(_) => Err(Problem::bad_param(
            "query",
            "a stream selector or log query is needed here",
        )),
    }
}

/// `labels`: every label name (from the index's list, whatever the time
/// range: one read), or those of the streams `query` matches.
fn labels(p: &Params, env: &Env) -> Result<Response, Problem> {
    match optional_selector(p)? {
        None => Ok(loki_ok(json!(crate::model::stream::names(&env.store)?))),
        Some(sel) => {
            let streams = matching_streams(env, &[sel], p)?;
            let names: BTreeSet<&String> =
                crate::util::sort::collect(streams.iter().flat_map(|s| s.meta.labels.keys()));
            Ok(loki_ok(json!(names)))
        }
    }
}

/// `label/{name}/values`: every value of `name` (the index's list, one
/// read), or those of the streams `query` matches.
fn label_values(p: &Params, env: &Env, name: &str) -> Result<Response, Problem> {
    match optional_selector(p)? {
        None => Ok(loki_ok(json!(crate::model::stream::values(
            &env.store, name
        )?))),
        Some(sel) => {
            let streams = matching_streams(env, &[sel], p)?;
            let values: BTreeSet<&String> =
                crate::util::sort::collect(streams.iter().filter_map(|s| s.meta.labels.get(name)));
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
