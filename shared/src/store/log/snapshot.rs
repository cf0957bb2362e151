//! Reading: a consistent view of one log as of one head, with the index
//! lookups (byte to line, line to byte) and the line iterators every reader uses.

use super::filter::Probe;
use super::head::{PageRef, Segment};
use super::{Head, Location, Log, PAGE_SEGMENTS, codec};
use crate::store::error::StoreError;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// A segment's bytes as stored.
enum Stored {
    Raw(Vec<u8>),
    Member(Vec<u8>),
}

/// What segment `name` is when its stored bytes do not decode.
fn corrupt(name: &str) -> impl Fn(String) -> StoreError + '_ {
    move |e| StoreError::internal(format!("segment {name}: {e}"))
}

impl Log {
    /// A segment's whole bytes, wherever they are: its own blob (raw or
    /// compressed), or a member of an archive object (one ranged read and
    /// one inflate).
    pub(super) fn segment_bytes(&self, seg: &Segment) -> Result<Vec<u8>, StoreError> {
        match self.segment_stored(seg)? {
            Stored::Raw(bytes) => Ok(bytes),
            Stored::Member(member) => codec::decode(&member, seg.len).map_err(corrupt(&seg.blob)),
        }
    }

    /// A segment's bytes as its location stores them: raw, or one gzip
    /// member (its own blob, or a range of an archive object).
    fn segment_stored(&self, seg: &Segment) -> Result<Stored, StoreError> {
        Ok(match Location::of(&seg.blob) {
            Location::Hot(key) => Stored::Raw(self.stored(key, &seg.blob)?),
            Location::Compressed(key) => Stored::Member(self.stored(key, &seg.blob)?),
            Location::Packed {
                object,
                start,
                len,
                gzip,
            } => {
                let stored = self
                    .store
                    .blobs
                    .get_range(object, start, start + len)?
                    .ok_or_else(|| missing(&seg.blob))?;
                match gzip {
                    true => Stored::Member(stored),
                    false => Stored::Raw(stored),
                }
            }
        })
    }

    /// The stored bytes of blob `key`, which segment `name` needs.
    pub(super) fn stored(&self, key: &str, name: &str) -> Result<Vec<u8>, StoreError> {
        self.store.blobs.get(key)?.ok_or_else(|| missing(name))
    }

    /// The lines appended at or after `pos` (a line boundary) as of now, or
    /// `None` when there are none: what a follower polls for.
    pub fn lines_since(
        &self,
        pos: u64,
    ) -> Result<Option<impl Iterator<Item = Result<Line, StoreError>> + use<>>, StoreError> {
        let Some(snapshot) = self.snapshot()? else {
            return Ok(None);
        };
        let size = snapshot.size();
        Ok((size > pos).then(|| Rc::new(snapshot).lines_in(pos, size)))
    }

    /// [`Log::lines_since`] for a poller that keeps the head's bytes in
    /// `seen`: when they have not changed (the common case for an idle
    /// follower) the poll costs one key-value read and a comparison, no parse.
    pub fn lines_since_changed(
        &self,
        pos: u64,
        seen: &mut Vec<u8>,
    ) -> Result<Option<impl Iterator<Item = Result<Line, StoreError>> + use<>>, StoreError> {
        let Some(bytes) = self.store.meta.get(&self.head_key())? else {
            return Ok(None);
        };
        if bytes == *seen {
            return Ok(None);
        }
        let snapshot = self.snapshot_of(super::head::parse(&bytes)?);
        *seen = bytes;
        let size = snapshot.size();
        Ok((size > pos).then(|| Rc::new(snapshot).lines_in(pos, size)))
    }

    /// A consistent view for reading: the head as of now, pages loaded on demand.
    pub fn snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.head()?.map(|head| self.snapshot_of(head)))
    }

    /// The view as of `head`, nothing loaded yet.
    fn snapshot_of(&self, head: Head) -> Snapshot {
        Snapshot {
            log: self.clone(),
            head,
            pages: RefCell::new(HashMap::new()),
            last_segment: RefCell::new(None),
        }
    }
}

