//! Archive runs: one policy applied to every log it covers, in bounded steps.
//!
//! A host has no scheduler and ends long requests, so a run is a record that
//! each `POST /archive/start` advances by at most `job_step_ms` (a cron, a
//! Kubernetes `CronJob` or a person can send it). A step takes the run's lease
//! (compare-and-swap on the record), works log by log and page by page, and
//! checkpoints the record after every page, so a step that dies loses at most
//! one page's work: that page's object is written but not listed, and the
//! page itself is rewritten only by the compare-and-swap that lists it.
//!
//! Per log, a step first expires pages older than `delete_after`, then packs
//! sealed pages older than `archive_after` into archive objects (see
//! `store::log::pack`). What a rewrite or an expiry leaves unreferenced is
//! deleted by a later step, `archive_grace_ms` on, when no request that could
//! still hold the old index is alive; until then the run is `DRAINING`.

use super::catalog::{self, Entry};
use super::policy::Policy;
use crate::env::Env;
use crate::model::journal;
use crate::model::sandbox::Sandboxes;
use crate::store::kv::{Update, update};
use crate::store::log::Log;
use crate::util::clock::now_micros;
use crate::util::ids::random_id;
use crate::web::problem::Problem;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const INDEX: &str = "archive/runs";
/// Runs listed by `/archive/jobs`; older records are deleted.
const KEEP_RUNS: usize = 200;
/// Logs one run covers.
pub const MAX_TARGETS: usize = 10_000;
const SECOND: u64 = 1_000_000;

/// Meta key of run `id`'s record.
pub fn run_key(id: &str) -> String {
    format!("archive/run/{id}")
}

/// Where an archive run is, as stored and returned.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Logs left to visit.
    Running,
    /// Every log visited; replaced blobs wait out the grace period.
    Draining,
    /// Nothing left to do: every log visited and every replaced blob deleted.
    Done,
}

/// One log a run visits.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Target {
    /// The log's key prefix (see `store::log`).
    pub log: String,
    /// `task` or `journal`, copied into the catalog.
    pub source: String,
    /// The task whose file the log is, for `task`.
    pub task_id: Option<String>,
    /// The file's name in the task's sandbox, for `task`.
    pub file: Option<String>,
    /// The task's labels, copied into the catalog.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// What a run has done so far, summed over its steps.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Logs visited to the end.
    pub logs_visited: u64,
    /// Pages packed into archive objects.
    pub pages_archived: u64,
    /// Uncompressed bytes of those pages.
    pub bytes_archived: u64,
    /// Bytes of the archive objects written, as stored.
    pub stored_bytes: u64,
    /// Pages expired by `delete_after`.
    pub pages_expired: u64,
    /// Bytes of those pages.
    pub bytes_expired: u64,
    /// Replaced or expired blobs deleted after the grace period.
    pub blobs_deleted: u64,
    /// Microseconds spent working, over all steps.
    pub busy_us: u64,
}

/// A blob no index lists any more, and when it may go.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Garbage {
    /// The blob's key.
    pub key: String,
    /// When it may be deleted, µs since the epoch: no request that could still
    /// read it is alive by then.
    pub due: u64,
}

/// The right to advance a run, held by one step at a time.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Lease {
    /// The holding step: random hex, fresh per step.
    pub id: String,
    /// When the hold lapses, µs since the epoch; another step may then take it.
    pub until: u64,
}

/// One run of a policy over the logs it covers: its progress, stats and the
/// blobs waiting to be deleted. Stored at [`run_key`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Run {
    /// Random hex, made at creation.
    pub id: String,
    /// The policy as it was when the run started: an edit applies to the next run.
    pub policy: Policy,
    /// Where it is: running, draining, done.
    pub status: Status,
    /// When it was created, µs since the epoch.
    pub created: u64,
    /// When a step last checkpointed it, µs since the epoch.
    pub updated: u64,
    /// When it became `Done`, µs since the epoch.
    pub finished: Option<u64>,
    /// The logs it covers, fixed when it is created (at most [`MAX_TARGETS`]).
    pub targets: Vec<Target>,
    /// Index of the log being visited, and the next page of it.
    pub next: usize,
    /// The page of log `next` to visit next.
    pub page: usize,
    /// What it has done so far.
    pub stats: Stats,
    /// Blobs no index lists any more, each deleted once due.
    pub garbage: Vec<Garbage>,
    /// The step advancing it, if one is.
    pub lease: Option<Lease>,
    /// Logs that could not be visited, and why (the run goes on without them).
    #[serde(default)]
    pub errors: Vec<String>,
}

