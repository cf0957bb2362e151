//! The permission map: which permission a route needs, how heavy it is for
//! rate limiting, and what a URL token must cover to read it.
//!
//! One table for every component, matched on the raw path with the same
//! prefixes the handlers use, so the gate and the handler never disagree
//! about which route a path is. A path no line here knows is reachable by
//! `dcos:superuser` only: a route added later stays closed to everyone else
//! until it gets its line.

use crate::ratelimit::Class;
use crate::route::{AgentPath, segments_after};
use http::Method;

/// Reaches every route.
pub const SUPERUSER: &str = "dcos:superuser";
/// `/system/v1/logs/v2/...` reads (DC/OS), and the non-DC/OS read routes.
pub const SYSTEM_LOGS: &str = "dcos:adminrouter:ops:system-logs";
/// `/system/v1/agent/{agent_id}/logs/v2/...` (DC/OS).
pub const AGENT: &str = "dcos:adminrouter:system:agent";
/// The write path: `/system/v1/logs/v2/ingest/...`.
pub const INGEST: &str = "spin-logs:ingest";
/// Log-collection jobs: `/api/v1/groups/...`.
pub const JOBS: &str = "spin-logs:jobs";

/// What a route asks of a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Any one of these grants the route; `dcos:superuser` always does.
    /// Empty: the superuser only.
    pub any_of: &'static [&'static str],
    pub class: Class,
    /// What a URL token must cover to read the route; `None`: no URL token can.
    pub scope: Option<Target>,
}

/// The task or app a read route is about, as far as the path alone says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A discovery route: its `{task}` segment, which a URL token must name
    /// exactly (a name or partial id could resolve to another task).
    TaskQuery(String),
    /// An agent route: the task is whichever runs there (resolved in storage).
    Agent(Box<AgentPath>),
    /// `/apps/{app}/logs`.
    App(String),
}

const LOGS_V2: &str = "/system/v1/logs/v2";

fn rule(any_of: &'static [&'static str], class: Class, scope: Option<Target>) -> Rule {
    Rule {
        any_of,
        class,
        scope,
    }
}

/// Superuser only: unknown paths and paths that do not parse.
fn closed() -> Rule {
    rule(&[], Class::Standard, None)
}

/// The rule for `method` on the raw (still percent-encoded) `path`.
pub fn rule_for(method: &Method, path: &str) -> Rule {
    let segs = |prefix: &str| segments_after(path, prefix).and_then(Result::ok);

    if let Some(s) = segs(&format!("{LOGS_V2}/ingest")) {
        // Reading a task's metadata back is what shippers do to check their
        // registration, and what readers see anyway through discovery.
        let read_meta = matches!(*method, Method::GET | Method::HEAD)
            && matches!(s.as_slice(), [tasks, _] if tasks == "tasks");
        let any_of: &[&str] = if read_meta {
            &[INGEST, SYSTEM_LOGS]
        } else {
            &[INGEST]
        };
        return rule(any_of, Class::Ingest, None);
    }
    if let Some(s) = segs(&format!("{LOGS_V2}/tokens")) {
        return match s.as_slice() {
            [] => rule(&[SYSTEM_LOGS], Class::Standard, None),
            _ => closed(),
        };
    }
    if let Some(s) = segs(&format!("{LOGS_V2}/task")) {
        let scope = s.first().cloned().map(Target::TaskQuery);
        return rule(&[SYSTEM_LOGS], Class::Standard, scope);
    }
    if segs(&format!("{LOGS_V2}/component")).is_some() {
        return rule(&[SYSTEM_LOGS], Class::Standard, None);
    }
    if let Some(inner) = path.strip_prefix(&format!("{LOGS_V2}/follow")) {
        // A follow streams what the read route it mirrors reads: whoever may
        // read that route may follow it (an agent read's own 307 sends its
        // callers here), and so may system-logs, whose prefix this is.
        if segments_after(inner, &format!("{LOGS_V2}/component")).is_some() {
            return rule(&[SYSTEM_LOGS], Class::Standard, None);
        }
        return match agent_logs(inner) {
            Some(agent) => rule(
                &[SYSTEM_LOGS, AGENT],
                Class::Standard,
                Some(Target::Agent(Box::new(agent))),
            ),
            None => closed(),
        };
    }
    if segs("/system/v1/agent").is_some() {
        return match agent_logs(path) {
            Some(agent) => {
                let class = match agent.rest.as_slice() {
                    // A whole sandbox as one .tar.gz.
                    [files, archive] if files == "files" && archive == "archive" => Class::Heavy,
                    _ => Class::Standard,
                };
                rule(&[AGENT], class, Some(Target::Agent(Box::new(agent))))
            }
            None => closed(),
        };
    }
    if let Some(s) = segs("/apps") {
        return match s.as_slice() {
            [app, logs] if logs == "logs" => rule(
                &[SYSTEM_LOGS],
                Class::Standard,
                Some(Target::App(app.clone())),
            ),
            _ => closed(),
        };
    }
    if path == "/logs" {
        return rule(&[SYSTEM_LOGS], Class::Standard, None);
    }
    if let Some(s) = segs("/api/v1/groups") {
        // Creating or retrying a job starts a collection; a download streams
        // a whole archive. Listing and polling are standard.
        let heavy =
            *method == Method::POST || s.last().is_some_and(|l| l == "download" || l == "retry");
        let class = if heavy { Class::Heavy } else { Class::Standard };
        return rule(&[JOBS], class, None);
    }
    closed()
}

