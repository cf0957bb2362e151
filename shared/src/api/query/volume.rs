//! `index/stats`, `index/volume` and `index/volume_range`: what a selector's
//! streams hold over a time range, from the index the streams keep, never
//! from their entries.
//!
//! **What it reads.** The streams come from the postings, as every search's
//! do (one read per matcher's value, then the stream's metadata and its
//! log's head). A log's head lists its sealed pages (each with its first
//! byte, line and time) and its newest segments (each with its byte length,
//! its line count and its first time). A stream wholly inside the range is
//! counted from its head alone; one wholly outside is skipped; one that
//! straddles an end reads at most the one sealed page at each end (one
//! key-value read each, 128 segment records). No segment's bytes are read.
//!
//! **What it says.** Bytes and entries are counted per segment, as Loki
//! counts chunks: a segment straddling an end of the range counts for the
//! part of its time span inside it. `chunks` is the segments counted.

use super::logql::{sample, seconds, step_param};
use super::loki::{bounds, loki_ok, selector_param};
use super::params::number_param;
use crate::env::Env;
use crate::logql::{Labels, MatchOp, Selector};
use crate::read::search::{self, Selected};
use crate::store::Store;
use crate::store::error::StoreResult;
use crate::store::log::{PAGE_SEGMENTS, Segment};
use crate::util::sort;
use crate::web::message::Response;
use crate::web::problem::Problem;
use crate::web::query::Query as Params;
use http::StatusCode;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// What the index says of some streams over a range.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(super) struct Tally {
    pub bytes: f64,
    pub entries: f64,
    pub chunks: u64,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.bytes += o.bytes;
        self.entries += o.entries;
        self.chunks += o.chunks;
    }
}

/// A span of a log: bytes, lines and segments, and the times it covers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Piece {
    bytes: u64,
    lines: u64,
    segments: u64,
    from: u64,
    to: u64,
}

impl Piece {
    /// The part of it inside `from..=to`, prorated by time (each
    /// nanosecond of its span holding an equal share).
    fn within(&self, from: u64, to: u64) -> Option<Tally> {
        if self.to < from || self.from > to {
            return None;
        }
        let span = self.to.saturating_sub(self.from) as f64 + 1.0;
        let inside = self.to.min(to).saturating_sub(self.from.max(from)) as f64 + 1.0;
        let share = (inside / span).clamp(0.0, 1.0);
        Some(Tally {
            bytes: self.bytes as f64 * share,
            entries: self.lines as f64 * share,
            chunks: self.segments,
        })
    }
}

/// What `pieces` add up to inside `from..=to`.
pub(super) fn tally(pieces: &[Piece], from: u64, to: u64) -> Tally {
    let mut total = Tally::default();
    for p in pieces {
        if let Some(t) = p.within(from, to) {
            total.add(t);
        }
    }
    total
}

/// The time a segment begins at: its key, or for a task file its commit.
fn seg_time(s: &Segment) -> u64 {
    s.key.unwrap_or(s.time.saturating_mul(1000))
}

