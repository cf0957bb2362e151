//! One bounded step of a log collection job.
//!
//! A serverless host has no scheduler and kills long requests, so a job is
//! advanced by the requests that ask about it: each takes the job's lease
//! (compare-and-swap on the record), copies for at most `job_step_ms`, and
//! commits what it made. Work is committed in *parts*: a part is a blob of
//! compressed archive bytes, and the record that lists it is swapped in only
//! after the blob is stored, together with every file's progress. A step that
//! dies leaves the last committed record, which is consistent: its unlisted
//! blob is deleted by the next step (the key carries the dead lease's id).
//!
//! Each file's entry starts on a fresh part, so a file that fails half-way
//! (a source blob gone, say) is rolled back to where its entry began; its
//! failure is recorded and the archive stays valid.

use super::model::{Child, Job, Lease, Origin, Part, Plan, Status, last_key, part_key};
use crate::env::Env;
use crate::model::sandbox::Sandboxes;
use crate::read::reader::{JournalSource, Selection, boundary_at_or_after};
use crate::read::redact::Redactor;
use crate::read::targz::{self, Piece};
use crate::store::kv::{Cas, Kv};
use crate::store::log::{Line, Snapshot};
use crate::util::clock::now_micros;
use crate::util::ids::random_id;
use crate::web::problem::Problem;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Swaps `value` in and says whether `key` now holds it. What the swap
/// itself says is not trusted: Spin's Redis backend reports a swap that
/// wrote as lost (see [`crate::store::kv::update`]), and a step that took
/// that for a lost lease left a job that no step ever advanced.
fn swapped(
    meta: &dyn Kv,
    key: &str,
    cas: Box<dyn Cas + '_>,
    value: &[u8],
) -> Result<bool, Problem> {
    let _hint = cas.swap(value)?;
    Ok(meta.get(key)?.as_deref() == Some(value))
}

/// Uncompressed bytes per part: a few MiB keeps parts (and the memory a step
/// holds) small while a 100 MiB job commits only a few dozen times.
const PART_INPUT: u64 = 4 * 1024 * 1024;
/// A line longer than this is masked in pieces (a secret across the cut survives).
const MAX_CARRY: usize = 1024 * 1024;
/// Lost races on the record tolerated per commit.
const COMMIT_ATTEMPTS: u32 = 20;
/// Files one job may hold.
pub const MAX_FILES: usize = 10_000;

/// Advances the job at `key` by one step if it is in progress and nobody else
/// holds it. Storage errors end the step; the committed record stands.
pub fn advance(env: &Env, key: &str, budget: Duration) -> Result<(), Problem> {
    let Some(mut step) = Step::begin(env, key, budget)? else {
        return Ok(());
    };
    let result = step.run();
    if result.is_err() {
        step.abandon();
    }
    result
}

struct Step<'a> {
    env: &'a Env,
    key: String,
    job: Job,
    lease: String,
    deadline: Instant,
    piece: Option<Piece>,
    /// Input bytes written to the current piece.
    piece_in: u64,
    /// Blobs to delete once the record no longer lists them.
    garbage: Vec<String>,
    redactor: Option<Redactor>,
}

impl<'a> Step<'a> {
    fn begin(env: &'a Env, key: &str, budget: Duration) -> Result<Option<Self>, Problem> {
        let now = now_micros();
        let meta = env.store.meta.as_ref();
        let cas = meta.cas(key)?;
        let Some(current) = cas.current() else {
            return Ok(None);
        };
        let mut job = Job::parse(current)?;
        if job.status != Status::InProgress || now >= job.expiration_date {
            return Ok(None);
        }
        let mut garbage = Vec::new();
        if let Some(old) = &job.lease {
            if old.until > now {
                return Ok(None); // someone is on it
            }
            // Its holder died: whatever it stored but never listed goes.
            garbage.push(part_key(&job.id, job.archive.parts.len(), &old.id));
            garbage.push(last_key(&job.id, &old.id));
        }
        let lease = random_id()?;
        // A step overrunning its lease is safe (its commit fails and it drops
        // its part), so the lease only needs to cover a normal overrun: one
        // chunk and one part commit past the budget.
        let hold = budget.as_micros() as u64 + 2_000_000;
        job.lease = Some(Lease {
            id: lease.clone(),
            until: now + hold,
        });
        if !swapped(meta, key, cas, &job.to_bytes()?)? {
            // Lost, or overwritten before the read-back (an `expirationDate`
            // edit): then the lease stands unheld until it runs out.
            return Ok(None);
        }
        let redactor = job.request.redacted.then(Redactor::default);
        let mut step = Self {
            env,
            key: key.to_owned(),
            job,
            lease,
            deadline: Instant::now() + budget,
            piece: None,
            piece_in: 0,
            garbage,
            redactor,
        };
        step.collect_garbage();
        Ok(Some(step))
    }

