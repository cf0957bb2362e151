//! The follow engine: keeps a log open across invocation limits, losing and
//! repeating nothing. Every streaming route (DC/OS follow, Scalingo, dotnet)
//! is a [`Feed`] driven by this one loop.
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
//! an interval that starts short and backs off while the log is quiet, so an
//! appended line reaches a follower within a poll interval. Between polls the
//! engine yields [`Chunk::Wait`] rather than sleeping, so the host glue does
//! the waiting and can end a follow whose client has gone.

use super::format::{Format, SSE_RETRY_MS};
use super::lease::{self, Lease};
use super::reader::Source;
use crate::env::Env;
use crate::store::log::Log;
use crate::web::message::{Chunk, Request, Response};
use crate::web::problem::Problem;
use http::{HeaderName, StatusCode, header};
use std::time::{Duration, Instant};

/// The response that carries a follow. `X-Start-Cursor` says where it
/// starts: a client cut off before the first entry or event id (a network
/// failure, a host that killed the instance) resumes there, as a cursor or
/// `Last-Event-ID`, and misses nothing; an NDJSON follow that ends with no
/// entry has no other position to give. (Not `X-Next-Cursor`: on a read
/// that names where to go on after the response.) A position longer than
/// [`MAX_START_HEADER`] is left out.
pub fn stream_response<F: Feed + 'static>(format: Format, follow: Follow<F>) -> Response {
    let start = follow.feed.position();
    let mut response = Response::new(StatusCode::OK);
    if start.len() <= MAX_START_HEADER {
        response = response.header(HeaderName::from_static("x-start-cursor"), &start);
    }
    response
        .header(header::CONTENT_TYPE, format.content_type())
        .header(header::CACHE_CONTROL, "no-cache")
        .header(HeaderName::from_static("x-accel-buffering"), "no")
        .chunks(Box::new(follow))
}

/// The longest start position sent as a header: a selector tail's cursor
/// over many streams runs to kilobytes, past the 4 KiB of response head a
/// default nginx proxy buffers.
const MAX_START_HEADER: usize = 1024;

/// One of the caller's follower slots, or 429 with `Retry-After`.
pub fn take_slot(req: &Request, env: &Env) -> Result<Lease, Problem> {
    // The caller the auth gate named (a user, or a URL token's client address).
    let caller = req
        .caller
        .clone()
        .unwrap_or_else(|| format!("ip:{}", req.client_ip()));
    // A follow holds its slot for its budget: it ends then (see
    // `Follow::budget_spent`), and an instance that dies earlier frees it
    // at the same moment.
    let ttl = env.config.tail_budget_ms()?.saturating_mul(1_000);
    let max = env.config.max_followers()?;
    let now = crate::util::clock::now_micros();
    lease::acquire(env.store.clone(), &caller, max, ttl, now)?.map_err(|secs| {
        Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Followers",
            format!("at most {max} concurrent follows per caller"),
        )
        .with("retry_after", secs)
    })
}

/// Poll intervals: the first after activity, the cap while the log was
/// active in the last [`QUIET`], and the interval once it has been quiet
/// that long. Each poll of each follower is a wake-up and a key-value read
/// on the host, so a host holding a thousand idle followers pays for every
/// one: the long idle interval halves that, and still bounds how late the
/// first line after a quiet spell arrives (the next ones come at `POLL_MIN`
/// pace). Waits of [`GRID`] or more end on the grid ([`on_grid`]): a
/// follower that woke just after a grid point waits ~300 ms at the cap and
/// ~500 ms idle.
const POLL_MIN: Duration = Duration::from_millis(20);
const POLL_MAX: Duration = Duration::from_millis(200);
const POLL_IDLE: Duration = Duration::from_millis(400);
const QUIET: Duration = Duration::from_secs(5);
/// Most bytes of events rendered into one chunk.
pub const CHUNK: usize = 256 * 1024;

/// What a follow sends besides entries.
pub struct FollowOptions {
    /// How long the follow streams before it ends with a resume event
    /// (`tail_budget_ms`); the follower's slot is held as long.
    pub budget: Duration,
    /// Silence after which a `: ping` comment is sent (`keepalive_ms`).
    pub keepalive: Duration,
    /// An extra keepalive event for routes whose clients expect one
    /// (Scalingo's `{"name":"ping",...}`), sent with the `: ping` comment.
    pub ping_event: Option<fn(u64) -> String>,
    /// How long the log had been quiet when this follow began, if it
    /// resumes one (`Last-Event-ID` on the DC/OS follow route): zero for a
    /// new follow, which starts polling at [`POLL_MIN`]. A reconnect to a
    /// log quiet for [`QUIET`] polls at [`POLL_IDLE`] from its first empty
    /// poll, as the invocation before it did, instead of backing off through
    /// [`POLL_MAX`] for `QUIET` again every budget.
    pub quiet: Duration,
}

