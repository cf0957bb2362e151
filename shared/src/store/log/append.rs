//! Appending: write new segments where nobody looks, then commit them with one
//! compare-and-swap of the head (see the module above for why this is safe).

use super::head::{self, Appended, Head, IdempotencyKey, Keys, Outcome, PageRef, Receipt, Segment};
use super::{COMMIT_ATTEMPTS, Log, PAGE_SEGMENTS, RECENT_RECEIPTS, SEGMENT_MAX};
use crate::store::error::{StoreError, StoreResult};
use crate::store::kv::{Update, update};
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
        if let Some(idem) = idem
            && let Some(bytes) = self.store.meta.get(&self.receipt_key(&idem.key))?
        {
            let receipt: Receipt = serde_json::from_slice(&bytes)
                .map_err(|e| StoreError::internal(format!("receipt: {e}")))?;
            return replay(&receipt, idem);
        }

        let pieces = split(data, SEGMENT_MAX);
        let objects = pieces
            .iter()
            .map(|piece| Ok((format!("{}/s/{}", self.prefix, random_id()?), *piece)))
            .collect::<Result<Vec<(String, &[u8])>, StoreError>>()?;
        self.store.blobs.put_many(&objects)?;
        let blobs: Vec<String> = objects.into_iter().map(|(k, _)| k).collect();

        let now = crate::util::clock::now_micros();
        let empty = serde_json::to_vec(&Head::default()).map_err(StoreError::internal)?;
        // Where the last attempt put our segments: a write that won but looks
        // lost (see `kv::update`) is recognised by its first segment there.
        let mut assigned: Option<Appended> = None;
        let outcome = update::<_, AppendError>(
            self.store.meta.as_ref(),
            &self.head_key(),
            Some(&empty),
            COMMIT_ATTEMPTS,
            |current| {
                let mut head = match current {
                    Some(bytes) => head::parse(bytes)?,
                    None => Head::default(),
                };
                if let Some(done) = assigned
                    && self.lists(&head, done.offset, &blobs[0])?
                {
                    return Ok(Update::Keep(Outcome::Appended(done)));
                }
                if let Some(idem) = idem
                    && let Some(r) = head.recent.iter().find(|r| r.key == idem.key)
                {
                    return Ok(Update::Keep(replay(r, idem)?));
                }
                if let Some(keys) = keys {
                    if let Some(last) = head.last_key
                        && keys.first < last
                    {
                        return Err(AppendError::OutOfOrder { last });
                    }
                    head.last_key = Some(head.last_key.unwrap_or(0).max(keys.last));
                }
                // Commit times never go back within a log (a writer that
                // read the clock before a racing one committed keeps the
                // later time), so a time seeks like a key.
                let time = now.max(head.mtime);
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
                        time,
                        // A keyed log's first key; any other log's commit
                        // time in nanoseconds, the time of its lines.
                        key: match keys {
                            Some(k) => (k.of_piece)(piece),
                            None => Some(time.saturating_mul(1000)),
                        },
                    });
                    head.size += piece.len() as u64;
                    head.lines += newlines;
                    head.segments += 1;
                }
                head.mtime = time;
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
                let bytes = serde_json::to_vec(&head).map_err(StoreError::internal)?;
                assigned = Some(done);
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
                    let bytes = serde_json::to_vec(&receipt).map_err(StoreError::internal)?;
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

fn replay(receipt: &Receipt, idem: &IdempotencyKey) -> Result<Outcome, AppendError> {
    if receipt.body != idem.body {
        return Err(AppendError::KeyReused);
    }
    Ok(Outcome::Replayed(receipt.done))
}

/// Why an append stored nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendError {
    Store(StoreError),
    /// The idempotency key was used before with a different body: the client
    /// reused a key, so neither body can be assumed to be the one meant.
    KeyReused,
    /// A keyed append whose first key is below `last`, the greatest key the
    /// log holds.
    OutOfOrder {
        last: u64,
    },
}

impl From<StoreError> for AppendError {
    fn from(e: StoreError) -> Self {
        AppendError::Store(e)
    }
}

impl From<crate::store::kv::KvError> for AppendError {
    fn from(e: crate::store::kv::KvError) -> Self {
        AppendError::Store(e.into())
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