    fn out_of_time(&self) -> bool {
        Instant::now() >= self.deadline
    }

    fn run(&mut self) -> Result<(), Problem> {
        // Every step does some work, however small its budget: progress is certain.
        let mut worked = false;
        loop {
            let Some(i) = self
                .job
                .children
                .iter()
                .position(|c| matches!(c.status, Status::New | Status::InProgress))
            else {
                return self.close();
            };
            if worked && self.out_of_time() {
                return self.release();
            }
            worked = true;
            match self.job.children[i].status {
                Status::New => self.start(i)?,
                _ => self.work(i)?,
            }
        }
    }

    /// Resolves a whole task into its files, or plans one file's range.
    fn start(&mut self, i: usize) -> Result<(), Problem> {
        let now = now_micros();
        let child = self.job.children[i].clone();
        match &child.source {
            Origin::Task { task, file: None } => {
                let sandboxes = Sandboxes::new(self.env.store.clone());
                let Some(t) = sandboxes.task(task)? else {
                    self.job.children[i].path = format!("unknown/{task}");
                    self.job.children[i].fail(format!("no task with id {task:?}"), now);
                    return Ok(());
                };
                let files = sandboxes.files(task)?;
                if files.is_empty() {
                    self.job.children[i].path = format!("{}/{task}", t.agent_id);
                    self.job.children[i].fail("the task has no files yet", now);
                    return Ok(());
                }
                if self.job.children.len() + files.len() > MAX_FILES {
                    self.job.children[i]
                        .fail(format!("a job holds at most {MAX_FILES} files"), now);
                    return Ok(());
                }
                let expanded = files.into_iter().map(|f| {
                    let mut c = Child::new(Origin::Task {
                        task: task.clone(),
                        file: Some(f.name.clone()),
                    });
                    c.path = format!("{}/{task}/{}", t.agent_id, f.name);
                    c
                });
                self.job.children.splice(i..=i, expanded);
            }
            Origin::Task {
                task,
                file: Some(file),
            } => {
                let log = Sandboxes::new(self.env.store.clone()).file(task, file);
                let Some(snap) = log.snapshot()? else {
                    self.job.children[i].fail(format!("task {task:?} has no file {file:?}"), now);
                    return Ok(());
                };
                let (mut from, to) = snap.time_range(self.job.since, self.job.until)?;
                let mut truncated = false;
                if let Some(cap) = self.job.request.size_requested_per_file_bytes
                    && to - from > cap
                {
                    from = boundary_at_or_after(&snap, to - cap)?.min(to);
                    truncated = true;
                }
                let c = &mut self.job.children[i];
                c.plan = Some(Plan {
                    from,
                    to,
                    size: Some(to - from),
                    counted: None,
                    acc: 0,
                    mtime: snap.head().mtime / 1_000_000,
                    truncated,
                    seen: true,
                });
                c.pos = from;
                c.status = Status::InProgress;
                c.started = Some(now);
            }
            Origin::Component { component } => {
                let snap = crate::model::journal::log(self.env.store.clone())
                    .snapshot()?
                    .map(|s| (s.size(), s.head().mtime));
                let (to, mtime) = snap.unwrap_or((0, now));
                let c = &mut self.job.children[i];
                c.path = format!("journal/{component}/journal.log");
                c.plan = Some(Plan {
                    from: 0,
                    to,
                    size: None,
                    counted: None,
                    acc: 0,
                    mtime: mtime / 1_000_000,
                    truncated: false,
                    seen: false,
                });
                c.status = Status::InProgress;
                c.started = Some(now);
            }
        }
        Ok(())
    }

    /// Copies (or, for a component, counts) as much of child `i` as time allows.
    fn work(&mut self, i: usize) -> Result<(), Problem> {
        let outcome = match self.job.children[i].source.clone() {
            Origin::Task {
                task,
                file: Some(file),
            } => self.copy_file(i, &task, &file),
            Origin::Component { component } => self.copy_component(i, &component),
            Origin::Task { file: None, .. } => Err(Problem::internal("unresolved task")),
        };
        match outcome {
            Ok(()) => Ok(()),
            // Storage trouble with this source: fail the file, keep the job going.
            Err(e) if e.status.is_server_error() => self.fail_child(i, e.detail),
            Err(e) => Err(e),
        }
    }

