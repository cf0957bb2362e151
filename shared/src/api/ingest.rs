//! The write path (`ingest` component): register tasks, append to sandbox
//! files, append journal entries.
//!
//! ```text
//! PUT  /system/v1/logs/v2/ingest/tasks/{task_id}                  task metadata (JSON)
//! GET  /system/v1/logs/v2/ingest/tasks/{task_id}                  the stored metadata
//! POST /system/v1/logs/v2/ingest/tasks/{task_id}/files/{filename} lines: text/plain, or
//!                                                                 NDJSON {"line": "..."}
//! POST /system/v1/logs/v2/ingest/component                        journal entries (NDJSON)
//! POST /loki/api/v1/push                                          Loki push: labelled streams
//! POST /otlp/v1/logs                                              OpenTelemetry logs (OTLP/HTTP)
//! ```
//! A body is validated whole before anything is stored, so a bad line rejects
//! the batch and nothing of it becomes visible. `Idempotency-Key` makes appends
//! safe to retry.

use crate::env::Env;
use crate::model::journal;
use crate::model::sandbox::{Sandboxes, TaskSpec};
use crate::model::{otlp, push, stream};
use crate::routes::ingest::{FAMILY, Ingest};
use crate::store::log::{AppendError, IdempotencyKey, Outcome};
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;
use http::{StatusCode, header};
use serde::Deserialize;
use serde_json::json;

pub use crate::routes::ingest::PREFIX;

/// The `ingest` component.
pub const API: super::Api<Ingest> = super::Api {
    family: &FAMILY,
    handle,
};

fn handle(route: Ingest, req: &Request, env: &Env) -> Result<Response, Problem> {
    let decoded = decode_body(req, env.config.max_body_bytes()?)?;
    let req = decoded.as_ref().unwrap_or(req);
    match route {
        Ingest::PutTask { task_id } => register(req, env, &task_id),
        Ingest::GetTask { task_id } => get_task(env, &task_id),
        Ingest::AppendFile { task_id, file } => append_file(req, env, &task_id, &file),
        Ingest::AppendJournal => append_journal(req, env),
        Ingest::LokiPush => loki_push(req, env),
        Ingest::OtlpLogs => otlp_push(req, env),
    }
}

/// The request with its body decoded, when it came `Content-Encoding: gzip`
/// (shippers compress). `max_body_bytes` bounds the decoded bytes too, so a
/// small bomb is a 413; an encoding not supported is a 415, and a body that
/// is not what its encoding says is a 400. `None`: nothing to decode.
fn decode_body(req: &Request, limit: u64) -> Result<Option<Request>, Problem> {
    use std::io::Read;
    let Some(encoding) = req.header(header::CONTENT_ENCODING).map(str::trim) else {
        return Ok(None);
    };
    match encoding.to_ascii_lowercase().as_str() {
        "" | "identity" => Ok(None),
        "gzip" | "x-gzip" => {
            let mut body = Vec::new();
            flate2::read::MultiGzDecoder::new(req.body.as_slice())
                .take(limit.saturating_add(1))
                .read_to_end(&mut body)
                .map_err(|e| {
                    Problem::bad_request(format!("the body is not valid gzip: {e}"))
                        .with("parameter", "Content-Encoding")
                })?;
            if body.len() as u64 > limit {
                return Err(Problem::too_large(limit));
            }
            let mut decoded = req.clone();
            decoded.body = body;
            Ok(Some(decoded))
        }
        other => Err(Problem::unsupported_media_type(format!(
            "Content-Encoding {other:?} is not supported; send identity or gzip"
        ))),
    }
}

/// Largest task metadata document: ample for Mesos-like metadata, and it
/// keeps every task record small for the routes that read many of them.
pub const MAX_TASK_BYTES: u64 = 64 * 1024;

