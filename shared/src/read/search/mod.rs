//! Search over labelled streams: the one engine behind `/k8s/v1/` and
//! `/search`, LogQL log queries and Loki's `query_range`, and the metric
//! queries' sample feed.
//!
//! **Order and resumption.** Entries are totally ordered by [`Key`] (time,
//! then stream id, then place in the stream), so "after the last entry
//! returned" is exact even among thousands of entries with one timestamp,
//! and whatever order they arrived in: a stream stores late entries after
//! newer ones (`store::log`'s contract), and the order of a search is the
//! key's, never the stored one.
//!
//! **Cost.** Streams come from the postings ([`select`]), never a key scan;
//! each stream's time range is a seek in its own index
//! ([`crate::model::stream::seek`]). A query keeps only the best `limit + 1`
//! hits; once it has them, a line that cannot beat the worst ends its
//! segment's scan, a stream ends where its index says nothing further can,
//! and a stream that cannot beat the worst is not opened. A `|=` literal is
//! searched in the stored bytes with `memmem` before any entry is decoded.
//!
//! **Budget.** Time is walked in windows (the whole range first). Only
//! completed windows count: a search that runs out of time returns the hits
//! of the windows it finished, whose keys all precede anything unseen, and a
//! cursor past them carrying a smaller window for the next call, so every
//! call makes progress and nothing is lost or repeated.
//!
//! The engine, in steps, each a module of its own:
//!
//! | module | job |
//! |---|---|
//! | `select` | the streams a selector matches, from the postings |
//! | `walk` | the range in windows, the best hits kept, where the next call resumes |
//! | `scan` | one stream over one window: candidate lines, filters, hits |
//! | `budget` | the clock, and the counts every scan adds to |
//! | `level` | an entry's detected level |

mod budget;
mod level;
mod scan;
mod select;
mod walk;

pub use level::{detect_level, normalize_level};
pub use select::{Selected, select};

use crate::logql::{Labels, Pipeline};
use crate::store::error::StoreResult;
use budget::Meter;
use scan::{Scan, Scanned, Sink, Window};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::rc::Rc;
use std::time::Duration;
use walk::{Searcher, Walked, add_context};

/// Which end of the range a search starts from, spelled as Loki's
/// `direction` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// Oldest first: ascending [`Key`]s.
    #[serde(rename = "forward")]
    Forward,
    /// Newest first: descending [`Key`]s.
    #[serde(rename = "backward")]
    Backward,
}

/// An entry's place in the total order of a search.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    /// The entry's timestamp, ns since the epoch.
    pub ts: u64,
    /// The id of the stream it is in.
    pub stream: String,
    /// Byte offset of its stored line in the stream's log.
    pub offset: u64,
}

/// Where a search stopped: resume with the keys after (forward) or before
/// (backward) `key`, walking windows of `window` ns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    /// The next page starts strictly after this key, in the plan's
    /// direction: the last hit answered or, when the budget stopped the
    /// call, a key just before the window it did not finish.
    pub key: Key,
    /// Width of the next call's first window, ns: narrower after a call the
    /// budget stopped, so the next one finishes a window.
    pub window: u64,
}

impl Direction {
    /// `a` against `b` in this direction's order (backward reverses it).
    fn order<T: Ord>(self, a: &T, b: &T) -> Ordering {
        match self {
            Direction::Forward => a.cmp(b),
            Direction::Backward => b.cmp(a),
        }
    }

    /// Whether `a` comes after `b` in this direction's order.
    fn ahead<T: Ord>(self, a: &T, b: &T) -> bool {
        self.order(a, b) == Ordering::Greater
    }
}

/// What to find.
pub struct Plan {
    /// The LogQL filters and stages every entry goes through: an entry the
    /// pipeline drops is no hit.
    pub pipeline: Pipeline,
    /// Detected levels to keep (`error`, `warn`, ...); empty keeps all.
    pub levels: Vec<String>,
    /// Earliest timestamp searched, ns, inclusive.
    pub from: u64,
    /// Latest timestamp searched, ns, inclusive.
    pub to: u64,
    /// Which end the hits start from.
    pub direction: Direction,
    /// Most hits on a page (0 counts as 1).
    pub limit: usize,
    /// Where the previous page stopped (`None`: the first page).
    pub resume: Option<Resume>,
    /// Wall time the search may take: past it, the page holds what the
    /// finished windows found and the resume point says where to go on.
    pub budget: Duration,
    /// Lines of the same stream shown before and after each hit, as `grep -C`.
    pub context: (usize, usize),
}

