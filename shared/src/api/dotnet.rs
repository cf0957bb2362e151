//! dotnet-monitor-style log capture (`tail` component):
//!
//! ```text
//! GET /logs[/{pid}|/{uid}]?level=<Trace|Debug|Information|Warning|Error|Critical>&durationSeconds=<N>
//! Accept: application/x-ndjson (LogEntry objects) or text/event-stream
//! ```
//! `/logs/{pid}` keeps the entries whose `_PID` is that process id;
//! `/logs/{uid}` those whose `RUNTIME_INSTANCE_ID` (a GUID in any form) or
//! `_SYSTEMD_INVOCATION_ID` (journald's 32 hex digits) is that GUID.
//! Captures journal entries appended from now on at or above `level` for
//! `durationSeconds` (default 30, `-1` for no end). An entry's level is its
//! `LEVEL` field (dotnet names) or else its journald `PRIORITY` (0-2 Critical,
//! 3 Error, 4 Warning, 5-6 Information, 7 Debug). A duration longer than one
//! invocation's budget continues over SSE reconnects: every event id carries
//! the deadline, and a reconnect after it gets 204, which tells `EventSource`
//! to stop.

use crate::config::DefaultProcess;
use crate::env::Env;
use crate::model::journal::{self, REALTIME};
use crate::read::follow::{CHUNK, Feed, Follow, FollowOptions, stream_response, take_slot};
use crate::read::format::{Format, rfc3339, sse_event};
use crate::store::log::Log;
use crate::web::message::{Request, Response};
use crate::web::path::Process;
use crate::web::problem::Problem;
use crate::web::query::Query;
use http::{StatusCode, header};
use serde_json::{Map, Value, json};

const LEVELS: [&str; 6] = [
    "Trace",
    "Debug",
    "Information",
    "Warning",
    "Error",
    "Critical",
];

fn level_index(name: &str) -> Option<usize> {
    LEVELS.iter().position(|l| l.eq_ignore_ascii_case(name))
}

/// An entry's dotnet level index.
fn entry_level(fields: &Map<String, Value>) -> usize {
    let text = |k: &str| fields.get(k).and_then(Value::as_str);
    if let Some(level) = text("LEVEL").and_then(level_index) {
        return level;
    }
    match text("PRIORITY").and_then(|p| p.parse::<u8>().ok()) {
        Some(0..=2) => 5,
        Some(3) => 4,
        Some(4) => 3,
        Some(7) => 1,
        _ => 2,
    }
}

pub(crate) struct Params {
    level: usize,
    /// `None`: no end.
    duration_secs: Option<u64>,
}

/// dotnet-monitor's `ValidationProblemDetails`: `errors` maps each bad
/// parameter to its messages (and `parameter` names it, as our other 400s do).
fn invalid(name: &str, message: String) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "One or more validation errors occurred.",
        message.clone(),
    )
    .with("errors", json!({ name: [message] }))
    .with("parameter", name)
}

