//! Faults (issue 26): what survives when the instance is killed in the
//! middle of an append, when the key-value store fails or stalls, when S3
//! misbehaves, when a follower's connection drops, and when a job step or an
//! archive run dies half-way. Each scenario checks that every acknowledged
//! write is present exactly once and nothing is torn, that the log can still
//! be appended to and read, and what the client was answered meanwhile.
//!
//! Faults come from the test host's fault plan for key-value calls
//! (`HostOptions::kv_faults`, [`Fault`]): `Hang` stops the instance at a
//! call until its time budget kills it (Spin's limit, or a Redis outage under
//! Spin), `HangAfter` just after it, `Fail` makes the call return an error.

mod common;

use common::*;
use spin_logs_tests::kv::{Call, Fault, Faults};
use spin_logs_tests::{HostOptions, TestHost};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the host lets an instance run before killing it.
const BUDGET: Duration = Duration::from_millis(1500);
/// The commit window of an idempotent append (`idempotency_in_flight_ms`):
/// short, so retries of killed attempts resolve quickly.
const IN_FLIGHT_MS: &str = "300";

/// A host whose key-value calls go through `plan`.
fn faulty_host(plan: impl Fn(&Call) -> Fault + Send + Sync + 'static) -> TestHost {
    let mut variables = test_variables();
    variables.push(("idempotency_in_flight_ms".into(), IN_FLIGHT_MS.into()));
    host_with(HostOptions {
        variables,
        request_timeout: Some(BUDGET),
        kv_faults: Some(Faults(Arc::new(plan))),
        ..HostOptions::default()
    })
}

/// One exchange that may fail at the transport: `None` if the connection
/// broke (a killed instance may leave it so), else status, Retry-After and body.
fn try_send(
    host: &TestHost,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, Option<u64>, Vec<u8>)> {
    let mut req = http::Request::builder()
        .method(method)
        .uri(host.url(path))
        .header("authorization", superuser());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(body.to_vec()).expect("a request");
    let resp = client().run(req).ok()?;
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = resp.into_body().read_to_vec().ok()?;
    Some((status, retry, body))
}

/// What a writer's client was answered, by kind, while it retried.
#[derive(Debug, Default)]
struct Seen {
    answers: BTreeMap<String, usize>,
}

impl Seen {
    fn note(&mut self, what: String) {
        *self.answers.entry(what).or_default() += 1;
    }
}

/// Appends `batch` with `key` until it is acknowledged (200), retrying a
/// broken connection, a 5xx and a 409 after Retry-After, as a shipper does.
fn append_until_acknowledged(
    host: &TestHost,
    path: &str,
    key: &str,
    batch: &[u8],
    seen: &Mutex<Seen>,
) {
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{key} never acknowledged"
        );
        let headers = [("content-type", "text/plain"), ("idempotency-key", key)];
        match try_send(host, "POST", path, &headers, batch) {
            None => seen.lock().unwrap().note("connection cut".into()),
            Some((200, _, _)) => return,
            Some((status, retry, body)) => {
                let text = String::from_utf8_lossy(&body);
                if status < 500 && status != 409 {
                    panic!("{key}: {status} {text}");
                }
                if status == 409 || status == 503 {
                    assert!(retry.is_some(), "{status} without Retry-After: {text}");
                    assert!(text.contains("\"detail\""), "{status} is a problem: {text}");
                }
                seen.lock().unwrap().note(format!("{status}"));
                let wait = retry.map_or(50, |s| s * 1000).min(2000);
                std::thread::sleep(Duration::from_millis(wait));
            }
        }
    }
}

/// `writers` threads each append `batches` two-line batches to `file` of
/// task `task`, each batch with its own idempotency key.
fn write_concurrently(host: &TestHost, task: &str, writers: usize, batches: usize) -> Seen {
    let path = format!("{INGEST}/tasks/{task}/files/stdout");
    let seen = Mutex::new(Seen::default());
    std::thread::scope(|s| {
        for w in 0..writers {
            let (path, seen) = (&path, &seen);
            s.spawn(move || {
                for b in 0..batches {
                    let batch = format!("w{w} b{b} one\nw{w} b{b} two\n");
                    let key = format!("w{w}-{b}");
                    append_until_acknowledged(host, path, &key, batch.as_bytes(), seen);
                }
            });
        }
    });
    seen.into_inner().unwrap()
}

