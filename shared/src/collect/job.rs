//! Collection jobs: one-time (chosen pods or a selector over a time range),
//! bulk (every pod of a namespace or a cluster) and continuous (until
//! stopped), advanced in steps.
//!
//! ```text
//! k8s/jobs        [{id, kind, cluster_id, status}]: the index, and jobs by state
//! k8s/job/<id>    the job: its request, targets and their cursors
//! k8s/lag/<id>    when a continuous job last visited every target of a cluster
//! ```
//!
//! Serverless has no scheduler, so a job moves only inside requests, as log
//! collection jobs and archive runs do: a step takes the job's lease
//! (compare-and-swap on its record), lists pods (every step for a
//! continuous job, so new pods are found), then pulls target after target
//! for at most `job_step_ms`, committing each target's cursor as soon as its
//! lines are stored. A step killed half-way leaves every cursor it did not
//! commit where it was; the one whose append committed but whose cursor did
//! not is recognised by its stream's size and read back from the stream
//! ([`super::pull::Cursor::size`]), so the next step resumes exactly.
//!
//! **Restarts**: a container whose restart count grew is drained from its
//! previous instance (`previous=true`) before the new one is read; a count
//! that jumped by more than one means instances the kubelet no longer keeps:
//! a recorded gap.

use super::cluster::{self, Cluster};
use super::http::{ApiStatus, Client, Failure};
use super::pull::{self, Cursor, MAX_LIMIT, Pod, PodList, Taken, query_escape};
use super::settings::{self, Settings, StartAt};
use crate::env::Env;
use crate::logql::Labels;
use crate::model::stream;
use crate::routes::collect::JobKind;
use crate::store::kv::{Update, update};
use crate::store::log::AppendError;
use crate::store::metrics;
use crate::util::clock::now_micros;
use crate::web::problem::Problem;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

const INDEX: &str = "k8s/jobs";
/// Jobs kept; creating more is a 409 until some are deleted.
pub const MAX_JOBS: usize = 200;
/// Targets (containers) one job follows.
pub const MAX_TARGETS: usize = 2000;
/// Pages of pods one listing reads (500 a page).
const MAX_PAGES: usize = 20;
/// Requests one target may take in one step (previous instance, current,
/// and a few larger limits).
const ROUNDS: usize = 6;
const NS: u64 = 1_000;

/// Where job `id`'s record is stored.
pub fn job_key(id: &str) -> String {
    format!("k8s/job/{id}")
}

/// Where the time (µs since the epoch, 8 bytes little-endian) a continuous
/// job last swept every target of `cluster` is stored: the lag metric.
pub fn lag_key(cluster: &str) -> String {
    format!("k8s/lag/{cluster}")
}

/// Where a job is in its life; only a running job takes steps.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Steps advance it; it cannot be deleted until stopped.
    Running,
    /// A one-time or bulk job that reached the end of every target.
    Done,
    /// Stopped by a client; what it pulled stays.
    Stopped,
    /// Could not go on (its cluster was deleted); `errors` says why.
    Failed,
}

impl Status {
    /// Every state, in the order listings and metrics show them.
    pub const ALL: [Status; 4] = [
        Status::Running,
        Status::Done,
        Status::Stopped,
        Status::Failed,
    ];
    /// The state as JSON and `?status=` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Done => "done",
            Status::Stopped => "stopped",
            Status::Failed => "failed",
        }
    }
}

/// Where one container of a job stands; only active and waiting targets
/// are pulled.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TargetState {
    /// Pulled at every step.
    Active,
    /// The container is waiting to start (the API said 400).
    Waiting,
    /// Read to the end of the range (or, for a one-time or bulk job, to the
    /// end of what the container had).
    Done,
    /// The pod is gone (404, or no longer listed).
    Gone,
}

/// What a client asks for.
#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// The registered, enabled cluster to pull from.
    pub cluster_id: String,
    /// One namespace (whose collection is enabled); none: every namespace
    /// (not for a one-time job).
    pub namespace: Option<String>,
    /// Pod names to pull (up to 500); empty: every pod the selectors match.
    #[serde(default)]
    pub pods: Vec<String>,
    /// A Kubernetes label selector (`app=web,tier!=db`); none: the
    /// configuration's.
    pub label_selector: Option<String>,
    /// A Kubernetes field selector (`spec.nodeName=n1`); none: the
    /// configuration's.
    pub field_selector: Option<String>,
    /// Container names to pull; empty: every container the configuration
    /// admits.
    #[serde(default)]
    pub containers: Vec<String>,
    /// RFC 3339 or nanoseconds: where a one-time or bulk job starts.
    pub since: Option<String>,
    /// Where it ends (default: what the containers have when it runs).
    pub until: Option<String>,
}

