//! Loki's push protocol, decoded and checked: what `POST /loki/api/v1/push`
//! accepts, so Promtail, Grafana Alloy, Fluent Bit's `loki` output and
//! Vector's `loki` sink ship to spin-logs unchanged.
//!
//! Both bodies Loki takes: snappy-compressed protobuf (`push.proto`) and
//! JSON, either of them also under `Content-Encoding: gzip` (which the ingest
//! component undoes for every body, bounded). A push is all
//! or nothing: every stream and entry is checked here, against Loki's default
//! limits, before anything is stored, and the first fault is a 400 naming
//! the stream and the field. Collector field names (Fluent Bit's and
//! Vector's Kubernetes metadata, flattened into label names) become the
//! canonical labels, and CRI-formatted lines (`<RFC3339Nano> stdout|stderr
//! F|P <msg>`) are unwrapped, their `P` partials joined.

use super::derive;
use super::stream::{Entry, canonical};
use crate::logql::{self, Labels};
use crate::web::problem::Problem;
use http::StatusCode;
use std::collections::BTreeMap;

/// Loki's `max_line_size` default (256 KB). It also keeps a stored entry
/// well inside one log segment, so segments always start on an entry.
pub const MAX_LINE_BYTES: usize = 256 * 1024;
/// Loki's `max_label_names_per_series`.
pub const MAX_LABELS: usize = 15;
/// Loki's `max_label_name_length`, in bytes.
pub const MAX_LABEL_NAME: usize = 1024;
/// Loki's `max_label_value_length`, in bytes.
pub const MAX_LABEL_VALUE: usize = 2048;
/// Loki's `max_structured_metadata_size` (64 KB) and, below,
/// `max_structured_metadata_entries_count` (128). With [`MAX_LINE_BYTES`]
/// they keep a stored entry (escaped) inside one log segment.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;
/// Loki's `max_structured_metadata_entries_count`: pairs per entry.
pub const MAX_METADATA_ENTRIES: usize = 128;
/// Loki's `reject_old_samples_max_age` (168h): an older entry is refused.
pub const MAX_AGE_NS: u64 = 168 * 3600 * 1_000_000_000;
/// Loki's `creation_grace_period` (10m): an entry further ahead of now is
/// refused.
pub const MAX_AHEAD_NS: u64 = 600 * 1_000_000_000;
/// A compressed body may inflate to at most this many times the body limit.
const MAX_INFLATION: usize = 16;

/// Loki's `push.proto` (`pkg/push/push.proto`), field for field. Derived by
/// hand so the build needs no `protoc`; `tests/` encodes bodies with messages
/// generated from the real `.proto` to prove the two agree.
pub mod proto {
    /// A push: the body of `POST /loki/api/v1/push`, once un-snappied.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PushRequest {
        /// The streams pushed; one label set may come more than once.
        #[prost(message, repeated, tag = "1")]
        pub streams: Vec<StreamAdapter>,
    }
    /// One stream of a push.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StreamAdapter {
        /// The label set as text, `{a="b", c="d"}`.
        #[prost(string, tag = "1")]
        pub labels: String,
        /// Its entries, in any order.
        #[prost(message, repeated, tag = "2")]
        pub entries: Vec<EntryAdapter>,
        /// Loki's internal hash of the labels; shippers leave it 0, and it
        /// is ignored.
        #[prost(uint64, tag = "3")]
        pub hash: u64,
    }
    /// One log line.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EntryAdapter {
        /// When it happened; required.
        #[prost(message, optional, tag = "1")]
        pub timestamp: Option<Timestamp>,
        /// The line's text.
        #[prost(string, tag = "2")]
        pub line: String,
        /// Labels of this entry alone, not of its stream.
        #[prost(message, repeated, tag = "3")]
        pub structured_metadata: Vec<LabelPairAdapter>,
    }
    /// One name and value of structured metadata.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LabelPairAdapter {
        /// The name.
        #[prost(string, tag = "1")]
        pub name: String,
        /// The value.
        #[prost(string, tag = "2")]
        pub value: String,
    }
    /// `google.protobuf.Timestamp`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Timestamp {
        /// Seconds since the epoch (a negative one is refused).
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        /// Nanoseconds into the second, 0 to 999,999,999.
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }
}

