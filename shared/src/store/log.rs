//! Append-only line logs with an index: what task files and the journal are made of.
//!
//! A log is a sequence of immutable *segments* (each at most [`SEGMENT_MAX`]
//! bytes, one blob each) plus a small *head* in the key-value store:
//!
//! ```text
//! <prefix>/head      size, line count, directory of sealed pages, the newest
//!                    segments (`tail`), recent idempotency receipts
//! <prefix>/p/<n>     sealed page n: [`PAGE_SEGMENTS`] segment entries, immutable
//! <prefix>/r/<hash>  durable idempotency receipt
//! <prefix>/s/<rand>  segment bytes (in the blob store)
//! ```
//!
//! **Concurrency without transactions.** An append first writes its bytes as new
//! segments under random keys nobody references yet, then commits them by a
//! compare-and-swap of the head that assigns their offsets. Losers re-read the
//! head and retry; their segments are position-independent, so only the small
//! head is rewritten. A request's lines are therefore contiguous and in order,
//! a crash leaves only unreferenced blobs (never a half-visible record), and
//! concurrent writers never lose each other's appends.
//!
//! **Index.** Every segment entry records its byte offset and the number of
//! newlines before it. Sealed pages are listed in the head with their first
//! offset and line, so finding "byte X" or "line N" costs the head, at most one
//! page, and one segment, whatever the log's size: `tail -n 100` of 1 GiB reads
//! as few chunks as of 1 MiB.
//!
//! Every append ends on a newline (the ingest layer adds one), so `lines` is
//! exact and a line never straddles two requests. A line longer than a segment
//! is split across segments; the index handles that.

use super::Store;
use super::kv::{Update, update};
use crate::problem::Problem;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Largest segment: equal to the blob chunk size, so a segment is one chunk.
pub const SEGMENT_MAX: usize = super::blob::CHUNK_SIZE;
/// Segments per sealed page.
pub const PAGE_SEGMENTS: usize = 128;
/// Idempotency receipts kept in the head, covering retries that race the commit.
const RECENT_RECEIPTS: usize = 32;
/// Lost compare-and-swap races tolerated before answering 503.
const COMMIT_ATTEMPTS: u32 = 100;

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Head {
    /// Total bytes.
    pub size: u64,
    /// Total newlines (= complete lines, since every append ends with one).
    pub lines: u64,
    /// Segments committed, sealed or not.
    pub segments: u64,
    /// Last append, microseconds since the epoch.
    pub mtime: u64,
    /// First offset and line of each sealed page.
    #[serde(default)]
    pub pages: Vec<PageRef>,
    /// Segments not yet sealed into a page, oldest first.
    #[serde(default)]
    pub tail: Vec<Segment>,
    #[serde(default)]
    pub recent: Vec<Receipt>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct PageRef {
    pub offset: u64,
    pub line: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Segment {
    /// Blob key of the bytes.
    pub blob: String,
    /// Byte offset of the first byte in the log.
    pub offset: u64,
    /// Newlines in the log before this segment.
    pub line: u64,
    pub len: u64,
    /// Newlines inside this segment.
    pub newlines: u64,
    /// When it was committed, microseconds since the epoch: the time of every
    /// line that ends in it (appends carry no per-line clock).
    #[serde(default)]
    pub time: u64,
}

/// What one append did: where its bytes landed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Byte offset of the first appended byte.
    pub offset: u64,
    pub bytes: u64,
    /// Line number (0-based) of the first appended line.
    pub first_line: u64,
    pub lines: u64,
    /// Size of the log after this append.
    pub size: u64,
}

/// A request's idempotency key and a digest of its body, hashed so receipts are
/// small and keys of any shape are safe in key names.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Receipt {
    key: String,
    body: String,
    done: Appended,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Appended(Appended),
    /// The same idempotency key and body were appended before: nothing written.
    Replayed(Appended),
}

impl Outcome {
    pub fn appended(&self) -> &Appended {
        match self {
            Outcome::Appended(a) | Outcome::Replayed(a) => a,
        }
    }
}

pub struct IdempotencyKey {
    key: String,
    body: String,
}

impl IdempotencyKey {
    /// `key` as the client sent it, `body` the request body as sent (not as
    /// normalized: a server-filled timestamp must not make a retry differ).
    pub fn new(key: &str, body: &[u8]) -> Self {
        Self {
            key: digest(key.as_bytes()),
            body: digest(body),
        }
    }
}