/// The request as kept.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct Request {
    /// As [`JobSpec::cluster_id`].
    pub cluster_id: String,
    /// As [`JobSpec::namespace`].
    pub namespace: Option<String>,
    /// As [`JobSpec::pods`].
    pub pods: Vec<String>,
    /// The client's label selector; empty: the configuration's, read at
    /// each listing.
    pub label_selector: String,
    /// The client's field selector; empty: the configuration's, read at
    /// each listing.
    pub field_selector: String,
    /// As [`JobSpec::containers`].
    pub containers: Vec<String>,
    /// Where a one-time or bulk job starts, ns since the epoch; `None`: the
    /// oldest line the kubelet keeps.
    pub since_ns: Option<u64>,
    /// Where it ends, ns since the epoch; `None`: what the containers have
    /// when they are read. Never set for a continuous job.
    pub until_ns: Option<u64>,
}

/// One container a job pulls.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Target {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The container's name within the pod.
    pub container: String,
    /// The node the pod ran on when found (empty if not scheduled).
    pub node: String,
    /// The stream's labels, fixed when the target is found.
    pub labels: Labels,
    /// The stream's id once it has a line.
    pub stream: Option<String>,
    /// Where the next pull starts; committed as soon as its lines are stored.
    pub cursor: Cursor,
    /// Whether it is still pulled, and why not.
    pub state: TargetState,
    /// Bytes one pull asks for (`limitBytes`), from the configuration's
    /// `budget_bytes`; doubled within a step when one second holds more.
    pub budget: u64,
    /// Lines stored so far.
    pub lines: u64,
    /// Bytes of lines stored so far.
    pub bytes: u64,
    /// Container instances lost: restarts the kubelet no longer kept a log
    /// of by the time they were read.
    pub gaps: u64,
    /// Why the last pull failed; cleared by the next that moves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiStatus>,
}

/// A job's totals over all its steps and targets.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Steps that ran (held the lease).
    pub steps: u64,
    /// Lines stored.
    pub lines: u64,
    /// Bytes of lines stored.
    pub bytes: u64,
    /// Container instances lost (see [`Target::gaps`]).
    pub gaps: u64,
    /// Pulls that failed with a new error while their target was active.
    pub errors: u64,
    /// Time spent in steps, µs.
    pub busy_us: u64,
}

/// Which step holds a job, so that two requests never advance it at once.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Lease {
    /// A random id of the holding step; its commits check it.
    pub id: String,
    /// When the lease lapses and another step may take the job, µs since
    /// the epoch (the step's budget plus 5 s).
    pub until: u64,
}

/// A collection job as stored at [`job_key`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Job {
    /// 16 random characters.
    pub id: String,
    /// One-time, bulk or continuous.
    pub kind: JobKind,
    /// What the client asked for, checked.
    pub request: Request,
    /// Where it is in its life.
    pub status: Status,
    /// When it was created, µs since the epoch.
    pub created: u64,
    /// When its record last changed, µs since the epoch.
    pub updated: u64,
    /// When it was done, stopped or failed, µs since the epoch.
    pub finished: Option<u64>,
    /// The step holding it, if one is running (or died within its lease).
    pub lease: Option<Lease>,
    /// Pods were listed once (a one-time or bulk job lists once).
    pub listed: bool,
    /// Where the next step starts among the targets (round robin).
    pub next: usize,
    /// The containers it pulls, at most [`MAX_TARGETS`].
    pub targets: Vec<Target>,
    /// Totals over its steps.
    pub stats: Stats,
    /// The latest errors, newest last (at most 20).
    pub errors: Vec<String>,
}

impl Job {
    fn parse(b: &[u8]) -> Result<Job, Problem> {
        serde_json::from_slice(b).map_err(|e| Problem::internal(format!("collection job: {e}")))
    }
    fn bytes(&self) -> Result<Vec<u8>, Problem> {
        serde_json::to_vec(self).map_err(Problem::internal)
    }
    fn note(&mut self, error: String) {
        self.errors.push(error);
        let over = self.errors.len().saturating_sub(20);
        self.errors.drain(..over);
    }
}

/// An index entry.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Indexed {
    /// As [`Job::id`].
    pub id: String,
    /// As [`Job::kind`].
    pub kind: JobKind,
    /// The job's cluster.
    pub cluster_id: String,
    /// As [`Job::status`], kept in step with the record.
    pub status: Status,
}

/// Every job, in brief: what listings and metrics read without loading
/// each record.
pub fn index(env: &Env) -> Result<Vec<Indexed>, Problem> {
    match env.store.meta.get(INDEX)? {
        None => Ok(Vec::new()),
        Some(b) => {
            serde_json::from_slice(&b).map_err(|e| Problem::internal(format!("{INDEX}: {e}")))
        }
    }
}

