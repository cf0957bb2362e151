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

/// The `len` raw bytes of one gzip member. A member with the plain 10-byte
/// header (what flate2 writes: this module's and archiving's) has its deflate
/// body inflated straight into a buffer of the known size (the CRC is not
/// recomputed: the length is checked, and the store is trusted as it is for
/// raw segments). A header with optional fields goes through the general
/// decoder.
pub(super) fn decode(stored: &[u8], len: u64) -> Result<Vec<u8>, String> {
    const PLAIN_HEADER: usize = 10;
    let plain = stored.len() > PLAIN_HEADER + 8 && stored[..4] == [0x1f, 0x8b, 8, 0];
    if !plain {
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
        return Err(format!(
            "compressed segment holds {} bytes, its index says {len}",
            out.len()
        ));
    }
    Ok(out)
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
