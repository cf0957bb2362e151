//! The DC/OS Logging API v2 seed (`../shared/seeds/dcos-logging-api-v2.md`)
//! route by route (issue 13): the component routes with the seed's filter
//! example, the master (discovery) routes, the agent routes in both
//! spellings the seed lists (the agent's own `/system/v1/logs/v2/task/frameworks/...`
//! and the master-proxied `/system/v1/agent/{agent_id}/logs/v2/...`), the GET
//! parameters, the formats (`text/plain`, `text/html`, `*/*`,
//! `text/event-stream` with `Last-Event-ID`) and the permission table.

mod common;

use common::*;
use spin_logs_tests::TestHost;

const RUN: &str = "frameworks/fw-1/executors/web.1/runs/web.1-container";
const POD_RUN: &str = "frameworks/fw-1/executors/pod-executor/runs/pod.1-container/tasks/pod.1";

fn fixture() -> TestHost {
    let host = host();
    register(&host, "web.1", "agent-1", false);
    register(&host, "pod.1", "agent-1", true);
    let lines: String = (0..20).map(|i| format!("web line {i}\n")).collect();
    assert_eq!(
        append(&host, "web.1", "stdout", lines.as_bytes()).status,
        200
    );
    assert_eq!(append(&host, "pod.1", "stdout", b"pod line\n").status, 200);
    let entries = concat!(
        "{\"MESSAGE\":\"elected leader\",\"_SYSTEMD_UNIT\":\"dcos-mesos-master.service\"}\n",
        "{\"MESSAGE\":\"agent up\",\"_SYSTEMD_UNIT\":\"dcos-mesos-slave.service\"}\n",
    );
    let r = send(
        &host,
        "POST",
        &format!("{INGEST}/component"),
        Some("application/x-ndjson"),
        entries.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    host
}

#[test]
fn any_node_routes_and_the_seeds_filter_example() {
    let host = fixture();
    let all = get(&host, "/system/v1/logs/v2/component").text();
    assert!(
        all.contains("elected leader") && all.contains("agent up"),
        "{all}"
    );
    let one = get(&host, "/system/v1/logs/v2/component/dcos-mesos-master").text();
    assert!(
        one.contains("elected leader") && !one.contains("agent up"),
        "{one}"
    );
    let filtered = get(
        &host,
        "/system/v1/logs/v2/component?filter=_SYSTEMD_UNIT:dcos-mesos-master.service",
    )
    .text();
    assert!(
        filtered.contains("elected leader") && !filtered.contains("agent up"),
        "{filtered}"
    );
}

#[test]
fn master_routes_redirect_to_the_agent_route() {
    let host = fixture();
    let agent = format!("/system/v1/agent/agent-1/logs/v2/task/{RUN}");
    for (master, target) in [
        ("/system/v1/logs/v2/task/web.1", format!("{agent}/stdout")),
        (
            "/system/v1/logs/v2/task/web.1/file/stdout",
            format!("{agent}/stdout"),
        ),
        (
            "/system/v1/logs/v2/task/web.1/browse",
            format!("{agent}/files/browse"),
        ),
        (
            "/system/v1/logs/v2/task/web.1/download",
            format!("{agent}/stdout/download"),
        ),
        (
            "/system/v1/logs/v2/task/web.1/file/stdout/download",
            format!("{agent}/stdout/download"),
        ),
    ] {
        let r = get(&host, master);
        assert_eq!(r.status, 303, "{master}: {}", r.text());
        assert_eq!(r.header("location"), Some(target.as_str()), "{master}");
        assert_eq!(get(&host, &target).status, 200, "{target}");
    }
}

#[test]
fn agent_routes_answer_in_both_spellings() {
    let host = fixture();
    for (run, file_text) in [(RUN, "web line 0\n"), (POD_RUN, "pod line\n")] {
        for tail in ["files/browse", "stdout", "stdout/download"] {
            let local = format!("/system/v1/logs/v2/task/{run}/{tail}?limit=1");
            let proxied = format!("/system/v1/agent/agent-1/logs/v2/task/{run}/{tail}?limit=1");
            let r = get(&host, &local);
            assert_eq!(r.status, 307, "{local}: {}", r.text());
            assert_eq!(r.header("location"), Some(proxied.as_str()), "{local}");
            let r = get(&host, &proxied);
            assert_eq!(r.status, 200, "{proxied}: {}", r.text());
            if tail == "stdout" {
                assert_eq!(r.text(), file_text);
            }
        }
    }
    // A run no task has is a 404, in either spelling.
    get(
        &host,
        "/system/v1/logs/v2/task/frameworks/f/executors/e/runs/c/stdout",
    )
    .problem(404);
    get(
        &host,
        "/system/v1/agent/agent-1/logs/v2/task/frameworks/f/executors/e/runs/c/stdout",
    )
    .problem(404);
}

#[test]
fn get_parameters_and_formats() {
    let host = fixture();
    let path = format!("/system/v1/agent/agent-1/logs/v2/task/{RUN}/stdout");
    assert_eq!(
        get(&host, &format!("{path}?limit=2")).text(),
        "web line 0\nweb line 1\n"
    );
    assert_eq!(
        get(&host, &format!("{path}?skip=+18")).text(),
        "web line 18\nweb line 19\n"
    );
    assert_eq!(
        get(&host, &format!("{path}?cursor=END&skip=-1")).text(),
        "web line 19\n"
    );
    assert_eq!(
        get(&host, &format!("{path}?cursor=BEG&limit=1")).text(),
        "web line 0\n"
    );
    let offset = "web line 0\n".len();
    assert_eq!(
        get(&host, &format!("{path}?cursor={offset}&limit=1")).text(),
        "web line 1\n"
    );
    for accept in ["text/plain", "text/html", "*/*"] {
        let r = get_with(&host, &format!("{path}?limit=1"), &[("accept", accept)]);
        assert_eq!(
            (r.status, r.text()),
            (200, "web line 0\n".to_owned()),
            "{accept}"
        );
    }
    // text/event-stream: every entry has an id, and Last-Event-ID resumes after it.
    let r = get_with(&host, &path, &[("accept", "text/event-stream")]);
    assert_eq!(r.status, 307);
    let follow = r.header("location").expect("the follow route").to_owned();
    let (status, events, _) = sse_once(&host, &format!("{follow}?cursor=BEG"), None);
    assert_eq!(status, 200);
    let data: Vec<&Event> = events.iter().filter(|e| e.event.is_none()).collect();
    assert_eq!(data.len(), 20, "every line once");
    assert!(data.iter().all(|e| e.id.is_some()));
    let (_, resumed, _) = sse_once(&host, &follow, data[9].id.as_deref());
    let rest: Vec<&Event> = resumed.iter().filter(|e| e.event.is_none()).collect();
    assert_eq!(rest.len(), 10, "Last-Event-ID resumes after the 10th line");
    assert!(rest[0].data.contains("web line 10"), "{}", rest[0].data);
}

#[test]
fn the_seeds_permission_table() {
    let host = fixture();
    let master = "/system/v1/logs/v2/component";
    let agent = format!("/system/v1/agent/agent-1/logs/v2/task/{RUN}/stdout");
    let logs = bearer(&[SYSTEM_LOGS]);
    let agent_perm = bearer(&[AGENT]);
    let su = bearer(&[SUPERUSER]);
    assert_eq!(get_as(&host, master, Some(&logs)).status, 200);
    assert_eq!(get_as(&host, master, Some(&agent_perm)).status, 403);
    assert_eq!(get_as(&host, &agent, Some(&agent_perm)).status, 200);
    assert_eq!(get_as(&host, &agent, Some(&logs)).status, 403);
    assert_eq!(get_as(&host, master, Some(&su)).status, 200);
    assert_eq!(get_as(&host, &agent, Some(&su)).status, 200);
    assert_eq!(
        get_as(&host, master, None).status,
        401,
        "all routes require authentication"
    );
}
