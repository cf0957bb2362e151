//! Loki's `query_range` and `query`: a log query's streams (entries
//! `start <= ts < end`, `interval` thinning them as Loki does, Loki 3's
//! categorized values when `X-Loki-Response-Encoding-Flags:
//! categorize-labels` asks), or a metric query's matrix or vector.

use super::logql::{Matrix, Ranged, matrix_json, sample, seconds, step_param, warn_partial};
use super::loki::{bounds, last_ns, loki_ok, loki_stats, query_param};
use super::params::{
    budget, direction_param, duration_param, limit_param, now_ns, number_param, time_param,
};
use crate::env::Env;
use crate::logql::{Labels, Query};
use crate::read::search::{Direction, Hit, Page, Stats};
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;
use crate::web::query::Query as Params;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The header Grafana sends to ask for Loki 3's categorized labels.
const ENCODING_FLAGS: &str = "x-loki-response-encoding-flags";
const CATEGORIZE: &str = "categorize-labels";

/// Whether the request asks for `categorize-labels`.
fn categorize(req: &Request) -> bool {
    req.header(ENCODING_FLAGS)
        .is_some_and(|v| v.split(',').any(|f| f.trim() == CATEGORIZE))
}

/// `query_range`: a log query's streams, or a metric query's matrix; the
/// range defaults to the last hour.
pub(super) fn query_range(p: &Params, req: &Request, env: &Env) -> Result<Response, Problem> {
    let query = query_param(p)?;
    let (start, end) = bounds(p)?;
    let run = Ranged {
        env,
        query: &query,
        from: start,
        to: end,
        budget: budget(env, number_param(p, "budget_ms")?)?,
    };
    match &query {
        Query::Log(_) => {
            let run = Ranged {
                to: last_ns(end),
                ..run
            };
            if start == end {
                return Ok(streams_answer(
                    &[],
                    &Stats::default(),
                    categorize(req),
                    false,
                ));
            }
            streams(p, &run, categorize(req))
        }
        Query::Metric(expr) => {
            // `step` only: Grafana sends `interval` too, and it is not the step.
            let step = step_param(p.get("step"), start, end)?;
            let m = run.matrix(expr, step)?;
            matrix_answer("matrix", matrix_json(&m.series), &m)
        }
    }
}

/// A log query's newest (or oldest) `limit` entries, `interval` apart.
fn streams(p: &Params, run: &Ranged, categorized: bool) -> Result<Response, Problem> {
    let dir = direction_param(p.get("direction"))?;
    let limit = limit_param(number_param(p, "limit")?)?;
    let interval = duration_param(p, "interval")?.unwrap_or(0);
    let page = if interval == 0 {
        run.page(dir, limit, None)?
    } else {
        spaced(run, dir, limit, interval)?
    };
    let partial = page.stats.budget_exhausted;
    Ok(streams_answer(
        &page.hits,
        &page.stats,
        categorized,
        partial,
    ))
}

/// Loki's `interval`: an entry is kept only `interval` or more after the
/// last kept one (in the query's direction), until `limit` are kept.
fn spaced(run: &Ranged, dir: Direction, limit: usize, interval: u64) -> Result<Page, Problem> {
    let mut kept: Vec<Hit> = Vec::new();
    let mut resume = None;
    let mut stats = Stats::default();
    loop {
        let page = run.page(dir, limit, resume)?;
        stats.entries_scanned += page.stats.entries_scanned;
        stats.bytes_scanned += page.stats.bytes_scanned;
        stats.segments_skipped += page.stats.segments_skipped;
        stats.budget_exhausted |= page.stats.budget_exhausted;
        for h in page.hits {
            let far = kept.last().is_none_or(|last| match dir {
                Direction::Forward => h.key.ts >= last.key.ts.saturating_add(interval),
                Direction::Backward => h.key.ts.saturating_add(interval) <= last.key.ts,
            });
            if far && kept.len() < limit {
                kept.push(h);
            }
        }
        if kept.len() >= limit || !page.has_more || page.stats.budget_exhausted {
            return Ok(Page {
                hits: kept,
                has_more: false,
                resume: None,
                stats,
            });
        }
        resume = page.resume;
    }
}

