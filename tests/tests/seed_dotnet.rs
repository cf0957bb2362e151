//! The dotnet-monitor seed (`../shared/seeds/dotnet-monitor-logs.md`), its
//! sample requests sent as written (issue 13): `GET /logs/{pid}` and
//! `GET /logs/{uid}` with `level` and `durationSeconds`, the seed's
//! `Authorization: MonitorApiKey` header, and its sample SSE response shape;
//! `ValidationProblemDetails` for bad parameters; the default process.

mod common;

use common::*;
use serde_json::json;
use spin_logs_tests::TestHost;
use spin_logs_tests::services::debian_binary;

/// The seed's sample key.
const KEY: &str = "QmFzZTY0RW5jb2RlZERvdG5ldE1vbml0b3JBcGlLZXk=";
const UID: &str = "cd4da319-fa9e-4987-ac4e-e57b2aac248b";
const REQUESTS: [&str; 3] = [
    "353f398a-dc74-4adc-b107-ec35edd09968",
    "eeb18b82-5dfd-49e7-88a3-d0b7cbf2f4bc",
    "0b7ba879-fa80-4eb8-a87d-408f539952ca",
];

fn monitor_host(default_process: &str) -> TestHost {
    let keys = json!([{"sha256": spin_logs::auth::apikey::hash(KEY), "uid": "monitor",
        "permissions": ["dcos:adminrouter:ops:system-logs"]}]);
    host_with(spin_logs_tests::HostOptions {
        variables: [
            ("auth_api_keys", keys.to_string()),
            ("tail_budget_ms", "2000".to_owned()),
            ("capture_default_process", default_process.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
        ..Default::default()
    })
}

/// The seed's three log statements of process 21632 (runtime instance
/// `UID`), one debug line below the level, and one of another process.
fn log_the_seed_statements(host: &TestHost) {
    let mut body = String::new();
    let entry = |pid: u32, level: &str, message: &str| {
        let uid = if pid == 21632 {
            UID
        } else {
            "00000000-0000-4000-8000-000000000007"
        };
        json!({"_PID": pid.to_string(), "RUNTIME_INSTANCE_ID": uid, "LEVEL": level,
            "CATEGORY": "Agent.RequestProcessor", "EVENT_ID": "3", "EVENT_NAME": "ProcessRequest",
            "MESSAGE": message})
        .to_string()
    };
    body.push_str(&entry(21632, "Debug", "too quiet"));
    body.push('\n');
    body.push_str(&entry(7, "Information", "another process"));
    body.push('\n');
    for r in REQUESTS {
        body.push_str(&entry(
            21632,
            "Information",
            &format!("Processing request {r}."),
        ));
        body.push('\n');
    }
    let r = send(
        host,
        "POST",
        &format!("{INGEST}/component"),
        Some("application/x-ndjson"),
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The seed's sample request, sent with curl; the statements are logged
/// while the capture runs. Returns the raw response body.
fn capture(host: &TestHost, path: &str, accept: &str) -> String {
    let curl = debian_binary("curl", "curl").expect("curl");
    let child = std::process::Command::new(curl)
        .args(["-sS", "-N", "--max-time", "20"])
        .args(["-H", "Host: localhost:52323"])
        .args(["-H", &format!("Authorization: MonitorApiKey {KEY}")])
        .args(["-H", &format!("Accept: {accept}")])
        .arg(host.url(path))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl runs");
    std::thread::sleep(std::time::Duration::from_millis(700));
    log_the_seed_statements(host);
    let out = child.wait_with_output().expect("curl ends");
    String::from_utf8(out.stdout).expect("utf-8")
}

fn seed_events() -> String {
    REQUESTS
        .iter()
        .map(|r| {
            format!(
                "event: ProcessRequest\ndata: Information Agent.RequestProcessor[3]\ndata: Processing request {r}.\n\n"
            )
        })
        .collect()
}

#[test]
fn the_seeds_sample_requests_answer_the_seeds_sample_response() {
    let host = monitor_host("");
    for path in [
        "/logs/21632?level=Information&durationSeconds=60",
        &format!("/logs/{UID}?level=Information&durationSeconds=60"),
    ] {
        let body = capture(&host, path, "text/event-stream");
        // Our events carry an `id:` (to resume); without it, the seed's text.
        let shown: String = body
            .lines()
            .filter(|l| !l.starts_with("id: ") && !l.starts_with("retry:") && !l.starts_with(':'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(shown.contains(&seed_events()), "{path}:\n{body}");
        assert!(
            !body.contains("too quiet") && !body.contains("another process"),
            "{body}"
        );
    }
    // NDJSON: dotnet's LogEntry objects.
    let body = capture(
        &host,
        "/logs/21632?level=Information&durationSeconds=3",
        "application/x-ndjson",
    );
    let entries: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(entries.len(), 3, "{body}");
    for (e, r) in entries.iter().zip(REQUESTS) {
        assert_eq!(e["LogLevel"], "Information");
        assert_eq!(e["EventId"], "3");
        assert_eq!(e["EventName"], "ProcessRequest");
        assert_eq!(e["Category"], "Agent.RequestProcessor");
        assert_eq!(e["Message"], format!("Processing request {r}."));
        assert!(
            e["Timestamp"].is_string() && e["Scopes"].is_object() && e["Arguments"].is_object()
        );
    }
}

#[test]
fn bad_parameters_are_validation_problem_details() {
    let host = monitor_host("");
    let auth = format!("MonitorApiKey {KEY}");
    for (query, param) in [
        ("level=Loud", "level"),
        ("durationSeconds=2147483648", "durationSeconds"),
        ("durationSeconds=-2", "durationSeconds"),
        ("durationSeconds=soon", "durationSeconds"),
    ] {
        let r = get_as(&host, &format!("/logs/21632?{query}"), Some(&auth));
        let p = r.problem(400);
        assert_eq!(p["title"], "One or more validation errors occurred.", "{p}");
        assert!(p["errors"][param][0].is_string(), "{query}: {p}");
    }
    // A path whose pid or uid does not parse is no route: the superuser
    // learns why (a 400), anyone else gets the gate's 403.
    for bad in ["/logs/not-a-pid", "/logs/cd4da319-fa9e-4987-ac4e"] {
        get(&host, bad).problem(400);
        get_as(&host, bad, Some(&auth)).problem(403);
    }
    // The largest duration is accepted.
    let r = send_as(
        &host,
        "HEAD",
        "/logs/21632?durationSeconds=2147483647",
        Some(&auth),
        &[],
        None,
        b"",
    );
    assert_ne!(r.status, 400);
}

#[test]
fn the_default_process_is_configured_or_an_error() {
    let unset = monitor_host("");
    let p = get_as(
        &unset,
        "/logs?durationSeconds=1",
        Some(&format!("MonitorApiKey {KEY}")),
    )
    .problem(400);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("Unable to discover a target process"),
        "{p}"
    );
    // By a journal field: only that process's statements.
    let by_pid = monitor_host("_PID=21632");
    let body = capture(
        &by_pid,
        "/logs?level=Information&durationSeconds=3",
        "application/x-ndjson",
    );
    assert_eq!(body.lines().count(), 3, "{body}");
    assert!(!body.contains("another process"));
    let everything = monitor_host("*");
    let body = capture(
        &everything,
        "/logs?level=Information&durationSeconds=3",
        "application/x-ndjson",
    );
    assert_eq!(body.lines().count(), 4, "{body}");
}