/// Stream `s` as pieces fine enough for `from..=to`: itself whole if it
/// lies inside, else its sealed pages, the ones that straddle an end split
/// into their segments (one index read each), and its newest segments.
pub(super) fn pieces(
    store: &Rc<Store>,
    s: &Selected,
    from: u64,
    to: u64,
) -> StoreResult<Vec<Piece>> {
    let head = s.snap.head();
    if s.meta.first > to || s.last() < from {
        return Ok(Vec::new());
    }
    if s.meta.first >= from && s.last() <= to {
        let retained = head.retained.map_or((0, 0), |r| (r.offset, r.line));
        return Ok(vec![Piece {
            bytes: head.size.saturating_sub(retained.0),
            lines: head.lines.saturating_sub(retained.1),
            segments: head
                .segments
                .saturating_sub((head.expired_pages * PAGE_SEGMENTS) as u64),
            from: s.meta.first,
            to: s.last(),
        }]);
    }
    let log = s.meta.log(store.clone(), &s.id);
    let mut out = Vec::new();
    let pages = &head.pages;
    for n in head.expired_pages..pages.len() {
        let p = &pages[n];
        let (end_off, end_line, end_time) = match (pages.get(n + 1), head.tail.first()) {
            (Some(next), _) => (next.offset, next.line, next.key.unwrap_or(u64::MAX)),
            (None, Some(t)) => (t.offset, t.line, seg_time(t)),
            (None, None) => (head.size, head.lines, s.last()),
        };
        let piece = Piece {
            bytes: end_off.saturating_sub(p.offset),
            lines: end_line.saturating_sub(p.line),
            segments: PAGE_SEGMENTS as u64,
            from: p.key.unwrap_or(s.meta.first),
            to: end_time,
        };
        if piece.to < from || piece.from > to {
            continue;
        }
        if piece.from >= from && piece.to <= to {
            out.push(piece);
        } else {
            out.extend(segment_pieces(&log.page(n)?, end_time));
        }
    }
    out.extend(segment_pieces(&head.tail, s.last()));
    Ok(out)
}

/// Segments in order as pieces, the last ending at `end_time`.
fn segment_pieces(segs: &[Segment], end_time: u64) -> Vec<Piece> {
    segs.iter()
        .enumerate()
        .map(|(i, seg)| Piece {
            bytes: seg.len,
            lines: seg.newlines,
            segments: 1,
            from: seg_time(seg),
            to: segs
                .get(i + 1)
                .map_or(end_time, seg_time)
                .max(seg_time(seg)),
        })
        .collect()
}

fn required_selector(p: &Params) -> Result<Selector, Problem> {
    let q = p
        .get("query")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| Problem::bad_param("query", "query is required: a stream selector"))?;
    selector_param(q, "query")
}

/// `index/stats`: `{"streams","chunks","bytes","entries"}` (no envelope).
pub(super) fn stats(p: &Params, env: &Env) -> Result<Response, Problem> {
    let sel = required_selector(p)?;
    let (start, end) = bounds(p)?;
    let to = end.saturating_sub(1);
    let mut total = Tally::default();
    let mut streams = 0u64;
    for s in search::select(&env.store, &sel)? {
        let t = tally(&pieces(&env.store, &s, start, to)?, start, to);
        if t.entries > 0.0 {
            streams += 1;
            total.add(t);
        }
    }
    let body = json!({"streams": streams, "chunks": total.chunks,
        "bytes": total.bytes.round() as u64, "entries": total.entries.round() as u64});
    Ok(Response::json(StatusCode::OK, &body))
}

/// Loki's volume parameters.
struct VolumeAsk {
    sel: Selector,
    limit: usize,
    targets: Vec<String>,
    by_labels: bool,
}

