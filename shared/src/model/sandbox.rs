//! Tasks and their sandbox files: the Mesos-like data model behind the task routes.
//!
//! Keys (metadata store):
//! ```text
//! task/<h(task_id)>                 the task's metadata (JSON)
//! task/<h(task_id)>/files           names of its sandbox files
//! tasks                             index of all tasks (id, name, state) for discovery
//! run/<h(agent,fw,executor,cont)>   task id of a standalone task's run, for agent routes
//! file/<h(task_id, name)>/...       the file's log (see `store::log`)
//! ```
//! Ids are hashed into keys so any valid id (up to 255 bytes) fits the key limits
//! of hosted KV stores; the real ids are kept inside the values.

use crate::store::Store;
use crate::store::kv::{Update, update};
use crate::store::log::Log;
use crate::util::ids::digest;
use crate::web::path::{push, validate_name};
use crate::web::problem::Problem;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::rc::Rc;

const INDEX_KEY: &str = "tasks";
const UPDATE_ATTEMPTS: u32 = 100;

/// What a client sends to register or update a task.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Optional; if present it must equal the id in the path.
    #[serde(default)]
    pub id: Option<String>,
    /// A display name (Mesos' `TaskInfo.name`); need not be unique.
    pub name: String,
    /// The Mesos agent it runs on: the first id of its agent routes.
    pub agent_id: String,
    /// The Mesos framework that launched it (Marathon, Metronome, ...).
    pub framework_id: String,
    /// Absent for command tasks: the executor is then the task itself.
    #[serde(default)]
    pub executor_id: Option<String>,
    /// The task's own container: the last of its container chain.
    pub container_id: String,
    /// Outermost first, for nested (pod) containers.
    #[serde(default)]
    pub parent_container_ids: Vec<String>,
    /// Pod tasks live under `.../runs/{container}/tasks/{task_id}/`.
    #[serde(default)]
    pub pod: bool,
    /// A Mesos `TaskState` (`TASK_RUNNING`, `TASK_FINISHED`, ...); default `TASK_RUNNING`.
    #[serde(default = "default_state")]
    pub state: String,
    /// Free-form labels (namespace, pod, container, app, container type ...).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_state() -> String {
    "TASK_RUNNING".to_owned()
}

/// A registered task as stored and returned.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Task {
    /// The task id, as registered (up to 255 bytes).
    pub id: String,
    /// A display name (Mesos' `TaskInfo.name`); need not be unique.
    pub name: String,
    /// The Mesos agent it runs on: the first id of its agent routes.
    pub agent_id: String,
    /// The Mesos framework that launched it.
    pub framework_id: String,
    /// Its executor; `null` for a command task, whose executor is the task itself.
    pub executor_id: Option<String>,
    /// The task's own container: the last of its container chain.
    pub container_id: String,
    /// Enclosing containers, outermost first, for nested (pod) containers.
    pub parent_container_ids: Vec<String>,
    /// A pod task: its files are under `.../runs/{container}/tasks/{task_id}/`.
    pub pod: bool,
    /// Its Mesos `TaskState`, as last registered.
    pub state: String,
    /// Free-form labels (namespace, pod, container, app, ...).
    pub labels: BTreeMap<String, String>,
    /// Microseconds since the epoch.
    pub created: u64,
    /// When it was last registered or updated, µs since the epoch.
    pub updated: u64,
}

impl Task {
    /// The task's agent route prefix: `.../runs/{container}[/tasks/{task}]`.
    pub fn agent_route(&self) -> String {
        let mut path = String::from("/system/v1/agent");
        push(
            &mut path,
            &[
                &self.agent_id,
                "logs",
                "v2",
                "task",
                "frameworks",
                &self.framework_id,
            ],
        );
        push(
            &mut path,
            &["executors", self.executor(), "runs", &self.container_id],
        );
        if self.pod {
            push(&mut path, &["tasks", &self.id]);
        }
        path
    }

    /// The executor id as routes use it: the task id when the task has no executor.
    pub fn executor(&self) -> &str {
        self.executor_id.as_deref().unwrap_or(&self.id)
    }