/// An agent route of the Logging API (`/system/v1/agent/{id}/logs/v2/task/...`).
fn agent_logs(path: &str) -> Option<AgentPath> {
    AgentPath::parse(path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: &str = "/system/v1/agent/A/logs/v2/task/frameworks/F/executors/E/runs/C";

    fn perms(method: Method, path: &str) -> (&'static [&'static str], Class) {
        let r = rule_for(&method, path);
        (r.any_of, r.class)
    }

    #[test]
    fn every_route_family_has_its_permission_and_class() {
        use Class::*;
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
            (
                Method::POST,
                "/api/v1/groups/g/logCollectionJobs".into(),
                &[JOBS],
                Heavy,
            ),
            (
                g.clone(),
                "/api/v1/groups/g/logCollectionJobs".into(),
                &[JOBS],
                Standard,
            ),
            (
                g.clone(),
                "/api/v1/groups/g/logCollectionJobs/j/download".into(),
                &[JOBS],
                Heavy,
            ),
            (
                Method::PUT,
                "/api/v1/groups/g/logCollectionJobs/j/retry".into(),
                &[JOBS],
                Heavy,
            ),
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
    fn unknown_and_malformed_paths_are_superuser_only() {
        for path in [
            "/",
            "/nope",
            "/logs/",
            "/system/v1/logs/v2",
            "/system/v1/logs/v2/other",
            "/system/v1/logs/v2/tokens/x",
            "/system/v1/logs/v2/ingestx",
            "/system/v1/logs/v2/follow/system/v1/logs/v2/ingest/tasks/t",
            "/system/v1/logs/v2/follow/nope",
            "/system/v1/agent/A/metrics/v0",
            "/system/v1/agent/A/logs/v2/task/frameworks/F/executors/E/runs/%2e%2e/stdout",
            "/system/v1/logs/v2/ingest/%ff",
            "/apps/shop",
            "/apps/shop/logs/x",
        ] {
            assert_eq!(rule_for(&Method::GET, path), closed(), "{path}");
        }
    }

    #[test]
    fn scopes_name_the_task_or_app() {
        let r = rule_for(&Method::GET, &format!("{LOGS_V2}/task/web.1/file/stderr"));
        assert_eq!(r.scope, Some(Target::TaskQuery("web.1".into())));
        let r = rule_for(&Method::GET, &format!("{RUN}/tasks/T/stdout"));
        let Some(Target::Agent(a)) = r.scope else {
            panic!("{r:?}")
        };
        assert_eq!(a.task_id.as_deref(), Some("T"));
        let r = rule_for(&Method::GET, "/apps/a%20b/logs");
        assert_eq!(r.scope, Some(Target::App("a b".into())));
        assert_eq!(rule_for(&Method::GET, "/logs").scope, None);
        assert_eq!(
            rule_for(&Method::GET, &format!("{LOGS_V2}/component")).scope,
            None
        );
    }
}
