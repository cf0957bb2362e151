//! Counters for `GET /k8s/v1/metrics`, kept with the store's atomic
//! `increment` where things happen, so a scrape reads a known list of keys
//! and never scans logs, streams or jobs.
//!
//! Every key is `m/<name>/<label>/<label>...`: the names and label values a
//! scrape asks for are fixed (route families, status classes, buckets,
//! sources, reasons) or listed in one record (the registered clusters), so
//! the scrape knows every key without listing any. Counting is best effort:
//! a failed increment is logged and never fails the request it counts.
//! Counters live below every layer that counts (the glue, ingest, retention,
//! collection), and read in either backend's form (SQLite: 8 bytes
//! little-endian; Redis, whose `increment` is `INCRBY`: ASCII).

use super::kv::Kv;

/// Upper bounds (ms) of the request duration histogram's buckets; the last
/// bucket is `+Inf`.
pub const BUCKETS_MS: [u64; 7] = [10, 50, 100, 250, 1000, 5000, 30000];

/// Status classes counted: 1xx is folded into 2xx (nothing here answers one).
pub const CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];

/// Where received lines come from.
pub const SOURCES: [&str; 4] = ["push", "pull", "task", "journal"];

/// Why lines were not stored.
pub const REFUSALS: [&str; 2] = ["namespace_disabled", "out_of_order"];

/// Byte movements of retention: appended bytes become archived or expired.
/// This one: log bytes archived, counted as they were before packing (what
/// leaves the hot tier).
pub const ARCHIVED_RAW: &str = "m/bytes/archived_raw";
/// Bytes the archive objects take, compressed, as written.
pub const ARCHIVED_STORED: &str = "m/bytes/archived_stored";
/// Log bytes whose pages expired (now unreadable).
pub const EXPIRED: &str = "m/bytes/expired";

/// Adds `delta` to `key`, logging (never returning) a failure.
pub fn add(kv: &dyn Kv, key: &str, delta: i64) {
    if delta == 0 {
        return;
    }
    if let Err(e) = kv.increment(key, delta) {
        eprintln!("metrics: {key}: {e}");
    }
}

/// The class of `status`: `2xx` .. `5xx`.
pub fn class_of(status: u16) -> &'static str {
    match status {
        300..=399 => CLASSES[1],
        400..=499 => CLASSES[2],
        500.. => CLASSES[3],
        _ => CLASSES[0],
    }
}

/// The histogram bucket (an index into [`BUCKETS_MS`], or its length for
/// `+Inf`) that `ms` falls in.
pub fn bucket_of(ms: u64) -> usize {
    BUCKETS_MS
        .iter()
        .position(|b| ms <= *b)
        .unwrap_or(BUCKETS_MS.len())
}

/// One request's counter key: its family, status class and duration bucket
/// in one key, so a request costs two increments (this and the duration sum).
pub fn request_key(family: &str, class: &str, bucket: usize) -> String {
    format!("m/req/{family}/{class}/{bucket}")
}

/// Microseconds spent answering a family's requests.
pub fn duration_sum_key(family: &str) -> String {
    format!("m/reqsum/{family}")
}

/// Requests the gate refused for their rate, by family.
pub fn rate_limited_key(family: &str) -> String {
    format!("m/ratelimited/{family}")
}

/// The weight a request answered `status` is counted with, given the
/// deployment's `sample` (`metrics_request_sample`) and `draw` (a random
/// number): `sample` for one request in `sample`, else 0; a 5xx always
/// counts, as 1. Off (0) by default: each count is two increments, and on
/// the embedded store every increment is a SQLite transaction whose fsync
/// stalls the host's other requests. Measured on Spin 4.1 (wrk -c4, issue
/// 29's note): 429s at 1,498 req/s uncounted, 464 counting 1 in 16, about
/// 40 counting all. On Redis an increment is cheap: set 1 there. Sampled,
/// the counters stay unbiased estimates, exact to about `sample`.
pub fn request_weight(status: u16, sample: u64, draw: u64) -> u64 {
    if status >= 500 {
        1
    } else if sample > 0 && draw.is_multiple_of(sample) {
        sample
    } else {
        0
    }
}

/// Counts an answered request of `family` `weight` times (see
/// [`request_weight`]): `status`, `micros` to the response head, and
/// whether the gate refused it for its rate.
pub fn request(
    kv: &dyn Kv,
    family: &str,
    status: u16,
    micros: u64,
    rate_limited: bool,
    weight: u64,
) {
    let bucket = bucket_of(micros / 1000);
    let w = weight as i64;
    add(kv, &request_key(family, class_of(status), bucket), w);
    add(
        kv,
        &duration_sum_key(family),
        (micros as i64).saturating_mul(w),
    );
    if rate_limited {
        add(kv, &rate_limited_key(family), w);
    }
}

/// Lines received from `source` for `cluster` ("" when none is known).
pub fn lines_key(source: &str, cluster: &str) -> String {
    format!("m/lines/{source}/{cluster}")
}

/// Bytes stored from lines received from `source` for `cluster` ("" when
/// none is known).
pub fn bytes_key(source: &str, cluster: &str) -> String {
    format!("m/bytes/{source}/{cluster}")
}

/// Counts `lines` lines of `bytes` stored bytes received from `source`.
pub fn received(kv: &dyn Kv, source: &str, cluster: &str, lines: u64, bytes: u64) {
    add(kv, &lines_key(source, cluster), lines as i64);
    add(kv, &bytes_key(source, cluster), bytes as i64);
}

