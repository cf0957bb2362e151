//! Entry points for the fuzz targets in `fuzz/` and for the regression tests
//! that replay what they found (`tests/tests/fuzz_regressions.rs`).
//!
//! Each function takes arbitrary input, drives the real parsing code with it
//! (no copies of the logic live here) and panics when an invariant breaks,
//! which is what a fuzzer reports as a crash. Not an API: hidden from docs.

use crate::env::Env;
use crate::model::sandbox::Task;
use crate::read::format::{Format, sse_event};
use crate::read::params::{Cursor, ReadParams};
use crate::read::reader::{FileSource, JournalSource, Read, Source, start_position};
use crate::routes::resolve;
use crate::store::Store;
use crate::store::kv::MemoryKv;
use crate::store::log::Log;
use crate::web::message::{Request, Response};
use crate::web::path::{MAX_NAME_BYTES, ReadTarget, validate_name};
use crate::web::query::Query;
use http::Method;
use std::rc::Rc;
use std::sync::Arc;

thread_local! {
    /// Built once per thread: building it costs more than most inputs. Only
    /// reads and follows use it, and a follow's lease is gone when it ends.
    static POPULATED: Env = populated();
}

/// Runs `f` with the [`populated`] store.
fn with_populated<T>(f: impl FnOnce(&Env) -> T) -> T {
    POPULATED.with(f)
}

/// A small store: task t1 (agent A, app shop) and pod task t2 (agent B, app
/// blog), each with a stdout, and a journal. Follows end at once (budget 0).
fn populated() -> Env {
    let env = Env {
        // `GET /logs` captures the whole journal, as the fuzz targets expect.
        config: crate::config::Config::with(&[
            ("tail_budget_ms", "0"),
            ("capture_default_process", "*"),
        ]),
        ..Env::memory()
    };
    let call = |method: Method, path: &str, body: &str| {
        let req = Request::new(method, &format!("{}{path}", crate::api::ingest::PREFIX))
            .with_body(body.as_bytes().to_vec());
        let r = crate::api::ingest::API.call(req, &env);
        assert!(r.status.is_success(), "fixture {path}: {}", r.status);
    };
    for (id, agent, app, pod) in [("t1", "A", "shop", false), ("t2", "B", "blog", true)] {
        call(
            Method::PUT,
            &format!("/tasks/{id}"),
            &format!(
                r#"{{"name":"{id}-1","agent_id":"{agent}","framework_id":"F","container_id":"C{id}","pod":{pod},"labels":{{"app":"{app}"}}}}"#
            ),
        );
        call(
            Method::POST,
            &format!("/tasks/{id}/files/stdout"),
            &format!("{app} one\n{app} two\n"),
        );
    }
    call(
        Method::POST,
        "/component",
        "{\"MESSAGE\":\"j one\",\"UNIT\":\"u\"}\n{\"MESSAGE\":\"j two\",\"PRIORITY\":\"3\"}\n",
    );
    env
}

/// Agent route prefixes of the [`populated`] tasks.
const T1: &str = "/system/v1/agent/A/logs/v2/task/frameworks/F/executors/t1/runs/Ct1";
const T2: &str = "/system/v1/agent/B/logs/v2/task/frameworks/F/executors/t2/runs/Ct2/tasks/t2";

/// Asserts what [`validate_name`] promises of a name it accepts.
fn assert_name(name: &str) {
    assert!(!name.is_empty() && name.len() <= MAX_NAME_BYTES, "{name:?}");
    assert!(name != "." && name != "..", "{name:?}");
    assert!(!name.contains(['/', '\\']), "{name:?}");
    assert!(!name.chars().any(char::is_control), "{name:?}");
}

/// A problem answer, as every handler gives for bad input: 4xx, problem+json.
fn assert_client_problem(path: &str, r: &Response) {
    let status = r.status.as_u16();
    assert!(
        status < 500,
        "{path:?}: an empty store answered {status} to a hostile path"
    );
    if status >= 400 {
        assert_eq!(
            r.headers.get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/problem+json"[..]),
            "{path:?}"
        );
    }
}