/// One stream of a push, canonical labels and entries sorted by time.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamBatch {
    /// Checked, collector names mapped, `service_name` added.
    pub labels: Labels,
    /// Sorted by timestamp, each with its `detected_level`.
    pub entries: Vec<Entry>,
}

/// How the body is encoded, from `Content-Type` and `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// Snappy-compressed `PushRequest` protobuf.
    Protobuf,
    /// Loki's JSON push (`{"streams": [{"stream": {...}, "values": [...]}]}`).
    Json,
}

impl Body {
    /// Loki's rule: `application/x-protobuf` (or no type, as some shippers
    /// send) is protobuf, `application/json` JSON, anything else a 415.
    pub fn of(content_type: Option<&str>) -> Result<Body, Problem> {
        let media = content_type
            .map(|t| {
                t.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        match media.as_str() {
            "" | "application/x-protobuf" | "application/protobuf" => Ok(Body::Protobuf),
            "application/json" => Ok(Body::Json),
            other => Err(Problem::unsupported_media_type(format!(
                "a push is application/x-protobuf (snappy-compressed) or application/json, not {other:?}"
            ))),
        }
    }
}

fn bad(field: &str, detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "Bad Push", detail).with("field", field)
}

fn bad_stream(stream: &str, field: &str, detail: impl Into<String>) -> Problem {
    bad(field, detail).with("stream", stream)
}

/// Decodes and checks a push body (already inflated), as of `now_ns`.
pub fn decode(
    body: &[u8],
    kind: Body,
    now_ns: u64,
    limit: usize,
) -> Result<Vec<StreamBatch>, Problem> {
    let raw = match kind {
        Body::Protobuf => decode_protobuf(body, limit)?,
        Body::Json => decode_json(body)?,
    };
    let mut streams = Vec::with_capacity(raw.len());
    for (labels_text, labels, entries) in raw {
        let mut labels = canonical_labels(&labels_text, labels)?;
        let shown = canonical(&labels);
        for (i, e) in entries.iter().enumerate() {
            check_entry(&shown, i, e, now_ns)?;
        }
        derive::add_service_name(&mut labels);
        let Some(unwrapped) = unwrap_cri(&labels, &entries) else {
            streams.push((labels, entries));
            continue;
        };
        // A CRI line's own time and joined partial lines replace what was
        // checked above: they are checked as they will be stored (an error
        // names the entry's place in its CRI stream).
        for (labels, entries) in unwrapped {
            let shown = canonical(&labels);
            for (i, e) in entries.iter().enumerate() {
                check_entry(&shown, i, e, now_ns)?;
            }
            streams.push((labels, entries));
        }
    }
    batches(streams)
}

/// Checked streams as the batches a push stores: entries of one label set
/// merged and sorted by time, each given its `detected_level` (Loki's
/// derived metadata); a 400 when there is no entry at all.
pub fn batches(streams: Vec<(Labels, Vec<Entry>)>) -> Result<Vec<StreamBatch>, Problem> {
    let mut merged: BTreeMap<String, StreamBatch> = BTreeMap::new();
    for (labels, entries) in streams {
        let batch = merged
            .entry(canonical(&labels))
            .or_insert_with(|| StreamBatch {
                labels,
                entries: Vec::new(),
            });
        batch.entries.extend(entries);
    }
    let mut out: Vec<StreamBatch> = merged
        .into_values()
        .filter(|b| !b.entries.is_empty())
        .collect();
    if out.is_empty() {
        return Err(bad("streams", "the push holds no entries"));
    }
    for b in &mut out {
        crate::util::sort::sort_by_key(&mut b.entries, |e| e.ts);
        for e in &mut b.entries {
            derive::add_detected_level(&b.labels, e);
        }
    }
    Ok(out)
}

type RawStream = (String, Vec<(String, String)>, Vec<Entry>);

fn decode_protobuf(body: &[u8], limit: usize) -> Result<Vec<RawStream>, Problem> {
    let len = snap::raw::decompress_len(body).map_err(|e| {
        bad(
            "body",
            format!("the body is not snappy-compressed protobuf: {e}"),
        )
    })?;
    if len > limit * MAX_INFLATION {
        return Err(bad(
            "body",
            format!(
                "the snappy body inflates to {len} bytes, over {}",
                limit * MAX_INFLATION
            ),
        ));
    }
    let plain = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| {
            bad(
                "body",
                format!("the body is not snappy-compressed protobuf: {e}"),
            )
        })?;
    let push: proto::PushRequest = prost::Message::decode(&plain[..])
        .map_err(|e| bad("body", format!("the body is not a Loki PushRequest: {e}")))?;
    let mut out = Vec::with_capacity(push.streams.len());
    for s in push.streams {
        let labels = logql::parse_labels(&s.labels).map_err(|e| {
            bad_stream(
                &s.labels,
                "labels",
                format!("error parsing labels '{}' with error: {e}", s.labels),
            )
        })?;
        let mut entries = Vec::with_capacity(s.entries.len());
        for (i, e) in s.entries.into_iter().enumerate() {
            let ts = match e.timestamp {
                Some(t) if t.seconds >= 0 && (0..1_000_000_000).contains(&t.nanos) => (t.seconds
                    as u64)
                    .checked_mul(1_000_000_000)
                    .and_then(|s| s.checked_add(t.nanos as u64)),
                _ => None,
            }
            .ok_or_else(|| {
                bad_stream(
                    &s.labels,
                    "timestamp",
                    format!("entry {i} has no valid timestamp"),
                )
                .with("entry", i)
            })?;
            entries.push(Entry {
                ts,
                line: e.line,
                metadata: e
                    .structured_metadata
                    .into_iter()
                    .map(|p| (p.name, p.value))
                    .collect(),
            });
        }
        out.push((s.labels, labels, entries));
    }
    Ok(out)
}