/// One entry that matched.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Its place in the search's order, and the cursor that resumes after it.
    pub key: Key,
    /// Where the stored line ends (after its newline): context starts there.
    pub end: u64,
    /// The stream's labels, or the pipeline's labels when it changed them.
    pub labels: Rc<Labels>,
    /// The stream's labels as stored, whatever the pipeline did.
    pub stream_labels: Rc<Labels>,
    /// The entry's line, as the pipeline left it (`line_format` may rewrite it).
    pub line: String,
    /// The entry's structured metadata, as stored.
    pub metadata: Vec<(String, String)>,
    /// The detected level ([`detect_level`]).
    pub level: &'static str,
    /// Up to `context.0` lines of the stream just before it, oldest first,
    /// unfiltered.
    pub before: Vec<String>,
    /// Up to `context.1` lines of the stream just after it, unfiltered.
    pub after: Vec<String>,
}

/// What a search did, for the caller's `stats`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Streams the selector matched.
    pub streams: usize,
    /// Stored lines read (whether or not in range or matching).
    pub entries_scanned: u64,
    /// Stored bytes read.
    pub bytes_scanned: u64,
    /// Segments not read because their filter said they could not hold
    /// the required literals (see `store::log::filter`).
    #[serde(skip_serializing_if = "is_zero")]
    pub segments_skipped: u64,
    /// Entries that passed the levels and the pipeline, kept or not.
    pub matched: u64,
    /// Wall time taken, ms.
    pub elapsed_ms: u64,
    /// The budget ran out: the answer is a partial one (with a resume point
    /// for a search, marked partial for a metric query).
    pub budget_exhausted: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One page of hits, in the plan's direction.
pub struct Page {
    /// At most `limit` hits, in the plan's direction.
    pub hits: Vec<Hit>,
    /// Hits may remain past this page (the page was full, or the budget ran
    /// out first).
    pub has_more: bool,
    /// Where the next page starts, when `has_more`.
    pub resume: Option<Resume>,
    /// What the search did.
    pub stats: Stats,
}

/// Runs a search over `streams` (from [`select`]).
pub fn search(streams: &[Selected], plan: &Plan) -> StoreResult<Page> {
    let meter = Meter::new(plan.budget, streams.len());
    let Walked {
        mut hits,
        has_more,
        resume,
        meter,
    } = Searcher::new(streams, plan).walk(meter)?;
    if plan.context != (0, 0) {
        add_context(streams, &mut hits, plan.context)?;
    }
    Ok(Page {
        hits,
        has_more,
        resume,
        stats: meter.finish(),
    })
}

/// Feeds a metric query: every entry of `streams` in `from..=to` that passes
/// `plan`'s pipeline, to `push(labels, ts, bytes)`, stream after stream,
/// each in stored order: time order, but for entries that arrived late
/// (within Loki's window), so a consumer must not assume sorted times.
/// `Ok(false)`: the budget ran out first (the caller says the result is
/// partial).
pub fn feed(
    streams: &[Selected],
    plan: &Plan,
    push: &mut dyn FnMut(&Labels, u64, usize),
) -> StoreResult<(bool, Stats)> {
    let mut meter = Meter::new(plan.budget, streams.len());
    let window = Window {
        from: plan.from,
        to: plan.to,
    };
    let mut sink = Feeder(push);
    for s in streams.iter().filter(|s| window.touches(s)) {
        let scan = Scan {
            stream: s,
            window,
            direction: Direction::Forward,
            after: None,
            plan,
        };
        if scan.run(&mut meter, &mut sink)? == Scanned::OutOfTime {
            meter.stats.budget_exhausted = true;
            return Ok((false, meter.finish()));
        }
    }
    Ok((true, meter.finish()))
}

/// A metric query's sink: every hit counts.
struct Feeder<'p>(&'p mut dyn FnMut(&Labels, u64, usize));