/// Router: path parsing of every route family. Ids and names that come out
/// of a path are valid names, a discovery `Location` parses back to the same
/// ids, and handlers answer hostile paths with problems, never a 5xx.
pub fn router(input: &str) {
    if validate_name("name", input).is_ok() {
        assert_name(input);
    }
    let found = resolve(&Method::GET, input);
    if let Some(params) = &found.params {
        // Every id and name a route carries (group ids, processes and label
        // names have stricter rules of their own).
        for (name, value) in params.named() {
            if !matches!(*name, "group_id" | "process" | "name") {
                assert_name(value);
            }
        }
    }
    assert_eq!(
        resolve(&Method::GET, input),
        found,
        "parsing is deterministic"
    );
    location_round_trip(input);

    // Every handler, on an empty store: only problems and empty reads, and
    // nothing stored.
    let (meta, blobs) = (Arc::new(MemoryKv::new()), Arc::new(MemoryKv::new()));
    let env = Env {
        store: Rc::new(Store::new(Box::new(meta.clone()), Box::new(blobs.clone()))),
        config: crate::config::Config::default(),
    };
    let path = format!("/{}", input.trim_start_matches('/'));
    let get = || Request::new(Method::GET, &path);
    let answers = [
        crate::api::ingest::API.call(get(), &env),
        crate::api::discovery::API.call(get(), &env),
        crate::api::dump::API.call(get(), &env),
        crate::api::browse::API.call(get(), &env),
        crate::api::archive::API.call(get(), &env),
    ];
    for r in &answers {
        assert_client_problem(&path, r);
    }
    for (method, body) in [(Method::PUT, &b"{}"[..]), (Method::POST, &b"x\n"[..])] {
        let req = Request::new(method, &path).with_body(body);
        let r = crate::api::ingest::API.call(req, &env);
        assert_client_problem(&path, &r);
    }
    assert_eq!(
        (meta.len(), blobs.len()),
        (0, 0),
        "{path:?} stored something"
    );

    // The read handlers again, over a store with tasks on two agents: the
    // path may now name real ids. Still never a 5xx, and agent A's routes
    // never show agent B's task.
    with_populated(|env| read_populated(env, &path));
}

fn read_populated(env: &Env, path: &str) {
    let get = || Request::new(Method::GET, path);
    let answers = [
        crate::api::discovery::API.call(get(), env),
        crate::api::dump::API.call(get(), env),
        crate::api::browse::API.call(get(), env),
        crate::api::archive::API.call(get(), env),
    ];
    for r in answers {
        assert_client_problem(path, &r);
        if path.starts_with("/system/v1/agent/A/") {
            let body = r.into_bytes().expect("body");
            assert!(!String::from_utf8_lossy(&body).contains("blog"), "{path:?}");
        }
    }
}

/// Splits `input` on `|` into ids; when all are valid names, the agent route
/// discovery would redirect to must parse back to exactly those ids.
fn location_round_trip(input: &str) {
    let parts: Vec<&str> = input.split('|').collect();
    let [agent, fw, ex, container, task, file] = parts.as_slice() else {
        return;
    };
    if [agent, fw, ex, container, task, file]
        .iter()
        .any(|n| validate_name("id", n).is_err())
    {
        return;
    }
    for pod in [false, true] {
        let t = Task {
            id: task.to_string(),
            name: "n".into(),
            agent_id: agent.to_string(),
            framework_id: fw.to_string(),
            executor_id: Some(ex.to_string()),
            container_id: container.to_string(),
            parent_container_ids: Vec::new(),
            pod,
            state: "TASK_RUNNING".into(),
            labels: Default::default(),
            created: 0,
            updated: 0,
        };
        let mut location = t.agent_route();
        crate::web::path::push(&mut location, &[file]);
        let route = match crate::routes::dump::FAMILY.find(&Method::GET, &location) {
            crate::routes::Lookup::Found(found) => found.route,
            _ => panic!("{location:?} does not parse back"),
        };
        let ReadTarget::File { run: p, file: f } = route else {
            panic!("{location:?} is not a file read: {route:?}");
        };
        assert_eq!(
            (
                p.agent_id.as_str(),
                p.framework_id.as_str(),
                p.executor_id.as_str(),
                p.container_id.as_str()
            ),
            (*agent, *fw, *ex, *container),
            "{location}"
        );
        assert_eq!(p.task_id.as_deref(), pod.then_some(*task), "{location}");
        assert_eq!(f, *file, "{location}");
    }
}

/// Query parser: read parameters, the Scalingo and dotnet parameters, the
/// `Accept` negotiation and the request guard take any text without panicking;
/// parsed read parameters are sane, and a "next page" query keeps them.
pub fn query(input: &str) {
    let q = Query::parse(input);
    let _ = crate::api::scalingo::params(&q);
    let _ = crate::api::dotnet::params(&q);
    let _ = Format::negotiate(Some(input));
    let _ = crate::web::guard::check(
        &Request::new(Method::GET, &format!("/?{input}")),
        &crate::config::Config::default(),
    );
    let Ok(p) = ReadParams::parse(&q) else {
        return;
    };
    assert_ne!(p.limit, Some(0), "{input:?}");
    for (k, _) in &p.filters {
        assert!(!k.is_empty() && *k == k.to_ascii_uppercase(), "{input:?}");
    }
    let next = crate::read::reader::next_query(&q, "12");
    let again = ReadParams::parse(&Query::parse(&next))
        .unwrap_or_else(|e| panic!("{input:?} -> {next:?}: {e}"));
    assert_eq!(again.cursor, Some(Cursor::At("12".into())), "{next:?}");
    assert_eq!((again.skip, again.limit), (0, p.limit), "{next:?}");
    assert_eq!(again.filters, p.filters, "{next:?}");
}

