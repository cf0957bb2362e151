//! The permission map: which permission a route needs, how heavy it is for
//! rate limiting, and what a URL token must cover to read it.
//!
//! One `match` over [`Route`] ([`rule`]), the value the handler matches on too, so the
//! gate and the handler never disagree about which route a request is, and
//! a route added later does not compile until it has its rule. A path that
//! is no route (or whose parameters do not validate) is for `dcos:superuser`
//! only, who then gets the handler's precise 404 or 400.

use super::ratelimit::Class;
use crate::web::route::{
    AgentPath, JobRoute, K8sRoute, LokiRoute, ReadTarget, RetentionRoute, Route,
};
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
/// Retention: archive policies and runs (`/k8s/v1/archive/...`).
pub const ARCHIVE: &str = "spin-logs:archive";

/// What a route asks of a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Any one of these grants the route; `dcos:superuser` always does.
    /// Empty: the superuser only.
    pub any_of: &'static [&'static str],
    pub class: Class,
    /// What a URL token must cover to read the route; `None`: no URL token can.
    pub scope: Option<Subject>,
    /// Answered without credentials: the index and the "no route here"
    /// answer, which say only what the README says. Nothing is stored.
    pub public: bool,
}

/// The task or app a read route is about, as far as the path alone says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A discovery route: its `{task}` segment, which a URL token must name
    /// exactly (a name or partial id could resolve to another task).
    TaskQuery(String),
    /// An agent route: the task is whichever runs there (resolved in storage).
    Agent(Box<AgentPath>),
    /// `/apps/{app}/logs`.
    App(String),
    /// A job's `.../{job}/download`, as `{group}/{job}`.
    JobDownload(String),
}

fn needs(any_of: &'static [&'static str], class: Class, scope: Option<Subject>) -> Rule {
    Rule {
        any_of,
        class,
        scope,
        public: false,
    }
}

/// Superuser only: what a path that is no route gets.
pub fn closed() -> Rule {
    needs(&[], Class::Standard, None)
}

/// What `method` on `route` asks of a caller. A function of this layer, not
/// a method of `Route`, so the route layer (below) knows nothing of permissions.
pub fn rule(route: &Route, method: &Method) -> Rule {
    let agent = |run: &AgentPath| Some(Subject::Agent(Box::new(run.clone())));
    match route {
        // Reading a task's metadata back is what shippers do to check their
        // registration, and what readers see anyway through discovery.
        Route::TaskMeta { .. } if matches!(*method, Method::GET | Method::HEAD) => {
            needs(&[INGEST, SYSTEM_LOGS], Class::Ingest, None)
        }
        Route::TaskMeta { .. } | Route::AppendFile { .. } | Route::AppendJournal => {
            needs(&[INGEST], Class::Ingest, None)
        }
        // Both mint a URL token: what minting one takes.
        Route::MintToken | Route::AppLogsUrl { .. } => needs(&[SYSTEM_LOGS], Class::Standard, None),
        // The agent's own spelling only redirects to the proxied one, which
        // checks the agent permission; this prefix is system-logs' (the seed's table).
        Route::AgentLocal { .. } => needs(&[SYSTEM_LOGS, AGENT], Class::Standard, None),
        // A discovery route only redirects: its target pays its own way.
        Route::Discover { task, .. } => needs(
            &[SYSTEM_LOGS],
            Class::Standard,
            Some(Subject::TaskQuery(task.clone())),
        ),
        Route::Read(ReadTarget::Journal { .. })
        | Route::Follow(ReadTarget::Journal { .. })
        | Route::Capture
        | Route::CaptureProcess(_) => needs(&[SYSTEM_LOGS], Class::Standard, None),
        // A follow streams what the read route it mirrors reads: whoever may
        // read that route may follow it (an agent read's own 307 sends its
        // callers here), and so may system-logs, whose prefix this is.
        Route::Follow(ReadTarget::File { run, .. }) => {
            needs(&[SYSTEM_LOGS, AGENT], Class::Standard, agent(run))
        }
        Route::Read(ReadTarget::File { run, .. })
        | Route::Browse { run }
        | Route::Download { run, .. } => needs(&[AGENT], Class::Standard, agent(run)),
        // A whole sandbox as one .tar.gz.
        Route::SandboxArchive { run } => needs(&[AGENT], Class::Heavy, agent(run)),
        Route::AppLogs { app } => needs(
            &[SYSTEM_LOGS],
            Class::Standard,
            Some(Subject::App(app.clone())),
        ),
        // Creating or retrying a job starts a collection; a download streams
        // a whole archive. Listing and polling are standard.
        // The viewer's files are the same for everyone; it signs in by itself.
        Route::Ui { .. } | Route::Index | Route::OpenApi | Route::Unrouted => Rule {
            public: true,
            ..closed()
        },
        // Policies and runs change what is kept: the archive permission.
        // Looking at them, and reading archived objects, is a read of logs.
        Route::Retention(r) => {
            let read = matches!(*method, Method::GET | Method::HEAD);
            match r {
                _ if read => needs(&[ARCHIVE, SYSTEM_LOGS], Class::Standard, None),
                RetentionRoute::Start => needs(&[ARCHIVE], Class::Heavy, None),
                _ => needs(&[ARCHIVE], Class::Standard, None),
            }
        }
        // A push is a write; searches and LogQL (log or metric) scan, so they
        // are heavy (the Kubernetes seed's 10/min); listings, the filtered
        // GET and Loki's label look-ups read the index or one page.
        Route::Loki(LokiRoute::Push) => needs(&[INGEST], Class::Ingest, None),
        Route::K8s(K8sRoute::Search | K8sRoute::SearchLogql)
        | Route::Loki(LokiRoute::QueryRange | LokiRoute::Query) => {
            needs(&[SYSTEM_LOGS], Class::Heavy, None)
        }
        // A live tail is a follow: standard, like the other follows.
        Route::K8s(_) | Route::Loki(_) => needs(&[SYSTEM_LOGS], Class::Standard, None),
        Route::Jobs { group, job } => {
            // Minting a download token is a POST that starts nothing.
            let heavy = (*method == Method::POST && !matches!(job, JobRoute::Token(_)))
                || matches!(job, JobRoute::Download(_) | JobRoute::Retry(_));
            let class = if heavy { Class::Heavy } else { Class::Standard };
            let scope = match job {
                JobRoute::Download(id) => Some(Subject::JobDownload(format!("{group}/{id}"))),
                _ => None,
            };
            needs(&[JOBS], class, scope)
        }
    }
}