fn register(req: &Request, env: &Env, id: &str) -> Result<Response, Problem> {
    if req.body.len() as u64 > MAX_TASK_BYTES {
        return Err(Problem::too_large(MAX_TASK_BYTES));
    }
    let spec = req.json::<TaskSpec>("task metadata")?.checked(id)?;
    let (task, created) =
        Sandboxes::new(env.store.clone()).register(id, spec, crate::util::clock::now_micros())?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(Response::json(status, &task))
}

fn get_task(env: &Env, id: &str) -> Result<Response, Problem> {
    let task = Sandboxes::new(env.store.clone())
        .task(id)?
        .ok_or_else(|| Problem::not_found(format!("no task {id:?}")))?;
    Ok(Response::json(StatusCode::OK, &task).header(header::CACHE_CONTROL, "no-cache"))
}

fn append_file(req: &Request, env: &Env, id: &str, name: &str) -> Result<Response, Problem> {
    let idem = idempotency_key(req)?;
    let remember = Remember::of(env)?;
    let data = file_lines(req)?;
    let sandboxes = Sandboxes::new(env.store.clone());
    let Some(task) = sandboxes.task(id)? else {
        return Err(Problem::not_found(format!(
            "no task {id:?}: register it with PUT {PREFIX}/tasks/{{task_id}} first"
        )));
    };
    let log = sandboxes.file(id, name);
    if log.head()?.is_none() {
        sandboxes.add_file(id, name)?;
        // Searchable beside pushed streams (GET /k8s/v1/?task=...).
        let now_ns = crate::util::clock::now_micros().saturating_mul(1000);
        stream::register_file(&env.store, id, &task.labels, name, log.prefix(), now_ns)?;
    }
    let key = idem.map(|k| remember.key(k, &req.body));
    let outcome = log.append(&data, key.as_ref()).map_err(append_problem)?;
    let done = outcome.appended();
    let body = json!({
        "task_id": id,
        "file": name,
        "offset": done.offset,
        "bytes": done.bytes,
        "first_line": done.first_line,
        "lines": done.lines,
        "size": done.size,
    });
    Ok(receipt(&outcome, &body))
}

fn append_journal(req: &Request, env: &Env) -> Result<Response, Problem> {
    let idem = idempotency_key(req)?;
    let remember = Remember::of(env)?;
    match req.content_type().as_deref() {
        None | Some("application/x-ndjson" | "application/json" | "application/jsonl") => {}
        Some(other) => {
            return Err(Problem::unsupported_media_type(format!(
                "journal entries are NDJSON (application/x-ndjson), not {other}"
            )));
        }
    }
    let (data, entries) = journal::parse_batch(&req.body, crate::util::clock::now_micros())?;
    let key = idem.map(|k| remember.key(k, &req.body));
    let outcome = journal::log(env.store.clone())
        .append(&data, key.as_ref())
        .map_err(append_problem)?;
    let done = outcome.appended();
    let body = json!({
        "entries": entries,
        "offset": done.offset,
        "first_line": done.first_line,
        "size": done.size,
    });
    Ok(receipt(&outcome, &body))
}

/// A Loki push: every stream checked (`model::push`) before the first
/// entry is stored; 204 as Loki answers.
fn loki_push(req: &Request, env: &Env) -> Result<Response, Problem> {
    let kind = push::Body::of(req.header(header::CONTENT_TYPE))?;
    let now_ns = crate::util::clock::now_micros().saturating_mul(1000);
    let batches = push::decode(
        &req.body,
        kind,
        now_ns,
        env.config.max_body_bytes()? as usize,
    )?;
    store_batches(req, env, &batches)
}

/// OpenTelemetry logs (OTLP/HTTP): mapped to streams as Loki maps them
/// (`model::otlp`), checked whole, then stored as a push; 204 as Loki
/// answers an OTLP export.
fn otlp_push(req: &Request, env: &Env) -> Result<Response, Problem> {
    let kind = otlp::Body::of(req.content_type().as_deref())?;
    let now_ns = crate::util::clock::now_micros().saturating_mul(1000);
    let batches = otlp::decode(&req.body, kind, now_ns)?;
    if batches.is_empty() {
        return Ok(Response::new(StatusCode::NO_CONTENT));
    }
    store_batches(req, env, &batches)
}