/// Every writer's lines are in the log exactly once, in its order, and
/// nothing else is.
fn assert_each_line_once(
    host: &TestHost,
    task: &serde_json::Value,
    writers: usize,
    batches: usize,
) {
    let text = get(host, &file_path(task, "stdout")).text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        writers * batches * 2,
        "every line once, nothing else:\n{text}"
    );
    for w in 0..writers {
        let mine: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.starts_with(&format!("w{w} ")))
            .collect();
        let want: Vec<String> = (0..batches)
            .flat_map(|b| [format!("w{w} b{b} one"), format!("w{w} b{b} two")])
            .collect();
        assert_eq!(mine, want, "writer {w}'s lines, once each and in order");
    }
}

/// A plan that applies `fault` to the `nth`, `2nth`, ... call of an ingest
/// instance matching `op` and `key`, `times` times in all.
fn every_nth(
    ops: &'static [&'static str],
    key: &'static str,
    fault: Fault,
    nth: usize,
    times: usize,
) -> impl Fn(&Call) -> Fault + Send + Sync {
    let seen = AtomicUsize::new(0);
    move |c: &Call| {
        if c.component != "ingest" || !ops.contains(&c.op) || !c.key.contains(key) {
            return Fault::None;
        }
        let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
        if n.is_multiple_of(nth) && n / nth <= times {
            fault.clone()
        } else {
            Fault::None
        }
    }
}

/// (a) The instance killed at each point of an append: before its segments
/// are stored, after them (at the commit's read), just after the commit,
/// just after the receipt. Four writers retry what was not acknowledged with
/// the same key; every line lands once.
#[test]
fn appends_killed_at_every_point_are_stored_once() {
    let points: [(&str, &'static [&'static str], &str, Fault); 4] = [
        (
            "before the segments",
            &["set", "set-many"],
            "blob/",
            Fault::Hang,
        ),
        ("after the segments", &["cas-new"], "/head", Fault::Hang),
        ("after the commit", &["swap"], "/head", Fault::HangAfter),
        ("after the receipt", &["set"], "/r/", Fault::HangAfter),
    ];
    for (name, ops, key, fault) in points {
        let host = faulty_host(every_nth(ops, key, fault, 7, 3));
        let task = register(&host, "t1", "agent-1", false);
        let seen = write_concurrently(&host, "t1", 4, 12);
        eprintln!("killed {name}: answers seen {:?}", seen.answers);
        assert!(
            !seen.answers.is_empty(),
            "{name}: the faults were hit (some attempts failed)"
        );
        assert_each_line_once(&host, &task, 4, 12);
        // Still appendable and readable.
        assert_eq!(
            append(&host, "t1", "stdout", b"after\n").status,
            200,
            "{name}"
        );
        assert!(
            get(&host, &file_path(&task, "stdout"))
                .text()
                .ends_with("after\n")
        );
    }
}

/// The duplicate issue 26 found on a real Spin: the instance dies between
/// the commit and its receipt; then more than the 32 receipts a head keeps
/// of other appends land; then the client retries. It must replay.
fn crash_then_many_then_retry(host: &TestHost, armed: &AtomicBool) {
    let task = register(host, "t1", "agent-1", false);
    let path = format!("{INGEST}/tasks/t1/files/stdout");
    let headers = [
        ("content-type", "text/plain"),
        ("idempotency-key", "the-one"),
    ];
    armed.store(true, Ordering::SeqCst);
    let first = try_send(host, "POST", &path, &headers, b"mine one\nmine two\n");
    assert!(
        first.as_ref().is_none_or(|(s, _, _)| *s >= 500),
        "the killed attempt was not acknowledged: {first:?}"
    );
    armed.store(false, Ordering::SeqCst);
    for i in 0..40 {
        let key = format!("other-{i}");
        let h = [
            ("content-type", "text/plain"),
            ("idempotency-key", key.as_str()),
        ];
        let r = try_send(host, "POST", &path, &h, format!("other {i}\n").as_bytes());
        assert_eq!(r.map(|(s, _, _)| s), Some(200));
    }
    let retry = send_with(
        host,
        "POST",
        &path,
        &headers[1..],
        Some("text/plain"),
        b"mine one\nmine two\n",
    );
    assert_eq!(retry.status, 200, "{}", retry.text());
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    let text = get(host, &file_path(&task, "stdout")).text();
    assert_eq!(text.matches("mine one\nmine two\n").count(), 1, "{text}");
    assert_eq!(text.lines().count(), 42);
}

