//! Append-only line logs with an index: what task files and the journal are made of.
//!
//! A log is a sequence of immutable *segments* (each at most [`SEGMENT_MAX`]
//! bytes, one blob each) plus a small *head* in the key-value store:
//!
//! ```text
//! <prefix>/head      size, line count, directory of sealed pages, the newest
//!                    segments (`tail`), recent idempotency receipts
//! <prefix>/p/<n>     sealed page n: [`PAGE_SEGMENTS`] segment entries, immutable
//! <prefix>/r/<hash>  idempotency receipt: pending, then done (see [`receipt`])
//! <prefix>/rs/<n>    the n-th receipt pushed out of the head, until it expires
//! <prefix>/s/<rand>  segment bytes (in the blob store), one gzip member when
//!                    that pays (the index then names it `@z/<key>`, see [`codec`])
//! <prefix>/f/<rand>  a segment's trigram filter (see [`filter`]), written
//!                    with its bytes, deleted when its page expires
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
//!
//! **Keyed logs: order, and what late lines may do.** A keyed log ([`Keys`],
//! a labelled stream keyed by entry timestamps) is append-only like any
//! other, so positions (offsets, lines, cursors) never change meaning; only
//! the keys need not follow the positions. The contract:
//!
//! 1. *Within one append* keys never decrease (the writer sorts its batch;
//!    an append out of order is refused whole). A segment holds one append's
//!    lines, so every segment is in key order.
//! 2. *Across appends* a key may be below keys already stored, by at most
//!    the append's window below the greatest key the head records when it
//!    commits (`Head::last_key`, moved by the same compare-and-swap). Lines
//!    further behind are dropped, the rest stored, and [`Appended::behind`]
//!    says below which key (Loki's "entry too far behind"). The check and
//!    the commit are one swap, so racing writers cannot slip a line past it.
//! 3. *The index bounds keys both ways.* Each segment records a `key` that
//!    no earlier line exceeds (its first line's key, or the greatest key
//!    before it when that line came late), non-decreasing along the log,
//!    and, when it holds late lines, its smallest key (`min`); each page
//!    records its first segment's `key` and its smallest key. So:
//!    [`Snapshot::key_start`] (where keys `>= t` may begin) is a binary
//!    search, [`Snapshot::key_end`] (where keys `<= t` surely end) a search
//!    of the head's lists from the end plus one page, and a reader at any
//!    segment boundary knows the least key still ahead
//!    ([`Snapshot::least_from`]) and the greatest behind
//!    ([`Snapshot::greatest_before`]) without reading a byte, which is how a
//!    search stops early without assuming the whole log is sorted.
//! 4. *Readers order by (key, position)*, never by position alone: a time
//!    range is the byte range above, filtered line by line, and a cursor is a
//!    key, a stream and an offset, exact whatever the arrival order. A log
//!    without late lines indexes exactly as before (no `min` is written), and
//!    logs written before late lines were accepted read unchanged.

mod append;
mod codec;
pub mod filter;
mod head;
mod pack;
pub mod receipt;
mod snapshot;

