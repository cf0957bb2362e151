//! One stream scanned over one window of time.
//!
//! A scan reads the stream's stored bytes for the window in chunks of whole
//! lines, one segment each, in the search's direction. In each chunk it
//! finds the candidate lines ([`Literals`]: with a required literal, only
//! the lines holding it, found with `memmem` before anything is decoded),
//! reads each candidate's time, skips what is outside the window or already
//! answered, decodes the rest and gives each entry that passes the plan's
//! filters to a sink. A segment whose trigram filter shows it cannot hold
//! the required literals is not read at all (`store::log::filter`): it
//! counts as a chunk without candidates, so skipping changes no answer.
//!
//! A stream's entries may have arrived late (`store::log`'s contract), so
//! stored order is time order only within a segment. A scan therefore skips
//! the rest of a *segment* once its lines pass the window's end or the
//! sink's bar (the worst hit a full page keeps), and stops the *stream* only
//! where the index says no later segment can come before the bar (the least
//! key still ahead, forward; the greatest behind, backward), or when the
//! budget is spent.

use super::budget::Meter;
use super::{Direction, Hit, Key, Plan, Selected, detect_level};
use crate::model::stream;
use crate::store::error::StoreResult;
use crate::store::log::filter::{Odds, Probe};
use crate::store::log::{Body, Piece};
use memchr::memmem::Finder;
use std::borrow::Cow;
use std::rc::Rc;

/// A span of time walked at once: inclusive bounds, ns.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    pub from: u64,
    pub to: u64,
}

impl Window {
    /// How many ns it spans (an empty window, `from > to`, counts as one).
    pub fn width(self) -> u64 {
        self.to.saturating_sub(self.from) + 1
    }

    /// Whether `s` may have entries in it.
    pub fn touches(self, s: &Selected) -> bool {
        s.meta.first <= self.to && s.last() >= self.from
    }

    /// Its first instant in `dir` order.
    pub fn first(self, dir: Direction) -> u64 {
        match dir {
            Direction::Forward => self.from,
            Direction::Backward => self.to,
        }
    }

    /// Its last instant in `dir` order.
    pub fn last(self, dir: Direction) -> u64 {
        match dir {
            Direction::Forward => self.to,
            Direction::Backward => self.from,
        }
    }

    fn holds(self, ts: u64) -> bool {
        self.from <= ts && ts <= self.to
    }
}

/// Where a scan's hits go.
pub(super) trait Sink {
    fn give(&mut self, hit: Hit);
    /// The key a hit must come before, in the scan's direction, to be kept
    /// (`None` while any hit is): lines that do not are not worth decoding.
    fn bar(&self) -> Option<&Key>;
}

/// How a scan ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scanned {
    /// Nothing further in the window could add a hit.
    Finished,
    /// The budget was spent first: the sink has what came before, and the
    /// rest of the window is unseen.
    OutOfTime,
}

/// One stream, one window, one direction.
pub(super) struct Scan<'a> {
    pub stream: &'a Selected,
    pub window: Window,
    pub direction: Direction,
    /// The last key a previous page gave: only keys after it, in
    /// `direction`, are hits.
    pub after: Option<&'a Key>,
    /// The filters: levels and the pipeline (its direction is not read).
    pub plan: &'a Plan,
}

