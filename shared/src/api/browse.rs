//! Sandbox listing (`browse` component), in the shape of Mesos' `files/browse`:
//!
//! ```text
//! GET .../runs/{container}[/tasks/{task}]/files/browse
//! [{"path": "/var/lib/mesos/slave/slaves/{agent}/frameworks/.../stdout",
//!   "size": 1234, "mtime": 1700000000, "mode": "-rw-r--r--", "nlink": 1, "uid": "root", "gid": "root"}]
//! ```

use crate::env::Env;
use crate::model::sandbox::{Sandboxes, Task};
use crate::routes::browse::{Browse, FAMILY};
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;
use http::{StatusCode, header};
use serde::Serialize;

/// Where Mesos agents keep sandboxes; listed paths are under it, as on DC/OS.
const WORK_DIR: &str = "/var/lib/mesos/slave";

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Serialize)]
pub struct Entry {
    pub path: String,
    pub size: u64,
    pub mtime: u64,
    pub mode: &'static str,
    pub nlink: u32,
    pub uid: &'static str,
    pub gid: &'static str,
}

/// The `browse` component.
pub const API: super::Api<Browse> = super::Api {
    family: &FAMILY,
    handle,
};

fn handle(run: Browse, _req: &Request, env: &Env) -> Result<Response, Problem> {
    let sandboxes = Sandboxes::new(env.store.clone());
    let task = sandboxes.task_at(&run)?;
    let dir = sandbox_dir(&task);
    let entries: Vec<Entry> = sandboxes
        .files(&task.id)?
        .into_iter()
        .map(|f| Entry {
            path: format!("{dir}/{}", f.name),
            size: f.size,
            mtime: f.mtime / 1_000_000,
            mode: "-rw-r--r--",
            nlink: 1,
            uid: "root",
            gid: "root",
        })
        .collect();
    Ok(Response::json(StatusCode::OK, &entries).header(header::CACHE_CONTROL, "no-cache"))
}

/// The task's sandbox directory as a Mesos agent lays it out.
pub fn sandbox_dir(task: &Task) -> String {
    let mut dir = format!(
        "{WORK_DIR}/slaves/{}/frameworks/{}/executors/{}/runs/{}",
        task.agent_id,
        task.framework_id,
        task.executor(),
        task.container_id
    );
    if task.pod {
        dir.push_str(&format!("/tasks/{}", task.id));
    }
    dir
}
