//! Segment bytes as stored: compressed when that pays.
//!
//! A segment is immutable from the moment it is written, so it is sealed at
//! once: an append compresses each piece of at least [`MIN_LEN`] bytes into
//! one **gzip member** (deflate, level [`LEVEL`]) and keeps it only if it is
//! at most [`KEEP_RATIO`] of the original. The index names such a segment
//! `@z/<blob key>` ([`super::Location::Compressed`]); every other blob key is
//! a raw segment, so segments written before this existed read unchanged.
//!
//! **Why gzip, level 2.** Measured on 64 MiB of web-service lines in 512 KiB
//! pieces (`/work/codecbench`, native x86-64; `gzip -1` of the same bytes
//! keeps 0.257 of them):
//!
//! | codec | stored / raw | compress MB/s | decompress MB/s |
//! |---|---|---|---|
//! | zlib-rs deflate level 1 | 0.321 | 238 | 662 |
//! | **zlib-rs deflate level 2** | **0.236** | **197** | **680** |
//! | zlib-rs deflate level 4 | 0.218 | 114 | 732 |
//! | lz4_flex | 0.342 | 610 | 2,471 |
//! | snappy | 0.356 | 616 | 1,902 |
//! | ruzstd (fastest) | 0.257 | 93 | 351 |
//!
//! Level 2 is the fastest setting that keeps no more than `gzip -1` would
//! (zlib-rs's level 1 is a quicker, weaker strategy); LZ4 and snappy decode
//! faster but keep a third more. zlib-rs is already linked (flate2 reads and
//! writes archives), so it adds no code to a component. A member is a whole
//! `.gz` file: archiving copies it into a page's object without recompressing
//! (`pack.rs`), and a reader could hand it to a client that accepts gzip.

use flate2::{Compression, Decompress, FlushDecompress, Status, write::GzEncoder};
use std::borrow::Cow;
use std::io::Write;

/// Pieces shorter than this are stored raw: the member's 18 bytes of framing
/// and the time spent are not worth it for a line or two.
pub(super) const MIN_LEN: usize = 1024;
/// Deflate level (see the table above).
const LEVEL: u32 = 2;
/// A compressed piece is kept only if it is at most this share of the raw one.
const KEEP_RATIO: f64 = 0.9;
/// The index's mark on a compressed segment's blob key.
pub(super) const TAG: &str = "@z/";

/// What to store for `piece`, and whether it is compressed.
pub(super) fn encode(piece: &[u8]) -> (Cow<'_, [u8]>, bool) {
    if piece.len() < MIN_LEN {
        return (Cow::Borrowed(piece), false);
    }
    let mut gz = GzEncoder::new(Vec::with_capacity(piece.len() / 3), Compression::new(LEVEL));
    let packed = gz.write_all(piece).and_then(|()| gz.finish());
    match packed {
        Ok(out) if (out.len() as f64) <= piece.len() as f64 * KEEP_RATIO => (Cow::Owned(out), true),
        _ => (Cow::Borrowed(piece), false),
    }
}

/// The 10-byte header flate2 writes (this module's and archiving's members).
const PLAIN_HEADER: usize = 10;

/// Whether `stored` starts with the plain header: no optional fields, so
/// the deflate body starts right after it.
fn plain(stored: &[u8]) -> bool {
    stored.len() > PLAIN_HEADER + 8 && stored[..4] == [0x1f, 0x8b, 8, 0]
}

/// The `len` raw bytes of one gzip member. A member with the plain 10-byte
/// header has its deflate body inflated straight into a buffer of the known
/// size (the CRC is not recomputed: the length is checked, and the store is
/// trusted as it is for raw segments). A header with optional fields goes
/// through the general decoder.
pub(super) fn decode(stored: &[u8], len: u64) -> Result<Vec<u8>, String> {
    if !plain(stored) {
        let mut out = Vec::with_capacity(len as usize);
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(stored), &mut out)
            .map_err(|e| e.to_string())?;
        return Ok(out);
    }
    let mut out = Vec::with_capacity(len as usize);
    let mut inflate = Decompress::new(false);
    let status = inflate
        .decompress_vec(&stored[PLAIN_HEADER..], &mut out, FlushDecompress::Finish)
        .map_err(|e| e.to_string())?;
    if status != Status::StreamEnd || out.len() as u64 != len {
        return Err(wrong_length(out.len(), len));
    }
    Ok(out)
}

fn wrong_length(got: usize, len: u64) -> String {
    format!("compressed segment holds {got} bytes, its index says {len}")
}

/// One member inflated only as far as its reader asks: a forward scan that
/// stops a few lines into a segment (the first page of a common string,
/// one segment per stream) then inflates a few KiB of it, not all of it.
/// Measured on `tests/benches/loki.rs`'s common string: inflating whole
/// ~41 KB segments made that page 66% slower (245.9 -> 407.8 ms).
pub(super) struct Inflater {
    stored: Vec<u8>,
    inflate: Decompress,
    /// `len` bytes; the first `filled` are inflated.
    out: Vec<u8>,
    filled: usize,
    /// The deflate stream's end has been seen.
    ended: bool,
}