    /// Whether its state is a live one ([`is_running`]).
    pub fn is_running(&self) -> bool {
        is_running(&self.state)
    }
}

/// Every Mesos `TaskState` (mesos.proto), the only values `state` takes.
pub const TASK_STATES: &[&str] = &[
    "TASK_STAGING",
    "TASK_STARTING",
    "TASK_RUNNING",
    "TASK_KILLING",
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_ERROR",
    "TASK_LOST",
    "TASK_DROPPED",
    "TASK_UNREACHABLE",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
    "TASK_UNKNOWN",
];

/// Whether a Mesos task state is one of a live task (discovery prefers these).
pub fn is_running(state: &str) -> bool {
    matches!(
        state,
        "TASK_RUNNING" | "TASK_STARTING" | "TASK_STAGING" | "TASK_KILLING"
    )
}

/// One line of the discovery index.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct TaskSummary {
    /// The task id.
    pub id: String,
    /// The task's display name.
    pub name: String,
    /// The task's Mesos state, for discovery to prefer live tasks.
    pub state: String,
}

/// A sandbox file's listing entry.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct FileInfo {
    /// The file's name in the sandbox (`stdout`, `stderr`, ...), a valid path segment.
    pub name: String,
    /// Bytes appended so far.
    pub size: u64,
    /// Microseconds since the epoch of the last append.
    pub mtime: u64,
    /// Where the bytes still kept start (0 until retention expires some):
    /// a download is `size - retained` bytes.
    #[serde(skip)]
    pub retained: u64,
}

impl TaskSpec {
    /// Parses and validates a registration body for task `id`.
    pub fn parse(id: &str, body: &[u8]) -> Result<Self, Problem> {
        let spec: TaskSpec = serde_json::from_slice(body)
            .map_err(|e| Problem::bad_request(format!("invalid task metadata: {e}")))?;
        spec.checked(id)
    }

    /// This registration for task `id`, if every field is valid.
    pub fn checked(self, id: &str) -> Result<Self, Problem> {
        let spec = self;
        if let Some(body_id) = &spec.id
            && body_id != id
        {
            return Err(Problem::bad_param(
                "id",
                format!("body id {body_id:?} differs from the path's {id:?}"),
            ));
        }
        for (what, v) in [
            ("name", spec.name.as_str()),
            ("agent_id", &spec.agent_id),
            ("framework_id", &spec.framework_id),
            ("container_id", &spec.container_id),
        ] {
            validate_name(what, v)?;
        }
        if let Some(e) = &spec.executor_id {
            validate_name("executor_id", e)?;
        }
        for c in &spec.parent_container_ids {
            validate_name("parent_container_ids", c)?;
        }
        if !TASK_STATES.contains(&spec.state.as_str()) {
            return Err(Problem::bad_param(
                "state",
                format!(
                    "state {:?} is not a Mesos task state: one of {}",
                    spec.state,
                    TASK_STATES.join(", ")
                ),
            ));
        }
        for (k, v) in &spec.labels {
            if k.is_empty() || k.len() > 255 || v.len() > 4096 {
                return Err(Problem::bad_param(
                    "labels",
                    "label keys are 1-255 bytes and values at most 4096",
                ));
            }
        }
        Ok(spec)
    }
}

fn task_key(id: &str) -> String {
    format!("task/{}", digest(id.as_bytes()))
}

fn files_key(id: &str) -> String {
    format!("{}/files", task_key(id))
}

fn run_key(agent: &str, framework: &str, executor: &str, container: &str) -> String {
    let joined = [agent, framework, executor, container].join("\0");
    format!("run/{}", digest(joined.as_bytes()))
}

