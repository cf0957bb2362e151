//! A new job from its request, in steps: the request checked whole, its
//! window and expiration parsed, MongoDB's resource and log types mapped
//! onto tasks, labels and components, the labels resolved into tasks, and one
//! child per source, each source once.

use super::model::{Child, Job, JobRequest, LOG_TYPES, Origin, Status};
use super::{DEFAULT_TTL, check_expiration};
use crate::model::sandbox::Sandboxes;
use crate::store::Store;
use crate::util::ids::random_id;
use crate::web::path::validate_name;
use crate::web::problem::Problem;
use crate::web::time::parse_rfc3339_us;
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;

const MAX_TASKS: usize = 1000;
const MAX_COMPONENTS: usize = 100;

/// A job of `group` for `request`, checked whole before anything is stored,
/// its label selector resolved into task ids now.
pub(super) fn new_job(
    store: &Rc<Store>,
    group: &str,
    request: JobRequest,
    user_id: Option<String>,
    now: u64,
) -> Result<Job, Problem> {
    check_names(&request)?;
    let (since, until) = window(&request)?;
    check_file_cap(&request)?;
    let expiration_date = expiration(&request, now)?;
    let Sources {
        tasks,
        labels,
        components,
    } = Sources::named(&request)?;
    let tasks = select_tasks(store, tasks, &labels)?;
    let children = children(tasks, components)?;
    Ok(Job {
        id: random_id()?[..24].to_owned(),
        group_id: group.to_owned(),
        user_id,
        creation_date: now,
        expiration_date,
        finish_date: None,
        status: Status::InProgress,
        request,
        since,
        until,
        children,
        archive: Default::default(),
        lease: None,
        version: 0,
    })
}

/// Task and component names are names, not too many of them; label names
/// are not empty.
fn check_names(request: &JobRequest) -> Result<(), Problem> {
    for t in &request.tasks {
        validate_name("tasks", t)?;
    }
    for c in &request.components {
        validate_name("components", c)?;
    }
    if request.tasks.len() > MAX_TASKS || request.components.len() > MAX_COMPONENTS {
        return Err(Problem::bad_request(format!(
            "a job takes at most {MAX_TASKS} tasks and {MAX_COMPONENTS} components"
        )));
    }
    if request.labels.keys().any(|k| k.is_empty()) {
        return Err(Problem::bad_param("labels", "label names are not empty"));
    }
    Ok(())
}

/// `since` and `until` in microseconds, `since` first.
fn window(request: &JobRequest) -> Result<(Option<u64>, Option<u64>), Problem> {
    let parse = |field: &str, value: &Option<String>| {
        value
            .as_deref()
            .map(|s| parse_rfc3339_us(field, s))
            .transpose()
    };
    let since = parse("since", &request.since)?;
    let until = parse("until", &request.until)?;
    if let (Some(s), Some(u)) = (since, until)
        && s >= u
    {
        return Err(Problem::bad_param("until", "until must be after since"));
    }
    Ok((since, until))
}

fn check_file_cap(request: &JobRequest) -> Result<(), Problem> {
    if request.size_requested_per_file_bytes == Some(0) {
        return Err(Problem::bad_param(
            "sizeRequestedPerFileBytes",
            "a per-file size cap is at least 1 byte",
        ));
    }
    Ok(())
}

/// The date asked for, or the default.
fn expiration(request: &JobRequest, now: u64) -> Result<u64, Problem> {
    match request.expiration_date.as_deref() {
        None => Ok(now + DEFAULT_TTL),
        Some(s) => check_expiration(parse_rfc3339_us("expirationDate", s)?, now),
    }
}

/// What a request names, with MongoDB's resource and log types mapped onto
/// spin-logs' sources.
struct Sources {
    /// Task ids, exact.
    tasks: Vec<String>,
    /// Tasks whose labels include all of these.
    labels: BTreeMap<String, String>,
    /// Journal units.
    components: Vec<String>,
}

impl Sources {
    fn named(request: &JobRequest) -> Result<Self, Problem> {
        let types = log_types(request)?;
        let mut sources = Self {
            tasks: request.tasks.clone(),
            labels: request.labels.clone(),
            components: request.components.clone(),
        };
        if let Some(resource) = Resource::named(request)? {
            sources.add(resource, types);
        }
        Ok(sources)
    }

    /// A resource's processes, when its log types include MongoDB's own,
    /// and the journal units of the agents its log types name.
    fn add(&mut self, resource: Resource, types: &[String]) {
        let wants = |t: &str| types.is_empty() || types.iter().any(|x| x == t);
        if wants("MONGODB") {
            match resource {
                Resource::Process(task) => self.tasks.push(task.to_owned()),
                Resource::App(app) => {
                    self.labels.insert("app".into(), app.to_owned());
                }
            }
        }
        for (t, unit) in LOG_TYPES {
            if let Some(unit) = unit
                && types.iter().any(|x| x == t)
            {
                self.components.push(unit.to_owned());
            }
        }
    }
}

