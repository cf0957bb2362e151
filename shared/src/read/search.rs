//! Search over labelled streams: the one engine behind `/k8s/v1/` and
//! `/search`, LogQL log queries and Loki's `query_range`, and the metric
//! queries' sample feed.
//!
//! **Order and resumption.** Entries are totally ordered by [`Key`] (time,
//! then stream id, then place in the stream), so "after the last entry
//! returned" is exact even among thousands of entries with one timestamp.
//!
//! **Cost.** Streams come from the postings ([`select`]), never a key scan;
//! each stream's time range is a seek in its own index
//! ([`crate::model::stream::seek`]). A query keeps only the best `limit + 1`
//! hits; a stream stops once it gave that many, and a stream that cannot beat
//! the worst kept hit is not opened. A `|=` literal is searched in the stored
//! bytes with `memmem` before any entry is decoded.
//!
//! **Budget.** Time is walked in windows (the whole range first). Only
//! completed windows count: a search that runs out of time returns the hits
//! of the windows it finished, whose keys all precede anything unseen, and a
//! cursor past them carrying a smaller window for the next call, so every
//! call makes progress and nothing is lost or repeated.

use crate::logql::{Labels, MatchOp, Pipeline, Selector};
use crate::model::stream::{self, StreamMeta};
use crate::store::Store;
use crate::store::error::{StoreError, StoreResult};
use crate::store::log::Snapshot;
use serde::{Deserialize, Serialize};
use std::collections::BinaryHeap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Windows this narrow (ns) always finish: the floor that guarantees every
/// call progress. A second of one selector's logs is small next to a budget
/// (and holds any pile of equal timestamps a shipper sends).
const MIN_WINDOW: u64 = 1_000_000_000;
/// Lines between looks at the clock.
const CLOCK_EVERY: u64 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    #[serde(rename = "forward")]
    Forward,
    #[serde(rename = "backward")]
    Backward,
}

/// An entry's place in the total order of a search.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    pub ts: u64,
    pub stream: String,
    pub offset: u64,
}

/// Where a search stopped: resume with the keys after (forward) or before
/// (backward) `key`, walking windows of `window` ns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    pub key: Key,
    pub window: u64,
}

/// A selected stream, with the view of it the whole search reads.
pub struct Selected {
    pub id: String,
    pub meta: StreamMeta,
    pub labels: Rc<Labels>,
    pub snap: Rc<Snapshot>,
    /// A DC/OS task file: plain lines, timed by their appends' commits.
    pub plain: bool,
}

impl Selected {
    /// The newest entry's timestamp.
    pub fn last(&self) -> u64 {
        let head = self.snap.head();
        match self.plain {
            true => head.mtime.saturating_mul(1000),
            false => head.last_key.unwrap_or(0),
        }
    }

    /// One stored line as an entry at `time` (its segment's commit, µs).
    pub fn entry(&self, text: &[u8], time: u64) -> StoreResult<stream::Entry> {
        if !self.plain {
            return stream::decode(text);
        }
        Ok(stream::Entry {
            ts: time.saturating_mul(1000),
            line: String::from_utf8_lossy(text).into_owned(),
            metadata: Vec::new(),
        })
    }

    /// Where entries with `ts >= from` may begin: a line boundary.
    pub fn start_of(&self, from: u64) -> StoreResult<u64> {
        Ok(self.range(from, u64::MAX)?.0)
    }

    /// `from..=to` as a byte range of line boundaries (a task file's
    /// segments may begin inside a line longer than a segment).
    fn range(&self, from: u64, to: u64) -> StoreResult<(u64, u64)> {
        let (start, end) = stream::seek(&self.snap, from, to)?;
        if !self.plain {
            return Ok((start, end));
        }
        let align = |at: u64| -> StoreResult<u64> {
            if at <= self.snap.retained() || at >= self.snap.size() {
                return Ok(at.min(self.snap.size()));
            }
            self.snap.line_start(self.snap.line_at(at)?)
        };
        Ok((align(start)?, align(end)?))
    }
}