/// The rule of a request whose path parsed to `route` (or to no route).
pub fn rule_for(method: &Method, route: Option<&Route>) -> Rule {
    route.map_or_else(closed, |r| rule(r, method))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::route::LOGS_V2;

    const RUN: &str = "/system/v1/agent/A/logs/v2/task/frameworks/F/executors/E/runs/C";

    fn rule_at(method: &Method, path: &str) -> Rule {
        rule_for(method, Route::parse(path).ok().as_ref())
    }

    fn perms(method: Method, path: &str) -> (&'static [&'static str], Class) {
        let r = rule_at(&method, path);
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
                "/api/public/v1.0/groups/5f0c8a2be4b0a1d2c3e4f5a6/logCollectionJobs".into(),
                &[JOBS],
                Heavy,
            ),
            (
                g.clone(),
                "/api/public/v1.0/groups/5f0c8a2be4b0a1d2c3e4f5a6/logCollectionJobs".into(),
                &[JOBS],
                Standard,
            ),
            (
                g.clone(),
                "/api/public/v1.0/groups/5f0c8a2be4b0a1d2c3e4f5a6/logCollectionJobs/j/download"
                    .into(),
                &[JOBS],
                Heavy,
            ),
            (
                Method::PUT,
                "/api/public/v1.0/groups/5f0c8a2be4b0a1d2c3e4f5a6/logCollectionJobs/j/retry".into(),
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
    fn unknown_and_malformed_paths_in_a_family_are_superuser_only() {
        for path in [
            "/system/v1/logs/v2/follow/system/v1/logs/v2/ingest/tasks/t",
            "/system/v1/logs/v2/follow/nope",
            "/system/v1/agent/A/logs/v2/task/frameworks/F/executors/E/runs/%2e%2e/stdout",
            "/system/v1/logs/v2/ingest/%ff",
            "/system/v1/logs/v2/ingest/other",
            "/api/v1/groups/5f0c8a2be4b0a1d2c3e4f5a6/other",
        ] {
            assert_eq!(rule_at(&Method::GET, path), closed(), "{path}");
        }
    }

    #[test]
    fn the_index_and_paths_outside_every_family_are_public() {
        for path in [
            "/",
            "/nope",
            "/logs/",
            "/system/v1/logs/v2",
            "/system/v1/logs/v2/other",
            "/system/v1/logs/v2/tokens/x",
            "/system/v1/logs/v2/ingestx",
            "/system/v1/agent/A/metrics/v0",
            "/apps/shop",
            "/apps/shop/logs/x",
        ] {
            let rule = rule_at(&Method::GET, path);
            assert!(rule.public, "{path}");
            assert_eq!(rule.scope, None);
        }
        assert!(!closed().public);
    }

    #[test]
    fn scopes_name_the_task_or_app() {
        let r = rule_at(&Method::GET, &format!("{LOGS_V2}/task/web.1/file/stderr"));
        assert_eq!(r.scope, Some(Subject::TaskQuery("web.1".into())));
        let r = rule_at(&Method::GET, &format!("{RUN}/tasks/T/stdout"));
        let Some(Subject::Agent(a)) = r.scope else {
            panic!("{r:?}")
        };
        assert_eq!(a.task_id.as_deref(), Some("T"));
        let r = rule_at(&Method::GET, "/apps/a%20b/logs");
        assert_eq!(r.scope, Some(Subject::App("a b".into())));
        assert_eq!(rule_at(&Method::GET, "/logs").scope, None);
        assert_eq!(
            rule_at(&Method::GET, &format!("{LOGS_V2}/component")).scope,
            None
        );
    }
}