/// A read-only view of one log as of one head.
pub struct Snapshot {
    log: Log,
    head: Head,
    pages: RefCell<HashMap<usize, Rc<Vec<Segment>>>>,
    /// The last segment's bytes fetched: a lookup followed by a read of the
    /// same place (`cursor=END&skip=-100`) then fetches it once.
    last_segment: RefCell<Option<(String, Rc<Vec<u8>>)>>,
}

impl Snapshot {
    /// The head this view reads as of: later appends are not in it.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Bytes ever appended as of this head, expired ones included: the
    /// offset the next append starts at.
    pub fn size(&self) -> u64 {
        self.head.size
    }

    /// Lines ever appended as of this head, expired ones included: the
    /// number of the next line.
    pub fn lines(&self) -> u64 {
        self.head.lines
    }

    fn sealed(&self) -> u64 {
        (self.head.pages.len() * PAGE_SEGMENTS) as u64
    }

    fn page(&self, n: usize) -> Result<Rc<Vec<Segment>>, StoreError> {
        if let Some(p) = self.pages.borrow().get(&n) {
            return Ok(p.clone());
        }
        let page = Rc::new(self.log.page(n)?);
        self.pages.borrow_mut().insert(n, page.clone());
        Ok(page)
    }

    /// The first readable offset: 0, or where retention's expiry left off.
    pub fn retained(&self) -> u64 {
        self.head.retained.map_or(0, |r| r.offset)
    }

    /// Segment number `i` (0-based over the whole log).
    fn segment(&self, i: u64) -> Result<Segment, StoreError> {
        let sealed = self.sealed();
        if i >= sealed {
            return self
                .head
                .tail
                .get((i - sealed) as usize)
                .cloned()
                .ok_or_else(|| StoreError::internal(format!("segment {i} out of range")));
        }
        let page = self.page(i as usize / PAGE_SEGMENTS)?;
        page.get(i as usize % PAGE_SEGMENTS)
            .cloned()
            .ok_or_else(|| StoreError::internal(format!("segment {i} missing from its page")))
    }

    /// The last segment for which `before(segment)` holds, given that it holds
    /// for a prefix of the log. Binary search over pages, then inside one.
    fn last_segment_where(
        &self,
        page_before: impl Fn(&PageRef) -> bool,
        before: impl Fn(&Segment) -> bool,
    ) -> Result<Option<u64>, StoreError> {
        let in_tail = self.head.tail.partition_point(&before);
        if in_tail > 0 || self.head.pages.is_empty() {
            return Ok((in_tail > 0).then(|| self.sealed() + in_tail as u64 - 1));
        }
        let p = self.head.pages.partition_point(page_before);
        if p == 0 {
            return Ok(None);
        }
        let page = self.page(p - 1)?;
        let i = page.partition_point(&before);
        Ok((i > 0).then(|| ((p - 1) * PAGE_SEGMENTS + i - 1) as u64))
    }

    /// In a keyed log, a line boundary before which every line's key is
    /// below `key` (lines after it may be below too: readers skip them).
    /// Segment keys never decrease and bound every earlier line's key, so
    /// this is a binary search: the head and at most one page, whatever
    /// the log's size.
    pub fn key_start(&self, key: u64) -> Result<u64, StoreError> {
        let below = |k: Option<u64>| k.is_some_and(|k| k < key);
        let at = match self.last_segment_where(|p| below(p.key), |s| below(s.key))? {
            Some(i) => self.segment(i)?.offset,
            None => 0,
        };
        Ok(at.max(self.retained()))
    }

    /// In a keyed log, a line boundary from which every line's key is above
    /// `key`: the end of the last segment whose smallest key is at most
    /// `key`. Late entries make smallest keys go up and down, so the head's
    /// tail and page list are searched from the end (in memory), then at
    /// most one page.
    pub fn key_end(&self, key: u64) -> Result<u64, StoreError> {
        let upto = |k: Option<u64>| k.is_some_and(|k| k <= key);
        let end = match self.last_least_where(upto)? {
            Some(seg) => seg.offset + seg.len,
            None => 0,
        };
        Ok(end.max(self.retained()))
    }

