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
//!
//! **Sampling far below the limit.** An increment is a durable write (on
//! Spin's SQLite store a write transaction, the most expensive thing a small
//! read does), so a caller far from its limit is counted by sampling: while
//! its load plus one step stays within half the limit, a request reads the
//! window's counter (one read: the window's first request also recorded the
//! previous window's count in its upper bits) and, with probability 1/k,
//! adds k. The
//! count stays unbiased; from half the limit on every request is counted
//! exactly as above. k ([`step`]) is the largest power of two up to 64 with
//! `3600 (k - 1) <= limit`, which keeps three standard deviations of the
//! sampled part (current and previous window together, `3 sqrt(limit (k - 1))`)
//! within 5% of the limit: a caller is refused within +-5% of its limit with
//! 99.7% probability, and exactly at it for limits below 3,600 a minute
//! (k = 1, no sampling), where the writes are few anyway.

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
        Class::Loki => "l",
    }
}

/// The outcome, and what the `RateLimit-*` headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Requests a minute the caller's class allows.
    pub limit: u64,
    /// Requests left at the moment of this one.
    pub remaining: u64,
    /// Seconds until the quota resets: the end of the current window, or on
    /// refusal the time until a request would pass again.
    pub reset: u64,
    /// `Some(seconds)` when refused.
    pub retry_after: Option<u64>,
}

/// The largest sampling step.
const MAX_STEP: u64 = 64;

/// The sampling step for `limit` (module docs): 1 means every request is
/// counted.
pub fn step(limit: u64) -> u64 {
    let mut k = 1;
    while k < MAX_STEP && 3600 * (2 * k - 1) <= limit {
        k *= 2;
    }
    k
}

/// Counts one request of `caller` in `class` at `now_ms` against `limit`.
pub fn check(
    kv: &dyn Kv,
    caller: &str,
    class: Class,
    limit: u64,
    now_ms: u64,
) -> KvResult<Verdict> {
    let mut draw = [0u8; 8];
    // Without randomness every sampled request counts as a whole step: an
    // overcount, never an undercount.
    let draw = match getrandom::fill(&mut draw) {
        Ok(()) => u64::from_le_bytes(draw),
        Err(_) => 0,
    };
    check_with(kv, caller, class, limit, now_ms, draw)
}

/// [`check`] with the random draw given: a sampled request counts when
/// `draw` is a multiple of `step(limit)`.
pub fn check_with(
    kv: &dyn Kv,
    caller: &str,
    class: Class,
    limit: u64,
    now_ms: u64,
    draw: u64,
) -> KvResult<Verdict> {
    let base = format!(
        "rl/{}/{}",
        class_key(class),
        &digest(caller.as_bytes())[..32]
    );
    let window = now_ms / WINDOW_MS;
    let elapsed = now_ms % WINDOW_MS;
    let key = |w: u64| format!("{base}/{w}");
    // The share of the previous window still inside the last 60 s.
    let weigh = |previous: u64| previous * (WINDOW_MS - elapsed) / WINDOW_MS;
    let to_window_end = (WINDOW_MS - elapsed).div_ceil(1000);
    let admitted = |load: u64| Verdict {
        limit,
        remaining: limit.saturating_sub(load),
        reset: to_window_end,
        retry_after: None,
    };

    let step = step(limit);
    if step > 1 {
        // One read: the window's counter carries the previous window's count
        // (module docs), so a sampled request reads nothing else.
        let (current, previous) = split(counter(kv.get(&key(window))?));
        if let Some(previous) = previous
            && weigh(previous) + current + step <= limit / 2
        {
            let current = if draw.is_multiple_of(step) {
                split(kv.increment(&key(window), step as i64)?.max(0) as u64).0
            } else {
                current
            };
            return Ok(admitted(weigh(previous) + current));
        }
    }

    // Both windows in one read. A caller already at its limit is refused
    // on that read alone: a refusal writes nothing, so an abusive client
    // costs reads only (each write is an fsync on Spin's SQLite store; two
    // per refusal held 429s to about 40 a second on Spin 4.1).
    let mut keys = vec![key(window)];
    keys.extend(window.checked_sub(1).map(key));
    let mut read = kv.get_many(&keys)?.into_iter().map(|v| split(counter(v)).0);
    let (seen, previous) = (read.next().unwrap_or(0), read.next().unwrap_or(0));
    if weigh(previous) + seen >= limit {
        return Ok(refused(limit, seen, previous, elapsed));
    }
    let current = split(kv.increment(&key(window), 1)?.max(0) as u64).0;
    if current == 1 {
        roll_over(kv, &base, window, (step > 1).then_some(previous));
    }
    let load = weigh(previous) + current;
    if load <= limit {
        return Ok(admitted(load));
    }
    // Refused by a concurrent request's count: give the unit back so only
    // served requests use quota.
    kv.increment(&key(window), -1)?;
    Ok(refused(limit, current - 1, previous, elapsed))
}

/// The verdict for a refused request, `served` requests into this window
/// with `previous` in the last, `elapsed` ms into it: when one more would
/// fit again.
fn refused(limit: u64, served: u64, previous: u64, elapsed: u64) -> Verdict {
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
    Verdict {
        limit,
        remaining: 0,
        reset: retry,
        retry_after: Some(retry),
    }
}