fn file_prefix(task_id: &str, name: &str) -> String {
    format!("file/{}", digest(format!("{task_id}\0{name}").as_bytes()))
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>, Problem> {
    serde_json::to_vec(v).map_err(Problem::internal)
}

fn parse<T: for<'de> Deserialize<'de>>(what: &str, bytes: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(bytes).map_err(|e| Problem::internal(format!("{what}: {e}")))
}

/// The task store, over one request's storage.
pub struct Sandboxes {
    store: Rc<Store>,
}

impl Sandboxes {
    /// The task store over `store`.
    pub fn new(store: Rc<Store>) -> Self {
        Self { store }
    }

    /// Task `id`'s stored record; `None` if it was never registered.
    pub fn task(&self, id: &str) -> Result<Option<Task>, Problem> {
        match self.store.meta.get(&task_key(id))? {
            None => Ok(None),
            Some(bytes) => parse("task", &bytes).map(Some),
        }
    }

    /// Creates or replaces task `id`; `true` if it was new.
    pub fn register(&self, id: &str, spec: TaskSpec, now: u64) -> Result<(Task, bool), Problem> {
        let (task, created) = update::<_, Problem>(
            self.store.meta.as_ref(),
            &task_key(id),
            None, // a later PUT simply wins
            UPDATE_ATTEMPTS,
            |cur| {
                let previous: Option<Task> = cur.map(|b| parse("task", b)).transpose()?;
                let task = Task {
                    id: id.to_owned(),
                    name: spec.name.clone(),
                    agent_id: spec.agent_id.clone(),
                    framework_id: spec.framework_id.clone(),
                    executor_id: spec.executor_id.clone(),
                    container_id: spec.container_id.clone(),
                    parent_container_ids: spec.parent_container_ids.clone(),
                    pod: spec.pod,
                    state: spec.state.clone(),
                    labels: spec.labels.clone(),
                    created: previous.as_ref().map_or(now, |p| p.created),
                    updated: now,
                };
                Ok(Update::Write(json(&task)?, (task, previous.is_none())))
            },
        )?;

        // Secondary indexes after the record: both are only hints that readers verify.
        let key = run_key(
            &task.agent_id,
            &task.framework_id,
            task.executor(),
            &task.container_id,
        );
        self.store.meta.set(&key, task.id.as_bytes())?;
        let summary = TaskSummary {
            id: task.id.clone(),
            name: task.name.clone(),
            state: task.state.clone(),
        };
        update::<_, Problem>(
            self.store.meta.as_ref(),
            INDEX_KEY,
            Some(b"[]"),
            UPDATE_ATTEMPTS,
            |cur| {
                let mut index: Vec<TaskSummary> = cur
                    .map(|b| parse("task index", b))
                    .transpose()?
                    .unwrap_or_default();
                match index.iter_mut().find(|s| s.id == summary.id) {
                    Some(s) if *s == summary => return Ok(Update::Keep(())),
                    Some(s) => *s = summary.clone(),
                    None => index.push(summary.clone()),
                }
                Ok(Update::Write(json(&index)?, ()))
            },
        )?;
        Ok((task, created))
    }

    /// All tasks' summaries (for discovery).
    pub fn index(&self) -> Result<Vec<TaskSummary>, Problem> {
        match self.store.meta.get(INDEX_KEY)? {
            None => Ok(Vec::new()),
            Some(bytes) => parse("task index", &bytes),
        }
    }

    /// Every task labelled `key=value` (a Scalingo app is `app=<name>`).
    /// Reads every task record: for routes about one app, not per line.
    pub fn labelled(&self, key: &str, value: &str) -> Result<Vec<Task>, Problem> {
        let mut out = Vec::new();
        for summary in self.index()? {
            if let Some(task) = self.task(&summary.id)?
                && task.labels.get(key).map(String::as_str) == Some(value)
            {
                out.push(task);
            }
        }
        Ok(out)
    }

    /// The task an agent route names, or `None` if the route's ids do not all
    /// belong to one task: an agent id that does not own the task finds nothing.
    pub fn task_for_route(
        &self,
        path: &crate::web::path::AgentPath,
    ) -> Result<Option<Task>, Problem> {
        let id = match &path.task_id {
            Some(id) => id.clone(),
            None => {
                let key = run_key(
                    &path.agent_id,
                    &path.framework_id,
                    &path.executor_id,
                    &path.container_id,
                );
                match self.store.meta.get(&key)? {
                    None => return Ok(None),
                    Some(bytes) => String::from_utf8(bytes).map_err(Problem::internal)?,
                }
            }
        };
        Ok(self.task(&id)?.filter(|t| {
            t.agent_id == path.agent_id
                && t.framework_id == path.framework_id
                && t.executor() == path.executor_id
                && t.container_id == path.container_id
                && t.pod == path.task_id.is_some()
        }))
    }

    /// [`Sandboxes::task_for_route`], with the 404 every agent route answers.
    pub fn task_at(&self, path: &crate::web::path::AgentPath) -> Result<Task, Problem> {
        self.task_for_route(path)?
            .ok_or_else(|| Problem::not_found("no task runs at this agent route"))
    }

    /// Task `task_id`'s file `name` as a log, to append to or read (it need not exist yet).
    pub fn file(&self, task_id: &str, name: &str) -> Log {
        Log::new(self.store.clone(), file_prefix(task_id, name))
    }

    /// Records that `task_id` has a file `name` (idempotent).
    pub fn add_file(&self, task_id: &str, name: &str) -> Result<(), Problem> {
        update::<_, Problem>(
            self.store.meta.as_ref(),
            &files_key(task_id),
            Some(b"[]"),
            UPDATE_ATTEMPTS,
            |cur| {
                let mut names: Vec<String> = cur
                    .map(|b| parse("file list", b))
                    .transpose()?
                    .unwrap_or_default();
                if names.iter().any(|n| n == name) {
                    return Ok(Update::Keep(()));
                }
                names.push(name.to_owned());
                Ok(Update::Write(json(&names)?, ()))
            },
        )
    }

    /// The task's files with their sizes, in the order they were created.
    pub fn files(&self, task_id: &str) -> Result<Vec<FileInfo>, Problem> {
        let names: Vec<String> = match self.store.meta.get(&files_key(task_id))? {
            None => return Ok(Vec::new()),
            Some(bytes) => parse("file list", &bytes)?,
        };
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let head = self.file(task_id, &name).head()?.unwrap_or_default();
            out.push(FileInfo {
                name,
                size: head.size,
                mtime: head.mtime,
                retained: head.retained.map_or(0, |r| r.offset),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::path::AgentPath;

    fn spec(body: &str) -> TaskSpec {
        TaskSpec::parse("t1", body.as_bytes()).unwrap()
    }

    const BODY: &str = r#"{"name":"web","agent_id":"A","framework_id":"F","container_id":"C"}"#;

    #[test]
    fn registers_and_finds_tasks_by_route() {
        let s = Sandboxes::new(Rc::new(Store::memory()));
        let (task, created) = s.register("t1", spec(BODY), 1).unwrap();
        assert!(created);
        assert_eq!(task.executor(), "t1");
        let (_, created) = s.register("t1", spec(BODY), 2).unwrap();
        assert!(!created);
        assert_eq!(s.task("t1").unwrap().unwrap().created, 1);
        let run = |agent: &str| AgentPath {
            agent_id: agent.into(),
            framework_id: "F".into(),
            executor_id: "t1".into(),
            container_id: "C".into(),
            task_id: None,
        };
        let path = run("A");
        assert_eq!(s.task_for_route(&path).unwrap().unwrap().id, "t1");
        let other_agent = run("B");
        assert!(s.task_for_route(&other_agent).unwrap().is_none());
        assert_eq!(s.index().unwrap().len(), 1);
    }

    #[test]
    fn rejects_bad_metadata() {
        for body in [
            "{",
            r#"{"name":"web"}"#,
            r#"{"name":"web","agent_id":"A","framework_id":"F","container_id":"C","extra":1}"#,
            r#"{"name":5,"agent_id":"A","framework_id":"F","container_id":"C"}"#,
            r#"{"name":"web","agent_id":"../x","framework_id":"F","container_id":"C"}"#,
            r#"{"name":"web","agent_id":"A","framework_id":"F","container_id":"C","state":"running"}"#,
            r#"{"id":"other","name":"web","agent_id":"A","framework_id":"F","container_id":"C"}"#,
        ] {
            assert!(TaskSpec::parse("t1", body.as_bytes()).is_err(), "{body}");
        }
    }
}
