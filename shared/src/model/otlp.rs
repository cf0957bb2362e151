//! OpenTelemetry logs (OTLP/HTTP, `POST /otlp/v1/logs`), mapped to labelled
//! streams as Loki 3 maps them (`pkg/loghttp/push/otlp.go`,
//! `otlplabels/labels.go`), so an OpenTelemetry SDK or Collector ships here
//! unchanged and Grafana reads the result as it reads Loki's:
//!
//! - the resource attributes Loki indexes by default ([`INDEX_ATTRIBUTES`])
//!   become stream labels, named as Prometheus names them (`.` and every
//!   other character outside `[a-zA-Z0-9_]` become `_`: `service.name` is
//!   `service_name`); every other attribute (resource, scope, record)
//!   becomes structured metadata, a map flattened as `parent_child`;
//! - `service_name` is `service.name`, else the first of Loki's service
//!   sources among the labels, else `unknown_service`;
//! - each record is an entry: its time (or observed time, or now), its body
//!   as text, and in its metadata the severity, trace and span ids, the
//!   scope's name and version; `detected_level` follows from the severity
//!   (`model::derive`).
//!
//! Both encodings are read: protobuf (`application/x-protobuf`, messages
//! derived by hand from opentelemetry-proto as `model::push` does for Loki)
//! and OTLP/JSON (`application/json`: lowerCamelCase or proto field names,
//! 64-bit integers as strings or numbers, trace and span ids in hex). The
//! request is checked whole, as a Loki push is, before anything is stored.

use super::derive::{SERVICE_NAME, SERVICE_NAME_SOURCES, UNKNOWN_SERVICE};
use super::push::{self, StreamBatch};
use super::stream::{Entry, canonical};
use crate::logql::Labels;
use crate::web::problem::Problem;
use base64::Engine;
use http::StatusCode;
use proto::{AnyValue, KeyValue, LogRecord, any_value::Value as Any};
use serde_json::{Map, Value};

/// Resource attributes Loki 3 promotes to stream labels by default
/// (`-distributor.otlp.default_resource_attributes_as_index_labels`).
pub const INDEX_ATTRIBUTES: [&str; 18] = [
    "service.name",
    "service.namespace",
    "service.instance.id",
    "deployment.environment",
    "deployment.environment.name",
    "cloud.region",
    "cloud.availability_zone",
    "k8s.cluster.name",
    "k8s.namespace.name",
    "k8s.pod.name",
    "k8s.container.name",
    "container.name",
    "k8s.replicaset.name",
    "k8s.deployment.name",
    "k8s.statefulset.name",
    "k8s.daemonset.name",
    "k8s.cronjob.name",
    "k8s.job.name",
];