impl Run {
    fn parse(bytes: &[u8]) -> Result<Run, Problem> {
        serde_json::from_slice(bytes).map_err(|e| Problem::internal(format!("archive run: {e}")))
    }

    fn to_bytes(&self) -> Result<Vec<u8>, Problem> {
        serde_json::to_vec(self).map_err(Problem::internal)
    }
}

/// Run `id` as stored; `None` if there is none (or it was dropped from the list).
pub fn load(env: &Env, id: &str) -> Result<Option<Run>, Problem> {
    env.store
        .meta
        .get(&run_key(id))?
        .map(|b| Run::parse(&b))
        .transpose()
}

/// Every listed run, newest first.
pub fn list(env: &Env) -> Result<Vec<Run>, Problem> {
    let ids: Vec<String> = match env.store.meta.get(INDEX)? {
        None => return Ok(Vec::new()),
        Some(b) => serde_json::from_slice(&b)
            .map_err(|e| Problem::internal(format!("archive runs: {e}")))?,
    };
    let keys: Vec<String> = ids.iter().rev().map(|id| run_key(id)).collect();
    let mut out = Vec::new();
    for batch in keys.chunks(32) {
        for bytes in env.store.meta.get_many(batch)?.into_iter().flatten() {
            out.push(Run::parse(&bytes)?);
        }
    }
    Ok(out)
}

/// The logs `policy` covers now.
fn targets(env: &Env, policy: &Policy) -> Result<Vec<Target>, Problem> {
    let mut out = Vec::new();
    if policy.selector.journal {
        out.push(Target {
            log: journal::log(env.store.clone()).prefix().to_owned(),
            source: "journal".into(),
            task_id: None,
            file: None,
            labels: BTreeMap::new(),
        });
    }
    if policy.selector.tasks {
        let sandboxes = Sandboxes::new(env.store.clone());
        for summary in sandboxes.index()? {
            let Some(task) = sandboxes.task(&summary.id)? else {
                continue;
            };
            if !policy.selector.matches(&task) {
                continue;
            }
            for f in sandboxes.files(&task.id)? {
                out.push(Target {
                    log: sandboxes.file(&task.id, &f.name).prefix().to_owned(),
                    source: "task".into(),
                    task_id: Some(task.id.clone()),
                    file: Some(f.name),
                    labels: task.labels.clone(),
                });
            }
            if out.len() > MAX_TARGETS {
                return Err(Problem::bad_request(format!(
                    "the policy covers more than {MAX_TARGETS} logs: narrow its selector"
                )));
            }
        }
    }
    Ok(out)
}

/// Starts a run of `policy`: records it, lists it, and returns it (not yet advanced).
pub fn create(env: &Env, policy: Policy) -> Result<Run, Problem> {
    let now = now_micros();
    let run = Run {
        id: random_id()?,
        targets: targets(env, &policy)?,
        policy,
        status: Status::Running,
        created: now,
        updated: now,
        finished: None,
        next: 0,
        page: 0,
        stats: Stats::default(),
        garbage: Vec::new(),
        lease: None,
        errors: Vec::new(),
    };
    env.store.meta.set(&run_key(&run.id), &run.to_bytes()?)?;
    let dropped = update::<_, Problem>(env.store.meta.as_ref(), INDEX, Some(b"[]"), 50, |cur| {
        let mut ids: Vec<String> = cur
            .map(serde_json::from_slice)
            .transpose()
            .map_err(|e| Problem::internal(format!("archive runs: {e}")))?
            .unwrap_or_default();
        if ids.contains(&run.id) {
            return Ok(Update::Keep(Vec::new()));
        }
        ids.push(run.id.clone());
        let excess = ids.len().saturating_sub(KEEP_RUNS);
        let dropped: Vec<String> = ids.drain(..excess).collect();
        Ok(Update::Write(
            serde_json::to_vec(&ids).map_err(Problem::internal)?,
            dropped,
        ))
    })?;
    for old in dropped {
        env.store.meta.delete(&run_key(&old))?;
    }
    Ok(run)
}

