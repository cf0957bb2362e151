//! Gzips `docs/openapi.json` (written by `tools/gen`) and hashes it, once
//! here, for `api::index`: the component then holds 13 KB where the text was
//! 259 KB, which is what keeps `index` under 1 MiB (issue 25).

use flate2::{Compression, write::GzEncoder};
use sha2::{Digest, Sha256};
use std::io::Write as _;

fn main() {
    let doc = "../docs/openapi.json";
    println!("cargo:rerun-if-changed={doc}");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let bytes = std::fs::read(doc).expect("docs/openapi.json (cargo run -p spin-logs-gen)");
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(&bytes).expect("gzip");
    let gz = gz.finish().expect("gzip");
    std::fs::write(out.join("openapi.json.gz"), gz).expect("write");
    let hash: String = Sha256::digest(&bytes)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(out.join("openapi.json.sha"), hash).expect("write");
}
