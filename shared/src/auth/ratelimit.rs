//! Per-caller rate limits: a sliding-window counter in the key-value store.
//!
//! Each caller has one atomic counter per one-minute window and class. A
//! request adds one to the current window's counter (the one write it costs,
//! never a read-modify-write race) and reads the previous window's; the load
//! is the previous count weighted by how much of it still overlaps the last
//! 60 s, plus the current count. Over the limit, the request gives its unit
//! back and is refused, so only served requests use up quota and concurrent
//! requests are admitted exactly up to the limit: every increment returns a
//! distinct count. The weighting means a burst straddling a window boundary
//! still gets about one limit's worth, not two.
//!
//! Keys: `rl/{class}/{caller digest}/{window}` plus `.../last`, the caller's
//! previous active window. The first request of a window (the one whose
//! increment returns 1) deletes whatever that pointer says is older than the
//! previous window, so a caller never holds more than three keys, however
//! irregularly it calls; one that stops calling leaves those three behind.

use crate::store::kv::{Kv, KvResult};
use crate::util::ids::digest;

/// The window, in milliseconds.
pub const WINDOW_MS: u64 = 60_000;

pub use crate::config::{Class, Limits};

/// The class's part of a counter key.
fn class_key(class: Class) -> &'static str {
    match class {
        Class::Standard => "s",
        Class::Heavy => "h",
        Class::Ingest => "i",
    }
}

/// The outcome, and what the `RateLimit-*` headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub limit: u64,
    /// Requests left at the moment of this one.
    pub remaining: u64,
    /// Seconds until the quota resets: the end of the current window, or on
    /// refusal the time until a request would pass again.
    pub reset: u64,
    /// `Some(seconds)` when refused.
    pub retry_after: Option<u64>,
}

/// Counts one request of `caller` in `class` at `now_ms` against `limit`.
pub fn check(
    kv: &dyn Kv,
    caller: &str,
    class: Class,
    limit: u64,
    now_ms: u64,
) -> KvResult<Verdict> {
    let base = format!(
        "rl/{}/{}",
        class_key(class),
        &digest(caller.as_bytes())[..32]
    );
    let window = now_ms / WINDOW_MS;
    let elapsed = now_ms % WINDOW_MS;
    let key = |w: u64| format!("{base}/{w}");

    let current = kv.increment(&key(window), 1)?.max(0) as u64;
    if current == 1 {
        roll_over(kv, &base, window);
    }
    let previous = match window.checked_sub(1) {
        Some(w) => counter(kv.get(&key(w))?),
        None => 0,
    };
    // The share of the previous window still inside the last 60 s.
    let weighted = previous * (WINDOW_MS - elapsed) / WINDOW_MS;
    let load = weighted + current;
    let to_window_end = (WINDOW_MS - elapsed).div_ceil(1000);
    if load <= limit {
        return Ok(Verdict {
            limit,
            remaining: limit - load,
            reset: to_window_end,
            retry_after: None,
        });
    }
    // Refused: give the unit back so only served requests use quota.
    kv.increment(&key(window), -1)?;
    let served = current - 1;
    let wait_ms = if served < limit {
        // Room opens in this window as the previous one's weight decays:
        // need previous * (W - e') / W <= limit - served - 1.
        let room = limit - served - 1;
        let e = WINDOW_MS - (room * WINDOW_MS / previous.max(1));
        e.saturating_sub(elapsed)
    } else {
        // This window is full: wait for it to become the previous one and
        // decay until one more fits: served * (W - e') / W <= limit - 1.
        let e = WINDOW_MS - (limit.saturating_sub(1) * WINDOW_MS / served.max(1));
        WINDOW_MS - elapsed + e
    };
    let retry = wait_ms.div_ceil(1000).max(1);
    Ok(Verdict {
        limit,
        remaining: 0,
        reset: retry,
        retry_after: Some(retry),
    })
}

/// First request of `window`: deletes the caller's counters older than the
/// previous window, found through the `last` pointer, and moves the pointer.
/// Best effort: a failure here only leaves a stale key behind.
fn roll_over(kv: &dyn Kv, base: &str, window: u64) {
    let last_key = format!("{base}/last");
    let result = (|| -> KvResult<()> {
        if let Some(last) = kv.get(&last_key)?.map(|b| counter(Some(b))) {
            let stale: Vec<String> = [last.checked_sub(1), Some(last)]
                .into_iter()
                .flatten()
                .filter(|w| w + 1 < window)
                .map(|w| format!("{base}/{w}"))
                .collect();
            kv.delete_many(&stale)?;
        }
        kv.set(&last_key, &window.to_le_bytes())
    })();
    if let Err(e) = result {
        eprintln!("rate limit roll-over: {e}");
    }
}

