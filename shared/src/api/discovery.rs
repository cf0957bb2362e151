//! Task discovery (`discovery` component): the DC/OS "master" routes, which
//! answer `303 See Other` pointing at the agent route that serves the task.
//!
//! ```text
//! /system/v1/logs/v2/task/{task}                          -> .../{stdout}
//! /system/v1/logs/v2/task/{task}/file/{file}              -> .../{file}
//! /system/v1/logs/v2/task/{task}/browse                   -> .../files/browse
//! /system/v1/logs/v2/task/{task}/download                 -> .../stdout/download
//! /system/v1/logs/v2/task/{task}/file/{file}/download     -> .../{file}/download
//! /system/v1/logs/v2/task/{task}/archive                  -> .../files/archive
//! ```
//! `{task}` names a task whose name equals it or whose id contains it. An exact
//! id beats an exact name, which beats a partial id; within the best kind a
//! running task beats finished ones. Still more than one: 409 with the
//! candidates (DC/OS answers 500 here).

use crate::env::Env;
use crate::model::sandbox::{Sandboxes, TaskSummary, is_running};
use crate::routes::discovery::{Discover, Discovery, FAMILY};
use crate::web::message::{Request, Response};
use crate::web::path::{AgentPath, header_safe, push};
use crate::web::problem::Problem;
use http::{StatusCode, header};

/// The `discovery` component.
pub const API: super::Api<Discovery> = super::Api {
    family: &FAMILY,
    handle,
};

fn handle(route: Discovery, req: &Request, env: &Env) -> Result<Response, Problem> {
    match route {
        Discovery::Task { task, target } => discover(&task, &target, req, env),
        Discovery::AgentLocal { run, tail } => agent_local(&run, &tail, req, env),
    }
}

/// 303 to the agent route of the task `query` names.
fn discover(query: &str, target: &Discover, req: &Request, env: &Env) -> Result<Response, Problem> {
    let sandboxes = Sandboxes::new(env.store.clone());
    let id = choose(&sandboxes.index()?, query)?;
    let task = sandboxes
        .task(&id)?
        .ok_or_else(|| Problem::not_found(format!("no task matches {query:?}")))?;
    let mut location = task.agent_route();
    match target {
        Discover::Read(f) => push(&mut location, &[f]),
        Discover::Download(f) => push(&mut location, &[f, "download"]),
        Discover::Browse => push(&mut location, &["files", "browse"]),
        Discover::Archive => push(&mut location, &["files", "archive"]),
    }
    Ok(redirect(StatusCode::SEE_OTHER, location, req))
}

/// A redirect to `location` that keeps the request's query (a URL token,
/// cursors) as sent.
fn redirect(status: StatusCode, mut location: String, req: &Request) -> Response {
    if !req.query.is_empty() {
        location.push('?');
        location.push_str(&header_safe(req.query.raw()));
    }
    Response::new(status)
        .header(header::LOCATION, &location)
        .header(header::CACHE_CONTROL, "no-cache")
}

/// The agent's own spelling of an agent route (`/system/v1/logs/v2/task/frameworks/...`):
/// 307 to the proxied spelling on the agent of the task that runs there.
/// Users seldom call these (the seed: "rely on master node to construct the
/// correct endpoint"), so the task is found by a walk over the task index.
fn agent_local(run: &AgentPath, tail: &str, req: &Request, env: &Env) -> Result<Response, Problem> {
    let sandboxes = Sandboxes::new(env.store.clone());
    let mut found = None;
    for summary in sandboxes.index()? {
        if let Some(t) = sandboxes.task(&summary.id)?
            && t.framework_id == run.framework_id
            && t.executor() == run.executor_id
            && t.container_id == run.container_id
            && (t.pod == run.task_id.is_some())
            && run.task_id.as_ref().is_none_or(|id| *id == t.id)
        {
            found = Some(t);
            break;
        }
    }
    let task = found.ok_or_else(|| Problem::not_found("no task runs there"))?;
    let mut location = String::from(crate::web::path::AGENT);
    push(&mut location, &[&task.agent_id]);
    location.push_str("/logs/v2/task");
    location.push_str(&header_safe(tail));
    Ok(redirect(StatusCode::TEMPORARY_REDIRECT, location, req))
}

/// Picks the one task `query` means, by the rules in the module docs.
fn choose(index: &[TaskSummary], query: &str) -> Result<String, Problem> {
    let tiers: [&dyn Fn(&TaskSummary) -> bool; 3] =
        [&|t| t.id == query, &|t| t.name == query, &|t| {
            t.id.contains(query)
        }];
    for tier in tiers {
        let matches: Vec<&TaskSummary> = index.iter().filter(|t| tier(t)).collect();
        if matches.is_empty() {
            continue;
        }
        let running: Vec<&&TaskSummary> = matches.iter().filter(|t| is_running(&t.state)).collect();
        let best: Vec<&TaskSummary> = if running.is_empty() {
            matches
        } else {
            running.into_iter().copied().collect()
        };
        if let [one] = best.as_slice() {
            return Ok(one.id.clone());
        }
        let ids: Vec<&str> = best.iter().map(|t| t.id.as_str()).collect();
        return Err(Problem::conflict(format!(
            "{} tasks match {query:?} equally well; use a task id",
            ids.len()
        ))
        .with("candidates", ids));
    }
    Err(Problem::not_found(format!("no task matches {query:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: &str, name: &str, state: &str) -> TaskSummary {
        TaskSummary {
            id: id.into(),
            name: name.into(),
            state: state.into(),
        }
    }

    #[test]
    fn chooses_by_id_then_name_then_partial_id_running_first() {
        let index = [
            summary("web.1111", "web", "TASK_FINISHED"),
            summary("web.2222", "web", "TASK_RUNNING"),
            summary("db.3333", "db", "TASK_RUNNING"),
            summary("db.4444", "db", "TASK_RUNNING"),
            summary("web", "other", "TASK_FAILED"),
        ];
        assert_eq!(choose(&index, "web").unwrap(), "web", "exact id first");
        assert_eq!(choose(&index, "2222").unwrap(), "web.2222");
        assert_eq!(
            choose(&index, "web.").unwrap(),
            "web.2222",
            "running beats finished"
        );
        let p = choose(&index, "db").unwrap_err();
        assert_eq!(p.status, StatusCode::CONFLICT);
        assert_eq!(
            p.extra["candidates"],
            serde_json::json!(["db.3333", "db.4444"])
        );
        assert_eq!(
            choose(&index, "nope").unwrap_err().status,
            StatusCode::NOT_FOUND
        );
    }
}
