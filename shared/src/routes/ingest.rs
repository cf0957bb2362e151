//! The write path: task metadata, sandbox file appends, journal entries,
//! Loki's push (labelled streams from Promtail, Alloy, Fluent Bit, Vector)
//! and OpenTelemetry logs (OTLP/HTTP, as Loki 3 takes them).

use super::{
    BASE, Body, Class, Endpoint, Family, INGEST, JSON, Param, Row, Rule, SYSTEM_LOGS, Verb,
};
use crate::config::vars;

/// The ingest prefix of the DC/OS logs API.
pub const PREFIX: &str = "/system/v1/logs/v2/ingest";

/// An `ingest` route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingest {
    /// Register or update a task's metadata.
    PutTask {
        /// The task's id, from the path.
        task_id: String,
    },
    /// A task's stored metadata.
    GetTask {
        /// The task's id, from the path.
        task_id: String,
    },
    /// Lines for one sandbox file.
    AppendFile {
        /// The task's id, from the path.
        task_id: String,
        /// The file's name in its sandbox (`stdout`, `stderr`, ...).
        file: String,
    },
    /// Journal entries.
    AppendJournal,
    /// Loki's push.
    LokiPush,
    /// OpenTelemetry logs, OTLP/HTTP.
    OtlpLogs,
}

const WRITE: Rule = Rule::needs(&[INGEST], Class::Ingest);
const LINES: Body = Body::media("text/plain");
const NDJSON: Body = Body::media("application/x-ndjson");
const IDEMPOTENT: &[Param] = &[Param::header(
    "Idempotency-Key",
    "a retry with the same key and body is stored once",
)];

/// The family.
pub static FAMILY: Family<Ingest> = Family {
    component: "ingest",
    summary: "the write path: task metadata, file and journal appends, Loki push, OTLP logs",
    spin_routes: &[
        "/system/v1/logs/v2/ingest/...",
        "/loki/api/v1/push",
        "/otlp/v1/logs",
    ],
    aliases: &[],
    variables: &[BASE[0], BASE[1], BASE[2], vars::IDEMPOTENCY],
    profile: super::Profile::Deflate,
    rows: &[
        Row {
            endpoint: Endpoint::new(
                Verb::Put,
                "/system/v1/logs/v2/ingest/tasks/:task_id",
                WRITE,
                "register or update a task (201 the first time, 200 on update)",
            )
            .takes(Body::json("TaskSpec"))
            .answers(201, Body::json("Task")),
            make: |p| Ok(Ingest::PutTask { task_id: p.get("task_id")? }),
        },
        Row {
            // Shippers read their registration back; readers see it anyway
            // through discovery.
            endpoint: Endpoint::new(
                Verb::Get,
                "/system/v1/logs/v2/ingest/tasks/:task_id",
                Rule::needs(&[INGEST, SYSTEM_LOGS], Class::Ingest),
                "a task's stored metadata",
            )
            .answers(200, Body::json("Task")),
            make: |p| Ok(Ingest::GetTask { task_id: p.get("task_id")? }),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Post,
                "/system/v1/logs/v2/ingest/tasks/:task_id/files/:filename",
                WRITE,
                "append lines to a sandbox file: text/plain, or NDJSON {\"line\": ...} records; Idempotency-Key makes a retry a no-op",
            )
            .takes(LINES)
            .answers(200, JSON)
            .params(IDEMPOTENT)
            .errors(&[422, 503]),
            make: |p| {
                Ok(Ingest::AppendFile {
                    task_id: p.get("task_id")?,
                    file: p.get("filename")?,
                })
            },
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Post,
                "/system/v1/logs/v2/ingest/component",
                WRITE,
                "append journal entries (NDJSON, journald field names)",
            )
            .takes(NDJSON)
            .answers(200, JSON)
            .params(IDEMPOTENT)
            .errors(&[422, 503]),
            make: |_| Ok(Ingest::AppendJournal),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Post,
                "/loki/api/v1/push",
                WRITE,
                "Loki push: snappy protobuf or JSON (gzip too), labelled streams",
            )
            .takes(Body::media("application/x-protobuf"))
            .answers(204, Body::NONE)
            .errors(&[422, 503]),
            make: |_| Ok(Ingest::LokiPush),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Post,
                "/otlp/v1/logs",
                WRITE,
                "OpenTelemetry logs (OTLP/HTTP): protobuf or JSON (gzip too), mapped to streams as Loki 3 maps them",
            )
            .takes(Body::media("application/x-protobuf"))
            .answers(204, Body::NONE)
            .params(IDEMPOTENT)
            .errors(&[422, 503]),
            make: |_| Ok(Ingest::OtlpLogs),
        },
    ],
};
