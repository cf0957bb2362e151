//! `.tar.gz` archives written as streams, whole or in resumable pieces.
//!
//! Two shapes, one format:
//! - [`GzStream`] compresses one archive start to finish inside one request
//!   (the sandbox archive): memory is the deflate window plus one chunk.
//! - [`Piece`] compresses one *part* of a single gzip member so that parts
//!   made by different invocations (a log collection job advances in bounded
//!   steps, each a fresh instance) concatenate into one valid `.tar.gz`. Each
//!   part is raw deflate ended by a sync flush (byte-aligned, no final block),
//!   so the next part's fresh compressor simply continues the block sequence;
//!   the gzip CRC-32 and length are carried between parts in a [`GzState`].
//!   The result is a single gzip member, which every gunzip (including
//!   `flate2::read::GzDecoder`, which stops after one member) reads whole.
//!
//! Tar headers come from the `tar` crate (GNU long names included); entry data
//! is streamed by the caller, who must write exactly the declared size and
//! then [`padding`].

use crate::web::problem::Problem;
use flate2::Compression;
use flate2::write::{DeflateEncoder, GzEncoder};
use serde::{Deserialize, Serialize};
use std::io::Write;

/// Deflate level 3 (zlib-rs's `deflate_fast` with lazy-free matching): on log
/// text about twice the speed of level 6 (what `tar czf` uses) for 5-10%
/// more bytes (tests/benches/perf.rs measures both against tar and pigz).
const LEVEL: u32 = 3;

/// The tar end-of-archive marker: two zero blocks.
pub const END: [u8; 1024] = [0; 1024];

/// The header block(s) of a regular file entry of `size` bytes at `path`.
pub fn header(path: &str, size: u64, mtime_secs: u64) -> Result<Vec<u8>, Problem> {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(mtime_secs);
    h.set_entry_type(tar::EntryType::Regular);
    // The builder writes a GNU long-name record first when `path` does not fit
    // the header; with an empty reader it writes nothing after the header, so
    // the caller streams the data.
    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append_data(&mut h, path, std::io::empty())
        .map_err(|e| Problem::internal(format!("tar header for {path:?}: {e}")))?;
    // Take the bytes now: dropping the builder appends an end marker we don't want.
    Ok(std::mem::take(builder.get_mut()))
}

/// Zero bytes after an entry's data, up to the next 512-byte block.
pub fn padding(size: u64) -> &'static [u8] {
    const ZEROS: [u8; 512] = [0; 512];
    let rem = (size % 512) as usize;
    if rem == 0 { &[] } else { &ZEROS[rem..] }
}

/// One archive compressed in one go: feed it tar bytes, get gzip bytes.
pub struct GzStream {
    enc: GzEncoder<Vec<u8>>,
}

impl Default for GzStream {
    fn default() -> Self {
        Self {
            enc: GzEncoder::new(Vec::new(), Compression::new(LEVEL)),
        }
    }
}

impl GzStream {
    /// Compresses `bytes`; returns whatever compressed output is ready (often none).
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<u8>, Problem> {
        self.enc.write_all(bytes).map_err(Problem::internal)?;
        Ok(std::mem::take(self.enc.get_mut()))
    }

    /// The rest of the output and the gzip trailer.
    pub fn finish(self) -> Result<Vec<u8>, Problem> {
        self.enc.finish().map_err(Problem::internal)
    }
}

/// What carries over from one part of a gzip member to the next.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GzState {
    /// CRC-32 of all uncompressed bytes so far.
    pub crc: u32,
    /// Uncompressed bytes so far.
    pub len: u64,
    /// The gzip header has been written (by the first part).
    pub started: bool,
}

/// One part of a gzip member; see the module doc.
pub struct Piece {
    enc: DeflateEncoder<Vec<u8>>,
    crc: crc32fast::Hasher,
    len: u64,
}

/// The 10-byte gzip header: deflate, no name, no mtime (so archives of the
/// same data are identical), OS "unknown".
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

