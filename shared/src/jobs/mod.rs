//! Log collection jobs, after MongoDB's API: gather chosen task files and
//! component logs into one `.tar.gz` with a manifest, kept for a while and
//! downloaded in resumable ranges. The routes are [`crate::api::jobs`]; this
//! module takes what they parsed (a [`JobRequest`], ids, the caller, times)
//! and answers with jobs, pages of jobs and archives to stream, or problems.
//!
//! Driving without a scheduler: creating a job, reading one job and retrying
//! one each advance an `IN_PROGRESS` job by one step of at most `job_step_ms`
//! (`collect`), so a client that polls the job (as MongoDB's clients do)
//! is what moves it. Expiry is applied the same way, lazily: a job read after
//! its `expirationDate` is `MARKED_FOR_EXPIRY` while its archive is deleted,
//! then `EXPIRED`.

mod collect;
pub mod model;
mod select;

use crate::env::Env;
use crate::read::format::rfc3339;
use crate::store::Store;
use crate::store::kv::{Update, update};
use crate::util::clock::now_micros;
use crate::web::problem::Problem;
use http::StatusCode;
use model::{Child, Job, JobRequest, Origin, Part, Status, index_key, job_key};
use serde_json::{Value, json};
use std::rc::Rc;
use std::time::Duration;

const DAY: u64 = 24 * 3600 * 1_000_000;
/// How long a job is kept by default, and the furthest it may be extended.
const DEFAULT_TTL: u64 = 7 * DAY;
const MAX_TTL: u64 = 30 * DAY;

/// The jobs of one group: what each job route does.
pub struct Jobs<'a> {
    env: &'a Env,
    group: &'a str,
}

/// One page of a group's jobs, newest first.
pub struct Page {
    /// This page's jobs.
    pub jobs: Vec<Job>,
    /// The group's jobs, all pages.
    pub total: usize,
}

/// A finished job's archive, to download whole or in ranges.
pub struct JobArchive {
    /// The job's id.
    pub id: String,
    /// Bumped by each retry, which rewrites the archive's end.
    pub version: u32,
    /// Bytes.
    pub size: u64,
    parts: Vec<Part>,
    store: Rc<Store>,
}

impl JobArchive {
    /// Bytes `start..end` of the archive: one ranged read per part they overlap.
    pub fn read(self, start: u64, end: u64) -> impl Iterator<Item = Result<Vec<u8>, Problem>> {
        let mut pieces = Vec::new();
        let mut at = 0u64;
        for part in self.parts {
            let (a, b) = (at.max(start), (at + part.size).min(end));
            if a < b {
                pieces.push((part.key, a - at, b - at));
            }
            at += part.size;
        }
        let store = self.store;
        pieces.into_iter().map(move |(key, a, b)| {
            store
                .blobs
                .get_range(&key, a, b)?
                .ok_or_else(|| Problem::internal(format!("archive part {key} is missing")))
        })
    }
}

impl<'a> Jobs<'a> {
    /// The jobs of `group`, with `env`'s stores and settings.
    pub fn new(env: &'a Env, group: &'a str) -> Self {
        Self { env, group }
    }
}

impl Jobs<'_> {
    fn key(&self, id: &str) -> String {
        job_key(self.group, id)
    }

    /// Job `id` as stored, time not applied (404 if there is none).
    pub fn find(&self, id: &str) -> Result<Job, Problem> {
        let bytes = self.env.store.meta.get(&self.key(id))?.ok_or_else(|| {
            Problem::not_found(format!("no log collection job {id:?} in this group"))
        })?;
        Job::parse(&bytes)
    }

    /// Loads a job after applying what time has done to it: expiry, then one
    /// collection step if it is in progress and `advance` is set.
    fn fresh(&self, id: &str, advance: bool) -> Result<Job, Problem> {
        let job = self.find(id)?;
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
            return self.find(id);
        }
        Ok(job)
    }

    /// Stores a job for `request` by `user_id` and takes its first step.
    pub fn create(
        &self,
        request: JobRequest,
        user_id: Option<String>,
        now: u64,
    ) -> Result<Job, Problem> {
        let job = select::new_job(&self.env.store, self.group, request, user_id, now)?;
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
        self.fresh(&id, true)
    }

    /// Page `page` (from 1) of `per_page` jobs, newest first; expiry applied.
    pub fn list(&self, page: usize, per_page: usize) -> Result<Page, Problem> {
        let ids: Vec<String> = match self.env.store.meta.get(&index_key(self.group))? {
            None => Vec::new(),
            Some(b) => serde_json::from_slice(&b)
                .map_err(|e| Problem::internal(format!("job index: {e}")))?,
        };
        let skip = page.saturating_sub(1) * per_page;
        let mut jobs = Vec::new();
        for id in ids.iter().rev().skip(skip).take(per_page) {
            match self.fresh(id, false) {
                Ok(job) => jobs.push(job),
                Err(p) if p.status == StatusCode::NOT_FOUND => {} // deleted meanwhile
                Err(p) => return Err(p),
            }
        }
        Ok(Page {
            jobs,
            total: ids.len(),
        })
    }

    /// One job, advanced by a step if it is in progress.
    pub fn get(&self, id: &str) -> Result<Job, Problem> {
        self.fresh(id, true)
    }

    /// Moves the expiration date to `wanted`: later than the current date,
    /// at most 30 days after `now`.
    pub fn extend(&self, id: &str, wanted: u64, now: u64) -> Result<Job, Problem> {
        let wanted = check_expiration(wanted, now)?;
        self.fresh(id, false)?;
        self.modify(id, |job| {
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
        })
    }

    /// A job that failed in part collects its failed files again; the
    /// archive's closing part is dropped and rewritten after them.
    pub fn retry(&self, id: &str) -> Result<Job, Problem> {
        self.fresh(id, false)?;
        let mut dropped = None;
        self.modify(id, |job| {
            match job.status {
                Status::Failure => {}
                Status::MarkedForExpiry | Status::Expired => return Err(gone(job)),
                s => {
                    return Err(Problem::conflict(format!(
                        "only a FAILURE job can be retried; this one is {}",
                        s.name()
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
        self.fresh(id, true)
    }

    /// Removes the job, its archive and its place in the index.
    pub fn delete(&self, id: &str) -> Result<(), Problem> {
        // The lease stays in the record until the record goes: the parts a
        // step holding it may have written are deleted with the rest (no
        // later step would, once the record is gone).
        let job = self.modify(id, |job| {
            job.status = Status::MarkedForExpiry;
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
        Ok(())
    }

    /// The archive of a finished job; `None` while the job is still collecting.
    pub fn archive(&self, id: &str) -> Result<Option<JobArchive>, Problem> {
        let job = self.fresh(id, false)?;
        match job.status {
            Status::InProgress | Status::New => return Ok(None),
            Status::MarkedForExpiry | Status::Expired => return Err(gone(&job)),
            Status::Success | Status::Failure if !job.downloadable() => {
                return Err(Problem::internal("a finished job without an archive"));
            }
            _ => {}
        }
        Ok(Some(JobArchive {
            size: job.archive.size(),
            parts: job
                .archive
                .parts
                .into_iter()
                .chain(job.archive.last)
                .collect(),
            id: job.id,
            version: job.version,
            store: Rc::clone(&self.env.store),
        }))
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

/// An expiration date is ahead of `now`, by 30 days at most.
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