/// Cursor decoder. Input: a token line, a query line, then log lines. A
/// token `@<n>` stands for the source's own encoding of offset `n`, so
/// well-formed tokens for any offset get explored too. Decoded positions
/// re-encode to themselves; a start position is always a line start within
/// the log; a text read from it is exactly the log's bytes from there.
pub fn cursor(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let mut parts = text.splitn(3, '\n');
    let (token, query, body) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let Ok(params) = ReadParams::parse(&Query::parse(query)) else {
        return;
    };
    let file = FileSource {
        fields: serde_json::Map::new(),
    };
    let journal = JournalSource {
        unit: None,
        filters: params.filters.clone(),
    };
    if let Ok(n) = file.decode(token) {
        assert_eq!(file.decode(&file.encode(n)).ok(), Some(n), "{token:?}");
    }
    if let Ok(n) = journal.decode(token) {
        assert_eq!(journal.encode(n), token, "journal tokens are canonical");
    }
    let store = Rc::new(Store::memory());
    let mut data = body.as_bytes().to_vec();
    if !data.is_empty() && data.last() != Some(&b'\n') {
        data.push(b'\n');
    }
    let entries: String = body
        .lines()
        .map(|l| serde_json::json!({"MESSAGE": l, "UNIT": "u"}).to_string() + "\n")
        .collect();
    let file_log = Log::new(store.clone(), "f");
    let journal_log = Log::new(store, "j");
    if !data.is_empty() {
        file_log.append(&data, None).expect("append");
        journal_log
            .append(entries.as_bytes(), None)
            .expect("append");
    }
    let filters = params.filters.clone();
    let journal = move || JournalSource {
        unit: None,
        filters: filters.clone(),
    };
    let file = || FileSource {
        fields: serde_json::Map::new(),
    };
    check_start(&file_log, file, &params, token, Some(&data));
    check_start(&journal_log, journal, &params, token, None);
}

fn check_start<S: Source + 'static>(
    log: &Log,
    make: impl Fn() -> S,
    params: &ReadParams,
    token: &str,
    bytes: Option<&[u8]>,
) {
    let source = make();
    let token = match token.strip_prefix('@') {
        Some(n) => match crate::model::position::decimal(n) {
            Some(n) => source.encode(n),
            None => return,
        },
        None => token.to_owned(),
    };
    let mut params = params.clone();
    if !token.is_empty() {
        params.cursor = Some(Cursor::At(token.clone()));
    }
    let Some(snap) = log.snapshot().expect("snapshot") else {
        if let Ok(pos) = crate::read::reader::start_position_empty(&source, &params, None) {
            assert_eq!(pos, 0);
        }
        return;
    };
    let snap = Rc::new(snap);
    let pos = match start_position(&snap, &source, &params, None) {
        Ok(pos) => pos,
        Err(p) => {
            assert_eq!(p.status.as_u16(), 400, "{p}");
            assert!(p.extra.contains_key("parameter"), "{p}");
            return;
        }
    };
    assert!(
        crate::model::position::on_boundary(&snap, pos).is_ok(),
        "{pos}"
    );
    // Entries as NDJSON, paged by a small budget: the next cursor is a
    // position of this log, after the start.
    let read = Read {
        source: make(),
        snapshot: snap.clone(),
        params: params.clone(),
        last_event_id: None,
        format: Format::Json,
        budget: 64,
        path: "/p",
        query: &Query::default(),
    };
    let response = read.respond().expect("a read from a valid start");
    if let Some(next) = response.headers.get("x-next-cursor") {
        let next = source
            .decode(next.to_str().expect("ascii"))
            .expect("a next cursor decodes");
        assert!(next > pos && crate::model::position::on_boundary(&snap, next).is_ok());
    }
    let read = Read {
        source,
        snapshot: snap.clone(),
        params,
        last_event_id: None,
        format: Format::Text,
        budget: 64,
        path: "/p",
        query: &Query::default(),
    };
    let response = read.respond().expect("a read from a valid start");
    let next = response
        .headers
        .get("x-next-cursor")
        .map(|v| v.to_str().expect("ascii").to_owned());
    let body = response.into_bytes().expect("body");
    if let Some(bytes) = bytes {
        let start = pos as usize;
        assert_eq!(&bytes[start..start + body.len()], &body[..]);
        assert!(body.is_empty() || body.ends_with(b"\n"));
        if let Some(next) = next {
            assert_eq!(next, (start + body.len()).to_string());
        }
    }
}

