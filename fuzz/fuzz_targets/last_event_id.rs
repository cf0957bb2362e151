#![no_main]
//! See `spin_logs::fuzzing::last_event_id` for what this target checks.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        spin_logs::fuzzing::last_event_id(text);
    }
});