/// Dies right after the head's swap (the commit) while `armed`.
fn after_commit(armed: Arc<AtomicBool>) -> impl Fn(&Call) -> Fault + Send + Sync {
    move |c: &Call| {
        if armed.load(Ordering::SeqCst) && c.op == "swap" && c.key.ends_with("/head") {
            Fault::HangAfter
        } else {
            Fault::None
        }
    }
}

#[test]
fn a_crash_between_commit_and_receipt_then_32_appends_then_the_retry_is_stored_once() {
    let armed = Arc::new(AtomicBool::new(false));
    let host = faulty_host(after_commit(armed.clone()));
    crash_then_many_then_retry(&host, &armed);
}

#[test]
fn the_same_on_redis() {
    let server = spin_logs_tests::services::RedisServer::start().expect("redis-server");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = server
        .runtime_config(dir.path(), 0)
        .expect("runtime config");
    let armed = Arc::new(AtomicBool::new(false));
    let mut variables = test_variables();
    variables.push(("idempotency_in_flight_ms".into(), IN_FLIGHT_MS.into()));
    let host = host_with(HostOptions {
        variables,
        runtime_config: Some(config),
        request_timeout: Some(BUDGET),
        kv_faults: Some(Faults(Arc::new(after_commit(armed.clone())))),
        ..HostOptions::default()
    });
    crash_then_many_then_retry(&host, &armed);
}

/// (b) The store fails every write for a while, then stalls every call: the
/// appends made meanwhile are refused with a 503, `Retry-After` and a
/// problem body, reads still answer, and the retries land once each.
#[test]
fn a_failing_then_stalling_store_loses_and_repeats_nothing() {
    let failing = Arc::new(AtomicBool::new(false));
    let stalling = Arc::new(AtomicBool::new(false));
    let (f, st) = (failing.clone(), stalling.clone());
    let host = faulty_host(move |c: &Call| {
        let write = matches!(c.op, "set" | "set-many" | "swap" | "increment" | "delete");
        if f.load(Ordering::SeqCst) && write && c.component == "ingest" {
            Fault::Fail("injected: the store refuses writes".into())
        } else if st.load(Ordering::SeqCst) {
            Fault::Stall(Duration::from_millis(15))
        } else {
            Fault::None
        }
    });
    let task = register(&host, "t1", "agent-1", false);
    failing.store(true, Ordering::SeqCst);
    let refused = append(&host, "t1", "stdout", b"during\n");
    let p = refused.problem(503);
    assert!(refused.header("retry-after").is_some(), "{p}");
    assert_eq!(
        get(&host, &file_path(&task, "stdout")).status,
        404,
        "no file yet, and reads answer"
    );
    let flip = {
        let (f, st) = (failing.clone(), stalling.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(600));
            f.store(false, Ordering::SeqCst);
            st.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(1500));
            st.store(false, Ordering::SeqCst);
        })
    };
    let seen = write_concurrently(&host, "t1", 3, 8);
    flip.join().unwrap();
    eprintln!("store faults: answers seen {:?}", seen.answers);
    assert!(seen.answers.get("503").is_some_and(|n| *n > 0), "{seen:?}");
    assert!(!seen.answers.contains_key("500"), "never a 500: {seen:?}");
    assert_each_line_once(&host, &task, 3, 8);
}

/// (c) S3 answers 500 and 503 SlowDown, stalls past the transport's timeout
/// and resets connections. Appends that S3 fails after the client's own
/// retries are refused with a 503 and `Retry-After`; retried, every line
/// lands once, and the log reads back whole.
#[test]
fn s3_errors_stalls_and_resets_lose_and_repeat_nothing() {
    use spin_logs_tests::faultproxy::{Act, FaultProxy};
    use spin_logs_tests::services::S3Server;
    let server = S3Server::start().expect("s3s-fs");
    let upstream = server.endpoint().trim_start_matches("http://").to_owned();
    let n = Arc::new(AtomicUsize::new(0));
    let counter = n.clone();
    let proxy = FaultProxy::start(
        &upstream,
        Arc::new(move |method: &str, _path: &str| {
            let i = counter.fetch_add(1, Ordering::SeqCst);
            match (method, i % 9) {
                ("PUT", 1) => Act::Status(503, "SlowDown"),
                ("PUT", 4) => Act::Status(500, "InternalError"),
                ("GET", 2) => Act::Status(500, "InternalError"),
                (_, 6) if i < 60 => Act::Reset,
                (_, 7) if i == 25 => Act::Stall(Duration::from_secs(7)),
                _ => Act::Pass,
            }
        }),
    )
    .expect("fault proxy");
    let mut variables = test_variables();
    variables.extend(server.variables());
    for (k, v) in &mut variables {
        if k == "s3_endpoint" {
            *v = proxy.endpoint();
        }
    }
    variables.push(("idempotency_in_flight_ms".into(), IN_FLIGHT_MS.into()));
    let host = host_with(HostOptions {
        variables,
        request_timeout: Some(Duration::from_secs(25)),
        ..HostOptions::default()
    });
    let task = register(&host, "t1", "agent-1", false);
    let seen = write_concurrently(&host, "t1", 3, 10);
    eprintln!("S3 faults: answers seen {:?}", seen.answers);
    assert!(!seen.answers.contains_key("500"), "never a 500: {seen:?}");
    assert!(n.load(Ordering::SeqCst) > 30, "the proxy saw the traffic");
    // Reads retry what S3 fails too; read until a read gets through whole.
    let mut text = String::new();
    for _ in 0..10 {
        let r = get(&host, &file_path(&task, "stdout"));
        if r.status == 200 {
            text = r.text();
            break;
        }
        assert_eq!(r.status, 503, "{}", r.text());
    }
    assert_eq!(text.lines().count(), 60, "{text}");
    assert_each_line_once(&host, &task, 3, 10);
}

