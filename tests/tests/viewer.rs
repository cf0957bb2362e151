//! The web viewer (`ui` component) over real HTTP: its files as a browser
//! gets them (types, ETags, gzip, caching), then the page itself in headless
//! Chromium, driven by Playwright (`tests/browser/viewer.py`): sign-in, a
//! live tail across invocation handoffs with every line once, pause and
//! resume, search in memory and on the server with context, a jump to a
//! time, a file download, a log-collection job, a phone-size viewport and
//! the keyboard. Screenshots land in `target/viewer-artifacts/`.

mod common;

use common::*;
use spin_logs_tests::HostOptions;
use std::process::Command;

#[test]
fn the_viewer_files_come_typed_tagged_compressed_and_cacheable() {
    let host = host();
    // Public: no credentials.
    let r = get_as(&host, "/ui", None);
    assert_eq!(r.status, 301, "{}", r.text());
    assert_eq!(r.header("location"), Some("/ui/"));

    let page = get_as(&host, "/ui/", None);
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    assert!(page.header("content-security-policy").is_some());
    let html = page.text();
    // The page asks for its files by their hashes, which may be kept for good.
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a script");
    assert!(script.starts_with("app.js?v="), "{script}");
    let js = get_with(&host, &format!("/ui/{script}"), &[]);
    assert_eq!(js.status, 200);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        js.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let css = get_with(&host, "/ui/app.css", &[]);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));

    // gzip when accepted: the same bytes once inflated, its own ETag.
    let gz = get_with(&host, "/ui/app.js", &[("accept-encoding", "gzip, br")]);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert!(gz.body.len() < js.body.len() / 2, "gzip shrinks the script");
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz.body[..]), &mut plain)
        .expect("gunzip");
    assert_eq!(plain, js.body);
    let tag = js.header("etag").expect("etag").to_owned();
    assert_ne!(gz.header("etag"), Some(tag.as_str()));

    // Revalidation: a 304 with no body, whichever form the client holds.
    for held in [tag.clone(), gz.header("etag").unwrap().to_owned()] {
        let r = get_with(&host, "/ui/app.js", &[("if-none-match", &held)]);
        assert_eq!(r.status, 304, "{held}");
        assert!(r.body.is_empty());
    }
    // HEAD, other methods, files that are not there.
    let r = send_with(&host, "HEAD", "/ui/", &[], None, b"");
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    let r = send_with(&host, "POST", "/ui/", &[], None, b"");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    for path in ["/ui/nope.js", "/ui/../openapi.json", "/ui/%2e%2e/x"] {
        let r = get_with(&host, path, &[]);
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
    }
}

