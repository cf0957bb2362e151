//! The Scalingo seed (`../shared/seeds/scalingo-app-logs.txt`), as a Scalingo
//! client uses it (issue 13): "Application#logs" for the authenticated URL,
//! then the seed's own `curl -X GET '.../apps/example-app/logs?n=10'`, with an
//! `Authorization` header and with the URL's `?token=` alone, each giving
//! exactly ten lines in the seed's text form.

mod common;

use common::*;
use serde_json::json;
use spin_logs_tests::TestHost;
use spin_logs_tests::services::debian_binary;

/// The seed's two containers of `example-app`, six lines each.
fn example_app(host: &TestHost) {
    for name in ["web-1", "web-2"] {
        let body = json!({"name": name, "agent_id": "agent-1", "framework_id": "fw",
            "container_id": format!("{name}-c"), "labels": {"app": "example-app"}});
        let r = send(
            host,
            "PUT",
            &format!("{INGEST}/tasks/example-app.{name}"),
            Some("application/json"),
            body.to_string().as_bytes(),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        for i in 0..3 {
            let lines = format!(
                "[martini] Started GET /{i} for [filtered IP]\n[martini] Completed 200 OK in 706.641us\n"
            );
            assert_eq!(
                append(
                    host,
                    &format!("example-app.{name}"),
                    "stdout",
                    lines.as_bytes()
                )
                .status,
                200
            );
        }
    }
}

/// `curl -sS <args> <url>` as the seed writes it; stdout and the HTTP status.
fn curl(args: &[&str], url: &str) -> (String, String) {
    let curl = debian_binary("curl", "curl").expect("curl");
    let out = std::process::Command::new(curl)
        .args(["-sS", "-w", "\n%{http_code} %{content_type}"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let (body, status) = text.rsplit_once('\n').expect("status line");
    (body.to_owned(), status.to_owned())
}

fn assert_seed_lines(body: &str) {
    let form = regex::Regex::new(
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} \+0000 UTC \[web-[12]\] \[martini\] (Started GET /\d for \[filtered IP\]|Completed 200 OK in 706\.641us)$",
    )
    .expect("regex");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 10, "n=10 gives exactly ten lines: {body}");
    for l in &lines {
        assert!(form.is_match(l), "not the seed's form: {l:?}");
    }
    let times: Vec<&str> = lines.iter().map(|l| &l[..29]).collect();
    assert!(
        times.is_sorted(),
        "oldest first, as the seed's sample: {times:?}"
    );
}

#[test]
fn the_seeds_examples_work_as_written() {
    let host = host();
    example_app(&host);
    let auth = format!("Authorization: {}", superuser());

    // The seed's request, with an Authorization header.
    let (body, status) = curl(
        &["-X", "GET", "-H", &auth],
        &host.url("/apps/example-app/logs?n=10"),
    );
    assert_eq!(status, "200 text/plain; charset=utf-8");
    assert_seed_lines(&body);

    // "To get an authenticated URL, see Application#logs".
    let (doc, status) = curl(
        &["-X", "GET", "-H", &auth],
        &host.url("/v1/apps/example-app/logs"),
    );
    assert!(status.starts_with("200 application/json"), "{status} {doc}");
    let doc: serde_json::Value = serde_json::from_str(&doc).expect("json");
    assert_eq!(doc["app"]["name"], "example-app");
    let logs_url = doc["logs_url"].as_str().expect("logs_url");
    let prefix = host.url("/apps/example-app/logs?token=");
    assert!(
        logs_url.starts_with(&prefix),
        "{logs_url} is absolute, on this host"
    );

    // The URL alone authenticates: no header.
    let (body, status) = curl(&["-X", "GET"], &format!("{logs_url}&n=10"));
    assert_eq!(status, "200 text/plain; charset=utf-8");
    assert_seed_lines(&body);

    // Without either, a 401; an unknown app is a 404; the URL reads only its app.
    let (_, status) = curl(&["-X", "GET"], &host.url("/apps/example-app/logs?n=10"));
    assert!(
        status.starts_with("401 application/problem+json"),
        "{status}"
    );
    let (_, status) = curl(&["-X", "GET", "-H", &auth], &host.url("/v1/apps/nope/logs"));
    assert!(
        status.starts_with("404 application/problem+json"),
        "{status}"
    );
    let token = logs_url.rsplit_once("token=").expect("token").1;
    let (_, status) = curl(
        &["-X", "GET"],
        &host.url(&format!("/apps/other/logs?token={token}")),
    );
    assert!(
        status.starts_with("403 application/problem+json"),
        "{status}"
    );
    let (_, status) = curl(
        &["-X", "POST", "-H", &auth],
        &host.url("/v1/apps/example-app/logs"),
    );
    assert!(
        status.starts_with("405 application/problem+json"),
        "{status}"
    );
}
