//! Scalingo-style app logs (`tail` component):
//!
//! ```text
//! GET /apps/{app}/logs?n=<history lines>&filter=<name, type or regex>&stream=true|false
//! ```
//! An app's containers are the tasks labelled `app={app}`: a container's name
//! is the task name (`web-1`) and its type the `container_type` label, or the
//! name without its `-<number>` suffix (`web`). Lines read
//! `<timestamp> [<container>] <message>`, the timestamp being when the line
//! was appended. `stream=false` is the last `n` lines as text; `stream=true`
//! is Server-Sent Events: the history, then every new line of every
//! container, each event `{"name":"log","log":"<line>"}` whose `id:` resumes
//! all containers at once.

use crate::env::Env;
use crate::model::sandbox::{Sandboxes, Task};
use crate::read::follow::{CHUNK, Feed, Follow, FollowOptions, stream_response, take_slot};
use crate::read::format::{Format, rfc3339};
use crate::store::log::{Line, Log};
use crate::util::ids::digest;
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;
use crate::web::query::Query;
use http::{StatusCode, header};
use std::collections::HashMap;
use std::rc::Rc;

/// Default and largest `n`.
const DEFAULT_LINES: u64 = 20;
const MAX_LINES: u64 = 10_000;
/// Largest compiled `filter` regex, in bytes (regex-lite's default is 10 MiB).
const FILTER_SIZE_LIMIT: usize = 256 * 1024;

/// One container's file.
struct ContainerFile {
    container: String,
    log: Log,
    /// Short stable key of the log in position tokens.
    key: String,
    /// Everything before this has been sent: what an event id resumes from.
    pos: u64,
    /// Where new lines are read from: the file's size when the stream began,
    /// so history still to send (from `pos` on) is not read twice.
    live: u64,
}

pub(crate) struct Params {
    n: u64,
    filter: Option<regex_lite::Regex>,
    stream: bool,
}

pub(crate) fn params(query: &Query) -> Result<Params, Problem> {
    let mut p = Params {
        n: DEFAULT_LINES,
        filter: None,
        stream: false,
    };
    for (k, v) in query.pairs() {
        match k {
            "n" => {
                p.n = v.parse().ok().filter(|n| *n <= MAX_LINES).ok_or_else(|| {
                    Problem::bad_param("n", format!("n must be an integer from 0 to {MAX_LINES}"))
                })?;
            }
            "filter" if !v.is_empty() => {
                // Matching is linear in regex-lite; this bounds compiling too.
                let re = regex_lite::RegexBuilder::new(&format!("^(?:{v})$"))
                    .size_limit(FILTER_SIZE_LIMIT)
                    .build()
                    .map_err(|e| {
                        Problem::bad_param(
                            "filter",
                            format!("filter is not a valid regular expression: {e}"),
                        )
                    })?;
                p.filter = Some(re);
            }
            "stream" => {
                p.stream = match v {
                    "true" => true,
                    "false" | "" => false,
                    _ => return Err(Problem::bad_param("stream", "stream must be true or false")),
                };
            }
            _ => {}
        }
    }
    Ok(p)
}

