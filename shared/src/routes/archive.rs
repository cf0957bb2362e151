//! Whole files and archives: a sandbox file as a download (`Range`,
//! `If-Range`, `ETag`), a whole sandbox as a streamed `.tar.gz`, and
//! MongoDB-style log collection jobs that gather many into one archive.

use super::{
    AGENT, BASE, Body, Class, Endpoint, Family, JOBS, JSON, Kind, Param, Row, Rule, TokenTarget,
    Verb,
};
use crate::config::vars;
use crate::web::path::{AgentPath, Params};
use crate::web::problem::Problem;

/// MongoDB's log-collection-job routes, as its API documents them.
pub const JOBS_PREFIX: &str = "/api/public/v1.0/groups";
/// The same routes under spin-logs' first prefix, kept as an alias.
pub const JOBS_ALIAS: &str = "/api/v1/groups";

/// An `archive` route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Archive {
    /// One sandbox file as an attachment.
    Download {
        /// The sandbox, from the agent route.
        run: AgentPath,
        /// The file's name in the sandbox.
        file: String,
    },
    /// The whole sandbox as one `.tar.gz`.
    Sandbox {
        /// The sandbox, from the agent route.
        run: AgentPath,
    },
    /// A log collection job route of `group`.
    Job {
        /// The MongoDB project (group) id from the path: jobs are kept per group.
        group: String,
        /// What is asked of its jobs.
        op: JobOp,
    },
}

/// What is asked of a group's log collection jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOp {
    /// Create a job from the body (and take its first step).
    Create,
    /// A page of the group's jobs, newest first.
    List,
    /// Poll one job (which advances it by a step).
    Get(String),
    /// Extend its expiration.
    Extend(String),
    /// Remove the job and its archive.
    Delete(String),
    /// Collect its failed files again.
    Retry(String),
    /// Its archive, whole or in ranges.
    Download(String),
    /// A URL token for its download.
    Token(String),
}

const FILE: Rule = Rule::needs(&[AGENT], Class::Standard).token(TokenTarget::Agent);
/// A whole sandbox streams a whole archive.
const SANDBOX: Rule = Rule::needs(&[AGENT], Class::Heavy).token(TokenTarget::Agent);
const JOB: Rule = Rule::needs(&[JOBS], Class::Standard);
/// Creating or retrying a job starts a collection; a download streams a
/// whole archive.
const JOB_HEAVY: Rule = Rule::needs(&[JOBS], Class::Heavy);
const OCTETS: Body = Body::media("application/octet-stream");
const RANGE: &[Param] = &[
    Param::header("Range", "bytes=N-M: part of the file (206)"),
    Param::header("If-Range", "the ETag the Range was taken against"),
    Param::header("If-None-Match", "an ETag: 304 if unchanged"),
];
const GZIP: Body = Body::media("application/gzip");

fn download(p: &Params) -> Result<Archive, Problem> {
    Ok(Archive::Download {
        run: AgentPath::from_params(p)?,
        file: p.get("filename")?,
    })
}

fn sandbox(p: &Params) -> Result<Archive, Problem> {
    Ok(Archive::Sandbox {
        run: AgentPath::from_params(p)?,
    })
}

fn job(p: &Params, op: JobOp) -> Result<Archive, Problem> {
    Ok(Archive::Job {
        group: p.get("group_id")?,
        op,
    })
}

const JOBS_PATH: &str = "/api/public/v1.0/groups/:group_id/logCollectionJobs";

