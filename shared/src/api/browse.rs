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

/// One file of a sandbox listing, in Mesos' `files/browse` shape.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Serialize)]
pub struct Entry {
    /// Absolute path as on a Mesos agent: the task's sandbox directory, then the file name.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, seconds since the epoch (Mesos' unit, not µs).
    pub mtime: u64,
    /// Always `-rw-r--r--`: stored files have no mode of their own.
    pub mode: &'static str,
    /// Always 1, as Mesos reports a plain file.
    pub nlink: u32,
    /// Always `root`: stored files have no owner.
    pub uid: &'static str,
    /// Always `root`, like `uid`.
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
