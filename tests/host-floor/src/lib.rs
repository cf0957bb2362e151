//! The floors under spin-logs' refusals and idle follows, measured beside
//! the hello world (`tests/benches/perf.rs`): what the host charges for the
//! host calls no implementation of those answers can skip.
//!
//! - `GET /floor/variable` reads one Spin variable, then answers. A 401
//!   cannot cost less: whether and how credentials are checked is
//!   configuration, and Spin's variables are where it lives.
//! - `GET /floor/get` reads one variable and gets one key from the
//!   `default` store (through WASI key-value, as spin-logs reaches it). A
//!   429 cannot cost less: the caller's count lives in
//!   the store, the limit in a variable.
//! - `GET /floor/poll` is an idle follow with nothing else: an event stream
//!   that gets one key every [`POLL`] and sends a `: ping` comment every
//!   [`KEEPALIVE`], for [`BUDGET`] (spin-logs' idle poll interval, ending on
//!   the same 100 ms grid, so ~500 ms apart as spin-logs' are, and its
//!   defaults for `keepalive_ms` and `tail_budget_ms`).
//!
//! On Spin every variable read and key-value call runs in
//! `tokio::task::block_in_place` (docs/performance.md): these floors show
//! what that costs alone.

use futures::SinkExt;
use spin_sdk::http::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};
use spin_sdk::variables;
use spin_sdk::wit::wasi::keyvalue::store::{Bucket, open};
use std::time::{Duration, Instant};

/// spin-logs' poll interval for a follow whose log has been quiet.
const POLL: Duration = Duration::from_millis(400);
/// spin-logs' default `keepalive_ms`.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// spin-logs' default `tail_budget_ms`.
const BUDGET: Duration = Duration::from_secs(25);

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let path = req.path_with_query().unwrap_or_default();
    match answer(&path) {
        Ok(Answer::Text(text)) => reply(out, 200, text.as_bytes()),
        Ok(Answer::Poll) => poll(out).await,
        Err(e) => reply(out, 500, format!("{e}\n").as_bytes()),
    }
}

/// Answers `body` whole, written into the response before it is handed
/// over, as the SDK does for the hello world and spin-logs' glue does
/// (`spin::send`): handed over first, the headers can leave alone and the
/// body wait ~40 ms for the client's delayed ACK (Spin sets no
/// `TCP_NODELAY`), which would measure the wait, not the host calls.
fn reply(out: ResponseOutparam, status: u16, body: &[u8]) {
    let headers = Fields::from_list(&[
        ("content-type".to_owned(), b"text/plain".to_vec()),
        (
            "content-length".to_owned(),
            body.len().to_string().into_bytes(),
        ),
    ])
    .unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let Ok(outgoing) = response.body() else {
        return;
    };
    let stream = outgoing.write().ok();
    let room = stream.as_ref().map_or(0, |s| s.check_write().unwrap_or(0));
    let n = body.len().min(usize::try_from(room).unwrap_or(usize::MAX));
    if let Some(stream) = &stream {
        let _ = stream.write(&body[..n]);
    }
    out.set(response);
    if let Some(stream) = stream {
        let _ = stream.blocking_write_and_flush(&body[n..]);
    }
    let _ = OutgoingBody::finish(outgoing, None);
}

enum Answer {
    Text(String),
    Poll,
}

fn answer(path: &str) -> anyhow::Result<Answer> {
    if path.starts_with("/floor/poll") {
        return Ok(Answer::Poll);
    }
    let setting = variables::get("floor")?;
    let found = match path.starts_with("/floor/get") {
        true => get_or_set()?,
        false => false,
    };
    Ok(Answer::Text(format!("{} {found}\n", setting.len())))
}

/// Gets the key `floor`, and sets it if missing (the first request only):
/// a 429 reads a counter that exists, so the floor reads a key that does.
fn get_or_set() -> anyhow::Result<bool> {
    let store = open("default")?;
    let found = store.get("floor")?.is_some();
    if !found {
        store.set("floor", b"1")?;
    }
    Ok(found)
}

/// Holds an event stream open for [`BUDGET`], one key-value get per [`POLL`].
async fn poll(out: ResponseOutparam) {
    let headers = Fields::from_list(&[("content-type".to_owned(), b"text/event-stream".to_vec())])
        .unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(headers);
    let mut sink = response.take_body();
    out.set(response);
    let Ok(store): Result<Bucket, _> = open("default") else {
        return;
    };
    // Ended by time, as spin-logs' follows are: the grid makes each wait a
    // little longer than POLL (about 500 ms apart, as spin-logs' idle polls).
    let started = Instant::now();
    let mut pinged = started;
    while started.elapsed() < BUDGET {
        wasi::clocks::monotonic_clock::subscribe_duration(on_grid(POLL)).block();
        let _ = store.get("floor");
        if pinged.elapsed() >= KEEPALIVE {
            pinged = Instant::now();
            if sink.send(b": ping\n\n".to_vec()).await.is_err() {
                return;
            }
        }
    }
}

/// `wait` in ns, lengthened to end on a multiple of 100 ms of the wall
/// clock, as spin-logs' idle polls do (`read::follow::on_grid`): the host
/// then wakes its idle instances in batches.
fn on_grid(wait: Duration) -> u64 {
    const GRID_NS: u64 = 100_000_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(0));
    let wait = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
    now.saturating_add(wait).next_multiple_of(GRID_NS) - now
}
