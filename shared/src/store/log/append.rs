//! Appending: write new segments where nobody looks, then commit them with one
//! compare-and-swap of the head (see the module above for why this is safe).
//!
//! An append is four steps, each its own function: [`Log::claim`] an
//! idempotency key (`receipt`), [`Staged::store`] the bytes as unreferenced
//! segments, [`Commit::apply`] them to the head, and settle the receipt (or
//! [`Staged::discard`] the segments when nothing was committed).

use super::head::{self, Appended, Head, IdempotencyKey, Keys, Outcome, PageRef, Segment};
use super::receipt::{AppendError, Claim, Receipt, replay};
use super::{COMMIT_ATTEMPTS, Location, Log, PAGE_SEGMENTS, RECENT_RECEIPTS, SEGMENT_MAX, codec};
use crate::store::error::{StoreError, StoreResult};
use crate::store::kv::{Update, update};
use crate::util::clock::now_micros;
use crate::util::ids::random_id;

impl Log {
    /// Appends `data` (whole lines, ending in `\n`) as one contiguous run.
    pub fn append(
        &self,
        data: &[u8],
        idem: Option<&IdempotencyKey>,
    ) -> Result<Outcome, AppendError> {
        self.append_keyed(data, idem, None)
    }

    /// Appends to a keyed log ([`Keys`]): lines more than `keys.window`
    /// behind the greatest key stored when the append commits are dropped,
    /// the rest stored as one contiguous run, and the outcome says below
    /// which key lines were dropped. The lines of `data` must be in key
    /// order. An append that loses every line still commits (nothing but
    /// its idempotency receipt), so its retry replays the same answer.
    pub fn append_keyed(
        &self,
        data: &[u8],
        idem: Option<&IdempotencyKey>,
        keys: Option<Keys>,
    ) -> Result<Outcome, AppendError> {
        if data.is_empty() || data.last() != Some(&b'\n') {
            return Err(StoreError::internal("append of data not ending in a newline").into());
        }
        let head = match (idem, keys) {
            (None, None) => None,
            _ => self.head()?,
        };
        let claimed = match idem {
            Some(idem) => match self.claim(idem, head.as_ref())? {
                Claim::Replay(done) => return Ok(Outcome::Replayed(done)),
                Claim::Ours { time } => Some((idem, time)),
            },
            None => None,
        };
        // Lines already too far behind are not worth a blob write.
        let cutoff = keys.and_then(|k| cutoff(head.as_ref()?, k));
        let mut data = std::borrow::Cow::Borrowed(data);
        let mut behind = None;
        if let (Some(keys), Some(c)) = (keys, cutoff) {
            behind = drop_behind(&mut data, keys, c);
        }
        for _ in 0..COMMIT_ATTEMPTS {
            if data.is_empty() && claimed.is_none() {
                return self.nothing_appended(behind);
            }
            match self.commit_once(&data, claimed, keys, behind)? {
                Committed::Done(outcome) => return Ok(outcome),
                Committed::Behind(c) => {
                    let keys = keys.ok_or_else(|| StoreError::internal("unkeyed behind"))?;
                    behind = drop_behind(&mut data, keys, c).or(behind);
                }
            }
        }
        Err(StoreError::Contended.into())
    }

    /// The outcome of an append whose every line was dropped and that has
    /// no receipt to record: where it would have gone, as of now.
    fn nothing_appended(&self, behind: Option<u64>) -> Result<Outcome, AppendError> {
        let head = self.head()?.unwrap_or_default();
        Ok(Outcome::Appended(Appended {
            offset: head.size,
            bytes: 0,
            first_line: head.lines,
            lines: 0,
            size: head.size,
            behind,
        }))
    }

    /// One attempt: stage `data`, commit it, settle the receipt; or
    /// [`Committed::Behind`] when the log's window moved past some of it
    /// (nothing committed, the staged segments deleted).
    fn commit_once(
        &self,
        data: &[u8],
        claimed: Option<(&IdempotencyKey, u64)>,
        keys: Option<Keys>,
        behind: Option<u64>,
    ) -> Result<Committed, AppendError> {
        let staged = Staged::store(self, data, keys)?;
        let commit = Commit {
            log: self,
            data,
            staged: &staged,
            idem: claimed,
            keys,
            behind,
        };
        match commit.apply() {
            Ok(Committed::Done(Outcome::Appended(done))) => {
                if let Some((idem, time)) = claimed {
                    self.settle(idem, time, done)?;
                }
                Ok(Committed::Done(Outcome::Appended(done)))
            }
            // The store failed, perhaps after the commit was written (its
            // read-back failing): the segments may be referenced, so they
            // stay; at worst they are orphans.
            Err(e @ AppendError::Store(_)) => Err(e),
            // Replayed, behind or refused before anything was written: our
            // segments are referenced by nobody.
            other => {
                staged.discard();
                other
            }
        }
    }

