//! Compiles `static/` in: each file with its type, its SHA-256 (the ETag)
//! and its gzip form, computed once here instead of per request. In
//! `index.html`, `{{name}}` becomes `name?v=<hash>` so the page asks for
//! each file by its content and a browser may keep it for good.

use flate2::{Compression, write::GzEncoder};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

fn hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)[..8]
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn main() {
    let dir = Path::new("static");
    println!("cargo:rerun-if-changed=static");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("static/")
        .map(|e| {
            e.expect("entry")
                .file_name()
                .into_string()
                .expect("UTF-8 name")
        })
        .collect();
    names.sort();
    let mut files: Vec<(String, Vec<u8>)> = names
        .iter()
        .map(|n| {
            println!("cargo:rerun-if-changed=static/{n}");
            (n.clone(), std::fs::read(dir.join(n)).expect("read"))
        })
        .collect();
    // Hash everything but the page first, then point the page at the hashes.
    let hashes: Vec<(String, String)> = files
        .iter()
        .filter(|(n, _)| n != "index.html")
        .map(|(n, b)| (n.clone(), hash(b)))
        .collect();
    for (name, bytes) in &mut files {
        if name == "index.html" {
            let mut page = String::from_utf8(std::mem::take(bytes)).expect("UTF-8 page");
            for (n, h) in &hashes {
                page = page.replace(&format!("{{{{{n}}}}}"), &format!("{n}?v={h}"));
            }
            *bytes = page.into_bytes();
        }
    }
    let mut table = String::from("pub static ASSETS: &[Asset] = &[\n");
    for (name, bytes) in &files {
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        gz.write_all(bytes).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let gz = if gz.len() < bytes.len() {
            gz
        } else {
            Vec::new()
        };
        std::fs::write(out.join(name), bytes).expect("write");
        std::fs::write(out.join(format!("{name}.gz")), &gz).expect("write");
        let _ = writeln!(
            table,
            "    Asset {{ name: {name:?}, content_type: {:?}, hash: {:?}, \
             body: include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{name}\")), \
             gzip: include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{name}.gz\")) }},",
            content_type(name),
            hash(bytes),
        );
    }
    table.push_str("];\n");
    std::fs::write(out.join("assets.rs"), table).expect("write assets.rs");
}