pub use head::{Appended, Head, IN_FLIGHT_US, IdempotencyKey, Keys, Outcome, PageRef, Segment};
pub use pack::{Expired, Location, Packed, Packing};
pub use receipt::{AppendError, Receipt};
pub use snapshot::{Body, Line, Piece, Snapshot};

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
    /// The log under `prefix` in `store`; nothing is read or written until
    /// it is used, and a log never appended to reads as absent.
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

    /// The head as stored now (`None`: nothing was ever appended); an
    /// unreadable head is an internal error, never an empty log.
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

    /// A commit seals only segments committed before it: were its own in a
    /// page it writes before its swap, a writer that lost the race could
    /// overwrite the winner's page with segments never committed.
    #[test]
    fn a_page_is_sealed_from_committed_segments_only() {
        let log = log();
        let mut whole = Vec::new();
        for i in 0..PAGE_SEGMENTS - 1 {
            let line = format!("line {i}\n");
            log.append(line.as_bytes(), None).unwrap();
            whole.extend_from_slice(line.as_bytes());
        }
        let big = lines(0..200_000); // several segments
        log.append(&big, None).unwrap();
        whole.extend_from_slice(&big);
        let snap = log.snapshot().unwrap().unwrap();
        assert!(snap.head().tail.len() > PAGE_SEGMENTS, "all in the tail");
        assert!(snap.head().pages.is_empty());
        log.append(b"next\n", None).unwrap();
        whole.extend_from_slice(b"next\n");
        let snap = log.snapshot().unwrap().unwrap();
        assert_eq!(snap.head().pages.len(), 1, "sealed by the next commit");
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
    fn segment_starts_that_are_line_boundaries_come_from_the_index() {
        let log = log();
        let data = lines(0..200_000); // ~2.2 MB: five segments
        log.append(&data, None).unwrap();
        let mut long = vec![b'L'; SEGMENT_MAX * 2 + 3];
        long.push(b'\n');
        log.append(&long, None).unwrap();
        log.append(b"short\n", None).unwrap();
        let snap = log.snapshot().unwrap().unwrap();
        let starts: Vec<u64> = snap.head().tail.iter().map(|s| s.offset).collect();
        let (second, long_at) = (starts[1], data.len() as u64);
        let boundary = |start, limit| snap.segment_line_boundary(start, limit).unwrap();
        // The last segment start inside the limit, a line boundary.
        assert_eq!(boundary(0, second + 10), Some(second));
        assert_eq!(boundary(0, second), Some(second));
        assert_eq!(
            snap.line_start(snap.line_at(second).unwrap()).unwrap(),
            second
        );
        assert_eq!(boundary(0, long_at + 1), Some(long_at));
        // None inside the segment the read starts in.
        assert_eq!(boundary(second, second + 10), None);
        assert_eq!(boundary(0, second - 1), None);
        // Segments of one long line end inside it: no boundary there.
        assert_eq!(boundary(long_at, long_at + SEGMENT_MAX as u64 + 5), None);
        assert_eq!(
            boundary(long_at, long_at + 2 * SEGMENT_MAX as u64 + 1),
            None
        );
        let short_at = long_at + long.len() as u64;
        assert_eq!(boundary(long_at, short_at + 1), Some(short_at));
        assert_eq!(boundary(long_at, u64::MAX), Some(snap.size()));
    }

    const DAY: u64 = 86_400;

    #[test]
    fn idempotent_retries_append_once() {
        let log = log();
        let key = IdempotencyKey::new("req-1", b"x\n", DAY);
        let first = log.append(b"x\n", Some(&key)).unwrap();
        let again = log.append(b"x\n", Some(&key)).unwrap();
        assert!(matches!(first, Outcome::Appended(_)));
        assert_eq!(again, Outcome::Replayed(*first.appended()));
        assert_eq!(log.head().unwrap().unwrap().size, 2);
        let other = IdempotencyKey::new("req-1", b"y\n", DAY);
        let err = log.append(b"y\n", Some(&other)).unwrap_err();
        assert_eq!(err, AppendError::KeyReused);
    }

    /// A log over a store that dies at the first operation `rule` names,
    /// and a healthy handle on the same data for what happens after.
    fn crashing(rule: crate::store::kv::faulty::Rule) -> (Log, Log) {
        let meta = std::sync::Arc::new(MemoryKv::new());
        let blobs = std::sync::Arc::new(MemoryKv::new());
        let faulty = crate::store::kv::faulty::Faulty::new(meta.clone(), rule);
        let dying = Rc::new(Store::new(Box::new(faulty), Box::new(blobs.clone())));
        let healthy = Rc::new(Store::new(Box::new(meta), Box::new(blobs)));
        (Log::new(dying, "t"), Log::new(healthy, "t"))
    }

    /// Issue 26's duplicate: the attempt dies between the commit and its
    /// receipt, more than `recent` holds of other appends land, and the
    /// retry must still replay instead of appending again.
    #[test]
    fn a_crash_between_commit_and_receipt_then_many_appends_then_the_retry_appends_once() {
        let committed = Cell::new(false);
        let (dying, log) = crashing(Box::new(move |op, key| {
            // The receipt's done write, after the head's swap.
            let after_commit = committed.get() && op == "set" && key.contains("/r/");
            if op == "swap" && key.ends_with("/head") {
                committed.set(true);
            }
            after_commit
        }));
        let key = IdempotencyKey::new("w1-7", b"one\ntwo\n", DAY);
        assert!(dying.append(b"one\ntwo\n", Some(&key)).is_err());
        for i in 0..(RECENT_RECEIPTS * 2 + 5) {
            let k = IdempotencyKey::new(&format!("other-{i}"), b"x\n", DAY);
            log.append(b"x\n", Some(&k)).unwrap();
        }
        let retry = log.append(b"one\ntwo\n", Some(&key)).unwrap();
        assert!(matches!(retry, Outcome::Replayed(_)), "{retry:?}");
        assert_eq!(retry.appended().offset, 0);
        let text = read_all(&log, 0, u64::MAX);
        let ours = text.windows(8).filter(|w| *w == b"one\ntwo\n").count();
        assert_eq!(ours, 1, "stored once");
    }

    /// Every point of an append at which the instance may die: before the
    /// segments, after them, at the commit, after it, at the receipt. The
    /// retry (after the attempt's window) stores the lines exactly once.
    #[test]
    fn a_crash_at_any_point_then_a_retry_stores_once() {
        let points: [(&str, &str); 6] = [
            ("set", "/r/"), // the pending receipt (after its placeholder)
            ("increment", "#born"),
            ("get", "/head"),    // reading the head to commit
            ("swap", "/head"),   // the commit itself
            ("set", "/p/"),      // never reached for a small log: no fault
            ("delete", "/none"), // never: the append completes
        ];
        for (op, part) in points {
            for n in 0..3u32 {
                let seen = Cell::new(0u32);
                let (dying, log) = crashing(Box::new(move |o, k| {
                    let hit = o == op && k.contains(part);
                    if hit {
                        seen.set(seen.get() + 1);
                    }
                    hit && seen.get() > n
                }));
                log.append(b"before\n", None).unwrap();
                let key = IdempotencyKey::new("k", b"mine\n", DAY).in_flight(20_000);
                let first = dying.append(b"mine\n", Some(&key));
                std::thread::sleep(std::time::Duration::from_millis(45));
                let retry = log
                    .append(b"mine\n", Some(&key))
                    .unwrap_or_else(|e| panic!("{op} {part} #{n}: {first:?} then {e:?}"));
                if let Ok(first) = first {
                    assert_eq!(retry.appended(), first.appended(), "{op} {part} {n}");
                }
                let text = read_all(&log, 0, u64::MAX);
                assert_eq!(text, b"before\nmine\n", "{op} {part} #{n}: {retry:?}");
            }
        }
    }

    #[test]
    fn a_retry_while_the_first_attempt_may_still_commit_is_told_to_wait() {
        let log = log();
        let key = IdempotencyKey::new("k", b"a\n", DAY);
        // An attempt that claimed the key and is still running.
        log.claim(&key, None).ok();
        match log.append(b"a\n", Some(&key)) {
            Err(AppendError::InProgress { retry_after_s }) => assert!(retry_after_s >= 1),
            other => panic!("{other:?}"),
        }
        assert_eq!(log.head().unwrap(), None, "nothing appended");
    }

    #[test]
    fn keys_are_forgotten_after_their_time_and_their_receipts_swept() {
        let log = log();
        let old = IdempotencyKey::new("old", b"a\n", 0);
        log.append(b"a\n", Some(&old)).unwrap();
        // Past its time (0 s): the same key appends again.
        let again = log.append(b"a\n", Some(&old)).unwrap();
        assert!(matches!(again, Outcome::Appended(_)));
        for i in 0..(RECENT_RECEIPTS + 4) {
            let k = IdempotencyKey::new(&format!("k{i}"), b"x\n", 0);
            log.append(b"x\n", Some(&k)).unwrap();
        }
        let head = log.head().unwrap().unwrap();
        assert!(head.receipts_numbered >= 4, "{}", head.receipts_numbered);
        assert!(head.receipts_swept >= 2, "expired entries are swept");
        let swept = (0..head.receipts_swept)
            .all(|n| log.store.meta.get(&format!("t/rs/{n}")).unwrap().is_none());
        assert!(swept);
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