/// Advances run `id` by one step unless it is done or another step holds
/// it; returns the run as it stands afterwards.
pub fn advance(env: &Env, id: &str, budget: Duration) -> Result<Run, Problem> {
    let lease_id = random_id()?;
    let key = run_key(id);
    let started = Instant::now();
    let hold = budget.as_micros() as u64 + 5 * SECOND;
    let taken = update::<_, Problem>(env.store.meta.as_ref(), &key, None, 20, |cur| {
        let Some(bytes) = cur else {
            return Err(Problem::not_found(format!("no archive run {id:?}")));
        };
        let mut run = Run::parse(bytes)?;
        let now = now_micros();
        let busy = run
            .lease
            .as_ref()
            .is_some_and(|l| l.until > now && l.id != lease_id);
        if run.status == Status::Done || busy {
            return Ok(Update::Keep((run, false)));
        }
        run.lease = Some(Lease {
            id: lease_id.clone(),
            until: now + hold,
        });
        Ok(Update::Write(run.to_bytes()?, (run, true)))
    })?;
    let (run, mine) = taken;
    if !mine {
        return Ok(run);
    }
    let mut step = Step {
        env,
        key,
        run,
        lease: lease_id,
        deadline: started + budget,
        worked: false,
    };
    let result = step.work();
    step.run.stats.busy_us += started.elapsed().as_micros() as u64;
    step.run.lease = None;
    step.checkpoint()?;
    result?;
    Ok(step.run)
}

struct Step<'a> {
    env: &'a Env,
    key: String,
    run: Run,
    lease: String,
    deadline: Instant,
    /// Whether this step did a unit of work: every step does at least one.
    worked: bool,
}

