//! The app on Redis, as Spin runs it: both stores on one `redis-server`
//! (started here, installed from Debian's packages when missing), through the
//! test host's Redis backend, which issues the same commands as Spin's
//! `key-value-redis` through the same client crate.
//!
//! The first tests pin down what that backend does (the traps the app must be
//! built for); the rest show the app losing and repeating nothing on it.

mod common;

use common::*;
use spin_logs_tests::HostOptions;
use spin_logs_tests::kv::{KvStores, SwapError};
use spin_logs_tests::manifest::StoreLocation;
use spin_logs_tests::services::RedisServer;
use std::collections::BTreeMap;

fn stores(server: &RedisServer, labels: &[(&str, u32)]) -> KvStores {
    let locations: BTreeMap<String, StoreLocation> = labels
        .iter()
        .map(|(l, db)| (l.to_string(), StoreLocation::Redis(server.url(*db))))
        .collect();
    KvStores::open(&locations, false).expect("redis stores")
}

/// A fresh server and its `default` bucket.
fn one_bucket() -> (RedisServer, spin_logs_tests::kv::Bucket) {
    let server = RedisServer::start().expect("redis-server");
    let bucket = stores(&server, &[("default", 0)])
        .bucket("default")
        .unwrap();
    (server, bucket)
}

/// Trap 1: a swap that wrote reports `cas-failed` (Spin ends every swap with
/// `UNWATCH <key>`, which Redis refuses), so a caller trusting the result
/// retries a write that already happened.
#[test]
fn a_swap_that_wrote_reports_cas_failed() {
    let (_server, bucket) = one_bucket();
    bucket.set("k", b"old").unwrap();
    let mut cas = bucket.cas("k");
    assert_eq!(cas.current().unwrap().as_deref(), Some(&b"old"[..]));
    assert_eq!(cas.swap(b"new"), Err(SwapError::CasFailed));
    assert_eq!(
        bucket.get("k").unwrap().as_deref(),
        Some(&b"new"[..]),
        "the swap wrote all the same"
    );
}

/// Trap 1b: a swap that lost the race does not write (the `WATCH` holds),
/// and reports `cas-failed` too: the result cannot tell the two apart.
#[test]
fn a_swap_that_lost_does_not_write_and_says_the_same() {
    let (_server, bucket) = one_bucket();
    bucket.set("k", b"old").unwrap();
    let mut cas = bucket.cas("k");
    cas.current().unwrap();
    bucket.set("k", b"theirs").unwrap();
    assert_eq!(cas.swap(b"mine"), Err(SwapError::CasFailed));
    assert_eq!(bucket.get("k").unwrap().as_deref(), Some(&b"theirs"[..]));
}

/// Trap 2: counters are ASCII decimal (`INCRBY`), not Spin SQLite's 8 bytes
/// little-endian, so a plain `get` of a counter must read both forms.
#[test]
fn counters_are_ascii_decimal() {
    let (_server, bucket) = one_bucket();
    assert_eq!(bucket.increment("n", 2).unwrap(), 2);
    assert_eq!(bucket.increment("n", 40).unwrap(), 42);
    assert_eq!(bucket.get("n").unwrap().as_deref(), Some(&b"42"[..]));
}

/// Trap 3: store names are ignored: two labels on one URL are one keyspace.
#[test]
fn labels_on_one_url_share_one_keyspace() {
    let server = RedisServer::start().expect("redis-server");
    let kv = stores(&server, &[("default", 0), ("blobs", 0), ("apart", 1)]);
    kv.bucket("default").unwrap().set("k", b"v").unwrap();
    assert_eq!(
        kv.bucket("blobs").unwrap().get("k").unwrap().as_deref(),
        Some(&b"v"[..])
    );
    assert_eq!(kv.bucket("apart").unwrap().get("k").unwrap(), None);
}