    /// The last readable segment whose smallest key passes `test`.
    fn last_least_where(
        &self,
        test: impl Fn(Option<u64>) -> bool,
    ) -> Result<Option<Segment>, StoreError> {
        if let Some(s) = self.head.tail.iter().rev().find(|s| test(s.least())) {
            return Ok(Some(s.clone()));
        }
        let live = self.head.expired_pages..self.head.pages.len();
        let Some(p) = live.rev().find(|&p| test(self.head.pages[p].least())) else {
            return Ok(None);
        };
        Ok(self
            .page(p)?
            .iter()
            .rev()
            .find(|s| test(s.least()))
            .cloned())
    }

    /// The smallest key of the readable log (`None`: no keys): the first
    /// time a keyed log holds, late entries and retention included.
    pub fn least_key(&self) -> Option<u64> {
        let pages = self.head.pages.iter().skip(self.head.expired_pages);
        let tail = self.head.tail.iter().filter_map(Segment::least);
        pages.filter_map(PageRef::least).chain(tail).min()
    }

    /// The smallest key of the lines at or after `offset`: a forward reader
    /// there knows nothing further can come before it. One page at most
    /// (the one `offset` is in, which a reader there has loaded already).
    pub fn least_from(&self, offset: u64) -> Result<Option<u64>, StoreError> {
        if offset >= self.head.size {
            return Ok(None);
        }
        let i = self.segment_at(offset)?;
        let sealed = self.sealed();
        let from_tail = i.saturating_sub(sealed) as usize;
        let mut least = self.head.tail[from_tail.min(self.head.tail.len())..]
            .iter()
            .filter_map(Segment::least)
            .min();
        if i < sealed {
            let p = i as usize / PAGE_SEGMENTS;
            let page = self.page(p)?;
            let rest = page.iter().skip(i as usize % PAGE_SEGMENTS);
            let later = self.head.pages[p + 1..].iter().filter_map(PageRef::least);
            least = rest
                .filter_map(Segment::least)
                .chain(later)
                .chain(least)
                .min();
        }
        Ok(least)
    }

    /// A key no line before `offset` (a segment boundary, or the log's end)
    /// exceeds: a backward reader there knows nothing further can come after
    /// it. Keys of a keyed log's segments bound everything before them.
    pub fn greatest_before(&self, offset: u64) -> Result<Option<u64>, StoreError> {
        if offset >= self.head.size {
            let last = self.head.tail.last().and_then(|s| s.key);
            return Ok(self.head.last_key.or(last));
        }
        let i = self.segment_at(offset)?;
        let seg = self.segment(i)?;
        if seg.offset == offset {
            return Ok(seg.key);
        }
        if i + 1 < self.head.segments {
            return Ok(self.segment(i + 1)?.key);
        }
        self.greatest_before(self.head.size)
    }

    /// Index of the segment holding byte `offset` (`offset < size`).
    fn segment_at(&self, offset: u64) -> Result<u64, StoreError> {
        self.last_segment_where(|p| p.offset <= offset, |s| s.offset <= offset)?
            .ok_or_else(|| StoreError::internal(format!("no segment holds offset {offset}")))
    }

    /// Bytes `from..to` of a segment. A segment is one blob chunk, so the
    /// whole of it costs what any part does: fetch it whole and keep it.
    fn bytes(&self, seg: &Segment, from: u64, to: u64) -> Result<Vec<u8>, StoreError> {
        let cached = match &*self.last_segment.borrow() {
            Some((key, bytes)) if *key == seg.blob => Some(bytes.clone()),
            _ => None,
        };
        let whole = match cached {
            Some(bytes) => bytes,
            None => {
                let bytes = Rc::new(self.log.segment_bytes(seg)?);
                *self.last_segment.borrow_mut() = Some((seg.blob.clone(), bytes.clone()));
                bytes
            }
        };
        let to = (to as usize).min(whole.len());
        let from = (from as usize).min(to);
        Ok(whole[from..to].to_vec())
    }