#[test]
fn the_viewer_in_chromium_signs_in_tails_across_handoffs_searches_and_downloads() {
    let (python, chromium) = spin_logs_tests::services::playwright().expect("playwright");
    let host = host_with(HostOptions {
        variables: vec![
            ("tail_budget_ms".into(), "1000".into()),
            ("keepalive_ms".into(), "300".into()),
            ("job_step_ms".into(), "200".into()),
        ],
        ..Default::default()
    });
    let task = register(&host, "web.1", "agent-a", false);
    let first: String = (0..10).map(|i| format!("line {i}\n")).collect();
    assert_eq!(
        append(&host, "web.1", "stdout", first.as_bytes()).status,
        200
    );

    let lines: Vec<serde_json::Value> = (0..3)
        .map(|i| {
            serde_json::json!([
                (now_secs() * 1_000_000_000 + i).to_string(),
                format!("pod line {i}")
            ])
        })
        .collect();
    let push = serde_json::json!({"streams": [{
        "stream": {"namespace": "shop", "pod": "web-1", "container": "web"}, "values": lines}]});
    let r = send(
        &host,
        "POST",
        "/loki/api/v1/push",
        Some("application/json"),
        push.to_string().as_bytes(),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let entry = br#"{"MESSAGE":"journal hello","_SYSTEMD_UNIT":"dcos-mesos-master.service"}"#;
    let r = send(
        &host,
        "POST",
        &format!("{INGEST}/component"),
        Some("application/x-ndjson"),
        entry,
    );
    assert_eq!(r.status, 200, "{}", r.text());

    let artifacts = spin_logs_tests::repo_root().join("target/viewer-artifacts");
    let token = token(&[SUPERUSER]);
    let out = Command::new(&python)
        .arg(spin_logs_tests::repo_root().join("tests/browser/viewer.py"))
        .args(["test", &host.base_url(), &token])
        .arg(&artifacts)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("the driver runs");
    assert!(
        out.status.success(),
        "viewer.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let s = |k: &str| report[k].as_str().unwrap_or_default().to_owned();
    let n = |k: &str| report[k].as_u64().unwrap_or_default();

    // Sign-in: the form first; a bad token gets the problem's words.
    assert_eq!(report["signin_visible"], true);
    assert!(s("bad_token_error").contains("Unauthorized"), "{report}");
    assert_eq!(report["stored_in_session"], true);
    assert_eq!(report["tasks"], serde_json::json!(["web.1"]));
    assert_eq!(report["apps"], serde_json::json!(["demo"]));

    // The tail: every line once, in order, across at least three handoffs,
    // and nothing while paused, the rest after.
    let want: Vec<String> = (0..70).map(|i| format!("line {i}")).collect();
    assert_eq!(report["lines"], serde_json::json!(want), "{report}");
    assert!(
        n("handoffs") >= 3,
        "three invocation ends at least: {report}"
    );
    assert!(
        n("opens") > n("handoffs"),
        "reconnected after each: {report}"
    );
    assert_eq!(n("lines_while_paused"), 60, "{report}");
    assert_eq!(s("paused_label"), "Resume");
    assert!(
        report["states_seen"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "reconnecting")),
        "the reconnecting state shows: {report}"
    );
    // Virtual scrolling: a screenful of rows, not every line.
    assert!((1..70).contains(&n("rows_in_dom")), "{report}");

    // Search: 11 lines hold "line 4" (4, 40..49); the first is marked.
    assert_eq!(s("hits"), "11 lines match");
    assert!(s("current_match").ends_with("line 4"), "{report}");
    assert!(
        report["marks"]
            .as_array()
            .is_some_and(|m| !m.is_empty() && m.iter().all(|x| x == "line 4")),
        "{report}"
    );
    assert!(s("search_title").contains(": 1"), "{report}");
    let hit = &report["search_results"][0];
    assert_eq!(hit["marks"], serde_json::json!(["line 42"]));
    assert_eq!(
        hit["ctx"],
        serde_json::json!(["line 40", "line 41", "line 43", "line 44"])
    );
    assert!(s("jump_first").ends_with("line 0"), "{report}");

    // The download is the file as it was then (70 lines), byte for byte;
    // the same bytes the download route serves.
    let then: String = (0..70).map(|i| format!("line {i}\n")).collect();
    assert_eq!(s("download_sha256"), sha256(then.as_bytes()));
    let file = get(&host, &format!("{}/download", file_path(&task, "stdout")));
    assert!(file.body.starts_with(then.as_bytes()));
    assert_eq!(s("download_name"), "stdout");
    assert!(s("archive_name").ends_with(".tar.gz"), "{report}");
    assert_eq!(
        report["archive_entries"],
        serde_json::json!(["web.1/stdout"])
    );
    // The job ran to its end (the page's polls advance it) and downloaded.
    assert!(s("job_row").contains("SUCCESS"), "{report}");
    assert_eq!(n("job_progress"), 100);
    assert!(n("job_download_bytes") > 0);
    assert_eq!(report["job_download_gzip"], true);

    // An app, a pod (live, over the fetch-based reader) and component logs.
    assert!(s("app_last").ends_with("[web.1-name] line 69"), "{report}");
    let pod: Vec<String> = serde_json::from_value(report["pod_lines"].clone()).expect("pod lines");
    assert_eq!(pod.len(), 4, "{pod:?}");
    for (i, line) in pod.iter().enumerate() {
        assert!(line.ends_with(&format!("web pod line {i}")), "{line}");
    }
    assert_eq!(
        report["journal_lines"],
        serde_json::json!(["dcos-mesos-master.service: journal hello"])
    );

    // A phone: the sources are off-screen until asked for; nothing overflows.
    assert_eq!(report["phone_side_hidden"], true);
    assert_eq!(report["phone_scroll_width_ok"], true);
    // The keyboard reaches the header, the sources and the log's controls.
    let order: Vec<&str> = report["tab_order"]
        .as_array()
        .expect("tab order")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for id in ["nav-jobs", "signout", "web.1"] {
        assert!(order.contains(&id), "Tab reaches {id}: {order:?}");
    }
    // At most the bound in memory, the newest kept, the dropped counted.
    let kept = n("bounded_lines");
    assert!((100..=112).contains(&kept), "{report}");
    assert_eq!(n("bounded_dropped"), 300 - kept);
    assert_eq!(s("bounded_first"), format!("line {}", 300 - kept));
    assert!(s("bounded_foot").contains("oldest dropped"), "{report}");
    assert_eq!(report["page_errors"], serde_json::json!([]));
    for shot in ["viewer-1280x800.png", "viewer-390x844.png"] {
        let len = std::fs::metadata(artifacts.join(shot)).map_or(0, |m| m.len());
        assert!(len > 10_000, "{shot} saved ({len} bytes)");
    }
}
