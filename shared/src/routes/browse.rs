//! A sandbox's listing, in Mesos' `files/browse` shape.

use super::{AGENT, BASE, Body, Class, Endpoint, Family, Row, Rule, TokenTarget, Verb};
use crate::web::path::AgentPath;

/// The one `browse` route: the sandbox to list.
pub type Browse = AgentPath;

const LIST: Rule = Rule::needs(&[AGENT], Class::Standard).token(TokenTarget::Agent);

/// The family.
pub static FAMILY: Family<Browse> = Family {
    component: "browse",
    summary: "lists a sandbox's files (Mesos files/browse shape)",
    spin_routes: &[
        "/system/v1/agent/:agent_id/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/files/browse",
        "/system/v1/agent/:agent_id/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/tasks/:task_id/files/browse",
    ],
    aliases: &[],
    variables: &BASE,
    profile: super::Profile::Small,
    rows: &[
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/system/v1/agent/:agent_id/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/files/browse",
                LIST,
                "list the sandbox",
            )
            .answers(200, Body::json("FileList")),
            make: AgentPath::from_params,
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/system/v1/agent/:agent_id/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/tasks/:task_id/files/browse",
                LIST,
                "list a pod task's sandbox",
            )
            .answers(200, Body::json("FileList")),
            make: AgentPath::from_params,
        },
    ],
};
