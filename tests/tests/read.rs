//! End-to-end: the Logging API v2 read side (component logs, discovery,
//! browse, read, download) through the test host.

mod common;

use common::*;
use serde_json::Value;
use spin_logs_tests::HostOptions;

const COMPONENT: &str = "/system/v1/logs/v2/component";

fn numbered(from: usize, to: usize) -> String {
    (from..to).map(|i| format!("line {i:05}\n")).collect()
}

fn seeded(mut opts: HostOptions) -> (spin_logs_tests::TestHost, Value, Value) {
    // Follows here only replay what is stored: a short budget ends them.
    opts.variables.push(("tail_budget_ms".into(), "300".into()));
    let host = host_with(opts);
    let standalone = register(&host, "web.1111", "agent-a", false);
    let pod = register(&host, "db.2222", "agent-b", true);
    for task in ["web.1111", "db.2222"] {
        assert_eq!(
            append(&host, task, "stdout", numbered(0, 500).as_bytes()).status,
            200
        );
        assert_eq!(append(&host, task, "stderr", b"oops\n").status, 200);
    }
    let entries: String = (0..60)
        .map(|i| {
            let unit = ["dcos-mesos-master.service", "dcos-log", "dcos-adminrouter.service"][i % 3];
            let key = if i % 2 == 0 { "_SYSTEMD_UNIT" } else { "UNIT" };
            format!(
                "{{\"MESSAGE\":\"entry {i}\",\"{key}\":\"{unit}\",\"PRIORITY\":\"6\",\"__REALTIME_TIMESTAMP\":\"{}\"}}\n",
                1_700_000_000_000_000u64 + i as u64 * 1_000_000
            )
        })
        .collect();
    let r = send(
        &host,
        "POST",
        "/system/v1/logs/v2/ingest/component",
        Some("application/x-ndjson"),
        entries.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    (host, standalone, pod)
}

#[test]
fn task_files_read_with_every_parameter_in_both_task_variants() {
    let (host, standalone, pod) = seeded(HostOptions::default());
    for task in [&standalone, &pod] {
        let path = file_path(task, "stdout");
        let text = |q: &str| {
            let r = get(&host, &format!("{path}{q}"));
            assert_eq!(r.status, 200, "{q}: {}", r.text());
            assert_eq!(r.header("cache-control"), Some("no-cache"));
            r.text()
        };
        assert_eq!(text(""), numbered(0, 500));
        assert_eq!(text("?cursor=END&skip=-10"), numbered(490, 500));
        assert_eq!(text("?skip=-3"), numbered(497, 500));
        assert_eq!(text("?limit=2&skip=+5"), numbered(5, 7));
        assert_eq!(text("?cursor=BEG&limit=1"), numbered(0, 1));
        assert_eq!(
            text("?cursor=22&limit=1"),
            numbered(2, 3),
            "resume from a cursor is exclusive"
        );
        assert_eq!(text("?limit=0&cursor=END&skip=-1"), numbered(499, 500));
        assert_eq!(get(&host, &format!("{path}?cursor=END")).status, 204);
        assert_eq!(get(&host, &file_path(task, "stderr")).text(), "oops\n");
    }
}

#[test]
fn three_formats_and_last_event_id() {
    let (host, standalone, _) = seeded(HostOptions::default());
    let path = format!("{}?limit=3", file_path(&standalone, "stdout"));
    for accept in ["text/plain", "text/html", "*/*"] {
        let r = get_with(&host, &path, &[("accept", accept)]);
        assert_eq!(r.text(), numbered(0, 3), "{accept}");
    }
    for accept in ["application/json", "application/x-ndjson"] {
        let r = get_with(&host, &path, &[("accept", accept)]);
        assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
        let entries: Vec<Value> = r
            .text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(entries.len(), 3);
        let f = &entries[2]["fields"];
        assert_eq!(f["MESSAGE"], "line 00002");
        assert_eq!(
            (f["AGENT_ID"].as_str(), f["FRAMEWORK_ID"].as_str()),
            (Some("agent-a"), Some("fw-1"))
        );
        assert_eq!(
            (f["EXECUTOR_ID"].as_str(), f["CONTAINER_ID"].as_str()),
            (Some("web.1111"), Some("web.1111-container"))
        );
        assert_eq!(f["FILE"], "stdout");
        assert_eq!(entries[2]["offset"], 22);
    }
    // SSE means "follow": the read route hands it to the tail with a 307,
    // whose events carry ids that resume exactly.
    let sse = get_with(&host, &path, &[("accept", "text/event-stream")]);
    assert_eq!(sse.status, 307);
    let follow = sse.header("location").unwrap().to_owned();
    assert_eq!(follow, format!("/system/v1/logs/v2/follow{path}"));
    let events = get_with(&host, &follow, &[("accept", "text/event-stream")]);
    assert_eq!(events.header("content-type"), Some("text/event-stream"));
    let sse_text = events.text();
    let ids: Vec<&str> = sse_text
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .take(3)
        .collect();
    assert_eq!(ids, ["11", "22", "33"]);
    let resumed = get_with(
        &host,
        &follow,
        &[("accept", "text/event-stream"), ("last-event-id", "22")],
    );
    let first = resumed
        .text()
        .lines()
        .find(|l| l.starts_with("data: "))
        .unwrap()
        .to_owned();
    assert!(first.contains("\"MESSAGE\":\"line 00002\""), "{first}");
    get_with(&host, &path, &[("accept", "image/png")]).problem(406);
}

#[test]
fn component_logs_by_unit_filter_skip_and_cursor() {
    let (host, _, _) = seeded(HostOptions::default());
    let all = get(&host, COMPONENT);
    assert_eq!(all.text().lines().count(), 60);
    assert_eq!(
        all.text().lines().next(),
        Some("2023-11-14 22:13:20: entry 0")
    );
    let master = get(&host, &format!("{COMPONENT}/dcos-mesos-master"));
    assert_eq!(
        master.text().lines().count(),
        20,
        "name and name.service, UNIT and _SYSTEMD_UNIT"
    );
    let last = get(&host, &format!("{COMPONENT}?skip=-2"));
    assert_eq!(
        last.text().lines().map(|l| &l[21..]).collect::<Vec<_>>(),
        ["entry 58", "entry 59"]
    );
    let filtered = get_with(
        &host,
        &format!(
            "{COMPONENT}?filter=_SYSTEMD_UNIT:dcos-mesos-master.service&filter=priority:6&limit=2"
        ),
        &[("accept", "application/json")],
    );
    let entries: Vec<Value> = filtered
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        entries
            .iter()
            .map(|e| e["fields"]["MESSAGE"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["entry 0", "entry 6"]
    );
    assert_eq!(entries[1]["realtime_timestamp"], 1_700_000_006_000_000u64);
    let cursor = entries[1]["cursor"].as_str().unwrap();
    let next = get(
        &host,
        &format!(
            "{COMPONENT}?filter=_SYSTEMD_UNIT:dcos-mesos-master.service&limit=1&cursor={cursor}"
        ),
    );
    assert!(next.text().ends_with(": entry 12\n"), "{}", next.text());
    let follow = format!("/system/v1/logs/v2/follow{COMPONENT}/dcos-log");
    let sse = get_with(&host, &follow, &[("accept", "text/event-stream")]);
    let id = sse
        .text()
        .lines()
        .find_map(|l| l.strip_prefix("id: ").map(str::to_owned))
        .unwrap();
    let resumed = get_with(
        &host,
        &follow,
        &[("accept", "text/event-stream"), ("last-event-id", &id)],
    );
    let first = resumed
        .text()
        .lines()
        .find(|l| l.starts_with("data: "))
        .unwrap()
        .to_owned();
    assert!(first.contains("\"entry 4\""), "{first}");
    assert_eq!(get(&host, &format!("{COMPONENT}/no-such-unit")).status, 204);
}

#[test]
fn discovery_redirects_every_route_keeping_the_query() {
    let (host, standalone, pod) = seeded(HostOptions::default());
    let web = file_path(&standalone, "");
    let db = file_path(&pod, "");
    for (path, location) in [
        ("/system/v1/logs/v2/task/web.1111", format!("{web}stdout")),
        (
            "/system/v1/logs/v2/task/web.1111-name/file/stderr",
            format!("{web}stderr"),
        ),
        (
            "/system/v1/logs/v2/task/1111/browse",
            format!("{web}files/browse"),
        ),
        (
            "/system/v1/logs/v2/task/db.2222/download",
            format!("{db}stdout/download"),
        ),
        (
            "/system/v1/logs/v2/task/db.2222/file/stderr/download",
            format!("{db}stderr/download"),
        ),
        (
            "/system/v1/logs/v2/task/db.2222?cursor=END&skip=-5",
            format!("{db}stdout?cursor=END&skip=-5"),
        ),
    ] {
        let r = get(&host, path);
        assert_eq!(r.status, 303, "{path}: {}", r.text());
        assert_eq!(r.header("location"), Some(location.as_str()), "{path}");
        // The Location serves what was asked for.
        assert!(get(&host, &location).status < 300, "{location}");
    }
    get(&host, "/system/v1/logs/v2/task/nobody").problem(404);
    register(&host, "web.3333", "agent-c", false);
    let p = get(&host, "/system/v1/logs/v2/task/web.").problem(409);
    assert_eq!(p["candidates"], serde_json::json!(["web.1111", "web.3333"]));
}

#[test]
fn browse_lists_the_sandbox_and_download_sends_an_attachment() {
    let (host, standalone, pod) = seeded(HostOptions::default());
    for task in [&standalone, &pod] {
        let r = get(&host, &file_path(task, "files/browse"));
        assert_eq!(r.status, 200, "{}", r.text());
        let files = r.json();
        let files = files.as_array().unwrap();
        assert_eq!(files.len(), 2);
        let stdout = &files[0];
        assert!(
            stdout["path"]
                .as_str()
                .unwrap()
                .starts_with("/var/lib/mesos/slave/slaves/")
        );
        assert!(stdout["path"].as_str().unwrap().ends_with("/stdout"));
        assert_eq!(stdout["size"], numbered(0, 500).len());
        assert!(stdout["mtime"].as_u64().unwrap() > 1_700_000_000);
        assert_eq!(
            (stdout["mode"].as_str(), stdout["nlink"].as_u64()),
            (Some("-rw-r--r--"), Some(1))
        );

        let d = get(&host, &file_path(task, "stdout/download"));
        assert_eq!(d.status, 200);
        assert!(
            d.header("content-disposition")
                .unwrap()
                .starts_with("attachment; filename=\"stdout\"")
        );
        assert_eq!(
            d.header("content-length"),
            Some(numbered(0, 500).len().to_string().as_str())
        );
        assert_eq!(d.text(), numbered(0, 500));
        let etag = d.header("etag").unwrap().to_owned();
        let part = get_with(
            &host,
            &file_path(task, "stdout/download"),
            &[("range", "bytes=11-21"), ("if-range", &etag)],
        );
        assert_eq!(part.status, 206);
        assert_eq!(part.header("content-range"), Some("bytes 11-21/5500"));
        assert_eq!(part.text(), "line 00001\n");
        let stale = get_with(
            &host,
            &file_path(task, "stdout/download"),
            &[("range", "bytes=11-21"), ("if-range", "\"old\"")],
        );
        assert_eq!(stale.status, 200);
        get_with(
            &host,
            &file_path(task, "stdout/download"),
            &[("range", "bytes=9999-")],
        )
        .problem(416);
    }
    // An agent id that does not own the task finds nothing.
    let foreign = file_path(&standalone, "files/browse").replace("agent-a", "agent-b");
    get(&host, &foreign).problem(404);
}

#[test]
fn paging_past_the_response_budget_loses_and_repeats_nothing() {
    let (host, standalone, _) = seeded(HostOptions {
        variables: vec![("max_response_bytes".into(), "1000".into())],
        ..Default::default()
    });
    for accept in ["text/plain", "application/json"] {
        let mut url = file_path(&standalone, "stdout");
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let r = get_with(&host, &url, &[("accept", accept)]);
            assert_eq!(r.status, 200, "{accept}: {}", r.text());
            assert!(
                r.body.len() <= 1000 + 64,
                "{accept}: a page of {} bytes",
                r.body.len()
            );
            for line in r.text().lines() {
                match accept {
                    "text/plain" => seen.push(line.to_owned()),
                    _ => {
                        if let Some(json) = line
                            .strip_prefix("data: ")
                            .or((accept == "application/json").then_some(line))
                        {
                            let v: Value = serde_json::from_str(json).unwrap();
                            seen.push(v["fields"]["MESSAGE"].as_str().unwrap().to_owned());
                        }
                    }
                }
            }
            pages += 1;
            let Some(next) = r.header("x-next-cursor") else {
                break;
            };
            let link = r.header("link").unwrap();
            assert!(
                link.ends_with("; rel=\"next\"") && link.contains(&format!("cursor={next}")),
                "{link}"
            );
            url = link[1..link.find('>').unwrap()].to_owned();
        }
        let want: Vec<String> = numbered(0, 500).lines().map(str::to_owned).collect();
        assert_eq!(seen, want, "{accept}");
        assert!(pages > 5, "{accept}: the budget forced paging");
    }
}

/// Pages bigger than a stored segment (512 KiB) end where a segment starts
/// when the index shows that is a line boundary, and by a line lookup where
/// it is not (a line longer than a segment is stored across segments with
/// no newline): either way every page ends on a line and the pages add up
/// to the file.
#[test]
fn text_pages_over_many_segments_end_on_lines_and_add_up_to_the_file() {
    const BUDGET: usize = 1 << 20;
    let host = host_with(HostOptions {
        variables: vec![("max_response_bytes".into(), BUDGET.to_string())],
        ..Default::default()
    });
    let task = register(&host, "big.1", "agent-a", false);
    let long = format!("{}\n", "L".repeat(1_300_000));
    let mut file = Vec::new();
    for part in [numbered(0, 200_000), long, numbered(200_000, 260_000)] {
        assert_eq!(
            append(&host, "big.1", "stdout", part.as_bytes()).status,
            200
        );
        file.extend_from_slice(part.as_bytes());
    }
    let mut url = file_path(&task, "stdout");
    let mut read = Vec::new();
    let mut cursors = Vec::new();
    let mut pages = 0;
    loop {
        let r = get(&host, &url);
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.body.ends_with(b"\n"), "page {pages} ends inside a line");
        let one_line = r.body.iter().filter(|b| **b == b'\n').count() == 1;
        assert!(
            r.body.len() <= BUDGET || one_line,
            "page {pages}: {}",
            r.body.len()
        );
        read.extend_from_slice(&r.body);
        pages += 1;
        let Some(next) = r.header("x-next-cursor") else {
            break;
        };
        assert_eq!(
            next,
            read.len().to_string(),
            "the cursor is the bytes so far"
        );
        cursors.push(read.len());
        url = format!("{}?cursor={next}", file_path(&task, "stdout"));
    }
    assert!(read == file, "{} bytes read of {}", read.len(), file.len());
    // Segments are cut at the last newline within 512 KiB: the first two
    // pages end where the third and fifth segments start (the index), the
    // third where the numbered lines end (a line lookup: the segment after
    // ends inside the long line), the fourth is the long line alone.
    assert_eq!(cursors, [1_048_564, 2_097_128, 2_300_000, 3_600_001]);
}