/// A counter as a Spin backend stores it: 8 bytes little-endian (SQLite), or
/// ASCII decimal (Redis, whose `increment` is `INCRBY`). Anything else is 0.
/// Eight ASCII digits could be read both ways; they are told apart by every
/// byte being a digit or a sign, which a little-endian count below 2^48 never
/// is: its top two bytes are zero.
fn counter(bytes: Option<Vec<u8>>) -> u64 {
    let Some(b) = bytes else {
        return 0;
    };
    if !b.is_empty() && b.iter().all(|c| c.is_ascii_digit() || *c == b'-') {
        return std::str::from_utf8(&b)
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
            .map_or(0, |n| n.max(0) as u64);
    }
    <[u8; 8]>::try_from(b.as_slice())
        .map(|b| i64::from_le_bytes(b).max(0) as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_read_in_either_backends_form() {
        assert_eq!(counter(Some(7i64.to_le_bytes().to_vec())), 7);
        assert_eq!(counter(Some(b"7".to_vec())), 7);
        assert_eq!(counter(Some(b"12345678".to_vec())), 12_345_678);
        assert_eq!(counter(Some(b"-3".to_vec())), 0);
        assert_eq!(counter(Some(b"x".to_vec())), 0);
        assert_eq!(counter(None), 0);
    }
    use crate::store::kv::MemoryKv;
    use std::sync::Arc;

    const T0: u64 = 1_000 * WINDOW_MS; // the start of a window

    #[test]
    fn admits_up_to_the_limit_then_refuses_with_a_retry_time() {
        let kv = MemoryKv::new();
        for i in 0..10 {
            let v = check(&kv, "me", Class::Heavy, 10, T0 + 1_000).unwrap();
            assert_eq!((v.remaining, v.retry_after), (9 - i, None));
            assert_eq!(v.reset, 59);
        }
        let v = check(&kv, "me", Class::Heavy, 10, T0 + 1_000).unwrap();
        assert_eq!(v.remaining, 0);
        // Full window: the next passes once this window's weight decays by
        // one tenth into the next one (59 s + 6 s).
        assert_eq!(v.retry_after, Some(65));
        // Refusals gave their unit back; others have their own quota.
        assert_eq!(
            kv.increment(&format!("rl/h/{}/1000", &digest(b"me")[..32]), 0)
                .unwrap(),
            10
        );
        assert!(
            check(&kv, "you", Class::Heavy, 10, T0)
                .unwrap()
                .retry_after
                .is_none()
        );
        assert!(
            check(&kv, "me", Class::Standard, 10, T0)
                .unwrap()
                .retry_after
                .is_none()
        );
    }

    #[test]
    fn the_previous_window_counts_by_its_remaining_overlap() {
        let kv = MemoryKv::new();
        for _ in 0..10 {
            check(&kv, "me", Class::Heavy, 10, T0 + 59_000).unwrap();
        }
        // A quarter into the next window, 3/4 of the 10 still count: 2 left
        // (7.5 rounds down to 7, so 3 fit).
        let at = T0 + WINDOW_MS + WINDOW_MS / 4;
        let served = (0..10)
            .filter(|_| {
                check(&kv, "me", Class::Heavy, 10, at)
                    .unwrap()
                    .retry_after
                    .is_none()
            })
            .count();
        assert_eq!(served, 3);
        let v = check(&kv, "me", Class::Heavy, 10, at).unwrap();
        // Room for one more opens when the old weight decays from 7 to 6,
        // 24 s into the window: 9 s from now.
        assert_eq!(v.retry_after, Some(9));
    }

    #[test]
    fn keys_stay_bounded_per_caller() {
        let kv = MemoryKv::new();
        for w in [0u64, 1, 2, 5, 6, 9, 20, 21, 22, 40] {
            check(&kv, "me", Class::Standard, 100, T0 + w * WINDOW_MS).unwrap();
            assert!(kv.len() <= 3, "window {w}: {:?}", kv.keys());
        }
        let keys = kv.keys();
        assert!(keys.iter().any(|k| k.ends_with("/1040")), "{keys:?}");
        assert!(keys.iter().any(|k| k.ends_with("/last")), "{keys:?}");
    }

    #[test]
    fn concurrent_requests_are_admitted_exactly_up_to_the_limit() {
        let kv = Arc::new(MemoryKv::new());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let kv = kv.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .filter(|_| {
                            check(kv.as_ref(), "me", Class::Standard, 100, T0 + 5)
                                .unwrap()
                                .retry_after
                                .is_none()
                        })
                        .count()
                })
            })
            .collect();
        let served: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(served, 100);
    }
}
