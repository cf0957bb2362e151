//! End-to-end: live tail over SSE across invocation limits, and the
//! Scalingo and dotnet-monitor streaming routes, through the test host.

mod common;

use common::*;
use serde_json::Value;
use spin_logs_tests::{HostOptions, TestHost};
use std::io::{BufRead, Read};
use std::time::{Duration, Instant};

const FOLLOW: &str = "/system/v1/logs/v2/follow";

fn tail_host(budget_ms: u64, keepalive_ms: u64, max_followers: u64) -> TestHost {
    host_with(HostOptions {
        variables: vec![
            ("tail_budget_ms".into(), budget_ms.to_string()),
            ("keepalive_ms".into(), keepalive_ms.to_string()),
            ("max_followers".into(), max_followers.to_string()),
        ],
        ..Default::default()
    })
}

#[test]
fn a_follower_gets_every_line_once_across_forced_reconnects() {
    // The component ends each invocation itself after 1 s, with a resume event.
    follow_while_writing(tail_host(1_000, 300, 8));
}

#[test]
fn a_follower_gets_every_line_once_when_the_host_cuts_streams() {
    // A host limit shorter than the component's budget kills each stream
    // mid-flight, with no resume event: the client resumes from the last id
    // it saw, and still nothing is lost or repeated. Each killed instance
    // keeps its follower slot until the lease runs out (the budget, 60 s),
    // so a slow machine that needs more than eight cuts would meet a 429:
    // slots are not what this test is about.
    follow_while_writing(host_with(HostOptions {
        request_timeout: Some(Duration::from_millis(1_000)),
        variables: vec![
            ("tail_budget_ms".into(), "60000".into()),
            ("keepalive_ms".into(), "300".into()),
            ("max_followers".into(), "1000".into()),
        ],
        ..Default::default()
    }));
}