/// The OTLP logs messages (opentelemetry-proto `collector/logs/v1`,
/// `logs/v1`, `common/v1`, `resource/v1`), field for field.
pub mod proto {
    /// The body of `POST /otlp/v1/logs`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ExportLogsServiceRequest {
        /// The records, grouped by the resource that emitted them.
        #[prost(message, repeated, tag = "1")]
        pub resource_logs: Vec<ResourceLogs>,
    }
    /// One resource's records: one stream here.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResourceLogs {
        /// What emitted them; its attributes make the stream's labels.
        #[prost(message, optional, tag = "1")]
        pub resource: Option<Resource>,
        /// The records, grouped by instrumentation scope.
        #[prost(message, repeated, tag = "2")]
        pub scope_logs: Vec<ScopeLogs>,
        /// The semantic conventions' version; ignored.
        #[prost(string, tag = "3")]
        pub schema_url: String,
    }
    /// The entity that emitted records (a service, a pod, a host).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Resource {
        /// [`INDEX_ATTRIBUTES`](super::INDEX_ATTRIBUTES) become labels, the
        /// others every record's structured metadata.
        #[prost(message, repeated, tag = "1")]
        pub attributes: Vec<KeyValue>,
        /// Attributes the sender dropped; ignored.
        #[prost(uint32, tag = "2")]
        pub dropped_attributes_count: u32,
    }
    /// One instrumentation scope's records.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ScopeLogs {
        /// The library that logged them; named in every record's metadata.
        #[prost(message, optional, tag = "1")]
        pub scope: Option<InstrumentationScope>,
        /// The records: one entry each.
        #[prost(message, repeated, tag = "2")]
        pub log_records: Vec<LogRecord>,
        /// The semantic conventions' version; ignored.
        #[prost(string, tag = "3")]
        pub schema_url: String,
    }
    /// The library that logged, as metadata `scope_name`, `scope_version`,
    /// `scope_dropped_attributes_count` and its flattened attributes.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct InstrumentationScope {
        /// `scope_name`.
        #[prost(string, tag = "1")]
        pub name: String,
        /// `scope_version`.
        #[prost(string, tag = "2")]
        pub version: String,
        /// Structured metadata of each of its records.
        #[prost(message, repeated, tag = "3")]
        pub attributes: Vec<KeyValue>,
        /// `scope_dropped_attributes_count`, when not 0.
        #[prost(uint32, tag = "4")]
        pub dropped_attributes_count: u32,
    }
    /// One log record: one entry.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LogRecord {
        /// When it happened, ns since the epoch; 0: unknown (the observed
        /// time is used, else the time of the push).
        #[prost(fixed64, tag = "1")]
        pub time_unix_nano: u64,
        /// When a collector saw it, ns; metadata `observed_timestamp` when
        /// both times are given.
        #[prost(fixed64, tag = "11")]
        pub observed_time_unix_nano: u64,
        /// `SeverityNumber`: 0 unspecified, 1-24 TRACE..FATAL4.
        #[prost(int32, tag = "2")]
        pub severity_number: i32,
        /// The level as the source spelt it (`WARN`); metadata `severity_text`.
        #[prost(string, tag = "3")]
        pub severity_text: String,
        /// The message: the entry's line (non-strings as JSON or base64).
        #[prost(message, optional, tag = "5")]
        pub body: Option<AnyValue>,
        /// The record's own structured metadata.
        #[prost(message, repeated, tag = "6")]
        pub attributes: Vec<KeyValue>,
        /// Metadata `dropped_attributes_count`, when not 0.
        #[prost(uint32, tag = "7")]
        pub dropped_attributes_count: u32,
        /// W3C trace flags (bit 0: sampled); metadata `flags`, when not 0.
        #[prost(fixed32, tag = "8")]
        pub flags: u32,
        /// 16 bytes, or empty; metadata `trace_id`, in hex.
        #[prost(bytes = "vec", tag = "9")]
        pub trace_id: Vec<u8>,
        /// 8 bytes, or empty; metadata `span_id`, in hex.
        #[prost(bytes = "vec", tag = "10")]
        pub span_id: Vec<u8>,
        /// Names an event record; metadata `event_name`, over an
        /// attribute of that name.
        #[prost(string, tag = "12")]
        pub event_name: String,
    }
    /// An attribute.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValue {
        /// Its name (`service.name`), made a label name when stored.
        #[prost(string, tag = "1")]
        pub key: String,
        /// Its value; `None` reads as empty.
        #[prost(message, optional, tag = "2")]
        pub value: Option<AnyValue>,
    }
    /// A value of any of OTLP's kinds.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AnyValue {
        /// `None`: an empty value.
        #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4, 5, 6, 7")]
        pub value: Option<any_value::Value>,
    }
    /// The kinds of [`AnyValue`].
    pub mod any_value {
        /// One kind of value and its content.
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            /// Text.
            #[prost(string, tag = "1")]
            StringValue(String),
            /// A boolean.
            #[prost(bool, tag = "2")]
            BoolValue(bool),
            /// A signed 64-bit integer.
            #[prost(int64, tag = "3")]
            IntValue(i64),
            /// A double.
            #[prost(double, tag = "4")]
            DoubleValue(f64),
            /// A list of values (JSON as text).
            #[prost(message, tag = "5")]
            ArrayValue(super::ArrayValue),
            /// A map (flattened as `parent_child` in attributes).
            #[prost(message, tag = "6")]
            KvlistValue(super::KeyValueList),
            /// Raw bytes (base64 as text).
            #[prost(bytes = "vec", tag = "7")]
            BytesValue(Vec<u8>),
        }
    }
    /// A list of values.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ArrayValue {
        /// In order.
        #[prost(message, repeated, tag = "1")]
        pub values: Vec<AnyValue>,
    }
    /// A map of values; a key may repeat.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValueList {
        /// In order.
        #[prost(message, repeated, tag = "1")]
        pub values: Vec<KeyValue>,
    }
}