/// Stores checked batches, one keyed append per stream (new streams
/// registered first), and answers 204; or, when entries of a stream were
/// too far behind its newest to be stored (the rest are), Loki's 400
/// naming them, so a shipper logs what it lost and does not retry.
fn store_batches(
    req: &Request,
    env: &Env,
    batches: &[push::StreamBatch],
) -> Result<Response, Problem> {
    let idem = idempotency_key(req)?;
    let remember = Remember::of(env)?;
    // Streams of a namespace whose collection is disabled are dropped and
    // counted (`collect::settings::admit_push`); the rest are kept, each
    // with the registered cluster its lines are counted under.
    let sizes: Vec<_> = batches
        .iter()
        .map(|b| (&b.labels, b.entries.len() as u64))
        .collect();
    let verdict = crate::collect::settings::admit_push(env, &sizes)?;
    let batches: Vec<(&push::StreamBatch, &str)> = verdict
        .keep
        .iter()
        .filter_map(|(i, cluster)| Some((batches.get(*i)?, cluster.as_str())))
        .collect();
    let mut logs = Vec::with_capacity(batches.len());
    // Streams with no head yet: registration comes before a stream's first
    // commit, so one with a head is registered and costs no index read.
    let mut new = Vec::new();
    for (b, _) in &batches {
        let id = stream::stream_id(&b.labels);
        let log = stream::log(env.store.clone(), &id);
        if log.head()?.is_none() {
            let first = b.entries.first().map_or(0, |e| e.ts);
            new.push((b.labels.clone(), first, None));
        }
        logs.push((id, log));
    }
    let keys = match idem {
        Some(k) => checked_keys(&batches, &logs, k, &remember)?,
        None => batches.iter().map(|_| None).collect(),
    };
    stream::register_many(&env.store, &new)?;
    let mut behind = Vec::new();
    for (((b, cluster), (_, log)), key) in batches.iter().zip(logs).zip(keys) {
        let bytes = encode(b);
        let outcome = log
            .append_keyed(&bytes, key.as_ref(), stream::keys(&b.entries))
            .map_err(append_problem)?;
        if let crate::store::log::Outcome::Appended(_) = &outcome {
            crate::store::metrics::received(
                env.store.meta.as_ref(),
                crate::store::metrics::SOURCES[0],
                cluster,
                b.entries.len() as u64,
                bytes.len() as u64,
            );
        }
        if let Some(cutoff) = outcome.appended().behind {
            behind.push(TooFarBehind { batch: b, cutoff });
        }
    }
    if behind.is_empty() {
        return Ok(Response::new(StatusCode::NO_CONTENT));
    }
    Err(too_far_behind(&behind))
}

/// A stream some of whose entries were dropped: those below `cutoff`.
struct TooFarBehind<'b> {
    batch: &'b push::StreamBatch,
    cutoff: u64,
}

/// Entries listed per stream, as Loki's `max_returned_stream_errors`.
const LISTED: usize = 10;

/// Loki's answer when entries were too far behind (`pkg/ingester/stream.go`,
/// word for word): one line per entry dropped, then the count per stream.
fn too_far_behind(streams: &[TooFarBehind]) -> Problem {
    let mut text = Vec::new();
    for s in streams {
        let dropped: Vec<&stream::Entry> =
            s.batch.entries.iter().filter(|e| e.ts < s.cutoff).collect();
        for e in dropped.iter().take(LISTED) {
            text.push(format!(
                "entry with timestamp {} ignored, reason: 'entry too far behind, entry timestamp is: {}, oldest acceptable timestamp is: {}',",
                go_time(e.ts),
                rfc3339_s(e.ts),
                rfc3339_s(s.cutoff)
            ));
        }
        text.push(format!(
            "user 'fake', total ignored: {} out of {} for stream: {}",
            dropped.len(),
            s.batch.entries.len(),
            stream::canonical(&s.batch.labels)
        ));
    }
    let first = &streams[0];
    Problem::new(StatusCode::BAD_REQUEST, "Bad Push", text.join("\n"))
        .with("stream", stream::canonical(&first.batch.labels))
        .with("field", "timestamp")
        .with("oldest_acceptable_ns", first.cutoff)
}