/// Four writers append 20,000 lines while one follower reads, reconnecting
/// with `Last-Event-ID` each time a stream ends.
fn follow_while_writing(host: TestHost) {
    const WRITERS: usize = 4;
    const LINES: usize = 5_000;
    const BATCH: usize = 50;
    let task = register(&host, "busy", "agent-a", false);
    assert_eq!(append(&host, "busy", "stdout", b"start\n").status, 200);
    let follow = format!("{FOLLOW}{}", file_path(&task, "stdout"));

    let (received, invocations) = std::thread::scope(|s| {
        for w in 0..WRITERS {
            let host = &host;
            s.spawn(move || {
                for b in 0..LINES / BATCH {
                    let body: String = (b * BATCH..(b + 1) * BATCH)
                        .map(|i| format!("w{w} {i}\n"))
                        .collect();
                    assert_eq!(append(host, "busy", "stdout", body.as_bytes()).status, 200);
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
        }
        let follower = s.spawn(|| {
            follow_from_start(
                |_| &host,
                &follow,
                WRITERS * LINES + 1,
                Duration::from_secs(240),
            )
        });
        follower.join().expect("follower")
    });

    assert_eq!(received[0], "start");
    assert_eq!(
        received.len(),
        WRITERS * LINES + 1,
        "every line exactly once"
    );
    let mut next = [0usize; WRITERS];
    for line in &received[1..] {
        let (w, i) = line[1..].split_once(' ').unwrap();
        let (w, i): (usize, usize) = (w.parse().unwrap(), i.parse().unwrap());
        assert_eq!(i, next[w], "writer {w} in order");
        next[w] += 1;
    }
    assert!(
        invocations >= 3,
        "the 1 s budget forced reconnects ({invocations} invocations)"
    );
}

/// A follow says where it starts (`X-Start-Cursor`): a client cut off before
/// its first entry or event id resumes from there and misses nothing; an
/// NDJSON follow that ends with no entry has no other position.
#[test]
fn a_follow_says_where_it_starts() {
    let host = tail_host(300, 1_000, 8);
    let task = register(&host, "t", "agent-a", false);
    append(&host, "t", "stdout", b"a\n");
    let follow = format!("{FOLLOW}{}", file_path(&task, "stdout"));
    let ndjson = [("accept", "application/x-ndjson")];
    let quiet = get_with(&host, &format!("{follow}?cursor=END"), &ndjson);
    assert_eq!(quiet.status, 200);
    assert_eq!(quiet.text().trim(), "", "nothing new in its budget");
    let start = quiet.header("x-start-cursor").expect("a start").to_owned();
    append(&host, "t", "stdout", b"b\n");
    let resumed = get_with(&host, &format!("{follow}?cursor={start}"), &ndjson);
    let entries: Vec<Value> = resumed
        .text()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("an entry"))
        .collect();
    assert_eq!(entries.len(), 1, "{}", resumed.text());
    assert_eq!(entries[0]["fields"]["MESSAGE"], "b");
    // The same place as an SSE follow's start: its end, when nothing came.
    let (status, events, _) = sse_once(&host, &format!("{follow}?cursor=END"), None);
    assert_eq!(status, 200);
    let end = events.last().and_then(|e| e.id.clone());
    let sse = get_with(
        &host,
        &format!("{follow}?cursor=END"),
        &[("accept", "text/event-stream")],
    );
    assert_eq!(sse.header("x-start-cursor").map(str::to_owned), end);
}

/// Whether a follow's events end the way a budget ends them: a resume event.
fn ends_with_resume(events: &[Event]) -> bool {
    events
        .last()
        .is_some_and(|e| e.event.as_deref() == Some("resume"))
}

#[test]
fn last_event_id_from_any_point_resumes_exactly() {
    let host = tail_host(300, 1_000, 8);
    let task = register(&host, "t", "agent-a", false);
    let lines: String = (0..200).map(|i| format!("l{i}\n")).collect();
    append(&host, "t", "stdout", lines.as_bytes());
    let follow = format!("{FOLLOW}{}", file_path(&task, "stdout"));
    let (_, events, _) = sse_once(&host, &format!("{follow}?cursor=BEG"), None);
    let data: Vec<&Event> = events.iter().filter(|e| e.event.is_none()).collect();
    assert_eq!(data.len(), 200);
    for k in [0usize, 1, 57, 123, 198, 199] {
        let id = data[k].id.clone().unwrap();
        let (status, after, _) = sse_once(&host, &follow, Some(&id));
        assert_eq!(status, 200, "resume after event {k}");
        assert!(ends_with_resume(&after), "resume after event {k}");
        let first = after.iter().find_map(message);
        let want = (k + 1 < 200).then(|| format!("l{}", k + 1));
        assert_eq!(first, want, "resume after event {k}");
        // EventSource reconnects with its first URL: a `skip` there placed
        // the first start only, and must not move the resume.
        let (status, after, _) = sse_once(&host, &format!("{follow}?skip=-10"), Some(&id));
        assert_eq!(status, 200, "skip=-10, event {k}");
        assert!(ends_with_resume(&after), "skip=-10, event {k}");
        assert_eq!(after.iter().find_map(message), want, "skip=-10, event {k}");
    }
    // The final resume event resumes at the end: the stream that follows
    // it has no line, and ends on a resume event of its own.
    let resume = events
        .iter()
        .find(|e| e.event.as_deref() == Some("resume"))
        .unwrap();
    let (status, after, _) = sse_once(&host, &follow, resume.id.as_deref());
    assert_eq!(status, 200);
    assert!(ends_with_resume(&after), "{after:?}");
    assert!(after.iter().all(|e| message(e).is_none()));
    // The DC/OS read route hands SSE to the tail with a 307.
    let r = get_with(
        &host,
        &file_path(&task, "stdout"),
        &[("accept", "text/event-stream")],
    );
    assert_eq!(r.status, 307);
    assert_eq!(r.header("location"), Some(follow.as_str()));
}

#[test]
fn an_idle_stream_gets_keepalives_and_a_resume_event() {
    let host = tail_host(1_200, 200, 8);
    let task = register(&host, "idle", "agent-a", false);
    append(&host, "idle", "stdout", b"only\n");
    let follow = format!("{FOLLOW}{}?cursor=END", file_path(&task, "stdout"));
    let started = Instant::now();
    let (status, events, comments) = sse_once(&host, &follow, None);
    assert_eq!(status, 200);
    assert!(
        comments >= 3,
        "keepalive comments on an idle stream: {comments}"
    );
    assert_eq!(
        events.last().and_then(|e| e.event.as_deref()),
        Some("resume")
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the stream ends inside its budget"
    );
}

/// A follow whose stream is live (its first line read), to drop later.
fn live_follow(host: &TestHost, follow: &str) -> impl BufRead {
    let first = client()
        .get(host.url(follow))
        .header("authorization", &superuser())
        .header("accept", "text/event-stream")
        .call()
        .unwrap();
    assert_eq!(first.status(), 200);
    let mut reader = std::io::BufReader::new(first.into_body().into_reader());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    reader
}

/// The status of a follow, without reading on (which would hold its slot).
fn follow_status(host: &TestHost, follow: &str) -> u16 {
    client()
        .get(host.url(follow))
        .header("authorization", &superuser())
        .header("accept", "text/event-stream")
        .call()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn a_follower_slot_frees_itself_when_the_client_goes_away() {
    let host = tail_host(20_000, 200, 1);
    let task = register(&host, "t", "agent-a", false);
    append(&host, "t", "stdout", b"x\n");
    let follow = format!("{FOLLOW}{}", file_path(&task, "stdout"));
    let reader = live_follow(&host, &follow);
    let busy = get_with(&host, &follow, &[("accept", "text/event-stream")]);
    let p = busy.problem(429);
    assert!(busy.header("retry-after").is_some(), "{p}");
    drop(reader); // the client vanishes mid-stream
    let freed = slot_freed_within(&host, &follow, Duration::from_secs(10));
    assert!(freed.is_some(), "the slot was not freed");
}

/// How long until a new follow of `follow` is let in (the only slot is
/// free again), or `None` if that takes longer than `within`.
fn slot_freed_within(host: &TestHost, follow: &str, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if follow_status(host, &format!("{follow}?cursor=END")) == 200 {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Between keepalives too: an idle follow notices a vanished client at its
/// next poll (the glue checks the connection while it waits), not at the
/// next keepalive, so the slot is back in well under the 15 s keepalive.
#[test]
fn an_idle_follow_gives_its_slot_back_soon_after_the_client_goes_away() {
    let host = tail_host(20_000, 15_000, 1);
    let task = register(&host, "t", "agent-a", false);
    append(&host, "t", "stdout", b"x\n");
    let follow = format!("{FOLLOW}{}", file_path(&task, "stdout"));
    let reader = live_follow(&host, &follow);
    // The one slot is held while the client is there.
    let busy = get_with(&host, &follow, &[("accept", "text/event-stream")]);
    busy.problem(429);
    drop(reader);
    // Well under the 15 s keepalive (the first write that would fail), with
    // room for a loaded machine.
    let freed = slot_freed_within(&host, &follow, Duration::from_secs(10));
    assert!(
        freed.is_some(),
        "the slot was still held 10 s after the client left"
    );
}

#[test]
fn a_follower_slot_expires_when_the_host_kills_the_instance() {
    // The host kills the instance mid-follow (its request time limit, as a
    // serverless host does): no guest code runs after, so nothing gives the
    // slot back and the lease's own expiry (the 4 s budget) must free it. A
    // client disconnect is not used here: the guest may notice it and give
    // the slot back before an abort lands, which is the other test's case.
    let host = host_with(HostOptions {
        variables: vec![
            ("tail_budget_ms".into(), "4000".into()),
            ("keepalive_ms".into(), "200".into()),
            ("max_followers".into(), "1".into()),
        ],
        request_timeout: Some(Duration::from_millis(1000)),
        ..Default::default()
    });
    let task = register(&host, "t", "agent-a", false);
    append(&host, "t", "stdout", b"x\n");
    let follow = format!("{FOLLOW}{}", file_path(&task, "stdout"));
    let mut reader = live_follow(&host, &follow);
    // Read until the host cuts the stream (at 1 s): the instance is gone.
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    get_with(&host, &follow, &[("accept", "text/event-stream")]).problem(429);
    let freed = slot_freed_within(&host, &follow, Duration::from_secs(15));
    assert!(freed.is_some(), "the lease never expired");
}

#[test]
fn scalingo_dump_filter_and_stream() {
    let host = tail_host(800, 300, 8);
    for (id, name, app) in [
        ("a1", "web-1", "shop"),
        ("a2", "web-2", "shop"),
        ("a3", "worker-1", "shop"),
        ("b1", "web-1", "blog"),
    ] {
        let body = format!(
            r#"{{"name":"{name}","agent_id":"A","framework_id":"F","container_id":"{id}","labels":{{"app":"{app}"}}}}"#
        );
        assert!(
            send(
                &host,
                "PUT",
                &format!("{INGEST}/tasks/{id}"),
                Some("application/json"),
                body.as_bytes()
            )
            .status
                < 300
        );
    }
    for (i, id) in ["a1", "a2", "a3", "b1", "a1"].iter().enumerate() {
        append(&host, id, "stdout", format!("hello {i}\n").as_bytes());
        std::thread::sleep(Duration::from_millis(5));
    }
    let lines = |q: &str| -> Vec<String> {
        let r = get(&host, &format!("/apps/shop/logs?{q}"));
        assert_eq!(r.status, 200, "{}", r.text());
        r.text()
            .lines()
            .map(|l| l.split_once(" +0000 UTC ").unwrap().1.to_owned())
            .collect()
    };
    assert_eq!(lines("n=2"), ["[worker-1] hello 2", "[web-1] hello 4"]);
    assert_eq!(
        lines("filter=web"),
        ["[web-1] hello 0", "[web-2] hello 1", "[web-1] hello 4"]
    );
    assert_eq!(lines("filter=web-2"), ["[web-2] hello 1"]);
    assert_eq!(
        lines("filter=worker|web-2&n=10"),
        ["[web-2] hello 1", "[worker-1] hello 2"]
    );
    get(&host, "/apps/shop/logs?filter=(").problem(400);
    get(&host, "/apps/nope/logs").problem(404);
    let ws = get_with(
        &host,
        "/apps/shop/logs?stream=true",
        &[
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-version", "13"),
        ],
    );
    assert!(
        ws.problem(400)["detail"]
            .as_str()
            .unwrap()
            .contains("Server-Sent Events")
    );

    let (status, events, comments) = sse_once(&host, "/apps/shop/logs?stream=true&n=1", None);
    assert_eq!(status, 200);
    assert!(comments >= 1);
    assert!(
        events.iter().any(|e| e.data.contains("\"name\":\"ping\"")),
        "ping events"
    );
    let logs: Vec<Value> = events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok())
        .filter(|v| v["name"] == "log")
        .collect();
    assert_eq!(logs.len(), 1);
    assert!(
        logs[0]["log"]
            .as_str()
            .unwrap()
            .ends_with("[web-1] hello 4")
    );
    let last = events.last().unwrap().id.clone().unwrap();
    append(&host, "a3", "stdout", b"later\n");
    let (_, after, _) = sse_once(&host, "/apps/shop/logs?stream=true", Some(&last));
    let logs: Vec<String> = after
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok())
        .filter_map(|v| v["log"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(logs[0].ends_with("[worker-1] later"));
    // The same resume spelled in the query, for a page that reopens the
    // stream itself (EventSource sends no headers).
    let encoded = last.replace(':', "%3A").replace(',', "%2C");
    let query = format!("/apps/shop/logs?stream=true&last_event_id={encoded}");
    let (_, again, _) = sse_once(&host, &query, None);
    let again: Vec<String> = again
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok())
        .filter_map(|v| v["log"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(again, logs);
}

#[test]
fn dotnet_logs_by_level_for_a_duration() {
    let host = tail_host(700, 300, 8);
    let post = |body: &str| {
        let r = send(
            &host,
            "POST",
            &format!("{INGEST}/component"),
            Some("application/x-ndjson"),
            body.as_bytes(),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    };
    post("{\"MESSAGE\":\"old\",\"PRIORITY\":\"2\"}");
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            post("{\"MESSAGE\":\"chatty\",\"PRIORITY\":\"7\"}\n{\"MESSAGE\":\"boom\",\"PRIORITY\":\"3\",\"_SYSTEMD_UNIT\":\"api.service\"}\n{\"MESSAGE\":\"careful\",\"LEVEL\":\"Warning\"}");
        });
        let r = get_with(
            &host,
            "/logs?level=Warning&durationSeconds=1",
            &[("accept", "application/x-ndjson")],
        );
        assert_eq!(r.status, 200);
        let entries: Vec<Value> = r
            .text()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let got: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| {
                (
                    e["LogLevel"].as_str().unwrap(),
                    e["Message"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, [("Error", "boom"), ("Warning", "careful")]);
        assert_eq!(entries[0]["Category"], "api.service");
    });
    // Over SSE, a duration longer than the budget continues on reconnect, then ends with 204.
    let (status, events, _) = sse_once(&host, "/logs?durationSeconds=2", None);
    assert_eq!(status, 200);
    let mut id = events.last().unwrap().id.clone().unwrap();
    let started = Instant::now();
    loop {
        let r = get_with(
            &host,
            "/logs",
            &[("accept", "text/event-stream"), ("last-event-id", &id)],
        );
        if r.status == 204 {
            break;
        }
        assert_eq!(r.status, 200);
        id = r
            .text()
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("id: "))
            .unwrap()
            .to_owned();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the duration ends"
        );
    }
    get(&host, "/logs?level=Loud").problem(400);
    get(&host, "/logs?durationSeconds=-5").problem(400);
}

/// A WebSocket handshake is a 400 pointing to SSE on every route family,
/// not only the streaming ones; a request with `Upgrade` but no key is no
/// handshake and gets its ordinary answer (issue 12, item 16).
#[test]
fn websocket_handshakes_are_refused_on_every_route() {
    let host = tail_host(300, 100, 8);
    let task = register(&host, "ws.1", "agent-a", false);
    assert_eq!(append(&host, "ws.1", "stdout", b"hello\n").status, 200);
    let handshake = [
        ("connection", "Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-version", "13"),
    ];
    for path in [
        file_path(&task, "stdout"),
        format!("{FOLLOW}{}", file_path(&task, "stdout")),
        "/system/v1/logs/v2/component".to_owned(),
        "/system/v1/logs/v2/task/ws.1".to_owned(),
        file_path(&task, "files/browse"),
    ] {
        let p = get_with(&host, &path, &handshake).problem(400);
        assert_eq!(p["title"], "WebSocket Not Supported", "{path}");
        assert!(p["detail"].as_str().unwrap().contains("Server-Sent Events"));
    }
    // Only the key makes a handshake.
    let plain = get_with(
        &host,
        &file_path(&task, "stdout"),
        &[("sec-websocket-version", "13")],
    );
    assert_eq!(plain.status, 200);
    assert_eq!(plain.text(), "hello\n");
}

/// Following a registered task's file that has no line yet waits for it
/// (keepalives meanwhile), as `tail -F` does, instead of a 404 that an
/// `EventSource` never retries; an unknown task stays a 404, and a plain
/// read of the missing file too (issue 12, item 5).
#[test]
fn a_follow_waits_for_a_file_that_does_not_exist_yet() {
    let host = tail_host(2_000, 200, 8);
    let task = register(&host, "early.1", "agent-a", false);
    let follow = format!("{FOLLOW}{}", file_path(&task, "stdout"));
    let (status, events, comments) = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(600));
            assert_eq!(
                append(&host, "early.1", "stdout", b"first line\n").status,
                200
            );
        });
        sse_once(&host, &follow, None)
    });
    assert_eq!(status, 200);
    assert!(comments >= 1, "keepalives while waiting");
    let lines: Vec<String> = events.iter().filter_map(message).collect();
    assert_eq!(lines, ["first line"]);
    // The agent read route sends an EventSource to the follow, not a 404.
    let r = get_with(
        &host,
        &file_path(&task, "stderr"),
        &[("accept", "text/event-stream")],
    );
    assert_eq!(r.status, 307, "{}", r.text());
    // A plain read of a missing file, and any read of an unknown task, are 404s.
    get(&host, &file_path(&task, "stderr")).problem(404);
    let mut ghost = task.clone();
    ghost["container_id"] = "no-such-container".into();
    let (status, _, _) = sse_once(
        &host,
        &format!("{FOLLOW}{}", file_path(&ghost, "stdout")),
        None,
    );
    assert_eq!(status, 404);
}

