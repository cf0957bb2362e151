//! Helpers shared by the end-to-end tests: a host per test, an HTTP client that
//! reports statuses instead of failing on them, credentials, and a look inside
//! the stores.
//!
//! Every host gets a test signing key ([`SECRET`]) and no rate limits;
//! [`get`], [`send`] and friends send a superuser token unless the caller
//! passes its own `authorization` header. To test
//! permissions use [`token`] / [`bearer`] with [`get_as`] / [`send_as`]
//! (`None` sends no credentials at all).

#![allow(dead_code)] // each test binary uses its own subset

use spin_logs::routes as policy;
use spin_logs_tests::{HostOptions, TestHost};
use std::io::BufRead as _;
use std::path::Path;

/// The HS256 secret every test host verifies tokens with.
pub const SECRET: &str = "spin-logs end-to-end test secret, 32+ bytes";

/// Permissions, as tokens carry them.
pub const SUPERUSER: &str = policy::SUPERUSER;
pub const SYSTEM_LOGS: &str = policy::SYSTEM_LOGS;
pub const AGENT: &str = policy::AGENT;
pub const INGEST_PERM: &str = policy::INGEST;
pub const JOBS: &str = policy::JOBS;

/// Rate limits off (`0`) for functional tests; `tests/auth.rs` sets its own.
/// Not merely high: counting costs every request one write transaction in
/// the SQLite store, which doubles the time of the 16-writer contention test.
pub const NO_LIMIT: &str = "0";

pub fn host() -> TestHost {
    host_with(HostOptions::default())
}

/// A host with the test key and rate limits off; `opts.variables` win.
pub fn host_with(mut opts: HostOptions) -> TestHost {
    let mut variables = test_variables();
    variables.append(&mut opts.variables);
    opts.variables = variables;
    TestHost::start(opts).expect("test host starts")
}

/// A host exactly as configured: no key unless `opts` sets one.
pub fn bare_host(opts: HostOptions) -> TestHost {
    TestHost::start(opts).expect("test host starts")
}

