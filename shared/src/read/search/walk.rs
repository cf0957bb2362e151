//! A search's walk over its range: window after window, every stream that
//! may add to the page scanned in each, the best hits kept, and where the
//! next call resumes.
//!
//! Contracts, which the cursor's exactness rests on:
//! - windows are walked in the plan's direction, each twice as wide as the
//!   one before (the first as wide as the cursor says, or the whole range);
//! - a window's scan of a stream visits every entry of the window (wherever
//!   late arrival stored it) that could beat the worst hit kept;
//! - a window counts only once every stream in it is scanned: a search the
//!   budget stops answers only hits from windows it finished, which precede
//!   everything unseen;
//! - the walk stops at the first finished window that fills the page.

use super::budget::{MIN_WINDOW, Meter};
use super::scan::{Scan, Scanned, Sink, Window};
use super::{Direction, Hit, Key, Plan, Resume, Selected};
use crate::store::error::StoreResult;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// The part of the range not yet walked, and how wide the next window is.
struct Walk {
    lo: u64,
    hi: u64,
    width: u64,
    dir: Direction,
}

impl Walk {
    /// The plan's range, less what its cursor says was answered; the next
    /// window as wide as the cursor says, or the whole range.
    fn start(plan: &Plan) -> Walk {
        let (mut lo, mut hi) = (plan.from, plan.to);
        if let Some(r) = &plan.resume {
            match plan.direction {
                Direction::Forward => lo = lo.max(r.key.ts),
                Direction::Backward => hi = hi.min(r.key.ts),
            }
        }
        let width = plan.resume.as_ref().map_or(u64::MAX, |r| r.window).max(1);
        Walk {
            lo,
            hi,
            width,
            dir: plan.direction,
        }
    }

    /// The next window, at the walked end of what is left; `None` once
    /// nothing is.
    fn next(&self) -> Option<Window> {
        if self.lo > self.hi {
            return None;
        }
        let span = self.width - 1;
        Some(match self.dir {
            Direction::Forward => Window {
                from: self.lo,
                to: self.lo.saturating_add(span).min(self.hi),
            },
            Direction::Backward => Window {
                from: self.hi.saturating_sub(span).max(self.lo),
                to: self.hi,
            },
        })
    }

    /// Moves past `done`, the window just finished, and doubles the width;
    /// false when `done` reached the end of the range.
    fn advance(&mut self, done: Window) -> bool {
        match self.dir {
            Direction::Forward if done.to >= self.hi => return false,
            Direction::Backward if done.from <= self.lo => return false,
            Direction::Forward => self.lo = done.to + 1,
            Direction::Backward => self.hi = done.from - 1,
        }
        self.width = done.width().saturating_mul(2);
        true
    }
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
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.1.order(&self.0.key, &other.0.key)
    }
}

/// The best `limit + 1` hits so far: a page, and one more to know there is
/// more.
struct Kept {
    heap: BinaryHeap<Ranked>,
    limit: usize,
    dir: Direction,
}

impl Sink for Kept {
    fn give(&mut self, hit: Hit) {
        self.heap.push(Ranked(hit, self.dir));
        if self.heap.len() > self.limit + 1 {
            self.heap.pop();
        }
    }

    /// The worst hit kept, once the page and one more are.
    fn bar(&self) -> Option<&Key> {
        self.heap.peek().filter(|_| self.full()).map(|r| &r.0.key)
    }
}

impl Kept {
    /// Whether a page is kept, and one more.
    fn full(&self) -> bool {
        self.heap.len() > self.limit
    }

    /// Whether `s` cannot add to a full page in `window`: even its first
    /// possible entry there comes after the worst hit kept.
    fn shuts_out(&self, s: &Selected, window: Window) -> bool {
        let Some(worst) = self.heap.peek().filter(|_| self.full()) else {
            return false;
        };
        let reach = match self.dir {
            Direction::Forward => window.from.max(s.meta.first),
            Direction::Backward => window.to.min(s.last()),
        };
        self.dir.ahead(&reach, &worst.0.key.ts)
    }

    /// The hits, in the walk's order.
    fn into_hits(self) -> Vec<Hit> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|r| r.0)
            .collect()
    }
}

/// How a walk ended.
enum Outcome {
    /// The whole range was walked.
    Exhausted,
    /// A finished window, `width` wide, filled the page.
    Full { width: u64 },
    /// The budget ran out in `window`.
    Interrupted { window: Window },
}

/// One call of [`super::search`]: what it reads, which does not change
/// while it walks.
pub(super) struct Searcher<'a> {
    plan: &'a Plan,
    /// The streams with entries in the range, in walk order.
    order: Vec<&'a Selected>,
    /// The key the call resumes after.
    after: Option<Key>,
    limit: usize,
}

