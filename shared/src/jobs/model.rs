//! What a log collection job is, as stored: one JSON record per job under
//! `job/{group}/{id}`, plus a per-group index of ids. The record is the whole
//! truth (sources, per-file progress, the archive's committed parts), and it
//! only changes by compare-and-swap, so a crashed step leaves the previous,
//! consistent record behind.

use crate::read::targz::GzState;
use crate::util::sha256::Sha256;
use crate::web::problem::Problem;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Job states are MongoDB's; children (one per file) use `New` too.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// A child not yet begun; a job itself starts `IN_PROGRESS`.
    New,
    /// Being collected: each request that reads or retries the job takes one step.
    InProgress,
    /// Finished with every file collected; the archive can be downloaded.
    Success,
    /// Finished with at least one file failed (see each child's `error`); the
    /// archive holds the others. For a child: this file failed.
    Failure,
    /// Past its expiration date: its archive is being deleted.
    MarkedForExpiry,
    /// Expired and its archive deleted; the record stays until deleted.
    Expired,
}

impl Status {
    /// As MongoDB spells it, and as the record stores it.
    pub fn name(self) -> &'static str {
        match self {
            Status::New => "NEW",
            Status::InProgress => "IN_PROGRESS",
            Status::Success => "SUCCESS",
            Status::Failure => "FAILURE",
            Status::MarkedForExpiry => "MARKED_FOR_EXPIRY",
            Status::Expired => "EXPIRED",
        }
    }
}

/// The body of `POST .../logCollectionJobs`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JobRequest {
    /// Task ids, exact.
    #[serde(default)]
    pub tasks: Vec<String>,
    /// Tasks whose labels include all of these.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Component (journal unit) names, as on `/component/{name}`.
    #[serde(default)]
    pub components: Vec<String>,
    /// RFC 3339 bounds: `since` inclusive, `until` exclusive.
    #[serde(default)]
    pub since: Option<String>,
    /// RFC 3339, exclusive; none: no upper bound.
    #[serde(default)]
    pub until: Option<String>,
    /// Keep at most this many bytes of each file: its most recent whole lines.
    #[serde(default)]
    pub size_requested_per_file_bytes: Option<u64>,
    /// Mask tokens, e-mail and IP addresses ([`crate::read::redact`]).
    #[serde(default)]
    pub redacted: bool,
    /// RFC 3339; default seven days after creation.
    #[serde(default)]
    pub expiration_date: Option<String>,
    /// MongoDB's `PROCESS` (`resourceName` is a task id), `REPLICASET` or
    /// `CLUSTER` (`resourceName` is an app: the tasks labelled `app=<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// What `resourceType` names: a task id (`PROCESS`) or an app name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// MongoDB's log types: `MONGODB` (the tasks' files), `AUTOMATION_AGENT`,
    /// `MONITORING_AGENT`, `BACKUP_AGENT` (the journal units
    /// `automation-agent`, ...), `FTDC` (accepted; spin-logs keeps no
    /// diagnostic data, so it adds nothing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_types: Vec<String>,
}

/// MongoDB's log types and the journal unit each agent's logs are under.
pub const LOG_TYPES: [(&str, Option<&str>); 5] = [
    ("MONGODB", None),
    ("FTDC", None),
    ("AUTOMATION_AGENT", Some("automation-agent")),
    ("MONITORING_AGENT", Some("monitoring-agent")),
    ("BACKUP_AGENT", Some("backup-agent")),
];

/// Where one archive entry comes from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum Origin {
    /// `file: None` is a whole task not yet resolved into its files.
    Task {
        /// The task's id.
        task: String,
        /// The file's name in the sandbox; `None` until the task is resolved.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<String>,
    },
    /// A component's journal entries.
    Component {
        /// The journal unit, as on `/component/{name}`.
        component: String,
    },
}

/// One file of the job: its entry in the archive and how far it has got.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Child {
    /// What the entry is read from.
    pub source: Origin,
    /// Path inside the archive (`<agent>/<task>/<file>`, `journal/<unit>/journal.log`).
    #[serde(default)]
    pub path: String,
    /// Where this file has got; `Failure` leaves the others going.
    pub status: Status,
    /// Why the file failed, for the job's reader; set with `Failure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The range it copies, fixed when it starts; `None` before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    /// Entry bytes already in committed parts.
    #[serde(default)]
    pub done: u64,
    /// Next source position to read (file offset, or journal offset).
    #[serde(default)]
    pub pos: u64,
    /// Running SHA-256 of the entry's bytes, carried from step to step.
    #[serde(default)]
    pub sha: Sha256,
    /// The entry's SHA-256 as lower-case hex, for the manifest: set on `Success`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The tar header is in a committed part.
    #[serde(default)]
    pub header_written: bool,
    /// Where the entry starts: the part and gzip state to roll back to if the
    /// file fails half-way (a tar entry cannot be cut short).
    #[serde(default)]
    pub first_part: usize,
    /// The gzip state before the entry's header: where a failed file rolls back to.
    #[serde(default)]
    pub gz_before: GzState,
    /// When the file was started, µs since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<u64>,
    /// When it succeeded or failed, µs since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<u64>,
}

impl Child {
    /// A child not yet begun, with no path yet.
    pub fn new(source: Origin) -> Self {
        Self {
            source,
            path: String::new(),
            status: Status::New,
            error: None,
            plan: None,
            done: 0,
            pos: 0,
            sha: Sha256::default(),
            sha256: None,
            header_written: false,
            first_part: 0,
            gz_before: GzState::default(),
            started: None,
            finished: None,
        }
    }

