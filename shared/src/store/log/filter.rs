//! Per-segment trigram filters: what lets a search for a rare string skip
//! the segments that cannot hold it without reading their bytes.
//!
//! **Contract.** A filter answers "may this segment contain `needle`?" for
//! any needle of at least [`MIN_NEEDLE`] bytes. *No* is always right (never
//! a false negative: every trigram of the segment's bytes is in it); *yes*
//! may be wrong (a false positive costs one segment read, as without a
//! filter). Needles shorter than a trigram are never asked about. The
//! filter is built over the segment's stored bytes, byte for byte: a needle
//! is asked about in its stored spelling (a stream's escaping), and case
//! matters (case-insensitive searches have no required literal, so they
//! never consult it). A needle that straddles two segments (only possible
//! inside a line longer than a segment) is not in either's filter, and
//! neither is it found by the scan, which searches each segment apart.
//!
//! **What it is.** A Bloom filter with one hash function of every distinct
//! 3-byte window of the segment: a bitmap of `m` bits (a power of two), bit
//! `h(t) mod m` set for each trigram `t`. One hash keeps both building (one
//! multiply and one bit set per byte, so it costs little next to the rest
//! of an append) and asking (one bit per trigram of the needle) cheap, and
//! a needle of `q` absent trigrams passes only with probability `fill^q`.
//!
//! **Size.** The bitmap starts at 1 bit per [`BYTES_PER_BIT`] bytes of the
//! segment (rounded down to a power of two: at most ~3% of its bytes) and
//! is folded in half (the two halves OR-ed, which keeps every trigram's
//! bit) while the result stays at most [`FOLD_FILL`] full, so a repetitive
//! segment costs less. Measured on the Kubernetes-like lines of
//! `tests/benches/loki.rs` (a 42 KB segment holds ~3,700 distinct
//! trigrams): 8,192 bits (1 KiB, 2.4% of the bytes), ~36% of them set, so a
//! needle with six absent trigrams passes ~0.2% of segments. Segments under
//! [`MIN_SEGMENT`] bytes get none: their filter would be a large share of
//! their size, and reading them costs little.
//!
//! Hand-written rather than a Bloom crate: it is ~60 lines, needs the
//! rolling trigram and the fold (which the crates lack: they hash whole
//! items with SipHash and size for an item count known up front), and its
//! stored form must never change under us.
//!
//! **Stored form.** `[VERSION, log2(m)]` then the `m / 8` bytes of the
//! bitmap. Anything else (another version, a wrong length) reads as "may
//! contain", so a reader never skips a segment on a filter it cannot read.

/// Segments shorter than this get no filter.
pub const MIN_SEGMENT: usize = 4096;
/// Bytes of segment per bit of filter, at most.
pub const BYTES_PER_BIT: usize = 4;
/// Folding stops before the bitmap gets fuller than this.
pub const FOLD_FILL: f64 = 0.4;
/// The shortest needle a filter can answer for: one trigram.
pub const MIN_NEEDLE: usize = 3;
use super::Log;
use super::head::Segment;
use crate::store::error::StoreResult;
use crate::util::ids::random_id;
use std::cell::Cell;
use std::rc::Rc;

/// The smallest bitmap: 512 bits.
const MIN_LOG2: u32 = 9;
/// The stored form's version byte.
const VERSION: u8 = 1;