/// dotnet-monitor's `/logs/{pid}` and `/logs/{uid}` capture one process:
/// entries whose `_PID`, or whose runtime instance id (any GUID form, or
/// journald's invocation id), is the one named; anything else is a 400
/// (issue 13, dotnet-monitor part).
#[test]
fn dotnet_logs_of_one_process_by_pid_or_uid() {
    let host = tail_host(700, 300, 8);
    let capture = |path: &str| {
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(300));
                let body = concat!(
                    "{\"MESSAGE\":\"mine\",\"_PID\":\"4242\"}\n",
                    "{\"MESSAGE\":\"other\",\"_PID\":\"7\"}\n",
                    "{\"MESSAGE\":\"by uid\",\"RUNTIME_INSTANCE_ID\":\"1D2C3B4A-5F6E-4A8B-9C0D-E1F2A3B4C5D6\"}\n",
                    "{\"MESSAGE\":\"by invocation\",\"_SYSTEMD_INVOCATION_ID\":\"1d2c3b4a5f6e4a8b9c0de1f2a3b4c5d6\"}\n",
                );
                let r = send(&host, "POST", &format!("{INGEST}/component"), Some("application/x-ndjson"), body.as_bytes());
                assert_eq!(r.status, 200, "{}", r.text());
            });
            let r = get_with(
                &host,
                &format!("{path}?durationSeconds=1"),
                &[("accept", "application/x-ndjson")],
            );
            assert_eq!(r.status, 200, "{}", r.text());
            r.text()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    serde_json::from_str::<Value>(l).unwrap()["Message"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect::<Vec<String>>()
        })
    };
    assert_eq!(capture("/logs/4242"), ["mine"]);
    assert_eq!(
        capture("/logs/1d2c3b4a-5f6e-4a8b-9c0d-e1f2a3b4c5d6"),
        ["by uid", "by invocation"]
    );
    for bad in ["/logs/abc", "/logs/12a", "/logs/99999999999"] {
        let p = get(&host, bad).problem(400);
        assert_eq!(p["parameter"], "pid", "{bad}");
    }
}