/// A time as Go's `time.Time.String` writes it in UTC (what Loki's messages
/// show): `2024-05-01 09:00:00.5 +0000 UTC`.
fn go_time(ns: u64) -> String {
    use crate::read::format::{date_time, fraction};
    date_time(i128::from(ns), ' ').map_or_else(
        || ns.to_string(),
        |(s, n)| format!("{s}{} +0000 UTC", fraction(n)),
    )
}

/// A time as Go's `time.RFC3339` writes it in UTC: whole seconds.
fn rfc3339_s(ns: u64) -> String {
    crate::read::format::date_time(i128::from(ns), 'T')
        .map_or_else(|| ns.to_string(), |(s, _)| s + "Z")
}

/// How long this deployment remembers idempotency keys, and how long an
/// attempt may take to commit (`idempotency_*`).
struct Remember {
    ttl_s: u64,
    in_flight_us: u64,
}

impl Remember {
    fn of(env: &Env) -> Result<Self, Problem> {
        Ok(Remember {
            ttl_s: env.config.idempotency_ttl_s()?,
            in_flight_us: env.config.idempotency_in_flight_ms()?.saturating_mul(1000),
        })
    }

    fn key(&self, key: &str, body: &[u8]) -> IdempotencyKey {
        IdempotencyKey::new(key, body, self.ttl_s).in_flight(self.in_flight_us)
    }
}

/// A stream's entries as a push stores them.
fn encode(b: &push::StreamBatch) -> Vec<u8> {
    let mut bytes = Vec::new();
    for e in &b.entries {
        stream::encode(e, &mut bytes);
    }
    bytes
}

/// Each stream's idempotency key (the request's `key`, per stream, over its
/// bytes). A key used before with another body is a 422 for the whole
/// push, found before any stream is registered or stored. (Best effort
/// against a concurrent push with the same key: one that takes a stream's
/// key between this check and that stream's append still gets its 422
/// there, after the streams before it were stored.)
fn checked_keys(
    batches: &[(&push::StreamBatch, &str)],
    logs: &[(String, crate::store::log::Log)],
    key: &str,
    remember: &Remember,
) -> Result<Vec<Option<IdempotencyKey>>, Problem> {
    let mut keys = Vec::with_capacity(batches.len());
    for ((b, _), (id, log)) in batches.iter().zip(logs) {
        let idem = remember.key(&format!("{key}/{id}"), &encode(b));
        if log.key_reused(&idem)? {
            return Err(append_problem(AppendError::KeyReused));
        }
        keys.push(Some(idem));
    }
    Ok(keys)
}

/// A reused idempotency key is the client's mistake (422); the rest is storage.
fn append_problem(e: AppendError) -> Problem {
    match e {
        AppendError::KeyReused => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Idempotency Key Reused",
            "this Idempotency-Key was already used with a different body",
        ),
        AppendError::OutOfOrder { last } => Problem::bad_request(format!(
            "entry out of order: this log already holds entries up to {last}"
        )),
        AppendError::InProgress { retry_after_s } => Problem::new(
            StatusCode::CONFLICT,
            "Idempotency Key In Use",
            "an attempt with this Idempotency-Key may still be committing; retry after \
             Retry-After seconds, when it has either committed (and the retry replays it) \
             or can no longer commit",
        )
        .with("retry_after", retry_after_s),
        AppendError::Store(e) => e.into(),
    }
}