    /// Bytes `from..to` of `seg` for a streaming read, which visits each
    /// segment once: not cached, and a compressed one is inflated only as
    /// far as the reader asks ([`Body`]). A whole raw segment is handed
    /// over as fetched, without a copy (a 1 MiB copy per segment saved).
    fn stream_body(&self, seg: &Segment, from: u64, to: u64) -> Result<Body, StoreError> {
        let cached = matches!(&*self.last_segment.borrow(), Some((key, _)) if *key == seg.blob);
        if cached {
            return Ok(Body::ready(self.bytes(seg, from, to)?));
        }
        let (from, to) = (from as usize, to as usize);
        Ok(match self.log.segment_stored(seg)? {
            Stored::Raw(mut bytes) => {
                bytes.truncate(to);
                if from > 0 {
                    bytes.drain(..from.min(bytes.len()));
                }
                Body::ready(bytes)
            }
            Stored::Member(member) => Body(Kind::Inflating(Part {
                inflater: Box::new(
                    codec::Inflater::new(member, seg.len).map_err(corrupt(&seg.blob))?,
                ),
                from,
                to,
                segment: seg.blob.clone(),
            })),
        })
    }

    /// The bytes appended within `[since, until)` (microseconds; `None` is
    /// open), as `from..to`: from the first segment committed at or after
    /// `since` to the end of the last one committed before `until`. Appends
    /// carry no per-line clock, so a segment is the unit. Visits every segment
    /// (one page read per 128): meant for collection jobs, not per-request reads.
    pub fn time_range(
        &self,
        since: Option<u64>,
        until: Option<u64>,
    ) -> Result<(u64, u64), StoreError> {
        if since.is_none() && until.is_none() {
            return Ok((self.retained(), self.head.size));
        }
        let (mut from, mut to) = (None, 0);
        let retained = self.retained();
        for i in (self.head.expired_pages * PAGE_SEGMENTS) as u64..self.head.segments {
            let seg = self.segment(i)?;
            let after = since.is_none_or(|s| seg.time >= s);
            let before = until.is_none_or(|u| seg.time < u);
            if after && before && seg.offset + seg.len > retained {
                from.get_or_insert(seg.offset.max(retained));
                to = seg.offset + seg.len;
            }
        }
        Ok(from.map_or((0, 0), |f| (f, to)))
    }

    /// Byte offset where line `line` (0-based) starts; `size` for `line >= lines`.
    pub fn line_start(&self, line: u64) -> Result<u64, StoreError> {
        if let Some(r) = self.head.retained
            && line <= r.line
        {
            return Ok(r.offset);
        }
        if line == 0 {
            return Ok(0);
        }
        if line >= self.head.lines {
            return Ok(self.head.size);
        }
        // The segment holding newline number `line` (1-based) ends line `line - 1`.
        let i = self
            .last_segment_where(|p| p.line < line, |s| s.line < line)?
            .ok_or_else(|| StoreError::internal(format!("no segment holds line {line}")))?;
        let seg = self.segment(i)?;
        let bytes = self.bytes(&seg, 0, seg.len)?;
        let nth = (line - seg.line - 1) as usize;
        let at = memchr::memchr_iter(b'\n', &bytes)
            .nth(nth)
            .ok_or_else(|| StoreError::internal("line index disagrees with segment bytes"))?;
        Ok(seg.offset + at as u64 + 1)
    }

    /// A line boundary in `(start, limit]` (`start` a line boundary), where
    /// a page of a read that starts at `start` and may send up to `limit`
    /// ends; `None` when the line at `start` runs past `limit`. The start
    /// of the segment holding `limit` when the index shows it qualifies
    /// (`segment_line_boundary`), which costs no byte read and
    /// makes pages whole segments; otherwise the last line start up to
    /// `limit`, found by fetching and inflating the segment holding it.
    pub fn page_end(&self, start: u64, limit: u64) -> Result<Option<u64>, StoreError> {
        if let Some(end) = self.segment_line_boundary(start, limit)? {
            return Ok(Some(end));
        }
        let end = self.line_start(self.line_at(limit)?)?;
        Ok((end > start).then_some(end))
    }