fn decode_json(body: &[u8]) -> Result<Vec<RawStream>, Problem> {
    use serde_json::Value;
    let root: Value = serde_json::from_slice(body)
        .map_err(|e| bad("body", format!("the body is not JSON: {e}")))?;
    let Some(streams) = root.get("streams").and_then(Value::as_array) else {
        return Err(bad(
            "streams",
            "a JSON push is {\"streams\": [{\"stream\": {...}, \"values\": [[\"<ns>\", \"<line>\"]]}]}",
        ));
    };
    let mut out = Vec::with_capacity(streams.len());
    for (si, s) in streams.iter().enumerate() {
        let Some(map) = s.get("stream").and_then(Value::as_object) else {
            return Err(bad(
                "stream",
                format!("streams[{si}] has no \"stream\" object of labels"),
            )
            .with("index", si));
        };
        let mut labels = Vec::with_capacity(map.len());
        for (k, v) in map {
            let Some(v) = v.as_str() else {
                return Err(bad(
                    "stream",
                    format!("streams[{si}]: label {k:?} is not a string"),
                )
                .with("index", si));
            };
            labels.push((k.clone(), v.to_owned()));
        }
        let shown = format!("streams[{si}]");
        let Some(values) = s.get("values").and_then(Value::as_array) else {
            return Err(bad_stream(
                &shown,
                "values",
                format!("{shown} has no \"values\" array"),
            ));
        };
        let mut entries = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            let at = |detail: &str| {
                bad_stream(&shown, "values", format!("{shown}.values[{i}] {detail}"))
                    .with("entry", i)
            };
            let Some(tuple) = v.as_array() else {
                return Err(at("is not [\"<ns>\", \"<line>\"]"));
            };
            let ts = match tuple.first() {
                Some(Value::String(t)) => t.parse::<u64>().ok(),
                Some(Value::Number(n)) => n.as_u64(),
                _ => None,
            }
            .ok_or_else(|| at("has no timestamp: a string of nanoseconds since the epoch"))?;
            let Some(line) = tuple.get(1).and_then(Value::as_str) else {
                return Err(at("has no line string"));
            };
            let metadata = match tuple.get(2) {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Object(m)) => m
                    .iter()
                    .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| at("has structured metadata that is not all strings"))?,
                Some(_) => return Err(at("has structured metadata that is not an object")),
            };
            if tuple.len() > 3 {
                return Err(at("has more than three members"));
            }
            entries.push(Entry {
                ts,
                line: line.to_owned(),
                metadata,
            });
        }
        out.push((shown, labels, entries));
    }
    Ok(out)
}

