//! Several hosts, one store (issue 11): two test hosts share one Redis and
//! one S3 bucket, as replicas of a SpinApp do. Writers on both, followers
//! that hop between hosts at every invocation handoff, and the limits that
//! must hold across replicas.

mod common;

use common::*;
use spin_logs_tests::services::{RedisServer, S3Server};
use spin_logs_tests::{HostOptions, TestHost};
use std::time::Duration;

const FOLLOW: &str = "/system/v1/logs/v2/follow";

/// Two hosts on `redis` (database 0) and `s3`, with `variables` on top.
fn pair(
    redis: &RedisServer,
    s3: &S3Server,
    variables: &[(&str, &str)],
) -> (TestHost, TestHost, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("runtime-config.toml");
    let toml = format!(
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
        redis.url(0)
    );
    std::fs::write(&config, toml).expect("write runtime config");
    let start = || {
        let mut vars = s3.variables();
        vars.extend(
            variables
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        host_with(HostOptions {
            runtime_config: Some(config.clone()),
            variables: vars,
            ..HostOptions::default()
        })
    };
    (start(), start(), dir)
}

#[test]
fn sixteen_writers_on_two_hosts_and_hopping_followers_see_every_line_once_in_order() {
    const WRITERS: usize = 16;
    const BATCHES: usize = 20;
    const PER_BATCH: usize = 5;
    let redis = RedisServer::start().expect("redis-server");
    let s3 = S3Server::start().expect("s3s-fs");
    let (a, b, _dir) = pair(
        &redis,
        &s3,
        &[("tail_budget_ms", "400"), ("keepalive_ms", "200")],
    );
    let hosts = [&a, &b];
    let task = register(&a, "shared.1", "agent-1", false);
    assert_eq!(append(&b, "shared.1", "stdout", b"start\n").status, 200);
    let follow = format!("{FOLLOW}{}", file_path(&task, "stdout"));
    let total = WRITERS * BATCHES * PER_BATCH + 1;

    let followed = std::thread::scope(|s| {
        for w in 0..WRITERS {
            let host = hosts[w % 2];
            s.spawn(move || {
                for batch in 0..BATCHES {
                    let body: String = (0..PER_BATCH)
                        .map(|i| format!("w{w} {}\n", batch * PER_BATCH + i))
                        .collect();
                    let r = append(host, "shared.1", "stdout", body.as_bytes());
                    assert_eq!(r.status, 200, "{}", r.text());
                    std::thread::sleep(Duration::from_millis(80));
                }
            });
        }
        // Two followers; each reconnects to the other host every time an
        // invocation ends, resuming with the last id it saw.
        let followers: Vec<_> = (0..2)
            .map(|f| {
                let follow = follow.clone();
                s.spawn(move || {
                    follow_from_start(
                        |n| hosts[(f + n) % 2],
                        &follow,
                        total,
                        Duration::from_secs(180),
                    )
                })
            })
            .collect();
        followers
            .into_iter()
            .map(|f| f.join().expect("follower"))
            .collect::<Vec<_>>()
    });

    let stored = get(&a, &file_path(&task, "stdout")).text();
    assert_eq!(
        get(&b, &file_path(&task, "stdout")).text(),
        stored,
        "one log, two hosts"
    );
    let stored: Vec<String> = stored.lines().map(str::to_owned).collect();
    for (name, lines) in [("stored", &stored)]
        .into_iter()
        .chain(followed.iter().map(|(got, _)| ("followed", got)))
    {
        assert_eq!(lines.len(), total, "{name}: every line once");
        assert_eq!(lines[0], "start");
        let mut next = [0usize; WRITERS];
        for line in &lines[1..] {
            let (w, i) = line[1..].split_once(' ').expect("w<n> <i>");
            let (w, i): (usize, usize) = (w.parse().unwrap(), i.parse().unwrap());
            assert_eq!(i, next[w], "{name}: writer {w} in order");
            next[w] += 1;
        }
    }
    assert_eq!(
        followed[0].0, stored,
        "the follower saw the log's own order"
    );
    for (_, hops) in &followed {
        assert!(*hops >= 3, "handoffs between hosts happened ({hops})");
    }
    let bytes: u64 = s3.objects().expect("objects").iter().map(|(_, n)| n).sum();
    let want: usize = stored.iter().map(|l| l.len() + 1).sum();
    assert_eq!(bytes, want as u64, "every byte in S3 once");
}

#[test]
fn rate_limits_and_follower_slots_hold_across_hosts() {
    let redis = RedisServer::start().expect("redis-server");
    let s3 = S3Server::start().expect("s3s-fs");
    let (a, b, _dir) = pair(
        &redis,
        &s3,
        &[
            ("rate_limit_standard", "6"),
            ("max_followers", "1"),
            ("keepalive_ms", "200"),
        ],
    );
    // One caller, one budget: 6 standard requests a minute across both.
    let statuses: Vec<u16> = (0..10)
        .map(|i| get([&a, &b][i % 2], "/system/v1/logs/v2/component").status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s != 429).count(),
        6,
        "{statuses:?}"
    );

    // One follower slot: held on a, refused on b. (Rate limits are per
    // class; follows are standard requests, so use another caller.)
    let (c, d, _dir2) = pair(
        &redis,
        &s3,
        &[("max_followers", "1"), ("keepalive_ms", "200")],
    );
    let task = register(&c, "slots.1", "agent-1", false);
    assert_eq!(append(&c, "slots.1", "stdout", b"x\n").status, 200);
    let follow = format!("{FOLLOW}{}", file_path(&task, "stdout"));
    let held = client()
        .get(c.url(&follow))
        .header("authorization", &superuser())
        .header("accept", "text/event-stream")
        .call()
        .expect("first follow");
    assert_eq!(held.status().as_u16(), 200);
    let mut body = held.into_body().into_reader();
    let mut first = [0u8; 1];
    std::io::Read::read_exact(&mut body, &mut first).expect("the stream started");
    let refused = get_with(&d, &follow, &[("accept", "text/event-stream")]);
    assert_eq!(refused.status, 429, "{}", refused.text());
    drop(body);
}
