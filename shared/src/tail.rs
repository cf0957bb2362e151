//! Live tail (`tail` component): follow a log over Server-Sent Events across
//! invocation limits, losing and repeating nothing.
//!
//! Serverless hosts end a request after about 30 s; people follow logs for
//! hours. A follow therefore streams for at most `tail_budget_ms`, then sends
//! `event: resume` whose `id:` is the position after the last entry sent, and
//! ends. `EventSource` reconnects with that id as `Last-Event-ID` and the next
//! invocation continues with the next entry. Every event's id is such a
//! position, so a reconnect after any event (or a cut connection) resumes
//! exactly.
//!
//! New entries are found by polling the log's head (one key-value read) with
//! an interval that starts short and backs off while the log is idle, so an
//! appended line reaches a follower within a poll interval.

use crate::format::Format;
use crate::lease::Lease;
use crate::problem::Problem;
use crate::reader::Source;
use crate::store::log::Log;
use std::time::{Duration, Instant};

/// Poll intervals: the first after activity, and the cap while idle.
const POLL_MIN: Duration = Duration::from_millis(20);
const POLL_MAX: Duration = Duration::from_millis(200);
/// Most bytes of events rendered into one chunk.
const CHUNK: usize = 256 * 1024;
/// Milliseconds an `EventSource` waits before reconnecting.
pub const RETRY_MS: u64 = 500;

/// What a follow sends besides entries.
pub struct FollowOptions {
    pub budget: Duration,
    pub keepalive: Duration,
    /// An extra keepalive event for routes whose clients expect one
    /// (Scalingo's `{"name":"ping",...}`), sent with the `: ping` comment.
    pub ping_event: Option<fn(u64) -> String>,
}

/// The body of one follow invocation: an iterator of SSE chunks.
pub struct Follow<S: Source> {
    log: Log,
    source: S,
    format: Format,
    pos: u64,
    opts: FollowOptions,
    started: Instant,
    last_sent: Instant,
    interval: Duration,
    state: State,
    _lease: Option<Lease>,
}

#[derive(PartialEq)]
enum State {
    Start,
    Following,
    Done,
}

impl<S: Source> Follow<S> {
    /// Follows `log` from `pos` (a line boundary), rendering with `source` in
    /// `format` (SSE, or NDJSON for clients that read a plain stream).
    pub fn new(
        log: Log,
        source: S,
        format: Format,
        pos: u64,
        opts: FollowOptions,
        lease: Option<Lease>,
    ) -> Self {
        let now = Instant::now();
        Self {
            log,
            source,
            format,
            pos,
            opts,
            started: now,
            last_sent: now,
            interval: POLL_MIN,
            state: State::Start,
            _lease: lease,
        }
    }

    /// Entries in `pos..size` rendered, up to about [`CHUNK`] bytes.
    fn entries(&mut self) -> Result<Vec<u8>, Problem> {
        let Some(snapshot) = self.log.snapshot()? else {
            return Ok(Vec::new());
        };
        let size = snapshot.size();
        if size <= self.pos {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for line in std::rc::Rc::new(snapshot).lines_in(self.pos, size) {
            let line = line?;
            self.source.render(&line, self.format, &mut out)?;
            self.pos = line.end();
            if out.len() >= CHUNK {
                break;
            }
        }
        Ok(out)
    }

    fn resume_event(&self) -> Vec<u8> {
        let token = self.source.encode(self.pos);
        match self.format {
            Format::Sse => {
                let data = serde_json::json!({ "cursor": token }).to_string();
                let mut out = Vec::new();
                crate::format::sse_event(&mut out, Some(&token), Some("resume"), &data);
                out
            }
            _ => Vec::new(),
        }
    }

    fn keepalive(&self) -> Vec<u8> {
        if self.format != Format::Sse {
            return b"\n".to_vec(); // NDJSON readers skip blank lines
        }
        let mut out = b": ping\n\n".to_vec();
        if let Some(ping) = self.opts.ping_event {
            let data = ping(crate::clock::now_micros());
            crate::format::sse_event(&mut out, None, None, &data);
        }
        out
    }
}

impl<S: Source> Iterator for Follow<S> {
    type Item = Result<Vec<u8>, Problem>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.state {
            State::Done => return None,
            State::Start => {
                self.state = State::Following;
                if self.format == Format::Sse {
                    return Some(Ok(format!("retry: {RETRY_MS}\n\n").into_bytes()));
                }
            }
            State::Following => {}
        }
        loop {
            let now = Instant::now();
            let left = self.opts.budget.saturating_sub(now - self.started);
            if left.is_zero() {
                self.state = State::Done;
                return Some(Ok(self.resume_event()));
            }
            match self.entries() {
                Ok(out) if !out.is_empty() => {
                    self.last_sent = now;
                    self.interval = POLL_MIN;
                    return Some(Ok(out));
                }
                Ok(_) => {}
                Err(e) => {
                    self.state = State::Done;
                    return Some(Err(e));
                }
            }
            if now - self.last_sent >= self.opts.keepalive {
                self.last_sent = now;
                return Some(Ok(self.keepalive()));
            }
            let until_ping = self.opts.keepalive.saturating_sub(now - self.last_sent);
            std::thread::sleep(
                self.interval
                    .min(left)
                    .min(until_ping)
                    .max(Duration::from_millis(1)),
            );
            self.interval = (self.interval * 2).min(POLL_MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::FileSource;
    use crate::store::Store;
    use std::rc::Rc;

    fn source() -> FileSource {
        FileSource {
            fields: serde_json::Map::new(),
        }
    }

    #[test]
    fn streams_new_lines_then_ends_with_a_resume_event() {
        let log = Log::new(Rc::new(Store::memory()), "f");
        log.append(b"old\n", None).unwrap();
        let opts = FollowOptions {
            budget: Duration::from_millis(300),
            keepalive: Duration::from_millis(100),
            ping_event: Some(|t| format!("{{\"name\":\"ping\",\"timestamp\":{t}}}")),
        };
        let mut follow = Follow::new(log.clone(), source(), Format::Sse, 4, opts, None);
        assert_eq!(follow.next().unwrap().unwrap(), b"retry: 500\n\n");
        log.append(b"new 1\nnew 2\n", None).unwrap();
        let events = String::from_utf8(follow.next().unwrap().unwrap()).unwrap();
        assert!(
            events.contains("id: 10\n") && events.contains("id: 16\n"),
            "{events}"
        );
        assert!(!events.contains("old"));
        let rest: String = follow
            .map(|c| String::from_utf8(c.unwrap()).unwrap())
            .collect();
        assert!(
            rest.contains(": ping\n\n"),
            "keepalive on an idle stream: {rest}"
        );
        assert!(rest.contains("\"name\":\"ping\""));
        assert!(
            rest.ends_with("id: 16\nevent: resume\ndata: {\"cursor\":\"16\"}\n\n"),
            "{rest}"
        );
    }
}
