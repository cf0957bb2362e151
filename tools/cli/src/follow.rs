//! `tail -f`: one follow across any number of invocations.
//!
//! Each answer of the tail component is one invocation: it ends with an
//! `event: resume` whose id is the exact position to go on from (or is cut
//! by the host, after the last id it sent). The client reconnects with that
//! id as `Last-Event-ID`, as `EventSource` does, so no line is lost or
//! printed twice however often the stream is handed over.

use crate::client::{Answer, Client};
use crate::error::{CliError, CliResult};
use spin_logs::read::sse::{Event, Item, Parser};
use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

/// Connection attempts in a row that may fail before the command gives up.
const ATTEMPTS: u32 = 10;

/// Follows `first` (a read URL with its starting query), writing each line
/// (or, with `json`, each event's data) to `out` until the server says the
/// log is finished, the process is stopped, or `ATTEMPTS` connections in a
/// row fail.
pub fn follow(client: &Client, first: &str, json: bool, out: &mut dyn Write) -> CliResult<()> {
    let mut last_id: Option<String> = None;
    let mut resume_url: Option<String> = None;
    let mut failures = 0;
    loop {
        let url = match (&last_id, &resume_url) {
            (Some(_), Some(u)) => u.as_str(),
            _ => first,
        };
        let mut headers = vec![("accept", "text/event-stream")];
        if let Some(id) = &last_id {
            headers.push(("last-event-id", id.as_str()));
        }
        let answer = match client.get(url, &headers) {
            Ok(a) => a,
            Err(e) if retryable(&e) && failures + 1 < ATTEMPTS => {
                failures += 1;
                std::thread::sleep(backoff(failures));
                continue;
            }
            Err(e) => return Err(e),
        };
        failures = 0;
        if answer.status() == 204 {
            // Nothing yet (a dump route with an empty log): poll again.
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        resume_url = Some(without_start(&answer.url));
        // Where this invocation starts: if it is cut before its first event
        // id, the reconnect resumes here instead of at a new end.
        if last_id.is_none() {
            last_id = answer.header("x-start-cursor").map(str::to_owned);
        }
        match read_stream(answer, json, out, &mut last_id)? {
            End::Resume => {}
            End::Cut => std::thread::sleep(Duration::from_millis(200)),
            End::Finished => return Ok(()),
        }
    }
}

fn retryable(e: &CliError) -> bool {
    match e {
        CliError::Network(_) => true,
        CliError::Problem { status, .. } => *status == 429 || *status >= 500,
        _ => false,
    }
}

fn backoff(failures: u32) -> Duration {
    Duration::from_millis((250u64 << failures.min(5)).min(5_000))
}

/// The follow URL to reconnect to: the same route and filters, but not the
/// starting point, which `Last-Event-ID` now gives.
fn without_start(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return url.to_owned();
    };
    let kept: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(k, _)| !matches!(k.as_ref(), "cursor" | "skip" | "n"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        u.set_query(None);
    } else {
        u.query_pairs_mut().clear().extend_pairs(kept);
    }
    u.to_string()
}

enum End {
    /// The invocation ended itself with a resume event.
    Resume,
    /// The stream stopped without one (the host cut it).
    Cut,
    /// The server said the log will not grow (`event: end`), or closed the
    /// stream on a finished log.
    Finished,
}

fn read_stream(
    answer: Answer,
    json: bool,
    out: &mut dyn Write,
    last_id: &mut Option<String>,
) -> CliResult<End> {
    let mut body = answer.reader();
    let mut parser = Parser::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => return Ok(End::Cut),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return Ok(End::Cut),
        };
        // Comments (`: ping`) only keep the connection open.
        for item in parser.feed(&buf[..n]) {
            if let Item::Event(e) = item
                && let Some(end) = on_event(e, json, out, last_id)?
            {
                return Ok(end);
            }
        }
    }
}

