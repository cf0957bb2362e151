//! The head of a log and the records it is made of: what one compare-and-swap
//! commits. Its idempotency receipts are [`super::receipt`]'s.

use super::receipt::Receipt;
use crate::store::error::{StoreError, StoreResult};
use crate::util::ids::digest;
use serde::{Deserialize, Serialize};

/// The one mutable record of a log, at `<prefix>/head`: its size, its index
/// (sealed pages, unsealed segments) and recent receipts. Every append and
/// every expiry is a compare-and-swap of it (packing rewrites pages, not it).
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
    /// The receipts of the newest idempotent appends (see `receipt`).
    #[serde(default)]
    pub recent: Vec<Receipt>,
    /// Receipts pushed out of `recent` so far: the next ledger number.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub receipts_numbered: u64,
    /// Ledger entries swept (expired receipts deleted) so far.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub receipts_swept: u64,
    /// Sealed pages expired by retention (the first `expired_pages` pages).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub expired_pages: usize,
    /// The first line still readable once pages expired: a line boundary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retained: Option<PageRef>,
    /// The greatest ordering key appended (see [`Keys`]): what an append's
    /// window is measured from, checked and moved in the same
    /// compare-and-swap that commits the bytes, so racing writers agree on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_key: Option<u64>,
}

/// How a keyed log's appends are ordered (a stream's entry timestamps).
///
/// Every line of a keyed log starts with its key. Within one append the
/// keys never decrease; across appends a key may be below keys already
/// stored (an entry that arrives late), by at most `window` below the
/// greatest key stored when it commits: lines further behind are dropped
/// and the outcome says below which key ([`Appended::behind`]), as Loki
/// drops an entry "too far behind". The index records, per segment and per
/// page, a key no earlier line exceeds and the smallest key inside (see
/// [`Segment::key`], [`Segment::min`]), so the log's own index turns a time
/// range into a byte range without a second index to keep in step, and a
/// reader can tell where nothing further can be in its range.
#[derive(Clone, Copy)]
pub struct Keys {
    /// The key a line starts with (the line without its newline).
    pub of_line: fn(&[u8]) -> Option<u64>,
    /// How far below the greatest stored key an appended key may be; 0
    /// keeps the log in key order.
    pub window: u64,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// Where a sealed page (or the retained part of a log) begins: what finding
/// a byte or a line needs without reading the page.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct PageRef {
    /// Byte offset of its first byte in the log.
    pub offset: u64,
    /// Newlines in the log before it (so the line its first byte is in).
    pub line: u64,
    /// The first segment's [`Segment::key`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<u64>,
    /// The smallest [`Segment::min`] of the page, when below `key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    /// The commit time of the append that sealed it, µs (pages sealed
    /// before this was recorded: see [`Log::sealed_at`](super::Log::sealed_at)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<u64>,
}

impl PageRef {
    /// The smallest key in the page.
    pub fn least(&self) -> Option<u64> {
        self.min.or(self.key)
    }
}

/// One append's bytes (or a part of them, at most `SEGMENT_MAX`), immutable
/// once written: an index entry, in the head's `tail` or in a sealed page.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Segment {
    /// Blob key of the bytes.
    pub blob: String,
    /// Byte offset of the first byte in the log.
    pub offset: u64,
    /// Newlines in the log before this segment.
    pub line: u64,
    /// Its size in bytes.
    pub len: u64,
    /// Newlines inside this segment.
    pub newlines: u64,
    /// When it was committed, microseconds since the epoch: the time of every
    /// line that ends in it (appends carry no per-line clock).
    #[serde(default)]
    pub time: u64,
    /// In a keyed log, its first line's key or, when that line came late,
    /// the greatest key before it: no line before the segment has a greater
    /// key, and keys of successive segments never decrease, so a binary
    /// search finds where a time begins. In any other log, the commit time
    /// in nanoseconds (the time of every line in it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<u64>,
    /// In a keyed log, the smallest key in the segment, when below `key`
    /// (it holds late entries): where a time range may still end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    /// The id of its trigram filter (see `filter`), stored at
    /// `<prefix>/f/<id>` in the metadata store before the segment is
    /// committed. None for a segment too small for one or written before
    /// filters existed: such a segment is read by every search, as is one
    /// whose filter is missing or unreadable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

impl Segment {
    /// The smallest key in the segment (its lines are in key order, so
    /// without late entries that is its first).
    pub fn least(&self) -> Option<u64> {
        self.min.or(self.key)
    }
}

/// What one append did: where its bytes landed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Byte offset of the first appended byte.
    pub offset: u64,
    /// Bytes appended (after any dropped for being behind).
    pub bytes: u64,
    /// Line number (0-based) of the first appended line.
    pub first_line: u64,
    /// Lines appended: every append ends on a newline, so whole lines.
    pub lines: u64,
    /// Size of the log after this append.
    pub size: u64,
    /// In a keyed append, the key below which lines were dropped for being
    /// more than the window behind the log's greatest key (none: all kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behind: Option<u64>,
}

/// What an append answers: written now, or found written by an earlier
/// attempt with the same idempotency key (the same placement either way;
/// ingest adds `Idempotent-Replayed: true` to a replay).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The bytes were committed by this request.
    Appended(Appended),
    /// The same idempotency key and body were appended before: nothing written.
    Replayed(Appended),
}

impl Outcome {
    /// Where the bytes are, whichever attempt wrote them.
    pub fn appended(&self) -> &Appended {
        match self {
            Outcome::Appended(a) | Outcome::Replayed(a) => a,
        }
    }
}

/// A request's idempotency key and a digest of its body, hashed so receipts
/// are small and keys of any shape are safe in key names, with how long the
/// key is remembered.
pub struct IdempotencyKey {
    pub(super) key: String,
    pub(super) body: String,
    /// How long after its first attempt a key is remembered, in µs.
    pub(super) ttl_us: u64,
    /// How long an attempt may take to commit, in µs (see `receipt`).
    pub(super) in_flight_us: u64,
}

/// How long an attempt may take from its pending receipt to its commit:
/// longer than any append takes (an 8 MiB body to S3 included), short enough
/// that a retry after a crash waits at most twice this.
pub const IN_FLIGHT_US: u64 = 30_000_000;

impl IdempotencyKey {
    /// `key` as the client sent it, `body` the request body as sent (not as
    /// normalized: a server-filled timestamp must not make a retry differ),
    /// remembered for `ttl_s` seconds.
    pub fn new(key: &str, body: &[u8], ttl_s: u64) -> Self {
        Self {
            key: digest(key.as_bytes()),
            body: digest(body),
            ttl_us: ttl_s.saturating_mul(1_000_000),
            in_flight_us: IN_FLIGHT_US,
        }
    }

    /// The same, with another commit window (`idempotency_in_flight_ms`).
    pub fn in_flight(mut self, us: u64) -> Self {
        self.in_flight_us = us;
        self
    }
}

pub(super) fn parse(bytes: &[u8]) -> StoreResult<Head> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::internal(format!("log head: {e}")))
}
