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

use crate::Env;
use crate::http::{Request, Response, respond};
use crate::problem::Problem;
use crate::route::{segments_after, validate_name};
use crate::sandbox::{Sandboxes, Task, TaskSummary, is_running};
use http::{Method, StatusCode, header};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

pub const PREFIX: &str = "/system/v1/logs/v2/task";

/// Characters escaped in one path segment of a `Location`.
pub(crate) const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'`')
    .add(b'{')
    .add(b'}');

pub fn handle(req: Request, env: &Env) -> Response {
    respond(route(&req, env))
}

/// What the client asked for, on the agent side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Read(String),
    Download(String),
    Browse,
    Archive,
}

/// The task query and target a discovery path names, both validated.
pub fn parse(path: &str) -> Result<(String, Target), Problem> {
    let segs =
        segments_after(path, PREFIX).ok_or_else(|| Problem::not_found("not a task route"))??;
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let (query, target) = match s.as_slice() {
        [task] => (*task, Target::Read("stdout".into())),
        [task, "file", file] => (*task, Target::Read(file.to_string())),
        [task, "browse"] => (*task, Target::Browse),
        [task, "archive"] => (*task, Target::Archive),
        [task, "download"] => (*task, Target::Download("stdout".into())),
        [task, "file", file, "download"] => (*task, Target::Download(file.to_string())),
        _ => return Err(Problem::not_found(format!("no task route at {path}"))),
    };
    validate_name("task_id", query)?;
    if let Target::Read(f) | Target::Download(f) = &target {
        validate_name("filename", f)?;
    }
    Ok((query.to_owned(), target))
}

fn route(req: &Request, env: &Env) -> Result<Response, Problem> {
    if req.method != Method::GET && req.method != Method::HEAD {
        return Err(Problem::method_not_allowed("GET, HEAD"));
    }
    let (query, target) = parse(&req.path)?;
    let query = query.as_str();
    let sandboxes = Sandboxes::new(env.store.clone());
    let id = choose(&sandboxes.index()?, query)?;
    let task = sandboxes
        .task(&id)?
        .ok_or_else(|| Problem::not_found(format!("no task matches {query:?}")))?;
    let mut location = agent_base(&task);
    match &target {
        Target::Read(f) => push(&mut location, &[f]),
        Target::Download(f) => push(&mut location, &[f, "download"]),
        Target::Browse => push(&mut location, &["files", "browse"]),
        Target::Archive => push(&mut location, &["files", "archive"]),
    }
    if !req.query.is_empty() {
        location.push('?');
        location.push_str(&crate::route::header_safe(&req.query));
    }
    Ok(Response::new(StatusCode::SEE_OTHER)
        .header(header::LOCATION, &location)
        .header(header::CACHE_CONTROL, "no-cache"))
}

/// The agent route prefix of a task: `.../runs/{container}[/tasks/{task}]`.
pub fn agent_base(task: &Task) -> String {
    let mut path = String::from("/system/v1/agent");
    push(
        &mut path,
        &[
            &task.agent_id,
            "logs",
            "v2",
            "task",
            "frameworks",
            &task.framework_id,
        ],
    );
    push(
        &mut path,
        &["executors", task.executor(), "runs", &task.container_id],
    );
    if task.pod {
        push(&mut path, &["tasks", &task.id]);
    }
    path
}

/// Appends `segments` to `path`, each percent-encoded as one path segment.
pub fn push(path: &mut String, segments: &[&str]) {
    for s in segments {
        path.push('/');
        path.extend(utf8_percent_encode(s, SEGMENT));
    }
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