pub fn test_variables() -> Vec<(String, String)> {
    [
        ("auth_hs256_secret", SECRET),
        ("rate_limit_standard", NO_LIMIT),
        ("rate_limit_heavy", NO_LIMIT),
        ("rate_limit_ingest", NO_LIMIT),
        ("rate_limit_loki", NO_LIMIT),
        // Every request counted, so /metrics reads exact.
        ("metrics_request_sample", "1"),
        // `GET /logs` captures the whole journal, as the suites expect.
        ("capture_default_process", "*"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The SHA-256 of `bytes` in lower-case hex, as sha256sum prints it.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// An HS256 JWT for `uid` with `perms`, valid for `ttl_secs` from `now`.
pub fn token_at(uid: &str, perms: &[&str], now: u64, ttl_secs: u64) -> String {
    let perms: Vec<String> = perms.iter().map(|p| p.to_string()).collect();
    spin_logs::auth::jwt::sign_hs256(SECRET.as_bytes(), uid, &perms, now, ttl_secs)
        .expect("token signs")
}

/// An HS256 JWT for user `tester` with `perms`, valid for an hour.
pub fn token(perms: &[&str]) -> String {
    token_at("tester", perms, now_secs(), 3600)
}

/// `Bearer <token(perms)>`: an `Authorization` value.
pub fn bearer(perms: &[&str]) -> String {
    format!("Bearer {}", token(perms))
}

/// The `Authorization` value [`get`], [`send`] and friends send by default.
pub fn superuser() -> String {
    bearer(&[SUPERUSER])
}

/// A permission no route accepts: a token with only it is authenticated but
/// empty-handed.
pub const NO_PERMISSION: &str = "dcos:nothing";

/// One request of a route, for [`assert_guarded`].
pub struct Route<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

impl Route<'_> {
    pub fn call(&self, host: &TestHost, auth: Option<&str>) -> Reply {
        send_as(
            host,
            self.method,
            self.path,
            auth,
            &[],
            self.content_type,
            self.body,
        )
    }
}

/// The auth contract of one route: 401 without credentials (problem +
/// `WWW-Authenticate`), 403 with `wrong` naming `right` and the superuser,
/// `ok` with `right` (beside another permission), `ok` for the superuser.
pub fn assert_guarded(host: &TestHost, route: &Route, right: &str, wrong: &str, ok: u16) {
    let name = format!("{} {}", route.method, route.path);
    let r = route.call(host, None);
    let p = unauthorized(&r);
    let challenge = r.header("www-authenticate").unwrap_or_default();
    assert!(
        !challenge.contains("error="),
        "{name}: no token, no error: {challenge}"
    );
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("Authorization"),
        "{name}: {p}"
    );
    assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{name}");

    let r = route.call(host, Some(&bearer(&[wrong])));
    let p = r.problem(403);
    let required = p["required_permissions"]
        .as_array()
        .expect("required_permissions");
    assert!(required.contains(&right.into()), "{name}: {p}");
    assert!(required.contains(&SUPERUSER.into()), "{name}: {p}");

    let r = route.call(host, Some(&bearer(&[NO_PERMISSION, right])));
    assert_eq!(r.status, ok, "{name} with {right}: {}", r.text());
    let r = route.call(host, Some(&superuser()));
    assert_eq!(r.status, ok, "{name} as superuser: {}", r.text());
}

/// Asserts a 401 problem with a `Bearer` challenge, and returns its body.
pub fn unauthorized(r: &Reply) -> serde_json::Value {
    let p = r.problem(401);
    let challenge = r.header("www-authenticate").expect("WWW-Authenticate");
    assert!(
        challenge.starts_with("Bearer realm=\"spin-logs\""),
        "{challenge}"
    );
    p
}

/// `n` GETs of `path` as `auth`, concurrently from `threads` threads.
pub fn burst(host: &TestHost, path: &str, auth: &str, threads: usize, n: usize) -> Vec<Reply> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (0..n / threads + usize::from(t < n % threads))
                        .map(|_| get_as(host, path, Some(auth)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    })
}

/// A URL token (`?token=`) for a task, minted through the API by the superuser.
pub fn url_token(host: &TestHost, task: &str, ttl_secs: u64) -> String {
    let body = serde_json::json!({"task": task, "ttl": ttl_secs}).to_string();
    let r = send_as(
        host,
        "POST",
        "/system/v1/logs/v2/tokens",
        Some(&superuser()),
        &[],
        Some("application/json"),
        body.as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["token"].as_str().expect("token").to_owned()
}

pub fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0) // tests check redirects themselves
        .build()
        .into()
}

/// A finished exchange, body read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 problem with this status, and returns its body.
    pub fn problem(&self, status: u16) -> serde_json::Value {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        let p = self.json();
        assert_eq!(p["status"], status);
        assert!(p["detail"].as_str().is_some_and(|d| !d.is_empty()));
        p
    }
}

fn finish(resp: Result<http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let resp = resp.expect("request completes");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .expect("body reads");
    Reply {
        status,
        headers,
        body,
    }
}

pub fn get(host: &TestHost, path: &str) -> Reply {
    get_with(host, path, &[])
}

pub fn get_with(host: &TestHost, path: &str, headers: &[(&str, &str)]) -> Reply {
    send_with(host, "GET", path, headers, None, b"")
}

/// A GET with `auth` as the `Authorization` header; `None`: no credentials.
pub fn get_as(host: &TestHost, path: &str, auth: Option<&str>) -> Reply {
    send_as(host, "GET", path, auth, &[], None, b"")
}

