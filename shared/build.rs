//! Gzips and hashes the documents the `index` component serves, once here:
//! `docs/openapi.json` (259 KB of text, 13 KB gzipped: what keeps `index`
//! under 1 MiB, issue 25) and `docs/index.json` (`GET /`), both written by
//! `tools/gen` from the route tables.

use flate2::{Compression, write::GzEncoder};
use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::path::Path;

fn main() {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    for name in ["openapi.json", "index.json"] {
        compile(name, &out);
    }
}

/// Writes `docs/{name}`'s gzip form and the first 8 bytes of its SHA-256
/// in hex (its `ETag`) to `out`.
fn compile(name: &str, out: &Path) {
    let doc = format!("../docs/{name}");
    println!("cargo:rerun-if-changed={doc}");
    let bytes = std::fs::read(&doc).expect("docs/ (cargo run -p spin-logs-gen)");
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(&bytes).expect("gzip");
    let gz = gz.finish().expect("gzip");
    std::fs::write(out.join(format!("{name}.gz")), gz).expect("write");
    let hash: String = Sha256::digest(&bytes)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(out.join(format!("{name}.sha")), hash).expect("write");
}