/// A matcher that cannot match an absent label: one the postings can answer.
fn positive(m: &crate::logql::Matcher) -> bool {
    match m.op {
        MatchOp::Eq => !m.value.is_empty(),
        MatchOp::Re => !m.matches(None),
        MatchOp::Ne | MatchOp::Nre => false,
    }
}

/// Intersection of two sorted id lists.
fn intersect(a: Vec<String>, b: &[String]) -> Vec<String> {
    a.into_iter()
        .filter(|id| b.binary_search(id).is_ok())
        .collect()
}

/// The streams `selector` matches, from the postings: each positive matcher
/// names a set (a regex one, the union over the label's values it matches),
/// the sets are intersected, and every candidate is checked against the
/// whole selector. No positive matcher: every stream (`streams/all`).
pub fn select(store: &Rc<Store>, selector: &Selector) -> StoreResult<Vec<Selected>> {
    let mut ids: Option<Vec<String>> = None;
    for m in selector.matchers.iter().filter(|m| positive(m)) {
        let mut set = match m.op {
            MatchOp::Eq => stream::postings(store, &m.name, &m.value)?,
            _ => {
                let mut all = Vec::new();
                for v in stream::values(store, &m.name)? {
                    if m.matches(Some(&v)) {
                        all.extend(stream::postings(store, &m.name, &v)?);
                    }
                }
                all
            }
        };
        set.sort();
        set.dedup();
        ids = Some(match ids {
            None => set,
            Some(prev) => intersect(prev, &set),
        });
    }
    let ids = match ids {
        Some(ids) => ids,
        None => stream::all(store)?,
    };
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(meta) = stream::meta(store, &id)? else {
            continue;
        };
        if !selector.matches(&meta.labels) {
            continue;
        }
        let Some(snap) = meta.log(store.clone(), &id).snapshot()? else {
            continue; // registered, nothing committed yet
        };
        out.push(Selected {
            labels: Rc::new(meta.labels.clone()),
            plain: meta.file_log.is_some(),
            id,
            meta,
            snap: Rc::new(snap),
        });
    }
    Ok(out)
}

/// What to find.
pub struct Plan {
    pub pipeline: Pipeline,
    /// Detected levels to keep (`error`, `warn`, ...); empty keeps all.
    pub levels: Vec<String>,
    /// Inclusive bounds, ns.
    pub from: u64,
    pub to: u64,
    pub direction: Direction,
    pub limit: usize,
    pub resume: Option<Resume>,
    pub budget: Duration,
    /// Lines of the same stream shown before and after each hit, as `grep -C`.
    pub context: (usize, usize),
}

/// One entry that matched.
#[derive(Debug, Clone)]
pub struct Hit {
    pub key: Key,
    /// Where the stored line ends (after its newline): context starts there.
    pub end: u64,
    /// The stream's labels, or the pipeline's labels when it changed them.
    pub labels: Rc<Labels>,
    pub stream_labels: Rc<Labels>,
    pub line: String,
    pub metadata: Vec<(String, String)>,
    pub level: &'static str,
    pub before: Vec<String>,
    pub after: Vec<String>,
}

/// What a search did, for the caller's `stats`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub streams: usize,
    pub entries_scanned: u64,
    pub bytes_scanned: u64,
    pub matched: u64,
    pub elapsed_ms: u64,
    pub budget_exhausted: bool,
}

/// One page of hits, in the plan's direction.
pub struct Page {
    pub hits: Vec<Hit>,
    pub has_more: bool,
    pub resume: Option<Resume>,
    pub stats: Stats,
}

/// A hit ranked for the heap: the heap's top is the hit to drop first
/// (the latest forward, the earliest backward).
struct Ranked(Hit, Direction);

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.0.key == other.0.key
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match self.1 {
            Direction::Forward => self.0.key.cmp(&other.0.key),
            Direction::Backward => other.0.key.cmp(&self.0.key),
        }
    }
}

