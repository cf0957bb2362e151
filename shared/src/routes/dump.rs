//! The read path: component (journal) logs and sandbox files, in text,
//! NDJSON or (by a redirect to the `tail` family) Server-Sent Events.

use super::{
    AGENT, BASE, Body, Class, Endpoint, Family, Kind, Param, Row, Rule, SYSTEM_LOGS, TokenTarget,
    Verb,
};
use crate::config::vars;
use crate::web::path::ReadTarget;

/// Component (journal) logs.
pub const COMPONENT: &str = "/system/v1/logs/v2/component";

/// The one `dump` route: a log to read.
pub type Dump = ReadTarget;

const LINES: Body = Body::media("text/plain");

/// What every read route takes (DC/OS Logging API v2).
pub const READ_PARAMS: &[Param] = &[
    Param::query("cursor", "BEG, END, or a position this API gave out"),
    Param::query("skip", "+N or -N lines from the cursor").of(Kind::Integer),
    Param::query("limit", "lines to send").of(Kind::Integer),
    Param::query("filter", "KEY:value (component logs; repeatable)"),
    Param::query("stream", "true: 307 to the follow route").of(Kind::Boolean),
];
const JOURNAL: Rule = Rule::needs(&[SYSTEM_LOGS], Class::Standard);
const FILE: Rule = Rule::needs(&[AGENT], Class::Standard).token(TokenTarget::Agent);

/// The family.
pub static FAMILY: Family<Dump> = Family {
    component: "dump",
    summary: "reads component logs and sandbox files",
    spin_routes: &[
        "/system/v1/logs/v2/component/...",
        "/system/v1/agent/:agent_id/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/:filename",
        "/system/v1/agent/:agent_id/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/tasks/:task_id/:filename",
    ],
    aliases: &[],
    variables: &[BASE[0], BASE[1], BASE[2], vars::READS],
    profile: super::Profile::Release,
    rows: &[
        Row {
            endpoint: Endpoint::new(Verb::Get, "/system/v1/logs/v2/component", JOURNAL, "every journal entry")
                .answers(200, LINES)
            .params(READ_PARAMS)
            .errors(&[406]),
            make: ReadTarget::journal,
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/system/v1/logs/v2/component/:component",
                JOURNAL,
                "the entries of unit {component} or {component}.service",
            )
            .answers(200, LINES)
            .params(READ_PARAMS)
            .errors(&[406]),
            make: ReadTarget::journal,
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/system/v1/agent/:agent_id/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/:filename",
                FILE,
                "read a sandbox file",
            )
            .answers(200, LINES)
            .params(READ_PARAMS)
            .errors(&[406]),
            make: ReadTarget::file,
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/system/v1/agent/:agent_id/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/tasks/:task_id/:filename",
                FILE,
                "read a pod task's sandbox file",
            )
            .answers(200, LINES)
            .params(READ_PARAMS)
            .errors(&[406]),
            make: ReadTarget::file,
        },
    ],
};