fn receipt(outcome: &Outcome, body: &serde_json::Value) -> Response {
    let response = Response::json(StatusCode::OK, body);
    match outcome {
        Outcome::Appended(_) => response,
        Outcome::Replayed(_) => response.header(
            header::HeaderName::from_static("idempotent-replayed"),
            "true",
        ),
    }
}

fn idempotency_key(req: &Request) -> Result<Option<&str>, Problem> {
    let Some(raw) = req.headers.get("idempotency-key") else {
        return Ok(None);
    };
    match raw.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k))
        }
        _ => Err(Problem::bad_param(
            "Idempotency-Key",
            "Idempotency-Key must be 1-255 visible ASCII characters",
        )),
    }
}

/// One NDJSON record of a file append.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineRecord {
    line: String,
}

/// The bytes to append: whole UTF-8 lines, each ending in `\n`.
fn file_lines(req: &Request) -> Result<Vec<u8>, Problem> {
    parse_lines(req.content_type().as_deref(), &req.body)
}

/// Parses a file append's body of media type `content_type` (lower-cased,
/// without parameters) into the bytes to append: whole UTF-8 lines, each
/// ending in `\n`. Nothing is stored if this fails.
pub fn parse_lines(content_type: Option<&str>, body: &[u8]) -> Result<Vec<u8>, Problem> {
    if body.is_empty() {
        return Err(Problem::bad_request("the body is empty: nothing to append"));
    }
    match content_type {
        // Lines are text: a body labelled as bytes (application/octet-stream)
        // is refused rather than guessed at, like any other type.
        None | Some("text/plain") => {
            if let Err(e) = std::str::from_utf8(body) {
                let at = e.valid_up_to();
                let line = memchr::memchr_iter(b'\n', &body[..at]).count() + 1;
                return Err(Problem::bad_request(format!(
                    "line {line} is not valid UTF-8 (byte offset {at})"
                ))
                .with("line", line));
            }
            let mut data = body.to_vec();
            if data.last() != Some(&b'\n') {
                data.push(b'\n');
            }
            Ok(data)
        }
        Some("application/x-ndjson" | "application/json" | "application/jsonl") => {
            let text = std::str::from_utf8(body)
                .map_err(|_| Problem::bad_request("the NDJSON body is not valid UTF-8"))?;
            let mut data = Vec::with_capacity(text.len());
            for (i, raw) in text.lines().enumerate() {
                if raw.trim().is_empty() {
                    continue;
                }
                let bad = |detail: String| {
                    Problem::bad_request(format!("line {}: {detail}", i + 1)).with("line", i + 1)
                };
                let rec: LineRecord = serde_json::from_str(raw)
                    .map_err(|e| bad(format!("expected {{\"line\": \"...\"}}: {e}")))?;
                if rec.line.contains('\n') {
                    return Err(bad("a line may not contain a newline".into()));
                }
                data.extend_from_slice(rec.line.as_bytes());
                data.push(b'\n');
            }
            if data.is_empty() {
                return Err(Problem::bad_request("the body holds no lines"));
            }
            Ok(data)
        }
        Some(other) => Err(Problem::unsupported_media_type(format!(
            "append text/plain lines or application/x-ndjson records, not {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::store::Store;
    use crate::store::kv::MemoryKv;
    use http::Method;
    use std::rc::Rc;
    use std::sync::Arc;

    struct Fixture {
        env: Env,
        meta: Arc<MemoryKv>,
        blobs: Arc<MemoryKv>,
    }

    impl Fixture {
        fn new() -> Self {
            let (meta, blobs) = (Arc::new(MemoryKv::new()), Arc::new(MemoryKv::new()));
            let store = Store::new(Box::new(meta.clone()), Box::new(blobs.clone()));
            let env = Env {
                store: Rc::new(store),
                config: Config::default(),
            };
            Self { env, meta, blobs }
        }

        fn call(
            &self,
            method: Method,
            path: &str,
            ct: Option<&str>,
            body: &[u8],
        ) -> (StatusCode, String) {
            let mut req = Request::new(method, &format!("{PREFIX}{path}")).with_body(body);
            if let Some(ct) = ct {
                req = req.with_header("content-type", ct);
            }
            let resp = API.call(req, &self.env);
            let status = resp.status;
            let is_problem = resp
                .headers
                .get("content-type")
                .is_some_and(|v| v == "application/problem+json");
            let body = String::from_utf8(resp.into_bytes().unwrap()).unwrap();
            assert_eq!(is_problem, !status.is_success(), "{status} {body}");
            (status, body)
        }

        fn keys(&self) -> (usize, usize) {
            (self.meta.len(), self.blobs.len())
        }
    }

    const TASK: &str = r#"{"name":"web-1","agent_id":"A","framework_id":"F","container_id":"C"}"#;

    #[test]
    fn gzip_bodies_are_decoded_and_bounded() {
        use std::io::Write;
        let gz = |data: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        };
        let f = Fixture::new();
        f.call(Method::PUT, "/tasks/t1", None, TASK.as_bytes());
        let send = |encoding: &str, body: &[u8]| {
            let req = Request::new(Method::POST, &format!("{PREFIX}/tasks/t1/files/stdout"))
                .with_header("content-type", "text/plain")
                .with_header("content-encoding", encoding)
                .with_body(body);
            API.call(req, &f.env).status.as_u16()
        };
        assert_eq!(send("gzip", &gz(b"one\ntwo\n")), 200);
        let before = f.keys();
        assert_eq!(send("gzip", b"plain text, not gzip\n"), 400);
        assert_eq!(send("br", &gz(b"x\n")), 415);
        let bomb = gz(&vec![
            b'a';
            Config::default().max_body_bytes().unwrap() as usize
                + 1
        ]);
        assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
        assert_eq!(send("gzip", &bomb), 413);
        assert_eq!(f.keys(), before, "nothing stored by refused bodies");
        let read = Request::new(
            Method::GET,
            "/system/v1/agent/A/logs/v2/task/frameworks/F/executors/t1/runs/C/stdout",
        );
        let text = crate::api::dump::API
            .call(read, &f.env)
            .into_bytes()
            .unwrap();
        assert_eq!(text, b"one\ntwo\n");
    }

    #[test]
    fn registers_then_appends_lines() {
        let f = Fixture::new();
        assert_eq!(
            f.call(Method::PUT, "/tasks/t1", None, TASK.as_bytes()).0,
            StatusCode::CREATED
        );
        assert_eq!(
            f.call(Method::PUT, "/tasks/t1", None, TASK.as_bytes()).0,
            StatusCode::OK
        );
        let (status, body) = f.call(Method::POST, "/tasks/t1/files/stdout", None, b"a\nb");
        assert_eq!(status, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (
                v["offset"].as_u64(),
                v["lines"].as_u64(),
                v["size"].as_u64()
            ),
            (Some(0), Some(2), Some(4))
        );
        let (_, body) = f.call(
            Method::POST,
            "/tasks/t1/files/stdout",
            Some("application/x-ndjson"),
            b"{\"line\":\"c\"}\n",
        );
        assert!(body.contains("\"offset\":4"), "{body}");
        let files = Sandboxes::new(f.env.store.clone()).files("t1").unwrap();
        assert_eq!((files[0].name.as_str(), files[0].size), ("stdout", 6));
    }

    #[test]
    fn bad_input_is_a_4xx_and_stores_nothing() {
        let f = Fixture::new();
        f.call(Method::PUT, "/tasks/t1", None, TASK.as_bytes());
        f.call(Method::POST, "/tasks/t1/files/stdout", None, b"seed\n");
        let before = f.keys();
        let long = "x".repeat(256);
        type Case<'a> = (Method, String, Option<&'a str>, Vec<u8>, StatusCode);
        let cases: Vec<Case> = vec![
            (
                Method::PUT,
                "/tasks/t2".into(),
                None,
                b"{".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::PUT,
                "/tasks/t2".into(),
                None,
                br#"{"name":1,"agent_id":"A","framework_id":"F","container_id":"C"}"#.to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::PUT,
                "/tasks/t2".into(),
                None,
                br#"{"name":"n","agent_id":"A","framework_id":"F","container_id":"C","oops":true}"#
                    .to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::PUT,
                "/tasks/t2".into(),
                Some("text/plain"),
                TASK.as_bytes().to_vec(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (
                Method::PUT,
                "/tasks/..".into(),
                None,
                TASK.as_bytes().to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::PUT,
                "/tasks/%2e%2e".into(),
                None,
                TASK.as_bytes().to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::PUT,
                "/tasks/a%2Fb".into(),
                None,
                TASK.as_bytes().to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::PUT,
                "/tasks/a%00b".into(),
                None,
                TASK.as_bytes().to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::PUT,
                format!("/tasks/{long}"),
                None,
                TASK.as_bytes().to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::POST,
                "/tasks/t1/files/..".into(),
                None,
                b"x\n".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::POST,
                "/tasks/t1/files/a%5Cb".into(),
                None,
                b"x\n".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::POST,
                format!("/tasks/t1/files/{long}"),
                None,
                b"x\n".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::POST,
                "/tasks/t1/files/stdout".into(),
                None,
                b"ok\n\xff\xfe\n".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::POST,
                "/tasks/t1/files/stdout".into(),
                None,
                Vec::new(),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::POST,
                "/tasks/t1/files/stdout".into(),
                Some("application/x-ndjson"),
                b"{\"line\":\"a\"}\n{\"line\":2}\n".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::POST,
                "/tasks/t1/files/stdout".into(),
                Some("application/x-ndjson"),
                b"{\"line\":\"a\",\"x\":1}\n".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::POST,
                "/tasks/t1/files/stdout".into(),
                Some("application/x-ndjson"),
                b"{\"line\":\"a\\nb\"}\n".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::POST,
                "/tasks/t1/files/stdout".into(),
                Some("image/png"),
                b"x\n".to_vec(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (
                Method::POST,
                "/tasks/nope/files/stdout".into(),
                None,
                b"x\n".to_vec(),
                StatusCode::NOT_FOUND,
            ),
            (
                Method::POST,
                "/component".into(),
                None,
                b"{\"MESSAGE\":\"ok\"}\n{\"MESSAGE\":{}}\n".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::POST,
                "/component".into(),
                None,
                b"not json\n".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::GET,
                "/tasks/t1/files/stdout".into(),
                None,
                Vec::new(),
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            (
                Method::POST,
                "/elsewhere".into(),
                None,
                Vec::new(),
                StatusCode::NOT_FOUND,
            ),
        ];
        for (method, path, ct, body, want) in cases {
            let (status, detail) = f.call(method, &path, ct, &body);
            assert_eq!(status, want, "{path}: {detail}");
            assert_eq!(f.keys(), before, "{path} stored something");
        }
    }

    #[test]
    fn retried_appends_with_one_key_store_once() {
        let f = Fixture::new();
        f.call(Method::PUT, "/tasks/t1", None, TASK.as_bytes());
        for _ in 0..3 {
            let req = Request::new(Method::POST, &format!("{PREFIX}/tasks/t1/files/stdout"))
                .with_header("idempotency-key", "abc")
                .with_body(&b"once\n"[..]);
            assert_eq!(API.call(req, &f.env).status, StatusCode::OK);
        }
        let head = Sandboxes::new(f.env.store.clone())
            .file("t1", "stdout")
            .head()
            .unwrap()
            .unwrap();
        assert_eq!(head.size, 5);
    }
}