fn volume_ask(p: &Params) -> Result<VolumeAsk, Problem> {
    let sel = required_selector(p)?;
    let limit = match number_param(p, "limit")? {
        None | Some(0) => 100,
        Some(n) => n.min(10_000) as usize,
    };
    let targets: Vec<String> = p
        .get("targetLabels")
        .map(|t| {
            t.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let by_labels = match p.get("aggregateBy").unwrap_or("") {
        "" | "series" => false,
        "labels" => true,
        _ => {
            return Err(Problem::bad_param(
                "aggregateBy",
                "invalid aggregation option",
            ));
        }
    };
    Ok(VolumeAsk {
        sel,
        limit,
        targets,
        by_labels,
    })
}

/// `index/volume` (one bucket ending at `end`: a vector) and
/// `index/volume_range` (buckets of `step`: a matrix when any series has
/// more than one), series sorted by their first value, largest first.
pub(super) fn volume(p: &Params, env: &Env, ranged: bool) -> Result<Response, Problem> {
    let ask = volume_ask(p)?;
    let (start, end) = bounds(p)?;
    let step = if ranged {
        step_param(p.get("step"), start, end)?
    } else {
        end.saturating_sub(start).max(1)
    };
    let mut sel = ask.sel.clone();
    for t in &ask.targets {
        if !sel.matchers.iter().any(|m| &m.name == t) {
            let any = crate::logql::Matcher::new(t, MatchOp::Re, ".+")
                .map_err(super::params::logql_problem)?;
            sel.matchers.push(any);
        }
    }
    let names: BTreeSet<String> = match ask.targets.is_empty() {
        true => sort::collect(ask.sel.matchers.iter().map(|m| m.name.clone())),
        false => sort::collect(ask.targets.iter().cloned()),
    };
    let mut volumes: BTreeMap<String, BTreeMap<u64, f64>> = BTreeMap::new();
    for s in search::select(&env.store, &sel)? {
        let pieces = pieces(&env.store, &s, start, end.saturating_sub(1))?;
        let mut lo = start;
        while lo < end && !pieces.is_empty() {
            let hi = lo.saturating_add(step).min(end);
            let t = tally(&pieces, lo, hi - 1);
            if t.entries > 0.0 {
                for key in volume_keys(&s.meta.labels, &names, &ask) {
                    *volumes.entry(key).or_default().entry(hi).or_default() += t.bytes;
                }
            }
            lo = hi;
        }
    }
    Ok(loki_ok(volume_json(volumes, ask.limit, ask.by_labels)))
}

/// The names a stream's volume is added under: its matched labels (a
/// series), or each of its label names.
fn volume_keys(labels: &Labels, names: &BTreeSet<String>, ask: &VolumeAsk) -> Vec<String> {
    if !ask.by_labels {
        let series: Labels = sort::collect(
            labels
                .iter()
                .filter(|(k, _)| names.contains(*k))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        return vec![crate::model::stream::canonical(&series)];
    }
    labels
        .keys()
        .filter(|k| ask.targets.is_empty() || names.contains(*k))
        .cloned()
        .collect()
}

fn volume_json(
    volumes: BTreeMap<String, BTreeMap<u64, f64>>,
    limit: usize,
    by_labels: bool,
) -> Value {
    let mut series: Vec<(String, BTreeMap<u64, f64>)> = volumes.into_iter().collect();
    let first = |s: &BTreeMap<u64, f64>| s.values().next().copied().unwrap_or(0.0);
    crate::util::sort::sort_by(&mut series, |a, b| {
        first(&b.1).total_cmp(&first(&a.1)).then(a.0.cmp(&b.0))
    });
    series.truncate(limit);
    let matrix = series.iter().any(|(_, s)| s.len() > 1);
    let result: Vec<Value> = series
        .into_iter()
        .map(|(name, samples)| {
            let metric = if by_labels {
                json!({ name: "" })
            } else {
                series_labels(&name)
            };
            let points: Vec<Value> = samples
                .into_iter()
                .map(|(t, v)| json!([seconds(t as i64), sample(v.round())]))
                .collect();
            match matrix {
                true => json!({"metric": metric, "values": points}),
                false => json!({"metric": metric, "value": points.into_iter().next()}),
            }
        })
        .collect();
    json!({"resultType": if matrix { "matrix" } else { "vector" }, "result": result,
        "stats": {"summary": {"bytesProcessedPerSecond": 0, "linesProcessedPerSecond": 0,
            "totalBytesProcessed": 0, "totalLinesProcessed": 0, "execTime": 0, "queueTime": 0}}})
}

/// The labels of a canonical `{a="b"}` key back as a JSON object.
fn series_labels(name: &str) -> Value {
    crate::logql::parse_labels(name)
        .map(|pairs| json!(sort::collect::<BTreeMap<_, _>, _>(pairs)))
        .unwrap_or_else(|_| json!({}))
}