/// The request's log types, each one of MongoDB's.
fn log_types(request: &JobRequest) -> Result<&[String], Problem> {
    for t in &request.log_types {
        if !LOG_TYPES.iter().any(|(name, _)| name == t) {
            return Err(Problem::bad_param(
                "logTypes",
                format!(
                    "{t:?} is not a log type: MONGODB, FTDC, AUTOMATION_AGENT, MONITORING_AGENT or BACKUP_AGENT"
                ),
            ));
        }
    }
    Ok(&request.log_types)
}

/// MongoDB's resource: one process (a task) or a deployment (an app).
enum Resource<'a> {
    /// `PROCESS`: a task id.
    Process(&'a str),
    /// `REPLICASET` or `CLUSTER`: the tasks labelled `app=<name>`.
    App(&'a str),
}

impl<'a> Resource<'a> {
    fn named(request: &'a JobRequest) -> Result<Option<Self>, Problem> {
        let (kind, name) = match (
            request.resource_type.as_deref(),
            request.resource_name.as_deref(),
        ) {
            (None, None) => return Ok(None),
            (Some(kind), Some(name)) => (kind, name),
            (Some(_), None) | (None, Some(_)) => {
                return Err(Problem::bad_param(
                    "resourceName",
                    "resourceType and resourceName come together",
                ));
            }
        };
        validate_name("resourceName", name)?;
        match kind {
            "PROCESS" => Ok(Some(Self::Process(name))),
            "REPLICASET" | "CLUSTER" => Ok(Some(Self::App(name))),
            other => Err(Problem::bad_param(
                "resourceType",
                format!("{other:?} is not a resource type: PROCESS, REPLICASET or CLUSTER"),
            )),
        }
    }
}

/// The tasks named, then those the labels match, each once.
fn select_tasks(
    store: &Rc<Store>,
    mut tasks: Vec<String>,
    labels: &BTreeMap<String, String>,
) -> Result<Vec<String>, Problem> {
    if !labels.is_empty() {
        let sandboxes = Sandboxes::new(store.clone());
        for summary in sandboxes.index()? {
            if let Some(task) = sandboxes.task(&summary.id)?
                && labels.iter().all(|(k, v)| task.labels.get(k) == Some(v))
            {
                tasks.push(task.id);
            }
        }
    }
    let tasks = unique(tasks);
    if tasks.len() > MAX_TASKS {
        return Err(Problem::bad_request(format!(
            "the job selects {} tasks; at most {MAX_TASKS}",
            tasks.len()
        )));
    }
    Ok(tasks)
}

/// One child per task (resolved into its files by the first step) and one
/// per component, each component once; a job selects something.
fn children(tasks: Vec<String>, components: Vec<String>) -> Result<Vec<Child>, Problem> {
    let tasks = tasks
        .into_iter()
        .map(|task| Child::new(Origin::Task { task, file: None }));
    let components = unique(components)
        .into_iter()
        .map(|component| Child::new(Origin::Component { component }));
    let children: Vec<Child> = tasks.chain(components).collect();
    if children.is_empty() {
        return Err(Problem::bad_request(
            "the job selects nothing: give tasks, labels that match a task, or components",
        ));
    }
    Ok(children)
}

/// `names` without repeats, each where it first appears.
fn unique(mut names: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn components(job: &Job) -> Vec<&str> {
        job.children
            .iter()
            .filter_map(|c| match &c.source {
                Origin::Component { component } => Some(component.as_str()),
                Origin::Task { .. } => None,
            })
            .collect()
    }

    /// A component named twice, apart, is collected once (as a task is).
    #[test]
    fn a_component_named_twice_is_collected_once() {
        let store = Rc::new(Store::memory());
        let request = JobRequest {
            components: vec!["a".into(), "b".into(), "a".into()],
            ..Default::default()
        };
        let job = new_job(&store, "g", request, None, 1).unwrap();
        assert_eq!(components(&job), ["a", "b"]);
    }

    /// MongoDB's agent log types add their units once, after those named.
    #[test]
    fn an_agent_unit_named_and_implied_is_collected_once() {
        let store = Rc::new(Store::memory());
        let request = JobRequest {
            components: vec!["automation-agent".into(), "x".into()],
            resource_type: Some("PROCESS".into()),
            resource_name: Some("t1".into()),
            log_types: vec!["AUTOMATION_AGENT".into(), "BACKUP_AGENT".into()],
            ..Default::default()
        };
        let job = new_job(&store, "g", request, Some("u".into()), 1).unwrap();
        assert_eq!(components(&job), ["automation-agent", "x", "backup-agent"]);
        // No MONGODB log type: the process's own files are not asked for.
        assert_eq!(job.children.len(), 3);
        assert_eq!(job.user_id.as_deref(), Some("u"));
        assert_eq!(job.expiration_date, 1 + DEFAULT_TTL);
    }
}