/// A container's type: its `container_type` label, or its name less `-<n>`.
fn container_type(task: &Task) -> String {
    if let Some(t) = task.labels.get("container_type") {
        return t.clone();
    }
    match task.name.rsplit_once('-') {
        Some((kind, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            kind.to_owned()
        }
        _ => task.name.clone(),
    }
}

/// Every file of every container of `app` that passes `filter`.
fn sources(
    env: &Env,
    app: &str,
    filter: Option<&regex_lite::Regex>,
) -> Result<(bool, Vec<ContainerFile>), Problem> {
    let sandboxes = Sandboxes::new(env.store.clone());
    let tasks = sandboxes.labelled("app", app)?;
    let any = !tasks.is_empty();
    let mut out = Vec::new();
    for task in tasks {
        let kind = container_type(&task);
        if filter.is_some_and(|re| !re.is_match(&task.name) && !re.is_match(&kind)) {
            continue;
        }
        for file in sandboxes.files(&task.id)? {
            let log = sandboxes.file(&task.id, &file.name);
            out.push(ContainerFile {
                container: task.name.clone(),
                key: digest(log.prefix().as_bytes())[..12].to_owned(),
                log,
                pos: file.size,
                live: file.size,
            });
        }
    }
    Ok((any, out))
}

/// Answers `GET /apps/{app}/logs` (the module docs): 404 when no task is
/// labelled `app={app}`, 204 when `stream=false` finds no line, 400 for a
/// bad parameter or a `Last-Event-ID` that names no position of the app,
/// 429 when a stream's caller already holds every follow slot.
pub fn handle(req: &Request, env: &Env, app: &str) -> Result<Response, Problem> {
    let p = params(&req.query)?;
    let (exists, mut sources) = sources(env, app, p.filter.as_ref())?;
    if !exists {
        return Err(Problem::not_found(format!("no app {app:?}")));
    }
    // `last_event_id=` is the header for a page that reopens a stream itself
    // (after a pause, or with a fresh URL token): `EventSource` sends no headers.
    let last_event_id = req
        .header("last-event-id")
        .or_else(|| req.query.get("last_event_id"));
    let resume = match last_event_id {
        Some(id) if p.stream && !id.is_empty() => Some(decode(app, id)?),
        _ => None,
    };
    let history = match &resume {
        // A reconnect continues where it stopped; history was sent already.
        Some(positions) => {
            for s in &mut sources {
                s.pos = resume_at(s, positions)?;
                s.live = s.pos;
            }
            Vec::new()
        }
        None => last_lines(&sources, p.n)?,
    };
    // Until its history is sent, a container's position is its first
    // history line: an event's id then resumes exactly after that event,
    // history included.
    for (i, line) in history.iter().rev() {
        sources[*i].pos = line.offset;
    }
    if !p.stream {
        if history.is_empty() {
            // As every read route: nothing to send is a 204.
            return Ok(
                Response::new(StatusCode::NO_CONTENT).header(header::CACHE_CONTROL, "no-cache")
            );
        }
        let mut body = Vec::new();
        for (i, line) in &history {
            body.extend_from_slice(render(&sources[*i].container, line).as_bytes());
            body.push(b'\n');
        }
        return Ok(Response::new(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-cache")
            .bytes(body));
    }
    let lease = take_slot(req, env)?;
    let feed = AppFeed {
        app: app.to_owned(),
        sources,
        pending: history,
    };
    let mut opts = FollowOptions::from_config(&env.config)?;
    opts.ping_event = Some(|micros| {
        serde_json::json!({"name": "ping", "timestamp": rfc3339(micros)}).to_string()
    });
    Ok(stream_response(
        Format::Sse,
        Follow::new(feed, Format::Sse, opts, Some(lease)),
    ))
}

/// Where a reconnect resumes `source`: its position in the token, checked
/// against the file (a container new since then starts at 0). Keys of files
/// that are no longer the app's are ignored: they name nothing readable here.
fn resume_at(source: &ContainerFile, positions: &HashMap<String, u64>) -> Result<u64, Problem> {
    let Some(&pos) = positions.get(&source.key) else {
        return Ok(0);
    };
    let snapshot = source.log.snapshot()?;
    crate::model::position::require(snapshot.as_ref(), pos, "Last-Event-ID").map_err(|p| {
        Problem {
            detail: format!("container {:?}: {}", source.container, p.detail),
            ..p
        }
    })?;
    Ok(pos)
}

/// The last `n` lines over all sources, oldest first, as (source, line).
fn last_lines(sources: &[ContainerFile], n: u64) -> Result<Vec<(usize, Line)>, Problem> {
    let mut all = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        let Some(snap) = s.log.snapshot()? else {
            continue;
        };
        for line in Rc::new(snap).lines_before(s.pos).take(n as usize) {
            all.push((i, line?));
        }
    }
    crate::util::sort::sort_by_key(&mut all, |(i, l)| (l.time, *i, l.offset));
    let skip = all.len().saturating_sub(n as usize);
    Ok(all.split_off(skip))
}

/// `2015-02-16 02:02:43.930163178 +0000 UTC [web-1] message`
fn render(container: &str, line: &Line) -> String {
    let ts = crate::read::format::date_time(i128::from(line.time) * 1000, ' ')
        .map(|(s, ns)| format!("{s}.{ns:09} +0000 UTC"))
        .unwrap_or_default();
    format!("{ts} [{container}] {}", String::from_utf8_lossy(&line.text))
}

/// Positions of every container file: `s.<key>:<offset>,...<check>`, the check
/// binding them to `app` (see [`crate::model::position`]).
pub(crate) fn encode<'a>(app: &str, positions: impl IntoIterator<Item = (&'a str, u64)>) -> String {
    let parts: Vec<String> = positions
        .into_iter()
        .map(|(key, pos)| format!("{key}:{pos}"))
        .collect();
    crate::model::position::seal("s", &token_domain(app), &parts.join(","))
}

fn token_domain(app: &str) -> String {
    format!("scalingo/{app}")
}