/// Collector spellings of the canonical labels, as the label names they
/// become once a shipper flattens `kubernetes.namespace_name` and friends.
const ALIASES: &[(&str, &str)] = &[
    ("namespace_name", "namespace"),
    ("kubernetes_namespace_name", "namespace"),
    ("pod_namespace", "namespace"),
    ("kubernetes_pod_namespace", "namespace"),
    ("k8s_namespace_name", "namespace"),
    ("pod_name", "pod"),
    ("kubernetes_pod_name", "pod"),
    ("k8s_pod_name", "pod"),
    ("container_name", "container"),
    ("kubernetes_container_name", "container"),
    ("k8s_container_name", "container"),
    ("host", "node"),
    ("kubernetes_host", "node"),
    ("pod_node_name", "node"),
    ("kubernetes_pod_node_name", "node"),
    ("node_name", "node"),
    ("k8s_node_name", "node"),
    ("cluster_name", "cluster"),
    ("k8s_cluster_name", "cluster"),
];

/// Prefixes of pod labels in Fluent Bit's (`kubernetes.labels`) and
/// Vector's (`kubernetes.pod_labels`) metadata, flattened.
const POD_LABEL_PREFIXES: &[&str] = &[
    "kubernetes_labels_",
    "kubernetes_pod_labels_",
    "pod_labels_",
];

/// Checks a stream's labels as Loki does and maps collector names onto the
/// canonical ones (a canonical label already given wins).
fn canonical_labels(shown: &str, pairs: Vec<(String, String)>) -> Result<Labels, Problem> {
    let mut out = Labels::new();
    let mut aliased = Vec::new();
    for (k, v) in checked_labels(shown, pairs)? {
        match alias_of(&k) {
            Some(t) => aliased.push((t, k, v)),
            None => {
                out.insert(k, v);
            }
        }
    }
    for (target, original, v) in aliased {
        if out.contains_key(&target) {
            out.insert(original, v);
        } else {
            out.insert(target, v);
        }
    }
    check_count(shown, out)
}

/// The canonical label a collector's label name stands for, if any.
fn alias_of(name: &str) -> Option<String> {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map(|(_, c)| (*c).to_owned())
        .or_else(|| {
            POD_LABEL_PREFIXES
                .iter()
                .find_map(|p| name.strip_prefix(p))
                .filter(|rest| !rest.is_empty())
                .map(|rest| match rest {
                    "app_kubernetes_io_name" => "app".to_owned(),
                    other => other.to_owned(),
                })
        })
}

/// A stream's label pairs checked as Loki checks them (names, lengths, no
/// duplicates), as a set.
pub fn checked_labels(shown: &str, pairs: Vec<(String, String)>) -> Result<Labels, Problem> {
    if pairs.is_empty() {
        return Err(bad_stream(
            shown,
            "labels",
            "error at least one label pair is required per stream",
        ));
    }
    let mut given = Labels::new();
    for (k, v) in pairs {
        check_label(shown, &k, &v)?;
        if given.insert(k.clone(), v).is_some() {
            return Err(
                bad_stream(shown, "labels", format!("duplicate label name {k:?}")).with("label", k),
            );
        }
    }
    Ok(given)
}