/// (d) A follower's connection drops in the middle of an event: the client
/// reconnects with the last id it got whole and misses and repeats nothing.
#[test]
fn a_follow_cut_mid_event_resumes_exactly() {
    use std::io::{Read, Write};
    let mut variables = test_variables();
    variables.push(("tail_budget_ms".into(), "1500".into()));
    let host = host_with(HostOptions {
        variables,
        ..HostOptions::default()
    });
    let task = register(&host, "t1", "agent-1", false);
    let all: String = (0..200).map(|i| format!("line {i:03}\n")).collect();
    assert_eq!(append(&host, "t1", "stdout", all.as_bytes()).status, 200);
    let follow = format!("/system/v1/logs/v2/follow{}", file_path(&task, "stdout"));
    // Read raw bytes and cut the connection part-way through an event.
    let url = host.url("/");
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET {follow}?cursor=BEG HTTP/1.1\r\nhost: {addr}\r\nauthorization: {}\r\naccept: text/event-stream\r\n\r\n",
        superuser()
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 97];
    while got.len() < 3_000 {
        let n = stream.read(&mut buf).expect("read");
        assert!(n > 0, "the stream ended early");
        got.extend_from_slice(&buf[..n]);
    }
    drop(stream);
    let text = String::from_utf8_lossy(&got).into_owned();
    let body = &text[text.find("\r\n\r\n").expect("a head") + 4..];
    // The whole events received before the cut (each ends in a blank line;
    // the last, cut, one does not), their messages and the last id.
    let mut lines = Vec::new();
    let mut last_id = None;
    let whole = &body[..body.rfind("\n\n").expect("a whole event")];
    for event in whole.split("\n\n") {
        for l in event.lines() {
            if let Some(d) = l.strip_prefix("data: ") {
                let e = Event {
                    data: d.to_owned(),
                    ..Event::default()
                };
                lines.extend(message(&e));
            }
            if let Some(id) = l.strip_prefix("id: ") {
                last_id = Some(id.trim().to_owned());
            }
        }
    }
    assert!(
        !lines.is_empty() && lines.len() < 200,
        "cut mid-way: {}",
        lines.len()
    );
    let last_id = last_id.expect("a whole event before the cut");
    // Resume with Last-Event-ID, as EventSource does.
    let (status, events, _) = sse_once(&host, &follow, Some(&last_id));
    assert_eq!(status, 200);
    lines.extend(events.iter().filter_map(message));
    let want: Vec<String> = (0..200).map(|i| format!("line {i:03}")).collect();
    assert_eq!(lines, want, "every line once, in order, across the cut");
}

/// A plan that kills (just after it) the first call of `component` that
/// writes a key holding `part`, once; `kills` counts it.
fn kill_once(
    component: &'static str,
    part: &'static str,
    kills: Arc<AtomicUsize>,
) -> impl Fn(&Call) -> Fault + Send + Sync {
    move |c: &Call| {
        let write = matches!(c.op, "set" | "set-many");
        if c.component == component
            && write
            && c.key.contains(part)
            && kills.fetch_add(1, Ordering::SeqCst) == 0
        {
            Fault::HangAfter
        } else {
            Fault::None
        }
    }
}

/// MongoDB's log-collection jobs of the test group.
const JOBS: &str = "/api/public/v1.0/groups/5f0c8a2be4b0a1d2c3e4f5a6/logCollectionJobs";