/// The positions in a token [`encode`] made for `app`, by key. Anything else,
/// including a token for another app or an edited one, is a 400.
pub(crate) fn decode(app: &str, token: &str) -> Result<HashMap<String, u64>, Problem> {
    let bad = || {
        Problem::bad_param(
            "Last-Event-ID",
            format!("{token:?} is not a position of this app's logs"),
        )
    };
    let parts = crate::model::position::open("s", &token_domain(app), token).ok_or_else(bad)?;
    let mut positions = HashMap::new();
    for part in parts.split(',').filter(|p| !p.is_empty()) {
        let (key, pos) = part.split_once(':').ok_or_else(bad)?;
        let valid_key =
            key.len() == 12 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let pos = crate::model::position::canonical_decimal(pos)
            .filter(|_| valid_key)
            .ok_or_else(bad)?;
        if positions.insert(key.to_owned(), pos).is_some() {
            return Err(bad());
        }
    }
    Ok(positions)
}

/// Every container's files merged by time.
struct AppFeed {
    app: String,
    sources: Vec<ContainerFile>,
    /// History still to send on the first poll.
    pending: Vec<(usize, Line)>,
}

impl AppFeed {
    fn event(&mut self, out: &mut Vec<u8>, i: usize, line: &Line) {
        self.sources[i].pos = self.sources[i].pos.max(line.end());
        let data =
            serde_json::json!({"name": "log", "log": render(&self.sources[i].container, line)});
        crate::read::format::sse_event(out, Some(&self.position()), None, &data.to_string());
    }
}

impl Feed for AppFeed {
    fn poll(&mut self, out: &mut Vec<u8>) -> Result<(), Problem> {
        let mut batch = std::mem::take(&mut self.pending);
        for (i, s) in self.sources.iter().enumerate() {
            let Some(lines) = s.log.lines_since(s.pos.max(s.live))? else {
                continue;
            };
            let mut bytes = 0;
            for line in lines {
                let line = line?;
                bytes += line.text.len();
                batch.push((i, line));
                if bytes >= CHUNK {
                    break;
                }
            }
        }
        crate::util::sort::sort_by_key(&mut batch, |(i, l)| (l.time, *i, l.offset));
        for (i, line) in batch {
            self.event(out, i, &line);
        }
        Ok(())
    }