    /// Marks the child failed at `now` (µs) with `error`, discarding its progress
    /// but keeping its path, so the manifest still names it.
    pub fn fail(&mut self, error: impl Into<String>, now: u64) {
        let source = self.source.clone();
        let path = std::mem::take(&mut self.path);
        *self = Child::new(source);
        self.path = path;
        self.status = Status::Failure;
        self.error = Some(error.into());
        self.finished = Some(now);
    }
}

/// The byte range a child copies, fixed when it starts so the tar header's
/// size holds however the source grows meanwhile.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Plan {
    /// Source range: file offsets, or journal offsets for a component.
    pub from: u64,
    /// Source range end, exclusive (same unit as `from`).
    pub to: u64,
    /// Entry size; unknown for a component until its entries are counted.
    pub size: Option<u64>,
    /// A component's rendered bytes in `from..to`, once counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted: Option<u64>,
    /// Bytes counted (or skipped) so far by the pass in progress.
    #[serde(default)]
    pub acc: u64,
    /// Seconds since the epoch, for the tar header.
    pub mtime: u64,
    /// The per-file cap left out older lines.
    #[serde(default)]
    pub truncated: bool,
    /// A component's counting pass met at least one of its entries (in the
    /// window or not): a component with none at all does not exist.
    #[serde(default)]
    pub seen: bool,
}

/// One stored slice of the `.tar.gz`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Part {
    /// Blob key of the part (see [`part_key`], [`last_key`]).
    pub key: String,
    /// Bytes of `.tar.gz` it holds.
    pub size: u64,
}

/// The job's `.tar.gz` as built so far: committed parts in order, then the closing part.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Archive {
    /// Committed parts, in archive order.
    pub parts: Vec<Part>,
    /// The gzip stream's state after the last committed part: where the next part continues.
    pub gz: GzState,
    /// The closing part (manifest, tar end, gzip trailer): present once done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Part>,
}

impl Archive {
    /// Total bytes of the archive so far (the whole archive once `last` is set).
    pub fn size(&self) -> u64 {
        self.parts.iter().chain(&self.last).map(|p| p.size).sum()
    }

    /// Blob keys of every part, the closing one last: what deleting the archive removes.
    pub fn keys(&self) -> Vec<String> {
        self.parts
            .iter()
            .chain(&self.last)
            .map(|p| p.key.clone())
            .collect()
    }
}

/// The right to advance a job, held by one request at a time.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Lease {
    /// The step holding it: a random hex id, also in the part keys it writes.
    pub id: String,
    /// Microseconds since the epoch.
    pub until: u64,
}

/// A log collection job as stored at [`job_key`]: the request, its files'
/// progress and the archive so far.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// 24 hex digits, random; unique within the group.
    pub id: String,
    /// The group (MongoDB project) it belongs to, from the route.
    pub group_id: String,
    /// The uid of the caller who created it (`user:<uid>` callers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Microseconds since the epoch.
    pub creation_date: u64,
    /// When it expires, µs since the epoch: the archive is deleted after it.
    pub expiration_date: u64,
    /// When the job finished (success or failure), µs since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_date: Option<u64>,
    /// The job's state, MongoDB's names.
    pub status: Status,
    /// The body it was created with, as sent.
    pub request: JobRequest,
    /// The request's `since`, µs since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    /// The request's `until`, µs since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
    /// One per file, in archive order.
    pub children: Vec<Child>,
    /// The `.tar.gz` built so far.
    #[serde(default)]
    pub archive: Archive,
    /// Which request is advancing the job, if one is; none once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// Bumped by each retry: the archive changes, so does its ETag.
    #[serde(default)]
    pub version: u32,
}

impl Job {
    /// Reads a stored record; a record that does not parse is a 500.
    pub fn parse(bytes: &[u8]) -> Result<Self, Problem> {
        serde_json::from_slice(bytes).map_err(|e| Problem::internal(format!("job record: {e}")))
    }

    /// The record as stored.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Problem> {
        serde_json::to_vec(self).map_err(Problem::internal)
    }

    /// Whether there is a whole archive to download: finished (success or
    /// failure) and closed.
    pub fn downloadable(&self) -> bool {
        matches!(self.status, Status::Success | Status::Failure) && self.archive.last.is_some()
    }
}

/// Meta key of job `id`'s record in `group`.
pub fn job_key(group: &str, id: &str) -> String {
    format!("job/{group}/{id}")
}

/// Meta key of `group`'s index of job ids.
pub fn index_key(group: &str) -> String {
    format!("jobs/{group}")
}

/// Blob key of archive part `seq` written under `lease`: the lease id keeps a
/// slow step whose lease ran out from overwriting its successor's part.
pub fn part_key(job: &str, seq: usize, lease: &str) -> String {
    format!("jobpart/{job}/{seq}-{lease}")
}

/// Blob key of the closing part (manifest, tar end, gzip trailer) written under `lease`.
pub fn last_key(job: &str, lease: &str) -> String {
    format!("jobpart/{job}/last-{lease}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_name_is_its_stored_form() {
        for s in [
            Status::New,
            Status::InProgress,
            Status::Success,
            Status::Failure,
            Status::MarkedForExpiry,
            Status::Expired,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
        }
    }
}