/// Bits of a counter that count; the bits above carry the previous window's
/// count plus one (0: not written yet), written once by the window's first
/// request, for sampled requests to read with the count. Counts stay far
/// below 2^28 (limits do), which also keeps [`counter`]'s reading of
/// little-endian values unambiguous.
const COUNT_BITS: u32 = 32;

/// A counter's (count, previous window's count if recorded).
fn split(value: u64) -> (u64, Option<u64>) {
    (
        value & ((1 << COUNT_BITS) - 1),
        (value >> COUNT_BITS).checked_sub(1),
    )
}

/// First request of `window`: records `previous` (the last window's count)
/// in this window's counter when the limit is sampled, deletes the caller's
/// counters older than the previous window, found through the `last`
/// pointer, and moves the pointer. Best effort: a failure here only leaves a
/// stale key behind, or this window's requests counted exactly.
fn roll_over(kv: &dyn Kv, base: &str, window: u64, previous: Option<u64>) {
    let last_key = format!("{base}/last");
    let result = (|| -> KvResult<()> {
        if let Some(previous) = previous {
            let hint = (previous.min((1 << 28) - 2) + 1) << COUNT_BITS;
            kv.increment(&format!("{base}/{window}"), hint as i64)?;
        }
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

/// A counter as a Spin backend stores it ([`crate::store::metrics::counter`]:
/// 8 bytes little-endian, or ASCII decimal as Redis' `INCRBY` keeps it), a
/// negative one read as 0. Anything else is 0.
fn counter(bytes: Option<Vec<u8>>) -> u64 {
    crate::store::metrics::counter(bytes).max(0) as u64
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

    /// A `Kv` that counts the writes reaching `inner`.
    struct Counting {
        inner: MemoryKv,
        writes: std::sync::atomic::AtomicUsize,
    }

    impl Kv for Counting {
        fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
            self.inner.get(key)
        }
        fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
            self.writes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.inner.set(key, value)
        }
        fn delete(&self, key: &str) -> KvResult<()> {
            self.inner.delete(key)
        }
        fn cas(&self, key: &str) -> KvResult<Box<dyn crate::store::kv::Cas + '_>> {
            self.inner.cas(key)
        }
        fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
            self.writes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.inner.increment(key, delta)
        }
    }

    /// xorshift64*: reproducible draws for the sampling tests.
    fn draws(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed | 1;
        move || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    #[test]
    fn steps_grow_with_the_limit_and_small_limits_are_exact() {
        assert_eq!(step(100), 1);
        assert_eq!(step(3_599), 1);
        assert_eq!(step(6_000), 2);
        assert_eq!(step(10_800), 4);
        assert_eq!(step(100_000), 16);
        assert_eq!(step(226_799), 32);
        assert_eq!(step(226_800), 64);
        assert_eq!(step(u64::MAX), 64);
    }

    #[test]
    fn far_below_the_limit_only_one_request_in_a_step_writes() {
        let kv = Counting {
            inner: MemoryKv::new(),
            writes: Default::default(),
        };
        let mut draw = draws(7);
        for i in 0..10_000u64 {
            let v = check_with(&kv, "me", Class::Standard, 100_000_000, T0 + i, draw()).unwrap();
            assert!(v.retry_after.is_none());
        }
        let writes = kv.writes.load(std::sync::atomic::Ordering::Relaxed);
        // 10,000 / 64 = 156 expected, plus the roll-over's pointer.
        assert!((100..=230).contains(&writes), "{writes} writes");
    }

    #[test]
    fn a_caller_at_its_limit_is_refused_without_a_write() {
        let kv = Counting {
            inner: MemoryKv::new(),
            writes: Default::default(),
        };
        for i in 0..10u64 {
            let v = check_with(&kv, "me", Class::Standard, 10, T0 + i, 0).unwrap();
            assert!(v.retry_after.is_none());
        }
        let before = kv.writes.load(std::sync::atomic::Ordering::Relaxed);
        for i in 0..100u64 {
            let v = check_with(&kv, "me", Class::Standard, 10, T0 + 10 + i, 0).unwrap();
            assert!(v.retry_after.is_some_and(|s| s >= 1));
            assert_eq!(v.remaining, 0);
        }
        let after = kv.writes.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(after, before, "100 refusals wrote nothing");
    }

    #[test]
    fn sampled_callers_are_refused_within_five_percent_of_the_limit() {
        const LIMIT: u64 = 226_800; // the smallest limit sampled at k = 64
        for seed in 1..=6 {
            let kv = MemoryKv::new();
            let mut draw = draws(seed);
            let mut served = 0u64;
            while check_with(&kv, "me", Class::Standard, LIMIT, T0 + 1, draw())
                .unwrap()
                .retry_after
                .is_none()
            {
                served += 1;
                assert!(served < 2 * LIMIT, "never refused");
            }
            let error = served.abs_diff(LIMIT);
            assert!(
                error <= LIMIT / 20,
                "seed {seed}: refused after {served} of {LIMIT}"
            );
        }
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