#[test]
fn bad_read_parameters_are_problems_naming_the_parameter() {
    let (host, standalone, _) = seeded(HostOptions::default());
    let path = file_path(&standalone, "stdout");
    for (query, parameter) in [
        ("limit=ten", "limit"),
        ("limit=-1", "limit"),
        ("skip=1.5", "skip"),
        ("skip=99999999999999999999999", "skip"),
        ("cursor=12x", "cursor"),
        ("cursor=999999999", "cursor"),
        ("filter=A:b", "filter"),
    ] {
        let p = get(&host, &format!("{path}?{query}")).problem(400);
        assert_eq!(p["parameter"], parameter, "{query}");
    }
    for (query, parameter) in [
        ("filter=nocolon", "filter"),
        ("cursor=j.1.forged", "cursor"),
        ("cursor=1234", "cursor"),
    ] {
        let p = get(&host, &format!("{COMPONENT}?{query}")).problem(400);
        assert_eq!(p["parameter"], parameter, "{query}");
    }
    get(&host, &file_path(&standalone, "nope")).problem(404);
    get(&host, "/system/v1/logs/v2/task/web.1111/file/%2e%2e").problem(400);
    // No route matches at all: the host's own 404, as `spin up` answers.
    assert_eq!(
        get(&host, &format!("{path}/extra/segments/here")).status,
        404
    );
}