/// A host whose first write of an archive part hangs its step until the
/// host kills it, a task file of 20,000 lines, and a job created to
/// collect it: the host, the file's text and the job's id (found by
/// listing: the create's own step may be the one killed).
fn job_with_a_killed_step(kills: &Arc<AtomicUsize>) -> (TestHost, String, String) {
    let host = faulty_host(kill_once("archive", "jobpart/", kills.clone()));
    register(&host, "t1", "agent-1", false);
    let text: String = (0..20_000).map(|i| format!("job line {i:05}\n")).collect();
    assert_eq!(append(&host, "t1", "stdout", text.as_bytes()).status, 200);
    let created = try_send(
        &host,
        "POST",
        JOBS,
        &[("content-type", "application/json")],
        br#"{"tasks":["t1"]}"#,
    );
    eprintln!("the create answered {:?}", created.map(|c| c.0));
    let id = get(&host, JOBS).json()["results"][0]["id"]
        .as_str()
        .expect("a job")
        .to_owned();
    (host, text, id)
}

/// (e) A log collection job whose step is killed mid-way (just after it
/// stored a part of the archive) is picked up by the next poll and
/// completes, and its archive holds the file whole, once.
#[test]
fn a_job_step_killed_mid_way_completes_afterwards() {
    let kills = Arc::new(AtomicUsize::new(0));
    let (host, text, id) = job_with_a_killed_step(&kills);
    let started = Instant::now();
    let status = loop {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the job never finished"
        );
        if let Some((200, _, body)) = try_send(&host, "GET", &format!("{JOBS}/{id}"), &[], b"") {
            let job: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let s = job["status"].as_str().unwrap_or_default().to_owned();
            if s != "IN_PROGRESS" {
                break s;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status, "SUCCESS");
    assert!(kills.load(Ordering::SeqCst) > 0, "a step was killed");
    let archive = get(&host, &format!("{JOBS}/{id}/download"));
    assert_eq!(archive.status, 200);
    let mut files = tar::Archive::new(flate2::read::GzDecoder::new(&archive.body[..]));
    let mut found = 0;
    for entry in files.entries().expect("a tar") {
        let mut entry = entry.expect("an entry");
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        if path.ends_with("stdout") {
            let mut got = String::new();
            std::io::Read::read_to_string(&mut entry, &mut got).unwrap();
            assert_eq!(got, text, "the file whole, once, in the archive");
            found += 1;
        }
    }
    assert_eq!(found, 1, "the task's stdout is in the archive once");
}

/// (e) A job deleted while the lease of its killed step is still live: the
/// part that step stored under its lease goes with the job (no later step
/// would ever delete it, once the record is gone).
#[test]
fn a_job_deleted_after_a_killed_step_leaves_no_part_behind() {
    let kills = Arc::new(AtomicUsize::new(0));
    let (host, _, id) = job_with_a_killed_step(&kills);
    if kills.load(Ordering::SeqCst) == 0 {
        // The create's own step finished nothing: the next poll's is cut.
        try_send(&host, "GET", &format!("{JOBS}/{id}"), &[], b"");
    }
    assert_eq!(kills.load(Ordering::SeqCst), 1, "a step was killed");
    let parts = || stored_keys(&host, &format!("jobpart/{id}/"));
    assert!(!parts().is_empty(), "the killed step stored a part");
    let deleted = send(&host, "DELETE", &format!("{JOBS}/{id}"), None, b"");
    assert!(deleted.status < 300, "{}", deleted.text());
    assert_eq!(parts(), Vec::<String>::new());
}

/// (e) An archive run killed mid-step (just after it stored an archive
/// object) resumes at the next start and finishes; every line still reads
/// back once, through the archive.
#[test]
fn an_archive_run_killed_mid_step_finishes_and_reads_stay_whole() {
    use serde_json::json;
    let kills = Arc::new(AtomicUsize::new(0));
    let mut variables = test_variables();
    variables.push(("archive_grace_ms".into(), "0".into()));
    variables.push(("job_step_ms".into(), "200".into()));
    let host = host_with(HostOptions {
        variables,
        request_timeout: Some(BUDGET),
        kv_faults: Some(Faults(Arc::new(kill_once(
            "retention",
            ".gz",
            kills.clone(),
        )))),
        ..HostOptions::default()
    });
    let task = register(&host, "t1", "agent-1", false);
    let mut all = String::new();
    for i in 0..300 {
        let batch: String = (0..4).map(|j| format!("GET /item/{i}/{j} 200\n")).collect();
        assert_eq!(append(&host, "t1", "stdout", batch.as_bytes()).status, 200);
        all.push_str(&batch);
    }
    let policy = json!({"name": "all", "archive_after": "0s"});
    let created = send(
        &host,
        "POST",
        "/k8s/v1/archive/policies",
        Some("application/json"),
        policy.to_string().as_bytes(),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_str().expect("an id").to_owned();
    let start = json!({"policy_id": id}).to_string();
    // A killed step's lease lapses after its budget and 5 s; polls meanwhile
    // answer 202 with the run as it stands.
    let mut answers = Vec::new();
    let started = Instant::now();
    let run = loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never finished: {answers:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
        let r = try_send(
            &host,
            "POST",
            "/k8s/v1/archive/start",
            &[("content-type", "application/json")],
            start.as_bytes(),
        );
        match r {
            Some((200, _, body)) => {
                break serde_json::from_slice::<serde_json::Value>(&body).unwrap();
            }
            Some((s, _, _)) => answers.push(s),
            None => answers.push(0),
        }
    };
    eprintln!("archive run answers before DONE: {answers:?}; {run}");
    assert_eq!(run["status"], "DONE");
    assert!(kills.load(Ordering::SeqCst) > 0, "a step was killed");
    assert!(run["stats"]["pages_archived"].as_u64() >= Some(2), "{run}");
    assert_eq!(
        get(&host, &file_path(&task, "stdout")).text(),
        all,
        "every line once"
    );
}

/// Redis killed and restarted from its append-only file (`appendfsync
/// always`). While it is down, a request gets no answer at all: Spin's Redis
/// backend has no response timeout and the test host imitates it, so the
/// only end is the host's time budget or the client's patience (see
/// docs/storage.md, "When Redis is down"). Once it is back, everything
/// acknowledged before is there, and writes work again.
#[test]
fn while_redis_is_down_requests_hang_and_after_it_nothing_is_lost() {
    let mut server = spin_logs_tests::services::RedisServer::start_durable().expect("redis-server");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = server
        .runtime_config(dir.path(), 0)
        .expect("runtime config");
    let host = host_with(HostOptions {
        runtime_config: Some(config),
        ..HostOptions::default()
    });
    let task = register(&host, "t1", "agent-1", false);
    assert_eq!(append(&host, "t1", "stdout", b"before\n").status, 200);
    server.kill();
    let patient = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(3)))
        .build();
    let agent: ureq::Agent = patient.into();
    let started = Instant::now();
    let answer = agent
        .get(host.url(&file_path(&task, "stdout")))
        .header("authorization", &superuser())
        .call();
    assert!(answer.is_err(), "no answer while Redis is down: {answer:?}");
    assert!(started.elapsed() >= Duration::from_millis(2900));
    server.restart().expect("redis-server again");
    assert_eq!(append(&host, "t1", "stdout", b"after\n").status, 200);
    assert_eq!(
        get(&host, &file_path(&task, "stdout")).text(),
        "before\nafter\n"
    );
}

