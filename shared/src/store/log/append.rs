//! Appending: write new segments where nobody looks, then commit them with one
//! compare-and-swap of the head (see the module above for why this is safe).
//!
//! An append is four steps, each its own function: [`Log::claim`] an
//! idempotency key (`receipt`), [`Staged::store`] the bytes as unreferenced
//! segments, [`Commit::apply`] them to the head, and settle the receipt (or
//! [`Staged::discard`] the segments when nothing was committed).

use super::head::{self, Appended, Head, IdempotencyKey, Keys, Outcome, PageRef, Segment};
use super::receipt::{AppendError, Claim, Receipt, replay};
use super::{COMMIT_ATTEMPTS, Log, PAGE_SEGMENTS, RECENT_RECEIPTS, SEGMENT_MAX};
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

    /// Appends to a keyed log: refused with [`AppendError::OutOfOrder`],
    /// storing nothing, when `keys.first` is below a key already appended.
    pub fn append_keyed(
        &self,
        data: &[u8],
        idem: Option<&IdempotencyKey>,
        keys: Option<Keys>,
    ) -> Result<Outcome, AppendError> {
        if data.is_empty() || data.last() != Some(&b'\n') {
            return Err(StoreError::internal("append of data not ending in a newline").into());
        }
        let claimed = match idem {
            Some(idem) => match self.claim(idem, self.head()?.as_ref())? {
                Claim::Replay(done) => return Ok(Outcome::Replayed(done)),
                Claim::Ours { time } => Some((idem, time)),
            },
            None => None,
        };
        let staged = Staged::store(self, data)?;
        let commit = Commit {
            log: self,
            data,
            staged: &staged,
            idem: claimed,
            keys,
        };
        match commit.apply() {
            Ok(Outcome::Appended(done)) => {
                if let Some((idem, time)) = claimed {
                    self.settle(idem, time, done)?;
                }
                Ok(Outcome::Appended(done))
            }
            // The store failed, perhaps after the commit was written (its
            // read-back failing): the segments may be referenced, so they
            // stay; at worst they are orphans.
            Err(e @ AppendError::Store(_)) => Err(e),
            // Replayed or refused before anything was written: our segments
            // are referenced by nobody.
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

    /// Moves full pages out of the head. Page `n` always holds segments
    /// `n*P..(n+1)*P`, which never change once committed, so a writer that loses
    /// the race after writing a page wrote exactly what the winner wrote.
    fn seal_pages(&self, head: &mut Head) -> Result<(), StoreError> {
        while head.tail.len() > PAGE_SEGMENTS {
            let page: Vec<Segment> = head.tail.drain(..PAGE_SEGMENTS).collect();
            let bytes = serde_json::to_vec(&page).map_err(StoreError::internal)?;
            self.store
                .meta
                .set(&self.page_key(head.pages.len()), &bytes)?;
            head.pages.push(PageRef {
                offset: page[0].offset,
                line: page[0].line,
                key: page[0].key,
            });
        }
        Ok(())
    }
}

/// An append's bytes, stored as segments no head lists yet.
struct Staged<'d> {
    log: Log,
    pieces: Vec<&'d [u8]>,
    blobs: Vec<String>,
}

impl<'d> Staged<'d> {
    /// Cuts `data` into segments and stores each under a fresh key.
    fn store(log: &Log, data: &'d [u8]) -> Result<Self, AppendError> {
        let pieces = split(data, SEGMENT_MAX);
        let objects = pieces
            .iter()
            .map(|piece| Ok((format!("{}/s/{}", log.prefix, random_id()?), *piece)))
            .collect::<Result<Vec<(String, &[u8])>, StoreError>>()?;
        log.store.blobs.put_many(&objects)?;
        Ok(Staged {
            log: log.clone(),
            pieces,
            blobs: objects.into_iter().map(|(k, _)| k).collect(),
        })
    }

    /// Deletes the segments: for an append that committed nothing.
    fn discard(&self) {
        for key in &self.blobs {
            if let Err(e) = self.log.store.blobs.delete(key) {
                eprintln!("left orphan segment {key}: {e}");
            }
        }
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
}

impl Commit<'_, '_> {
    /// Commits, retrying lost races. A write that won but looks lost (see
    /// `kv::update`) is recognised by its first segment where it was put.
    fn apply(&self) -> Result<Outcome, AppendError> {
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
                if let Some(done) = assigned
                    && self.log.lists(&head, done.offset, &self.staged.blobs[0])?
                {
                    return Ok(Update::Keep(Outcome::Appended(done)));
                }
                if let Some(outcome) = self.already_committed(&head)? {
                    return Ok(Update::Keep(outcome));
                }
                let done = self.add(&mut head, now)?;
                let bytes = serde_json::to_vec(&head).map_err(StoreError::internal)?;
                assigned = Some(done);
                Ok(Update::Write(bytes, Outcome::Appended(done)))
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

    /// Adds the staged segments to `head` (and this append's receipt, and
    /// seals full pages): where they land.
    fn add(&self, head: &mut Head, now: u64) -> Result<Appended, AppendError> {
        if let Some(keys) = self.keys {
            if let Some(last) = head.last_key
                && keys.first < last
            {
                return Err(AppendError::OutOfOrder { last });
            }
            head.last_key = Some(head.last_key.unwrap_or(0).max(keys.last));
        }
        // Commit times never go back within a log (a writer that read the
        // clock before a racing one committed keeps the later time), so a
        // time seeks like a key.
        let time = now.max(head.mtime);
        let done = Appended {
            offset: head.size,
            bytes: self.data.len() as u64,
            first_line: head.lines,
            lines: memchr::memchr_iter(b'\n', self.data).count() as u64,
            size: head.size + self.data.len() as u64,
        };
        for (piece, blob) in self.staged.pieces.iter().zip(&self.staged.blobs) {
            let newlines = memchr::memchr_iter(b'\n', piece).count() as u64;
            head.tail.push(Segment {
                blob: blob.clone(),
                offset: head.size,
                line: head.lines,
                len: piece.len() as u64,
                newlines,
                time,
                // A keyed log's first key; any other log's commit time in
                // nanoseconds, the time of its lines.
                key: match self.keys {
                    Some(k) => (k.of_piece)(piece),
                    None => Some(time.saturating_mul(1000)),
                },
            });
            head.size += piece.len() as u64;
            head.lines += newlines;
            head.segments += 1;
        }
        head.mtime = time;
        self.log.seal_pages(head)?;
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
