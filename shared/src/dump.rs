//! The read path (`dump` component): a sandbox file as text.
//!
//! ```text
//! GET /system/v1/agent/{agent}/logs/v2/task/frameworks/{fw}/executors/{ex}/runs/{container}/{file}
//! GET /system/v1/agent/{agent}/logs/v2/task/frameworks/{fw}/executors/{ex}/runs/{container}/tasks/{task}/{file}
//! ```
//! The body streams segment by segment; memory stays flat whatever the size.

use crate::Env;
use crate::http::{Request, Response, respond};
use crate::problem::Problem;
use crate::route::AgentPath;
use crate::sandbox::Sandboxes;
use http::{Method, StatusCode, header};
use std::rc::Rc;

pub fn handle(req: Request, env: &Env) -> Response {
    respond(route(&req, env))
}

fn route(req: &Request, env: &Env) -> Result<Response, Problem> {
    if req.path.starts_with("/system/v1/logs/v2/component") {
        return Err(Problem::not_implemented("component logs"));
    }
    if req.method != Method::GET && req.method != Method::HEAD {
        return Err(Problem::method_not_allowed("GET, HEAD"));
    }
    let path = AgentPath::parse(&req.path)?;
    let [filename] = path.rest.as_slice() else {
        return Err(Problem::not_found("no such file route"));
    };
    let sandboxes = Sandboxes::new(env.store.clone());
    let task = sandboxes
        .task_for_route(&path)?
        .ok_or_else(|| Problem::not_found("no task runs at this agent route"))?;
    let snapshot = sandboxes
        .file(&task.id, filename)
        .snapshot()?
        .ok_or_else(|| {
            Problem::not_found(format!("task {:?} has no file {filename:?}", task.id))
        })?;
    let response = Response::new(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache");
    if req.method == Method::HEAD {
        return Ok(response);
    }
    let size = snapshot.size();
    Ok(response.stream(Box::new(Rc::new(snapshot).read(0, size))))
}