/// Prints a log event, remembers its id; `Some` when the stream is over.
/// (`retry:` is not needed: the CLI reconnects at once after a resume.)
fn on_event(
    e: Event,
    json: bool,
    out: &mut dyn Write,
    last_id: &mut Option<String>,
) -> CliResult<Option<End>> {
    let data = e.data();
    match e.kind() {
        "message" if !data.is_empty() || e.id.is_some() => {
            let text = if json { data } else { line_of(&data) };
            writeln!(out, "{text}").map_err(|e| CliError::local("writing the output", e))?;
            out.flush()
                .map_err(|e| CliError::local("writing the output", e))?;
            if e.id.is_some() {
                *last_id = e.id;
            }
        }
        "resume" => {
            if e.id.is_some() {
                *last_id = e.id;
            }
            return Ok(Some(End::Resume));
        }
        "end" => return Ok(Some(End::Finished)),
        _ => {
            if e.id.is_some() {
                *last_id = e.id;
            }
        }
    }
    Ok(None)
}

/// The line an event carries, whichever route sent it: a DC/OS entry's
/// `fields.MESSAGE`, a Scalingo event's `log`, a LogQL tail's `line`.
pub fn line_of(data: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(data) else {
        return data.to_owned();
    };
    [
        v.pointer("/fields/MESSAGE"),
        v.get("log"),
        v.get("line"),
        v.get("message"),
    ]
    .into_iter()
    .flatten()
    .find_map(|x| x.as_str())
    .map_or_else(|| data.to_owned(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_make_events() {
        let stream = "id: 12\ndata: {\"a\":1}\n: ping\nretry: 1000\ndata:x\n\n";
        let events: Vec<Event> = Parser::default()
            .feed(stream.as_bytes())
            .into_iter()
            .filter_map(|i| match i {
                Item::Event(e) => Some(e),
                Item::Comment(_) => None,
            })
            .collect();
        let [e] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert_eq!(
            (e.id.as_deref(), e.event.as_deref(), e.data().as_str()),
            (Some("12"), None, "{\"a\":1}\nx")
        );
    }

    /// Events as the tail component sends them, in any chunks: the lines are
    /// printed, the resume id kept, and the stream ends there.
    #[test]
    fn a_stream_prints_lines_until_its_resume() {
        let stream = "retry: 500\n\n: ping\n\nid: 5\ndata: {\"line\":\"a\"}\n\n\
                      id: 9\ndata: {\"line\":\"b\"}\n\n\
                      id: 9\nevent: resume\ndata: {\"cursor\":\"9\"}\n\nid: 10\ndata: x\n\n";
        let mut out = Vec::new();
        let mut last_id = None;
        let mut parser = Parser::default();
        let mut end = None;
        'read: for chunk in stream.as_bytes().chunks(7) {
            for item in parser.feed(chunk) {
                if let Item::Event(e) = item {
                    end = on_event(e, false, &mut out, &mut last_id).unwrap();
                    if end.is_some() {
                        break 'read;
                    }
                }
            }
        }
        assert!(matches!(end, Some(End::Resume)));
        assert_eq!(String::from_utf8(out).unwrap(), "a\nb\n");
        assert_eq!(last_id.as_deref(), Some("9"));
    }

    #[test]
    fn every_route_s_line_is_found() {
        assert_eq!(line_of(r#"{"fields":{"MESSAGE":"m"},"cursor":"1"}"#), "m");
        assert_eq!(line_of(r#"{"name":"log","log":"l"}"#), "l");
        assert_eq!(line_of(r#"{"line":"x","labels":{}}"#), "x");
        assert_eq!(line_of("plain"), "plain");
        assert_eq!(line_of(r#"{"other":1}"#), r#"{"other":1}"#);
    }

    #[test]
    fn a_resume_drops_the_starting_point_only() {
        assert_eq!(
            without_start("http://h/f/x?cursor=END&skip=-10&filter=A:b"),
            "http://h/f/x?filter=A%3Ab"
        );
        assert_eq!(without_start("http://h/f/x?cursor=BEG"), "http://h/f/x");
        assert_eq!(
            without_start("http://h/apps/a/logs?stream=true&n=5"),
            "http://h/apps/a/logs?stream=true"
        );
    }
}
