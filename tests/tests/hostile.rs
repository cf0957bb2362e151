//! End-to-end: hostile input on every route family, through real HTTP against
//! the real components. Every answer is checked for its status, for being an
//! `application/problem+json` problem (when the component answers; the host
//! answers some inputs itself), for storing nothing (`stored_rows` unchanged)
//! and for leaking nothing (no stored line in the body). The table in
//! `docs/hostile-input.md` lists the same inputs.

mod common;

use common::*;
use sha2::{Digest, Sha256};
use spin_logs_tests::{HostOptions, TestHost};
use std::io::{Read, Write};
use std::time::Duration;

const FOLLOW: &str = "/system/v1/logs/v2/follow";
const COMPONENT: &str = "/system/v1/logs/v2/component";
const DISCOVERY: &str = "/system/v1/logs/v2/task";
/// Every stored line contains this; no hostile answer may.
const SECRET: &str = "SECRET";

/// Two tasks on two agents (t1 standalone on agent-1 in app shop, t2 a pod
/// task on agent-2 in app blog), each with a stdout, plus journal entries.
struct Fixture {
    host: TestHost,
    t1: serde_json::Value,
    t2: serde_json::Value,
}

fn fixture(opts: HostOptions) -> Fixture {
    let mut opts = opts;
    // Follows that succeed only replay what is stored: a short budget ends them.
    opts.variables.push(("tail_budget_ms".into(), "300".into()));
    let host = host_with(opts);
    let t1 = register_in(&host, "t1", "agent-1", false, "shop");
    let t2 = register_in(&host, "t2", "agent-2", true, "blog");
    for id in ["t1", "t2"] {
        let lines = format!("{SECRET} {id} one\n{SECRET} {id} two\n");
        assert_eq!(append(&host, id, "stdout", lines.as_bytes()).status, 200);
    }
    let r = send(
        &host,
        "POST",
        &format!("{INGEST}/component"),
        Some("application/x-ndjson"),
        format!(
            "{{\"MESSAGE\":\"{SECRET} a\",\"UNIT\":\"a.service\"}}\n{{\"MESSAGE\":\"{SECRET} b\",\"UNIT\":\"b\"}}\n"
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    Fixture { host, t1, t2 }
}

fn register_in(host: &TestHost, id: &str, agent: &str, pod: bool, app: &str) -> serde_json::Value {
    let body = serde_json::json!({
        "name": format!("{id}-1"),
        "agent_id": agent,
        "framework_id": "fw-1",
        "executor_id": if pod { Some("pod-executor") } else { None },
        "container_id": format!("{id}-container"),
        "pod": pod,
        "labels": {"app": app},
    });
    let r = send(
        host,
        "PUT",
        &format!("{INGEST}/tasks/{id}"),
        Some("application/json"),
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

/// Sends one hostile request and checks the answer: `status`, a problem body,
/// nothing stored, nothing leaked. Returns the problem.
fn refused(
    host: &TestHost,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    status: u16,
) -> serde_json::Value {
    let before = stored_rows(host.state_dir());
    let r = send_with(host, method, path, headers, None, body);
    let what = format!("{method} {}", &path[..path.len().min(160)]);
    assert_eq!(r.status, status, "{what}: {}", r.text());
    let p = r.problem(status);
    assert_eq!(
        stored_rows(host.state_dir()),
        before,
        "{what} stored something"
    );
    assert!(!r.text().contains(SECRET), "{what} leaked: {}", r.text());
    p
}

fn get_refused(host: &TestHost, path: &str, status: u16) -> serde_json::Value {
    refused(host, "GET", path, &[], b"", status)
}

/// The agent route prefix of a task from [`register_in`].
fn base(task: &serde_json::Value) -> String {
    file_path(task, "stdout")
        .strip_suffix("/stdout")
        .expect("a file path")
        .to_owned()
}

/// One raw HTTP/1.1 exchange, for bytes no HTTP client will send. Returns the
/// status and the body (whatever arrived before the server closed).
fn raw(host: &TestHost, request: &[u8]) -> (u16, String) {
    let (status, _, body) = raw_exchange(host, request);
    (status, body)
}

/// [`raw`], with the response head (status line and headers) too.
fn raw_exchange(host: &TestHost, request: &[u8]) -> (u16, String, String) {
    // Credentials go right after the request line, as the helpers' requests carry them.
    let request = match request.windows(2).position(|w| w == b"\r\n") {
        Some(eol) => [
            &request[..eol + 2],
            format!("authorization: {}\r\n", superuser()).as_bytes(),
            &request[eol + 2..],
        ]
        .concat(),
        None => request.to_vec(),
    };
    let request = request.as_slice();
    let mut stream = std::net::TcpStream::connect(host.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(request);
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_owned(), body.to_owned())
}

fn hex_check(domain: &str, payload: &str) -> String {
    let d = Sha256::digest(format!("{domain}:{payload}").as_bytes());
    d[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// Task and file names that must never become a path component: each in
/// every place a name appears in a path. The library's one table of them,
/// which its unit tests walk too.
const TRAVERSALS: [&str; 12] = spin_logs::web::path::HOSTILE_SEGMENTS;

#[test]
fn path_traversal_in_any_name_is_a_400_on_every_route() {
    let Fixture { host, t1, t2 } = fixture(HostOptions::default());
    let long = "x".repeat(256);
    let names: Vec<&str> = TRAVERSALS.iter().copied().chain([long.as_str()]).collect();
    let task_json = br#"{"name":"n","agent_id":"A","framework_id":"F","container_id":"C"}"#;
    for bad in &names {
        // Write side: task ids and file names.
        refused(
            &host,
            "PUT",
            &format!("{INGEST}/tasks/{bad}"),
            &[],
            task_json,
            400,
        );
        refused(
            &host,
            "GET",
            &format!("{INGEST}/tasks/{bad}"),
            &[],
            b"",
            400,
        );
        refused(
            &host,
            "POST",
            &format!("{INGEST}/tasks/t1/files/{bad}"),
            &[],
            b"x\n",
            400,
        );
        refused(
            &host,
            "POST",
            &format!("{INGEST}/tasks/{bad}/files/stdout"),
            &[],
            b"x\n",
            400,
        );
        // Discovery, component logs, Scalingo apps.
        for path in [
            format!("{DISCOVERY}/{bad}"),
            format!("{DISCOVERY}/{bad}/browse"),
            format!("{DISCOVERY}/t1/file/{bad}"),
            format!("{DISCOVERY}/t1/file/{bad}/download"),
            format!("{COMPONENT}/{bad}"),
            format!("{FOLLOW}{COMPONENT}/{bad}"),
            format!("/apps/{bad}/logs"),
        ] {
            get_refused(&host, &path, 400);
        }
        // Agent routes: every id and the file name, read, browse, download, follow.
        let b1 = base(&t1);
        let b2 = base(&t2);
        let mut paths = vec![
            format!("{b1}/{bad}"),
            format!("{b1}/{bad}/download"),
            format!("{FOLLOW}{b1}/{bad}"),
            format!("{b2}/{bad}"),
        ];
        for (i, seg) in ["agent-1", "fw-1", "t1", "t1-container"].iter().enumerate() {
            let hostile = b1.replacen(&format!("/{seg}"), &format!("/{bad}"), 1);
            assert_ne!(hostile, b1, "{i}");
            paths.push(format!("{hostile}/stdout"));
            paths.push(format!("{hostile}/files/browse"));
            paths.push(format!("{hostile}/stdout/download"));
        }
        let pod = b2.replacen("/tasks/t2", &format!("/tasks/{bad}"), 1);
        paths.push(format!("{pod}/stdout"));
        paths.push(format!("{pod}/files/browse"));
        for path in paths {
            get_refused(&host, &path, 400);
        }
    }
    // Absolute paths spelled with empty segments reach no route: 404, nothing read.
    refused(
        &host,
        "PUT",
        &format!("{INGEST}/tasks//etc/passwd"),
        &[],
        task_json,
        404,
    );
    get_refused(&host, &format!("{DISCOVERY}//etc/passwd"), 404);
}

#[test]
fn bytes_no_client_sends_are_refused_by_the_host_or_the_component() {
    let Fixture { host, t1, .. } = fixture(HostOptions::default());
    let before = stored_rows(host.state_dir());
    let path = file_path(&t1, "stdout");
    for (request, want) in [
        // A raw NUL, a raw invalid UTF-8 byte in the path or in the query:
        // hyper refuses the request line (400, empty body) before any routing.
        (
            format!("GET {INGEST}/tasks/a\0b HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
                .into_bytes(),
            400,
        ),
        (
            [
                &b"GET "[..],
                path.as_bytes(),
                b"\xff HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
            ]
            .concat(),
            400,
        ),
        (
            [
                &b"GET "[..],
                path.as_bytes(),
                b"?cursor=\xff HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
            ]
            .concat(),
            400,
        ),
        // A header value that is not UTF-8: Spin (and this host) refuse it with a 500.
        (
            [
                &b"GET "[..],
                path.as_bytes(),
                b" HTTP/1.1\r\nhost: t\r\nconnection: close\r\nlast-event-id: \xff\r\n\r\n",
            ]
            .concat(),
            500,
        ),
    ] {
        let (status, body) = raw(&host, &request);
        assert_eq!(status, want, "{}", String::from_utf8_lossy(&request));
        assert!(!body.contains(SECRET));
    }
    // Raw UTF-8 in a URI passes the host; echoed in a redirect it is percent-encoded.
    for (target, status, location) in [
        (
            format!("{DISCOVERY}/t1?x=\u{e9}"),
            303,
            format!("{path}?x=%C3%A9"),
        ),
        (
            format!("{path}?stream=true&x=\u{e9}"),
            307,
            format!("{FOLLOW}{path}?stream=true&x=%C3%A9"),
        ),
    ] {
        let request = format!("GET {target} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
        let (got, head, _) = raw_exchange(&host, request.as_bytes());
        assert_eq!(got, status, "{head}");
        let want = format!("location: {location}").to_ascii_lowercase();
        assert!(head.to_ascii_lowercase().contains(&want), "{head}");
    }
    // UTF-8 but not ASCII where the API reads a header: the component's 400.
    let p = refused(
        &host,
        "GET",
        &format!("{FOLLOW}{path}"),
        &[("accept", "text/event-stream"), ("last-event-id", "é")],
        b"",
        400,
    );
    assert_eq!(p["parameter"], "Last-Event-ID");
    let p = refused(
        &host,
        "POST",
        &format!("{INGEST}/tasks/t1/files/stdout"),
        &[("idempotency-key", "clé")],
        b"x\n",
        400,
    );
    assert_eq!(p["parameter"], "Idempotency-Key");
    // Percent-encoded invalid UTF-8 in the query: the component's 400.
    for q in ["cursor=%ff", "filter=%fe:x", "x=%c3"] {
        let p = get_refused(&host, &format!("{path}?{q}"), 400);
        assert_eq!(p["parameter"], "query", "{q}");
    }
    assert_eq!(stored_rows(host.state_dir()), before);
}

#[test]
fn oversized_uris_headers_and_bodies() {
    let Fixture { host, t1, .. } = fixture(HostOptions {
        variables: vec![("max_body_bytes".into(), "1024".into())],
        ..HostOptions::default()
    });
    let path = file_path(&t1, "stdout");
    let long_query = format!("?pad={}", "q".repeat(9000));
    let long_name = "a".repeat(9000);
    let pad = "p".repeat(20 * 1024);
    let routes = [
        path.clone(),
        format!("{path}/download"),
        format!("{}/files/browse", base(&t1)),
        format!("{FOLLOW}{path}"),
        format!("{COMPONENT}/a"),
        format!("{DISCOVERY}/t1"),
        format!("{INGEST}/tasks/t1"),
        "/apps/shop/logs".to_owned(),
        "/logs".to_owned(),
    ];
    for route in [
        format!("{INGEST}/tasks/{long_name}"),
        format!("{DISCOVERY}/{long_name}"),
        format!("{COMPONENT}/{long_name}"),
        format!("{FOLLOW}{COMPONENT}/{long_name}"),
        format!("{}/{long_name}", base(&t1)),
        format!("/apps/{long_name}/logs"),
    ] {
        get_refused(&host, &route, 414);
    }
    for route in &routes {
        let p = get_refused(&host, &format!("{route}{long_query}"), 414);
        assert_eq!(p["limit"], 8192);
        let p = refused(&host, "GET", route, &[("x-pad", &pad)], b"", 431);
        assert_eq!(p["limit"], 16384);
        // Many small headers add up the same way.
        let many: Vec<(String, String)> = (0..90)
            .map(|i| (format!("x-h{i}"), "v".repeat(200)))
            .collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        refused(&host, "GET", route, &many, b"", 431);
    }
    // A long URL within the limit is fine, although Spin repeats it in its headers.
    let r = get(&host, &format!("{path}?pad={}", "q".repeat(8000)));
    assert_eq!(r.status, 200, "{}", r.text());

    // Beyond the host's own limits hyper answers first, with an empty body:
    // a URI over 64 KiB is a 414, a request head over ~400 KiB a 431.
    let before = stored_rows(host.state_dir());
    let huge_uri = format!(
        "GET {path}?pad={} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
        "q".repeat(70_000)
    );
    assert_eq!(raw(&host, huge_uri.as_bytes()).0, 414);
    let huge_head = format!(
        "GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\nx-pad: {}\r\n\r\n",
        "p".repeat(500_000)
    );
    assert_eq!(raw(&host, huge_head.as_bytes()).0, 431);
    let many_headers: String = (0..150).map(|i| format!("x-h{i}: v\r\n")).collect();
    let request =
        format!("GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n{many_headers}\r\n");
    assert_eq!(raw(&host, request.as_bytes()).0, 431);
    assert_eq!(stored_rows(host.state_dir()), before);

    // Bodies over max_body_bytes, declared or chunked: 413, nothing stored.
    let big = vec![b'x'; 2000];
    for target in [
        format!("{INGEST}/tasks/t1/files/stdout"),
        format!("{INGEST}/component"),
        format!("{INGEST}/tasks/t3"),
    ] {
        let method = if target.ends_with("t3") {
            "PUT"
        } else {
            "POST"
        };
        let p = refused(&host, method, &target, &[], &big, 413);
        assert_eq!(p["limit"], 1024);
        let chunk = format!("{:x}\r\n{}\r\n", 1500, "y".repeat(1500));
        let request = format!(
            "{method} {target} HTTP/1.1\r\nhost: t\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n{chunk}{chunk}0\r\n\r\n"
        );
        let (status, body) = raw(&host, request.as_bytes());
        assert_eq!(status, 413, "{body}");
        assert!(body.contains("\"status\":413"), "{body}");
    }
    assert_eq!(stored_rows(host.state_dir()), before);
}

/// Method, path, headers, body, expected status.
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a [u8], u16);

#[test]
fn invalid_bodies_store_nothing() {
    let Fixture { host, .. } = fixture(HostOptions::default());
    let file = format!("{INGEST}/tasks/t1/files/stdout");
    let ndjson = [("content-type", "application/x-ndjson")];
    let cases: [Case; 12] = [
        ("POST", &file, &[], b"ok\n\xff\xfe\n", 400),
        ("POST", &file, &[], b"", 400),
        ("POST", &file, &ndjson, b"{\"line\":\"a\"}\n{\"line\":\"\xff\"}\n", 400),
        ("POST", &file, &ndjson, b"{\"line\":\"a\\nb\"}\n", 400),
        ("POST", &file, &ndjson, b"{\"line\":\"a\",\"x\":1}\n", 400),
        ("POST", &file, &ndjson, &[b'['; 10_000], 400),
        ("POST", &file, &[("content-type", "image/png")], b"x\n", 415),
        (
            "POST",
            "/system/v1/logs/v2/ingest/component",
            &[],
            b"{\"MESSAGE\":\"\xff\"}\n",
            400,
        ),
        (
            "POST",
            "/system/v1/logs/v2/ingest/component",
            &[],
            b"{\"MESSAGE\":\"ok\"}\n{\"../x\":\"y\",\"MESSAGE\":\"m\"}\n",
            400,
        ),
        (
            "PUT",
            "/system/v1/logs/v2/ingest/tasks/t9",
            &[],
            b"{\"name\":\"n\",\"agent_id\":\"../a\",\"framework_id\":\"F\",\"container_id\":\"C\"}",
            400,
        ),
        (
            "PUT",
            "/system/v1/logs/v2/ingest/tasks/t9",
            &[],
            b"{\"name\":\"n\xff\",\"agent_id\":\"a\",\"framework_id\":\"F\",\"container_id\":\"C\"}",
            400,
        ),
        (
            "PUT",
            "/system/v1/logs/v2/ingest/tasks/t9",
            &[],
            b"{\"name\":\"n\",\"agent_id\":\"a\",\"framework_id\":\"F\",\"container_id\":\"C\",\"executor_id\":\"e\\u0000\"}",
            400,
        ),
    ];
    for (method, path, headers, body, status) in cases {
        refused(&host, method, path, headers, body, status);
    }
    refused(&host, "DELETE", &file, &[], b"", 405);
    // Task metadata is small: a document over 64 KiB (huge labels) is a 413.
    let labels: serde_json::Map<String, serde_json::Value> = (0..100)
        .map(|i| (format!("l{i}"), "v".repeat(1000).into()))
        .collect();
    let body = serde_json::json!({
        "name": "n", "agent_id": "a", "framework_id": "f", "container_id": "c", "labels": labels,
    });
    refused(
        &host,
        "PUT",
        &format!("{INGEST}/tasks/t9"),
        &[],
        body.to_string().as_bytes(),
        413,
    );
}

#[test]
fn stored_text_cannot_pass_for_another_entry() {
    let Fixture { host, .. } = fixture(HostOptions::default());
    let forged = "2017-07-14 02:40:01: forged";
    let message = format!("real\n{forged}\r\nmore");
    let entry = serde_json::json!({"MESSAGE": message, "UNIT": "c"});
    let r = send(
        &host,
        "POST",
        &format!("{INGEST}/component"),
        Some("application/x-ndjson"),
        format!("{entry}\n").as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let text = get(&host, &format!("{COMPONENT}/c")).text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].ends_with(": real"), "{text}");
    let indent = " ".repeat("2017-07-14 02:40:00: ".len());
    assert!(lines[1..].iter().all(|l| l.starts_with(&indent)), "{text}");
    // NDJSON keeps the message exactly.
    let json = get_with(
        &host,
        &format!("{COMPONENT}/c"),
        &[("accept", "application/json")],
    );
    assert_eq!(json.json()["fields"]["MESSAGE"], message);
}

#[test]
fn enormous_limit_and_skip_get_sane_answers() {
    let Fixture { host, t1, .. } = fixture(HostOptions::default());
    let path = file_path(&t1, "stdout");
    let all = format!("{SECRET} t1 one\n{SECRET} t1 two\n");
    for (query, want) in [
        ("limit=18446744073709551615", Some(all.as_str())),
        ("skip=-9223372036854775808", Some(all.as_str())),
        (
            "cursor=END&skip=-9223372036854775808&limit=18446744073709551615",
            Some(all.as_str()),
        ),
        ("skip=9223372036854775807", None),
        ("cursor=BEG&skip=9223372036854775807&limit=1", None),
    ] {
        let r = get(&host, &format!("{path}?{query}"));
        match want {
            Some(text) => assert_eq!((r.status, r.text().as_str()), (200, text), "{query}"),
            None => assert_eq!(r.status, 204, "{query}"),
        }
    }
    for query in [
        "skip=-9223372036854775808",
        "skip=9223372036854775807",
        "limit=18446744073709551615",
    ] {
        let r = get(&host, &format!("{COMPONENT}/b?{query}"));
        assert!(r.status == 200 || r.status == 204, "{query}: {}", r.text());
    }
    for (query, parameter) in [
        ("limit=1000000000000000000000000000000", "limit"),
        ("limit=18446744073709551616", "limit"),
        ("limit=-1", "limit"),
        ("limit=1e30", "limit"),
        ("skip=9223372036854775808", "skip"),
        ("skip=-9223372036854775809", "skip"),
        ("skip=1000000000000000000000000000000", "skip"),
    ] {
        for route in [path.as_str(), COMPONENT] {
            let p = get_refused(&host, &format!("{route}?{query}"), 400);
            assert_eq!(p["parameter"], parameter, "{route}?{query}");
        }
    }
    for (query, parameter) in [
        ("n=10001", "n"),
        ("n=18446744073709551616", "n"),
        ("n=-1", "n"),
        ("filter=(a{1000}){1000}", "filter"),
    ] {
        let p = get_refused(&host, &format!("/apps/shop/logs?{query}"), 400);
        assert_eq!(p["parameter"], parameter, "{query}");
    }
    let p = get_refused(&host, "/logs?durationSeconds=-2", 400);
    assert_eq!(p["parameter"], "durationSeconds");
    let p = get_refused(&host, "/logs?durationSeconds=99999999999999999999", 400);
    assert_eq!(p["parameter"], "durationSeconds");
    // dotnet-monitor's bound: 2147483647 at most; the longest capture there
    // is just streams until the invocation's budget.
    let p = get_refused(&host, "/logs?durationSeconds=9223372036854775807", 400);
    assert_eq!(p["parameter"], "durationSeconds");
    let r = get_with(
        &host,
        "/logs?durationSeconds=2147483647",
        &[("accept", "application/x-ndjson")],
    );
    assert_eq!(r.status, 200);
}

#[test]
fn tampered_cursors_are_400s_never_another_logs_data() {
    let Fixture { host, t1, .. } = fixture(HostOptions::default());
    let path = file_path(&t1, "stdout");
    let line = format!("{SECRET} t1 one\n").len();
    // Task files: offsets, validated against this file.
    for cursor in [
        "1".to_owned(),
        (line - 1).to_string(),
        (2 * line + 1).to_string(),
        "18446744073709551615".into(),
        "99999999999999999999999".into(),
        "-1".into(),
        "%2B16".into(),
        "16.0".into(),
        "0x10".into(),
        "j.0.00000000".into(),
    ] {
        let p = get_refused(&host, &format!("{path}?cursor={cursor}"), 400);
        assert_eq!(p["parameter"], "cursor", "{cursor}");
        let p = refused(
            &host,
            "GET",
            &format!("{FOLLOW}{path}"),
            &[
                ("accept", "text/event-stream"),
                ("last-event-id", &cursor.replace("%2B", "+")),
            ],
            b"",
            400,
        );
        assert_eq!(p["parameter"], "Last-Event-ID", "{cursor}");
    }
    // A valid position of another task's file only ever reads this file.
    let r = get(&host, &format!("{path}?cursor={line}"));
    assert_eq!(r.text(), format!("{SECRET} t1 two\n"));
    assert!(!r.text().contains("t2"));

    // The journal: checked tokens, and the position must still be an entry's start.
    let forged_mid = format!("j.1.{}", hex_check("journal/default", "1"));
    let forged_past = format!("j.99999.{}", hex_check("journal/default", "99999"));
    for cursor in [
        "j.5.deadbeef",
        "j.0.7c3e695",
        "j.00.7c3e6951",
        "j.+0.7c3e6951",
        "16",
        "BEGIN",
        forged_mid.as_str(),
        forged_past.as_str(),
    ] {
        for route in [COMPONENT.to_owned(), format!("{COMPONENT}/a")] {
            let p = get_refused(&host, &format!("{route}?cursor={cursor}"), 400);
            assert_eq!(p["parameter"], "cursor", "{cursor}");
            let p = refused(
                &host,
                "GET",
                &format!("{FOLLOW}{route}"),
                &[("accept", "text/event-stream"), ("last-event-id", cursor)],
                b"",
                400,
            );
            assert_eq!(p["parameter"], "Last-Event-ID", "{cursor}");
        }
    }
    let valid = format!("j.0.{}", hex_check("journal/default", "0"));
    assert_eq!(
        get(&host, &format!("{COMPONENT}?cursor={valid}&limit=1")).status,
        200
    );

    // Scalingo ids: a real one, then edited, forged, or from another app.
    let id = scalingo_id(&host, "shop");
    let (parts, _) = id.strip_prefix("s.").unwrap().rsplit_once('.').unwrap();
    let (key, pos) = parts.split_once(':').unwrap();
    let pos: u64 = pos.parse().unwrap();
    let mid = format!("{key}:{}", pos - 1);
    let past = format!("{key}:{}", pos + 100);
    let blog = scalingo_id(&host, "blog");
    for bad in [
        "bogus".to_owned(),
        id.replace(&format!(":{pos}"), &format!(":{}", pos - 1)),
        format!("s.{parts}.00000000"),
        format!("s.{mid}.{}", hex_check("scalingo/shop", &mid)),
        format!("s.{past}.{}", hex_check("scalingo/shop", &past)),
        blog.clone(),
    ] {
        let p = refused(
            &host,
            "GET",
            "/apps/shop/logs?stream=true",
            &[("accept", "text/event-stream"), ("last-event-id", &bad)],
            b"",
            400,
        );
        assert_eq!(p["parameter"], "Last-Event-ID", "{bad}");
    }
    // A key of another app's file, correctly checked for this app, names nothing here.
    let (blog_parts, _) = blog.strip_prefix("s.").unwrap().rsplit_once('.').unwrap();
    let smuggled = format!("s.{blog_parts}.{}", hex_check("scalingo/shop", blog_parts));
    let r = get_with(
        &host,
        "/apps/shop/logs?stream=true",
        &[
            ("accept", "text/event-stream"),
            ("last-event-id", &smuggled),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!r.text().contains("t2"), "{}", r.text());

    // dotnet ids: the deadline and the position are both covered by the check.
    for bad in [
        "d.0.0.00000000".to_owned(),
        format!("d.1.0.{}", hex_check("dotnet/journal/default", "1.0")),
        format!("d.9999.0.{}", hex_check("dotnet/journal/default", "9999.0")),
        format!("d.0.01.{}", hex_check("dotnet/journal/default", "0.01")),
        format!("j.0.{}~0", hex_check("journal/default", "0")),
    ] {
        let p = refused(
            &host,
            "GET",
            "/logs",
            &[("accept", "text/event-stream"), ("last-event-id", &bad)],
            b"",
            400,
        );
        assert_eq!(p["parameter"], "Last-Event-ID", "{bad}");
    }
}

/// The last event id of a short Scalingo stream of `app`.
fn scalingo_id(host: &TestHost, app: &str) -> String {
    let r = get_with(
        host,
        &format!("/apps/{app}/logs?stream=true&n=1"),
        &[("accept", "text/event-stream")],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("id: "))
        .expect("an id")
        .to_owned()
}

#[test]
fn one_agents_route_with_another_agents_ids_finds_nothing() {
    let Fixture { host, t1, t2 } = fixture(HostOptions::default());
    let (b1, b2) = (base(&t1), base(&t2));
    // t2 (agent-2, pod) asked for on agent-1, and t1 (agent-1) on agent-2.
    let t2_on_agent1 = b2.replacen("/agent-2/", "/agent-1/", 1);
    let t1_on_agent2 = b1.replacen("/agent-1/", "/agent-2/", 1);
    // t2's container under t1's standalone shape, and t1's ids with t2's task.
    let t2_container_standalone = b1.replace("t1-container", "t2-container");
    let t1_as_pod_of_t2 = format!("{b1}/tasks/t2");
    let t2_as_standalone = b2.strip_suffix("/tasks/t2").unwrap().to_owned();
    let t2_executor_on_agent1 = t2_as_standalone.replacen("/agent-2/", "/agent-1/", 1);
    for b in [
        &t2_on_agent1,
        &t1_on_agent2,
        &t2_container_standalone,
        &t1_as_pod_of_t2,
        &t2_as_standalone,
        &t2_executor_on_agent1,
    ] {
        for path in [
            format!("{b}/stdout"),
            format!("{b}/stdout?cursor=BEG"),
            format!("{b}/files/browse"),
            format!("{b}/stdout/download"),
            format!("{FOLLOW}{b}/stdout"),
        ] {
            get_refused(&host, &path, 404);
        }
    }
    // Their own routes work, and discovery points each at its own agent.
    assert!(
        get(&host, &file_path(&t2, "stdout"))
            .text()
            .contains("t2 one")
    );
    let r = get(&host, &format!("{DISCOVERY}/t2"));
    assert_eq!(r.status, 303);
    assert!(r.header("location").unwrap().contains("/agent/agent-2/"));
}

/// Appends take what docs/dcos.md documents (text/plain, NDJSON records as
/// application/x-ndjson, application/jsonl or application/json) and refuse
/// bytes of any other type with a 415; a task's state is a Mesos TaskState
/// (issue 12, item 12). Nothing refused is stored.
#[test]
fn appends_and_registrations_take_only_documented_values() {
    let Fixture { host, .. } = fixture(HostOptions::default());
    let path = format!("{INGEST}/tasks/t1/files/stdout");
    for ct in ["application/octet-stream", "image/png", "application/xml"] {
        let p = refused(
            &host,
            "POST",
            &path,
            &[("content-type", ct)],
            b"bytes\n",
            415,
        );
        assert!(
            p["detail"].as_str().unwrap().contains("text/plain"),
            "{ct}: {p}"
        );
    }
    for ct in ["text/plain", "application/json", "application/x-ndjson"] {
        let body: &[u8] = if ct == "text/plain" {
            b"ok\n"
        } else {
            br#"{"line":"ok"}"#
        };
        let r = send(&host, "POST", &path, Some(ct), body);
        assert_eq!(r.status, 200, "{ct}: {}", r.text());
    }
    let register = |state: &str| {
        let body = serde_json::json!({
            "name": "s", "agent_id": "agent-1", "framework_id": "fw-1",
            "container_id": "s-container", "state": state,
        });
        (format!("{INGEST}/tasks/s1"), body.to_string())
    };
    for bogus in ["TASK_BOGUS", "running", "TASK_", ""] {
        let (path, body) = register(bogus);
        let p = refused(
            &host,
            "PUT",
            &path,
            &[("content-type", "application/json")],
            body.as_bytes(),
            400,
        );
        assert_eq!(p["parameter"], "state", "{bogus}");
    }
    let (path, body) = register("TASK_GONE_BY_OPERATOR");
    let r = send(
        &host,
        "PUT",
        &path,
        Some("application/json"),
        body.as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}