    /// Whether `head` commits the segment `blob` at `offset` (in its tail, or
    /// in the sealed page that covers `offset`).
    fn lists(&self, head: &Head, offset: u64, blob: &str) -> StoreResult<bool> {
        let is = |s: &Segment| s.offset == offset && s.blob == blob;
        if head.tail.iter().any(is) {
            return Ok(true);
        }
        let p = head.pages.partition_point(|p| p.offset <= offset);
        if p == 0 {
            return Ok(false);
        }
        let Some(bytes) = self.store.meta.get(&self.page_key(p - 1))? else {
            return Ok(false);
        };
        let page: Vec<Segment> = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::internal(format!("index page: {e}")))?;
        Ok(page.iter().any(is))
    }

    /// Moves full pages out of `head`, as read and before this append adds
    /// to it. Page `n` always holds segments `n*P..(n+1)*P`, which never
    /// change once committed, so a writer that loses the race after writing
    /// a page wrote exactly what the winner wrote. That holds only because
    /// a page is sealed from committed segments: sealed after an append of
    /// several segments added its own, a page could hold them, and a loser's
    /// page written after the winner's swap would replace the winner's
    /// segments in the index with its own, never committed. (So the tail
    /// may hold up to `P - 1` entries plus one append's segments.)
    /// Each page records `time`, the sealing commit's, for packing's grace
    /// period ([`Log::sealed_at`]).
    fn seal_pages(&self, head: &mut Head, time: u64) -> Result<(), StoreError> {
        while head.tail.len() >= PAGE_SEGMENTS {
            let page: Vec<Segment> = head.tail.drain(..PAGE_SEGMENTS).collect();
            let bytes = serde_json::to_vec(&page).map_err(StoreError::internal)?;
            self.store
                .meta
                .set(&self.page_key(head.pages.len()), &bytes)?;
            let key = page[0].key;
            let least = page.iter().filter_map(Segment::least).min();
            head.pages.push(PageRef {
                offset: page[0].offset,
                line: page[0].line,
                key,
                min: least.filter(|m| key.is_some_and(|k| *m < k)),
                sealed: Some(time),
            });
        }
        Ok(())
    }
}

/// What one append is to a keyed log as of a head: the key below which
/// its lines are dropped, if the head has keys.
fn cutoff(head: &Head, keys: Keys) -> Option<u64> {
    Some(head.last_key?.saturating_sub(keys.window))
}

/// Drops the lines of `data` whose key is below `cutoff`; `Some(cutoff)`
/// if it dropped any.
fn drop_behind(data: &mut std::borrow::Cow<[u8]>, keys: Keys, cutoff: u64) -> Option<u64> {
    let kept: Vec<u8> = data
        .split_inclusive(|b| *b == b'\n')
        .filter(|line| (keys.of_line)(line).is_none_or(|k| k >= cutoff))
        .flatten()
        .copied()
        .collect();
    if kept.len() == data.len() {
        return None;
    }
    *data = std::borrow::Cow::Owned(kept);
    Some(cutoff)
}

/// How a commit attempt ended.
enum Committed {
    Done(Outcome),
    /// Lines below this key are too far behind the log's greatest key.
    Behind(u64),
}

/// The keys of one staged piece of a keyed append.
#[derive(Clone, Copy, Default)]
struct PieceKeys {
    /// Of its first line (none: it continues a line longer than a segment).
    first: Option<u64>,
    min: Option<u64>,
    max: Option<u64>,
}

/// The keys of each piece of a keyed append; refused unless every line has
/// a key and they never decrease (the order a segment's readers rely on).
/// A line belongs to the piece it starts in.
fn piece_keys(pieces: &[&[u8]], keys: Keys) -> Result<Vec<PieceKeys>, StoreError> {
    let mut out = Vec::with_capacity(pieces.len());
    let mut at_line_start = true;
    let mut previous: Option<u64> = None;
    for piece in pieces {
        let mut pk = PieceKeys::default();
        let mut start = 0;
        while start < piece.len() {
            let end = memchr::memchr(b'\n', &piece[start..]).map(|i| start + i);
            if at_line_start {
                let line = &piece[start..end.unwrap_or(piece.len())];
                let key = (keys.of_line)(line)
                    .ok_or_else(|| StoreError::internal("a keyed line without a key"))?;
                if previous.is_some_and(|p| key < p) {
                    return Err(StoreError::internal("a keyed append out of key order"));
                }
                previous = Some(key);
                pk.first.get_or_insert(key);
                pk.min = Some(pk.min.map_or(key, |m| m.min(key)));
                pk.max = Some(pk.max.map_or(key, |m| m.max(key)));
            }
            at_line_start = end.is_some();
            start = end.map_or(piece.len(), |e| e + 1);
        }
        out.push(pk);
    }
    Ok(out)
}

