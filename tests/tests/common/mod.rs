//! Helpers shared by the end-to-end tests: a host per test, an HTTP client that
//! reports statuses instead of failing on them, and a look inside the stores.

#![allow(dead_code)] // each test binary uses its own subset

use spin_logs_tests::{HostOptions, TestHost};
use std::path::Path;

pub fn host() -> TestHost {
    host_with(HostOptions::default())
}

pub fn host_with(opts: HostOptions) -> TestHost {
    TestHost::start(opts).expect("test host starts")
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
    finish(client().get(host.url(path)).call())
}

pub fn get_with(host: &TestHost, path: &str, headers: &[(&str, &str)]) -> Reply {
    send_with(host, "GET", path, headers, None, b"")
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

pub fn send_with(
    host: &TestHost,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    content_type: Option<&str>,
    body: &[u8],
) -> Reply {
    let mut req = http::Request::builder().method(method).uri(host.url(path));
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
pub fn stored_rows(state_dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(state_dir).expect("state dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "db") {
            let conn = rusqlite::Connection::open(&path).expect("open db");
            let n: u64 = conn
                .query_row("SELECT COUNT(*) FROM spin_key_value", [], |r| r.get(0))
                .unwrap_or(0);
            total += n;
        }
    }
    total
}