/// NDJSON and text ingest parsers. Accepted bodies become whole UTF-8
/// lines; stored, they read back line for line through the log's index.
pub fn ingest(input: &[u8]) {
    let Some((&kind, body)) = input.split_first() else {
        return;
    };
    let content_type = [
        None,
        Some("text/plain"),
        Some("application/x-ndjson"),
        Some("application/json"),
        Some("application/jsonl"),
        Some("application/octet-stream"),
        Some("image/png"),
    ][kind as usize % 7];
    if let Ok(data) = crate::api::ingest::parse_lines(content_type, body) {
        assert!(data.ends_with(b"\n"));
        assert!(std::str::from_utf8(&data).is_ok());
        assert!(
            !matches!(content_type, Some("application/octet-stream" | "image/png")),
            "only text and NDJSON are lines"
        );
        if matches!(content_type, None | Some("text/plain")) {
            assert_eq!(&data[..body.len()], body, "text is stored as sent");
        }
        round_trip(&data);
    }
    if let Ok((data, n)) = crate::model::journal::parse_batch(body, 7) {
        let lines: Vec<&[u8]> = data
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len() as u64, n);
        for line in lines {
            let entry: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(line).expect("a stored entry is a JSON object");
            assert!(entry["MESSAGE"].is_string());
            for ts in [
                crate::model::journal::REALTIME,
                crate::model::journal::MONOTONIC,
            ] {
                assert!(entry[ts].as_str().is_some_and(|v| v.parse::<u64>().is_ok()));
            }
        }
        round_trip(&data);
    }
    if let Ok(spec) = crate::model::sandbox::TaskSpec::parse("t", body) {
        for name in [
            &spec.name,
            &spec.agent_id,
            &spec.framework_id,
            &spec.container_id,
        ] {
            assert_name(name);
        }
        spec.executor_id.as_deref().map(assert_name);
    }
}

/// Appends `data` to a fresh log and reads every line back.
fn round_trip(data: &[u8]) {
    let log = Log::new(Rc::new(Store::memory()), "x");
    log.append(data, None).expect("append");
    let snap = Rc::new(log.snapshot().expect("snapshot").expect("a head"));
    let want: Vec<&[u8]> = data[..data.len() - 1].split(|b| *b == b'\n').collect();
    let got: Vec<Vec<u8>> = snap
        .clone()
        .lines_in(0, snap.size())
        .map(|l| l.expect("line").text)
        .collect();
    assert_eq!(got, want);
    assert_eq!(snap.lines(), want.len() as u64);
}

/// SSE `Last-Event-ID` parsers (task files, journal, Scalingo, dotnet ids)
/// and the SSE writer. Decoded ids re-encode to themselves, and an event
/// written with any text as data parses back, per the WHATWG rules, as one
/// event carrying exactly that text.
pub fn last_event_id(input: &str) {
    if let Ok(positions) = crate::api::scalingo::decode("app", input) {
        let again = crate::api::scalingo::decode(
            "app",
            &crate::api::scalingo::encode("app", positions.iter().map(|(k, v)| (k.as_str(), *v))),
        )
        .expect("re-encoded ids decode");
        assert_eq!(again, positions);
        assert!(crate::api::scalingo::decode("other", input).is_err());
    }
    if let Ok((pos, deadline)) = crate::api::dotnet::decode(input) {
        assert_eq!(crate::api::dotnet::encode(pos, deadline), input);
    }
    let journal = JournalSource {
        unit: None,
        filters: Vec::new(),
    };
    if let Ok(n) = journal.decode(input) {
        assert_eq!(journal.encode(n), input);
    }

    follow_with(input);

    let (id, data) = input.split_once('\u{0}').unwrap_or(("7", input));
    let mut out = Vec::new();
    sse_event(&mut out, Some(id), Some("log"), data);
    let events = parse_sse(&String::from_utf8(out).expect("UTF-8 in, UTF-8 out"));
    let want_id: String = id.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    let want_data = data.replace("\r\n", "\n").replace('\r', "\n");
    assert_eq!(events, [(Some(want_id), "log".to_owned(), want_data)]);
}