impl Sink for Feeder<'_> {
    fn give(&mut self, hit: Hit) {
        (self.0)(&hit.labels, hit.key.ts, hit.line.len());
    }
    fn bar(&self) -> Option<&Key> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::Selector;
    use crate::model::stream::{self, Entry, encode, keys, register};
    use crate::store::Store;

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

    /// Two streams of 140 appends (one filtered segment each, ~6 KB, so
    /// sealed pages and a tail); a line in every 9th append holds
    /// `needle-42`.
    fn filtered(store: &Rc<Store>) -> (Vec<u64>, u64) {
        let mut needles = Vec::new();
        for (p, pod) in ["a", "b"].into_iter().enumerate() {
            for batch in 0..140u64 {
                let lines: Vec<(u64, String)> = (0..60u64)
                    .map(|i| {
                        let ts = (batch * 60 + i) * 1_000_000_000 + p as u64;
                        let rare = (batch + p as u64).is_multiple_of(9) && i == 30;
                        let line = format!(
                            "level=info ts={ts} path=/api/cart status=200 trace={:016x}{}",
                            ts.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                            if rare { " needle-42" } else { "" }
                        );
                        if rare {
                            needles.push(ts);
                        }
                        (ts, line)
                    })
                    .collect();
                let entries: Vec<(u64, &str)> =
                    lines.iter().map(|(t, l)| (*t, l.as_str())).collect();
                push(store, pod, &entries);
            }
        }
        needles.sort();
        (needles, 280)
    }

    fn containing(dir: Direction, limit: usize, needle: &str, resume: Option<Resume>) -> Plan {
        let filters = [(crate::logql::LineOp::Contains, needle.to_owned())];
        Plan {
            pipeline: Pipeline::from_filters(&filters, false).unwrap(),
            ..plan(dir, limit, resume)
        }
    }

    #[test]
    fn segments_whose_filter_rules_out_the_literal_are_not_read() {
        let store = Rc::new(Store::memory());
        let (needles, segments) = filtered(&store);
        let streams = everything(&store);
        let absent = search(
            &streams,
            &containing(Direction::Forward, 100, "absent-zq", None),
        );
        let stats = absent.unwrap().stats;
        assert_eq!(stats.segments_skipped, segments, "{stats:?}");
        assert_eq!((stats.bytes_scanned, stats.entries_scanned), (0, 0));
        let rare = search(
            &streams,
            &containing(Direction::Forward, 100, "needle-42", None),
        );
        let page = rare.unwrap();
        let found: Vec<u64> = page.hits.iter().map(|h| h.key.ts).collect();
        assert_eq!(found, needles);
        let read = segments - page.stats.segments_skipped;
        let holding = needles.len() as u64;
        assert!(
            read <= holding + 3,
            "{read} of {segments} read for {holding} hits"
        );
        let everything = search(&streams, &plan(Direction::Forward, 10, None)).unwrap();
        assert_eq!(everything.stats.segments_skipped, 0, "no literal, no probe");
    }

    /// Skipped segments page, resume and run out of budget as segments
    /// without hits do: every needle once, in order, both ways.
    #[test]
    fn skipping_keeps_pages_and_budgets_exact() {
        let store = Rc::new(Store::memory());
        let (needles, _) = filtered(&store);
        let streams = everything(&store);
        for dir in [Direction::Forward, Direction::Backward] {
            for budget in [Duration::from_secs(60), Duration::ZERO] {
                let (mut seen, mut resume, mut calls) = (Vec::new(), None, 0);
                loop {
                    let mut p = containing(dir, 2, "needle-42", resume);
                    p.budget = budget;
                    let page = search(&streams, &p).unwrap();
                    seen.extend(page.hits.iter().map(|h| h.key.ts));
                    calls += 1;
                    assert!(calls < 10_000, "progress");
                    if !page.has_more {
                        break;
                    }
                    resume = page.resume;
                }
                let mut expected = needles.clone();
                if dir == Direction::Backward {
                    expected.reverse();
                }
                assert_eq!(seen, expected, "{dir:?} {budget:?}");
            }
        }
    }

    /// A compressed segment is inflated a part at a time by a forward
    /// scan: a page that ends a few lines in inflates a few KiB, and paging
    /// across the parts' cuts gives every line once, in order.
    #[test]
    fn a_forward_scan_inflates_only_what_it_reads() {
        let store = Rc::new(Store::memory());
        let lines: Vec<String> = (0..3000)
            .map(|i| format!("level=info i={i:04} path=/api/{} status=200", i % 7))
            .collect();
        let entries: Vec<(u64, &str)> = (0..3000u64)
            .map(|i| (1_000 + i, lines[i as usize].as_str()))
            .collect();
        push(&store, "a", &entries);
        let streams = everything(&store);
        let first = search(
            &streams,
            &containing(Direction::Forward, 10, "/api/3", None),
        )
        .unwrap();
        let want: Vec<&str> = lines
            .iter()
            .filter(|l| l.contains("/api/3"))
            .map(String::as_str)
            .collect();
        let got: Vec<&str> = first.hits.iter().map(|h| h.line.as_str()).collect();
        assert_eq!(got, want[..10]);
        // The segment holds ~138 KB as stored; a whole inflate scanned all.
        assert!(
            first.stats.bytes_scanned < 20_000,
            "{} bytes scanned for 10 hits",
            first.stats.bytes_scanned
        );
        for dir in [Direction::Forward, Direction::Backward] {
            let (mut seen, mut resume) = (Vec::new(), None);
            loop {
                let page = search(&streams, &containing(dir, 97, "/api/3", resume)).unwrap();
                seen.extend(page.hits.iter().map(|h| h.line.clone()));
                if !page.has_more {
                    break;
                }
                resume = page.resume;
            }
            let mut expected: Vec<String> = want.iter().map(|l| l.to_string()).collect();
            if dir == Direction::Backward {
                expected.reverse();
            }
            assert_eq!(seen, expected, "{dir:?}");
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
}
