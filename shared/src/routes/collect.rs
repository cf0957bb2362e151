//! Collection jobs (the Kubernetes logs API's Log Collection endpoints,
//! under `/k8s/v1/collect`): jobs that pull pods' logs from a cluster's API
//! server into the store, stepped by their readers or a cron. The clusters
//! they pull from and what is collected are [`super::clusters`]'.

use super::clusters::{CLUSTERS, READ, WRITE};
use super::{BASE, Body, Class, Endpoint, Family, JSON, Kind, Param, Row, Rule, Verb};
use crate::config::vars;

/// A `collect` route. A job is named in the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collect {
    /// A one-time, bulk or continuous collection.
    Start(JobKind),
    /// `GET /k8s/v1/collect/jobs`: jobs with progress (`?status=` filters).
    Jobs,
    /// `GET /k8s/v1/collect/jobs/{job_id}`: one job, advanced by a step if it
    /// is running.
    Job(String),
    /// `POST /k8s/v1/collect/jobs/{job_id}/stop`: stop a job; what it pulled
    /// stays.
    StopJob(String),
    /// `DELETE /k8s/v1/collect/jobs/{job_id}`: forget a stopped or finished
    /// job (409 while it runs).
    DeleteJob(String),
    /// Advance every running job by a step (what a cron sends).
    Step,
}

/// What a collection job covers and when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Chosen pods or a selector over a time range; done at its end.
    Once,
    /// Every pod of a namespace or a cluster; done at the end.
    Bulk,
    /// Keeps collecting, new pods too, until stopped.
    Continuous,
}

const PULL: Rule = Rule::needs(&[CLUSTERS], Class::Heavy);

/// The family.
pub static FAMILY: Family<Collect> = Family {
    component: "collect",
    summary: "collection jobs: pulls of pods' logs from clusters' API servers",
    spin_routes: &["/k8s/v1/collect/..."],
    aliases: &[],
    variables: &[BASE[0], BASE[1], BASE[2], vars::K8S],
    profile: super::Profile::Small,
    rows: ROWS,
};

const ROWS: &[Row<Collect>] = &[
    Row {
        endpoint: Endpoint::new(
            Verb::Post,
            "/k8s/v1/collect",
            PULL,
            "pull chosen pods' logs (or a selector's) over a time range; runs to the end",
        )
        .takes(JSON)
        .answers(201, JSON)
        .errors(&[409]),
        make: |_| Ok(Collect::Start(JobKind::Once)),
    },
    Row {
        endpoint: Endpoint::new(
            Verb::Post,
            "/k8s/v1/collect/bulk",
            PULL,
            "pull every pod of a namespace or a cluster",
        )
        .takes(JSON)
        .answers(201, JSON)
        .errors(&[409]),
        make: |_| Ok(Collect::Start(JobKind::Bulk)),
    },
    Row {
        endpoint: Endpoint::new(
            Verb::Post,
            "/k8s/v1/collect/continuous",
            PULL,
            "keep pulling a namespace or a cluster, new pods too, until stopped",
        )
        .takes(JSON)
        .answers(201, JSON)
        .errors(&[409]),
        make: |_| Ok(Collect::Start(JobKind::Continuous)),
    },
    Row {
        endpoint: Endpoint::new(
            Verb::Get,
            "/k8s/v1/collect/jobs",
            READ,
            "collection jobs with progress, per-target state and errors (?status=)",
        )
        .answers(200, JSON)
        .params(&[Param::query("status", "jobs in this state")
            .of(Kind::OneOf(&["running", "done", "stopped", "failed"]))]),
        make: |_| Ok(Collect::Jobs),
    },
    Row {
        endpoint: Endpoint::new(
            Verb::Post,
            "/k8s/v1/collect/step",
            PULL,
            "advance every running job by one step (what a cron sends)",
        )
        .answers(200, JSON),
        make: |_| Ok(Collect::Step),
    },
    Row {
        endpoint: Endpoint::new(
            Verb::Get,
            "/k8s/v1/collect/jobs/:job_id",
            READ,
            "one job, advanced by a step if it is running",
        )
        .answers(200, JSON),
        make: |p| Ok(Collect::Job(p.get("job_id")?)),
    },
    Row {
        endpoint: Endpoint::new(
            Verb::Post,
            "/k8s/v1/collect/jobs/:job_id/stop",
            WRITE,
            "stop a job; what it pulled stays",
        )
        .answers(200, JSON),
        make: |p| Ok(Collect::StopJob(p.get("job_id")?)),
    },
    Row {
        endpoint: Endpoint::new(
            Verb::Delete,
            "/k8s/v1/collect/jobs/:job_id",
            WRITE,
            "forget a stopped or finished job",
        )
        .answers(204, Body::NONE)
        .errors(&[409]),
        make: |p| Ok(Collect::DeleteJob(p.get("job_id")?)),
    },
];
