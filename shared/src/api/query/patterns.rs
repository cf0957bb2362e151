//! `/loki/api/v1/patterns`: the patterns of a query's lines over a range,
//! for Logs Drilldown's Patterns tab, clustered by Drain
//! ([`crate::logql::drain`]) per stream and detected level, as Loki's
//! pattern ingester does, then merged across streams.
//!
//! Loki learns patterns from every line as it is pushed; here they are
//! learnt when asked, from a bounded sample of the range: the range is cut
//! into [`SLICES`] slices and the newest [`PER_SLICE`] lines of each are
//! read (at most 10,000 lines, within the query budget), so the patterns
//! cover the whole range and a request costs the same however much the
//! range holds. A pattern's samples count the sampled lines per `step`: a
//! slice with more lines than it reads is under-counted by that ratio.

use super::logql::{Ranged, step_param};
use super::loki::{bounds, query_param};
use super::params::budget;
use crate::env::Env;
use crate::logql::Query;
use crate::logql::drain::{Drain, detect_format};
use crate::read::search::{Direction, Hit};
use crate::web::message::Response;
use crate::web::problem::Problem;
use crate::web::query::Query as Params;
use http::{StatusCode, header};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// How many slices the range is read in, and lines read from each.
pub(super) const SLICES: u64 = 20;
pub(super) const PER_SLICE: usize = 500;
/// Patterns answered at most (Drilldown shows 500).
const MAX_PATTERNS: usize = 1000;

/// `patterns`: `{"status":"success","data":[{"pattern","level","samples"}]}`.
pub(super) fn patterns(p: &Params, env: &Env) -> Result<Response, Problem> {
    let query = query_param(p)?;
    if !matches!(query, Query::Log(_)) {
        return Err(Problem::bad_param("query", "a log query is needed here"));
    }
    let (start, end) = bounds(p)?;
    let step = step_param(p.get("step"), start, end)?;
    let hits = sample(env, &query, start, end)?;
    let mut drains: HashMap<(String, String), Drain> = HashMap::new();
    for h in &hits {
        let level = level_of(h);
        let d = drains
            .entry((h.key.stream.clone(), level))
            .or_insert_with(|| Drain::new(detect_format(&h.line)));
        d.train(&h.line, h.key.ts as i64);
    }
    let merged = merge(&drains, step);
    Ok(answer(merged))
}

/// The newest lines of each slice of `start..end`, oldest slice first.
fn sample(env: &Env, query: &Query, start: u64, end: u64) -> Result<Vec<Hit>, Problem> {
    let began = Instant::now();
    let total = budget(env, None)?;
    let width = (end.saturating_sub(start) / SLICES).max(1);
    let mut hits = Vec::new();
    let mut lo = start;
    while lo < end {
        let hi = lo.saturating_add(width).min(end);
        let left = total.saturating_sub(began.elapsed());
        if left.is_zero() {
            break;
        }
        let run = Ranged {
            env,
            query,
            from: lo,
            to: hi - 1,
            budget: left,
        };
        hits.extend(run.page(Direction::Backward, PER_SLICE, None)?.hits);
        lo = hi;
    }
    Ok(hits)
}

/// An entry's `detected_level`: its structured metadata's, else the one
/// the reader detected.
fn level_of(h: &Hit) -> String {
    h.metadata
        .iter()
        .find(|(k, _)| k == "detected_level")
        .map_or_else(|| h.level.to_owned(), |(_, v)| v.clone())
}

/// Lines per `step` bucket (seconds) of each (pattern, level).
type Merged = BTreeMap<(String, String), BTreeMap<i64, u64>>;

fn merge(drains: &HashMap<(String, String), Drain>, step: u64) -> Merged {
    let step = step.max(1) as i64;
    let mut out: Merged = BTreeMap::new();
    for ((_, level), d) in drains {
        for (pattern, cluster) in d.patterns() {
            let samples = out.entry((pattern, level.clone())).or_default();
            for (&bucket, &n) in &cluster.samples {
                *samples
                    .entry(bucket.div_euclid(step) * step / 1_000_000_000)
                    .or_default() += n;
            }
        }
    }
    out
}

/// Patterns most frequent first, HTML-escaped as Loki's writer escapes them.
fn answer(merged: Merged) -> Response {
    let mut rows: Vec<((String, String), BTreeMap<i64, u64>)> = merged.into_iter().collect();
    let total = |s: &BTreeMap<i64, u64>| s.values().sum::<u64>();
    crate::util::sort::sort_by(&mut rows, |a, b| {
        total(&b.1).cmp(&total(&a.1)).then(a.0.cmp(&b.0))
    });
    rows.truncate(MAX_PATTERNS);
    let data: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|((pattern, level), samples)| {
            let samples: Vec<[i64; 2]> = samples.into_iter().map(|(t, n)| [t, n as i64]).collect();
            json!({"pattern": pattern, "level": level, "samples": samples})
        })
        .collect();
    let body = json!({"status": "success", "data": data}).to_string();
    // `<`, `>` and `&` only occur inside strings, where these escapes mean them.
    let escaped = body
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    Response::new(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json; charset=UTF-8")
        .bytes(escaped)
}