fn edit_index(
    env: &Env,
    mut f: impl FnMut(&mut Vec<Indexed>) -> Result<(), Problem>,
) -> Result<(), Problem> {
    update::<_, Problem>(env.store.meta.as_ref(), INDEX, Some(b"[]"), 50, |cur| {
        let mut list: Vec<Indexed> = match cur {
            Some(b) => {
                serde_json::from_slice(b).map_err(|e| Problem::internal(format!("{INDEX}: {e}")))?
            }
            None => Vec::new(),
        };
        let before = list.clone();
        f(&mut list)?;
        if list == before {
            return Ok(Update::Keep(()));
        }
        Ok(Update::Write(
            serde_json::to_vec(&list).map_err(Problem::internal)?,
            (),
        ))
    })
}

/// Makes the index say what `job`'s record says (or forget it).
fn reindex(env: &Env, id: &str, job: Option<&Job>) -> Result<(), Problem> {
    edit_index(env, |list| {
        list.retain(|j| j.id != id);
        if let Some(job) = job {
            list.push(Indexed {
                id: job.id.clone(),
                kind: job.kind,
                cluster_id: job.request.cluster_id.clone(),
                status: job.status,
            });
        }
        Ok(())
    })
}

/// Job `id`'s record, or a 404.
pub fn load(env: &Env, id: &str) -> Result<Job, Problem> {
    let b = env
        .store
        .meta
        .get(&job_key(id))?
        .ok_or_else(|| Problem::not_found(format!("no collection job {id:?}")))?;
    Job::parse(&b)
}

fn time_param(name: &str, v: Option<&String>) -> Result<Option<u64>, Problem> {
    v.map(|v| crate::web::time::parse_time_ns(name, v))
        .transpose()
}

impl JobSpec {
    /// The request, checked against the cluster and the configuration.
    fn check(self, kind: JobKind, env: &Env) -> Result<Request, Problem> {
        let c =
            cluster::find(env, &self.cluster_id).map_err(|p| p.with("parameter", "cluster_id"))?;
        if !c.enabled {
            return Err(Problem::conflict(format!("cluster {:?} is disabled", c.id)));
        }
        if let Some(ns) = &self.namespace {
            if !super::settings::valid_name(ns) {
                return Err(Problem::bad_param(
                    "namespace",
                    "a namespace is a DNS label",
                ));
            }
            if !settings::load(env)?.collects(&c.id, ns) {
                return Err(Problem::conflict(format!(
                    "collection of namespace {ns:?} in cluster {:?} is disabled (POST /k8s/v1/config to enable it)",
                    c.id
                )));
            }
        }
        if kind == JobKind::Once
            && (self.namespace.is_none() || (self.pods.is_empty() && self.label_selector.is_none()))
        {
            return Err(Problem::bad_request(
                "a one-time collection names a namespace and pods (or a label_selector)",
            ));
        }
        if self
            .pods
            .iter()
            .chain(&self.containers)
            .any(|p| !valid_object_name(p))
            || self.pods.len() > 500
        {
            return Err(Problem::bad_param(
                "pods",
                "pods and containers are up to 500 Kubernetes names",
            ));
        }
        for (f, s) in [
            ("label_selector", &self.label_selector),
            ("field_selector", &self.field_selector),
        ] {
            if s.as_ref().is_some_and(|s| {
                s.len() > 1024 || !s.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
            }) {
                return Err(Problem::bad_param(
                    f,
                    format!("{f} is up to 1024 visible ASCII characters"),
                ));
            }
        }
        let since_ns = time_param("since", self.since.as_ref())?;
        let until_ns = time_param("until", self.until.as_ref())?;
        if kind == JobKind::Continuous && until_ns.is_some() {
            return Err(Problem::bad_param(
                "until",
                "a continuous collection runs until stopped: no until",
            ));
        }
        if let (Some(a), Some(b)) = (since_ns, until_ns)
            && a > b
        {
            return Err(Problem::bad_param("until", "until is before since"));
        }
        Ok(Request {
            cluster_id: c.id,
            namespace: self.namespace,
            pods: self.pods,
            label_selector: self.label_selector.unwrap_or_default(),
            field_selector: self.field_selector.unwrap_or_default(),
            containers: self.containers,
            since_ns,
            until_ns,
        })
    }
}

