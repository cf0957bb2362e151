//! The time a search may take, and what it counts while it takes it.

use super::Stats;
use crate::store::log::filter::Odds;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Windows this narrow (ns) always finish: the floor that guarantees every
/// call progress. A second of one selector's logs is small next to a budget
/// (and holds any pile of equal timestamps a shipper sends).
pub(super) const MIN_WINDOW: u64 = 1_000_000_000;
/// Lines between looks at the clock.
const CLOCK_EVERY: u64 = 1024;

/// The clock of one search.
pub(super) struct Budget {
    started: Instant,
    budget: Duration,
    lines: u64,
    next_look: u64,
}

impl Budget {
    fn new(budget: Duration) -> Self {
        Self {
            started: Instant::now(),
            budget,
            lines: 0,
            next_look: CLOCK_EVERY,
        }
    }

    /// Counts `lines` scanned in a window `width` ns wide; true once the
    /// budget is spent (the clock is read every [`CLOCK_EVERY`] lines, and a
    /// window of [`MIN_WINDOW`] or less always finishes, so every call makes
    /// progress).
    pub fn spent(&mut self, lines: u64, width: u64) -> bool {
        self.lines += lines;
        if self.lines < self.next_look || width <= MIN_WINDOW {
            return false;
        }
        self.next_look = self.lines + CLOCK_EVERY;
        self.started.elapsed() >= self.budget
    }

    fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

/// What every scan of one search adds to: its clock, its counts, and
/// what its segment filters have been worth (`store::log::filter::Odds`).
pub(super) struct Meter {
    pub budget: Budget,
    pub stats: Stats,
    pub odds: Rc<Odds>,
}

impl Meter {
    /// A search of `streams` streams that may take `budget`, starting now.
    pub fn new(budget: Duration, streams: usize) -> Self {
        Meter {
            budget: Budget::new(budget),
            stats: Stats {
                streams,
                ..Stats::default()
            },
            odds: Rc::default(),
        }
    }

    /// The counts, with the time taken until now.
    pub fn finish(self) -> Stats {
        Stats {
            elapsed_ms: self.budget.elapsed_ms(),
            ..self.stats
        }
    }
}