fn check_label(shown: &str, k: &str, v: &str) -> Result<(), Problem> {
    let fail = |detail: String| Err(bad_stream(shown, "labels", detail).with("label", k));
    if !logql::valid_label_name(k) || k.starts_with("__") {
        return fail(format!(
            "label name {k:?} is invalid: [a-zA-Z_][a-zA-Z0-9_]*, not starting with __"
        ));
    }
    if k.len() > MAX_LABEL_NAME {
        return fail(format!("label name longer than {MAX_LABEL_NAME} bytes"));
    }
    if v.len() > MAX_LABEL_VALUE {
        return fail(format!(
            "the value of label {k} is longer than {MAX_LABEL_VALUE} bytes"
        ));
    }
    Ok(())
}

/// `labels` without empty values, refused when all are empty or when there
/// are more than Loki's limit (`service_name` not counted, as Loki does not:
/// it may be Loki's own).
pub fn check_count(shown: &str, mut labels: Labels) -> Result<Labels, Problem> {
    if labels.values().all(|v| v.is_empty()) {
        return Err(bad_stream(
            shown,
            "labels",
            "every label of the stream is empty",
        ));
    }
    labels.retain(|_, v| !v.is_empty());
    let counted = labels.len() - usize::from(labels.contains_key(derive::SERVICE_NAME));
    if counted > MAX_LABELS {
        return Err(bad_stream(
            shown,
            "labels",
            format!(
                "entry for stream '{}' has {counted} label names; limit {MAX_LABELS}",
                canonical(&labels),
            ),
        ));
    }
    Ok(labels)
}

/// Checks one entry as Loki does: its line's size, its time (a week back to
/// ten minutes ahead of `now_ns`) and its structured metadata.
pub fn check_entry(shown: &str, i: usize, e: &Entry, now_ns: u64) -> Result<(), Problem> {
    let fail = |field: &str, detail: String| Err(bad_stream(shown, field, detail).with("entry", i));
    if e.line.len() > MAX_LINE_BYTES {
        return fail(
            "line",
            format!(
                "Max entry size '{MAX_LINE_BYTES}' bytes exceeded for stream '{shown}' while adding an entry with length '{}' bytes",
                e.line.len()
            ),
        );
    }
    let oldest = now_ns.saturating_sub(MAX_AGE_NS);
    if e.ts < oldest {
        return fail(
            "timestamp",
            format!(
                "entry for stream '{shown}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
                e.ts, oldest
            ),
        );
    }
    if e.ts > now_ns + MAX_AHEAD_NS {
        return fail(
            "timestamp",
            format!(
                "entry for stream '{shown}' has timestamp too new: {}, at most 10 minutes ahead of now ({now_ns})",
                e.ts
            ),
        );
    }
    check_metadata(&e.metadata).or_else(|detail| {
        fail(
            "structuredMetadata",
            format!("entry for stream '{shown}' has {detail}"),
        )
    })
}

/// Loki's limits on an entry's structured metadata: label names, at most
/// [`MAX_METADATA_ENTRIES`] of them and [`MAX_METADATA_BYTES`] in all
/// (values may be long: an OpenTelemetry stack trace is one).
fn check_metadata(metadata: &[(String, String)]) -> Result<(), String> {
    if let Some((k, _)) = metadata
        .iter()
        .find(|(k, _)| !logql::valid_label_name(k) || k.len() > MAX_LABEL_NAME)
    {
        return Err(format!("invalid structured metadata name {k:?}"));
    }
    let bytes: usize = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > MAX_METADATA_BYTES {
        return Err(format!(
            "structured metadata too large: '{bytes}' bytes, limit: '{MAX_METADATA_BYTES}' bytes"
        ));
    }
    if metadata.len() > MAX_METADATA_ENTRIES {
        return Err(format!(
            "too many structured metadata entries: '{}', limit: '{MAX_METADATA_ENTRIES}'",
            metadata.len()
        ));
    }
    Ok(())
}

/// A CRI log line: `<RFC3339Nano> <stdout|stderr> <F|P> <message>`.
fn cri(line: &str) -> Option<(u64, &str, bool, &str)> {
    let mut parts = line.splitn(4, ' ');
    let ts = parts.next()?;
    let stream = parts.next().filter(|s| *s == "stdout" || *s == "stderr")?;
    let full = match parts.next()? {
        "F" => true,
        "P" => false,
        _ => return None,
    };
    let msg = parts.next().unwrap_or("");
    let t = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).ok()?;
    let ns = u64::try_from(t.unix_timestamp_nanos()).ok()?;
    Some((ns, stream, full, msg))
}