impl Step<'_> {
    fn out_of_time(&self) -> bool {
        self.worked && Instant::now() >= self.deadline
    }

    fn grace(&self) -> Result<u64, Problem> {
        Ok(self.env.config.archive_grace_ms()?.saturating_mul(1000))
    }

    /// Stores the record if this step still holds the lease.
    fn checkpoint(&mut self) -> Result<(), Problem> {
        self.run.updated = now_micros();
        let bytes = self.run.to_bytes()?;
        let lease = self.lease.clone();
        update::<_, Problem>(self.env.store.meta.as_ref(), &self.key, None, 20, |cur| {
            let Some(cur) = cur else {
                return Err(Problem::conflict(
                    "the archive run was deleted under its step",
                ));
            };
            let held = Run::parse(cur)?.lease.is_none_or(|l| l.id == lease);
            if !held {
                return Err(Problem::conflict("another step took over the archive run"));
            }
            Ok(Update::Write(bytes.clone(), ()))
        })
    }

    fn work(&mut self) -> Result<(), Problem> {
        self.collect_garbage();
        while self.run.next < self.run.targets.len() {
            if self.out_of_time() {
                return Ok(());
            }
            let target = self.run.targets[self.run.next].clone();
            let finished = match self.visit(&target) {
                Ok(finished) => finished,
                Err(p) if p.status.is_server_error() => return Err(p),
                Err(p) => {
                    self.run
                        .errors
                        .push(format!("{}: {}", target.log, p.detail));
                    true
                }
            };
            if !finished {
                return Ok(());
            }
            self.run.next += 1;
            self.run.page = 0;
            self.run.stats.logs_visited += 1;
            self.worked = true;
        }
        self.collect_garbage();
        let now = now_micros();
        if self.run.garbage.is_empty() {
            self.run.status = Status::Done;
            self.run.finished.get_or_insert(now);
        } else {
            self.run.status = Status::Draining;
        }
        Ok(())
    }

    /// Deletes the garbage that is due. A blob already gone is no error.
    fn collect_garbage(&mut self) {
        let now = now_micros();
        let (due, later): (Vec<Garbage>, Vec<Garbage>) = std::mem::take(&mut self.run.garbage)
            .into_iter()
            .partition(|g| g.due <= now);
        self.run.garbage = later;
        for g in due {
            match self.env.store.blobs.delete(&g.key) {
                Ok(()) => self.run.stats.blobs_deleted += 1,
                Err(e) => {
                    eprintln!("archive: could not delete {}: {e}", g.key);
                    self.run.garbage.push(Garbage {
                        key: g.key,
                        due: now + SECOND,
                    });
                }
            }
        }
    }

    fn throw_away(&mut self, keys: impl IntoIterator<Item = String>) -> Result<(), Problem> {
        let due = now_micros() + self.grace()?;
        self.run
            .garbage
            .extend(keys.into_iter().map(|key| Garbage { key, due }));
        Ok(())
    }

    /// Expires, then packs, what is due in one log. `Ok(false)`: out of time
    /// with pages left (the record says which).
    fn visit(&mut self, target: &Target) -> Result<bool, Problem> {
        let log = Log::new(self.env.store.clone(), target.log.clone());
        let Some(head) = log.head()? else {
            return Ok(true);
        };
        let now = now_micros();
        let policy = self.run.policy.clone();
        let mut first = head.expired_pages;
        if let Some(keep) = policy.delete_after_s {
            let cutoff = now.saturating_sub(keep.saturating_mul(SECOND));
            let mut upto = first;
            while upto < head.pages.len() && log.page(upto)?.last().is_some_and(|s| s.time < cutoff)
            {
                upto += 1;
            }
            if upto > first {
                let expired = log.expire_pages(upto)?;
                catalog::mark_deleted(&self.env.store, &expired.objects, now)?;
                let mut keys = Vec::new();
                for o in expired.objects {
                    if catalog::id_of(&o).is_some() {
                        keys.push(format!("{o}.json"));
                    }
                    keys.push(o);
                }
                self.throw_away(keys)?;
                self.run.stats.pages_expired += expired.pages as u64;
                self.run.stats.bytes_expired += expired.bytes;
                first = upto;
                self.worked = true;
                self.checkpoint()?;
            }
        }
        let cutoff = now.saturating_sub(policy.archive_after_s.saturating_mul(SECOND));
        let sealed_cutoff = now.saturating_sub(self.grace()?);
        let mut p = self.run.page.max(first);
        while p < head.pages.len() {
            if self.out_of_time() {
                self.run.page = p;
                return Ok(false);
            }
            let page = log.page(p)?;
            if page.last().is_none_or(|s| s.time >= cutoff) {
                break; // later pages are younger still
            }
            if log.sealed_at(&head, p)?.is_none_or(|t| t >= sealed_cutoff) {
                break; // an appender that sealed it may still re-write it
            }
            let (id, object) = catalog::allocate(&self.env.store, &random_id()?)?;
            if let Some(packed) = log.pack_page(p, &object, policy.packing())? {
                let entry = Entry {
                    id,
                    object: object.clone(),
                    policy_id: policy.id.clone(),
                    run_id: self.run.id.clone(),
                    source: target.source.clone(),
                    task_id: target.task_id.clone(),
                    file: target.file.clone(),
                    labels: target.labels.clone(),
                    log: target.log.clone(),
                    page: p,
                    offset: packed.offset,
                    end: packed.end,
                    first_line: packed.first_line,
                    lines: packed.lines,
                    first_time: packed.first_time,
                    last_time: packed.last_time,
                    bytes: packed.bytes,
                    stored_bytes: packed.stored_bytes,
                    compression: policy.compression,
                    archived: now_micros(),
                    deleted: None,
                };
                // The manifest beside the object: the bucket describes itself.
                let manifest = serde_json::to_vec_pretty(&entry).map_err(Problem::internal)?;
                self.env
                    .store
                    .blobs
                    .put(&format!("{object}.json"), &manifest)?;
                catalog::add(&self.env.store, &entry)?;
                self.throw_away(packed.replaced)?;
                self.run.stats.pages_archived += 1;
                self.run.stats.bytes_archived += packed.bytes;
                self.run.stats.stored_bytes += packed.stored_bytes;
            }
            p += 1;
            self.run.page = p;
            self.worked = true;
            self.checkpoint()?;
        }
        Ok(true)
    }
}
