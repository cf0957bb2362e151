//! Live tail (`tail` component): every streaming route.
//!
//! ```text
//! GET /system/v1/logs/v2/follow/<read route>   follow a read route (SSE or NDJSON)
//! GET /apps/{app}/logs                         Scalingo-style app logs ([`super::scalingo`])
//! GET /logs                                    dotnet-monitor-style capture ([`super::dotnet`])
//! ```
//! How a follow survives invocation limits is [`crate::read::follow`].

use crate::env::Env;
use crate::read::follow::{Follow, FollowOptions, LogFeed, stream_response, take_slot};
use crate::read::format::Format;
use crate::read::params::ReadParams;
use crate::read::reader::{Source, start_position, start_position_empty};
use crate::read::target::{Opened, last_event_id, open};
use crate::routes::tail::{FAMILY, Tail};
use crate::store::log::{Log, Snapshot};
use crate::web::message::{Request, Response};
use crate::web::path::ReadTarget;
use crate::web::problem::Problem;
use http::header;
use std::rc::Rc;

pub use crate::routes::tail::FOLLOW;

/// The `tail` component.
pub const API: super::Api<Tail> = super::Api {
    family: &FAMILY,
    handle,
};

// WebSocket handshakes were refused for every family (`super::Api::answer`).
fn handle(route: Tail, req: &Request, env: &Env) -> Result<Response, Problem> {
    match route {
        Tail::Follow(target) => follow_read(req, env, &target),
        Tail::AppLogs { app } => super::scalingo::handle(req, env, &app),
        Tail::Capture(process) => super::dotnet::handle(req, env, process),
    }
}

/// Follows what the read route `target` would read.
fn follow_read(req: &Request, env: &Env, target: &ReadTarget) -> Result<Response, Problem> {
    let params = ReadParams::parse(&req.query)?;
    // Following needs ids to resume: NDJSON if asked for, otherwise SSE.
    let format = match Format::negotiate(req.header(header::ACCEPT))? {
        Format::Json => Format::Json,
        _ => Format::Sse,
    };
    match open(target, &params, env)? {
        Opened::File(source, log, snapshot) => {
            follow(req, env, source, log, snapshot, &params, format)
        }
        Opened::Journal(source, log, snapshot) => {
            follow(req, env, source, log, snapshot, &params, format)
        }
    }
}

fn follow<S: Source + 'static>(
    req: &Request,
    env: &Env,
    source: S,
    log: Log,
    snapshot: Option<Snapshot>,
    params: &ReadParams,
    format: Format,
) -> Result<Response, Problem> {
    let resume = last_event_id(req, Format::Sse);
    let mut opts = FollowOptions::from_config(&env.config)?;
    if let (Some(_), Some(snap)) = (&resume, &snapshot) {
        // An EventSource reconnecting after its last invocation's budget.
        let since = crate::util::clock::now_micros().saturating_sub(snap.head().mtime);
        opts.quiet = std::time::Duration::from_micros(since);
    }
    let pos = match snapshot {
        Some(snap) => start_position(&Rc::new(snap), &source, params, resume.as_deref())?,
        None => start_position_empty(&source, params, resume.as_deref())?,
    };
    let lease = take_slot(req, env)?;
    let feed = LogFeed::new(log, source, format, pos);
    let follow = Follow::new(feed, format, opts, Some(lease));
    Ok(stream_response(format, follow))
}
