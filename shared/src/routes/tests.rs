//! The tables, checked: every row parses its own example to itself, no row
//! takes a hostile name, and the rules are what docs/auth.md promises.

use super::*;
use crate::web::path::{HOSTILE_SEGMENTS, MAX_NAME_BYTES, Process, ReadTarget};
use http::StatusCode;

fn method(verb: Verb) -> Method {
    Method::from_bytes(verb.as_str().as_bytes()).expect("a method")
}

#[test]
fn every_example_resolves_to_its_own_family_and_row() {
    for (component, verb, path) in examples() {
        let r = resolve(&method(verb), &path);
        assert_eq!(r.problem, None, "{verb:?} {path}");
        assert_eq!(r.component, component, "{verb:?} {path}");
    }
}

#[test]
fn no_two_rows_of_a_family_take_the_same_request() {
    for family in ALL {
        let rows = family.endpoints();
        for (i, a) in rows.iter().enumerate() {
            for b in &rows[i + 1..] {
                assert!(
                    !(a.verb == b.verb && a.path == b.path),
                    "{}: {:?} {} twice",
                    family.component(),
                    a.verb,
                    a.path
                );
            }
        }
    }
}

#[test]
fn every_name_of_every_route_refuses_every_hostile_segment() {
    let long = "x".repeat(MAX_NAME_BYTES + 1);
    let hostile: Vec<&str> = HOSTILE_SEGMENTS.iter().copied().chain([&*long]).collect();
    let mut tried = 0;
    for (component, verb, path) in examples() {
        let segs: Vec<&str> = path.split('/').collect();
        for (i, seg) in segs.iter().enumerate() {
            if !SAMPLE_NAMES.contains(seg) {
                continue;
            }
            for bad in &hostile {
                let mut s = segs.clone();
                s[i] = bad;
                let p = s.join("/");
                let r = resolve(&method(verb), &p);
                let problem = r
                    .problem
                    .unwrap_or_else(|| panic!("{component}: {p} accepted"));
                assert_eq!(problem.status, StatusCode::BAD_REQUEST, "{component}: {p}");
                assert_eq!(r.rule, Rule::CLOSED, "{p}");
                tried += 1;
            }
        }
    }
    assert!(tried > 400, "{tried}");
}

fn found<R>(family: &'static Family<R>, m: Method, path: &str) -> R {
    match family.find(&m, path) {
        Lookup::Found(f) => f.route,
        Lookup::Refused(p, _) => panic!("{path}: {p}"),
        Lookup::Unrouted => panic!("{path}: unrouted"),
    }
}

fn refused<R>(family: &'static Family<R>, m: Method, path: &str) -> (u16, Rule) {
    match family.find(&m, path) {
        Lookup::Refused(p, rule) => (p.status.as_u16(), rule),
        Lookup::Found(_) => panic!("{path}: found"),
        Lookup::Unrouted => panic!("{path}: unrouted"),
    }
}

#[test]
fn parses_standalone_and_pod_agent_paths() {
    let base = "/system/v1/agent/A/logs/v2/task/frameworks/F/executors/E/runs/C";
    let ReadTarget::File { run, file } =
        found(&dump::FAMILY, Method::GET, &format!("{base}/stdout"))
    else {
        panic!()
    };
    assert_eq!((run.task_id, file.as_str()), (None, "stdout"));
    let archive::Archive::Download { run, file } = found(
        &archive::FAMILY,
        Method::GET,
        &format!("{base}/tasks/T/stderr/download"),
    ) else {
        panic!()
    };
    assert_eq!(
        (run.task_id.as_deref(), file.as_str()),
        (Some("T"), "stderr")
    );
    // A file named "tasks" is downloadable too.
    let archive::Archive::Download { run, file } = found(
        &archive::FAMILY,
        Method::GET,
        &format!("{base}/tasks/download"),
    ) else {
        panic!()
    };
    assert_eq!((run.task_id, file.as_str()), (None, "tasks"));
    let bad = base.replace("/runs/C", "/runs/%2e%2e");
    let (status, _) = refused(&dump::FAMILY, Method::GET, &format!("{bad}/stdout"));
    assert_eq!(status, 400);
}