impl Scan<'_> {
    /// Gives `sink` every entry of the stream in the window that comes
    /// after `after`, passes the plan's filters and beats the sink's bar, in
    /// stored order, until nothing further can, or the budget in `meter` is
    /// spent ([`Scanned::OutOfTime`]).
    pub fn run(&self, meter: &mut Meter, sink: &mut dyn Sink) -> StoreResult<Scanned> {
        let (start, end) = self.stream.range(self.window.from, self.window.to)?;
        if start >= end {
            return Ok(Scanned::Finished);
        }
        let literals = Literals::new(self.plan, self.stream.plain, &meter.odds);
        let probe = literals.probe.clone();
        let mut lines = Lines {
            scan: self,
            literals,
            meter,
            sink,
        };
        let snap = self.stream.snap.clone();
        let backward = self.direction == Direction::Backward;
        for piece in snap.pieces(start, end, backward, probe) {
            let mut piece = piece?;
            if self.shut_out(lines.sink.bar(), piece.at, piece.at + piece.len)? {
                break;
            }
            let step = match piece.bytes.take() {
                Some(body) => lines.body(&piece, body)?,
                None => lines.skipped(&piece),
            };
            if let Step::OutOfTime = step {
                return Ok(Scanned::OutOfTime);
            }
        }
        Ok(Scanned::Finished)
    }

    /// Whether nothing from the chunk at `base..end` on (in `direction`)
    /// can beat `bar`: by the index, every key still ahead comes after it.
    fn shut_out(&self, bar: Option<&Key>, base: u64, end: u64) -> StoreResult<bool> {
        let Some(bar) = bar else {
            return Ok(false);
        };
        let snap = &self.stream.snap;
        Ok(match self.direction {
            Direction::Forward => snap.least_from(base)?.is_some_and(|k| k > bar.ts),
            Direction::Backward => snap.greatest_before(end)?.is_some_and(|k| k < bar.ts),
        })
    }

    /// The entry stored as `text` at `key` as a hit, if it passes the
    /// plan's levels and then its pipeline.
    fn hit(&self, key: Key, text: &[u8], time: u64) -> StoreResult<Option<Hit>> {
        let sel = self.stream;
        let entry = sel.entry(text, time)?;
        let level = detect_level(&sel.labels, &entry.metadata, &entry.line);
        let levels = &self.plan.levels;
        if !levels.is_empty() && !levels.iter().any(|l| l == level) {
            return Ok(None);
        }
        let pipeline = &self.plan.pipeline;
        let processed = pipeline.process_entry(&sel.labels, &entry.metadata, entry.ts, &entry.line);
        let Some((labels, line)) = processed else {
            return Ok(None);
        };
        let labels = match labels {
            Cow::Borrowed(_) => sel.labels.clone(),
            Cow::Owned(l) => Rc::new(l),
        };
        Ok(Some(Hit {
            end: key.offset + text.len() as u64 + 1,
            key,
            labels,
            stream_labels: sel.labels.clone(),
            line: line.into_owned(),
            metadata: entry.metadata,
            level,
            before: Vec::new(),
            after: Vec::new(),
        }))
    }
}

/// What a chunk says: go on, the rest of its segment cannot add a hit, or
/// the budget is spent.
enum Step {
    More,
    SegmentDone,
    OutOfTime,
}

/// The first part of a compressed piece a forward scan inflates; each next
/// part is four times larger, so a scan that reads a segment to its end
/// makes a handful of calls, and one that stops a few lines in inflates a
/// few KiB.
const FIRST_PART: usize = 4096;

/// What a line says: go on, or the rest of its segment cannot add a hit
/// (its lines are in key order).
enum Next {
    Line,
    Segment,
}

/// The plan's required literals (`|= "text"` before any `line_format`) as
/// the stored bytes spell them: a stream's entries are stored escaped, a
/// task file's lines as they are. The first picks the candidate lines; a
/// candidate must hold the others too before it is decoded. Together they
/// are the probe that lets a segment's filter rule it out unread (they are
/// case-sensitive, as the filters are: a case-insensitive `|~` or
/// `contains` requires no literal, and then every segment is read).
struct Literals {
    finders: Vec<Finder<'static>>,
    probe: Option<Rc<Probe>>,
}

impl Literals {
    /// `odds`: the search's, which every scan's probe learns into.
    fn new(plan: &Plan, plain: bool, odds: &Rc<Odds>) -> Self {
        let needles: Vec<Vec<u8>> = plan
            .pipeline
            .required_literals()
            .iter()
            .map(|l| match plain {
                true => l.as_bytes().to_vec(),
                false => stream::escape(l),
            })
            .collect();
        Literals {
            finders: needles
                .iter()
                .map(|n| Finder::new(n).into_owned())
                .collect(),
            probe: Probe::new(needles.iter().map(Vec::as_slice), odds.clone()).map(Rc::new),
        }
    }

    /// Whether lines are skipped unseen: then they are counted apart.
    fn narrows(&self) -> bool {
        !self.finders.is_empty()
    }

    /// The lines of `chunk` that may match, in stored order, as spans
    /// without their newline: every line, or with a literal only those that
    /// hold it (each line once, however often it holds it).
    fn candidates(&self, chunk: &[u8]) -> Vec<(usize, usize)> {
        let Some(first) = self.finders.first() else {
            return every_line(chunk);
        };
        let mut spans = Vec::new();
        let mut done_to = 0;
        for i in first.find_iter(chunk) {
            if i < done_to {
                continue;
            }
            let s = memchr::memrchr(b'\n', &chunk[..i]).map_or(0, |p| p + 1);
            let e = memchr::memchr(b'\n', &chunk[i..]).map_or(chunk.len(), |p| i + p);
            spans.push((s, e));
            done_to = e + 1;
        }
        spans
    }

    /// Whether `line` holds every literal after the first.
    fn rest_in(&self, line: &[u8]) -> bool {
        self.finders.iter().skip(1).all(|f| f.find(line).is_some())
    }
}