/// An append's bytes, stored as segments no head lists yet.
struct Staged<'d> {
    log: Log,
    pieces: Vec<&'d [u8]>,
    /// In a keyed log, each piece's keys.
    keys: Vec<PieceKeys>,
    blobs: Vec<String>,
    /// Each piece's filter id, if it has one (see `filter`).
    filters: Vec<Option<String>>,
}

impl<'d> Staged<'d> {
    /// Cuts `data` into segments and stores each under a fresh key.
    fn store(log: &Log, data: &'d [u8], keys: Option<Keys>) -> Result<Self, AppendError> {
        let pieces = split(data, SEGMENT_MAX);
        let keys = match keys {
            Some(k) => piece_keys(&pieces, k)?,
            None => Vec::new(),
        };
        let mut objects = Vec::with_capacity(pieces.len());
        let mut blobs = Vec::with_capacity(pieces.len());
        for piece in &pieces {
            let key = format!(
                "{}/s/{}",
                log.prefix,
                random_id().map_err(StoreError::internal)?
            );
            let (stored, compressed) = codec::encode(piece);
            blobs.push(if compressed {
                format!("{}{key}", codec::TAG)
            } else {
                key.clone()
            });
            objects.push((key, stored));
        }
        if !objects.is_empty() {
            let refs: Vec<(String, &[u8])> =
                objects.iter().map(|(k, v)| (k.clone(), &v[..])).collect();
            log.store.blobs.put_many(&refs)?;
        }
        let mut staged = Staged {
            log: log.clone(),
            pieces,
            keys,
            blobs,
            filters: Vec::new(),
        };
        staged.filters = match log.store_filters(&staged.pieces) {
            Ok(filters) => filters,
            Err(e) => {
                staged.discard();
                return Err(e.into());
            }
        };
        Ok(staged)
    }

    /// The least key it holds.
    fn least(&self) -> Option<u64> {
        self.keys.iter().filter_map(|k| k.min).min()
    }

    /// Deletes the segments: for an append that committed nothing.
    fn discard(&self) {
        for blob in &self.blobs {
            let key = Location::of(blob).object();
            if let Err(e) = self.log.store.blobs.delete(key) {
                eprintln!("left orphan segment {key}: {e}");
            }
        }
        self.log.discard_filters(&self.filters);
    }
}

/// The compare-and-swap that makes staged segments part of the log.
struct Commit<'a, 'd> {
    log: &'a Log,
    data: &'d [u8],
    staged: &'a Staged<'d>,
    /// The idempotency key this request claimed, and when.
    idem: Option<(&'a IdempotencyKey, u64)>,
    keys: Option<Keys>,
    /// The key below which lines were dropped before this attempt.
    behind: Option<u64>,
}

impl Commit<'_, '_> {
    /// Commits, retrying lost races. A write that won but looks lost (see
    /// `kv::update`) is recognised by its first segment where it was put
    /// (an append of no segment, by its receipt in `recent`).
    fn apply(&self) -> Result<Committed, AppendError> {
        let now = now_micros();
        let empty = serde_json::to_vec(&Head::default()).map_err(StoreError::internal)?;
        let mut assigned: Option<Appended> = None;
        update::<_, AppendError>(
            self.log.store.meta.as_ref(),
            &self.log.head_key(),
            Some(&empty),
            COMMIT_ATTEMPTS,
            |current| {
                let mut head = match current {
                    Some(bytes) => head::parse(bytes)?,
                    None => Head::default(),
                };
                if let (Some(done), Some(first)) = (assigned, self.staged.blobs.first())
                    && self.log.lists(&head, done.offset, first)?
                {
                    return Ok(Update::Keep(Committed::Done(Outcome::Appended(done))));
                }
                if let Some(outcome) = self.already_committed(&head)? {
                    return Ok(Update::Keep(Committed::Done(outcome)));
                }
                if let Some(c) = self.keys.and_then(|k| cutoff(&head, k))
                    && self.staged.least().is_some_and(|least| least < c)
                {
                    return Ok(Update::Keep(Committed::Behind(c)));
                }
                let done = self.add(&mut head, now)?;
                let bytes = serde_json::to_vec(&head).map_err(StoreError::internal)?;
                assigned = Some(done);
                Ok(Update::Write(
                    bytes,
                    Committed::Done(Outcome::Appended(done)),
                ))
            },
        )
    }