    /// The start of the segment holding `limit`, when the index alone shows
    /// it is a line boundary after `start` (and after what retention
    /// expired). `None` when that segment starts at or before either, or
    /// when the segment before it ends inside a line; the log's size when
    /// `limit` is past it.
    ///
    /// A segment ends on a line boundary exactly when it holds a newline:
    /// appends end on one, and `append::split` cuts a segment early only
    /// where a line is longer than a whole segment, which then holds none.
    pub(super) fn segment_line_boundary(
        &self,
        start: u64,
        limit: u64,
    ) -> Result<Option<u64>, StoreError> {
        if limit >= self.head.size {
            return Ok((self.head.size > start).then_some(self.head.size));
        }
        let i = self.segment_at(limit)?;
        let seg = self.segment(i)?;
        if seg.offset <= start.max(self.retained()) || i == 0 {
            return Ok(None);
        }
        Ok((self.segment(i - 1)?.newlines > 0).then_some(seg.offset))
    }

    /// The line (0-based) that byte `offset` belongs to.
    pub fn line_at(&self, offset: u64) -> Result<u64, StoreError> {
        if offset >= self.head.size {
            return Ok(self.head.lines);
        }
        if let Some(r) = self.head.retained
            && offset <= r.offset
        {
            return Ok(r.line);
        }
        let seg = self.segment(self.segment_at(offset)?)?;
        let bytes = self.bytes(&seg, 0, offset - seg.offset)?;
        Ok(seg.line + memchr::memchr_iter(b'\n', &bytes).count() as u64)
    }

    /// Streams bytes `start..end` (clamped to the log), one segment per chunk.
    pub fn read(
        self: Rc<Self>,
        start: u64,
        end: u64,
    ) -> impl Iterator<Item = Result<Vec<u8>, StoreError>> {
        self.read_timed(start, end)
            .map(|r| r.map(|(bytes, _)| bytes))
    }

    /// Bytes `start..end` (clamped to the log) one segment per chunk, the
    /// last first, each with the offset it starts at and its segment's
    /// commit time: a newest-first scan without a line iterator's copies.
    pub fn read_back(
        self: Rc<Self>,
        start: u64,
        end: u64,
    ) -> impl Iterator<Item = Result<(u64, Vec<u8>, u64), StoreError>> {
        self.pieces(start, end, true, None).map(|p| {
            let p = p?;
            let bytes = p.bytes.map(Body::into_vec).transpose()?;
            Ok((p.at, bytes.unwrap_or_default(), p.time))
        })
    }

    /// Like [`Snapshot::read`], with each chunk's segment commit time.
    pub fn read_timed(
        self: Rc<Self>,
        start: u64,
        end: u64,
    ) -> impl Iterator<Item = Result<(Vec<u8>, u64), StoreError>> {
        self.pieces(start, end, false, None).map(|p| {
            let p = p?;
            let bytes = p.bytes.map(Body::into_vec).transpose()?;
            Ok((bytes.unwrap_or_default(), p.time))
        })
    }

