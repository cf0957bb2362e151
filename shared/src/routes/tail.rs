//! Live tail: every streaming route. A follow of any read route (mirrored
//! under [`FOLLOW`]), Scalingo-style app logs, and dotnet-monitor-style
//! captures of the journal.

use super::{
    AGENT, BASE, Body, Class, Endpoint, Family, Kind, Param, Row, Rule, SYSTEM_LOGS, TokenTarget,
    Verb,
};
use crate::config::vars;
use crate::web::path::{Process, ReadTarget};

/// Follow routes mirror the read routes under this prefix:
/// `/system/v1/logs/v2/follow/system/v1/logs/v2/component/...` and
/// `/system/v1/logs/v2/follow/system/v1/agent/...`.
pub const FOLLOW: &str = "/system/v1/logs/v2/follow";

/// A `tail` route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// Follow what a read route reads.
    Follow(ReadTarget),
    /// `/apps/{app}/logs`, Scalingo-style.
    AppLogs {
        /// The app: the tasks labelled `app=<app>`.
        app: String,
    },
    /// `/logs` (the default process) or `/logs/{pid|uid}`.
    Capture(Option<Process>),
}

const SSE: Body = Body::media("text/event-stream");

/// A follow takes what a read takes, and resumes from `Last-Event-ID`.
const FOLLOW_PARAMS: &[Param] = &[
    Param::query("cursor", "BEG, END, or a position this API gave out"),
    Param::query("skip", "+N or -N lines from the cursor").of(Kind::Integer),
    Param::query("limit", "lines to send").of(Kind::Integer),
    Param::query("filter", "KEY:value (component logs; repeatable)"),
    Param::header(
        "Last-Event-ID",
        "the id of the last event received: resumes exactly after it",
    ),
];

/// dotnet-monitor's capture parameters.
const CAPTURE_PARAMS: &[Param] = &[
    Param::query("level", "the lowest level captured").of(Kind::OneOf(&[
        "Trace",
        "Debug",
        "Information",
        "Warning",
        "Error",
        "Critical",
    ])),
    Param::query(
        "durationSeconds",
        "how long to capture; -1: until the budget ends",
    )
    .of(Kind::Integer),
];
const JOURNAL: Rule = Rule::needs(&[SYSTEM_LOGS], Class::Standard);
/// A follow streams what the read route it mirrors reads: whoever may read
/// that route may follow it (an agent read's own 307 sends its callers
/// here), and so may system-logs, whose prefix this is.
const FILE: Rule = Rule::needs(&[SYSTEM_LOGS, AGENT], Class::Standard).token(TokenTarget::Agent);

/// The family.
pub static FAMILY: Family<Tail> = Family {
    component: "tail",
    summary: "live tail: follows, Scalingo app logs, dotnet-monitor captures",
    spin_routes: &["/system/v1/logs/v2/follow/...", "/apps/:app/logs", "/logs", "/logs/:process"],
    aliases: &[],
    variables: &[BASE[0], BASE[1], BASE[2], vars::READS, vars::FOLLOW, vars::CAPTURE],
    profile: super::Profile::Small,
    rows: &[
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/system/v1/logs/v2/follow/system/v1/logs/v2/component",
                JOURNAL,
                "follow the journal (SSE or NDJSON; Last-Event-ID resumes)",
            )
            .answers(200, SSE)
            .params(FOLLOW_PARAMS)
            .errors(&[406]),
            make: |p| ReadTarget::journal(p).map(Tail::Follow),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/system/v1/logs/v2/follow/system/v1/logs/v2/component/:component",
                JOURNAL,
                "follow one unit's journal entries",
            )
            .answers(200, SSE)
            .params(FOLLOW_PARAMS)
            .errors(&[406]),
            make: |p| ReadTarget::journal(p).map(Tail::Follow),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/system/v1/logs/v2/follow/system/v1/agent/:agent_id/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/:filename",
                FILE,
                "follow a sandbox file; a registered task's file with no line yet is waited for",
            )
            .answers(200, SSE)
            .params(FOLLOW_PARAMS)
            .errors(&[406]),
            make: |p| ReadTarget::file(p).map(Tail::Follow),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/system/v1/logs/v2/follow/system/v1/agent/:agent_id/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/tasks/:task_id/:filename",
                FILE,
                "follow a pod task's sandbox file",
            )
            .answers(200, SSE)
            .params(FOLLOW_PARAMS)
            .errors(&[406]),
            make: |p| ReadTarget::file(p).map(Tail::Follow),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/apps/:app/logs",
                JOURNAL.token(TokenTarget::App),
                "Scalingo-style app logs: the last n lines, or a stream (stream=true)",
            )
            .answers(200, Body::media("text/plain"))
            .params(&[
                Param::query("n", "the last n lines").of(Kind::Integer),
                Param::query("filter", "a container name"),
                Param::query("stream", "true: stream (SSE) instead of a dump").of(Kind::Boolean),
                Param::query("last_event_id", "resumes a stream as Last-Event-ID does"),
                Param::query("token", "a URL token"),
            ]),
            make: |p| Ok(Tail::AppLogs { app: p.get("app")? }),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/logs",
                JOURNAL,
                "dotnet-monitor-style capture of the default process (level, durationSeconds)",
            )
            .answers(200, Body::media("application/x-ndjson"))
            .params(CAPTURE_PARAMS),
            make: |_| Ok(Tail::Capture(None)),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/logs/:process",
                JOURNAL,
                "the capture of one process: a pid (_PID) or a runtime instance GUID",
            )
            .answers(200, Body::media("application/x-ndjson"))
            .params(CAPTURE_PARAMS),
            make: |p| Ok(Tail::Capture(Some(Process::parse(&p.get("process")?)?))),
        },
    ],
};