/// The bit of trigram `t` (the low 24 bits: three bytes, first byte
/// highest), below `mask + 1`: a multiplicative hash, the high half of the
/// product (whose low bits mix every bit of `t`).
fn bit(t: u32, mask: usize) -> usize {
    (((t as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize) & mask
}

/// Eight bytes, each 0 or 1, as the bits of one byte (byte `j`: bit `j`).
fn pack(eight: &[u8]) -> u8 {
    let mut x = [0u8; 8];
    x.copy_from_slice(eight);
    (u64::from_le_bytes(x).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u8
}

/// Builds the stored filter of `bytes`; `None` when too short for one.
pub fn build(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.len() < MIN_SEGMENT {
        return None;
    }
    let bits = 1usize << (bytes.len() / BYTES_PER_BIT).max(1 << MIN_LOG2).ilog2();
    let mask = bits - 1;
    // A byte per bit while building (a plain store, no read-modify-write),
    // and four trigrams from each 4-byte read, independent work the CPU
    // overlaps: twice as fast as setting one bit after another. The four
    // are written out rather than looped over: at opt-level "s" the loop
    // kept them in a stack array, and ingest ran at 45.1 MB/s with filters
    // against 54.4 without (tests/benches/perf.rs, store row, test host).
    let mut map = vec![0u8; bits];
    let mut t = u32::from(bytes[0]) << 8 | u32::from(bytes[1]);
    let mut quads = bytes[2..].chunks_exact(4);
    for q in &mut quads {
        let x = u32::from_be_bytes([q[0], q[1], q[2], q[3]]);
        map[bit((t << 8 | x >> 24) & 0xFF_FFFF, mask)] = 1;
        map[bit((t << 16 | x >> 16) & 0xFF_FFFF, mask)] = 1;
        map[bit(x >> 8, mask)] = 1;
        map[bit(x & 0xFF_FFFF, mask)] = 1;
        t = x;
    }
    for &b in quads.remainder() {
        t = (t << 8 | u32::from(b)) & 0xFF_FFFF;
        map[bit(t, mask)] = 1;
    }
    // Eight 0/1 bytes to one byte, byte j to bit j: the multiply moves
    // each byte's bit to the top byte (checked for all 256 patterns in the
    // tests).
    let mut bitmap: Vec<u8> = map.chunks_exact(8).map(pack).collect();
    // Folding keeps bit `i mod m/2` for every bit `i`, and `bit` masks the
    // same hash, so what is asked at the smaller size is what was set.
    while bitmap.len() > (1 << MIN_LOG2) / 8 {
        let half = bitmap.len() / 2;
        let folded: Vec<u8> = (0..half).map(|i| bitmap[i] | bitmap[i + half]).collect();
        let set: u32 = folded.iter().map(|b| b.count_ones()).sum();
        if f64::from(set) > FOLD_FILL * (half * 8) as f64 {
            break;
        }
        bitmap = folded;
    }
    let mut out = Vec::with_capacity(2 + bitmap.len());
    out.push(VERSION);
    out.push((bitmap.len() * 8).ilog2() as u8);
    out.extend_from_slice(&bitmap);
    Some(out)
}

/// What a search asks the filters: the trigrams of each needle it requires
/// (every one of them must be in a segment that may match), and what asking
/// has been worth so far.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    trigrams: Vec<u32>,
    odds: Rc<Odds>,
}

/// Filters read in a row that all said "may match" before a probe turns
/// sparse (see [`Odds`]).
const DENSE_PASSES: u32 = 8;
/// While sparse, a probe reads one filter in this many.
const SPARSE_EVERY: u32 = 16;

/// What a search's filters have been worth: reading one costs a metadata
/// `get`, which pays only when it rules the segment out. For a common
/// string every filter says "may match", and those reads made the first
/// page of a 1,000-stream search 29% slower (`tests/benches/loki.rs`,
/// common string: 190.6 ms without filters, 245.9 ms with). So after
/// [`DENSE_PASSES`] passes in a row a probe reads only one filter in
/// [`SPARSE_EVERY`] (an unread filter is a "may match", which is always
/// right), and goes back to reading every one as soon as one rules its
/// segment out. Shared by every scan of one search, so what one stream
/// taught holds for the next.
#[derive(Debug, Default)]
pub struct Odds {
    /// Filters read in a row that said "may match".
    passes: Cell<u32>,
    /// Segments passed unasked since the last read, while sparse.
    unasked: Cell<u32>,
}

impl Odds {
    /// Whether the next segment's filter is worth reading.
    fn worth_asking(&self) -> bool {
        if self.passes.get() < DENSE_PASSES {
            return true;
        }
        let unasked = self.unasked.get() + 1;
        let ask = unasked >= SPARSE_EVERY;
        self.unasked.set(if ask { 0 } else { unasked });
        ask
    }

    /// Learns what a filter that was read said.
    fn heard(&self, may_match: bool) {
        let passes = self.passes.get();
        self.passes.set(if may_match {
            passes.saturating_add(1)
        } else {
            0
        });
    }
}

impl Probe {
    /// The probe for needles that must all be in a matching segment (as
    /// stored); needles shorter than a trigram add nothing. `None` when
    /// no needle can be asked about: then no filter is worth reading.
    /// It learns into `odds`, which a search shares among its scans.
    pub fn new<'a>(needles: impl IntoIterator<Item = &'a [u8]>, odds: Rc<Odds>) -> Option<Probe> {
        let mut trigrams: Vec<u32> = needles
            .into_iter()
            .filter(|n| n.len() >= MIN_NEEDLE)
            .flat_map(|n| {
                n.windows(3)
                    .map(|w| u32::from(w[0]) << 16 | u32::from(w[1]) << 8 | u32::from(w[2]))
            })
            .collect();
        trigrams.sort_unstable();
        trigrams.dedup();
        (!trigrams.is_empty()).then_some(Probe { trigrams, odds })
    }

    /// Whether a segment whose stored filter is `filter` may hold every
    /// needle: false only if the filter lacks one of their trigrams.
    pub fn may_match(&self, filter: &[u8]) -> bool {
        let [version, log2, bitmap @ ..] = filter else {
            return true;
        };
        let bits = 1usize.checked_shl(u32::from(*log2)).unwrap_or(0);
        if *version != VERSION || bits < 64 || bitmap.len() != bits / 8 {
            return true;
        }
        let mask = bits - 1;
        self.trigrams.iter().all(|&t| {
            let i = bit(t, mask);
            bitmap[i / 8] & (1 << (i % 8)) != 0
        })
    }
}

impl Log {
    /// Where filter `id` is stored, in the metadata store (a small value
    /// read by one `get`, never by a page read).
    fn filter_key(&self, id: &str) -> String {
        format!("{}/f/{id}", self.prefix)
    }

    /// Builds each piece's filter and stores those it has under fresh ids
    /// no segment lists yet, as the pieces' bytes are: an append that
    /// commits nothing deletes them ([`Log::discard_filters`]), and one
    /// that dies leaves orphans, never a listed filter that is missing.
    /// Each piece's id, if it has a filter.
    pub(super) fn store_filters(&self, pieces: &[&[u8]]) -> StoreResult<Vec<Option<String>>> {
        let mut ids = Vec::with_capacity(pieces.len());
        let mut items = Vec::new();
        for piece in pieces {
            let id = match build(piece) {
                Some(filter) => {
                    let id = random_id()?;
                    items.push((self.filter_key(&id), filter));
                    Some(id)
                }
                None => None,
            };
            ids.push(id);
        }
        if !items.is_empty() {
            self.store.meta.set_many(&items)?;
        }
        Ok(ids)
    }

    /// Deletes filters no segment lists (an append that committed nothing,
    /// or expired pages'); what cannot be deleted is left as an orphan.
    pub(super) fn discard_filters(&self, ids: &[Option<String>]) {
        let keys: Vec<String> = ids.iter().flatten().map(|id| self.filter_key(id)).collect();
        if keys.is_empty() {
            return;
        }
        if let Err(e) = self.store.meta.delete_many(&keys) {
            eprintln!(
                "left {} orphan filter(s) of {}: {e}",
                keys.len(),
                self.prefix
            );
        }
    }

    /// Whether `seg` may hold every needle of `probe`: false only when its
    /// filter says it cannot (no filter, a missing or unreadable one, or
    /// one the probe's [`Odds`] say is not worth reading, says it may).
    pub(super) fn may_hold(&self, seg: &Segment, probe: &Probe) -> StoreResult<bool> {
        let Some(id) = &seg.filter else {
            return Ok(true);
        };
        if !probe.odds.worth_asking() {
            return Ok(true);
        }
        let may_match = match self.store.meta.get(&self.filter_key(id))? {
            Some(filter) => probe.may_match(&filter),
            None => true,
        };
        probe.odds.heard(may_match);
        Ok(may_match)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn pack_puts_byte_j_at_bit_j() {
        for want in 0..=255u8 {
            let eight: Vec<u8> = (0..8).map(|j| want >> j & 1).collect();
            assert_eq!(pack(&eight), want);
        }
    }

    use super::*;

    #[test]
    fn odds_turn_sparse_after_passes_and_dense_after_a_rule_out() {
        let odds = Odds::default();
        for _ in 0..DENSE_PASSES {
            assert!(odds.worth_asking(), "dense: every filter is read");
            odds.heard(true);
        }
        let asked: Vec<bool> = (0..2 * SPARSE_EVERY).map(|_| odds.worth_asking()).collect();
        assert_eq!(
            asked.iter().filter(|&&a| a).count(),
            2,
            "one in {SPARSE_EVERY}"
        );
        assert!(
            asked[SPARSE_EVERY as usize - 1],
            "the {SPARSE_EVERY}th is read"
        );
        odds.heard(false);
        for _ in 0..DENSE_PASSES {
            assert!(odds.worth_asking(), "a rule-out makes it dense again");
            odds.heard(true);
        }
        assert!(!odds.worth_asking());
    }

    /// A deterministic pseudo-random generator (xorshift), no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        /// Log-like text: words from a small alphabet, numbers, hex ids.
        fn text(&mut self, len: usize) -> Vec<u8> {
            let words: [&[u8]; 8] = [
                b"level=info ",
                b"GET ",
                b"path=/api/cart ",
                b"status=200 ",
                b"caller=http.go:",
                b"\\n",
                b"\n",
                b"trace_id=",
            ];
            let mut out = Vec::with_capacity(len + 32);
            while out.len() < len {
                match self.below(3) {
                    0 => out.extend_from_slice(words[self.below(words.len())]),
                    1 => out.extend_from_slice(format!("{} ", self.next() % 100_000).as_bytes()),
                    _ => out.extend_from_slice(format!("{:x}", self.next()).as_bytes()),
                }
            }
            out
        }
    }

    fn probe(needle: &[u8]) -> Probe {
        Probe::new([needle], Rc::default()).expect("a needle of a trigram or more")
    }

    #[test]
    fn never_a_false_negative() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for round in 0..60 {
            let len = MIN_SEGMENT + rng.below(200_000);
            let mut bytes = rng.text(len);
            let len = bytes.len();
            if round % 3 == 0 {
                // Arbitrary bytes too, not just text.
                bytes
                    .iter_mut()
                    .step_by(7)
                    .for_each(|b| *b = rng.next() as u8);
            }
            let filter = build(&bytes).expect("long enough");
            for _ in 0..500 {
                let start = rng.below(bytes.len() - MIN_NEEDLE);
                let end = (start + MIN_NEEDLE + rng.below(40)).min(bytes.len());
                let needle = &bytes[start..end];
                assert!(
                    probe(needle).may_match(&filter),
                    "{needle:?} in round {round}"
                );
            }
            // Several needles at once: all present, so all pass.
            let (a, b) = (rng.below(len - 10), rng.below(len - 10));
            let both = Probe::new([&bytes[a..a + 10], &bytes[b..b + 10]], Rc::default()).unwrap();
            assert!(both.may_match(&filter));
        }
    }

    #[test]
    fn an_absent_needle_is_rejected_almost_always() {
        let mut rng = Rng(42);
        let (mut passed, mut asked) = (0, 0);
        for _ in 0..20 {
            let len = 40_000 + rng.below(500_000);
            let bytes = rng.text(len);
            let filter = build(&bytes).unwrap();
            assert!(
                filter.len() <= 2 + bytes.len() / BYTES_PER_BIT / 8,
                "at most 1 bit per {BYTES_PER_BIT} bytes"
            );
            for i in 0..200 {
                let needle = format!("needle-{i:x}zq");
                assert!(memchr::memmem::find(&bytes, needle.as_bytes()).is_none());
                asked += 1;
                passed += probe(needle.as_bytes()).may_match(&filter) as usize;
            }
        }
        assert!(
            passed * 100 < asked,
            "{passed} of {asked} absent needles passed"
        );
    }

    #[test]
    fn small_segments_have_none_and_bad_filters_say_maybe() {
        assert!(build(&[b'x'; MIN_SEGMENT - 1]).is_none());
        assert!(
            Probe::new([&b"ab"[..]], Rc::default()).is_none(),
            "shorter than a trigram"
        );
        let p = probe(b"absent");
        assert!(p.may_match(b""));
        assert!(p.may_match(&[VERSION, 12, 0, 0]), "wrong length");
        assert!(p.may_match(&[VERSION + 1, 9]), "unknown version");
        assert!(p.may_match(&[VERSION, 200]), "absurd size");
        let f = build(&[b'x'; MIN_SEGMENT]).unwrap();
        assert_eq!(f.len(), 2 + 64, "one trigram folds to the smallest size");
        assert!(probe(b"xxxx").may_match(&f));
        assert!(!probe(b"xxy").may_match(&f));
    }
}
