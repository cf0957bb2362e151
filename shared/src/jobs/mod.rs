//! Log collection jobs (`archive` component), after MongoDB's API: gather
//! chosen task files and component logs into one `.tar.gz` with a manifest,
//! kept for a while and downloaded in resumable ranges.
//!
//! ```text
//! POST      /api/v1/groups/{group}/logCollectionJobs               create (201)
//! GET       /api/v1/groups/{group}/logCollectionJobs               list (pageNum, itemsPerPage)
//! GET       /api/v1/groups/{group}/logCollectionJobs/{job}         one job
//! PATCH     /api/v1/groups/{group}/logCollectionJobs/{job}         {"expirationDate": ...}: extend
//! DELETE    /api/v1/groups/{group}/logCollectionJobs/{job}         remove the job and its archive
//! PUT       /api/v1/groups/{group}/logCollectionJobs/{job}/retry   collect failed files again
//! GET|HEAD  /api/v1/groups/{group}/logCollectionJobs/{job}/download
//! ```
//!
//! Driving without a scheduler: `POST`, `GET` of one job and `PUT .../retry`
//! each advance an `IN_PROGRESS` job by one step of at most `job_step_ms`
//! ([`collect`]), so a client that polls the job (as MongoDB's clients do)
//! is what moves it. Expiry is applied the same way, lazily: a job read after
//! its `expirationDate` is `MARKED_FOR_EXPIRY` while its archive is deleted,
//! then `EXPIRED`.

mod collect;
pub mod model;

use crate::env::Env;
use crate::model::sandbox::Sandboxes;
use crate::read::download::{Download, Ranged};
use crate::read::format::rfc3339;
use crate::store::kv::{Update, update};
use crate::util::clock::now_micros;
use crate::util::ids::random_id;
use crate::web::message::{Request, Response};
use crate::web::path::validate_name;
use crate::web::problem::Problem;
use crate::web::time::parse_rfc3339_us;
use http::{StatusCode, header};
use model::{Child, Job, JobRequest, Origin, Status, index_key, job_key};
use serde_json::{Value, json};
use std::rc::Rc;
use std::time::Duration;

pub use crate::routes::archive::JOBS_PREFIX as PREFIX;
const DAY: u64 = 24 * 3600 * 1_000_000;
/// How long a job is kept by default, and the furthest it may be extended.
const DEFAULT_TTL: u64 = 7 * DAY;
const MAX_TTL: u64 = 30 * DAY;
const MAX_TASKS: usize = 1000;
const MAX_COMPONENTS: usize = 100;

/// The jobs of one group: what each job route does.
pub struct Jobs<'a> {
    env: &'a Env,
    group: &'a str,
}

impl<'a> Jobs<'a> {
    pub fn new(env: &'a Env, group: &'a str) -> Self {
        Self { env, group }
    }
}