    /// The parts of `start..end` (clamped to the readable log) one segment
    /// each, first to last or (`backward`) last to first. With a `probe`,
    /// a segment whose filter says it cannot hold the probe's needles is
    /// not read: its piece has no bytes (see [`super::filter`]).
    pub fn pieces(
        self: Rc<Self>,
        start: u64,
        end: u64,
        backward: bool,
        probe: Option<Rc<Probe>>,
    ) -> impl Iterator<Item = Result<Piece, StoreError>> {
        let end = end.min(self.head.size);
        let start = start.max(self.retained());
        let first = match backward {
            false => start,
            true => end.saturating_sub(1),
        };
        let mut next = (start < end).then(|| self.segment_at(first)).transpose();
        std::iter::from_fn(move || {
            let i = match std::mem::replace(&mut next, Ok(None)) {
                Ok(Some(i)) => i,
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            };
            let piece = self.segment(i).and_then(|seg| {
                let (from, to) = (start.max(seg.offset), end.min(seg.offset + seg.len));
                let skip = match &probe {
                    Some(probe) => !self.log.may_hold(&seg, probe)?,
                    None => false,
                };
                let (a, b) = (from - seg.offset, to - seg.offset);
                let bytes = match (skip, backward) {
                    (true, _) => None,
                    (false, false) => Some(self.stream_body(&seg, a, b)?),
                    (false, true) => Some(Body::ready(self.bytes(&seg, a, b)?)),
                };
                if bytes
                    .as_ref()
                    .is_some_and(|b| b.ready_len().is_some_and(|l| l as u64 != to - from))
                {
                    return Err(StoreError::internal("segment shorter than its index"));
                }
                let more = match backward {
                    false => to < end && i + 1 < self.head.segments,
                    true => seg.offset > start && i > 0,
                };
                if more {
                    next = Ok(Some(if backward { i - 1 } else { i + 1 }));
                }
                Ok(Piece {
                    at: from,
                    len: to - from,
                    time: seg.time,
                    newlines: seg.newlines,
                    bytes,
                })
            });
            Some(piece)
        })
    }
}

/// Part of one segment, from [`Snapshot::pieces`].
pub struct Piece {
    /// Byte offset in the log of its first byte.
    pub at: u64,
    /// Its size in bytes.
    pub len: u64,
    /// Its segment's commit time, µs since the epoch.
    pub time: u64,
    /// Newlines in its whole segment (a bound on its own).
    pub newlines: u64,
    /// Its bytes; `None` when the probe's filter ruled the segment out.
    pub bytes: Option<Body>,
}

/// A piece's bytes: at hand, or a compressed segment's, inflated only as
/// far as [`Body::prefix`] asks (a scan that stops a few lines in then
/// inflates a few KiB: see `codec::Inflater`).
pub struct Body(Kind);

enum Kind {
    Ready(Vec<u8>),
    Inflating(Part),
}

/// Bytes `from..to` of a compressed segment (named `segment`, for errors).
struct Part {
    inflater: Box<codec::Inflater>,
    from: usize,
    to: usize,
    segment: String,
}

impl Body {
    fn ready(bytes: Vec<u8>) -> Body {
        Body(Kind::Ready(bytes))
    }

    /// Its length if it is at hand; `None` while it may still inflate.
    fn ready_len(&self) -> Option<usize> {
        match &self.0 {
            Kind::Ready(bytes) => Some(bytes.len()),
            Kind::Inflating(_) => None,
        }
    }

    /// Whether it inflates as it is read: then [`Body::prefix`] is the way
    /// to read only what is needed.
    pub fn is_lazy(&self) -> bool {
        matches!(self.0, Kind::Inflating(_))
    }

    /// Its first bytes: at least `want` of them, fewer only when that is
    /// all of it (and never fewer than an earlier call gave).
    pub fn prefix(&mut self, want: usize) -> Result<&[u8], StoreError> {
        let part = match &mut self.0 {
            Kind::Ready(bytes) => return Ok(bytes),
            Kind::Inflating(part) => part,
        };
        let want = part.from.saturating_add(want).min(part.to);
        let got = part.inflater.fill(want).map_err(corrupt(&part.segment))?;
        let end = got.len().min(part.to);
        Ok(&got[part.from.min(end)..end])
    }

    /// All of it, as one buffer.
    pub fn into_vec(self) -> Result<Vec<u8>, StoreError> {
        let part = match self.0 {
            Kind::Ready(bytes) => return Ok(bytes),
            Kind::Inflating(part) => part,
        };
        let mut whole = part.inflater.into_vec().map_err(corrupt(&part.segment))?;
        whole.truncate(part.to);
        whole.drain(..part.from.min(whole.len()));
        Ok(whole)
    }
}

/// One line of a log: where it starts and its bytes without the newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Byte offset of its first byte in the log.
    pub offset: u64,
    /// Its bytes, the newline left out.
    pub text: Vec<u8>,
    /// Commit time of the append that wrote it, microseconds since the epoch.
    pub time: u64,
}