/// The clock of one search.
pub struct Budget {
    started: Instant,
    budget: Duration,
    lines: u64,
    next_look: u64,
}

impl Budget {
    pub fn new(budget: Duration) -> Self {
        Self {
            started: Instant::now(),
            budget,
            lines: 0,
            next_look: CLOCK_EVERY,
        }
    }

    /// Counts `lines` scanned; true once the budget is spent (the clock is
    /// read every [`CLOCK_EVERY`] lines, and a window of [`MIN_WINDOW`] or
    /// less always finishes, so every call makes progress).
    fn spent(&mut self, lines: u64, window: u64) -> bool {
        self.lines += lines;
        if self.lines < self.next_look || window <= MIN_WINDOW {
            return false;
        }
        self.next_look = self.lines + CLOCK_EVERY;
        self.started.elapsed() >= self.budget
    }

    pub fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

/// What the scanner does with an entry in range: keep going, or stop this stream.
pub enum Flow {
    More,
    Enough,
}

/// The detected level of an entry, as Loki's `detected_level`: structured
/// metadata or a label first, then a `level` field of a JSON or logfmt line,
/// then a leading keyword.
pub fn detect_level(labels: &Labels, metadata: &[(String, String)], line: &str) -> &'static str {
    let named = ["level", "detected_level", "severity", "lvl"];
    let given = metadata
        .iter()
        .find(|(k, _)| named.contains(&k.as_str()))
        .map(|(_, v)| v.as_str())
        .or_else(|| {
            named
                .iter()
                .find_map(|n| labels.get(*n).map(String::as_str))
        });
    if let Some(v) = given {
        return normalize_level(v);
    }
    for pat in ["\"level\":\"", "level=", "\"severity\":\"", "lvl="] {
        if let Some(i) = line.find(pat) {
            let rest = line[i + pat.len()..].trim_start_matches('"');
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            let level = normalize_level(&word);
            if level != "unknown" {
                return level;
            }
        }
    }
    let first: String = line
        .trim_start_matches(|c: char| !c.is_ascii_alphabetic())
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .take(9)
        .collect();
    normalize_level(&first)
}

/// Loki's detected levels: trace, debug, info, warn, error, critical, unknown.
pub fn normalize_level(v: &str) -> &'static str {
    match v.to_ascii_lowercase().as_str() {
        "trace" | "trc" => "trace",
        "debug" | "dbg" => "debug",
        "info" | "inf" | "information" | "notice" => "info",
        "warn" | "warning" | "wrn" => "warn",
        "error" | "err" | "eror" => "error",
        "critical" | "crit" | "fatal" | "panic" | "emerg" | "alert" => "critical",
        _ => "unknown",
    }
}

