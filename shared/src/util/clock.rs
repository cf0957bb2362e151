//! Wall-clock time and waiting, the only two things handlers need from a clock.
//!
//! `std::time` works on `wasm32-wasip2` (it maps to `wasi:clocks`), so this is
//! the same code natively and in a component.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch (journald's unit for realtime timestamps).
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Sleeps before retry number `attempt` of a lost compare-and-swap: exponential
/// from 1 ms, capped at 64 ms, with jitter so racing writers spread out.
pub fn backoff(attempt: u32) {
    let base = 1u64 << attempt.min(6);
    let jitter = jitter_below(base.max(2));
    std::thread::sleep(Duration::from_micros((base + jitter) * 1000 / 2));
}

/// A cheap, non-cryptographic random number below `n`, seeded from the clock.
fn jitter_below(n: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    // SplitMix64 finaliser: spreads the low clock bits over the whole word.
    let mut z = nanos.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % n
}