/// The two encodings OTLP/HTTP sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `application/x-protobuf`: the messages of [`proto`].
    Protobuf,
    /// `application/json`: OTLP/JSON.
    Json,
}

impl Body {
    /// From `Content-Type`, as Loki reads it: anything else is a 415.
    pub fn of(content_type: Option<&str>) -> Result<Body, Problem> {
        match content_type.unwrap_or_default() {
            "application/x-protobuf" | "application/protobuf" => Ok(Body::Protobuf),
            "application/json" => Ok(Body::Json),
            other => Err(Problem::unsupported_media_type(format!(
                "OTLP logs are application/x-protobuf or application/json, not {other:?}"
            ))),
        }
    }
}

fn bad(field: &str, detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "Bad OTLP Request", detail).with("field", field)
}

/// Decodes an export request (already inflated) and maps it to the batches
/// of a push, checked as a push is as of `now_ns`; no batch for a request
/// without records (which Loki answers with success too).
pub fn decode(body: &[u8], kind: Body, now_ns: u64) -> Result<Vec<StreamBatch>, Problem> {
    let request = match kind {
        Body::Protobuf => prost::Message::decode(body).map_err(|e| {
            bad(
                "body",
                format!("the body is not an OTLP ExportLogsServiceRequest: {e}"),
            )
        })?,
        Body::Json => json::request(body)?,
    };
    let mut streams = Vec::new();
    for (r, rl) in request.resource_logs.iter().enumerate() {
        streams.extend(resource_streams(rl, now_ns).map_err(|p| p.with("resource", r))?);
    }
    if streams.iter().all(|(_, entries)| entries.is_empty()) {
        return Ok(Vec::new());
    }
    push::batches(streams)
}

/// The entries of one resource: its stream labels, and its records as
/// entries, each checked as a push's.
fn resource_streams(
    rl: &proto::ResourceLogs,
    now_ns: u64,
) -> Result<Vec<(Labels, Vec<Entry>)>, Problem> {
    let no_attributes = Vec::new();
    let attributes = rl
        .resource
        .as_ref()
        .map_or(&no_attributes, |r| &r.attributes);
    let (labels, resource_metadata) = resource_labels(attributes)?;
    let shown = canonical(&labels);
    let mut entries = Vec::new();
    for sl in &rl.scope_logs {
        let scope_metadata = scope_metadata(sl.scope.as_ref());
        for record in &sl.log_records {
            let mut entry = entry(record, now_ns);
            entry.metadata.extend(resource_metadata.iter().cloned());
            entry.metadata.extend(scope_metadata.iter().cloned());
            push::check_entry(&shown, entries.len(), &entry, now_ns)?;
            entries.push(entry);
        }
    }
    Ok(vec![(labels, entries)])
}