/// Scans one stream's entries with `from <= ts <= to` in `dir` order after
/// `after`, giving every entry that passes `plan`'s filters to `visit`.
/// `Ok(true)`: the budget ran out mid-scan.
#[allow(clippy::too_many_arguments)]
pub fn scan(
    sel: &Selected,
    from: u64,
    to: u64,
    dir: Direction,
    after: Option<&Key>,
    plan: &Plan,
    window: u64,
    budget: &mut Budget,
    stats: &mut Stats,
    visit: &mut dyn FnMut(Hit) -> Flow,
) -> StoreResult<bool> {
    let (start, end) = sel.range(from, to)?;
    if start >= end {
        return Ok(false);
    }
    let literals: Vec<memchr::memmem::Finder<'static>> = plan
        .pipeline
        .required_literals()
        .iter()
        .map(|l| match sel.plain {
            true => memchr::memmem::Finder::new(l.as_bytes()).into_owned(),
            false => memchr::memmem::Finder::new(&stream::escape(l)).into_owned(),
        })
        .collect();
    let mut line_at = |text: &[u8], offset: u64, time: u64| -> StoreResult<(bool, bool)> {
        // (stop this stream, out of budget)
        let ts = match sel.plain {
            true => time.saturating_mul(1000),
            false => stream::key_of(text)
                .ok_or_else(|| StoreError::internal("stream entry without a time"))?,
        };
        if ts < from || ts > to {
            let past = match dir {
                Direction::Forward => ts > to,
                Direction::Backward => ts < from,
            };
            return Ok((past, false));
        }
        let key = Key {
            ts,
            stream: sel.id.clone(),
            offset,
        };
        if let Some(a) = after {
            let done = match dir {
                Direction::Forward => key <= *a,
                Direction::Backward => key >= *a,
            };
            if done {
                return Ok((false, false));
            }
        }
        if literals.iter().skip(1).any(|f| f.find(text).is_none()) {
            return Ok((false, false));
        }
        let entry = sel.entry(text, time)?;
        let level = detect_level(&sel.labels, &entry.metadata, &entry.line);
        if !plan.levels.is_empty() && !plan.levels.iter().any(|l| l == level) {
            return Ok((false, false));
        }
        let Some((labels, line)) = plan.pipeline.process(&sel.labels, &entry.line) else {
            return Ok((false, false));
        };
        let labels = match labels {
            std::borrow::Cow::Borrowed(_) => sel.labels.clone(),
            std::borrow::Cow::Owned(l) => Rc::new(l),
        };
        stats.matched += 1;
        let hit = Hit {
            key,
            end: offset + text.len() as u64 + 1,
            labels,
            stream_labels: sel.labels.clone(),
            line: line.into_owned(),
            metadata: entry.metadata,
            level,
            before: Vec::new(),
            after: Vec::new(),
        };
        Ok((matches!(visit(hit), Flow::Enough), false))
    };
    // The lines of one chunk (whole lines: a stream's segments start and
    // end on entries) that may match, in `dir` order: all of them, or with
    // a literal, only those that contain its first occurrence.
    let mut chunk_lines =
        |base: u64, chunk: &[u8], time: u64, budget: &mut Budget| -> StoreResult<(bool, bool)> {
            stats.bytes_scanned += chunk.len() as u64;
            let count = memchr::memchr_iter(b'\n', chunk).count() as u64;
            stats.entries_scanned += count;
            let mut spans: Vec<(usize, usize)> = Vec::new();
            match literals.first() {
                Some(f) => {
                    let mut done_to = 0;
                    for i in f.find_iter(chunk) {
                        if i < done_to {
                            continue;
                        }
                        let s = memchr::memrchr(b'\n', &chunk[..i]).map_or(0, |p| p + 1);
                        let e = memchr::memchr(b'\n', &chunk[i..]).map_or(chunk.len(), |p| i + p);
                        spans.push((s, e));
                        done_to = e + 1;
                    }
                    // A rare literal skips most lines unseen: count them too.
                    if budget.spent(count.saturating_sub(spans.len() as u64), window) {
                        return Ok((false, true));
                    }
                }
                None => {
                    let mut s = 0;
                    for e in memchr::memchr_iter(b'\n', chunk) {
                        spans.push((s, e));
                        s = e + 1;
                    }
                }
            }
            if dir == Direction::Backward {
                spans.reverse();
            }
            for (s, e) in spans {
                let (stop, _) = line_at(&chunk[s..e], base + s as u64, time)?;
                if stop {
                    return Ok((true, false));
                }
                if budget.spent(1, window) {
                    return Ok((false, true));
                }
            }
            Ok((false, false))
        };
    match dir {
        Direction::Forward => {
            let mut pos = start;
            for chunk in sel.snap.clone().read_timed(start, end) {
                let (chunk, time) = chunk?;
                let base = pos;
                pos += chunk.len() as u64;
                let (stop, out) = chunk_lines(base, &chunk, time, budget)?;
                if out {
                    return Ok(true);
                }
                if stop {
                    break;
                }
            }
        }
        Direction::Backward => {
            for chunk in sel.snap.clone().read_back(start, end) {
                let (base, chunk, time) = chunk?;
                let (stop, out) = chunk_lines(base, &chunk, time, budget)?;
                if out {
                    return Ok(true);
                }
                if stop {
                    break;
                }
            }
        }
    }
    Ok(false)
}