impl FollowOptions {
    /// The deployment's settings, no ping event; an unreadable setting is
    /// the error.
    pub fn from_config(config: &crate::config::Config) -> Result<Self, Problem> {
        Ok(Self {
            budget: Duration::from_millis(config.tail_budget_ms()?),
            keepalive: Duration::from_millis(config.keepalive_ms()?.max(1)),
            ping_event: None,
            quiet: Duration::ZERO,
        })
    }
}

/// Where new entries come from and how a position is spelled.
pub trait Feed {
    /// Renders entries that arrived since the last call (about [`CHUNK`] bytes
    /// at most) into `out`; nothing if there are none.
    fn poll(&mut self, out: &mut Vec<u8>) -> Result<(), Problem>;
    /// The token that resumes right after everything rendered so far.
    fn position(&self) -> String;
    /// Whether this feed has nothing more to give (e.g. a requested duration ran out).
    fn finished(&self) -> bool {
        false
    }
}

/// One log, rendered by a [`Source`].
pub struct LogFeed<S: Source> {
    log: Log,
    source: S,
    format: Format,
    pos: u64,
    /// The head's bytes at the last poll that found a change.
    seen: Vec<u8>,
}

impl<S: Source> LogFeed<S> {
    /// Follows `log` from byte `pos` (a line boundary).
    pub fn new(log: Log, source: S, format: Format, pos: u64) -> Self {
        Self {
            log,
            source,
            format,
            pos,
            seen: Vec::new(),
        }
    }
}

impl<S: Source> Feed for LogFeed<S> {
    fn poll(&mut self, out: &mut Vec<u8>) -> Result<(), Problem> {
        let Some(lines) = self.log.lines_since_changed(self.pos, &mut self.seen)? else {
            return Ok(());
        };
        for line in lines {
            let line = line?;
            self.source.render(&line, self.format, out)?;
            self.pos = line.end();
            if out.len() >= CHUNK {
                // More to send from this same head: the next poll must not
                // take it for unchanged.
                self.seen.clear();
                break;
            }
        }
        Ok(())
    }

    fn position(&self) -> String {
        self.source.encode(self.pos)
    }
}

/// The body of one follow invocation: an iterator of chunks.
pub struct Follow<F: Feed> {
    feed: F,
    format: Format,
    opts: FollowOptions,
    started: Instant,
    last_sent: Instant,
    /// When the feed last had something new.
    last_data: Instant,
    /// How long the log had been quiet before this follow began
    /// ([`FollowOptions::quiet`]), until the follow sends data.
    quiet_before: Duration,
    interval: Duration,
    state: State,
    /// Given back as soon as the follow ends; if the client goes away first,
    /// dropping it tries once, and its expiry covers the rest.
    lease: Option<Lease>,
}

#[derive(PartialEq)]
enum State {
    Start,
    Following,
    Done,
}

impl<F: Feed> Follow<F> {
    /// Follows `feed` in `format` (SSE, or NDJSON for plain stream readers).
    pub fn new(feed: F, format: Format, opts: FollowOptions, lease: Option<Lease>) -> Self {
        let now = Instant::now();
        let quiet_before = opts.quiet;
        Self {
            feed,
            format,
            opts,
            started: now,
            last_sent: now,
            last_data: now,
            quiet_before,
            interval: POLL_MIN,
            state: State::Start,
            lease,
        }
    }

    fn resume_event(&self) -> Vec<u8> {
        if self.format != Format::Sse {
            return Vec::new();
        }
        let token = self.feed.position();
        let data = serde_json::json!({ "cursor": token }).to_string();
        let mut out = Vec::new();
        crate::read::format::sse_event(&mut out, Some(&token), Some("resume"), &data);
        out
    }

    fn keepalive(&self) -> Vec<u8> {
        if self.format != Format::Sse {
            return b"\n".to_vec(); // NDJSON readers skip blank lines
        }
        let mut out = b": ping\n\n".to_vec();
        if let Some(ping) = self.opts.ping_event {
            let data = ping(crate::util::clock::now_micros());
            crate::read::format::sse_event(&mut out, None, None, &data);
        }
        out
    }
}

impl<F: Feed> Follow<F> {
    fn done(&mut self) {
        self.state = State::Done;
        if let Some(lease) = self.lease.take() {
            lease.release();
        }
    }