/// First 128 bits of SHA-256, hex: collision-free in practice, short in keys.
pub fn digest(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// 128 random bits, hex: unique keys without coordination.
pub fn random_id() -> Result<String, Problem> {
    let mut buf = [0u8; 16];
    getrandom::fill(&mut buf).map_err(|e| Problem::internal(format!("getrandom: {e}")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// One log, addressed by its key prefix.
#[derive(Clone)]
pub struct Log {
    store: Rc<Store>,
    prefix: String,
}

impl Log {
    pub fn new(store: Rc<Store>, prefix: impl Into<String>) -> Self {
        Self {
            store,
            prefix: prefix.into(),
        }
    }

    /// The key prefix naming this log (stable: positions of several logs are
    /// keyed by a digest of it).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn head_key(&self) -> String {
        format!("{}/head", self.prefix)
    }

    fn page_key(&self, n: usize) -> String {
        format!("{}/p/{n}", self.prefix)
    }

    fn receipt_key(&self, key_digest: &str) -> String {
        format!("{}/r/{key_digest}", self.prefix)
    }

    pub fn head(&self) -> Result<Option<Head>, Problem> {
        match self.store.meta.get(&self.head_key())? {
            None => Ok(None),
            Some(bytes) => parse_head(&bytes).map(Some),
        }
    }

    /// Appends `data` (whole lines, ending in `\n`) as one contiguous run.
    pub fn append(&self, data: &[u8], idem: Option<&IdempotencyKey>) -> Result<Outcome, Problem> {
        if data.is_empty() || data.last() != Some(&b'\n') {
            return Err(Problem::internal("append of data not ending in a newline"));
        }
        if let Some(idem) = idem
            && let Some(bytes) = self.store.meta.get(&self.receipt_key(&idem.key))?
        {
            let receipt: Receipt = serde_json::from_slice(&bytes)
                .map_err(|e| Problem::internal(format!("receipt: {e}")))?;
            return replay(&receipt, idem);
        }

        let pieces = split(data, SEGMENT_MAX);
        let objects = pieces
            .iter()
            .map(|piece| Ok((format!("{}/s/{}", self.prefix, random_id()?), *piece)))
            .collect::<Result<Vec<(String, &[u8])>, Problem>>()?;
        self.store.blobs.put_many(&objects)?;
        let blobs: Vec<String> = objects.into_iter().map(|(k, _)| k).collect();

        let now = crate::clock::now_micros();
        let empty = serde_json::to_vec(&Head::default()).map_err(Problem::internal)?;
        let outcome = update(
            self.store.meta.as_ref(),
            &self.head_key(),
            Some(&empty),
            COMMIT_ATTEMPTS,
            |current| {
                let mut head = match current {
                    Some(bytes) => parse_head(bytes)?,
                    None => Head::default(),
                };
                if let Some(idem) = idem
                    && let Some(r) = head.recent.iter().find(|r| r.key == idem.key)
                {
                    return Ok(Update::Keep(replay(r, idem)?));
                }
                let done = Appended {
                    offset: head.size,
                    bytes: data.len() as u64,
                    first_line: head.lines,
                    lines: memchr::memchr_iter(b'\n', data).count() as u64,
                    size: head.size + data.len() as u64,
                };
                for (piece, blob) in pieces.iter().zip(&blobs) {
                    let newlines = memchr::memchr_iter(b'\n', piece).count() as u64;
                    head.tail.push(Segment {
                        blob: blob.clone(),
                        offset: head.size,
                        line: head.lines,
                        len: piece.len() as u64,
                        newlines,
                        time: now,
                    });
                    head.size += piece.len() as u64;
                    head.lines += newlines;
                    head.segments += 1;
                }
                head.mtime = now;
                self.seal_pages(&mut head)?;
                if let Some(idem) = idem {
                    head.recent.push(Receipt {
                        key: idem.key.clone(),
                        body: idem.body.clone(),
                        done,
                    });
                    let excess = head.recent.len().saturating_sub(RECENT_RECEIPTS);
                    head.recent.drain(..excess);
                }
                let bytes = serde_json::to_vec(&head).map_err(Problem::internal)?;
                Ok(Update::Write(bytes, Outcome::Appended(done)))
            },
        );

        match outcome {
            Ok(Outcome::Appended(done)) => {
                if let Some(idem) = idem {
                    let receipt = Receipt {
                        key: idem.key.clone(),
                        body: idem.body.clone(),
                        done,
                    };
                    let bytes = serde_json::to_vec(&receipt).map_err(Problem::internal)?;
                    self.store.meta.set(&self.receipt_key(&idem.key), &bytes)?;
                }
                Ok(Outcome::Appended(done))
            }
            other => {
                // Replayed, refused or failed: our segments are referenced by nobody.
                self.discard(&blobs);
                Ok(other?)
            }
        }
    }

    fn discard(&self, blobs: &[String]) {
        for key in blobs {
            if let Err(e) = self.store.blobs.delete(key) {
                eprintln!("left orphan segment {key}: {e}");
            }
        }
    }

    /// Moves full pages out of the head. Page `n` always holds segments
    /// `n*P..(n+1)*P`, which never change once committed, so a writer that loses
    /// the race after writing a page wrote exactly what the winner wrote.
    fn seal_pages(&self, head: &mut Head) -> Result<(), Problem> {
        while head.tail.len() > PAGE_SEGMENTS {
            let page: Vec<Segment> = head.tail.drain(..PAGE_SEGMENTS).collect();
            let bytes = serde_json::to_vec(&page).map_err(Problem::internal)?;
            self.store
                .meta
                .set(&self.page_key(head.pages.len()), &bytes)?;
            head.pages.push(PageRef {
                offset: page[0].offset,
                line: page[0].line,
            });
        }
        Ok(())
    }

    /// The lines appended at or after `pos` (a line boundary) as of now, or
    /// `None` when there are none: what a follower polls for.
    pub fn lines_since(
        &self,
        pos: u64,
    ) -> Result<Option<impl Iterator<Item = Result<Line, Problem>> + use<>>, Problem> {
        let Some(snapshot) = self.snapshot()? else {
            return Ok(None);
        };
        let size = snapshot.size();
        Ok((size > pos).then(|| Rc::new(snapshot).lines_in(pos, size)))
    }

    /// A consistent view for reading: the head as of now, pages loaded on demand.
    pub fn snapshot(&self) -> Result<Option<Snapshot>, Problem> {
        Ok(self.head()?.map(|head| Snapshot {
            log: self.clone(),
            head,
            pages: RefCell::new(HashMap::new()),
            last_segment: RefCell::new(None),
        }))
    }
}

fn parse_head(bytes: &[u8]) -> Result<Head, Problem> {
    serde_json::from_slice(bytes).map_err(|e| Problem::internal(format!("log head: {e}")))
}

fn replay(receipt: &Receipt, idem: &IdempotencyKey) -> Result<Outcome, Problem> {
    if receipt.body != idem.body {
        return Err(Problem::new(
            http::StatusCode::UNPROCESSABLE_ENTITY,
            "Idempotency Key Reused",
            "this Idempotency-Key was already used with a different body",
        ));
    }
    Ok(Outcome::Replayed(receipt.done))
}

/// Cuts `data` into pieces of at most `max` bytes, on line boundaries where a
/// line fits, so most segments hold whole lines.
fn split(data: &[u8], max: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() > max {
        let cut = match memchr::memrchr(b'\n', &rest[..max]) {
            Some(i) => i + 1,
            None => max, // a line longer than a segment: split it
        };
        let (piece, tail) = rest.split_at(cut);
        out.push(piece);
        rest = tail;
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
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
    pub fn head(&self) -> &Head {
        &self.head
    }

    pub fn size(&self) -> u64 {
        self.head.size
    }

    pub fn lines(&self) -> u64 {
        self.head.lines
    }

    fn sealed(&self) -> u64 {
        (self.head.pages.len() * PAGE_SEGMENTS) as u64
    }

    fn page(&self, n: usize) -> Result<Rc<Vec<Segment>>, Problem> {
        if let Some(p) = self.pages.borrow().get(&n) {
            return Ok(p.clone());
        }
        let key = self.log.page_key(n);
        let bytes = self
            .log
            .store
            .meta
            .get(&key)?
            .ok_or_else(|| Problem::internal(format!("missing index page {key}")))?;
        let page: Rc<Vec<Segment>> = Rc::new(
            serde_json::from_slice(&bytes)
                .map_err(|e| Problem::internal(format!("index page {key}: {e}")))?,
        );
        self.pages.borrow_mut().insert(n, page.clone());
        Ok(page)
    }

    /// Segment number `i` (0-based over the whole log).
    fn segment(&self, i: u64) -> Result<Segment, Problem> {
        let sealed = self.sealed();
        if i >= sealed {
            return self
                .head
                .tail
                .get((i - sealed) as usize)
                .cloned()
                .ok_or_else(|| Problem::internal(format!("segment {i} out of range")));
        }
        let page = self.page(i as usize / PAGE_SEGMENTS)?;
        page.get(i as usize % PAGE_SEGMENTS)
            .cloned()
            .ok_or_else(|| Problem::internal(format!("segment {i} missing from its page")))
    }

    /// The last segment for which `before(segment)` holds, given that it holds
    /// for a prefix of the log. Binary search over pages, then inside one.
    fn last_segment_where(
        &self,
        page_before: impl Fn(&PageRef) -> bool,
        before: impl Fn(&Segment) -> bool,
    ) -> Result<Option<u64>, Problem> {
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

    /// Index of the segment holding byte `offset` (`offset < size`).
    fn segment_at(&self, offset: u64) -> Result<u64, Problem> {
        self.last_segment_where(|p| p.offset <= offset, |s| s.offset <= offset)?
            .ok_or_else(|| Problem::internal(format!("no segment holds offset {offset}")))
    }

    /// Bytes `from..to` of a segment. A segment is one blob chunk, so the
    /// whole of it costs what any part does: fetch it whole and keep it.
    fn bytes(&self, seg: &Segment, from: u64, to: u64) -> Result<Vec<u8>, Problem> {
        let cached = match &*self.last_segment.borrow() {
            Some((key, bytes)) if *key == seg.blob => Some(bytes.clone()),
            _ => None,
        };
        let whole = match cached {
            Some(bytes) => bytes,
            None => {
                let bytes =
                    self.log.store.blobs.get(&seg.blob)?.ok_or_else(|| {
                        Problem::internal(format!("missing segment {}", seg.blob))
                    })?;
                let bytes = Rc::new(bytes);
                *self.last_segment.borrow_mut() = Some((seg.blob.clone(), bytes.clone()));
                bytes
            }
        };
        let to = (to as usize).min(whole.len());
        let from = (from as usize).min(to);
        Ok(whole[from..to].to_vec())
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
    ) -> Result<(u64, u64), Problem> {
        if since.is_none() && until.is_none() {
            return Ok((0, self.head.size));
        }
        let (mut from, mut to) = (None, 0);
        for i in 0..self.head.segments {
            let seg = self.segment(i)?;
            let after = since.is_none_or(|s| seg.time >= s);
            let before = until.is_none_or(|u| seg.time < u);
            if after && before {
                from.get_or_insert(seg.offset);
                to = seg.offset + seg.len;
            }
        }
        Ok(from.map_or((0, 0), |f| (f, to)))
    }

    /// Byte offset where line `line` (0-based) starts; `size` for `line >= lines`.
    pub fn line_start(&self, line: u64) -> Result<u64, Problem> {
        if line == 0 {
            return Ok(0);
        }
        if line >= self.head.lines {
            return Ok(self.head.size);
        }
        // The segment holding newline number `line` (1-based) ends line `line - 1`.
        let i = self
            .last_segment_where(|p| p.line < line, |s| s.line < line)?
            .ok_or_else(|| Problem::internal(format!("no segment holds line {line}")))?;
        let seg = self.segment(i)?;
        let bytes = self.bytes(&seg, 0, seg.len)?;
        let nth = (line - seg.line - 1) as usize;
        let at = memchr::memchr_iter(b'\n', &bytes)
            .nth(nth)
            .ok_or_else(|| Problem::internal("line index disagrees with segment bytes"))?;
        Ok(seg.offset + at as u64 + 1)
    }

    /// The line (0-based) that byte `offset` belongs to.
    pub fn line_at(&self, offset: u64) -> Result<u64, Problem> {
        if offset >= self.head.size {
            return Ok(self.head.lines);
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
    ) -> impl Iterator<Item = Result<Vec<u8>, Problem>> {
        self.read_timed(start, end)
            .map(|r| r.map(|(bytes, _)| bytes))
    }

    /// Like [`Snapshot::read`], with each chunk's segment commit time.
    fn read_timed(
        self: Rc<Self>,
        start: u64,
        end: u64,
    ) -> impl Iterator<Item = Result<(Vec<u8>, u64), Problem>> {
        let end = end.min(self.head.size);
        let mut next = (start < end).then(|| self.segment_at(start)).transpose();
        let mut pos = start;
        std::iter::from_fn(move || {
            if pos >= end {
                return None;
            }
            let i = match &mut next {
                Ok(Some(i)) => *i,
                Ok(None) => return None,
                Err(e) => {
                    let e = e.clone();
                    next = Ok(None);
                    return Some(Err(e));
                }
            };
            let chunk = self.segment(i).and_then(|seg| {
                let from = pos - seg.offset;
                let to = (end - seg.offset).min(seg.len);
                Ok((self.bytes(&seg, from, to)?, seg.time))
            });
            match chunk {
                Ok((bytes, time)) => {
                    pos += bytes.len() as u64;
                    next = Ok(Some(i + 1));
                    if bytes.is_empty() {
                        next = Ok(None); // a segment shorter than its index says
                        return Some(Err(Problem::internal("segment shorter than its index")));
                    }
                    Some(Ok((bytes, time)))
                }
                Err(e) => {
                    next = Ok(None);
                    Some(Err(e))
                }
            }
        })
    }
}

/// One line of a log: where it starts and its bytes without the newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub offset: u64,
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
    /// The whole lines in `start..end`; both must be line boundaries.
    pub fn lines_in(
        self: Rc<Self>,
        start: u64,
        end: u64,
    ) -> impl Iterator<Item = Result<Line, Problem>> {
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
    pub fn lines_before(self: Rc<Self>, end: u64) -> impl Iterator<Item = Result<Line, Problem>> {
        let end = end.min(self.head.size);
        // Segment to load next, and the bytes after it that start an unfinished line.
        let mut next_seg = if end == 0 {
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
                // Lines wholly inside `buf` start after a newline, or at 0 for the log's start.
                let newlines: Vec<usize> = memchr::memchr_iter(b'\n', &buf).collect();
                let first_full = match (seg.offset, newlines.first()) {
                    (0, _) => 0,
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
                if i > 0 {
                    next_seg = Ok(Some(i - 1));
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> Log {
        Log::new(Rc::new(Store::memory()), "t")
    }

    fn lines(range: std::ops::Range<usize>) -> Vec<u8> {
        range
            .map(|i| format!("line {i}\n"))
            .collect::<String>()
            .into_bytes()
    }

    fn read_all(log: &Log, start: u64, end: u64) -> Vec<u8> {
        let snap = Rc::new(log.snapshot().unwrap().unwrap());
        snap.read(start, end)
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .concat()
    }

    #[test]
    fn appends_assign_contiguous_offsets_and_lines() {
        let log = log();
        let a = log.append(b"a\nbb\n", None).unwrap();
        let b = log.append(b"ccc\n", None).unwrap();
        assert_eq!(a.appended().offset, 0);
        assert_eq!(b.appended().offset, 5);
        assert_eq!(b.appended().first_line, 2);
        let head = log.head().unwrap().unwrap();
        assert_eq!((head.size, head.lines, head.segments), (9, 3, 2));
        assert_eq!(read_all(&log, 0, u64::MAX), b"a\nbb\nccc\n");
        assert_eq!(read_all(&log, 3, 7), b"b\ncc");
    }

    #[test]
    fn line_lookup_across_sealed_pages() {
        let log = log();
        let n = PAGE_SEGMENTS * 3 + 7;
        for i in 0..n {
            log.append(format!("line {i}\n").as_bytes(), None).unwrap();
        }
        let snap = log.snapshot().unwrap().unwrap();
        assert_eq!(snap.head().pages.len(), 3);
        assert!(snap.head().tail.len() <= PAGE_SEGMENTS);
        let whole = lines(0..n);
        for line in [0, 1, 127, 128, 129, 300, n as u64 - 1, n as u64] {
            let expected = whole
                .split_inclusive(|b| *b == b'\n')
                .take(line as usize)
                .map(|l| l.len() as u64)
                .sum::<u64>();
            assert_eq!(snap.line_start(line).unwrap(), expected, "line {line}");
            assert_eq!(snap.line_at(expected).unwrap(), line);
        }
        assert_eq!(read_all(&log, 0, u64::MAX), whole);
    }

    #[test]
    fn big_appends_split_into_segments_on_line_boundaries() {
        let log = log();
        let data = lines(0..200_000); // ~2.2 MB
        log.append(&data, None).unwrap();
        let snap = log.snapshot().unwrap().unwrap();
        assert!(snap.head().segments >= 5);
        for s in &snap.head().tail {
            assert!(s.len as usize <= SEGMENT_MAX);
        }
        assert_eq!(
            snap.line_start(150_000).unwrap(),
            lines(0..150_000).len() as u64
        );
        assert_eq!(read_all(&log, 0, u64::MAX), data);
    }

    #[test]
    fn a_line_longer_than_a_segment_is_split_and_found() {
        let log = log();
        let mut data = vec![b'x'; SEGMENT_MAX * 2 + 3];
        data.push(b'\n');
        data.extend_from_slice(b"short\n");
        log.append(&data, None).unwrap();
        let snap = log.snapshot().unwrap().unwrap();
        assert_eq!(snap.lines(), 2);
        assert_eq!(snap.line_start(1).unwrap(), SEGMENT_MAX as u64 * 2 + 4);
        assert_eq!(read_all(&log, 0, u64::MAX), data);
    }

    #[test]
    fn idempotent_retries_append_once() {
        let log = log();
        let key = IdempotencyKey::new("req-1", b"x\n");
        let first = log.append(b"x\n", Some(&key)).unwrap();
        let again = log.append(b"x\n", Some(&key)).unwrap();
        assert!(matches!(first, Outcome::Appended(_)));
        assert_eq!(again, Outcome::Replayed(*first.appended()));
        assert_eq!(log.head().unwrap().unwrap().size, 2);
        let other = IdempotencyKey::new("req-1", b"y\n");
        let err = log.append(b"y\n", Some(&other)).unwrap_err();
        assert_eq!(err.status, http::StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn iterates_lines_both_ways_across_segments() {
        let log = log();
        let mut data = Vec::new();
        for i in 0..300 {
            let line = format!("{i}{}\n", "y".repeat(i % 7));
            data.extend_from_slice(line.as_bytes());
            log.append(line.as_bytes(), None).unwrap();
        }
        let mut long = vec![b'L'; SEGMENT_MAX + 10];
        long.push(b'\n');
        log.append(&long, None).unwrap();
        data.extend_from_slice(&long);
        let snap = Rc::new(log.snapshot().unwrap().unwrap());
        let expected: Vec<(u64, Vec<u8>)> = {
            let mut at = 0u64;
            data.split_inclusive(|b| *b == b'\n')
                .map(|l| {
                    let line = (at, l[..l.len() - 1].to_vec());
                    at += l.len() as u64;
                    line
                })
                .collect()
        };
        let forward: Vec<Line> = snap
            .clone()
            .lines_in(0, snap.size())
            .map(Result::unwrap)
            .collect();
        let plain = |lines: &[Line]| -> Vec<(u64, Vec<u8>)> {
            lines.iter().map(|l| (l.offset, l.text.clone())).collect()
        };
        assert_eq!(plain(&forward), expected);
        let mut backward: Vec<Line> = snap
            .clone()
            .lines_before(snap.size())
            .map(Result::unwrap)
            .collect();
        backward.reverse();
        assert_eq!(backward, forward, "same lines, same commit times");
        assert!(forward.iter().all(|l| l.time > 0));
        let mid = expected[150].0;
        let before: Vec<Line> = snap.clone().lines_before(mid).map(Result::unwrap).collect();
        assert_eq!(before.len(), 150);
        assert_eq!(before[0], forward[149]);
        assert_eq!(snap.lines_in(mid, mid).count(), 0);
    }

    #[test]
    fn split_prefers_line_boundaries() {
        assert_eq!(split(b"ab\ncd\nef\n", 7), vec![&b"ab\ncd\n"[..], b"ef\n"]);
        assert_eq!(split(b"abcdefgh\n", 4), vec![&b"abcd"[..], b"efgh", b"\n"]);
    }
}