/// A resource's stream labels (the indexed attributes, and `service_name`)
/// and the structured metadata its other attributes give every entry.
fn resource_labels(attributes: &[KeyValue]) -> Result<(Labels, Vec<(String, String)>), Problem> {
    let mut pairs = Vec::new();
    let mut metadata = Vec::new();
    for kv in attributes {
        let flat = flatten(&kv.key, kv.value.as_ref());
        if INDEX_ATTRIBUTES.contains(&kv.key.as_str()) {
            pairs.extend(flat);
        } else {
            metadata.extend(flat);
        }
    }
    // Later attributes of one name win, as in Loki's label set.
    let mut labels: Labels = pairs.into_iter().collect();
    let named = labels.get(SERVICE_NAME).is_some_and(|v| !v.is_empty());
    if !named {
        let found = SERVICE_NAME_SOURCES
            .iter()
            .find_map(|n| labels.get(*n).filter(|v| !v.is_empty()).cloned());
        labels.insert(
            SERVICE_NAME.to_owned(),
            found.unwrap_or_else(|| UNKNOWN_SERVICE.to_owned()),
        );
    }
    let shown = canonical(&labels);
    let pairs: Vec<(String, String)> = labels.into_iter().collect();
    let labels = push::check_count(&shown, push::checked_labels(&shown, pairs)?)?;
    Ok((labels, metadata))
}

/// What a scope gives every entry: its attributes, name and version.
fn scope_metadata(scope: Option<&proto::InstrumentationScope>) -> Vec<(String, String)> {
    let Some(scope) = scope else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = scope
        .attributes
        .iter()
        .flat_map(|kv| flatten(&kv.key, kv.value.as_ref()))
        .collect();
    let named = [
        ("scope_name", scope.name.clone()),
        ("scope_version", scope.version.clone()),
        (
            "scope_dropped_attributes_count",
            nonzero(scope.dropped_attributes_count),
        ),
    ];
    out.extend(
        named
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_owned(), v)),
    );
    out
}

fn nonzero(n: u32) -> String {
    if n == 0 { String::new() } else { n.to_string() }
}

/// One record as an entry: its time, its body as text, and its own
/// structured metadata (Loki's names and order).
fn entry(record: &LogRecord, now_ns: u64) -> Entry {
    let ts = [
        record.time_unix_nano,
        record.observed_time_unix_nano,
        now_ns,
    ]
    .into_iter()
    .find(|t| *t != 0)
    .unwrap_or(now_ns);
    let mut metadata: Vec<(String, String)> = record
        .attributes
        .iter()
        .filter(|kv| kv.key != "event_name" || record.event_name.is_empty())
        .flat_map(|kv| flatten(&kv.key, kv.value.as_ref()))
        .collect();
    let observed = (record.time_unix_nano != 0 && record.observed_time_unix_nano != 0)
        .then(|| record.observed_time_unix_nano.to_string());
    let own = [
        ("observed_timestamp", observed.unwrap_or_default()),
        ("severity_number", severity_number(record.severity_number)),
        ("severity_text", record.severity_text.clone()),
        (
            "dropped_attributes_count",
            nonzero(record.dropped_attributes_count),
        ),
        ("flags", nonzero(record.flags)),
        ("trace_id", hex(&record.trace_id)),
        ("span_id", hex(&record.span_id)),
        ("event_name", record.event_name.clone()),
    ];
    metadata.extend(
        own.into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_owned(), v)),
    );
    Entry {
        ts,
        line: record.body.as_ref().map(as_string).unwrap_or_default(),
        metadata,
    }
}