/// HEAD answers wherever GET does, with GET's status and headers and no
/// body; a download's `ETag` sent back in `If-None-Match` is a 304.
#[test]
fn head_wherever_get_and_304_for_the_current_etag() {
    let (host, standalone, pod) = seeded(HostOptions::default());
    let file = file_path(&standalone, "stdout");
    let browse = file.replace("/stdout", "/files/browse");
    for path in [
        file.clone(),
        format!("{file}?cursor=END&skip=-1"),
        file_path(&pod, "stderr"),
        browse,
        "/system/v1/logs/v2/component".to_owned(),
        "/system/v1/logs/v2/component/dcos-log?limit=1".to_owned(),
        "/system/v1/logs/v2/task/web.1111".to_owned(),
        format!("{INGEST}/tasks/web.1111"),
        format!("{file}/download"),
    ] {
        let get = send(&host, "GET", &path, None, b"");
        let head = send(&host, "HEAD", &path, None, b"");
        assert_eq!(head.status, get.status, "HEAD {path}");
        assert!(head.status < 400, "HEAD {path}: {}", head.status);
        assert!(head.body.is_empty(), "HEAD {path} has a body");
        assert_eq!(
            head.header("content-type"),
            get.header("content-type"),
            "HEAD {path}"
        );
    }
    let download = format!("{file}/download");
    let etag = send(&host, "GET", &download, None, b"")
        .header("etag")
        .expect("an ETag")
        .to_owned();
    let again = send_with(
        &host,
        "GET",
        &download,
        &[("if-none-match", &etag)],
        None,
        b"",
    );
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let stale = send_with(
        &host,
        "GET",
        &download,
        &[("if-none-match", "\"other\"")],
        None,
        b"",
    );
    assert_eq!(stale.status, 200);
}
