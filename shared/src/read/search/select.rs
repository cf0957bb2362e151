//! The streams a selector matches, from the postings, each with the one
//! snapshot of it the whole search reads.

use crate::logql::{Labels, MatchOp, Matcher, Selector};
use crate::model::stream::{self, StreamMeta};
use crate::store::Store;
use crate::store::error::{StoreError, StoreResult};
use crate::store::log::Snapshot;
use std::rc::Rc;

/// A selected stream, with the view of it the whole search reads.
pub struct Selected {
    /// The stream's id, as in its log's key and in [`super::Key::stream`].
    pub id: String,
    /// The stream's metadata, but `first` is the least timestamp its
    /// snapshot holds (late entries and retention included), so a bound
    /// every reader can trust.
    pub meta: StreamMeta,
    /// The stream's labels, shared by every hit from it.
    pub labels: Rc<Labels>,
    /// The stream's log as of the selection: entries appended later are not
    /// searched.
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

    /// The timestamp (ns) of one stored line committed at `time` (µs),
    /// without decoding it: a task file's line is timed by its commit, an
    /// entry by the key it is stored with.
    pub(super) fn ts_of(&self, text: &[u8], time: u64) -> StoreResult<u64> {
        match self.plain {
            true => Ok(time.saturating_mul(1000)),
            false => stream::key_of(text)
                .ok_or_else(|| StoreError::internal("stream entry without a time")),
        }
    }

    /// Where entries with `ts >= from` may begin: a line boundary.
    pub fn start_of(&self, from: u64) -> StoreResult<u64> {
        Ok(self.range(from, u64::MAX)?.0)
    }

    /// `from..=to` as a byte range of line boundaries (a task file's
    /// segments may begin inside a line longer than a segment).
    pub(super) fn range(&self, from: u64, to: u64) -> StoreResult<(u64, u64)> {
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
fn positive(m: &Matcher) -> bool {
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
        let set = postings(store, m)?;
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
        if let Some(s) = selected(store, selector, id)? {
            out.push(s);
        }
    }
    Ok(out)
}

/// The ids of the streams a positive matcher names, sorted and unique.
fn postings(store: &Rc<Store>, m: &Matcher) -> StoreResult<Vec<String>> {
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
    crate::util::sort::sort(&mut set);
    set.dedup();
    Ok(set)
}

/// Stream `id`, if `selector` matches its labels and it has entries.
fn selected(store: &Rc<Store>, selector: &Selector, id: String) -> StoreResult<Option<Selected>> {
    let Some(meta) = stream::meta(store, &id)? else {
        return Ok(None);
    };
    if !selector.matches(&meta.labels) {
        return Ok(None);
    }
    let Some(snap) = meta.log(store.clone(), &id).snapshot()? else {
        return Ok(None); // registered, nothing committed yet
    };
    // The first time the stream holds, from its index: below the first push
    // when entries came late, above it once retention expired pages.
    let mut meta = meta;
    meta.first = snap.least_key().unwrap_or(meta.first);
    Ok(Some(Selected {
        labels: Rc::new(meta.labels.clone()),
        plain: meta.file_log.is_some(),
        id,
        meta,
        snap: Rc::new(snap),
    }))
}