/// Lines not stored for `reason`, one of [`REFUSALS`].
pub fn refused_key(reason: &str) -> String {
    format!("m/refused/{reason}")
}

/// Counts `lines` lines not stored, for `reason` (one of [`REFUSALS`]).
pub fn refused(kv: &dyn Kv, reason: &str, lines: u64) {
    add(kv, &refused_key(reason), lines as i64);
}

/// The follower-slot records ever used (`lease/<caller digest>`), so a
/// scrape counts live slots without listing keys. Callers are few (one per
/// key or user); past [`MAX_FOLLOWER_KEYS`] a new one is not listed (the
/// gauge then undercounts).
pub const FOLLOWER_KEYS: &str = "m/followers/keys";
/// Follower-slot records [`FOLLOWER_KEYS`] lists at most, so the record
/// stays one small value.
pub const MAX_FOLLOWER_KEYS: usize = 1000;

/// Lists `lease_key` among the follower-slot records, once: a read when it
/// is listed already (the usual case), one swap the first time.
pub fn follower_key(kv: &dyn Kv, lease_key: &str) {
    let listed = |b: Option<&[u8]>| -> Vec<String> {
        b.and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or_default()
    };
    let result = (|| -> Result<(), super::StoreError> {
        let current = listed(kv.get(FOLLOWER_KEYS)?.as_deref());
        if current.iter().any(|k| k == lease_key) || current.len() >= MAX_FOLLOWER_KEYS {
            return Ok(());
        }
        super::kv::update::<_, super::StoreError>(kv, FOLLOWER_KEYS, Some(b"[]"), 20, |cur| {
            let mut keys = listed(cur);
            if keys.iter().any(|k| k == lease_key) {
                return Ok(super::kv::Update::Keep(()));
            }
            keys.push(lease_key.to_owned());
            let bytes = serde_json::to_vec(&keys).map_err(super::StoreError::internal)?;
            Ok(super::kv::Update::Write(bytes, ()))
        })
    })();
    if let Err(e) = result {
        eprintln!("metrics: follower keys: {e}");
    }
}

/// Counters read at once, each 0 when absent or unreadable.
pub fn read(kv: &dyn Kv, keys: &[String]) -> Vec<i64> {
    match kv.get_many(keys) {
        Ok(values) => values.into_iter().map(counter).collect(),
        Err(e) => {
            eprintln!("metrics: reading counters: {e}");
            vec![0; keys.len()]
        }
    }
}

/// A counter as a Spin backend stores it: 8 bytes little-endian (SQLite), or
/// ASCII decimal (Redis). Eight ASCII digits are told apart by every byte
/// being a digit or a sign, which a little-endian count below 2^48 never is.
pub fn counter(bytes: Option<Vec<u8>>) -> i64 {
    let Some(b) = bytes else {
        return 0;
    };
    if !b.is_empty() && b.iter().all(|c| c.is_ascii_digit() || *c == b'-') {
        return std::str::from_utf8(&b)
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
            .unwrap_or(0);
    }
    <[u8; 8]>::try_from(b.as_slice()).map_or(0, i64::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::kv::MemoryKv;

    #[test]
    fn a_sampled_request_counts_for_the_sample_and_a_5xx_always_counts() {
        assert_eq!(request_weight(200, 16, 0), 16);
        assert_eq!(request_weight(200, 16, 1), 0);
        assert_eq!(request_weight(503, 16, 1), 1);
        assert_eq!(request_weight(200, 1, 7), 1, "1 counts every request");
        assert_eq!(request_weight(200, 0, 0), 0, "0 counts none");
        // Over any run of draws, the counted weight is the number of requests.
        let counted: u64 = (0..1600).map(|d| request_weight(401, 16, d)).sum();
        assert_eq!(counted, 1600);
    }

    #[test]
    fn a_request_costs_two_increments_and_reads_back() {
        let kv = MemoryKv::new();
        request(&kv, "ingest", 204, 7_000, false, 1);
        request(&kv, "ingest", 429, 60_000_000, true, 1);
        request(&kv, "ingest", 204, 7_000, false, 0);
        assert_eq!(kv.len(), 4);
        let keys = vec![
            request_key("ingest", "2xx", 0),
            request_key("ingest", "4xx", BUCKETS_MS.len()),
            duration_sum_key("ingest"),
            rate_limited_key("ingest"),
            request_key("query", "2xx", 0),
        ];
        assert_eq!(read(&kv, &keys), vec![1, 1, 60_007_000, 1, 0]);
    }

    #[test]
    fn counters_read_in_either_backends_form() {
        assert_eq!(counter(Some(7i64.to_le_bytes().to_vec())), 7);
        assert_eq!(counter(Some(b"12345678".to_vec())), 12_345_678);
        assert_eq!(counter(Some(b"-3".to_vec())), -3);
        assert_eq!(counter(Some(b"x".to_vec())), 0);
        assert_eq!(counter(None), 0);
    }

    #[test]
    fn buckets_and_classes() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(10), 0);
        assert_eq!(bucket_of(11), 1);
        assert_eq!(bucket_of(30_001), BUCKETS_MS.len());
        assert_eq!(class_of(101), "2xx");
        assert_eq!(class_of(302), "3xx");
        assert_eq!(class_of(503), "5xx");
    }
}