fn severity_number(n: i32) -> String {
    if n == 0 { String::new() } else { n.to_string() }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An attribute as label pairs: its name made a label name, a map's
/// members flattened under it as `name_member`.
fn flatten(key: &str, value: Option<&AnyValue>) -> Vec<(String, String)> {
    let name = label_name(key);
    match value.and_then(|v| v.value.as_ref()) {
        Some(Any::KvlistValue(list)) => list
            .values
            .iter()
            .flat_map(|kv| flatten(&format!("{name}_{}", kv.key), kv.value.as_ref()))
            .collect(),
        _ => vec![(name, value.map(as_string).unwrap_or_default())],
    }
}

/// An attribute name as Prometheus' OTLP translator makes it a label name:
/// characters outside `[a-zA-Z0-9_]` become `_`, a leading digit gets
/// `key_` and a leading single `_` gets `key` before it. A leading `__`,
/// which the translator keeps, also gets `key`: such names are reserved
/// here.
pub fn label_name(key: &str) -> String {
    let mut out = super::stream::label_chars(key);
    if out.is_empty() {
        out.push('_');
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') {
        out.insert_str(0, "key");
    }
    out
}

/// A value as OpenTelemetry's `AsString` writes it: strings as they are,
/// maps and arrays as JSON, bytes in base64.
fn as_string(value: &AnyValue) -> String {
    match &value.value {
        None => String::new(),
        Some(Any::StringValue(s)) => s.clone(),
        Some(other) => match to_json(other) {
            Value::String(s) => s,
            v => v.to_string(),
        },
    }
}

fn to_json(value: &Any) -> Value {
    let of = |v: &AnyValue| v.value.as_ref().map_or(Value::Null, to_json);
    match value {
        Any::StringValue(s) => Value::String(s.clone()),
        Any::BoolValue(b) => Value::Bool(*b),
        Any::IntValue(i) => Value::from(*i),
        Any::DoubleValue(d) => serde_json::Number::from_f64(*d)
            .map_or_else(|| Value::String(d.to_string()), Value::Number),
        Any::BytesValue(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Any::ArrayValue(a) => Value::Array(a.values.iter().map(of).collect()),
        Any::KvlistValue(l) => Value::Object(
            l.values
                .iter()
                .map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(Value::Null, of)))
                .collect::<Map<String, Value>>(),
        ),
    }
}

/// OTLP/JSON, read into the protobuf messages.
mod json {
    use super::proto::*;
    use super::{Any, bad};
    use crate::web::problem::Problem;
    use base64::Engine;
    use serde_json::{Map, Value};

    type Result<T> = std::result::Result<T, Problem>;

