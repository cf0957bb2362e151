//! End-to-end in a real browser: headless Chromium's `EventSource` follows a
//! discovery redirect to the live tail and resumes across invocation ends
//! without losing or repeating a line. `EventSource` cannot send headers, so
//! the page authenticates with a URL token, which the redirects carry along.
//! Chromium comes from Debian's packages; the test installs it when it is missing.

mod common;

use common::*;
use spin_logs_tests::HostOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LINES: usize = 50;

fn chromium() -> String {
    for path in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if std::path::Path::new(path).exists() {
            return path.to_owned();
        }
    }
    eprintln!("installing chromium from Debian's packages (apt-get)...");
    let apt = |args: &[&str]| {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .expect("apt-get runs (the browser test installs chromium; run as root)");
        assert!(status.success(), "apt-get {args:?} failed");
    };
    apt(&["update", "-q"]);
    apt(&["install", "-y", "-q", "--no-install-recommends", "chromium"]);
    "/usr/bin/chromium".to_owned()
}

/// The page: follow a task's stdout from the start through the discovery
/// route, and post what arrived once every line is in.
fn page(api: &str, token: &str, report: &str) -> String {
    format!(
        r#"<!doctype html><meta charset="utf-8"><title>follow</title><script>
const got = []; let resumes = 0; let opens = 0;
const es = new EventSource("{api}/system/v1/logs/v2/task/web.1/file/stdout?cursor=BEG&token={token}");
es.onopen = () => opens++;
es.addEventListener("resume", () => resumes++);
es.onmessage = (e) => {{
  got.push(JSON.parse(e.data).fields.MESSAGE);
  if (got.length >= {LINES}) {{
    es.close();
    fetch("{report}", {{method: "POST", body: JSON.stringify({{got, resumes, opens}})}});
  }}
}};
</script>"#
    )
}

#[test]
fn a_browser_eventsource_follows_the_redirect_and_resumes_without_loss() {
    let browser = chromium();
    let host = host_with(HostOptions {
        variables: vec![
            ("tail_budget_ms".into(), "1000".into()),
            ("keepalive_ms".into(), "300".into()),
        ],
        ..Default::default()
    });
    register(&host, "web.1", "agent-a", false);
    assert_eq!(append(&host, "web.1", "stdout", b"line 0\n").status, 200);
    let token = url_token(&host, "web.1", 300);

    // A tiny origin for the page and the report it posts back.
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let html = page(&host.base_url(), &token, &format!("{origin}/report"));
    let profile = tempfile::tempdir().expect("profile dir");
    let mut chrome = Command::new(&browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.path().display()),
            &format!("{origin}/page"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");

    let report = std::thread::scope(|s| {
        s.spawn(|| {
            // Lines arrive over ~7.5 s: several 1 s invocations end meanwhile.
            for i in 1..LINES {
                std::thread::sleep(Duration::from_millis(150));
                assert_eq!(
                    append(&host, "web.1", "stdout", format!("line {i}\n").as_bytes()).status,
                    200
                );
            }
        });
        serve_until_report(&listener, &html, Duration::from_secs(90))
    });
    let _ = chrome.kill();
    let _ = chrome.wait();

    let report: serde_json::Value =
        serde_json::from_str(&report.expect("the page reported in time")).expect("JSON");
    let want: Vec<String> = (0..LINES).map(|i| format!("line {i}")).collect();
    let got: Vec<String> = serde_json::from_value(report["got"].clone()).unwrap();
    assert_eq!(got, want, "every line once, in order");
    assert!(
        report["resumes"].as_u64().unwrap() >= 3,
        "at least 3 invocation ends: {report}"
    );
    assert!(
        report["opens"].as_u64().unwrap() >= 4,
        "reconnected after each: {report}"
    );
}

/// Serves `GET /page` and waits for `POST /report`, returning its body.
fn serve_until_report(listener: &TcpListener, html: &str, timeout: Duration) -> Option<String> {
    listener.set_nonblocking(true).ok()?;
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let (stream, _) = match listener.accept() {
            Ok(c) => c,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        stream.set_nonblocking(false).ok()?;
        let mut reader = BufReader::new(stream.try_clone().ok()?);
        let mut request_line = String::new();
        reader.read_line(&mut request_line).ok()?;
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).ok()?;
            if header.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        let mut stream = stream;
        let reply = if request_line.starts_with("GET /page") {
            html
        } else {
            ""
        };
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\naccess-control-allow-origin: *\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
            reply.len()
        );
        if request_line.starts_with("POST /report") {
            return String::from_utf8(body).ok();
        }
    }
    None
}