impl Inflater {
    /// A member of `len` raw bytes, nothing inflated yet (a member with
    /// optional header fields is inflated whole now, as [`decode`] does).
    pub(super) fn new(stored: Vec<u8>, len: u64) -> Result<Inflater, String> {
        let lazy = plain(&stored);
        let out = match lazy {
            true => vec![0; len as usize],
            false => decode(&stored, len)?,
        };
        Ok(Inflater {
            filled: if lazy { 0 } else { out.len() },
            ended: !lazy,
            stored,
            inflate: Decompress::new(false),
            out,
        })
    }

    /// The first `want` bytes (all of them if `want` is past the end), and
    /// what came before them: everything inflated so far. Reaching the end
    /// checks the member ends there too; a torn or wrong one is an error.
    pub(super) fn fill(&mut self, want: usize) -> Result<&[u8], String> {
        let want = want.min(self.out.len());
        while self.filled < want {
            let input = &self.stored[PLAIN_HEADER + self.inflate.total_in() as usize..];
            let status = self
                .inflate
                .decompress(
                    input,
                    &mut self.out[self.filled..want],
                    FlushDecompress::None,
                )
                .map_err(|e| e.to_string())?;
            let filled = self.inflate.total_out() as usize;
            let stuck = filled == self.filled;
            self.filled = filled;
            if status == Status::StreamEnd {
                self.ended = true;
                if filled < self.out.len() {
                    return Err(wrong_length(filled, self.out.len() as u64));
                }
            }
            if stuck && filled < want {
                return Err("compressed segment is torn".into());
            }
        }
        if self.filled == self.out.len() && !self.ended {
            self.check_end()?;
        }
        Ok(&self.out[..self.filled])
    }

    /// Once every byte the index counts is out, the member must end there:
    /// one more call with room for a byte must find the end and no byte.
    fn check_end(&mut self) -> Result<(), String> {
        let at = (PLAIN_HEADER + self.inflate.total_in() as usize).min(self.stored.len());
        let before = self.inflate.total_out();
        let status = self
            .inflate
            .decompress(&self.stored[at..], &mut [0u8; 1], FlushDecompress::Finish)
            .map_err(|e| e.to_string())?;
        match status == Status::StreamEnd && self.inflate.total_out() == before {
            true => {
                self.ended = true;
                Ok(())
            }
            false => Err(format!(
                "compressed segment holds more than the {} bytes its index says",
                self.out.len()
            )),
        }
    }

    /// Every byte, checked, as one buffer.
    pub(super) fn into_vec(mut self) -> Result<Vec<u8>, String> {
        self.fill(usize::MAX)?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|i| format!("level=info i={i} path=/api/items status=200\n").into_bytes())
            .collect()
    }

    #[test]
    fn a_long_piece_is_compressed_and_decodes_to_itself() {
        let raw = lines(2_000);
        let (stored, compressed) = encode(&raw);
        assert!(compressed);
        assert!(
            stored.len() * 4 < raw.len(),
            "{} of {}",
            stored.len(),
            raw.len()
        );
        assert_eq!(decode(&stored, raw.len() as u64).unwrap(), raw);
        let mut whole = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&stored[..]), &mut whole)
            .unwrap();
        assert_eq!(whole, raw, "a valid gzip member");
    }

    #[test]
    fn an_inflater_gives_prefixes_then_the_whole_checked() {
        let raw = lines(2_000);
        let (stored, _) = encode(&raw);
        let mut lazy = Inflater::new(stored.to_vec(), raw.len() as u64).unwrap();
        assert_eq!(lazy.fill(100).unwrap(), &raw[..100]);
        assert_eq!(
            lazy.fill(50).unwrap(),
            &raw[..100],
            "never less than inflated"
        );
        assert_eq!(lazy.fill(10_000).unwrap(), &raw[..10_000]);
        assert_eq!(lazy.into_vec().unwrap(), raw);
        // A wrong length shows once the end is reached, either way.
        let long = Inflater::new(stored.to_vec(), raw.len() as u64 + 1).unwrap();
        assert!(long.into_vec().is_err());
        let short = Inflater::new(stored.to_vec(), raw.len() as u64 - 1).unwrap();
        assert!(short.into_vec().is_err());
        let mut torn =
            Inflater::new(stored[..stored.len() / 2].to_vec(), raw.len() as u64).unwrap();
        assert_eq!(
            torn.fill(10).unwrap(),
            &raw[..10],
            "the start of a torn member reads"
        );
        assert!(torn.fill(usize::MAX).is_err());
    }

    #[test]
    fn short_or_incompressible_pieces_stay_raw() {
        let short = lines(3);
        assert_eq!(encode(&short), (Cow::Borrowed(&short[..]), false));
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(!encode(&noise).1);
    }

    #[test]
    fn a_wrong_length_or_a_torn_member_is_an_error_not_a_panic() {
        let raw = lines(500);
        let (stored, _) = encode(&raw);
        assert!(decode(&stored, raw.len() as u64 + 1).is_err());
        assert!(decode(&stored[..stored.len() / 2], raw.len() as u64).is_err());
        assert!(decode(b"not gzip at all, long enough", 5).is_err());
    }
}