#[test]
fn decodes_parameters_and_refuses_the_rest() {
    assert_eq!(
        found(&tail::FAMILY, Method::GET, "/apps/a%20b/logs"),
        tail::Tail::AppLogs { app: "a b".into() }
    );
    assert_eq!(
        found(
            &tail::FAMILY,
            Method::GET,
            "/system/v1/logs/v2/follow/system/v1/logs/v2/component/x"
        ),
        tail::Tail::Follow(ReadTarget::Journal {
            unit: Some("x".into())
        })
    );
    assert_eq!(found(&index::FAMILY, Method::GET, "/"), index::Index::Index);
    // Outside every family: the index's public 404.
    for path in [
        "/system/v1/logs/v2",
        "/system/v1/logs/v2/tokens/x",
        "/system/v1/logs/v2/ingestx",
        "/apps/shop",
        "/apps/shop/logs/x",
        "/logs/1/2",
        "/system/v1/agent/A/metrics/v0",
        "/loki/api/v1/nope",
        "/api/v1/groups/5f0c8a2be4b0a1d2c3e4f5a6/other",
    ] {
        let r = resolve(&Method::GET, path);
        assert_eq!((r.component, r.rule), ("index", Rule::PUBLIC), "{path}");
        assert_eq!(r.problem.map(|p| p.status.as_u16()), Some(404), "{path}");
    }
    for (path, status) in [
        (
            "/system/v1/logs/v2/follow/system/v1/logs/v2/ingest/tasks/t",
            404,
        ),
        ("/system/v1/logs/v2/follow/nope", 404),
        ("/system/v1/logs/v2/ingest/%ff", 400),
        ("/system/v1/logs/v2/ingest/other", 404),
        ("/system/v1/logs/v2/ingest/tasks/..", 400),
        ("/apps/%2e%2e/logs", 400),
        (
            "/api/v1/groups/5f0c8a2be4b0a1d2c3e4f5a6/logCollectionJobs/j/x",
            404,
        ),
        (
            "/api/public/v1.0/groups/5f0c8a2be4b0a1d2c3e4f5a6/logCollectionJobs/j/x",
            404,
        ),
        ("/api/public/v1.0/groups/g/logCollectionJobs", 400),
        (
            "/api/v1/groups/5F0C8A2BE4B0A1D2C3E4F5A/logCollectionJobs",
            400,
        ),
        ("/k8s/v1/nope", 404),
    ] {
        let r = resolve(&Method::GET, path);
        let p = r.problem.unwrap_or_else(|| panic!("{path}: a route"));
        assert_eq!(p.status.as_u16(), status, "{path}");
        assert_eq!(r.rule, Rule::CLOSED, "{path}: superuser only");
    }
}

#[test]
fn a_method_the_path_does_not_take_is_a_405_under_the_paths_rule() {
    let (status, rule) = refused(&query::FAMILY, Method::DELETE, "/k8s/v1/search");
    assert_eq!(
        (status, rule),
        (405, Rule::needs(&[SYSTEM_LOGS], Class::Heavy))
    );
    let Lookup::Refused(p, _) =
        ingest::FAMILY.find(&Method::GET, "/system/v1/logs/v2/ingest/component")
    else {
        panic!()
    };
    assert_eq!(p.extra["allow"], "POST");
    let Lookup::Refused(p, _) = index::FAMILY.find(&Method::POST, "/") else {
        panic!()
    };
    assert_eq!(p.extra["allow"], "GET, HEAD");
    // HEAD is GET's.
    assert!(matches!(
        index::FAMILY.find(&Method::HEAD, "/openapi.json"),
        Lookup::Found(_)
    ));
}

#[test]
fn a_capture_names_a_pid_or_a_guid() {
    assert_eq!(
        found(&tail::FAMILY, Method::GET, "/logs/4242"),
        tail::Tail::Capture(Some(Process::Pid(4242)))
    );
    let uid = Process::Uid("1d2c3b4a5f6e4a8b9c0de1f2a3b4c5d6".into());
    for form in [
        "1d2c3b4a-5f6e-4a8b-9c0d-e1f2a3b4c5d6",
        "1D2C3B4A5F6E4A8B9C0DE1F2A3B4C5D6",
    ] {
        assert_eq!(
            found(&tail::FAMILY, Method::GET, &format!("/logs/{form}")),
            tail::Tail::Capture(Some(uid.clone())),
            "{form}"
        );
    }
    for bad in ["abc", "12a", "99999999999", "-1"] {
        let Lookup::Refused(p, _) = tail::FAMILY.find(&Method::GET, &format!("/logs/{bad}")) else {
            panic!("{bad}")
        };
        assert_eq!(
            (p.status.as_u16(), p.extra["parameter"].as_str()),
            (400, Some("pid")),
            "{bad}"
        );
    }
}