pub fn send(
    host: &TestHost,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Reply {
    send_with(host, method, path, &[], content_type, body)
}

/// `body` POSTed as JSON, as the superuser.
pub fn post(host: &TestHost, path: &str, body: &serde_json::Value) -> Reply {
    send(
        host,
        "POST",
        path,
        Some("application/json"),
        body.to_string().as_bytes(),
    )
}

/// [`send_as`] as the superuser, unless `headers` has an `authorization`.
pub fn send_with(
    host: &TestHost,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    content_type: Option<&str>,
    body: &[u8],
) -> Reply {
    let own = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
    let auth = (!own).then(superuser);
    send_as(
        host,
        method,
        path,
        auth.as_deref(),
        headers,
        content_type,
        body,
    )
}

/// One exchange with `auth` as the `Authorization` header (`None`: none).
pub fn send_as(
    host: &TestHost,
    method: &str,
    path: &str,
    auth: Option<&str>,
    headers: &[(&str, &str)],
    content_type: Option<&str>,
    body: &[u8],
) -> Reply {
    let mut req = http::Request::builder().method(method).uri(host.url(path));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let req = req.body(body.to_vec()).expect("valid request");
    finish(client().run(req))
}

pub const INGEST: &str = "/system/v1/logs/v2/ingest";

/// Registers a task; `pod` tasks are read under `.../tasks/{id}/`.
pub fn register(host: &TestHost, id: &str, agent: &str, pod: bool) -> serde_json::Value {
    let body = serde_json::json!({
        "name": format!("{id}-name"),
        "agent_id": agent,
        "framework_id": "fw-1",
        "executor_id": if pod { Some("pod-executor") } else { None },
        "container_id": format!("{id}-container"),
        "pod": pod,
        "labels": {"app": "demo"},
    });
    let r = send(
        host,
        "PUT",
        &format!("{INGEST}/tasks/{id}"),
        Some("application/json"),
        body.to_string().as_bytes(),
    );
    assert!(r.status == 201 || r.status == 200, "{}", r.text());
    r.json()
}

pub fn append(host: &TestHost, task: &str, file: &str, lines: &[u8]) -> Reply {
    send(
        host,
        "POST",
        &format!("{INGEST}/tasks/{task}/files/{file}"),
        Some("text/plain"),
        lines,
    )
}

/// The agent route that reads `file` of a task registered by [`register`].
pub fn file_path(task: &serde_json::Value, file: &str) -> String {
    let id = task["id"].as_str().expect("id");
    let executor = task["executor_id"].as_str().unwrap_or(id);
    let mut path = format!(
        "/system/v1/agent/{}/logs/v2/task/frameworks/{}/executors/{executor}/runs/{}",
        task["agent_id"].as_str().expect("agent"),
        task["framework_id"].as_str().expect("framework"),
        task["container_id"].as_str().expect("container"),
    );
    if task["pod"] == true {
        path.push_str(&format!("/tasks/{id}"));
    }
    path.push('/');
    path.push_str(file);
    path
}

/// Rows in every SQLite store of the host: the "nothing was stored" check.
///
/// Panics on any error (and when there is no store at all) rather than
/// counting 0, which would make every "stored nothing" assertion pass. The
/// host creates each file's `spin_key_value` table when it starts, so a `.db`
/// without it is an error too.
pub fn stored_rows(state_dir: &Path) -> u64 {
    let entries = std::fs::read_dir(state_dir)
        .unwrap_or_else(|e| panic!("stored_rows: reading {}: {e}", state_dir.display()));
    let mut total = 0;
    let mut stores = 0;
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("stored_rows: reading {}: {e}", state_dir.display()))
            .path();
        if path.extension().is_some_and(|e| e == "db") {
            let n: u64 = rusqlite::Connection::open(&path)
                // The host may be writing; wait as it does, not fail.
                .and_then(|conn| {
                    conn.busy_timeout(std::time::Duration::from_secs(10))?;
                    // Metric counters (`m/...`) count requests, refused ones
                    // too: they are not records.
                    conn.query_row(
                        "SELECT COUNT(*) FROM spin_key_value WHERE key NOT LIKE 'm/%'",
                        [],
                        |r| r.get(0),
                    )
                })
                .unwrap_or_else(|e| {
                    panic!("stored_rows: counting rows of {}: {e}", path.display())
                });
            total += n;
            stores += 1;
        }
    }
    assert!(
        stores > 0,
        "stored_rows: no .db store in {}",
        state_dir.display()
    );
    total
}