/// The family.
pub static FAMILY: Family<Archive> = Family {
    component: "archive",
    summary: "file downloads, sandbox .tar.gz archives, log collection jobs",
    spin_routes: &[
        "/system/v1/agent/:agent_id/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/:filename/download",
        "/system/v1/agent/:agent_id/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/tasks/:task_id/:filename/download",
        "/system/v1/agent/:agent_id/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/files/archive",
        "/system/v1/agent/:agent_id/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/tasks/:task_id/files/archive",
        "/api/public/v1.0/groups/:group_id/logCollectionJobs/...",
        "/api/v1/groups/:group_id/logCollectionJobs/...",
    ],
    aliases: &[(JOBS_ALIAS, JOBS_PREFIX)],
    variables: &[BASE[0], BASE[1], BASE[2], vars::ARCHIVES, vars::TOKENS],
    profile: super::Profile::Deflate,
    rows: &[
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/system/v1/agent/:agent_id/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/:filename/download",
                FILE,
                "download a sandbox file (Range, If-Range, ETag)",
            )
            .answers(200, OCTETS)
            .params(RANGE)
            .errors(&[416]),
            make: download,
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/system/v1/agent/:agent_id/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/tasks/:task_id/:filename/download",
                FILE,
                "download a pod task's sandbox file (Range, If-Range, ETag)",
            )
            .answers(200, OCTETS)
            .params(RANGE)
            .errors(&[416]),
            make: download,
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/system/v1/agent/:agent_id/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/files/archive",
                SANDBOX,
                "the sandbox as a streamed .tar.gz",
            )
            .answers(200, GZIP)
            .errors(&[413]),
            make: sandbox,
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/system/v1/agent/:agent_id/logs/v2/task/frameworks/:framework_id/executors/:executor_id/runs/:container_id/tasks/:task_id/files/archive",
                SANDBOX,
                "a pod task's sandbox as a streamed .tar.gz",
            )
            .answers(200, GZIP)
            .errors(&[413]),
            make: sandbox,
        },
        Row {
            endpoint: Endpoint::new(Verb::Post, JOBS_PATH, JOB_HEAVY, "create a log collection job")
                .takes(Body::json("JobRequest"))
                .answers(201, JSON),
            make: |p| job(p, JobOp::Create),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                JOBS_PATH,
                JOB,
                "list the group's log collection jobs (pageNum, itemsPerPage)",
            )
            .answers(200, JSON)
            .params(&[
                Param::query("pageNum", "the page, from 1").of(Kind::Integer),
                Param::query("itemsPerPage", "jobs a page").of(Kind::Integer),
            ]),
            make: |p| job(p, JobOp::List),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/api/public/v1.0/groups/:group_id/logCollectionJobs/:job_id",
                JOB,
                "one job (a poll advances it by one step)",
            )
            .answers(200, JSON),
            make: |p| job(p, JobOp::Get(p.get("job_id")?)),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Patch,
                "/api/public/v1.0/groups/:group_id/logCollectionJobs/:job_id",
                JOB,
                "extend a job's expiration ({\"expirationDate\": ...})",
            )
            .takes(JSON)
            .answers(200, JSON),
            make: |p| job(p, JobOp::Extend(p.get("job_id")?)),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Delete,
                "/api/public/v1.0/groups/:group_id/logCollectionJobs/:job_id",
                JOB,
                "delete a job and its archive",
            )
            .answers(204, Body::NONE),
            make: |p| job(p, JobOp::Delete(p.get("job_id")?)),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Put,
                "/api/public/v1.0/groups/:group_id/logCollectionJobs/:job_id/retry",
                JOB_HEAVY,
                "collect a job's failed files again",
            )
            .answers(200, JSON),
            make: |p| job(p, JobOp::Retry(p.get("job_id")?)),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/api/public/v1.0/groups/:group_id/logCollectionJobs/:job_id/download",
                JOB_HEAVY.token(TokenTarget::JobDownload),
                "download a job's archive (.tar.gz; Range, If-Range, ETag)",
            )
            .answers(200, GZIP)
            .params(&[
                Param::header("Range", "bytes=N-M: part of the archive (206)"),
                Param::header("If-Range", "the ETag the Range was taken against"),
                Param::query("token", "a URL token from .../{job_id}/token"),
            ])
            .errors(&[409, 410, 416]),
            make: |p| job(p, JobOp::Download(p.get("job_id")?)),
        },
        Row {
            // Minting a download token is a POST that starts nothing.
            endpoint: Endpoint::new(
                Verb::Post,
                "/api/public/v1.0/groups/:group_id/logCollectionJobs/:job_id/token",
                JOB,
                "a URL token that reads this job's download and nothing else",
            )
            .takes(Body::json("TokenRequest"))
            .answers(201, JSON),
            make: |p| job(p, JobOp::Token(p.get("job_id")?)),
        },
    ],
};