/// What a walk gathers: the hits it keeps, its clock and counts.
struct State {
    kept: Kept,
    meter: Meter,
}

/// A page of a search before its context lines are read.
pub(super) struct Walked {
    pub hits: Vec<Hit>,
    pub has_more: bool,
    pub resume: Option<Resume>,
    pub meter: Meter,
}

impl<'a> Searcher<'a> {
    /// Newest-first for a backward search, oldest-first forward: the streams
    /// most likely to fill the page come first and the rest are then skipped.
    pub fn new(streams: &'a [Selected], plan: &'a Plan) -> Self {
        let range = Window {
            from: plan.from,
            to: plan.to,
        };
        let mut order: Vec<&Selected> = streams.iter().filter(|s| range.touches(s)).collect();
        match plan.direction {
            Direction::Forward => crate::util::sort::sort_by(&mut order, |a, b| {
                (a.meta.first, &a.id).cmp(&(b.meta.first, &b.id))
            }),
            Direction::Backward => crate::util::sort::sort_by(&mut order, |a, b| {
                (b.last(), &a.id).cmp(&(a.last(), &b.id))
            }),
        }
        Searcher {
            plan,
            order,
            after: plan.resume.as_ref().map(|r| r.key.clone()),
            limit: plan.limit.max(1),
        }
    }

    /// Walks the range until the page is full, the range ends or the budget
    /// in `meter` (started with the search) does.
    pub fn walk(&self, meter: Meter) -> StoreResult<Walked> {
        let mut state = State {
            kept: Kept {
                heap: BinaryHeap::new(),
                limit: self.limit,
                dir: self.plan.direction,
            },
            meter,
        };
        let outcome = self.windows(&mut state)?;
        Ok(self.finish(outcome, state))
    }

    fn windows(&self, state: &mut State) -> StoreResult<Outcome> {
        let mut walk = Walk::start(self.plan);
        while let Some(window) = walk.next() {
            if self.window(window, state)? == Scanned::OutOfTime {
                return Ok(Outcome::Interrupted { window });
            }
            if state.kept.full() {
                return Ok(Outcome::Full {
                    width: window.width(),
                });
            }
            if !walk.advance(window) {
                break;
            }
        }
        Ok(Outcome::Exhausted)
    }

    /// Scans every stream that may add to the page in `window`; once the
    /// page is full, a stream's scan skips what cannot beat its worst hit.
    fn window(&self, window: Window, state: &mut State) -> StoreResult<Scanned> {
        for s in &self.order {
            if !window.touches(s) || state.kept.shuts_out(s, window) {
                continue;
            }
            let scan = Scan {
                stream: s,
                window,
                direction: self.plan.direction,
                after: self.after.as_ref(),
                plan: self.plan,
            };
            if scan.run(&mut state.meter, &mut state.kept)? == Scanned::OutOfTime {
                return Ok(Scanned::OutOfTime);
            }
        }
        Ok(Scanned::Finished)
    }

    /// The page `outcome` leaves: at most `limit` hits, whether there is
    /// more, and where the next call resumes.
    fn finish(&self, outcome: Outcome, mut state: State) -> Walked {
        let dir = self.plan.direction;
        let mut hits = state.kept.into_hits();
        let (has_more, resume) = match outcome {
            Outcome::Exhausted => (false, None),
            Outcome::Full { width } => {
                hits.truncate(self.limit);
                let key = hits.last().map(|h| h.key.clone());
                (true, key.map(|key| Resume { key, window: width }))
            }
            Outcome::Interrupted { window } => {
                state.meter.stats.budget_exhausted = true;
                // Only what finished windows found: it precedes all that is unseen.
                hits.retain(|h| dir.ahead(&window.first(dir), &h.key.ts));
                hits.truncate(self.limit);
                (true, Some(self.resume_before(window)))
            }
        };
        Walked {
            hits,
            has_more,
            resume,
            meter: state.meter,
        }
    }

    /// Where to resume after the budget ran out in `window`: just before it,
    /// in narrower windows.
    fn resume_before(&self, window: Window) -> Resume {
        let dir = self.plan.direction;
        let key = match dir {
            Direction::Forward => Key {
                ts: window.from,
                stream: String::new(),
                offset: 0,
            },
            Direction::Backward => Key {
                ts: window.to,
                stream: "~".into(),
                offset: u64::MAX,
            },
        };
        // Never behind the cursor this call started from (whose entry the
        // previous page already gave).
        let key = match &self.after {
            Some(a) if dir.ahead(a, &key) => a.clone(),
            _ => key,
        };
        let window = (window.width() / 4).max(MIN_WINDOW);
        Resume { key, window }
    }
}

/// The lines around each hit in its own stream, oldest first, as `grep -C`
/// shows them (whatever the filters).
pub(super) fn add_context(
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