#[test]
fn the_viewer_page_its_files_and_its_redirect() {
    assert_eq!(found(&ui::FAMILY, Method::GET, "/ui"), None);
    assert_eq!(found(&ui::FAMILY, Method::GET, "/ui/"), Some(String::new()));
    assert_eq!(
        found(&ui::FAMILY, Method::GET, "/ui/app.js"),
        Some("app.js".to_owned())
    );
    assert_eq!(
        found(&ui::FAMILY, Method::GET, "/ui/%2e%2e/x"),
        Some("%2e%2e/x".to_owned())
    );
}

#[test]
fn the_agents_own_spelling_keeps_its_tail() {
    let discovery::Discovery::AgentLocal { run, tail } = found(
        &discovery::FAMILY,
        Method::GET,
        "/system/v1/logs/v2/task/frameworks/F/executors/E/runs/C/tasks/T/files/browse",
    ) else {
        panic!()
    };
    assert_eq!(run.agent_id, crate::web::path::AGENT_UNKNOWN);
    assert_eq!(run.task_id.as_deref(), Some("T"));
    assert_eq!(
        tail,
        "/frameworks/F/executors/E/runs/C/tasks/T/files/browse"
    );
}

fn perms(method: Method, path: &str) -> (&'static [&'static str], Class) {
    let r = resolve(&method, path).rule;
    (r.any_of, r.class)
}

#[test]
fn every_route_family_has_its_permission_and_class() {
    use Class::*;
    const LOGS_V2: &str = "/system/v1/logs/v2";
    const RUN: &str = "/system/v1/agent/A/logs/v2/task/frameworks/F/executors/E/runs/C";
    const JOBS_AT: &str = "/api/public/v1.0/groups/5f0c8a2be4b0a1d2c3e4f5a6/logCollectionJobs";
    let g = Method::GET;
    let cases: Vec<(Method, String, &[&str], Class)> = vec![
        (
            Method::PUT,
            format!("{LOGS_V2}/ingest/tasks/t"),
            &[INGEST],
            Ingest,
        ),
        (
            g.clone(),
            format!("{LOGS_V2}/ingest/tasks/t"),
            &[INGEST, SYSTEM_LOGS],
            Ingest,
        ),
        (
            Method::POST,
            format!("{LOGS_V2}/ingest/tasks/t/files/stdout"),
            &[INGEST],
            Ingest,
        ),
        (
            Method::POST,
            format!("{LOGS_V2}/ingest/component"),
            &[INGEST],
            Ingest,
        ),
        (
            Method::POST,
            format!("{LOGS_V2}/tokens"),
            &[SYSTEM_LOGS],
            Standard,
        ),
        (
            g.clone(),
            format!("{LOGS_V2}/task/t/browse"),
            &[SYSTEM_LOGS],
            Standard,
        ),
        (
            g.clone(),
            format!("{LOGS_V2}/component/x"),
            &[SYSTEM_LOGS],
            Standard,
        ),
        (
            g.clone(),
            format!("{LOGS_V2}/component"),
            &[SYSTEM_LOGS],
            Standard,
        ),
        (
            g.clone(),
            format!("{LOGS_V2}/follow{LOGS_V2}/component"),
            &[SYSTEM_LOGS],
            Standard,
        ),
        (
            g.clone(),
            format!("{LOGS_V2}/follow{RUN}/stdout"),
            &[SYSTEM_LOGS, AGENT],
            Standard,
        ),
        (g.clone(), format!("{RUN}/stdout"), &[AGENT], Standard),
        (
            g.clone(),
            format!("{RUN}/tasks/T/stdout"),
            &[AGENT],
            Standard,
        ),
        (g.clone(), format!("{RUN}/files/browse"), &[AGENT], Standard),
        (
            g.clone(),
            format!("{RUN}/stdout/download"),
            &[AGENT],
            Standard,
        ),
        (g.clone(), format!("{RUN}/files/archive"), &[AGENT], Heavy),
        (
            g.clone(),
            format!("{RUN}/tasks/T/files/archive"),
            &[AGENT],
            Heavy,
        ),
        (
            g.clone(),
            "/apps/shop/logs".into(),
            &[SYSTEM_LOGS],
            Standard,
        ),
        (g.clone(), "/logs".into(), &[SYSTEM_LOGS], Standard),
        (Method::POST, JOBS_AT.into(), &[JOBS], Heavy),
        (g.clone(), JOBS_AT.into(), &[JOBS], Standard),
        (g.clone(), format!("{JOBS_AT}/j/download"), &[JOBS], Heavy),
        (Method::PUT, format!("{JOBS_AT}/j/retry"), &[JOBS], Heavy),
        (
            Method::POST,
            format!("{JOBS_AT}/j/token"),
            &[JOBS],
            Standard,
        ),
        (
            g.clone(),
            "/k8s/v1/archive/policies".into(),
            &[ARCHIVE, SYSTEM_LOGS],
            Standard,
        ),
        (
            Method::POST,
            "/k8s/v1/archive/policies".into(),
            &[ARCHIVE],
            Standard,
        ),
        (
            Method::POST,
            "/k8s/v1/archive/start".into(),
            &[ARCHIVE],
            Heavy,
        ),
        (Method::POST, "/loki/api/v1/push".into(), &[INGEST], Ingest),
        (
            g.clone(),
            "/loki/api/v1/query_range".into(),
            &[SYSTEM_LOGS],
            Loki,
        ),
        (
            g.clone(),
            "/loki/api/v1/labels".into(),
            &[SYSTEM_LOGS],
            Loki,
        ),
        (g.clone(), "/k8s/v1/".into(), &[SYSTEM_LOGS], Standard),
    ];
    for (method, path, any_of, class) in cases {
        assert_eq!(
            perms(method.clone(), &path),
            (any_of, class),
            "{method} {path}"
        );
    }
}