// ---------------------------------------------------------------- SSE

/// One SSE event as a client sees it.
#[derive(Debug, Default, Clone)]
pub struct Event {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// Reads one SSE response to its end (the invocation's budget), returning its
/// events and whether comments (keepalives) were seen.
pub fn sse_once(
    host: &TestHost,
    path: &str,
    last_event_id: Option<&str>,
) -> (u16, Vec<Event>, usize) {
    let mut req = client()
        .get(host.url(path))
        .header("authorization", &superuser())
        .header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id);
    }
    let resp = req.call().expect("request");
    let status = resp.status().as_u16();
    let reader = std::io::BufReader::new(resp.into_body().into_reader());
    let mut events = Vec::new();
    let mut comments = 0;
    let mut current = Event::default();
    let mut has_fields = false;
    for line in reader.lines() {
        let Ok(line) = line else { break }; // a cut connection ends the read
        if line.is_empty() {
            if has_fields {
                events.push(std::mem::take(&mut current));
            }
            has_fields = false;
        } else if line.starts_with(':') {
            comments += 1;
        } else if let Some((field, value)) = line.split_once(": ") {
            match field {
                "id" => current.id = Some(value.to_owned()),
                "event" => current.event = Some(value.to_owned()),
                "data" => {
                    if !current.data.is_empty() {
                        current.data.push('\n');
                    }
                    current.data.push_str(value);
                }
                _ => continue, // retry: and unknown fields make no event
            }
            has_fields = true;
        }
    }
    (status, events, comments)
}

/// The `MESSAGE` of a journal-shaped event.
pub fn message(e: &Event) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(&e.data).ok()?;
    v["fields"]["MESSAGE"].as_str().map(str::to_owned)
}

/// Follows `follow` from its beginning until `want` messages arrived (or
/// `within` passed), reconnecting with the last id seen each time an
/// invocation ends, as `EventSource` does; `host_for(n)` picks the host of
/// the n-th connection. Returns the messages and the number of connections.
pub fn follow_from_start<'a>(
    host_for: impl Fn(usize) -> &'a TestHost,
    follow: &str,
    want: usize,
    within: std::time::Duration,
) -> (Vec<String>, usize) {
    let deadline = std::time::Instant::now() + within;
    let (mut got, mut last_id, mut connections) = (Vec::new(), None::<String>, 0);
    while got.len() < want && std::time::Instant::now() < deadline {
        let path = match last_id {
            Some(_) => follow.to_owned(),
            None => format!("{follow}?cursor=BEG"),
        };
        let (status, events, _) = sse_once(host_for(connections), &path, last_id.as_deref());
        assert_eq!(status, 200);
        connections += 1;
        for e in events {
            if let Some(m) = message(&e) {
                got.push(m);
            }
            if e.id.is_some() {
                last_id = e.id;
            }
        }
    }
    (got, connections)
}

/// Keys in the host's embedded stores that contain `part`.
pub fn stored_keys(host: &TestHost, part: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for entry in std::fs::read_dir(host.state_dir()).expect("state dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "db") {
            let db = rusqlite::Connection::open(&path).expect("open db");
            let mut q = db
                .prepare("SELECT key FROM spin_key_value WHERE instr(key, ?1) > 0")
                .expect("query");
            let rows = q
                .query_map([part], |r| r.get::<_, String>(0))
                .expect("rows");
            keys.extend(rows.map(|k| k.expect("key")));
        }
    }
    keys
}