    /// A JSON object's member by its JSON name or its proto name.
    fn member<'v>(obj: &'v Map<String, Value>, camel: &str, snake: &str) -> Option<&'v Value> {
        obj.get(camel)
            .or_else(|| obj.get(snake))
            .filter(|v| !v.is_null())
    }

    fn object<'v>(v: &'v Value, at: &str) -> Result<&'v Map<String, Value>> {
        v.as_object()
            .ok_or_else(|| bad(at, format!("{at} is not a JSON object")))
    }

    fn list<'v>(
        obj: &'v Map<String, Value>,
        camel: &str,
        snake: &str,
        at: &str,
    ) -> Result<&'v [Value]> {
        match member(obj, camel, snake) {
            None => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(bad(at, format!("{at}.{camel} is not an array"))),
        }
    }

    fn text(obj: &Map<String, Value>, camel: &str, snake: &str, at: &str) -> Result<String> {
        match member(obj, camel, snake) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(bad(at, format!("{at}.{camel} is not a string"))),
        }
    }

    /// A 64-bit integer: a JSON number or a string of digits (proto3 JSON).
    fn int(obj: &Map<String, Value>, camel: &str, snake: &str, at: &str) -> Result<i64> {
        let bad_int = || bad(at, format!("{at}.{camel} is not an integer"));
        match member(obj, camel, snake) {
            None => Ok(0),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_u64().and_then(|u| i64::try_from(u).ok()))
                .ok_or_else(bad_int),
            Some(Value::String(s)) => s.parse().map_err(|_| bad_int()),
            Some(_) => Err(bad_int()),
        }
    }

    fn uint(obj: &Map<String, Value>, camel: &str, snake: &str, at: &str) -> Result<u64> {
        let bad_int = || bad(at, format!("{at}.{camel} is not an unsigned integer"));
        match member(obj, camel, snake) {
            None => Ok(0),
            Some(Value::Number(n)) => n.as_u64().ok_or_else(bad_int),
            Some(Value::String(s)) => s.parse().map_err(|_| bad_int()),
            Some(_) => Err(bad_int()),
        }
    }

    fn small(obj: &Map<String, Value>, camel: &str, snake: &str, at: &str) -> Result<u32> {
        u32::try_from(uint(obj, camel, snake, at)?)
            .map_err(|_| bad(at, format!("{at}.{camel} is out of range")))
    }

    /// Trace and span ids: hex in OTLP/JSON.
    fn id(obj: &Map<String, Value>, camel: &str, snake: &str, at: &str) -> Result<Vec<u8>> {
        let s = text(obj, camel, snake, at)?;
        let bad_hex = || bad(at, format!("{at}.{camel} is not hex"));
        if s.len() % 2 != 0 {
            return Err(bad_hex());
        }
        (0..s.len())
            .step_by(2)
            .map(|i| {
                s.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(bad_hex)
            })
            .collect()
    }

    pub(super) fn request(body: &[u8]) -> Result<ExportLogsServiceRequest> {
        let root: Value = serde_json::from_slice(body)
            .map_err(|e| bad("body", format!("the body is not JSON: {e}")))?;
        let root = object(&root, "body")?;
        let mut resource_logs = Vec::new();
        for (i, v) in list(root, "resourceLogs", "resource_logs", "body")?
            .iter()
            .enumerate()
        {
            resource_logs.push(resource(v, &format!("resourceLogs[{i}]"))?);
        }
        Ok(ExportLogsServiceRequest { resource_logs })
    }

    fn resource(v: &Value, at: &str) -> Result<ResourceLogs> {
        let obj = object(v, at)?;
        let resource = match member(obj, "resource", "resource") {
            None => None,
            Some(r) => {
                let here = format!("{at}.resource");
                let r = object(r, &here)?;
                Some(Resource {
                    attributes: attributes(r, &here)?,
                    dropped_attributes_count: small(
                        r,
                        "droppedAttributesCount",
                        "dropped_attributes_count",
                        &here,
                    )?,
                })
            }
        };
        let mut scope_logs = Vec::new();
        for (i, s) in list(obj, "scopeLogs", "scope_logs", at)?.iter().enumerate() {
            scope_logs.push(scope_logs_of(s, &format!("{at}.scopeLogs[{i}]"))?);
        }
        Ok(ResourceLogs {
            resource,
            scope_logs,
            schema_url: text(obj, "schemaUrl", "schema_url", at)?,
        })
    }

    fn scope_logs_of(v: &Value, at: &str) -> Result<ScopeLogs> {
        let obj = object(v, at)?;
        let scope = match member(obj, "scope", "scope") {
            None => None,
            Some(s) => {
                let here = format!("{at}.scope");
                let s = object(s, &here)?;
                Some(InstrumentationScope {
                    name: text(s, "name", "name", &here)?,
                    version: text(s, "version", "version", &here)?,
                    attributes: attributes(s, &here)?,
                    dropped_attributes_count: small(
                        s,
                        "droppedAttributesCount",
                        "dropped_attributes_count",
                        &here,
                    )?,
                })
            }
        };
        let mut log_records = Vec::new();
        for (i, r) in list(obj, "logRecords", "log_records", at)?
            .iter()
            .enumerate()
        {
            log_records.push(record(r, &format!("{at}.logRecords[{i}]"))?);
        }
        Ok(ScopeLogs {
            scope,
            log_records,
            schema_url: text(obj, "schemaUrl", "schema_url", at)?,
        })
    }

    fn record(v: &Value, at: &str) -> Result<LogRecord> {
        let obj = object(v, at)?;
        let severity = int(obj, "severityNumber", "severity_number", at)?;
        Ok(LogRecord {
            time_unix_nano: uint(obj, "timeUnixNano", "time_unix_nano", at)?,
            observed_time_unix_nano: uint(
                obj,
                "observedTimeUnixNano",
                "observed_time_unix_nano",
                at,
            )?,
            severity_number: i32::try_from(severity)
                .map_err(|_| bad(at, format!("{at}.severityNumber is out of range")))?,
            severity_text: text(obj, "severityText", "severity_text", at)?,
            body: match member(obj, "body", "body") {
                None => None,
                Some(b) => Some(any(b, &format!("{at}.body"))?),
            },
            attributes: attributes(obj, at)?,
            dropped_attributes_count: small(
                obj,
                "droppedAttributesCount",
                "dropped_attributes_count",
                at,
            )?,
            flags: small(obj, "flags", "flags", at)?,
            trace_id: id(obj, "traceId", "trace_id", at)?,
            span_id: id(obj, "spanId", "span_id", at)?,
            event_name: text(obj, "eventName", "event_name", at)?,
        })
    }

    fn attributes(obj: &Map<String, Value>, at: &str) -> Result<Vec<KeyValue>> {
        let mut out = Vec::new();
        for (i, kv) in list(obj, "attributes", "attributes", at)?
            .iter()
            .enumerate()
        {
            out.push(key_value(kv, &format!("{at}.attributes[{i}]"))?);
        }
        Ok(out)
    }

    fn key_value(v: &Value, at: &str) -> Result<KeyValue> {
        let obj = object(v, at)?;
        let value = match member(obj, "value", "value") {
            None => None,
            Some(v) => Some(any(v, &format!("{at}.value"))?),
        };
        Ok(KeyValue {
            key: text(obj, "key", "key", at)?,
            value,
        })
    }

    /// An `AnyValue`: one member naming its kind (none: an empty value).
    fn any(v: &Value, at: &str) -> Result<AnyValue> {
        let obj = object(v, at)?;
        let Some((kind, inner)) = obj.iter().find(|(_, v)| !v.is_null()) else {
            return Ok(AnyValue { value: None });
        };
        let wrong = || bad(at, format!("{at}.{kind} does not hold what its name says"));
        let value = match kind.as_str() {
            "stringValue" | "string_value" => {
                Any::StringValue(inner.as_str().ok_or_else(wrong)?.to_owned())
            }
            "boolValue" | "bool_value" => Any::BoolValue(inner.as_bool().ok_or_else(wrong)?),
            "intValue" | "int_value" => Any::IntValue(int(obj, kind, kind, at)?),
            "doubleValue" | "double_value" => Any::DoubleValue(double(inner).ok_or_else(wrong)?),
            "bytesValue" | "bytes_value" => Any::BytesValue(
                inner
                    .as_str()
                    .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                    .ok_or_else(wrong)?,
            ),
            "arrayValue" | "array_value" => {
                let inner = object(inner, at)?;
                let mut values = Vec::new();
                for (i, v) in list(inner, "values", "values", at)?.iter().enumerate() {
                    values.push(any(v, &format!("{at}.arrayValue.values[{i}]"))?);
                }
                Any::ArrayValue(ArrayValue { values })
            }
            "kvlistValue" | "kvlist_value" => {
                let inner = object(inner, at)?;
                let mut values = Vec::new();
                for (i, kv) in list(inner, "values", "values", at)?.iter().enumerate() {
                    values.push(key_value(kv, &format!("{at}.kvlistValue.values[{i}]"))?);
                }
                Any::KvlistValue(KeyValueList { values })
            }
            other => {
                return Err(bad(
                    at,
                    format!("{at} has an unknown kind of value {other:?}"),
                ));
            }
        };
        Ok(AnyValue { value: Some(value) })
    }

    /// A double: a JSON number, or the strings proto3 JSON uses for the
    /// values a number cannot spell.
    fn double(v: &Value) -> Option<f64> {
        match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => match s.as_str() {
                "NaN" => Some(f64::NAN),
                "Infinity" => Some(f64::INFINITY),
                "-Infinity" => Some(f64::NEG_INFINITY),
                other => other.parse().ok(),
            },
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000_000_000;

    fn kv(key: &str, value: Any) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
        }
    }

    fn request(
        resource: Vec<KeyValue>,
        records: Vec<LogRecord>,
    ) -> proto::ExportLogsServiceRequest {
        proto::ExportLogsServiceRequest {
            resource_logs: vec![proto::ResourceLogs {
                resource: Some(proto::Resource {
                    attributes: resource,
                    dropped_attributes_count: 0,
                }),
                scope_logs: vec![proto::ScopeLogs {
                    scope: Some(proto::InstrumentationScope {
                        name: "my.logger".into(),
                        ..Default::default()
                    }),
                    log_records: records,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    #[test]
    fn resources_become_labels_and_the_rest_metadata() {
        let req = request(
            vec![
                kv("service.name", Any::StringValue("checkout".into())),
                kv("k8s.namespace.name", Any::StringValue("shop".into())),
                kv("host.name", Any::StringValue("node-1".into())),
            ],
            vec![LogRecord {
                time_unix_nano: NOW,
                severity_number: 17,
                severity_text: "ERROR".into(),
                body: Some(AnyValue {
                    value: Some(Any::StringValue("payment failed".into())),
                }),
                attributes: vec![kv(
                    "http",
                    Any::KvlistValue(proto::KeyValueList {
                        values: vec![kv("status_code", Any::IntValue(502))],
                    }),
                )],
                trace_id: vec![0xab; 16],
                ..Default::default()
            }],
        );
        let body = prost::Message::encode_to_vec(&req);
        let b = decode(&body, Body::Protobuf, NOW).unwrap();
        assert_eq!(
            canonical(&b[0].labels),
            r#"{k8s_namespace_name="shop", service_name="checkout"}"#
        );
        let e = &b[0].entries[0];
        assert_eq!((e.ts, e.line.as_str()), (NOW, "payment failed"));
        let meta: std::collections::BTreeMap<_, _> = e.metadata.iter().cloned().collect();
        assert_eq!(meta["http_status_code"], "502");
        assert_eq!(meta["host_name"], "node-1");
        assert_eq!(meta["severity_number"], "17");
        assert_eq!(meta["scope_name"], "my.logger");
        assert_eq!(meta["trace_id"], "ab".repeat(16));
        assert_eq!(meta["detected_level"], "error");
    }

    #[test]
    fn json_reads_the_same_and_service_name_is_discovered() {
        let body = format!(
            r#"{{"resourceLogs":[{{"resource":{{"attributes":[
                {{"key":"k8s.container.name","value":{{"stringValue":"web"}}}}]}},
              "scopeLogs":[{{"logRecords":[
                {{"observedTimeUnixNano":"{NOW}","severityNumber":9,
                  "body":{{"kvlistValue":{{"values":[{{"key":"b","value":{{"intValue":"2"}}}},
                                                       {{"key":"a","value":{{"boolValue":true}}}}]}}}},
                  "spanId":"0102030405060708"}}]}}]}}]}}"#
        );
        let b = decode(body.as_bytes(), Body::Json, NOW).unwrap();
        assert_eq!(b[0].labels["service_name"], "web");
        let e = &b[0].entries[0];
        assert_eq!((e.ts, e.line.as_str()), (NOW, r#"{"a":true,"b":2}"#));
        assert!(
            e.metadata
                .contains(&("span_id".into(), "0102030405060708".into()))
        );
        assert!(
            e.metadata
                .contains(&("detected_level".into(), "info".into()))
        );
        let empty = decode(br#"{"resourceLogs":[]}"#, Body::Json, NOW).unwrap();
        assert!(empty.is_empty());
        let p = request(vec![], vec![]);
        let b = decode(&prost::Message::encode_to_vec(&p), Body::Protobuf, NOW).unwrap();
        assert!(b.is_empty());
    }

    #[test]
    fn bad_requests_are_refused_whole() {
        let cases: [&[u8]; 5] = [
            b"{",
            br#"{"resourceLogs":{}}"#,
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"soon"}]}]}]}"#,
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"xyz"}]}]}]}"#,
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1"}]}]}]}"#,
        ];
        for body in cases {
            let p = decode(body, Body::Json, NOW).unwrap_err();
            assert_eq!(
                p.status,
                StatusCode::BAD_REQUEST,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(decode(b"\xff\xff", Body::Protobuf, NOW).is_err());
        assert_eq!(label_name("1x.y"), "key_1x_y");
        assert_eq!(label_name("_a"), "key_a");
    }
}