/// Every newline-ended line of `chunk`, as a span without its newline.
fn every_line(chunk: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut s = 0;
    for e in memchr::memchr_iter(b'\n', chunk) {
        spans.push((s, e));
        s = e + 1;
    }
    spans
}

/// A scan under way: its literals, and what it counts and gives to.
struct Lines<'s, 'a> {
    scan: &'s Scan<'a>,
    literals: Literals,
    meter: &'s mut Meter,
    sink: &'s mut dyn Sink,
}

impl Lines<'_, '_> {
    /// One chunk starting at `base`, committed at `time`: counted, then its
    /// candidate lines tried in `direction` order, the clock looked at
    /// after each.
    fn chunk(&mut self, base: u64, chunk: &[u8], time: u64) -> StoreResult<Step> {
        let lines = self.count(chunk);
        let width = self.scan.window.width();
        let mut spans = self.literals.candidates(chunk);
        // A rare literal skips most lines unseen: count them too.
        let unseen = lines.saturating_sub(spans.len() as u64);
        if self.literals.narrows() && self.meter.budget.spent(unseen, width) {
            return Ok(Step::OutOfTime);
        }
        if self.scan.direction == Direction::Backward {
            spans.reverse();
        }
        for (s, e) in spans {
            let next = self.line(&chunk[s..e], base + s as u64, time)?;
            if self.meter.budget.spent(1, width) {
                return Ok(Step::OutOfTime);
            }
            if let Next::Segment = next {
                return Ok(Step::SegmentDone);
            }
        }
        Ok(Step::More)
    }

    /// A piece's lines. One that inflates as it is read goes a part at a
    /// time (each cut after its last newline, the last one at the piece's
    /// end, so the parts' lines are the piece's), and stops inflating once
    /// a part ends the segment or the budget.
    fn body(&mut self, piece: &Piece, mut body: Body) -> StoreResult<Step> {
        if !body.is_lazy() {
            return self.chunk(piece.at, body.prefix(usize::MAX)?, piece.time);
        }
        let (mut done, mut want) = (0, FIRST_PART);
        loop {
            let bytes = body.prefix(want)?;
            let whole = bytes.len() as u64 >= piece.len;
            let cut = match whole {
                true => Some(bytes.len()),
                false => memchr::memrchr(b'\n', &bytes[done..]).map(|p| done + p + 1),
            };
            if let Some(cut) = cut {
                let step = self.chunk(piece.at + done as u64, &bytes[done..cut], piece.time)?;
                if whole || !matches!(step, Step::More) {
                    return Ok(step);
                }
                done = cut;
            }
            want = want.saturating_mul(4);
        }
    }

    /// A piece its segment's filter ruled out: no line of it can match,
    /// so it goes as a chunk without candidates goes, unread (its
    /// segment's lines counted for the clock, not as scanned).
    fn skipped(&mut self, piece: &Piece) -> Step {
        self.meter.stats.segments_skipped += 1;
        match self
            .meter
            .budget
            .spent(piece.newlines, self.scan.window.width())
        {
            true => Step::OutOfTime,
            false => Step::More,
        }
    }

    /// Adds `chunk` to the bytes and entries scanned; its lines.
    fn count(&mut self, chunk: &[u8]) -> u64 {
        let stats = &mut self.meter.stats;
        stats.bytes_scanned += chunk.len() as u64;
        let lines = memchr::memchr_iter(b'\n', chunk).count() as u64;
        stats.entries_scanned += lines;
        lines
    }

    /// One candidate line, stored at `offset`: [`Next::Segment`] once it
    /// is past the window's end or the sink's bar, which the rest of its
    /// segment is too.
    fn line(&mut self, text: &[u8], offset: u64, time: u64) -> StoreResult<Next> {
        let (scan, dir) = (self.scan, self.scan.direction);
        let ts = scan.stream.ts_of(text, time)?;
        if !scan.window.holds(ts) {
            let past = dir.ahead(&ts, &scan.window.last(dir));
            return Ok(if past { Next::Segment } else { Next::Line });
        }
        let key = Key {
            ts,
            stream: scan.stream.id.clone(),
            offset,
        };
        if self.sink.bar().is_some_and(|bar| !dir.ahead(bar, &key)) {
            return Ok(Next::Segment);
        }
        let answered = scan.after.is_some_and(|a| !dir.ahead(&key, a));
        if answered || !self.literals.rest_in(text) {
            return Ok(Next::Line);
        }
        if let Some(hit) = scan.hit(key, text, time)? {
            self.meter.stats.matched += 1;
            self.sink.give(hit);
        }
        Ok(Next::Line)
    }
}
