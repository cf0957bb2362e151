//! `tail -f`: one follow across any number of invocations.
//!
//! Each answer of the tail component is one invocation: it ends with an
//! `event: resume` whose id is the exact position to go on from (or is cut
//! by the host, after the last id it sent). The client reconnects with that
//! id as `Last-Event-ID`, as `EventSource` does, so no line is lost or
//! printed twice however often the stream is handed over.

use crate::client::{Answer, Client};
use crate::error::{CliError, CliResult};
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

/// Connection attempts in a row that may fail before the command gives up.
const ATTEMPTS: u32 = 10;

#[derive(Default, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

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
    let mut reader = BufReader::new(answer.reader());
    let mut event = Event::default();
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return Ok(End::Cut),
            Ok(_) => {}
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if !l.is_empty() {
            parse_field(l, &mut event);
            continue;
        }
        let e = std::mem::take(&mut event);
        match e.event.as_deref() {
            None | Some("message") if !e.data.is_empty() || e.id.is_some() => {
                let text = if json {
                    e.data.clone()
                } else {
                    line_of(&e.data)
                };
                writeln!(out, "{text}").map_err(|e| CliError::local("writing the output", e))?;
                out.flush()
                    .map_err(|e| CliError::local("writing the output", e))?;
                if e.id.is_some() {
                    *last_id = e.id;
                }
            }
            Some("resume") => {
                if e.id.is_some() {
                    *last_id = e.id;
                }
                return Ok(End::Resume);
            }
            Some("end") => return Ok(End::Finished),
            _ => {
                if e.id.is_some() {
                    *last_id = e.id;
                }
            }
        }
    }
}

/// One `field: value` line of an event (comments, `: ping`, are skipped).
fn parse_field(line: &str, event: &mut Event) {
    if line.starts_with(':') {
        return;
    }
    let (name, value) = line.split_once(':').unwrap_or((line, ""));
    let value = value.strip_prefix(' ').unwrap_or(value);
    match name {
        "id" => event.id = Some(value.to_owned()),
        "event" => event.event = Some(value.to_owned()),
        "data" => {
            if !event.data.is_empty() {
                event.data.push('\n');
            }
            event.data.push_str(value);
        }
        _ => {} // `retry:`: the CLI reconnects at once after a resume.
    }
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
        let mut e = Event::default();
        for l in [
            "id: 12",
            "data: {\"a\":1}",
            ": ping",
            "retry: 1000",
            "data:x",
        ] {
            parse_field(l, &mut e);
        }
        assert_eq!(
            e,
            Event {
                id: Some("12".into()),
                event: None,
                data: "{\"a\":1}\nx".into()
            }
        );
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