#[test]
fn the_index_the_viewer_and_paths_outside_every_family_are_public() {
    for path in [
        "/",
        "/openapi.json",
        "/ui",
        "/ui/app.js",
        "/nope",
        "/system/v1/logs/v2/other",
    ] {
        let r = resolve(&Method::GET, path);
        assert!(r.rule.public, "{path}");
        assert_eq!(r.subject, None);
    }
    const { assert!(!Rule::CLOSED.public) };
}

#[test]
fn scopes_name_the_task_or_app() {
    const RUN: &str = "/system/v1/agent/A/logs/v2/task/frameworks/F/executors/E/runs/C";
    let subject = |path: &str| resolve(&Method::GET, path).subject;
    assert_eq!(
        subject("/system/v1/logs/v2/task/web.1/file/stderr"),
        Some(Subject::TaskQuery("web.1".into()))
    );
    let Some(Subject::Agent(a)) = subject(&format!("{RUN}/tasks/T/stdout")) else {
        panic!()
    };
    assert_eq!(a.task_id.as_deref(), Some("T"));
    assert_eq!(
        subject("/apps/a%20b/logs"),
        Some(Subject::App("a b".into()))
    );
    assert_eq!(subject("/logs"), None);
    assert_eq!(subject("/system/v1/logs/v2/component"), None);
    assert_eq!(
        subject("/api/v1/groups/5f0c8a2be4b0a1d2c3e4f5a6/logCollectionJobs/j/download"),
        Some(Subject::JobDownload("5f0c8a2be4b0a1d2c3e4f5a6/j".into()))
    );
}

#[test]
fn every_family_reads_only_declared_variables() {
    for family in ALL {
        for name in family.variables() {
            assert!(
                crate::config::vars::ALL.iter().any(|v| v.name == name),
                "{}: {name} is no variable",
                family.component()
            );
        }
        let gated = family.endpoints().iter().any(|e| !e.rule.public);
        let has_gate = family.variables().contains(&"auth_hs256_secret");
        assert_eq!(
            gated,
            has_gate,
            "{}: the gate's keys iff a gated route",
            family.component()
        );
    }
}

/// [`COMPONENTS`] names [`ALL`]'s families in its order, so a family added
/// to one and not the other fails here (the lengths are also typed).
#[test]
fn components_follow_all() {
    let from_all: Vec<&str> = ALL.iter().map(|f| f.component()).collect();
    assert_eq!(COMPONENTS.to_vec(), from_all);
}