    /// The budget ran out: the client reconnects for more. The slot lapses
    /// by itself as this invocation ends (its expiry is the budget's end),
    /// so the common end of a follow writes nothing; only the reconnect's
    /// new slot does.
    fn budget_spent(&mut self) {
        self.state = State::Done;
        if let Some(lease) = self.lease.take() {
            lease.lapse();
        }
    }
}

impl<F: Feed> Iterator for Follow<F> {
    type Item = Result<Chunk, Problem>;

    /// The next thing to send, or how long to wait before asking again: the
    /// engine never sleeps itself, so the glue can wait without blocking and
    /// notice a client that went away.
    fn next(&mut self) -> Option<Self::Item> {
        match self.state {
            State::Done => return None,
            State::Start => {
                self.state = State::Following;
                if self.format == Format::Sse {
                    let retry = format!("retry: {SSE_RETRY_MS}\n\n");
                    return Some(Ok(Chunk::Data(retry.into_bytes())));
                }
            }
            State::Following => {}
        }
        let now = Instant::now();
        let left = self.opts.budget.saturating_sub(now - self.started);
        if left.is_zero() {
            self.budget_spent();
            return Some(Ok(Chunk::Data(self.resume_event())));
        }
        if self.feed.finished() {
            self.done();
            return Some(Ok(Chunk::Data(self.resume_event())));
        }
        let mut out = Vec::new();
        if let Err(e) = self.feed.poll(&mut out) {
            self.done();
            return Some(Err(e));
        }
        if !out.is_empty() {
            self.last_sent = now;
            self.last_data = now;
            self.quiet_before = Duration::ZERO;
            self.interval = POLL_MIN;
            return Some(Ok(Chunk::Data(out)));
        }
        if now - self.last_sent >= self.opts.keepalive {
            self.last_sent = now;
            return Some(Ok(Chunk::Data(self.keepalive())));
        }
        let until_ping = self.opts.keepalive.saturating_sub(now - self.last_sent);
        let wait = on_grid(
            self.interval
                .min(left)
                .min(until_ping)
                .max(Duration::from_millis(1)),
            crate::util::clock::now_micros(),
        );
        let quiet = now - self.last_data + self.quiet_before;
        self.interval = next_interval(self.interval, quiet);
        Some(Ok(Chunk::Wait(wait)))
    }
}

/// Idle polls wake on multiples of this much wall-clock time.
const GRID: Duration = Duration::from_millis(100);

/// `wait`, lengthened (by less than [`GRID`]) to end on a multiple of
/// [`GRID`] of the wall clock, which every instance on a host shares: idle
/// followers then wake together, a few times a second, instead of a
/// thousand times a second at scattered moments, and the host handles each
/// batch without parking and waking a thread per poll. Short waits (right
/// after activity) are left alone.
fn on_grid(wait: Duration, now_us: u64) -> Duration {
    let grid = GRID.as_micros() as u64;
    if wait < GRID {
        return wait;
    }
    let deadline = now_us.saturating_add(wait.as_micros() as u64);
    Duration::from_micros(deadline.next_multiple_of(grid) - now_us)
}