impl Jobs<'_> {
    fn base(&self) -> String {
        format!("{PREFIX}/{}/logCollectionJobs", self.group)
    }

    /// The download route of job `id`, which must exist (404 otherwise).
    pub fn download_path(&self, id: &str) -> Result<String, Problem> {
        self.load(id)?;
        Ok(format!("{}/{id}/download", self.base()))
    }

    fn key(&self, id: &str) -> String {
        job_key(self.group, id)
    }

    fn load(&self, id: &str) -> Result<Job, Problem> {
        let bytes = self.env.store.meta.get(&self.key(id))?.ok_or_else(|| {
            Problem::not_found(format!("no log collection job {id:?} in this group"))
        })?;
        Job::parse(&bytes)
    }

    /// Loads a job after applying what time has done to it: expiry, then one
    /// collection step if it is in progress and `advance` is set.
    fn fresh(&self, id: &str, advance: bool) -> Result<Job, Problem> {
        let job = self.load(id)?;
        if now_micros() >= job.expiration_date && job.status != Status::Expired {
            return self.expire(job);
        }
        if advance && job.status == Status::InProgress {
            let budget = Duration::from_millis(self.env.config.job_step_ms()?);
            match collect::advance(self.env, &self.key(id), budget) {
                Ok(()) => {}
                // The job was deleted or expired under the step: report what is there now.
                Err(p) if p.status == StatusCode::CONFLICT => {}
                Err(p) => return Err(p),
            }
            return self.load(id);
        }
        Ok(job)
    }

    pub fn create(&self, req: &Request) -> Result<Response, Problem> {
        let request: JobRequest = req.json("log collection job")?;
        let now = now_micros();
        let mut job = self.new_job(request, now)?;
        job.user_id = req
            .caller
            .as_deref()
            .and_then(|c| c.strip_prefix("user:"))
            .map(str::to_owned);
        let id = job.id.clone();
        self.env.store.meta.set(&self.key(&id), &job.to_bytes()?)?;
        update::<_, Problem>(
            self.env.store.meta.as_ref(),
            &index_key(self.group),
            Some(b"[]"),
            50,
            |cur| {
                let mut ids: Vec<String> = cur
                    .map(serde_json::from_slice)
                    .transpose()
                    .map_err(|e| Problem::internal(format!("job index: {e}")))?
                    .unwrap_or_default();
                ids.push(id.clone());
                Ok(Update::Write(
                    serde_json::to_vec(&ids).map_err(Problem::internal)?,
                    (),
                ))
            },
        )?;
        let job = self.fresh(&id, true)?;
        let location = format!("{}/{id}", self.base());
        Ok(Response::json(StatusCode::CREATED, &self.view(&job))
            .header(header::LOCATION, &location))
    }

    /// Validates a request whole and resolves its label selector into task ids.
    fn new_job(&self, request: JobRequest, now: u64) -> Result<Job, Problem> {
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
        let since = request
            .since
            .as_deref()
            .map(|s| parse_rfc3339_us("since", s))
            .transpose()?;
        let until = request
            .until
            .as_deref()
            .map(|s| parse_rfc3339_us("until", s))
            .transpose()?;
        if let (Some(s), Some(u)) = (since, until)
            && s >= u
        {
            return Err(Problem::bad_param("until", "until must be after since"));
        }
        if request.size_requested_per_file_bytes == Some(0) {
            return Err(Problem::bad_param(
                "sizeRequestedPerFileBytes",
                "a per-file size cap is at least 1 byte",
            ));
        }
        let expiration_date = match request.expiration_date.as_deref() {
            None => now + DEFAULT_TTL,
            Some(s) => check_expiration(parse_rfc3339_us("expirationDate", s)?, now)?,
        };

        // MongoDB's resource: one process (a task) or a deployment (an app).
        let mut tasks = request.tasks.clone();
        let mut components = request.components.clone();
        let mut labels = request.labels.clone();
        let types = &request.log_types;
        for t in types {
            if !model::LOG_TYPES.iter().any(|(name, _)| name == t) {
                return Err(Problem::bad_param(
                    "logTypes",
                    format!(
                        "{t:?} is not a log type: MONGODB, FTDC, AUTOMATION_AGENT, MONITORING_AGENT or BACKUP_AGENT"
                    ),
                ));
            }
        }
        let wants = |t: &str| types.is_empty() || types.iter().any(|x| x == t);
        match (
            request.resource_type.as_deref(),
            request.resource_name.as_deref(),
        ) {
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => {
                return Err(Problem::bad_param(
                    "resourceName",
                    "resourceType and resourceName come together",
                ));
            }
            (Some(kind), Some(name)) => {
                validate_name("resourceName", name)?;
                match kind {
                    "PROCESS" if wants("MONGODB") => tasks.push(name.to_owned()),
                    "REPLICASET" | "CLUSTER" if wants("MONGODB") => {
                        labels.insert("app".into(), name.to_owned());
                    }
                    "PROCESS" | "REPLICASET" | "CLUSTER" => {}
                    other => {
                        return Err(Problem::bad_param(
                            "resourceType",
                            format!(
                                "{other:?} is not a resource type: PROCESS, REPLICASET or CLUSTER"
                            ),
                        ));
                    }
                }
                for (t, unit) in model::LOG_TYPES {
                    if let Some(unit) = unit
                        && types.iter().any(|x| x == t)
                    {
                        components.push(unit.to_owned());
                    }
                }
            }
        }
        if !labels.is_empty() {
            let sandboxes = Sandboxes::new(self.env.store.clone());
            for summary in sandboxes.index()? {
                if let Some(task) = sandboxes.task(&summary.id)?
                    && labels.iter().all(|(k, v)| task.labels.get(k) == Some(v))
                {
                    tasks.push(task.id);
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        tasks.retain(|t| seen.insert(t.clone()));
        if tasks.len() > MAX_TASKS {
            return Err(Problem::bad_request(format!(
                "the job selects {} tasks; at most {MAX_TASKS}",
                tasks.len()
            )));
        }
        let mut children: Vec<Child> = tasks
            .into_iter()
            .map(|task| Child::new(Origin::Task { task, file: None }))
            .collect();
        components.dedup();
        children.extend(components.iter().map(|c| {
            Child::new(Origin::Component {
                component: c.clone(),
            })
        }));
        if children.is_empty() {
            return Err(Problem::bad_request(
                "the job selects nothing: give tasks, labels that match a task, or components",
            ));
        }
        Ok(Job {
            id: random_id()?[..24].to_owned(),
            group_id: self.group.to_owned(),
            user_id: None,
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

    pub fn list(&self, req: &Request) -> Result<Response, Problem> {
        let mut page = 1usize;
        let mut per_page = 100usize;
        for (k, v) in req.query.pairs() {
            let num = |name: &str, max: usize| {
                v.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .ok_or_else(|| {
                        Problem::bad_param(name, format!("{name} is a number from 1 to {max}"))
                    })
            };
            match k {
                "pageNum" => page = num("pageNum", 1_000_000)?,
                "itemsPerPage" => per_page = num("itemsPerPage", 500)?,
                _ => {}
            }
        }
        let ids: Vec<String> = match self.env.store.meta.get(&index_key(self.group))? {
            None => Vec::new(),
            Some(b) => serde_json::from_slice(&b)
                .map_err(|e| Problem::internal(format!("job index: {e}")))?,
        };
        let mut results = Vec::new();
        for id in ids.iter().rev().skip((page - 1) * per_page).take(per_page) {
            match self.fresh(id, false) {
                Ok(job) => results.push(self.view(&job)),
                Err(p) if p.status == StatusCode::NOT_FOUND => {} // deleted meanwhile
                Err(p) => return Err(p),
            }
        }
        Ok(Response::json(
            StatusCode::OK,
            &json!({
                "results": results,
                "totalCount": ids.len(),
                "links": [{"rel": "self", "href": format!("{}?pageNum={page}&itemsPerPage={per_page}", self.base())}],
            }),
        ))
    }

    pub fn get(&self, id: &str) -> Result<Response, Problem> {
        let job = self.fresh(id, true)?;
        Ok(Response::json(StatusCode::OK, &self.view(&job)))
    }

    /// `PATCH {"expirationDate": ...}`: later than the current date, at most 30 days ahead.
    pub fn extend(&self, id: &str, req: &Request) -> Result<Response, Problem> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        struct Patch {
            expiration_date: String,
        }
        let patch: Patch = req.json("patch")?;
        let now = now_micros();
        let wanted = check_expiration(
            parse_rfc3339_us("expirationDate", &patch.expiration_date)?,
            now,
        )?;
        self.fresh(id, false)?;
        let job = self.modify(id, |job| {
            if matches!(job.status, Status::MarkedForExpiry | Status::Expired) {
                return Err(gone(job));
            }
            if wanted < job.expiration_date {
                return Err(Problem::bad_param(
                    "expirationDate",
                    format!(
                        "an expiration date can only be extended (it is {})",
                        rfc3339(job.expiration_date)
                    ),
                ));
            }
            job.expiration_date = wanted;
            Ok(())
        })?;
        Ok(Response::json(StatusCode::OK, &self.view(&job)))
    }

    /// `PUT .../retry`: a job that failed in part collects its failed files
    /// again; the archive's closing part is dropped and rewritten after them.
    pub fn retry(&self, id: &str) -> Result<Response, Problem> {
        self.fresh(id, false)?;
        let mut dropped = None;
        self.modify(id, |job| {
            match job.status {
                Status::Failure => {}
                Status::MarkedForExpiry | Status::Expired => return Err(gone(job)),
                s => {
                    return Err(Problem::conflict(format!(
                        "only a FAILURE job can be retried; this one is {}",
                        status_name(s)
                    )));
                }
            }
            for c in job
                .children
                .iter_mut()
                .filter(|c| c.status == Status::Failure)
            {
                let path = std::mem::take(&mut c.path);
                *c = Child::new(c.source.clone());
                c.path = path;
            }
            dropped = job.archive.last.take().map(|p| p.key);
            job.status = Status::InProgress;
            job.finish_date = None;
            job.version += 1;
            Ok(())
        })?;
        if let Some(key) = dropped {
            self.env.store.blobs.delete(&key)?;
        }
        let job = self.fresh(id, true)?;
        Ok(Response::json(StatusCode::OK, &self.view(&job)))
    }

    pub fn delete(&self, id: &str) -> Result<Response, Problem> {
        let job = self.modify(id, |job| {
            job.status = Status::MarkedForExpiry;
            job.lease = None;
            Ok(())
        })?;
        self.delete_archive(&job)?;
        self.env.store.meta.delete(&self.key(id))?;
        update::<_, Problem>(
            self.env.store.meta.as_ref(),
            &index_key(self.group),
            None,
            50,
            |cur| {
                let Some(cur) = cur else {
                    return Ok(Update::Keep(()));
                };
                let mut ids: Vec<String> = serde_json::from_slice(cur)
                    .map_err(|e| Problem::internal(format!("job index: {e}")))?;
                ids.retain(|i| i != id);
                Ok(Update::Write(
                    serde_json::to_vec(&ids).map_err(Problem::internal)?,
                    (),
                ))
            },
        )?;
        Ok(Response::new(StatusCode::NO_CONTENT))
    }

    /// Deletes every blob the job may have: listed parts, and the unlisted
    /// ones a step in flight (or dead) may have written.
    fn delete_archive(&self, job: &Job) -> Result<(), Problem> {
        let mut keys = job.archive.keys();
        if let Some(lease) = &job.lease {
            keys.push(model::part_key(&job.id, job.archive.parts.len(), &lease.id));
            keys.push(model::last_key(&job.id, &lease.id));
        }
        for key in keys {
            self.env.store.blobs.delete(&key)?;
        }
        Ok(())
    }

    /// Past its date: marked, archive deleted, expired. Each stage is stored
    /// before the next, so an interrupted expiry resumes on the next read.
    fn expire(&self, job: Job) -> Result<Job, Problem> {
        let id = job.id.clone();
        let marked = if job.status == Status::MarkedForExpiry {
            job
        } else {
            self.modify(&id, |j| {
                j.status = Status::MarkedForExpiry;
                Ok(())
            })?
        };
        self.delete_archive(&marked)?;
        self.modify(&id, |j| {
            j.status = Status::Expired;
            j.lease = None;
            j.archive = Default::default();
            Ok(())
        })
    }

    /// Compare-and-swap edit of a job record.
    fn modify(
        &self,
        id: &str,
        mut f: impl FnMut(&mut Job) -> Result<(), Problem>,
    ) -> Result<Job, Problem> {
        update::<_, Problem>(
            self.env.store.meta.as_ref(),
            &self.key(id),
            None,
            50,
            |cur| {
                let cur = cur.ok_or_else(|| {
                    Problem::not_found(format!("no log collection job {id:?} in this group"))
                })?;
                let mut job = Job::parse(cur)?;
                f(&mut job)?;
                Ok(Update::Write(job.to_bytes()?, job))
            },
        )
    }

    pub fn download(&self, id: &str, req: &Request) -> Result<Response, Problem> {
        let job = self.fresh(id, false)?;
        match job.status {
            Status::InProgress | Status::New => {
                return Err(Problem::conflict(format!(
                    "job {id} is still IN_PROGRESS; poll GET {}/{id} until it is SUCCESS or FAILURE",
                    self.base()
                ))
                .with("retry_after", 1));
            }
            Status::MarkedForExpiry | Status::Expired => return Err(gone(&job)),
            Status::Success | Status::Failure if !job.downloadable() => {
                return Err(Problem::internal("a finished job without an archive"));
            }
            _ => {}
        }
        let size = job.archive.size();
        let etag = format!("\"{}-{}-{size:x}\"", job.id, job.version);
        let filename = format!("{id}.tar.gz");
        let download = Download {
            size,
            etag: &etag,
            content_type: "application/gzip",
            filename: &filename,
        };
        let (response, start, end) = match download.respond(req) {
            Ranged::Body(response, start, end) => (response, start, end),
            Ranged::Done(response) => return Ok(response),
        };
        // Parts overlapping start..end, each read as one range.
        let store = Rc::clone(&self.env.store);
        let mut pieces = Vec::new();
        let mut at = 0u64;
        for part in job.archive.parts.iter().chain(&job.archive.last) {
            let (a, b) = (at.max(start), (at + part.size).min(end));
            if a < b {
                pieces.push((part.key.clone(), a - at, b - at));
            }
            at += part.size;
        }
        let stream = pieces.into_iter().map(move |(key, a, b)| {
            store
                .blobs
                .get_range(&key, a, b)?
                .ok_or_else(|| Problem::internal(format!("archive part {key} is missing")))
        });
        Ok(response.stream(Box::new(stream)))
    }

    /// The job as MongoDB shapes it, plus our per-file detail.
    fn view(&self, job: &Job) -> Value {
        let r = &job.request;
        let children: Vec<Value> = job.children.iter().map(child_view).collect();
        let planned: u64 = job
            .children
            .iter()
            .filter_map(|c| c.plan.as_ref().and_then(|p| p.size))
            .sum();
        let mut v = json!({
            "id": job.id,
            "groupId": job.group_id,
            "status": status_name(job.status),
            "creationDate": rfc3339(job.creation_date),
            "expirationDate": rfc3339(job.expiration_date),
            "redacted": r.redacted,
            "sizeRequestedPerFileBytes": r.size_requested_per_file_bytes,
            "tasks": r.tasks,
            "labels": r.labels,
            "components": r.components,
            "since": r.since,
            "until": r.until,
            "uncompressedSizeTotalBytes": planned,
            "uncompressedDiskSpaceBytes": planned,
            "resourceType": r.resource_type,
            "resourceName": r.resource_name,
            "logTypes": r.log_types,
            "childJobs": children,
            "links": [{"rel": "self", "href": format!("{}/{}", self.base(), job.id)}],
        });
        if let Some(u) = &job.user_id {
            v["userId"] = json!(u);
        }
        if let Some(f) = job.finish_date {
            v["finishDate"] = json!(rfc3339(f));
        }
        if job.downloadable() {
            v["downloadUrl"] = json!(format!("{}/{}/download", self.base(), job.id));
            v["downloadSizeBytes"] = json!(job.archive.size());
        }
        v
    }
}

fn child_view(c: &Child) -> Value {
    let mut v = json!({
        "path": c.path,
        "status": status_name(c.status),
        "collectedBytes": c.done,
    });
    match &c.source {
        Origin::Task { task, file } => {
            v["task"] = json!(task);
            if let Some(f) = file {
                v["file"] = json!(f);
            }
        }
        Origin::Component { component } => v["component"] = json!(component),
    }
    if let Some(p) = &c.plan {
        if let Some(size) = p.size {
            v["uncompressedDiskSpaceBytes"] = json!(size);
        }
        v["truncated"] = json!(p.truncated);
    }
    if let Some(e) = &c.error {
        v["errorMessage"] = json!(e);
    }
    if let Some(h) = &c.sha256 {
        v["sha256"] = json!(h);
    }
    if let Some(t) = c.started {
        v["startDate"] = json!(rfc3339(t));
    }
    if let Some(t) = c.finished {
        v["finishDate"] = json!(rfc3339(t));
    }
    v
}

/// `MANIFEST.json`: what the archive holds and what it could not collect.
pub(crate) fn manifest(job: &Job, now: u64) -> Value {
    let source = |c: &Child| match &c.source {
        Origin::Task { task, file } => json!({"task": task, "file": file}),
        Origin::Component { component } => json!({"component": component}),
    };
    let files: Vec<Value> = job
        .children
        .iter()
        .filter(|c| c.status == Status::Success)
        .map(|c| {
            let p = c.plan.as_ref();
            json!({
                "path": c.path,
                "source": source(c),
                "size": c.done,
                "sha256": c.sha256,
                "truncated": p.is_some_and(|p| p.truncated),
                "range": p.map(|p| json!({"from": p.from, "to": p.to})),
            })
        })
        .collect();
    let missing: Vec<Value> = job
        .children
        .iter()
        .filter(|c| c.status != Status::Success)
        .map(|c| json!({"path": c.path, "source": source(c), "error": c.error}))
        .collect();
    json!({
        "job": job.id,
        "groupId": job.group_id,
        "creationDate": rfc3339(job.creation_date),
        "finishDate": rfc3339(now),
        "redacted": job.request.redacted,
        "sizeRequestedPerFileBytes": job.request.size_requested_per_file_bytes,
        "since": job.request.since,
        "until": job.request.until,
        "files": files,
        "missing": missing,
    })
}

fn status_name(s: Status) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn gone(job: &Job) -> Problem {
    Problem::new(
        StatusCode::GONE,
        "Gone",
        format!(
            "job {} expired on {}; its archive is deleted",
            job.id,
            rfc3339(job.expiration_date)
        ),
    )
}

fn check_expiration(at: u64, now: u64) -> Result<u64, Problem> {
    if at <= now {
        return Err(Problem::bad_param(
            "expirationDate",
            "expirationDate is in the past",
        ));
    }
    if at > now + MAX_TTL {
        return Err(Problem::bad_param(
            "expirationDate",
            "a job is kept at most 30 days from now",
        ));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;
    use std::collections::BTreeMap;
    use std::io::Read;

    const JOBS: &str = "/api/public/v1.0/groups/5f0c8a2be4b0a1d2c3e4f5a6/logCollectionJobs";

    fn env(step_ms: u64) -> Env {
        let env = Env {
            config: crate::config::Config::with(&[("job_step_ms", &(step_ms).to_string())]),
            ..Env::memory()
        };
        let task = |id: &str| {
            format!(
                r#"{{"name":"{id}","agent_id":"A","framework_id":"F","container_id":"C-{id}","labels":{{"app":"shop"}}}}"#
            )
        };
        ingest(&env, Method::PUT, "/tasks/t1", task("t1").as_bytes());
        ingest(&env, Method::PUT, "/tasks/t2", task("t2").as_bytes());
        let lines: String = (0..2000)
            .map(|i| format!("line {i:05} user bob@example.com from 10.0.0.{}\n", i % 250))
            .collect();
        ingest(
            &env,
            Method::POST,
            "/tasks/t1/files/stdout",
            lines.as_bytes(),
        );
        ingest(&env, Method::POST, "/tasks/t1/files/stderr", b"oops\n");
        ingest(
            &env,
            Method::POST,
            "/tasks/t2/files/stdout",
            b"t2 says hi\n",
        );
        let entries: String = (0..50)
            .map(|i| {
                format!(
                    "{{\"MESSAGE\":\"m{i}\",\"UNIT\":\"{}\",\"__REALTIME_TIMESTAMP\":\"{}\"}}\n",
                    ["a", "b"][i % 2],
                    1_500_000_000_000_000u64 + i as u64
                )
            })
            .collect();
        ingest(&env, Method::POST, "/component", entries.as_bytes());
        env
    }

    fn ingest(env: &Env, method: Method, path: &str, body: &[u8]) {
        let req =
            Request::new(method, &format!("{}{path}", crate::api::ingest::PREFIX)).with_body(body);
        let r = crate::api::ingest::API.call(req, env);
        assert!(r.status.is_success(), "{path}: {:?}", r.into_bytes());
    }

    fn call(env: &Env, method: Method, path: &str, body: &str) -> (StatusCode, Vec<u8>) {
        let req = Request::new(method, path)
            .with_header("content-type", "application/json")
            .with_body(body);
        let r = crate::api::archive::API.call(req, env);
        let status = r.status;
        (status, r.into_bytes().unwrap())
    }

    fn json_of(b: &[u8]) -> Value {
        serde_json::from_slice(b).unwrap()
    }

    /// Polls the job until it leaves IN_PROGRESS; returns it and the poll count.
    fn finish(env: &Env, id: &str) -> (Value, usize) {
        for n in 1..10_000 {
            let (s, b) = call(env, Method::GET, &format!("{JOBS}/{id}"), "");
            assert_eq!(s, StatusCode::OK);
            let v = json_of(&b);
            if v["status"] != "IN_PROGRESS" {
                return (v, n);
            }
        }
        panic!("job never finished");
    }

    fn unpack(gz: &[u8]) -> BTreeMap<String, Vec<u8>> {
        let mut a = tar::Archive::new(flate2::read::GzDecoder::new(gz));
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let p = e.path().unwrap().to_string_lossy().into_owned();
                let mut d = Vec::new();
                e.read_to_end(&mut d).unwrap();
                (p, d)
            })
            .collect()
    }

    #[test]
    fn collects_in_small_steps_into_one_valid_archive() {
        for step_ms in [0, 10_000] {
            let env = env(step_ms);
            let (s, b) = call(
                &env,
                Method::POST,
                JOBS,
                r#"{"labels":{"app":"shop"},"components":["a"],"redacted":true,"sizeRequestedPerFileBytes":20000}"#,
            );
            assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
            let id = json_of(&b)["id"].as_str().unwrap().to_owned();
            let (job, polls) = finish(&env, &id);
            assert_eq!(job["status"], "SUCCESS", "{job:#}");
            if step_ms == 0 {
                assert!(polls > 3, "{polls}");
            }
            let (s, gz) = call(&env, Method::GET, &format!("{JOBS}/{id}/download"), "");
            assert_eq!(s, StatusCode::OK);
            let files = unpack(&gz);
            let names: Vec<&str> = files.keys().map(String::as_str).collect();
            assert_eq!(
                names,
                [
                    "A/t1/stderr",
                    "A/t1/stdout",
                    "A/t2/stdout",
                    "MANIFEST.json",
                    "journal/a/journal.log"
                ]
            );
            let stdout = String::from_utf8(files["A/t1/stdout"].clone()).unwrap();
            assert!(
                stdout.len() <= 20000 && stdout.len() > 19000,
                "{}",
                stdout.len()
            );
            assert!(
                stdout.ends_with("line 01999 user *************** from **********\n"),
                "{}",
                &stdout[stdout.len() - 100..]
            );
            assert!(!stdout.contains("example.com") && !stdout.contains("10.0.0."));
            let journal = String::from_utf8(files["journal/a/journal.log"].clone()).unwrap();
            assert_eq!(journal.lines().count(), 25);
            assert!(journal.lines().all(|l| l.contains(": m")), "{journal}");
            let manifest = json_of(&files["MANIFEST.json"]);
            assert_eq!(manifest["files"].as_array().unwrap().len(), 4);
            for f in manifest["files"].as_array().unwrap() {
                let data = &files[f["path"].as_str().unwrap()];
                assert_eq!(f["size"], data.len());
                use sha2::Digest;
                assert_eq!(f["sha256"], format!("{:x}", sha2::Sha256::digest(data)));
            }
            let stdout = manifest["files"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["path"] == "A/t1/stdout")
                .unwrap();
            assert_eq!(stdout["truncated"], true);
        }
    }

    #[test]
    fn a_failed_part_is_listed_and_retried() {
        let env = env(10_000);
        let (s, b) = call(&env, Method::POST, JOBS, r#"{"tasks":["t2","t9"]}"#);
        assert_eq!(s, StatusCode::CREATED);
        let id = json_of(&b)["id"].as_str().unwrap().to_owned();
        let (job, _) = finish(&env, &id);
        assert_eq!(job["status"], "FAILURE", "{job:#}");
        let (_, gz) = call(&env, Method::GET, &format!("{JOBS}/{id}/download"), "");
        let files = unpack(&gz);
        assert_eq!(files["A/t2/stdout"], b"t2 says hi\n");
        let manifest = json_of(&files["MANIFEST.json"]);
        assert_eq!(manifest["missing"][0]["source"]["task"], "t9");
        // Retrying before the task exists fails again; after, it succeeds.
        ingest(
            &env,
            Method::PUT,
            "/tasks/t9",
            br#"{"name":"t9","agent_id":"B","framework_id":"F","container_id":"C9"}"#,
        );
        ingest(&env, Method::POST, "/tasks/t9/files/stdout", b"late\n");
        let (s, _) = call(&env, Method::PUT, &format!("{JOBS}/{id}/retry"), "");
        assert_eq!(s, StatusCode::OK);
        let (job, _) = finish(&env, &id);
        assert_eq!(job["status"], "SUCCESS", "{job:#}");
        let (_, gz) = call(&env, Method::GET, &format!("{JOBS}/{id}/download"), "");
        let files = unpack(&gz);
        assert_eq!(files["B/t9/stdout"], b"late\n");
        assert_eq!(files["A/t2/stdout"], b"t2 says hi\n");
        let (s, _) = call(&env, Method::PUT, &format!("{JOBS}/{id}/retry"), "");
        assert_eq!(s, StatusCode::CONFLICT);
    }

    #[test]
    fn rejects_bad_jobs_before_storing_anything() {
        let env = env(10_000);
        for body in [
            "{}",
            r#"{"tasks":["../x"]}"#,
            r#"{"tasks":["t1"],"since":"yesterday"}"#,
            r#"{"tasks":["t1"],"since":"2026-01-02T00:00:00Z","until":"2026-01-01T00:00:00Z"}"#,
            r#"{"tasks":["t1"],"sizeRequestedPerFileBytes":0}"#,
            r#"{"tasks":["t1"],"expirationDate":"2001-01-01T00:00:00Z"}"#,
            r#"{"tasks":["t1"],"bogus":1}"#,
            r#"{"labels":{"app":"nothing"}}"#,
            r#"{"resourceType":"CLUSTER"}"#,
            r#"{"resourceType":"SHARD","resourceName":"shop"}"#,
            r#"{"resourceType":"CLUSTER","resourceName":"shop","logTypes":["SLOWLOG"]}"#,
            r#"{"resourceType":"CLUSTER","resourceName":"nowhere"}"#,
            "not json",
        ] {
            let (s, b) = call(&env, Method::POST, JOBS, body);
            assert_eq!(
                s,
                StatusCode::BAD_REQUEST,
                "{body}: {}",
                String::from_utf8_lossy(&b)
            );
        }
        let (_, b) = call(&env, Method::GET, JOBS, "");
        assert_eq!(json_of(&b)["totalCount"], 0);
    }

    #[test]
    fn mongodbs_own_body_maps_onto_tasks_and_agent_units() {
        let env = env(10_000);
        let body = r#"{"resourceType":"CLUSTER","resourceName":"shop","redacted":true,
            "logTypes":["MONGODB","AUTOMATION_AGENT","FTDC"],"sizeRequestedPerFileBytes":100000}"#;
        let (s, b) = call(&env, Method::POST, JOBS, body);
        assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
        let v = json_of(&b);
        for field in [
            "id",
            "groupId",
            "creationDate",
            "expirationDate",
            "status",
            "resourceType",
            "resourceName",
            "redacted",
            "logTypes",
            "sizeRequestedPerFileBytes",
            "uncompressedDiskSpaceBytes",
            "childJobs",
        ] {
            assert!(!v[field].is_null(), "{field} missing: {v}");
        }
        assert_eq!(v["resourceType"], "CLUSTER");
        assert_eq!(
            v["logTypes"],
            json!(["MONGODB", "AUTOMATION_AGENT", "FTDC"])
        );
        let (done, _) = finish(&env, v["id"].as_str().unwrap());
        let paths: Vec<String> = done["childJobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["path"].as_str().unwrap().to_owned())
            .collect();
        assert!(paths.iter().any(|p| p == "A/t1/stdout"), "{paths:?}");
        assert!(paths.iter().any(|p| p == "A/t2/stdout"), "{paths:?}");
        assert!(
            paths.iter().any(|p| p.contains("automation-agent")),
            "{paths:?}"
        );
        assert!(done["downloadUrl"].is_string());
        // One process: a task id.
        let (s, b) = call(
            &env,
            Method::POST,
            JOBS,
            r#"{"resourceType":"PROCESS","resourceName":"t2"}"#,
        );
        assert_eq!(s, StatusCode::CREATED);
        assert_eq!(json_of(&b)["childJobs"].as_array().unwrap().len(), 1);
    }
}