pub(crate) fn params(query: &Query) -> Result<Params, Problem> {
    let mut p = Params {
        level: 0,
        duration_secs: Some(30),
    };
    for (k, v) in query.pairs() {
        match k {
            "level" => {
                p.level = level_index(v).ok_or_else(|| {
                    invalid(
                        "level",
                        format!(
                            "The value '{v}' is not valid: one of {}.",
                            LEVELS.join(", ")
                        ),
                    )
                })?;
            }
            "durationSeconds" => {
                p.duration_secs = match v.parse::<i64>() {
                    Ok(-1) => None,
                    Ok(n @ 0..=2_147_483_647) => Some(n as u64),
                    _ => {
                        return Err(invalid(
                            "durationSeconds",
                            format!(
                                "The field durationSeconds must be between -1 and 2147483647, not '{v}'."
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(p)
}

/// Answers `GET /logs[/{pid}|/{uid}]` (see the module doc): with no `process`,
/// captures the configured `capture_default_process`, or is a 400 when none is set.
pub fn handle(req: &Request, env: &Env, process: Option<Process>) -> Result<Response, Problem> {
    let p = params(&req.query)?;
    let select = match process {
        Some(process) => Select::Process(process),
        // dotnet-monitor's default process: configured, or an error.
        None => match env.config.capture_default_process()? {
            DefaultProcess::Unset => {
                return Err(Problem::bad_request(
                    "Unable to discover a target process. Name one (/logs/{pid} or /logs/{uid}), \
                     or set the variable capture_default_process (docs/dotnet-monitor.md)",
                ));
            }
            DefaultProcess::All => Select::All,
            DefaultProcess::Field(k, v) => Select::Field(k.clone(), v.clone()),
        },
    };
    let format = match Format::negotiate(req.header(header::ACCEPT))? {
        Format::Sse => Format::Sse,
        _ => Format::Json,
    };
    let log = journal::log(env.store.clone());
    let now = crate::util::clock::now_micros();
    let (pos, deadline) = match req.header("last-event-id").filter(|id| !id.is_empty()) {
        Some(id) => {
            let (pos, deadline) = decode(id)?;
            crate::model::position::require(log.snapshot()?.as_ref(), pos, "Last-Event-ID")?;
            (pos, deadline)
        }
        None => {
            let end = log.head()?.map_or(0, |h| h.size);
            (
                end,
                p.duration_secs
                    .map(|s| now.saturating_add(s.saturating_mul(1_000_000))),
            )
        }
    };
    if deadline.is_some_and(|d| now >= d) {
        // The capture is over; 204 stops an EventSource from reconnecting.
        return Ok(Response::new(StatusCode::NO_CONTENT).header(header::CACHE_CONTROL, "no-cache"));
    }
    let lease = take_slot(req, env)?;
    let feed = Capture {
        log,
        format,
        pos,
        deadline,
        level: p.level,
        select,
    };
    Ok(stream_response(
        format,
        Follow::new(
            feed,
            format,
            FollowOptions::from_config(&env.config)?,
            Some(lease),
        ),
    ))
}

/// A capture's event id: `d.<journal offset>.<deadline or 0>.<check>`, so a
/// reconnect continues both where and until when the capture was going.
pub(crate) fn encode(pos: u64, deadline: Option<u64>) -> String {
    let payload = format!("{pos}.{}", deadline.unwrap_or(0));
    crate::model::position::seal("d", TOKEN_DOMAIN, &payload)
}

const TOKEN_DOMAIN: &str = "dotnet/journal/default";

/// The journal offset and deadline in an id [`encode`] made; anything else,
/// an edited id included, is a 400.
pub(crate) fn decode(token: &str) -> Result<(u64, Option<u64>), Problem> {
    let bad = || {
        Problem::bad_param(
            "Last-Event-ID",
            format!("{token:?} is not a position of this stream"),
        )
    };
    let payload = crate::model::position::open("d", TOKEN_DOMAIN, token).ok_or_else(bad)?;
    let (pos, deadline) = payload.split_once('.').ok_or_else(bad)?;
    let pos = crate::model::position::canonical_decimal(pos).ok_or_else(bad)?;
    let deadline = crate::model::position::canonical_decimal(deadline).ok_or_else(bad)?;
    Ok((pos, (deadline != 0).then_some(deadline)))
}

/// New journal entries at or above a level, until a deadline.
struct Capture {
    log: Log,
    format: Format,
    pos: u64,
    deadline: Option<u64>,
    level: usize,
    select: Select,
}

/// Which entries a capture keeps.
enum Select {
    /// The default process is configured as the whole journal.
    All,
    Process(Process),
    /// The default process by a journal field (`_PID=4242`, `SYSLOG_IDENTIFIER=web`).
    Field(String, String),
}

impl Select {
    fn keeps(&self, fields: &Map<String, Value>) -> bool {
        match self {
            Select::All => true,
            Select::Process(p) => of_process(fields, p),
            Select::Field(k, v) => fields.get(k).and_then(Value::as_str) == Some(v),
        }
    }
}

/// Whether an entry is the process's.
fn of_process(fields: &Map<String, Value>, process: &Process) -> bool {
    let text = |k: &str| fields.get(k).and_then(Value::as_str).unwrap_or_default();
    match process {
        Process::Pid(pid) => text("_PID").trim().parse::<u32>() == Ok(*pid),
        Process::Uid(uid) => ["RUNTIME_INSTANCE_ID", "_SYSTEMD_INVOCATION_ID"]
            .iter()
            .any(|k| Process::guid(text(k)).as_deref() == Some(uid)),
    }
}

impl Feed for Capture {
    fn poll(&mut self, out: &mut Vec<u8>) -> Result<(), Problem> {
        let Some(lines) = self.log.lines_since(self.pos)? else {
            return Ok(());
        };
        for line in lines {
            let line = line?;
            self.pos = line.end();
            let fields: Map<String, Value> = serde_json::from_slice(&line.text)
                .map_err(|e| Problem::internal(format!("journal entry at {}: {e}", line.offset)))?;
            let level = entry_level(&fields);
            if level < self.level || !self.select.keeps(&fields) {
                continue;
            }
            let text = |k: &str| fields.get(k).and_then(Value::as_str).unwrap_or_default();
            // dotnet's own fields when the shipper kept them, else journald's.
            let category = [
                text("CATEGORY"),
                text("_SYSTEMD_UNIT"),
                text("UNIT"),
                text("SYSLOG_IDENTIFIER"),
            ]
            .into_iter()
            .find(|c| !c.is_empty())
            .unwrap_or("journal");
            let micros: u64 = text(REALTIME).parse().unwrap_or(0);
            let message = text("MESSAGE");
            let event_id = Some(text("EVENT_ID"))
                .filter(|e| !e.is_empty())
                .unwrap_or("0");
            let event_name = text("EVENT_NAME");
            match self.format {
                Format::Sse => {
                    // The seed's shape: `event: <name>`, `data: <Level> <Category>[<EventId>]`,
                    // `data: <message>` (`sse_event` splits the lines safely).
                    let data = format!("{} {category}[{event_id}]\n{message}", LEVELS[level]);
                    let name = Some(event_name).filter(|n| !n.is_empty()).unwrap_or("log");
                    sse_event(out, Some(&self.position()), Some(name), &data);
                }
                _ => {
                    let entry = json!({
                        "Timestamp": rfc3339(micros),
                        "LogLevel": LEVELS[level],
                        "EventId": event_id,
                        "EventName": event_name,
                        "Category": category,
                        "Message": message,
                        "Scopes": {},
                        "Arguments": {},
                    });
                    out.extend_from_slice(entry.to_string().as_bytes());
                    out.push(b'\n');
                }
            }
            if out.len() >= CHUNK {
                break;
            }
        }
        Ok(())
    }

    fn position(&self) -> String {
        encode(self.pos, self.deadline)
    }

    fn finished(&self) -> bool {
        self.deadline
            .is_some_and(|d| crate::util::clock::now_micros() >= d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_from_names_and_priorities() {
        let level = |v: Value| entry_level(v.as_object().unwrap());
        assert_eq!(level(json!({"LEVEL": "warning"})), 3);
        assert_eq!(level(json!({"PRIORITY": "3"})), 4);
        assert_eq!(level(json!({"PRIORITY": "0"})), 5);
        assert_eq!(level(json!({"PRIORITY": "6"})), 2);
        assert_eq!(level(json!({"PRIORITY": "7"})), 1);
        assert_eq!(level(json!({})), 2);
        assert!(params(&Query::parse("level=Verbose")).is_err());
        assert!(params(&Query::parse("durationSeconds=-2")).is_err());
        assert_eq!(
            params(&Query::parse("durationSeconds=-1"))
                .unwrap()
                .duration_secs,
            None
        );
    }

    #[test]
    fn ids_decode_only_as_encoded() {
        let id = encode(42, Some(1_700_000_000_000_000));
        assert_eq!(decode(&id).unwrap(), (42, Some(1_700_000_000_000_000)));
        assert_eq!(decode(&encode(0, None)).unwrap(), (0, None));
        let edited_deadline = id.replace(".1700000000000000.", ".1800000000000000.");
        for bad in [
            "",
            "d.42.0",
            "j.0.7c3e6951~0",
            &edited_deadline,
            &id.replace("d.42.", "d.43."),
            &id[..id.len() - 1],
        ] {
            let p = decode(bad).unwrap_err();
            assert_eq!(p.extra["parameter"], "Last-Event-ID", "{bad}");
        }
    }

    #[test]
    fn captures_new_entries_at_or_above_the_level_until_the_deadline() {
        let env = Env {
            config: crate::config::Config::with(&[
                ("tail_budget_ms", "400"),
                ("capture_default_process", "*"),
            ]),
            ..Env::memory()
        };
        let post = |body: &str| {
            let req = Request::new(
                http::Method::POST,
                &format!("{}/component", crate::api::ingest::PREFIX),
            )
            .with_body(body.to_owned());
            assert!(crate::api::ingest::API.call(req, &env).status.is_success());
        };
        post("{\"MESSAGE\":\"before\",\"PRIORITY\":\"3\"}");
        let req = Request::new(http::Method::GET, "/logs?level=Warning&durationSeconds=1")
            .with_header("accept", "text/event-stream");
        let mut body = crate::api::tail::API.call(req, &env).body;
        let crate::web::message::Body::Stream(chunks) = &mut body else {
            panic!("a stream")
        };
        assert_eq!(
            chunks.next().unwrap().unwrap(),
            crate::web::message::Chunk::Data(b"retry: 500\n\n".to_vec())
        );
        post(
            "{\"MESSAGE\":\"quiet\",\"PRIORITY\":\"6\"}\n{\"MESSAGE\":\"loud\",\"PRIORITY\":\"3\",\"_SYSTEMD_UNIT\":\"app.service\"}",
        );
        let rest: String = chunks
            .filter_map(|c| match c.unwrap() {
                crate::web::message::Chunk::Data(bytes) => Some(String::from_utf8(bytes).unwrap()),
                crate::web::message::Chunk::Wait(d) => {
                    std::thread::sleep(d);
                    None
                }
            })
            .collect();
        assert!(
            rest.contains("event: log\ndata: Error app.service[0]\ndata: loud\n"),
            "{rest}"
        );
        assert!(
            !rest.contains("quiet") && !rest.contains("before"),
            "{rest}"
        );
        // The budget ended before the duration: resume, then the deadline ends it.
        let id = rest
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("id: "))
            .unwrap()
            .to_owned();
        assert!(rest.contains("event: resume"));
        std::thread::sleep(std::time::Duration::from_millis(700));
        let again = Request::new(http::Method::GET, "/logs")
            .with_header("accept", "text/event-stream")
            .with_header("last-event-id", &id);
        assert_eq!(
            crate::api::tail::API.call(again, &env).status,
            StatusCode::NO_CONTENT
        );
    }
}
