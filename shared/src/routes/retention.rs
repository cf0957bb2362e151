//! Retention (the Kubernetes logs API's Archive Management and S3 Storage
//! endpoints): archive policies and their stepped runs, the archive catalog,
//! and the storage in use.

use super::{
    ARCHIVE, BASE, Body, Class, Endpoint, Family, JSON, Kind, Param, Row, Rule, SYSTEM_LOGS, Verb,
};
use crate::config::vars;

/// The Kubernetes logs API's base path (`../shared/seeds/k8s-logs-api.txt`).
pub const K8S: &str = "/k8s/v1";

/// A `retention` route. Which policy, run or object is in the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// `GET .../archive/policies`: every policy, or one (`?id=`).
    ListPolicies,
    /// `POST .../archive/policies`: a new policy from the body.
    CreatePolicy,
    /// `PUT .../archive/policies?id=`: replace a policy, keeping its id and creation time.
    ReplacePolicy,
    /// `DELETE .../archive/policies?id=`: remove a policy (its runs and objects stay).
    DeletePolicy,
    /// Start or advance a run.
    Start,
    /// The runs.
    Runs,
    /// Archive objects by labels and time.
    S3Metadata,
    /// One object's lines.
    S3Content,
    /// Objects, bytes and ratio by namespace.
    S3Stats,
    /// Backends, buckets, hot and archived bytes.
    StorageInfo,
}

/// Looking at policies and runs, and reading archived objects, is a read of
/// logs; policies and runs change what is kept: the archive permission.
const READ: Rule = Rule::needs(&[ARCHIVE, SYSTEM_LOGS], Class::Standard);
const WRITE: Rule = Rule::needs(&[ARCHIVE], Class::Standard);
const ID: &[Param] = &[Param::query("id", "one policy")];
const ID_REQUIRED: &[Param] = &[Param::query("id", "the policy").required()];

/// The family.
pub static FAMILY: Family<Retention> = Family {
    component: "retention",
    summary: "archive policies and runs, the archive catalog, storage in use",
    spin_routes: &["/k8s/v1/archive/...", "/k8s/v1/s3/...", "/k8s/v1/storage/info"],
    aliases: &[],
    variables: &[BASE[0], BASE[1], BASE[2], vars::RETENTION],
    profile: super::Profile::Small,
    rows: &[
        Row {
            endpoint: Endpoint::new(Verb::Get, "/k8s/v1/archive/policies", READ, "archive policies (?id= for one)")
                .answers(200, JSON)
                .params(ID),
            make: |_| Ok(Retention::ListPolicies),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Post,
                "/k8s/v1/archive/policies",
                WRITE,
                "create an archive policy: which tasks (by labels) or the journal, archive after an age, compression, delete after an age",
            )
            .takes(JSON)
            .answers(201, JSON)
            .errors(&[409]),
            make: |_| Ok(Retention::CreatePolicy),
        },
        Row {
            endpoint: Endpoint::new(Verb::Put, "/k8s/v1/archive/policies", WRITE, "replace an archive policy (?id=)")
                .takes(JSON)
                .answers(200, JSON)
                .params(ID_REQUIRED)
                .errors(&[409]),
            make: |_| Ok(Retention::ReplacePolicy),
        },
        Row {
            endpoint: Endpoint::new(Verb::Delete, "/k8s/v1/archive/policies", WRITE, "delete an archive policy (?id=)")
                .answers(204, Body::NONE)
                .params(ID_REQUIRED),
            make: |_| Ok(Retention::DeletePolicy),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Post,
                "/k8s/v1/archive/start",
                Rule::needs(&[ARCHIVE], Class::Heavy),
                "start or advance archive runs (each call is one step)",
            )
            .answers(202, JSON)
            .errors(&[409]),
            make: |_| Ok(Retention::Start),
        },
        Row {
            endpoint: Endpoint::new(Verb::Get, "/k8s/v1/archive/jobs", READ, "archive runs (?id= for one)")
                .answers(200, JSON)
                .params(&[
                    Param::query("id", "one run"),
                    Param::query("policy_id", "the runs of one policy"),
                    Param::query("status", "runs in this state").of(Kind::OneOf(&["RUNNING", "DRAINING", "DONE"])),
                ]),
            make: |_| Ok(Retention::Runs),
        },
        Row {
            endpoint: Endpoint::new(Verb::Get, "/k8s/v1/s3/metadata", READ, "archive objects by labels and time")
                .answers(200, JSON)
                .params(&[
                    Param::query("labels", "k=v,k2=v2"),
                    Param::query("namespace", "the namespace label"),
                    Param::query("task_id", "one task's objects"),
                    Param::query("file", "one file's objects"),
                    Param::query("policy_id", "objects one policy archived"),
                    Param::query("source", "task or journal"),
                    Param::query("since", "RFC 3339: objects that end after it"),
                    Param::query("until", "RFC 3339: objects that start before it"),
                    Param::query("limit", "objects a page (1 to 1000)").of(Kind::Integer),
                    Param::query("cursor", "next_cursor of the previous page"),
                    Param::query("include_deleted", "list deleted objects too").of(Kind::Boolean),
                ]),
            make: |_| Ok(Retention::S3Metadata),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/k8s/v1/s3/content",
                READ,
                "one archive object's lines (?id=; Range), or its .gz",
            )
            .answers(200, Body::media("text/plain"))
            .params(&[
                Param::query("id", "the object").required(),
                Param::query("format", "gzip: the stored .gz").of(Kind::OneOf(&["gzip"])),
                Param::header("Range", "bytes=N-M: part of the lines (206)"),
            ])
            .errors(&[410, 416]),
            make: |_| Ok(Retention::S3Content),
        },
        Row {
            endpoint: Endpoint::new(Verb::Get, "/k8s/v1/s3/stats", READ, "archive objects, bytes and ratio by namespace")
                .answers(200, JSON),
            make: |_| Ok(Retention::S3Stats),
        },
        Row {
            endpoint: Endpoint::new(Verb::Get, "/k8s/v1/storage/info", READ, "the backends, buckets, hot and archived bytes")
                .answers(200, JSON),
            make: |_| Ok(Retention::StorageInfo),
        },
    ],
};
