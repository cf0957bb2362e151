//! Which codec sealed segments are stored in (issue 29): each candidate that
//! builds for wasm32-wasip2 in pure Rust, on typical log text cut into
//! segments as an append cuts it (512 KiB), beside `gzip -1` of the same
//! bytes: stored bytes per raw byte, compression and decompression MB/s.
//!
//! `cargo bench -p spin-logs-tests --bench codecs` (`BENCH_CODEC_MIB`, 64).
//! Native x86-64 speeds: a component runs the same code compiled to wasm,
//! slower by a factor the perf table's ingest and read rows show.

mod support;

use std::io::{Read, Write};
use std::process::Command;
use std::time::Instant;

type Encode = fn(&[u8]) -> Vec<u8>;
type Decode = fn(&[u8], usize) -> Vec<u8>;

fn deflate(level: u32) -> impl Fn(&[u8]) -> Vec<u8> {
    move |piece| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
        gz.write_all(piece).expect("deflate");
        gz.finish().expect("deflate")
    }
}

fn inflate(stored: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    flate2::read::GzDecoder::new(stored)
        .read_to_end(&mut out)
        .expect("inflate");
    out
}

fn main() {
    let mib = std::env::var("BENCH_CODEC_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64usize);
    let text = support::typical_log(mib << 20, 11);
    let pieces: Vec<&[u8]> = text.chunks(512 * 1024).collect();
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), &text).expect("write");
    let gzip = Command::new("gzip")
        .args(["-1", "-c"])
        .arg(file.path())
        .output()
        .expect("gzip runs")
        .stdout
        .len();
    let raw = text.len() as f64;
    println!(
        "{mib} MiB of typical log text; gzip -1 keeps {:.3}",
        gzip as f64 / raw
    );
    println!("| codec | stored / raw | compress MB/s | decompress MB/s |");
    println!("|---|---|---|---|");
    for level in [1, 2, 4, 6] {
        let name = format!("zlib-rs deflate level {level} (gzip member)");
        row(&name, &pieces, raw, &deflate(level), inflate);
    }
    let others: [(&str, Encode, Decode); 3] = [
        (
            "lz4_flex (block)",
            |p| lz4_flex::block::compress(p),
            |s, n| lz4_flex::block::decompress(s, n).expect("lz4"),
        ),
        (
            "snap (raw)",
            |p| snap::raw::Encoder::new().compress_vec(p).expect("snappy"),
            |s, _| snap::raw::Decoder::new().decompress_vec(s).expect("snappy"),
        ),
        (
            "ruzstd (fastest)",
            |p| ruzstd::encoding::compress_to_vec(p, ruzstd::encoding::CompressionLevel::Fastest),
            |s, n| {
                let mut out = Vec::with_capacity(n);
                ruzstd::decoding::StreamingDecoder::new(s)
                    .expect("zstd frame")
                    .read_to_end(&mut out)
                    .expect("zstd");
                out
            },
        ),
    ];
    for (name, encode, decode) in others {
        row(name, &pieces, raw, &encode, decode);
    }
}

fn row(name: &str, pieces: &[&[u8]], raw: f64, encode: &dyn Fn(&[u8]) -> Vec<u8>, decode: Decode) {
    let t = Instant::now();
    let stored: Vec<Vec<u8>> = pieces.iter().map(|p| encode(p)).collect();
    let compress = raw / 1e6 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for (s, p) in stored.iter().zip(pieces) {
        assert_eq!(decode(s, p.len()).len(), p.len(), "{name} round trip");
    }
    let decompress = raw / 1e6 / t.elapsed().as_secs_f64();
    let kept = stored.iter().map(Vec::len).sum::<usize>() as f64 / raw;
    println!("| {name} | {kept:.3} | {compress:.0} | {decompress:.0} |");
}