    fn position(&self) -> String {
        encode(
            &self.app,
            self.sources.iter().map(|s| (s.key.as_str(), s.pos)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_types_and_tokens() {
        let mut task: Task = serde_json::from_value(serde_json::json!({
            "id": "t", "name": "web-12", "agent_id": "a", "framework_id": "f", "executor_id": null,
            "container_id": "c", "parent_container_ids": [], "pod": false, "state": "TASK_RUNNING",
            "labels": {}, "created": 0, "updated": 0
        }))
        .unwrap();
        assert_eq!(container_type(&task), "web");
        task.name = "worker".into();
        assert_eq!(container_type(&task), "worker");
        task.labels.insert("container_type".into(), "clock".into());
        assert_eq!(container_type(&task), "clock");
        let token = encode("shop", [("0123456789ab", 42), ("ba9876543210", 7)]);
        let positions = decode("shop", &token).unwrap();
        assert_eq!(positions["0123456789ab"], 42);
        assert_eq!(positions.len(), 2);
        assert!(decode("blog", &token).is_err(), "another app's token");
        let dup = encode("shop", [("0123456789ab", 1), ("0123456789ab", 2)]);
        for bad in [
            "x",
            "s.zz:1",
            "s.0123456789ab:x",
            "s.0123456789ab",
            &token.replace(":42", ":43"),
            &token.replace(":42", ":042"),
            &encode("shop", [("0123456789AB", 1)]),
            &encode("shop", [("0123456789ab", 1)]).replace("ab:1", "ab:+1"),
            &dup,
        ] {
            assert!(decode("shop", bad).is_err(), "{bad}");
        }
        assert!(decode("shop", &encode("shop", [])).unwrap().is_empty());
    }

    fn app_env() -> Env {
        let env = Env {
            config: crate::config::Config::with(&[
                ("tail_budget_ms", "150"),
                ("keepalive_ms", "50"),
            ]),
            ..Env::memory()
        };
        for (id, name, app) in [
            ("t1", "web-1", "shop"),
            ("t2", "web-2", "shop"),
            ("t3", "worker-1", "shop"),
            ("t4", "web-1", "blog"),
        ] {
            let body = format!(
                r#"{{"name":"{name}","agent_id":"A","framework_id":"F","container_id":"{id}","labels":{{"app":"{app}"}}}}"#
            );
            let req = crate::web::message::Request::new(
                http::Method::PUT,
                &format!("{}/tasks/{id}", crate::api::ingest::PREFIX),
            )
            .with_body(body);
            assert!(crate::api::ingest::API.call(req, &env).status.is_success());
        }
        for (i, id) in ["t1", "t2", "t3", "t4", "t1"].iter().enumerate() {
            append(&env, id, &format!("line {i}\n"));
        }
        env
    }

    fn append(env: &Env, id: &str, text: &str) {
        let req = crate::web::message::Request::new(
            http::Method::POST,
            &format!("{}/tasks/{id}/files/stdout", crate::api::ingest::PREFIX),
        )
        .with_body(text.to_owned());
        assert!(crate::api::ingest::API.call(req, env).status.is_success());
        std::thread::sleep(std::time::Duration::from_millis(2)); // distinct commit times
    }

    fn get(env: &Env, query: &str, last_event_id: Option<&str>) -> (StatusCode, String) {
        let mut req = crate::web::message::Request::new(
            http::Method::GET,
            &format!("/apps/shop/logs?{query}"),
        );
        if let Some(id) = last_event_id {
            req = req.with_header("last-event-id", id);
        }
        let r = crate::api::tail::API.call(req, env);
        let status = r.status;
        (status, String::from_utf8(r.into_bytes().unwrap()).unwrap())
    }

    /// `(id, log line)` of every log event of an SSE body.
    fn events(sse: &str) -> Vec<(String, String)> {
        sse.split("\n\n")
            .filter_map(|e| {
                let id = e.lines().find_map(|l| l.strip_prefix("id: "))?;
                let data = e.lines().find_map(|l| l.strip_prefix("data: "))?;
                let v: serde_json::Value = serde_json::from_str(data).ok()?;
                let log = v["log"].as_str()?.split_once(" UTC ")?.1.to_owned();
                Some((id.to_owned(), log))
            })
            .collect()
    }

    #[test]
    fn a_reconnect_after_any_history_event_loses_and_repeats_nothing() {
        let env = app_env();
        let (_, sse) = get(&env, "n=3&stream=true", None);
        let first = events(&sse);
        let want = ["[web-2] line 1", "[worker-1] line 2", "[web-1] line 4"];
        assert_eq!(
            first.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>(),
            want
        );
        for (k, (id, _)) in first.iter().enumerate() {
            let (_, rest) = get(&env, "n=3&stream=true", Some(id));
            let rest: Vec<String> = events(&rest).into_iter().map(|(_, l)| l).collect();
            assert_eq!(rest, want[k + 1..], "reconnect after event {k}");
        }
    }

    #[test]
    fn dumps_filters_and_streams_app_logs() {
        let env = app_env();
        let (status, text) = get(&env, "n=3", None);
        assert_eq!(status, StatusCode::OK);
        let tail: Vec<&str> = text
            .lines()
            .map(|l| l.split_once(" UTC ").unwrap().1)
            .collect();
        assert_eq!(
            tail,
            ["[web-2] line 1", "[worker-1] line 2", "[web-1] line 4"]
        );
        assert!(text.starts_with("20"), "{text}");
        let names = |q| {
            get(&env, q, None)
                .1
                .lines()
                .map(|l| l.split_once(" UTC ").unwrap().1.to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names("filter=web"),
            ["[web-1] line 0", "[web-2] line 1", "[web-1] line 4"]
        );
        assert_eq!(names("filter=web-1&n=1"), ["[web-1] line 4"]);
        assert_eq!(
            names("filter=worker|web-2"),
            ["[web-2] line 1", "[worker-1] line 2"]
        );
        assert_eq!(get(&env, "filter=(", None).0, StatusCode::BAD_REQUEST);
        assert_eq!(get(&env, "n=x", None).0, StatusCode::BAD_REQUEST);
        assert_eq!(
            get(&env, "n=0", None),
            (StatusCode::NO_CONTENT, String::new())
        );

        let (_, sse) = get(&env, "n=1&stream=true", None);
        assert!(sse.contains("data: {\"log\":"), "{sse}");
        assert!(
            sse.contains("{\"name\":\"ping\",\"timestamp\":"),
            "keepalive event: {sse}"
        );
        let resume = sse
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("id: "))
            .unwrap()
            .to_owned();
        append(&env, "t3", "after\n");
        let (_, next) = get(&env, "stream=true", Some(&resume));
        assert!(next.contains("[worker-1] after"), "{next}");
        assert!(!next.contains("line 4"), "a resume does not repeat: {next}");
        assert_eq!(
            get(&env, "stream=true", Some("bogus")).0,
            StatusCode::BAD_REQUEST
        );
    }
}