/// The keys already answered: `after` a resume key, in `dir` order.
fn starting_bounds(plan: &Plan) -> (u64, u64) {
    let (mut lo, mut hi) = (plan.from, plan.to);
    if let Some(r) = &plan.resume {
        match plan.direction {
            Direction::Forward => lo = lo.max(r.key.ts),
            Direction::Backward => hi = hi.min(r.key.ts),
        }
    }
    (lo, hi)
}

/// Runs a search over `streams` (from [`select`]).
pub fn search(streams: &[Selected], plan: &Plan) -> StoreResult<Page> {
    let dir = plan.direction;
    let limit = plan.limit.max(1);
    let mut budget = Budget::new(plan.budget);
    let mut stats = Stats {
        streams: streams.len(),
        ..Stats::default()
    };
    let (mut lo, mut hi) = starting_bounds(plan);
    let after = plan.resume.as_ref().map(|r| r.key.clone());
    let mut window = plan.resume.as_ref().map_or(u64::MAX, |r| r.window).max(1);
    // Newest-first for a backward search, oldest-first forward: the streams
    // most likely to fill the page come first and the rest are then skipped.
    let mut order: Vec<&Selected> = streams
        .iter()
        .filter(|s| s.meta.first <= plan.to && s.last() >= plan.from)
        .collect();
    match dir {
        Direction::Forward => order.sort_by_key(|s| (s.meta.first, s.id.clone())),
        Direction::Backward => order.sort_by_key(|s| (std::cmp::Reverse(s.last()), s.id.clone())),
    }
    let mut heap: BinaryHeap<Ranked> = BinaryHeap::new();
    let outcome = loop {
        if lo > hi {
            break Outcome::Exhausted;
        }
        let (ws, we) = match dir {
            Direction::Forward => (lo, lo.saturating_add(window - 1).min(hi)),
            Direction::Backward => (hi.saturating_sub(window - 1).max(lo), hi),
        };
        let width = we - ws + 1;
        let mut interrupted = false;
        for s in &order {
            if s.meta.first > we || s.last() < ws {
                continue;
            }
            if heap.len() > limit
                && let Some(top) = heap.peek()
            {
                let beaten = match dir {
                    Direction::Forward => top.0.key.ts < ws.max(s.meta.first),
                    Direction::Backward => top.0.key.ts > we.min(s.last()),
                };
                if beaten {
                    continue;
                }
            }
            let mut given = 0usize;
            let mut visit = |hit: Hit| {
                heap.push(Ranked(hit, dir));
                if heap.len() > limit + 1 {
                    heap.pop();
                }
                given += 1;
                if given > limit {
                    Flow::Enough
                } else {
                    Flow::More
                }
            };
            if scan(
                s,
                ws,
                we,
                dir,
                after.as_ref(),
                plan,
                width,
                &mut budget,
                &mut stats,
                &mut visit,
            )? {
                interrupted = true;
                break;
            }
        }
        if interrupted {
            break Outcome::Interrupted { ws, we, width };
        }
        if heap.len() > limit {
            break Outcome::Full { width };
        }
        match dir {
            Direction::Forward if we >= hi => break Outcome::Exhausted,
            Direction::Backward if ws <= lo => break Outcome::Exhausted,
            Direction::Forward => lo = we + 1,
            Direction::Backward => hi = ws - 1,
        }
        window = width.saturating_mul(2);
    };
    let mut hits: Vec<Hit> = heap.into_sorted_vec().into_iter().map(|r| r.0).collect();
    let (has_more, resume) = match outcome {
        Outcome::Exhausted => (false, None),
        Outcome::Full { width } => {
            hits.truncate(limit);
            let key = hits.last().map(|h| h.key.clone());
            (true, key.map(|key| Resume { key, window: width }))
        }
        Outcome::Interrupted { ws, we, width } => {
            stats.budget_exhausted = true;
            // Only what finished windows found: it precedes all that is unseen.
            hits.retain(|h| match dir {
                Direction::Forward => h.key.ts < ws,
                Direction::Backward => h.key.ts > we,
            });
            hits.truncate(limit);
            let key = match dir {
                Direction::Forward => Key {
                    ts: ws,
                    stream: String::new(),
                    offset: 0,
                },
                Direction::Backward => Key {
                    ts: we,
                    stream: "~".into(),
                    offset: u64::MAX,
                },
            };
            // Never behind the cursor this call started from (whose entry
            // the previous page already gave).
            let key = match (&after, dir) {
                (Some(a), Direction::Forward) if *a > key => a.clone(),
                (Some(a), Direction::Backward) if *a < key => a.clone(),
                _ => key,
            };
            let window = (width / 4).max(MIN_WINDOW);
            (true, Some(Resume { key, window }))
        }
    };
    if plan.context != (0, 0) {
        add_context(streams, &mut hits, plan.context)?;
    }
    stats.elapsed_ms = budget.elapsed_ms();
    Ok(Page {
        hits,
        has_more,
        resume,
        stats,
    })
}