/// A pod or container name: a DNS subdomain.
fn valid_object_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 253
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// Stores a new job (nothing on refusal) and takes its first step.
pub fn create(env: &Env, kind: JobKind, spec: JobSpec, budget: Duration) -> Result<Job, Problem> {
    let request = spec.check(kind, env)?;
    let now = now_micros();
    let job = Job {
        id: crate::util::ids::random_id()?[..16].to_owned(),
        kind,
        request,
        status: Status::Running,
        created: now,
        updated: now,
        finished: None,
        lease: None,
        listed: false,
        next: 0,
        targets: Vec::new(),
        stats: Stats::default(),
        errors: Vec::new(),
    };
    edit_index(env, |list| {
        if list.len() >= MAX_JOBS {
            return Err(Problem::conflict(format!(
                "at most {MAX_JOBS} collection jobs: delete finished ones"
            )));
        }
        list.push(Indexed {
            id: job.id.clone(),
            kind,
            cluster_id: job.request.cluster_id.clone(),
            status: Status::Running,
        });
        Ok(())
    })?;
    env.store.meta.set(&job_key(&job.id), &job.bytes()?)?;
    if let Some(f) = advance_listing(env, &job.id, budget)?
        && refuses_job(&f)
    {
        // The deployment or the cluster refuses us: nothing to keep, and the
        // caller gets what to fix (409 for a host not allowed), not a job
        // that can only fail.
        env.store.meta.delete(&job_key(&job.id))?;
        reindex(env, &job.id, None)?;
        let server = cluster::find(env, &job.request.cluster_id)
            .map(|c| c.server)
            .unwrap_or_default();
        return Err(f.problem(&server));
    }
    load(env, &job.id)
}

/// Failures no retry cures: a host the deployment does not grant, a CA it
/// does not trust, a token the cluster refuses.
fn refuses_job(f: &Failure) -> bool {
    match f {
        Failure::NotAllowed(_) | Failure::Tls(_) => true,
        Failure::Api(s) => s.code == 401 || s.code == 403,
        Failure::Unreachable(_) => false,
    }
}

/// Changes a job's record in one compare-and-swap; `None` if it is gone.
fn modify(
    env: &Env,
    id: &str,
    mut f: impl FnMut(&mut Job) -> Result<bool, Problem>,
) -> Result<Option<Job>, Problem> {
    update::<_, Problem>(env.store.meta.as_ref(), &job_key(id), None, 50, |cur| {
        let Some(b) = cur else {
            return Ok(Update::Keep(None));
        };
        let mut job = Job::parse(b)?;
        if !f(&mut job)? {
            return Ok(Update::Keep(Some(job)));
        }
        job.updated = now_micros();
        Ok(Update::Write(job.bytes()?, Some(job)))
    })
}

/// Stops a running job; what it pulled stays.
pub fn stop(env: &Env, id: &str) -> Result<Job, Problem> {
    let job = modify(env, id, |job| {
        if job.status != Status::Running {
            return Ok(false);
        }
        job.status = Status::Stopped;
        job.finished = Some(now_micros());
        job.lease = None;
        Ok(true)
    })?
    .ok_or_else(|| Problem::not_found(format!("no collection job {id:?}")))?;
    reindex(env, id, Some(&job))?;
    Ok(job)
}

/// Forgets a job that is not running (409 while it runs: stop it first).
pub fn delete(env: &Env, id: &str) -> Result<(), Problem> {
    let job = load(env, id)?;
    if job.status == Status::Running {
        return Err(Problem::conflict("the job is running: stop it first"));
    }
    env.store.meta.delete(&job_key(id))?;
    reindex(env, id, None)
}

/// Advances job `id` by one step if it runs and nobody else holds it.
pub fn advance(env: &Env, id: &str, budget: Duration) -> Result<(), Problem> {
    advance_listing(env, id, budget).map(drop)
}

/// [`advance`], telling why the step could not list the job's pods.
fn advance_listing(env: &Env, id: &str, budget: Duration) -> Result<Option<Failure>, Problem> {
    let Some(mut step) = Step::begin(env, id, budget)? else {
        return Ok(None);
    };
    let outcome = step.run();
    let failure = step.listing.take();
    step.end(outcome).map(|()| failure)
}

/// One step: the job as this step holds it.
struct Step<'a> {
    env: &'a Env,
    job: Job,
    lease: String,
    deadline: Instant,
    started: Instant,
    cluster: Option<Cluster>,
    /// Why this step's listing failed, if it did.
    listing: Option<Failure>,
}

impl<'a> Step<'a> {
    fn begin(env: &'a Env, id: &str, budget: Duration) -> Result<Option<Self>, Problem> {
        let lease = crate::util::ids::random_id()?;
        let now = now_micros();
        let hold = budget.as_micros() as u64 + 5_000_000;
        let taken = modify(env, id, |job| {
            if job.status != Status::Running || job.lease.as_ref().is_some_and(|l| l.until > now) {
                return Ok(false);
            }
            job.lease = Some(Lease {
                id: lease.clone(),
                until: now + hold,
            });
            Ok(true)
        })?;
        let Some(job) = taken.filter(|j| j.lease.as_ref().is_some_and(|l| l.id == lease)) else {
            return Ok(None);
        };
        Ok(Some(Step {
            env,
            job,
            lease,
            deadline: Instant::now() + budget,
            started: Instant::now(),
            cluster: None,
            listing: None,
        }))
    }