fn streams_answer(hits: &[Hit], stats: &Stats, categorized: bool, partial: bool) -> Response {
    let mut data = Map::new();
    data.insert("resultType".into(), json!("streams"));
    if categorized {
        // Grafana reads the flag only if it comes before `result`.
        data.insert("encodingFlags".into(), json!([CATEGORIZE]));
    }
    let result = if categorized {
        categorized_json(hits)
    } else {
        streams_json(hits)
    };
    data.insert("result".into(), result);
    data.insert("stats".into(), loki_stats(stats, hits.len()));
    loki_ok(warn_partial(Value::Object(data), partial, stats))
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

/// Entries grouped by all the labels each ended with (stream labels,
/// structured metadata and parsed labels merged, as Loki does without the
/// flag), streams in first-seen order.
fn streams_json(hits: &[Hit]) -> Value {
    group(
        hits,
        |h| (*h.labels).clone(),
        |h| json!([h.key.ts.to_string(), h.line]),
    )
}

/// Loki 3's categorized streams: the stream is the index labels, each
/// value `[ts, line, {structuredMetadata?, parsed?}]`.
fn categorized_json(hits: &[Hit]) -> Value {
    group(
        hits,
        |h| categories(h).0,
        |h| {
            let (_, meta, parsed) = categories(h);
            let mut o = Map::new();
            if !meta.is_empty() {
                o.insert("structuredMetadata".into(), json!(meta));
            }
            if !parsed.is_empty() {
                o.insert("parsed".into(), json!(parsed));
            }
            json!([h.key.ts.to_string(), h.line, o])
        },
    )
}

/// A hit's labels by category: the stream's own (as the pipeline left
/// them), its structured metadata, and what parsers and formats added.
fn categories(h: &Hit) -> (Labels, Labels, Labels) {
    let (mut stream, mut meta, mut parsed) = (Labels::new(), Labels::new(), Labels::new());
    for (k, v) in h.labels.iter() {
        if h.stream_labels.get(k) == Some(v) {
            stream.insert(k.clone(), v.clone());
        } else if h.metadata.iter().any(|(mk, mv)| mk == k && mv == v) {
            meta.insert(k.clone(), v.clone());
        } else {
            parsed.insert(k.clone(), v.clone());
        }
    }
    (stream, meta, parsed)
}

/// Hits grouped into Loki streams by `key`, each value made by `value`.
fn group(hits: &[Hit], key: impl Fn(&Hit) -> Labels, value: impl Fn(&Hit) -> Value) -> Value {
    let mut order: Vec<Labels> = Vec::new();
    let mut groups: BTreeMap<Labels, Vec<Value>> = BTreeMap::new();
    for h in hits {
        let k = key(h);
        if !groups.contains_key(&k) {
            order.push(k.clone());
        }
        groups.entry(k).or_default().push(value(h));
    }
    Value::Array(
        order
            .into_iter()
            .filter_map(|k| groups.remove(&k).map(|v| json!({"stream": k, "values": v})))
            .collect(),
    )
}

/// `query`: a metric query at one instant (`time`, default now).
pub(super) fn instant(p: &Params, _req: &Request, env: &Env) -> Result<Response, Problem> {
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
    if m.scalar {
        let v = m
            .series
            .first()
            .and_then(|s| s.points.last())
            .map_or(0.0, |p| p.1);
        let data = json!({"resultType": "scalar", "result": [seconds(at as i64), sample(v)]});
        return Ok(loki_ok(data));
    }
    matrix_answer("vector", vector_json(&m), &m)
}

/// Each series' last point, in the series' order (`sort` sets it).
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
