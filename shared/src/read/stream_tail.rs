//! Live tail of a LogQL selector: the streams it selects, followed by the
//! follow engine ([`super::follow`]) across invocation limits.
//!
//! Exactness comes from the cursor, not from time: it holds the tail's start
//! time and, for every stream that has given lines, the offset after the
//! last line read, so a reconnect (`Last-Event-ID`) goes on exactly where the
//! previous invocation stopped, whatever order the streams' clocks and
//! shippers deliver in. Each poll's entries go out as **one** SSE event
//! (an NDJSON line per entry in its `data:` lines), whose id is the cursor
//! after all of them: an event is dispatched whole or not at all, so a cut
//! connection never leaves half a batch acknowledged. A stream that appears
//! later (a new pod) is read from the tail's start time.
//!
//! Entries that arrive late (within Loki's window, see `store::log`) are
//! stored after newer ones, so a tail gives each entry once, when it
//! arrives: events follow arrival, each sorted by time, stream and offset
//! inside, and a late entry from before the tail's start is not shown.

use super::follow::{CHUNK, Feed};
use super::format::{from_opaque, opaque, rfc3339_ns, sse_event};
use super::search::{self, Selected, detect_level};
use crate::logql::{Pipeline, Selector};
use crate::store::Store;
use crate::web::problem::Problem;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Most streams one tail follows: each poll reads every one's head.
pub const MAX_STREAMS: usize = 100;
/// How often the selection is made again, to pick up new streams.
const RESELECT: Duration = Duration::from_secs(5);

/// Where a tail is: its start time and, per stream, the offset read up to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TailCursor {
    /// When the tail began, ns since the epoch: entries before it are not
    /// shown, and a stream not yet read is read from here.
    pub t0: u64,
    /// Per stream id, the byte offset just after the last line read.
    pub at: BTreeMap<String, u64>,
}

impl TailCursor {
    /// The token an SSE `id:` carries (opaque base64url JSON).
    pub fn encode(&self) -> String {
        opaque(self)
    }

    /// The cursor in a token from [`TailCursor::encode`]; `None` for
    /// anything else.
    pub fn decode(text: &str) -> Option<TailCursor> {
        from_opaque(text)
    }
}

/// The [`Feed`] of a live tail: the streams a selector picks, re-selected
/// every few seconds, each poll's entries one SSE event.
pub struct SelectorFeed {
    store: Rc<Store>,
    selector: Selector,
    pipeline: Pipeline,
    levels: Vec<String>,
    cursor: TailCursor,
    streams: Vec<Selected>,
    selected_at: Option<Instant>,
}

impl SelectorFeed {
    /// A tail of `selector` through `pipeline`, from `cursor`; a 400 if the
    /// selector covers more than [`MAX_STREAMS`] streams.
    pub fn new(
        store: Rc<Store>,
        selector: Selector,
        pipeline: Pipeline,
        levels: Vec<String>,
        cursor: TailCursor,
    ) -> Result<SelectorFeed, Problem> {
        let mut feed = SelectorFeed {
            store,
            selector,
            pipeline,
            levels,
            cursor,
            streams: Vec::new(),
            selected_at: None,
        };
        feed.reselect()?;
        feed.check_cursor()?;
        Ok(feed)
    }

    /// A 400 when the cursor puts a selected stream anywhere but at a line
    /// start within it (a forged or altered cursor): read from there, the
    /// stream would fail mid-line after the 200 went out, or never be read.
    /// The selection's snapshots are enough: a log only grows.
    fn check_cursor(&self) -> Result<(), Problem> {
        for s in &self.streams {
            if let Some(&at) = self.cursor.at.get(&s.id) {
                crate::model::position::require(Some(&s.snap), at, "cursor")?;
            }
        }
        Ok(())
    }

    fn reselect(&mut self) -> Result<(), Problem> {
        let streams = search::select(&self.store, &self.selector)?;
        if streams.len() > MAX_STREAMS {
            return Err(Problem::bad_param(
                "query",
                format!(
                    "the selector covers {} streams; a live tail follows at most {MAX_STREAMS}: narrow it",
                    streams.len()
                ),
            ));
        }
        self.streams = streams;
        self.selected_at = Some(Instant::now());
        Ok(())
    }
}

impl Feed for SelectorFeed {
    fn poll(&mut self, out: &mut Vec<u8>) -> Result<(), Problem> {
        if self.selected_at.is_none_or(|t| t.elapsed() >= RESELECT) {
            self.reselect()?;
        }
        let mut entries: Vec<(u64, String, u64, serde_json::Value)> = Vec::new();
        let mut budget = CHUNK;
        for s in &mut self.streams {
            // The stream's head as of now: what arrived since the last poll.
            let Some(snap) = s.meta.log(self.store.clone(), &s.id).snapshot()? else {
                continue;
            };
            let snap = Rc::new(snap);
            s.snap = snap.clone();
            let start = match self.cursor.at.get(&s.id) {
                Some(&at) => at,
                None => s.start_of(self.cursor.t0)?,
            };
            if start >= snap.size() {
                continue;
            }
            let mut at = start;
            for line in snap.clone().lines_in(start, snap.size()) {
                let line = line?;
                at = line.end();
                let entry = s.entry(&line.text, line.time)?;
                if entry.ts < self.cursor.t0 {
                    continue;
                }
                let level = detect_level(&s.labels, &entry.metadata, &entry.line);
                if !self.levels.is_empty() && !self.levels.iter().any(|l| l == level) {
                    continue;
                }
                let processed =
                    self.pipeline
                        .process_entry(&s.labels, &entry.metadata, entry.ts, &entry.line);
                let Some((labels, text)) = processed else {
                    continue;
                };
                budget = budget.saturating_sub(text.len() + 100);
                entries.push((
                    entry.ts,
                    s.id.clone(),
                    line.offset,
                    json!({
                        "timestamp": rfc3339_ns(entry.ts),
                        "timestamp_ns": entry.ts.to_string(),
                        "labels": *labels,
                        "line": text,
                        "level": level,
                    }),
                ));
                if budget == 0 {
                    break;
                }
            }
            self.cursor.at.insert(s.id.clone(), at);
            if budget == 0 {
                break;
            }
        }
        if entries.is_empty() {
            return Ok(());
        }
        crate::util::sort::sort_by(&mut entries, |a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));
        let data: Vec<String> = entries.iter().map(|e| e.3.to_string()).collect();
        sse_event(
            out,
            Some(&self.cursor.encode()),
            Some("logs"),
            &data.join("\n"),
        );
        Ok(())
    }

    fn position(&self) -> String {
        self.cursor.encode()
    }
}