/// Trap 4: `get-many` is sent as `KEYS <key>...`, which Redis refuses for
/// more than one key: the app must not use it.
#[test]
fn get_many_of_two_keys_fails() {
    let (_server, bucket) = one_bucket();
    bucket
        .set_many(&[("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())])
        .unwrap();
    assert!(bucket.get_many(&["a".into(), "b".into()]).is_err());
}

/// A host with its store on `server`'s database 0.
fn redis_host(
    server: &RedisServer,
    variables: &[(&str, &str)],
) -> (spin_logs_tests::TestHost, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("runtime-config.toml");
    let url = server.url(0);
    std::fs::write(
        &config,
        format!("[key_value_store.default]\ntype = \"redis\"\nurl = \"{url}\"\n"),
    )
    .expect("write runtime config");
    let host = host_with(HostOptions {
        runtime_config: Some(config),
        variables: variables
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..HostOptions::default()
    });
    (host, dir)
}

#[test]
fn every_line_lands_once_in_each_writers_order_on_redis() {
    let server = RedisServer::start().expect("redis-server");
    let (host, _dir) = redis_host(&server, &[]);
    let task = register(&host, "web.1", "agent-1", false);
    assert_eq!(task["id"], "web.1");
    let (writers, batches) = (8, 12);
    std::thread::scope(|s| {
        for w in 0..writers {
            let host = &host;
            s.spawn(move || {
                for b in 0..batches {
                    let lines = format!("w{w} b{b} one\nw{w} b{b} two\n");
                    let r = append(host, "web.1", "stdout", lines.as_bytes());
                    assert_eq!(r.status, 200, "{}", r.text());
                }
            });
        }
    });
    let text = get(&host, &file_path(&task, "stdout")).text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), writers * batches * 2, "every line once");
    for w in 0..writers {
        let mine: Vec<String> = lines
            .iter()
            .filter(|l| l.starts_with(&format!("w{w} ")))
            .map(|l| l.to_string())
            .collect();
        let want: Vec<String> = (0..batches)
            .flat_map(|b| [format!("w{w} b{b} one"), format!("w{w} b{b} two")])
            .collect();
        assert_eq!(mine, want, "writer {w}'s lines, in order, each batch whole");
    }
    // Both stores really are on the server, in its one keyspace.
    let mut conn = server.connection(0).expect("connection");
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).expect("keys");
    assert!(keys.iter().any(|k| k.ends_with("/head")), "{keys:?}");
    assert!(keys.iter().any(|k| k.contains("/s/")), "{keys:?}");
}

#[test]
fn a_retried_append_with_its_idempotency_key_is_stored_once_on_redis() {
    let server = RedisServer::start().expect("redis-server");
    let (host, _dir) = redis_host(&server, &[]);
    let task = register(&host, "t1", "agent-1", false);
    for attempt in 0..3 {
        let r = send_with(
            &host,
            "POST",
            &format!("{INGEST}/tasks/t1/files/stdout"),
            &[("idempotency-key", "batch-1")],
            Some("text/plain"),
            b"once\n",
        );
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.header("idempotent-replayed").is_some(),
            attempt > 0,
            "attempt {attempt}"
        );
    }
    assert_eq!(get(&host, &file_path(&task, "stdout")).text(), "once\n");
}

#[test]
fn rate_limits_count_on_redis() {
    let server = RedisServer::start().expect("redis-server");
    let (host, _dir) = redis_host(&server, &[("rate_limit_standard", "5")]);
    let statuses: Vec<u16> = (0..8)
        .map(|_| get(&host, "/system/v1/logs/v2/component").status)
        .collect();
    // The first five served (a 2xx: read or empty), the rest refused.
    assert!(
        statuses[..5].iter().all(|s| (200..300).contains(s)),
        "{statuses:?}"
    );
    assert_eq!(statuses[5..], [429, 429, 429], "{statuses:?}");
    // The count lives on the server, not in a store of the host's own.
    let mut conn = server.connection(0).expect("connection");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("rl/*")
        .query(&mut conn)
        .expect("keys");
    assert!(!keys.is_empty(), "no rate-limit counter on Redis");
}