/// Events (id, type, data) as an `EventSource` would dispatch them: the
/// last id seen so far, and only events with data.
fn parse_sse(stream: &str) -> Vec<(Option<String>, String, String)> {
    let mut events = Vec::new();
    let mut id = None;
    for item in crate::read::sse::Parser::default().feed(stream.as_bytes()) {
        let crate::read::sse::Item::Event(e) = item else {
            continue;
        };
        if e.id.is_some() {
            id.clone_from(&e.id);
        }
        if e.dispatched() {
            events.push((id.clone(), e.kind().to_owned(), e.data()));
        }
    }
    events
}

/// Resumes every follow route of a [`populated`] store from `input` as
/// `Last-Event-ID`. `@s:<parts>` stands for a Scalingo id of app shop with a
/// valid check (`K1`/`K2` in it for the keys of t1's and t2's stdout), and
/// `@d:<pos>.<deadline>` for a dotnet id with a valid check, so positions
/// behind valid checks get explored too. Each answer is a stream, a 204, or a
/// 400 naming Last-Event-ID; a stream's ids decode, and app shop never shows
/// app blog's lines.
fn follow_with(input: &str) {
    with_populated(|env| follow_populated(env, input));
}

fn follow_populated(env: &Env, input: &str) {
    let sandboxes = crate::model::sandbox::Sandboxes::new(env.store.clone());
    let key = |task: &str| {
        crate::util::ids::digest(sandboxes.file(task, "stdout").prefix().as_bytes())[..12]
            .to_owned()
    };
    let id = if let Some(parts) = input.strip_prefix("@s:") {
        let parts = parts.replace("K1", &key("t1")).replace("K2", &key("t2"));
        let check = crate::model::position::check("scalingo/shop", &parts);
        format!("s.{parts}.{check}")
    } else if let Some(payload) = input.strip_prefix("@d:") {
        let check = crate::model::position::check("dotnet/journal/default", payload);
        format!("d.{payload}.{check}")
    } else {
        input.to_owned()
    };
    let routes = [
        "/apps/shop/logs?stream=true".to_owned(),
        "/logs?durationSeconds=-1".to_owned(),
        format!("{}{T1}/stdout", crate::api::tail::FOLLOW),
        format!("{}{T2}/stdout", crate::api::tail::FOLLOW),
        format!(
            "{}{}",
            crate::api::tail::FOLLOW,
            crate::api::dump::COMPONENT
        ),
    ];
    for route in &routes {
        let req = Request::new(Method::GET, route)
            .with_header("accept", "text/event-stream")
            .with_header("last-event-id", &id);
        let r = crate::api::tail::API.call(req, env);
        match r.status.as_u16() {
            200 => {}
            204 => continue,
            400 => {
                let body = r.into_bytes().expect("body");
                let p: serde_json::Value = serde_json::from_slice(&body).expect("a problem");
                assert_eq!(p["parameter"], "Last-Event-ID", "{route} {id:?}: {p}");
                continue;
            }
            other => panic!("{route} {id:?}: {other}"),
        }
        // Every id handed out is a position of its log (a line start).
        let journal = crate::model::journal::log(env.store.clone());
        let at = |log: &Log, pos: u64| {
            let snap = log.snapshot().expect("snapshot");
            crate::model::position::require(snap.as_ref(), pos, "id")
                .unwrap_or_else(|p| panic!("{route} {id:?} handed out {pos}: {p}"));
        };
        let body = String::from_utf8(r.into_bytes().expect("body")).expect("UTF-8");
        for (event_id, _, data) in parse_sse(&body) {
            let Some(event_id) = event_id else { continue };
            if route.starts_with("/apps/") {
                assert!(!data.contains("blog"), "{data}");
                let positions = crate::api::scalingo::decode("shop", &event_id).expect("an app id");
                for (k, pos) in positions {
                    assert_eq!(k, key("t1"), "only shop's file");
                    at(&sandboxes.file("t1", "stdout"), pos);
                }
            } else if route.starts_with("/logs") {
                at(
                    &journal,
                    crate::api::dotnet::decode(&event_id)
                        .expect("a dotnet id")
                        .0,
                );
            } else if route.contains(T1) {
                at(
                    &sandboxes.file("t1", "stdout"),
                    event_id.parse().expect("offset"),
                );
            } else if route.contains(T2) {
                at(
                    &sandboxes.file("t2", "stdout"),
                    event_id.parse().expect("offset"),
                );
            } else {
                let source = JournalSource {
                    unit: None,
                    filters: Vec::new(),
                };
                at(&journal, source.decode(&event_id).expect("a journal id"));
            }
        }
    }
}