    fn plan(&self, i: usize) -> Result<Plan, Problem> {
        self.job.children[i]
            .plan
            .clone()
            .ok_or_else(|| Problem::internal("child in progress without a plan"))
    }

    /// Starts the entry (on a fresh part) if not started: records where to roll back to.
    fn open_entry(&mut self, i: usize, size: u64, mtime: u64) -> Result<(), Problem> {
        if self.job.children[i].header_written {
            return Ok(());
        }
        self.checkpoint()?;
        let header = targz::header(&self.job.children[i].path, size, mtime)?;
        let c = &mut self.job.children[i];
        c.first_part = self.job.archive.parts.len();
        c.gz_before = self.job.archive.gz;
        c.header_written = true;
        self.write(&header)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Problem> {
        let gz = self.job.archive.gz;
        let piece = self.piece.get_or_insert_with(|| Piece::new(gz));
        piece.write(bytes)?;
        self.piece_in += bytes.len() as u64;
        Ok(())
    }

    /// Entry data: hashed, written, counted.
    fn emit(&mut self, i: usize, data: &[u8], advance_pos: u64) -> Result<(), Problem> {
        self.write(data)?;
        let c = &mut self.job.children[i];
        c.sha.update(data);
        c.done += data.len() as u64;
        c.pos += advance_pos;
        Ok(())
    }

    fn finish_entry(&mut self, i: usize, size: u64) -> Result<(), Problem> {
        if self.job.children[i].done != size {
            return Err(Problem::internal(format!(
                "entry {} has {} bytes, planned {size}",
                self.job.children[i].path, self.job.children[i].done
            )));
        }
        self.write(targz::padding(size))?;
        let c = &mut self.job.children[i];
        c.sha256 = Some(c.sha.hex());
        c.status = Status::Success;
        c.finished = Some(now_micros());
        self.checkpoint()
    }

    fn copy_file(&mut self, i: usize, task: &str, file: &str) -> Result<(), Problem> {
        let plan = self.plan(i)?;
        let size = plan.size.unwrap_or_default();
        self.open_entry(i, size, plan.mtime)?;
        let snap: Rc<Snapshot> = Rc::new(
            Sandboxes::new(self.env.store.clone())
                .file(task, file)
                .snapshot()?
                .ok_or_else(|| Problem::internal(format!("file {file:?} of {task:?} vanished")))?,
        );
        let mut carry: Vec<u8> = Vec::new();
        let mut chunks = snap.read(self.job.children[i].pos, plan.to);
        loop {
            let chunk = chunks.next().transpose()?;
            let end = chunk.is_none();
            if let Some(chunk) = chunk {
                carry.extend_from_slice(&chunk);
            }
            // Masks apply to whole lines; hold back a partial last line.
            let ready = if end || self.redactor.is_none() || carry.len() > MAX_CARRY {
                carry.len()
            } else {
                memchr::memrchr(b'\n', &carry).map_or(0, |n| n + 1)
            };
            if ready > 0 {
                let mut out: Vec<u8> = carry.drain(..ready).collect();
                if let Some(r) = &self.redactor {
                    r.apply(&mut out);
                }
                self.emit(i, &out, out.len() as u64)?;
            }
            if end {
                return self.finish_entry(i, size);
            }
            // Progress committed is what was emitted: a held-back partial
            // line is simply read again by whoever continues.
            if self.piece_in >= PART_INPUT {
                self.checkpoint()?;
            }
            if self.out_of_time() {
                return self.checkpoint();
            }
        }
    }

    /// Component logs: their text size is only known by rendering them, and a
    /// tar header needs it first. So: count the rendered bytes (pass 1), skip
    /// the oldest lines past the per-file cap (pass 2), then copy (pass 3).
    /// The range is fixed and rendering deterministic, so the passes agree.
    fn copy_component(&mut self, i: usize, unit: &str) -> Result<(), Problem> {
        let plan = self.plan(i)?;
        let snap = match crate::model::journal::log(self.env.store.clone()).snapshot()? {
            Some(s) => Rc::new(s),
            // No journal at all: no component exists.
            None if plan.to == 0 => {
                return self.fail_child(i, format!("no journal entries for component {unit:?}"));
            }
            None => return Err(Problem::internal("the journal vanished")),
        };
        let (since, until) = (self.job.since, self.job.until);
        let source = JournalSource {
            unit: Some(unit.to_owned()),
            filters: Vec::new(),
        };
        // The same text `/component/{unit}` serves.
        let seen = std::cell::Cell::new(plan.seen);
        let render = |line: &Line| -> Result<Option<Vec<u8>>, Problem> {
            let mut out = Vec::new();
            Ok(match source.text_between(line, since, until, &mut out)? {
                Selection::Other => None,
                Selection::OutsideWindow => {
                    seen.set(true);
                    None
                }
                Selection::Within => {
                    seen.set(true);
                    Some(out)
                }
            })
        };
        let mut n = 0u32;
        let mut lines = snap.lines_in(self.job.children[i].pos, plan.to);

        let text_len = |line: &Line| -> Result<u64, Problem> {
            Ok(render(line)?.map_or(0, |t| t.len() as u64))
        };
        if plan.counted.is_none() || plan.size.is_none() {
            let total = plan.counted;
            let cap = self
                .job
                .request
                .size_requested_per_file_bytes
                .unwrap_or(u64::MAX);
            let (mut acc, mut pos) = (plan.acc, self.job.children[i].pos);
            // Counting ends at the end of the range; skipping once the rest fits.
            let mut complete = total.is_some_and(|t| t - acc <= cap);
            if !complete {
                complete = true;
                for line in lines.by_ref() {
                    let line = line?;
                    acc += text_len(&line)?;
                    pos = line.end();
                    if total.is_some_and(|t| t - acc <= cap) {
                        break;
                    }
                    n += 1;
                    if n.is_multiple_of(256) && self.out_of_time() {
                        complete = false;
                        break;
                    }
                }
            }
            let c = &mut self.job.children[i];
            let p = c
                .plan
                .as_mut()
                .ok_or_else(|| Problem::internal("no plan"))?;
            p.seen = seen.get();
            match (complete, total) {
                (false, _) => {
                    p.acc = acc;
                    c.pos = pos;
                    return self.checkpoint();
                }
                // The whole journal holds no entry of this unit: like an
                // unknown task, it is missing, with the reason.
                (true, None) if !p.seen => {
                    let why = format!("no journal entries for component {unit:?}");
                    return self.fail_child(i, why);
                }
                (true, None) => {
                    p.counted = Some(acc);
                    p.acc = 0;
                    c.pos = p.from;
                }
                (true, Some(t)) => {
                    p.size = Some(t.saturating_sub(acc));
                    p.truncated = acc > 0;
                    p.acc = 0;
                    c.pos = pos;
                }
            }
            return Ok(());
        }

        let size = plan.size.unwrap_or_default();
        self.open_entry(i, size, plan.mtime)?;
        for line in lines {
            let line = line?;
            let advance = line.end() - self.job.children[i].pos;
            match render(&line)? {
                Some(mut text) => {
                    if let Some(r) = &self.redactor {
                        r.apply(&mut text);
                    }
                    self.emit(i, &text, advance)?;
                }
                None => self.job.children[i].pos += advance,
            }
            n += 1;
            if self.piece_in >= PART_INPUT {
                self.checkpoint()?;
            }
            if n.is_multiple_of(256) && self.out_of_time() {
                return self.checkpoint();
            }
        }
        self.finish_entry(i, size)
    }

    /// Rolls child `i` back to where its entry began and records the failure.
    fn fail_child(&mut self, i: usize, error: String) -> Result<(), Problem> {
        let c = &self.job.children[i];
        if c.header_written {
            let first = c.first_part;
            self.piece = None;
            self.piece_in = 0;
            let dropped = self
                .job
                .archive
                .parts
                .split_off(first.min(self.job.archive.parts.len()));
            self.garbage.extend(dropped.into_iter().map(|p| p.key));
            self.job.archive.gz = c.gz_before;
        }
        self.job.children[i].fail(error, now_micros());
        self.checkpoint()
    }

    /// Stores the current piece as a part (if it has anything) and commits the record.
    fn checkpoint(&mut self) -> Result<(), Problem> {
        let mut written = None;
        if let Some(piece) = self.piece.take() {
            let (bytes, gz) = piece.finish_part()?;
            let key = part_key(&self.job.id, self.job.archive.parts.len(), &self.lease);
            self.env.store.blobs.put(&key, &bytes)?;
            self.job.archive.parts.push(Part {
                key: key.clone(),
                size: bytes.len() as u64,
            });
            self.job.archive.gz = gz;
            written = Some(key);
        }
        self.piece_in = 0;
        if !self.commit()? {
            // The stored record may still list what this step meant to drop:
            // only the part it never got to list may go.
            self.garbage = self.unlisted(written);
            self.collect_garbage();
            return Err(Problem::conflict(
                "the job changed while this step ran (deleted or expired)",
            ));
        }
        self.collect_garbage();
        Ok(())
    }

    /// `written` unless the stored record lists it. A commit can land and
    /// still be reported lost: its lease ran out, another step took over
    /// before the read-back, and that step's record lists the part. Deleting
    /// it then would break the archive; when the record cannot be read, a
    /// blob left behind is the lesser harm.
    fn unlisted(&self, written: Option<String>) -> Vec<String> {
        let listed = |key: &str| -> Option<bool> {
            let job = Job::parse(&self.env.store.meta.get(&self.key).ok()??).ok()?;
            let a = &job.archive;
            Some(a.parts.iter().chain(&a.last).any(|p| p.key == key))
        };
        written
            .into_iter()
            .filter(|k| listed(k) == Some(false))
            .collect()
    }

    /// Writes our view of the job (which may give the lease up), if the
    /// stored record is still ours. Others may only have changed
    /// `expirationDate` meanwhile; that change is kept.
    fn commit(&mut self) -> Result<bool, Problem> {
        let meta = self.env.store.meta.as_ref();
        for attempt in 0..COMMIT_ATTEMPTS {
            let cas = meta.cas(&self.key)?;
            let Some(current) = cas.current() else {
                return Ok(false);
            };
            let fresh = Job::parse(current)?;
            self.job.expiration_date = fresh.expiration_date;
            let ours_now = self.job.to_bytes()?;
            if current == ours_now.as_slice() {
                return Ok(true); // an earlier attempt's write, read back late
            }
            let ours = fresh.lease.as_ref().is_some_and(|l| l.id == self.lease);
            if !ours || fresh.status != Status::InProgress {
                return Ok(false);
            }
            if swapped(meta, &self.key, cas, &ours_now)? {
                return Ok(true);
            }
            crate::util::clock::backoff(attempt);
        }
        Err(Problem::unavailable("the job record is contended", 1))
    }

    /// Out of time: commit and let the next request take over at once.
    fn release(&mut self) -> Result<(), Problem> {
        self.checkpoint()?;
        self.job.lease = None;
        self.commit()?;
        Ok(())
    }

    /// Every file is done: the manifest, the tar end and the gzip trailer.
    fn close(&mut self) -> Result<(), Problem> {
        self.checkpoint()?;
        let now = now_micros();
        let manifest = super::manifest(&self.job, now);
        let mut bytes = serde_json::to_vec_pretty(&manifest).map_err(Problem::internal)?;
        bytes.push(b'\n');
        let mut piece = Piece::new(self.job.archive.gz);
        piece.write(&targz::header(
            "MANIFEST.json",
            bytes.len() as u64,
            now / 1_000_000,
        )?)?;
        piece.write(&bytes)?;
        piece.write(targz::padding(bytes.len() as u64))?;
        piece.write(&targz::END)?;
        let out = piece.finish_last()?;
        let key = last_key(&self.job.id, &self.lease);
        self.env.store.blobs.put(&key, &out)?;
        self.job.archive.last = Some(Part {
            key: key.clone(),
            size: out.len() as u64,
        });
        let failed = self
            .job
            .children
            .iter()
            .any(|c| c.status == Status::Failure);
        self.job.status = if failed {
            Status::Failure
        } else {
            Status::Success
        };
        self.job.finish_date = Some(now);
        self.job.lease = None;
        if !self.commit()? {
            self.garbage = self.unlisted(Some(key));
            self.collect_garbage();
        }
        Ok(())
    }

    /// The step failed: nothing uncommitted may stay behind.
    fn abandon(&mut self) {
        self.piece = None;
        self.collect_garbage();
    }

    fn collect_garbage(&mut self) {
        for key in std::mem::take(&mut self.garbage) {
            if let Err(e) = self.env.store.blobs.delete(&key) {
                eprintln!("could not delete {key}: {e}");
            }
        }
    }
}