/// The poll interval after an empty poll at `interval`, the log having been
/// quiet for `quiet`: doubling, up to [`POLL_MAX`], or [`POLL_IDLE`] once
/// quiet for [`QUIET`] (at once: a log quiet that long waits the idle
/// interval for its next line, however short the last one was).
fn next_interval(interval: Duration, quiet: Duration) -> Duration {
    match quiet >= QUIET {
        true => POLL_IDLE,
        false => (interval * 2).min(POLL_MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::reader::FileSource;
    use crate::store::Store;
    use std::rc::Rc;

    fn source() -> FileSource {
        FileSource {
            fields: serde_json::Map::new(),
        }
    }

    /// The next bytes the follow sends, waiting as the glue would.
    fn next_data(follow: &mut impl Iterator<Item = Result<Chunk, Problem>>) -> Option<Vec<u8>> {
        loop {
            match follow.next()?.unwrap() {
                Chunk::Data(bytes) => return Some(bytes),
                Chunk::Wait(d) => std::thread::sleep(d),
            }
        }
    }

    #[test]
    fn polls_back_off_further_once_the_log_has_been_quiet() {
        let ms = Duration::from_millis;
        assert_eq!(next_interval(POLL_MIN, ms(0)), ms(40));
        assert_eq!(next_interval(ms(160), ms(1_000)), POLL_MAX);
        assert_eq!(next_interval(POLL_MAX, QUIET - ms(1)), POLL_MAX);
        assert_eq!(next_interval(POLL_MAX, QUIET), POLL_IDLE);
        assert_eq!(next_interval(POLL_IDLE, QUIET * 10), POLL_IDLE);
        assert_eq!(next_interval(POLL_MIN, QUIET), POLL_IDLE);
    }

    /// A feed with nothing new.
    struct Quiet;

    impl Feed for Quiet {
        fn poll(&mut self, _: &mut Vec<u8>) -> Result<(), Problem> {
            Ok(())
        }
        fn position(&self) -> String {
            "0".to_owned()
        }
    }

    /// The first two waits of a follow that began `quiet` into a quiet spell.
    fn first_waits(quiet: Duration) -> Vec<Duration> {
        let opts = FollowOptions {
            budget: Duration::from_secs(60),
            keepalive: Duration::from_secs(60),
            ping_event: None,
            quiet,
        };
        Follow::new(Quiet, Format::Text, opts, None)
            .filter_map(|c| match c.unwrap() {
                Chunk::Wait(d) => Some(d),
                Chunk::Data(_) => None,
            })
            .take(2)
            .collect()
    }

    #[test]
    fn a_follow_resumed_on_a_long_quiet_log_polls_at_the_idle_pace_from_its_first_empty_poll() {
        let waits = first_waits(QUIET * 12);
        assert_eq!(waits[0], POLL_MIN);
        assert!(waits[1] >= POLL_IDLE, "{waits:?}");
        // A new follow, or a log appended to a moment ago: the usual back-off.
        for quiet in [Duration::ZERO, Duration::from_secs(1)] {
            assert_eq!(first_waits(quiet), [POLL_MIN, POLL_MIN * 2]);
        }
    }

    #[test]
    fn long_waits_end_on_the_shared_grid_and_short_ones_do_not_move() {
        let ms = Duration::from_millis;
        assert_eq!(on_grid(ms(20), 1_234_567), ms(20));
        // 1.234567 s + 400 ms = 1.634567 s, moved to 1.7 s.
        assert_eq!(on_grid(ms(400), 1_234_567), Duration::from_micros(465_433));
        assert_eq!(on_grid(ms(400), 1_000_000), ms(400));
        for now in [0u64, 99_999, 5_000_001] {
            let w = on_grid(POLL_IDLE, now);
            assert!(w >= POLL_IDLE && w < POLL_IDLE + GRID);
            assert_eq!((now + w.as_micros() as u64) % 100_000, 0);
        }
    }

    #[test]
    fn a_burst_larger_than_a_chunk_arrives_whole_though_the_head_stops_changing() {
        let log = Log::new(Rc::new(Store::memory()), "f");
        let line = [b'x'; 99];
        let burst: Vec<u8> = (0..3 * CHUNK / 100)
            .flat_map(|_| line.iter().copied().chain([b'\n']))
            .collect();
        log.append(&burst, None).unwrap();
        let opts = FollowOptions {
            budget: Duration::from_millis(500),
            keepalive: Duration::from_secs(60),
            ping_event: None,
            quiet: Duration::ZERO,
        };
        let feed = LogFeed::new(log.clone(), source(), Format::Text, 0);
        let mut follow = Follow::new(feed, Format::Text, opts, None);
        let mut got = 0;
        while let Some(data) = next_data(&mut follow) {
            got += data.iter().filter(|b| **b == b'\n').count();
        }
        // Several chunks from one head, then nothing more and no repeats.
        assert_eq!(got, 3 * CHUNK / 100);
    }

    #[test]
    fn streams_new_lines_then_ends_with_a_resume_event() {
        let log = Log::new(Rc::new(Store::memory()), "f");
        log.append(b"old\n", None).unwrap();
        let opts = FollowOptions {
            budget: Duration::from_millis(300),
            keepalive: Duration::from_millis(100),
            ping_event: Some(|t| format!("{{\"name\":\"ping\",\"timestamp\":{t}}}")),
            quiet: Duration::ZERO,
        };
        let feed = LogFeed::new(log.clone(), source(), Format::Sse, 4);
        let mut follow = Follow::new(feed, Format::Sse, opts, None);
        assert_eq!(next_data(&mut follow).unwrap(), b"retry: 500\n\n");
        log.append(b"new 1\nnew 2\n", None).unwrap();
        let events = String::from_utf8(next_data(&mut follow).unwrap()).unwrap();
        assert!(
            events.contains("id: 10\n") && events.contains("id: 16\n"),
            "{events}"
        );
        assert!(!events.contains("old"));
        let rest: String = std::iter::from_fn(|| next_data(&mut follow))
            .map(|c| String::from_utf8(c).unwrap())
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
