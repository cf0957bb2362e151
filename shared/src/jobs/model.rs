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
    New,
    InProgress,
    Success,
    Failure,
    MarkedForExpiry,
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
        task: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<String>,
    },
    Component {
        component: String,
    },
}

/// One file of the job: its entry in the archive and how far it has got.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Child {
    pub source: Origin,
    /// Path inside the archive (`<agent>/<task>/<file>`, `journal/<unit>/journal.log`).
    #[serde(default)]
    pub path: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    /// Entry bytes already in committed parts.
    #[serde(default)]
    pub done: u64,
    /// Next source position to read (file offset, or journal offset).
    #[serde(default)]
    pub pos: u64,
    #[serde(default)]
    pub sha: Sha256,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The tar header is in a committed part.
    #[serde(default)]
    pub header_written: bool,
    /// Where the entry starts: the part and gzip state to roll back to if the
    /// file fails half-way (a tar entry cannot be cut short).
    #[serde(default)]
    pub first_part: usize,
    #[serde(default)]
    pub gz_before: GzState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<u64>,
}

impl Child {
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
    pub key: String,
    pub size: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Archive {
    pub parts: Vec<Part>,
    pub gz: GzState,
    /// The closing part (manifest, tar end, gzip trailer): present once done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Part>,
}

impl Archive {
    pub fn size(&self) -> u64 {
        self.parts.iter().chain(&self.last).map(|p| p.size).sum()
    }

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
    pub id: String,
    /// Microseconds since the epoch.
    pub until: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: String,
    pub group_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Microseconds since the epoch.
    pub creation_date: u64,
    pub expiration_date: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_date: Option<u64>,
    pub status: Status,
    pub request: JobRequest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
    pub children: Vec<Child>,
    #[serde(default)]
    pub archive: Archive,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// Bumped by each retry: the archive changes, so does its ETag.
    #[serde(default)]
    pub version: u32,
}

impl Job {
    pub fn parse(bytes: &[u8]) -> Result<Self, Problem> {
        serde_json::from_slice(bytes).map_err(|e| Problem::internal(format!("job record: {e}")))
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, Problem> {
        serde_json::to_vec(self).map_err(Problem::internal)
    }

    pub fn downloadable(&self) -> bool {
        matches!(self.status, Status::Success | Status::Failure) && self.archive.last.is_some()
    }
}

pub fn job_key(group: &str, id: &str) -> String {
    format!("job/{group}/{id}")
}

pub fn index_key(group: &str) -> String {
    format!("jobs/{group}")
}

/// Blob key of archive part `seq` written under `lease`: the lease id keeps a
/// slow step whose lease ran out from overwriting its successor's part.
pub fn part_key(job: &str, seq: usize, lease: &str) -> String {
    format!("jobpart/{job}/{seq}-{lease}")
}

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