/// A stream whose every line is CRI-formatted (what a shipper tailing
/// `/var/log/pods` sends unparsed) becomes one stream per CRI `stream`,
/// partial (`P`) lines joined to the line that finishes them, the CRI time
/// as the entry's; `None` for any other stream, which passes unchanged.
fn unwrap_cri(labels: &Labels, entries: &[Entry]) -> Option<Vec<(Labels, Vec<Entry>)>> {
    let parsed: Option<Vec<_>> = entries.iter().map(|e| cri(&e.line)).collect();
    let parsed = parsed.filter(|p| !p.is_empty())?;
    let mut by_stream: BTreeMap<&str, (Vec<Entry>, Option<Entry>)> = BTreeMap::new();
    for ((ts, stream, full, msg), original) in parsed.into_iter().zip(entries) {
        let (done, partial) = by_stream.entry(stream).or_default();
        let entry = partial.get_or_insert_with(|| Entry {
            ts,
            line: String::new(),
            metadata: original.metadata.clone(),
        });
        entry.line.push_str(msg);
        if full {
            done.extend(partial.take());
        }
    }
    let streams = by_stream
        .into_iter()
        .map(|(stream, (mut done, partial))| {
            done.extend(partial);
            let mut l = labels.clone();
            l.entry("stream".to_owned())
                .or_insert_with(|| stream.to_owned());
            (l, done)
        })
        .collect();
    Some(streams)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000_000_000;

    fn json(body: &str) -> Result<Vec<StreamBatch>, Problem> {
        decode(body.as_bytes(), Body::Json, NOW, 1 << 20)
    }

    #[test]
    fn a_json_push_decodes_with_metadata_and_aliases() {
        let b = json(&format!(
            r#"{{"streams":[{{"stream":{{"namespace_name":"shop","pod_name":"web-1","kubernetes_labels_app":"web"}},
               "values":[["{}","second"],["{}","first",{{"trace_id":"t1"}}]]}}]}}"#,
            NOW + 1,
            NOW
        ))
        .unwrap();
        assert_eq!(b.len(), 1);
        let l: Vec<_> = b[0]
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            l,
            ["app=web", "namespace=shop", "pod=web-1", "service_name=web"],
            "service_name derived from app, as Loki 3 does"
        );
        assert_eq!(b[0].entries[0].line, "first", "sorted by time");
        assert_eq!(
            b[0].entries[0].metadata,
            vec![
                ("trace_id".into(), "t1".into()),
                ("detected_level".into(), "unknown".into())
            ]
        );
    }

    #[test]
    fn a_protobuf_push_decodes() {
        let push = proto::PushRequest {
            streams: vec![proto::StreamAdapter {
                labels: r#"{app="a", pod="p"}"#.into(),
                entries: vec![proto::EntryAdapter {
                    timestamp: Some(proto::Timestamp {
                        seconds: (NOW / 1_000_000_000) as i64,
                        nanos: 7,
                    }),
                    line: "hello".into(),
                    structured_metadata: vec![],
                }],
                hash: 0,
            }],
        };
        let body = snap::raw::Encoder::new()
            .compress_vec(&prost::Message::encode_to_vec(&push))
            .unwrap();
        let b = decode(&body, Body::Protobuf, NOW, 1 << 20).unwrap();
        assert_eq!(b[0].entries[0].ts, NOW / 1_000_000_000 * 1_000_000_000 + 7);
        assert!(decode(b"not snappy", Body::Protobuf, NOW, 1 << 20).is_err());
    }

    #[test]
    fn cri_lines_are_unwrapped_and_partials_joined() {
        let b = json(
            r#"{"streams":[{"stream":{"pod":"p"},"values":[
            ["1800000000000000000","2027-01-15T08:00:00.000000001Z stdout P hel"],
            ["1800000000000000001","2027-01-15T08:00:00.000000002Z stderr F oops"],
            ["1800000000000000002","2027-01-15T08:00:00.000000003Z stdout F lo"]]}]}"#,
        )
        .unwrap();
        assert_eq!(b.len(), 2);
        let out = b.iter().find(|s| s.labels["stream"] == "stdout").unwrap();
        assert_eq!(out.entries.len(), 1);
        assert_eq!(out.entries[0].line, "hello");
    }

    /// What a CRI line carries is checked as stored: its own time, and a
    /// line joined from partials, not the outer entry's.
    #[test]
    fn cri_times_and_joined_lines_are_checked_too() {
        let ahead = json(
            r#"{"streams":[{"stream":{"pod":"p"},"values":[
            ["1800000000000000000","2100-01-01T00:00:00Z stdout F hi"]]}]}"#,
        )
        .unwrap_err();
        assert_eq!(ahead.status, StatusCode::BAD_REQUEST);
        assert_eq!(ahead.extra["field"], "timestamp", "{}", ahead.detail);
        let half = "x".repeat(MAX_LINE_BYTES / 2 + 1);
        let joined = format!(
            r#"{{"streams":[{{"stream":{{"pod":"p"}},"values":[
            ["1800000000000000000","2027-01-15T08:00:00Z stdout P {half}"],
            ["1800000000000000001","2027-01-15T08:00:00Z stdout F {half}"]]}}]}}"#
        );
        let long = json(&joined).unwrap_err();
        assert_eq!(long.extra["field"], "line", "{}", long.detail);
    }

    #[test]
    fn bad_pushes_name_the_stream_and_field() {
        let long = "x".repeat(MAX_LINE_BYTES + 1);
        let cases = [
            ("{", "body"),
            (
                r#"{"streams":[{"values":[]}]}"#.to_owned().leak() as &str,
                "stream",
            ),
            (
                r#"{"streams":[{"stream":{},"values":[["1800000000000000000","x"]]}]}"#,
                "labels",
            ),
            (
                r#"{"streams":[{"stream":{"a-b":"x"},"values":[["1800000000000000000","x"]]}]}"#,
                "labels",
            ),
            (
                r#"{"streams":[{"stream":{"a":"x"},"values":[["1","x"]]}]}"#,
                "timestamp",
            ),
            (
                r#"{"streams":[{"stream":{"a":"x"},"values":[["1900000000000000000","x"]]}]}"#,
                "timestamp",
            ),
            (
                r#"{"streams":[{"stream":{"a":"x"},"values":[["soon","x"]]}]}"#,
                "values",
            ),
        ];
        for (body, field) in cases {
            let p = json(body).unwrap_err();
            assert_eq!(p.status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(p.extra["field"], field, "{body}: {}", p.detail);
        }
        let p = json(&format!(
            r#"{{"streams":[{{"stream":{{"a":"x"}},"values":[["{NOW}","{long}"]]}}]}}"#
        ))
        .unwrap_err();
        assert_eq!(p.extra["field"], "line");
        assert_eq!(p.extra["stream"], r#"{a="x"}"#);
        let many: Vec<String> = (0..16).map(|i| format!("\"l{i}\":\"v\"")).collect();
        let p = json(&format!(
            r#"{{"streams":[{{"stream":{{{}}},"values":[["{NOW}","x"]]}}]}}"#,
            many.join(",")
        ))
        .unwrap_err();
        assert!(p.detail.contains("limit 15"), "{}", p.detail);
        // service_name is not counted: it may be Loki's own.
        let mut fifteen: Vec<String> = (0..15).map(|i| format!("\"l{i}\":\"v\"")).collect();
        fifteen.push("\"service_name\":\"s\"".into());
        let ok = json(&format!(
            r#"{{"streams":[{{"stream":{{{}}},"values":[["{NOW}","x"]]}}]}}"#,
            fifteen.join(",")
        ));
        assert!(ok.is_ok(), "{:?}", ok.err());
    }
}