enum Outcome {
    Exhausted,
    Full { width: u64 },
    Interrupted { ws: u64, we: u64, width: u64 },
}

/// The lines around each hit in its own stream, oldest first, as `grep -C`
/// shows them (whatever the filters).
fn add_context(
    streams: &[Selected],
    hits: &mut [Hit],
    (before, after): (usize, usize),
) -> StoreResult<()> {
    for hit in hits {
        let Some(s) = streams.iter().find(|s| s.id == hit.key.stream) else {
            continue;
        };
        let mut b = Vec::with_capacity(before);
        for line in s.snap.clone().lines_before(hit.key.offset).take(before) {
            let line = line?;
            b.push(s.entry(&line.text, line.time)?.line);
        }
        b.reverse();
        let mut a = Vec::with_capacity(after);
        for line in s.snap.clone().lines_in(hit.end, s.snap.size()).take(after) {
            let line = line?;
            a.push(s.entry(&line.text, line.time)?.line);
        }
        hit.before = b;
        hit.after = a;
    }
    Ok(())
}

/// Feeds a metric query: every entry of `streams` in `from..=to` that passes
/// `plan`'s pipeline, to `push(labels, ts, bytes)`. `Ok(false)`: the budget
/// ran out first (the caller says the result is partial).
pub fn feed(
    streams: &[Selected],
    plan: &Plan,
    push: &mut dyn FnMut(&Labels, u64, usize),
) -> StoreResult<(bool, Stats)> {
    let mut budget = Budget::new(plan.budget);
    let mut stats = Stats {
        streams: streams.len(),
        ..Stats::default()
    };
    let width = plan.to.saturating_sub(plan.from) + 1;
    for s in streams {
        if s.meta.first > plan.to || s.last() < plan.from {
            continue;
        }
        let mut visit = |hit: Hit| {
            push(&hit.labels, hit.key.ts, hit.line.len());
            Flow::More
        };
        if scan(
            s,
            plan.from,
            plan.to,
            Direction::Forward,
            None,
            plan,
            width,
            &mut budget,
            &mut stats,
            &mut visit,
        )? {
            stats.budget_exhausted = true;
            stats.elapsed_ms = budget.elapsed_ms();
            return Ok((false, stats));
        }
    }
    stats.elapsed_ms = budget.elapsed_ms();
    Ok((true, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::stream::{Entry, encode, keys, register};

    fn push(store: &Rc<Store>, pod: &str, entries: &[(u64, &str)]) {
        let labels: Labels = [("pod".to_owned(), pod.to_owned())].into_iter().collect();
        let entries: Vec<Entry> = entries
            .iter()
            .map(|(ts, l)| Entry {
                ts: *ts,
                line: l.to_string(),
                metadata: vec![],
            })
            .collect();
        let id = register(store, &labels, entries[0].ts).unwrap();
        let mut bytes = Vec::new();
        entries.iter().for_each(|e| encode(e, &mut bytes));
        stream::log(store.clone(), &id)
            .append_keyed(&bytes, None, keys(&entries))
            .unwrap();
    }

    fn plan(dir: Direction, limit: usize, resume: Option<Resume>) -> Plan {
        Plan {
            pipeline: Pipeline::default(),
            levels: vec![],
            from: 0,
            to: u64::MAX - 1,
            direction: dir,
            limit,
            resume,
            budget: Duration::from_secs(60),
            context: (0, 0),
        }
    }

    fn everything(store: &Rc<Store>) -> Vec<Selected> {
        select(store, &Selector { matchers: vec![] }).unwrap()
    }

    #[test]
    fn pages_through_equal_timestamps_in_both_directions() {
        let store = Rc::new(Store::memory());
        for pod in ["a", "b", "c"] {
            let lines: Vec<String> = (0..50).map(|i| format!("{pod}{i}")).collect();
            let entries: Vec<(u64, &str)> = lines.iter().map(|l| (7, l.as_str())).collect();
            push(&store, pod, &entries);
        }
        for dir in [Direction::Forward, Direction::Backward] {
            let streams = everything(&store);
            let mut seen = Vec::new();
            let mut resume = None;
            loop {
                let page = search(&streams, &plan(dir, 16, resume)).unwrap();
                seen.extend(page.hits.iter().map(|h| h.line.clone()));
                if !page.has_more {
                    break;
                }
                resume = page.resume;
            }
            let unique: std::collections::BTreeSet<_> = seen.iter().collect();
            assert_eq!((seen.len(), unique.len()), (150, 150), "{dir:?}");
        }
    }

    #[test]
    fn a_budget_of_nothing_still_finishes_in_order() {
        let store = Rc::new(Store::memory());
        let lines: Vec<String> = (0..5000).map(|i| format!("line {i}")).collect();
        let entries: Vec<(u64, &str)> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| (i as u64 * 10_000_000, l.as_str()))
            .collect();
        push(&store, "a", &entries);
        let streams = everything(&store);
        let (mut seen, mut resume, mut calls, mut stopped) = (Vec::new(), None, 0, 0);
        loop {
            let mut p = plan(Direction::Backward, 700, resume);
            p.budget = Duration::ZERO;
            let page = search(&streams, &p).unwrap();
            calls += 1;
            stopped += page.stats.budget_exhausted as usize;
            seen.extend(page.hits.into_iter().map(|h| h.key.ts));
            if !page.has_more {
                break;
            }
            resume = page.resume;
            assert!(calls < 1000, "progress");
        }
        assert!(stopped > 0);
        let expected: Vec<u64> = (0..5000u64).rev().map(|i| i * 10_000_000).collect();
        assert!(
            seen == expected,
            "{} seen, {} expected",
            seen.len(),
            expected.len()
        );
    }

    #[test]
    fn levels_are_detected_from_fields_and_keywords() {
        let none = Labels::new();
        assert_eq!(detect_level(&none, &[], "level=warn msg=x"), "warn");
        assert_eq!(
            detect_level(&none, &[], r#"{"level":"ERROR","m":1}"#),
            "error"
        );
        assert_eq!(detect_level(&none, &[], "[FATAL] it broke"), "critical");
        assert_eq!(
            detect_level(&none, &[("level".into(), "debug".into())], "x"),
            "debug"
        );
        assert_eq!(detect_level(&none, &[], "plain words"), "unknown");
    }
}