    /// The outcome when this append must not commit: its key was committed
    /// by another attempt, or its attempt ran past its window (`receipt`).
    fn already_committed(&self, head: &Head) -> Result<Option<Outcome>, AppendError> {
        let Some((idem, began)) = self.idem else {
            return Ok(None);
        };
        let now = now_micros();
        if let Some(r) = idem.recent_in(head, now) {
            return replay(r, idem).map(Some);
        }
        if now >= began.saturating_add(idem.in_flight_us) {
            return Err(AppendError::InProgress {
                retry_after_s: u32::try_from(idem.in_flight_us.div_ceil(1_000_000))
                    .unwrap_or(u32::MAX),
            });
        }
        Ok(None)
    }

    /// Seals full pages, then adds the staged segments to `head` (and this
    /// append's receipt): where they land. Pages are sealed first so that a
    /// page holds committed segments only (see [`Log::seal_pages`]).
    fn add(&self, head: &mut Head, now: u64) -> Result<Appended, AppendError> {
        // Commit times never go back within a log (a writer that read the
        // clock before a racing one committed keeps the later time), so a
        // time seeks like a key.
        let time = now.max(head.mtime);
        self.log.seal_pages(head, time)?;
        let done = Appended {
            offset: head.size,
            bytes: self.data.len() as u64,
            first_line: head.lines,
            lines: memchr::memchr_iter(b'\n', self.data).count() as u64,
            size: head.size + self.data.len() as u64,
            behind: self.behind,
        };
        for (i, (piece, blob)) in self
            .staged
            .pieces
            .iter()
            .zip(&self.staged.blobs)
            .enumerate()
        {
            let newlines = memchr::memchr_iter(b'\n', piece).count() as u64;
            // A keyed log's keys (see `Segment::key`); any other log's
            // commit time in nanoseconds, the time of its lines.
            let (key, min) = match self.staged.keys.get(i) {
                Some(pk) => index_keys(head, *pk),
                None => (Some(time.saturating_mul(1000)), None),
            };
            head.tail.push(Segment {
                blob: blob.clone(),
                offset: head.size,
                line: head.lines,
                len: piece.len() as u64,
                newlines,
                time,
                key,
                min,
                filter: self.staged.filters.get(i).cloned().flatten(),
            });
            head.size += piece.len() as u64;
            head.lines += newlines;
            head.segments += 1;
        }
        head.mtime = time;
        if let Some((idem, began)) = self.idem {
            head.recent.push(Receipt {
                key: idem.key.clone(),
                body: idem.body.clone(),
                done: Some(done),
                time: began,
            });
            self.log
                .drain_receipts(head, RECENT_RECEIPTS, idem.ttl_us, now)?;
        }
        Ok(done)
    }
}

/// The index keys of a keyed piece about to follow `head`'s segments (its
/// `key` and `min`, see [`Segment`]), and `head.last_key` moved past it.
fn index_keys(head: &mut Head, pk: PieceKeys) -> (Option<u64>, Option<u64>) {
    let before = head.last_key;
    let key = match (before, pk.first) {
        (Some(b), Some(f)) => Some(b.max(f)),
        (b, f) => b.or(f),
    };
    let min = pk.min.filter(|m| key.is_some_and(|k| *m < k));
    head.last_key = match (before, pk.max) {
        (Some(b), Some(m)) => Some(b.max(m)),
        (b, m) => b.or(m),
    };
    (key, min)
}

/// Cuts `data` into pieces of at most `max` bytes, on line boundaries where a
/// line fits, so most segments hold whole lines.
pub(super) fn split(data: &[u8], max: usize) -> Vec<&[u8]> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use std::rc::Rc;

    #[test]
    fn a_discarded_stage_takes_its_filters_with_its_segments() {
        let log = Log::new(Rc::new(Store::memory()), "t");
        let data: Vec<u8> = (0..2000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let staged = Staged::store(&log, &data, None).unwrap();
        let ids: Vec<&String> = staged.filters.iter().flatten().collect();
        assert_eq!(ids.len(), 1, "one segment, big enough for a filter");
        let key = format!("t/f/{}", ids[0]);
        assert!(log.store.meta.get(&key).unwrap().is_some(), "stored first");
        staged.discard();
        assert!(log.store.meta.get(&key).unwrap().is_none());
        assert!(log.store.blobs.get(&staged.blobs[0]).unwrap().is_none());
        let small = Staged::store(&log, b"short\n", None).unwrap();
        assert_eq!(small.filters, vec![None], "too small for a filter");
    }
}
