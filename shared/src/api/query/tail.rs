//! `GET /k8s/v1/tail?query=`: a live tail of a LogQL log query's streams as
//! Server-Sent Events, resumable exactly from the last event's id.

use super::params::now_ns;
use crate::env::Env;
use crate::logql::{self, LogQuery, Query};
use crate::read::follow::{Follow, FollowOptions, stream_response, take_slot};
use crate::read::format::Format;
use crate::read::stream_tail::{SelectorFeed, TailCursor};
use crate::read::target::last_event_id;
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;
use crate::web::time::parse_time_ns;

/// Follows a LogQL log query's streams from `start` (default now), or from
/// the cursor a previous invocation ended with (`Last-Event-ID` or `cursor`).
pub(super) fn follow(req: &Request, env: &Env) -> Result<Response, Problem> {
    let log = log_query(req)?;
    let cursor = cursor(req)?;
    let feed = SelectorFeed::new(
        env.store.clone(),
        log.selector,
        log.pipeline,
        Vec::new(),
        cursor,
    )?;
    let lease = take_slot(req, env)?;
    let follow = Follow::new(
        feed,
        Format::Sse,
        FollowOptions::from_config(&env.config)?,
        Some(lease),
    );
    Ok(stream_response(Format::Sse, follow))
}

/// `query`, which must be a log query.
fn log_query(req: &Request) -> Result<LogQuery, Problem> {
    let text = req
        .query
        .get("query")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| Problem::bad_param("query", "query is required: a LogQL log query"))?;
    let query = logql::parse(text)
        .map_err(|e| Problem::bad_param("query", e.to_string()).with("column", e.col))?;
    let Query::Log(log) = query else {
        return Err(Problem::bad_param(
            "query",
            "a live tail follows a log query, not a metric query",
        ));
    };
    Ok(log)
}

/// Where the tail starts: the cursor it was given, or `start` (default now).
fn cursor(req: &Request) -> Result<TailCursor, Problem> {
    let resume =
        last_event_id(req, Format::Sse).or_else(|| req.query.get("cursor").map(str::to_owned));
    if let Some(c) = resume {
        return TailCursor::decode(&c).ok_or_else(|| {
            Problem::bad_param(
                "cursor",
                "the cursor (Last-Event-ID) is not one this tail gave",
            )
        });
    }
    let t0 = match req.query.get("start").filter(|s| !s.is_empty()) {
        Some(s) => parse_time_ns("start", s)?,
        None => now_ns(),
    };
    Ok(TailCursor {
        t0,
        at: Default::default(),
    })
}
