//! Master-side discovery, as DC/OS routes it: a task named by its id or name
//! is redirected (303) to the agent route of its sandbox, and an agent route
//! in the agent's own spelling (`/system/v1/logs/v2/task/frameworks/...`,
//! without the `/system/v1/agent/{agent_id}` the master adds) is redirected
//! (307) to the proxied spelling.

use super::{BASE, Class, Endpoint, Family, Row, Rule, SYSTEM_LOGS, TokenTarget, Verb};
use crate::web::path::{AgentPath, Params};
use crate::web::problem::Problem;

/// The master's task prefix.
pub const PREFIX: &str = "/system/v1/logs/v2/task";

/// A `discovery` route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// `{task}/...`: what to redirect to once the task is found.
    Task {
        /// The task's id or name, as the path has it.
        task: String,
        /// What to redirect to.
        target: Discover,
    },
    /// The agent's own spelling of an agent route: `run` has the agent id
    /// [`crate::web::path::AGENT_UNKNOWN`]; `tail` is the path after
    /// [`PREFIX`], which the redirect keeps.
    AgentLocal {
        /// The sandbox, with no agent id yet.
        run: AgentPath,
        /// The rest of the path after [`PREFIX`].
        tail: String,
    },
}

/// What a discovery route asks for, once the task is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discover {
    /// Read this sandbox file (`stdout` when none is named).
    Read(String),
    /// Download this sandbox file (`stdout` when none is named).
    Download(String),
    /// List the sandbox.
    Browse,
    /// The whole sandbox as `.tar.gz`.
    Archive,
}

/// A discovery route only redirects: its target pays its own way.
const FIND: Rule = Rule::needs(&[SYSTEM_LOGS], Class::Standard).token(TokenTarget::Task);
/// The agent's own spelling redirects to the proxied one, which checks the
/// agent permission; this prefix is system-logs' (the seed's table).
const LOCAL: Rule = Rule::needs(&[SYSTEM_LOGS, super::AGENT], Class::Standard);

fn task(p: &Params, target: Discover) -> Result<Discovery, Problem> {
    Ok(Discovery::Task {
        task: p.get("task")?,
        target,
    })
}

fn local(p: &Params) -> Result<Discovery, Problem> {
    Ok(Discovery::AgentLocal {
        run: AgentPath::from_params(p)?,
        tail: p.path.strip_prefix(PREFIX).unwrap_or_default().to_owned(),
    })
}

const fn find(path: &'static str, summary: &'static str) -> Endpoint {
    Endpoint::new(Verb::Get, path, FIND, summary)
        .answers(303, super::Body::NONE)
        .errors(&[409])
}

const fn agent_local(path: &'static str) -> Endpoint {
    Endpoint::new(
        Verb::Get,
        path,
        LOCAL,
        "the agent's own spelling of an agent route: 307 to the proxied spelling",
    )
    .answers(307, super::Body::NONE)
}

/// The family.
pub static FAMILY: Family<Discovery> = Family {
    component: "discovery",
    summary: "finds a task by id or name and redirects to its agent route",
    spin_routes: &["/system/v1/logs/v2/task/..."],
    aliases: &[],
    variables: &BASE,
    profile: super::Profile::Small,
    rows: &[
        Row {
            endpoint: find("/system/v1/logs/v2/task/:task", "303 to the task's stdout"),
            make: |p| task(p, Discover::Read("stdout".into())),
        },
        Row {
            endpoint: find(
                "/system/v1/logs/v2/task/:task/file/:filename",
                "303 to one of the task's files",
            ),
            make: |p| task(p, Discover::Read(p.get("filename")?)),
        },
        Row {
            endpoint: find(
                "/system/v1/logs/v2/task/:task/browse",
                "303 to the task's sandbox listing",
            ),
            make: |p| task(p, Discover::Browse),
        },
        Row {
            endpoint: find(
                "/system/v1/logs/v2/task/:task/download",
                "303 to the task's stdout as a download",
            ),
            make: |p| task(p, Discover::Download("stdout".into())),
        },
        Row {
            endpoint: find(
                "/system/v1/logs/v2/task/:task/file/:filename/download",
                "303 to one of the task's files as a download",
            ),
            make: |p| task(p, Discover::Download(p.get("filename")?)),
        },
        Row {
            endpoint: find(
                "/system/v1/logs/v2/task/:task/archive",
                "303 to the task's sandbox as .tar.gz",
            ),
            make: |p| task(p, Discover::Archive),
        },
        Row {
            endpoint: agent_local(
                "/system/v1/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/:filename",
            ),
            make: local,
        },
        Row {
            endpoint: agent_local(
                "/system/v1/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/:filename/download",
            ),
            make: local,
        },
        Row {
            endpoint: agent_local(
                "/system/v1/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/files/browse",
            ),
            make: local,
        },
        Row {
            endpoint: agent_local(
                "/system/v1/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/files/archive",
            ),
            make: local,
        },
        Row {
            endpoint: agent_local(
                "/system/v1/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/tasks/:task_id/:filename",
            ),
            make: local,
        },
        Row {
            endpoint: agent_local(
                "/system/v1/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/tasks/:task_id/:filename/download",
            ),
            make: local,
        },
        Row {
            endpoint: agent_local(
                "/system/v1/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/tasks/:task_id/files/browse",
            ),
            make: local,
        },
        Row {
            endpoint: agent_local(
                "/system/v1/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/tasks/:task_id/files/archive",
            ),
            make: local,
        },
    ],
};
