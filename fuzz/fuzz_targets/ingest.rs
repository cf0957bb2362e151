#![no_main]
//! See `spin_logs::fuzzing::ingest` for what this target checks.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| spin_logs::fuzzing::ingest(data));