    /// Commits `f` to the record if this step still holds it; `false` when
    /// it was stopped, deleted or taken over meanwhile (the step ends).
    fn commit(&mut self, mut f: impl FnMut(&mut Job)) -> Result<bool, Problem> {
        let lease = self.lease.clone();
        let stored = modify(self.env, &self.job.id, |job| {
            if job.status != Status::Running || job.lease.as_ref().is_none_or(|l| l.id != lease) {
                return Ok(false);
            }
            f(job);
            Ok(true)
        })?;
        match stored {
            Some(job)
                if job.lease.as_ref().is_some_and(|l| l.id == lease)
                    && job.status == Status::Running =>
            {
                self.job = job;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn run(&mut self) -> Result<(), Problem> {
        let cluster = match cluster::find(self.env, &self.job.request.cluster_id) {
            Ok(c) => c,
            Err(p) => return self.fail(format!("the cluster is gone: {}", p.detail)),
        };
        let client = cluster.client(self.env)?;
        self.cluster = Some(cluster);
        let settings = settings::load(self.env)?;
        let pods = match self.list(&client, &settings) {
            Ok(pods) => pods,
            Err(f) => {
                self.error(&f.status());
                self.listing = Some(f);
                return Ok(());
            }
        };
        if !self.job.listed || self.job.kind == JobKind::Continuous {
            self.merge(&pods, &settings)?;
        }
        self.sweep(&client, &pods)
    }

    /// Lists the job's pods (every step: their restart counts say which
    /// instance to read, and a pod no longer listed is gone).
    fn list(&self, client: &Client, settings: &Settings) -> Result<Vec<Pod>, Failure> {
        let r = &self.job.request;
        let scope = match &r.namespace {
            Some(ns) => format!("/api/v1/namespaces/{}/pods", query_escape(ns)),
            None => "/api/v1/pods".to_owned(),
        };
        let config = settings.effective(&r.cluster_id, r.namespace.as_deref().unwrap_or("*"));
        let pick = |own: &String, of: fn(&settings::Config) -> &String| {
            if own.is_empty() {
                config.map(of).cloned().unwrap_or_default()
            } else {
                own.clone()
            }
        };
        let labels = pick(&r.label_selector, |c| &c.label_selector);
        let fields = pick(&r.field_selector, |c| &c.field_selector);
        let mut pods = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut path = format!("{scope}?limit=500");
            for (k, v) in [("labelSelector", &labels), ("fieldSelector", &fields)] {
                if !v.is_empty() {
                    path.push_str(&format!("&{k}={}", query_escape(v)));
                }
            }
            if let Some(c) = &next {
                path.push_str(&format!("&continue={}", query_escape(c)));
            }
            let page: PodList = client.get_json(&path)?;
            pods.extend(page.items);
            next = page.metadata.continue_token.filter(|c| !c.is_empty());
            if next.is_none() {
                break;
            }
        }
        Ok(pods)
    }

    /// Adds the listed containers the job does not follow yet, as the
    /// configuration admits them; a continuous job's targets whose pods
    /// are no longer listed are gone.
    fn merge(&mut self, pods: &[Pod], settings: &Settings) -> Result<(), Problem> {
        let mut found = Vec::new();
        for pod in pods {
            found.extend(self.targets_of(pod, settings));
        }
        let now_ns = now_micros() * NS;
        let kind = self.job.kind;
        let cap_hit = self.job.targets.len() + found.len() > MAX_TARGETS;
        self.commit(|job| {
            job.listed = true;
            for t in &found {
                let known = job.targets.iter().any(|k| {
                    k.namespace == t.namespace && k.pod == t.pod && k.container == t.container
                });
                if !known && job.targets.len() < MAX_TARGETS {
                    let mut t = t.clone();
                    if kind == JobKind::Continuous && t.cursor.ts == 1 {
                        t.cursor.ts = now_ns; // start_at = end: from now on
                    }
                    job.targets.push(t);
                }
            }
            for k in &mut job.targets {
                let listed = pods
                    .iter()
                    .any(|p| p.metadata.namespace == k.namespace && p.metadata.name == k.pod);
                if kind == JobKind::Continuous && !listed && k.state != TargetState::Done {
                    k.state = TargetState::Gone;
                }
            }
            if cap_hit {
                job.note(format!("a job follows at most {MAX_TARGETS} containers"));
            }
        })?;
        Ok(())
    }

    /// The containers of `pod` this job collects, as new targets.
    fn targets_of(&self, pod: &Pod, settings: &Settings) -> Vec<Target> {
        let r = &self.job.request;
        let ns = if pod.metadata.namespace.is_empty() {
            r.namespace.clone().unwrap_or_default()
        } else {
            pod.metadata.namespace.clone()
        };
        let config = settings.effective(&r.cluster_id, &ns);
        let annotation = config.map_or(settings::OPT_OUT, |c| c.opt_out_annotation.as_str());
        if !settings.collects(&r.cluster_id, &ns)
            || (!r.pods.is_empty() && !r.pods.contains(&pod.metadata.name))
            || pod
                .metadata
                .annotations
                .get(annotation)
                .is_some_and(|v| v == "false")
            || config.is_some_and(|c| {
                !settings::admitted(&c.include_pods, &c.exclude_pods, &pod.metadata.name)
            })
        {
            return Vec::new();
        }
        let start = match (
            self.job.kind,
            config.map(|c| c.start_at).unwrap_or_default(),
        ) {
            (JobKind::Continuous, StartAt::End) => 1, // replaced by "now" in merge
            (JobKind::Continuous, StartAt::Beginning) => 0,
            _ => r.since_ns.unwrap_or(0),
        };
        let node = pod.spec.node_name.clone().unwrap_or_default();
        pod.spec
            .containers
            .iter()
            .filter(|c| r.containers.is_empty() || r.containers.contains(&c.name))
            .filter(|c| {
                config.is_none_or(|k| {
                    settings::admitted(&k.include_containers, &k.exclude_containers, &c.name)
                })
            })
            .map(|c| Target {
                namespace: ns.clone(),
                pod: pod.metadata.name.clone(),
                container: c.name.clone(),
                node: node.clone(),
                labels: stream_labels(
                    &r.cluster_id,
                    &ns,
                    pod,
                    &c.name,
                    config.map(|k| &k.extra_labels),
                ),
                stream: None,
                // The instance before the running one first: the kubelet
                // may keep it (a 400 if not), and a range may reach into it.
                cursor: Cursor {
                    ts: start,
                    instance: pod.restarts(&c.name).saturating_sub(1),
                    ..Cursor::default()
                },
                state: TargetState::Active,
                budget: config.map_or(settings::DEFAULT_BUDGET, |k| k.budget_bytes),
                lines: 0,
                bytes: 0,
                gaps: 0,
                error: None,
            })
            .collect()
    }

    /// Pulls targets round robin from where the last step stopped, until
    /// all were visited or time is up; a full sweep of a continuous job is
    /// recorded as its cluster's freshness (the lag metric).
    fn sweep(&mut self, client: &Client, pods: &[Pod]) -> Result<(), Problem> {
        let n = self.job.targets.len();
        let start = if n == 0 { 0 } else { self.job.next % n };
        for k in 0..n {
            if k > 0 && Instant::now() >= self.deadline {
                let next = (start + k) % n;
                self.commit(|job| job.next = next)?;
                return Ok(());
            }
            let i = (start + k) % n;
            if !matches!(
                self.job.targets[i].state,
                TargetState::Active | TargetState::Waiting
            ) {
                continue;
            }
            let t = &self.job.targets[i];
            let pod = pods
                .iter()
                .find(|p| p.metadata.name == t.pod && p.metadata.namespace == t.namespace);
            if !self.visit(client, i, pod)? {
                return Ok(()); // stopped or taken over
            }
        }
        if self.job.kind == JobKind::Continuous {
            let cluster = self.job.request.cluster_id.clone();
            self.env
                .store
                .meta
                .set(&lag_key(&cluster), &now_micros().to_le_bytes())?;
        } else if self
            .job
            .targets
            .iter()
            .all(|t| !matches!(t.state, TargetState::Active))
        {
            self.commit(|job| {
                job.status = Status::Done;
                job.finished = Some(now_micros());
            })?;
        }
        Ok(())
    }

    /// Pulls target `i` and commits it if it moved.
    fn visit(&mut self, client: &Client, i: usize, pod: Option<&Pod>) -> Result<bool, Problem> {
        let mut t = self.job.targets[i].clone();
        let before = t.clone();
        let restarts = pod.map(|p| p.restarts(&t.container));
        self.pull(client, &mut t, restarts)?;
        if t == before {
            return Ok(true);
        }
        let cluster = self.job.request.cluster_id.clone();
        let kv = self.env.store.meta.as_ref();
        let (lines, bytes, gaps) = (
            t.lines - before.lines,
            t.bytes - before.bytes,
            t.gaps - before.gaps,
        );
        metrics::received(kv, metrics::SOURCES[1], &cluster, lines, bytes);
        metrics::add(kv, &collect_key("gaps", &cluster), gaps as i64);
        let failed = u64::from(
            t.error.is_some() && t.error != before.error && t.state == TargetState::Active,
        );
        metrics::add(kv, &collect_key("errors", &cluster), failed as i64);
        self.commit(|job| {
            if let Some(slot) = job.targets.get_mut(i) {
                *slot = t.clone();
            }
            job.stats.lines += lines;
            job.stats.bytes += bytes;
            job.stats.gaps += gaps;
            job.stats.errors += failed;
            if failed > 0
                && let Some(e) = &t.error
            {
                job.note(format!(
                    "{}/{}/{}: {} {}",
                    t.namespace, t.pod, t.container, e.code, e.message
                ));
            }
        })
    }

    /// One target's pulls for this step (see the module docs).
    fn pull(&self, client: &Client, t: &mut Target, restarts: Option<u32>) -> Result<(), Problem> {
        self.resync(t)?;
        let Some(restarts) = restarts else {
            t.state = TargetState::Gone; // no longer listed
            return Ok(());
        };
        let mut limit = t.budget;
        for _ in 0..ROUNDS {
            let previous = restarts > t.cursor.instance;
            if previous && restarts > t.cursor.instance + 1 {
                t.gaps += u64::from(restarts - t.cursor.instance - 1);
                t.cursor.instance = restarts - 1;
                t.cursor.at_ts = 0;
            }
            let path = pull::log_path(
                &t.namespace,
                &t.pod,
                &t.container,
                &t.cursor,
                limit,
                previous,
            );
            let body = match client.get(&path, "text/plain") {
                Ok(r) => r.body,
                Err(f) => {
                    self.refused(t, f, previous, restarts);
                    return Ok(());
                }
            };
            let taken = pull::take(
                &body,
                limit,
                &t.cursor,
                self.job.request.until_ns,
                limit >= MAX_LIMIT,
            );
            let moved = !taken.entries.is_empty();
            let (drained, past) = (taken.drained, taken.past_until);
            if !moved && !drained && taken.cursor == t.cursor {
                limit = (limit * 2).min(MAX_LIMIT);
                continue; // a second larger than the limit: ask for more
            }
            self.store(t, taken)?;
            t.state = TargetState::Active;
            t.error = None;
            if past {
                t.state = TargetState::Done;
                return Ok(());
            }
            if !drained {
                return Ok(()); // the budget of this step is spent
            }
            if previous {
                // `at_ts` counted lines of the drained instance's file; the
                // next one's lines at that instant are all new.
                t.cursor.instance = restarts;
                t.cursor.at_ts = 0;
                limit = t.budget;
                continue;
            }
            if self.job.kind != JobKind::Continuous {
                t.state = TargetState::Done;
            }
            return Ok(());
        }
        Ok(())
    }

    /// What an error answer means for a target: the previous instance is
    /// not kept (drained), the container waits, the pod is gone, or an error.
    fn refused(&self, t: &mut Target, f: Failure, previous: bool, restarts: u32) {
        let status = f.status();
        match (&f, status.code) {
            (Failure::Api(_), 400) if previous => {
                t.cursor.instance = restarts;
                t.cursor.at_ts = 0;
            }
            (Failure::Api(_), 400) => {
                t.state = if self.job.kind == JobKind::Continuous {
                    TargetState::Waiting
                } else {
                    TargetState::Done
                };
                t.error = Some(status);
            }
            (Failure::Api(_), 404) => {
                t.state = TargetState::Gone;
                t.error = Some(status);
            }
            _ => t.error = Some(status),
        }
    }

    /// A cursor whose stream grew without it (a step killed between its
    /// append and its commit) is read back from the stream.
    ///
    /// A target without a stream yet whose stream exists (an earlier job,
    /// or another running one, pulled the same container) starts after
    /// what it holds: a stream only grows in time order, so lines before
    /// its newest could not be stored, and those at or after it must not
    /// be stored twice.
    fn resync(&self, t: &mut Target) -> Result<(), Problem> {
        let adopting = t.stream.is_none();
        let id = match &t.stream {
            Some(id) => id.clone(),
            None => stream::stream_id(&t.labels),
        };
        let log = stream::log(self.env.store.clone(), &id);
        let Some(snap) = log.snapshot()? else {
            return Ok(());
        };
        if !adopting && snap.size() == t.cursor.size {
            return Ok(());
        }
        let Some(last) = snap.head().last_key else {
            return Ok(());
        };
        if adopting {
            t.stream = Some(id);
            if last < t.cursor.ts {
                t.cursor.size = snap.size();
                return Ok(());
            }
        }
        let (from, to) = stream::seek(&snap, last, last)?;
        let size = snap.size();
        let mut at = 0u32;
        for line in Rc::new(snap).lines_in(from, to) {
            if stream::key_of(&line?.text) == Some(last) {
                at += 1;
            }
        }
        t.cursor = Cursor {
            ts: last,
            at_ts: at,
            size,
            instance: t.cursor.instance,
        };
        Ok(())
    }

    /// Appends what a pull took to the target's stream, registering the
    /// stream with its first line; the cursor moves with the append.
    fn store(&self, t: &mut Target, taken: Taken) -> Result<(), Problem> {
        let Taken {
            entries, cursor, ..
        } = taken;
        if entries.is_empty() {
            t.cursor = Cursor {
                size: t.cursor.size,
                ..cursor
            };
            return Ok(());
        }
        let id = match &t.stream {
            Some(id) => id.clone(),
            None => stream::register(&self.env.store, &t.labels, entries[0].ts)?,
        };
        let mut bytes = Vec::new();
        for e in &entries {
            stream::encode(e, &mut bytes);
        }
        let log = stream::log(self.env.store.clone(), &id);
        let outcome = log.append_keyed(&bytes, None, stream::keys(&entries)).map_err(|e| match e {
            AppendError::OutOfOrder { last } => Problem::conflict(format!(
                "stream of {}/{}/{} holds entries up to {last}, after these: is it also pushed to?",
                t.namespace, t.pod, t.container
            )),
            other => Problem::internal(format!("{other:?}")),
        })?;
        t.stream = Some(id);
        t.lines += entries.len() as u64;
        t.bytes += bytes.len() as u64;
        t.cursor = Cursor {
            size: outcome.appended().size,
            ..cursor
        };
        Ok(())
    }

    fn error(&mut self, status: &ApiStatus) {
        let cluster = self.job.request.cluster_id.clone();
        metrics::add(
            self.env.store.meta.as_ref(),
            &collect_key("errors", &cluster),
            1,
        );
        let text = format!(
            "listing pods: {} {}: {}",
            status.code, status.reason, status.message
        );
        let _ = self.commit(|job| {
            job.stats.errors += 1;
            job.note(text.clone());
        });
    }

    fn fail(&mut self, why: String) -> Result<(), Problem> {
        self.commit(|job| {
            job.status = Status::Failed;
            job.finished = Some(now_micros());
            job.note(why.clone());
        })?;
        Ok(())
    }

    /// Gives the lease back with the step's time counted, and the index
    /// told the job's state.
    fn end(mut self, outcome: Result<(), Problem>) -> Result<(), Problem> {
        let busy = self.started.elapsed().as_micros() as u64;
        let cluster = self.job.request.cluster_id.clone();
        metrics::add(
            self.env.store.meta.as_ref(),
            &collect_key("runs", &cluster),
            1,
        );
        if let Err(p) = &outcome {
            let detail = p.detail.clone();
            let _ = self.commit(|job| job.note(detail.clone()));
        }
        let lease = self.lease.clone();
        let job = modify(self.env, &self.job.id, |job| {
            if job.lease.as_ref().is_none_or(|l| l.id != lease) {
                return Ok(false);
            }
            job.lease = None;
            job.stats.steps += 1;
            job.stats.busy_us += busy;
            Ok(true)
        })?;
        if let Some(job) = job {
            reindex(self.env, &job.id, Some(&job))?;
        }
        outcome
    }
}

/// A collection counter of `cluster`: `runs`, `errors` or `gaps`.
pub fn collect_key(what: &str, cluster: &str) -> String {
    format!("m/collect/{what}/{cluster}")
}

/// A pod's stream labels: the canonical ones, the pod's labels (names made
/// Loki-safe) and the configuration's extras, at most Loki's 15.
fn stream_labels(
    cluster: &str,
    ns: &str,
    pod: &Pod,
    container: &str,
    extra: Option<&BTreeMap<String, String>>,
) -> Labels {
    let mut l = Labels::new();
    l.insert("cluster".into(), cluster.into());
    l.insert("namespace".into(), ns.into());
    l.insert("pod".into(), pod.metadata.name.clone());
    l.insert("container".into(), container.into());
    if let Some(node) = pod.spec.node_name.as_ref().filter(|n| !n.is_empty()) {
        l.insert("node".into(), node.clone());
    }
    for (k, v) in extra.into_iter().flatten() {
        l.insert(k.clone(), v.clone());
    }
    for (k, v) in &pod.metadata.labels {
        let name = loki_name(k);
        if l.len() >= crate::model::push::MAX_LABELS {
            break;
        }
        if !v.is_empty() && v.len() <= crate::model::push::MAX_LABEL_VALUE {
            l.entry(name).or_insert_with(|| v.clone());
        }
    }
    l
}

/// `app.kubernetes.io/name` -> `app_kubernetes_io_name`.
fn loki_name(k: &str) -> String {
    let mut s = crate::model::stream::label_chars(k);
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) || s.starts_with("__") {
        s.insert(0, 'l');
    }
    s
}