impl Piece {
    /// Continues the member from `state`; the first part starts it with the header.
    pub fn new(state: GzState) -> Self {
        let mut out = Vec::new();
        if !state.started {
            out.extend_from_slice(&GZIP_HEADER);
        }
        Self {
            enc: DeflateEncoder::new(out, Compression::new(LEVEL)),
            crc: crc32fast::Hasher::new_with_initial_len(state.crc, state.len),
            len: state.len,
        }
    }

    /// Adds `bytes` (uncompressed) to the member: compressed into this
    /// part, counted in the member's CRC and length.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), Problem> {
        self.crc.update(bytes);
        self.len += bytes.len() as u64;
        self.enc.write_all(bytes).map_err(Problem::internal)
    }

    /// Uncompressed bytes written through this part and all before it.
    pub fn total_in(&self) -> u64 {
        self.len
    }

    /// Compressed bytes produced so far by this part.
    pub fn out_len(&self) -> usize {
        self.enc.get_ref().len()
    }

    /// Ends this part on a byte boundary; the member goes on in a later part.
    pub fn finish_part(mut self) -> Result<(Vec<u8>, GzState), Problem> {
        self.enc.flush().map_err(Problem::internal)?;
        let state = GzState {
            crc: self.crc.clone().finalize(),
            len: self.len,
            started: true,
        };
        // Dropping the encoder would finish the stream into this buffer: take it first.
        let bytes = std::mem::take(self.enc.get_mut());
        Ok((bytes, state))
    }

    /// Ends the member: the final deflate block, then CRC-32 and length.
    pub fn finish_last(self) -> Result<Vec<u8>, Problem> {
        let crc = self.crc.finalize();
        let mut out = self.enc.finish().map_err(Problem::internal)?;
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&(self.len as u32).to_le_bytes());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn entries(gz: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz));
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = e.path().unwrap().to_string_lossy().into_owned();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (path, data)
            })
            .collect()
    }

    fn tar_bytes(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (path, data) in files {
            out.extend(header(path, data.len() as u64, 1_700_000_000).unwrap());
            out.extend_from_slice(data);
            out.extend_from_slice(padding(data.len() as u64));
        }
        out.extend_from_slice(&END);
        out
    }

    #[test]
    fn a_stream_unpacks_to_its_entries() {
        let long = format!("{}/{}", "a".repeat(120), "b".repeat(130));
        let files: [(&str, &[u8]); 3] = [
            ("t/stdout", b"one\ntwo\n"),
            ("t/empty", b""),
            (&long, &[7u8; 1500]),
        ];
        let mut gz = GzStream::default();
        let mut out = Vec::new();
        for chunk in tar_bytes(&files).chunks(100) {
            out.extend(gz.push(chunk).unwrap());
        }
        out.extend(gz.finish().unwrap());
        let got = entries(&out);
        assert_eq!(got.len(), 3);
        for ((p, d), (gp, gd)) in files.iter().zip(&got) {
            assert_eq!((*p, *d), (gp.as_str(), gd.as_slice()));
        }
    }

    #[test]
    fn pieces_made_apart_form_one_member() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let tar = tar_bytes(&[("x/log", &data)]);
        let mut state = GzState::default();
        let mut out = Vec::new();
        let cuts = [0, 1, 700, 50_000, 51_200, 900_000, tar.len() - 1024];
        for w in cuts.windows(2) {
            let mut p = Piece::new(state);
            p.write(&tar[w[0]..w[1]]).unwrap();
            let (bytes, s) = p.finish_part().unwrap();
            out.extend(bytes);
            state = s;
        }
        let mut last = Piece::new(state);
        last.write(&tar[tar.len() - 1024..]).unwrap();
        out.extend(last.finish_last().unwrap());
        // One member: the single-member decoder sees everything.
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&out[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, tar);
        assert_eq!(entries(&out), vec![("x/log".to_owned(), data)]);
    }
}
