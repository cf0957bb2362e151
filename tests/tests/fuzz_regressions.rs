//! Replays every input under `fuzz/regressions/<target>/` through the same
//! entry point its fuzz target uses, on stable under the normal `cargo test`.
//! Those files are what fuzzing found (crashes, now fixed) and seeds of
//! hostile input worth keeping; see `fuzz/README.md`.

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("entry").path();
            let bytes = std::fs::read(&path).expect("readable");
            (path, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    files
}

/// Runs `f` on every input of `target`, naming the file that fails.
fn replay(target: &str, f: impl Fn(&[u8])) {
    for (path, bytes) in inputs(target) {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&bytes)));
        assert!(result.is_ok(), "{} fails again", path.display());
    }
}

/// Text targets skip input that is not UTF-8, as their fuzz targets do.
fn text(f: fn(&str)) -> impl Fn(&[u8]) {
    move |bytes| {
        if let Ok(s) = std::str::from_utf8(bytes) {
            f(s)
        }
    }
}

#[test]
fn router() {
    replay("router", text(spin_logs::fuzzing::router));
}

#[test]
fn query() {
    replay("query", text(spin_logs::fuzzing::query));
}

#[test]
fn cursor() {
    replay("cursor", spin_logs::fuzzing::cursor);
}

#[test]
fn ingest() {
    replay("ingest", spin_logs::fuzzing::ingest);
}

#[test]
fn last_event_id() {
    replay("last_event_id", text(spin_logs::fuzzing::last_event_id));
}