impl Line {
    /// The position just after this line (its newline included): its cursor.
    pub fn end(&self) -> u64 {
        self.offset + self.text.len() as u64 + 1
    }
}

impl Snapshot {
    /// The whole lines in `start..end`; both must be line boundaries. A
    /// start that retention expired reads from the first kept line (a line
    /// boundary, see [`Snapshot::retained`]), and the lines' offsets count
    /// from there.
    pub fn lines_in(
        self: Rc<Self>,
        start: u64,
        end: u64,
    ) -> impl Iterator<Item = Result<Line, StoreError>> {
        let start = start.max(self.retained());
        let mut chunks = self.read_timed(start, end);
        let mut pending: Vec<u8> = Vec::new();
        let mut pending_at = start;
        let mut ready = std::collections::VecDeque::new();
        std::iter::from_fn(move || {
            loop {
                if let Some(line) = ready.pop_front() {
                    return Some(Ok(line));
                }
                let (chunk, time) = match chunks.next()? {
                    Ok(c) => c,
                    Err(e) => return Some(Err(e)),
                };
                let mut from = 0;
                for nl in memchr::memchr_iter(b'\n', &chunk) {
                    pending.extend_from_slice(&chunk[from..nl]);
                    let text = std::mem::take(&mut pending);
                    let line = Line {
                        offset: pending_at,
                        text,
                        time,
                    };
                    pending_at = line.end();
                    ready.push_back(line);
                    from = nl + 1;
                }
                pending.extend_from_slice(&chunk[from..]);
            }
        })
    }

    /// The whole lines before `end` (a line boundary), newest first.
    pub fn lines_before(
        self: Rc<Self>,
        end: u64,
    ) -> impl Iterator<Item = Result<Line, StoreError>> {
        let end = end.min(self.head.size);
        let retained = self.retained();
        // Segment to load next, and the bytes after it that start an unfinished line.
        let mut next_seg = if end <= retained {
            Ok(None)
        } else {
            self.segment_at(end - 1).map(Some)
        };
        let mut carry: Vec<u8> = Vec::new();
        // Commit time of the segment holding the carry's newline.
        let mut carry_time = 0;
        let mut ready: Vec<Line> = Vec::new();
        std::iter::from_fn(move || {
            loop {
                if let Some(line) = ready.pop() {
                    return Some(Ok(line));
                }
                let i = match std::mem::replace(&mut next_seg, Ok(None)) {
                    Ok(Some(i)) => i,
                    Ok(None) => return None,
                    Err(e) => return Some(Err(e)),
                };
                let seg = match self.segment(i) {
                    Ok(s) => s,
                    Err(e) => return Some(Err(e)),
                };
                let upto = (end - seg.offset).min(seg.len);
                let mut buf = match self.bytes(&seg, 0, upto) {
                    Ok(b) => b,
                    Err(e) => return Some(Err(e)),
                };
                buf.extend_from_slice(&carry);
                let newlines: Vec<usize> = memchr::memchr_iter(b'\n', &buf).collect();
                // Lines wholly inside `buf` start after a newline, or at the
                // log's first readable byte.
                let first_full = match (seg.offset, newlines.first()) {
                    (o, _) if o <= retained => (retained - o) as usize,
                    (_, Some(nl)) => nl + 1,
                    (_, None) => buf.len(),
                };
                let mut start = first_full;
                for &nl in newlines.iter().filter(|&&nl| nl >= first_full) {
                    ready.push(Line {
                        offset: seg.offset + start as u64,
                        text: buf[start..nl].to_vec(),
                        time: if nl < upto as usize {
                            seg.time
                        } else {
                            carry_time
                        },
                    });
                    start = nl + 1;
                }
                if newlines.first().is_some_and(|&nl| nl < upto as usize) {
                    carry_time = seg.time;
                }
                carry = buf[..first_full].to_vec();
                if i > 0 && seg.offset > retained {
                    next_seg = Ok(Some(i - 1));
                }
            }
        })
    }
}

fn missing(segment: &str) -> StoreError {
    StoreError::internal(format!("missing segment {segment}"))
}
