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

mod append;
mod head;
mod pack;
mod snapshot;

pub use append::AppendError;
pub use head::{Appended, Head, IdempotencyKey, Keys, Outcome, PageRef, Receipt, Segment};
pub use pack::{Expired, Location, Packed, Packing};
pub use snapshot::{Line, Snapshot};

use super::Store;
use super::error::StoreResult;
use std::rc::Rc;

/// Largest segment: equal to the blob chunk size, so a segment is one chunk.
pub const SEGMENT_MAX: usize = super::blob::CHUNK_SIZE;
/// Segments per sealed page.
pub const PAGE_SEGMENTS: usize = 128;
/// Idempotency receipts kept in the head, covering retries that race the commit.
const RECENT_RECEIPTS: usize = 32;
/// Lost compare-and-swap races tolerated before answering 503.
const COMMIT_ATTEMPTS: u32 = 100;

/// One log, addressed by its key prefix.
#[derive(Clone)]
pub struct Log {
    pub(super) store: Rc<Store>,
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

    pub(super) fn head_key(&self) -> String {
        format!("{}/head", self.prefix)
    }

    pub(super) fn page_key(&self, n: usize) -> String {
        format!("{}/p/{n}", self.prefix)
    }

    pub(super) fn receipt_key(&self, key_digest: &str) -> String {
        format!("{}/r/{key_digest}", self.prefix)
    }

    pub fn head(&self) -> StoreResult<Option<Head>> {
        match self.store.meta.get(&self.head_key())? {
            None => Ok(None),
            Some(bytes) => head::parse(&bytes).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::append::split;
    use super::*;
    use crate::store::kv::MemoryKv;
    use crate::store::kv::misreporting::Misreporting;
    use std::cell::Cell;

    #[test]
    fn a_swap_that_wrote_but_says_it_did_not_appends_once() {
        let meta = std::sync::Arc::new(MemoryKv::new());
        let kv = Misreporting {
            inner: meta.clone(),
            rival: Cell::new(None),
        };
        let store = Rc::new(Store::new(Box::new(kv), Box::new(MemoryKv::new())));
        let log = Log::new(store, "t");
        for i in 0..3 {
            log.append(format!("line {i}\n").as_bytes(), None).unwrap();
        }
        let head = log.head().unwrap().unwrap();
        assert_eq!((head.lines, head.segments), (3, 3), "each append once");
    }

    #[test]
    fn a_write_that_won_and_was_overwritten_at_once_is_not_repeated() {
        let meta = std::sync::Arc::new(MemoryKv::new());
        let blobs = std::sync::Arc::new(MemoryKv::new());
        let plain = Rc::new(Store::new(Box::new(meta.clone()), Box::new(blobs.clone())));
        let rival_log = Log::new(plain, "t");
        let kv = Misreporting {
            inner: meta.clone(),
            rival: Cell::new(None),
        };
        kv.rival.set(Some(Box::new(move || {
            rival_log.append(b"rival\n", None).unwrap();
        })));
        let store = Rc::new(Store::new(Box::new(kv), Box::new(blobs)));
        let log = Log::new(store, "t");
        log.append(b"mine\n", None).unwrap();
        let snap = Rc::new(log.snapshot().unwrap().unwrap());
        let text: Vec<u8> = snap
            .clone()
            .read(0, snap.size())
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .concat();
        assert_eq!(text, b"mine\nrival\n");
    }

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
        assert_eq!(err, AppendError::KeyReused);
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