/// Not a check: prints the key-value calls each kind of request makes, for
/// finding where a request's time goes (`cargo test --test faults -- --ignored
/// --nocapture calls_per_request`).
#[test]
#[ignore = "a diagnostic that prints, not a check"]
fn calls_per_request() {
    let calls: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = calls.clone();
    let host = faulty_host(move |c: &Call| {
        seen.lock()
            .unwrap()
            .push(format!("{} {} {}", c.component, c.op, c.key));
        Fault::None
    });
    let task = register(&host, "t1", "agent-1", false);
    assert_eq!(append(&host, "t1", "stdout", b"one\ntwo\n").status, 200);
    for (what, path, auth) in [
        (
            "small read",
            format!("{}?cursor=END&skip=-1", file_path(&task, "stdout")),
            true,
        ),
        ("401", file_path(&task, "stdout"), false),
        ("index", "/".to_owned(), false),
        ("append", format!("{INGEST}/tasks/t1/files/stdout"), true),
    ] {
        calls.lock().unwrap().clear();
        let r = if what == "append" {
            append(&host, "t1", "stdout", b"three\n")
        } else if auth {
            get(&host, &path)
        } else {
            get_as(&host, &path, None)
        };
        let calls = calls.lock().unwrap();
        eprintln!("{what}: {} -> {} calls", r.status, calls.len());
        for c in calls.iter() {
            eprintln!("    {c}");
        }
    }
}
