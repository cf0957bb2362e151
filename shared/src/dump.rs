//! The read path (`dump` component): a sandbox file as text.
//!
//! ```text
//! GET /system/v1/agent/{agent}/logs/v2/task/frameworks/{fw}/executors/{ex}/runs/{container}/{file}
//! GET /system/v1/agent/{agent}/logs/v2/task/frameworks/{fw}/executors/{ex}/runs/{container}/tasks/{task}/{file}
//! ```
//! `cursor` (BEG, END or a byte offset), `skip` and `limit` pick a range of
//! whole lines through the log's index; the body streams segment by segment,
//! so memory stays flat whatever the size. A response that would pass
//! `max_response_bytes` ends on a line boundary and names the next position in
//! `X-Next-Cursor` and `Link: <...>; rel="next"`.

use crate::Env;
use crate::http::{Request, Response, respond};
use crate::problem::Problem;
use crate::query::{Cursor, ReadParams};
use crate::route::AgentPath;
use crate::sandbox::Sandboxes;
use crate::store::log::Snapshot;
use http::{HeaderName, Method, StatusCode, header};
use std::rc::Rc;

pub fn handle(req: Request, env: &Env) -> Response {
    respond(route(&req, env))
}

fn route(req: &Request, env: &Env) -> Result<Response, Problem> {
    if req.path.starts_with("/system/v1/logs/v2/component") {
        return Err(Problem::not_implemented("component logs"));
    }
    if req.method != Method::GET && req.method != Method::HEAD {
        return Err(Problem::method_not_allowed("GET, HEAD"));
    }
    let path = AgentPath::parse(&req.path)?;
    let [filename] = path.rest.as_slice() else {
        return Err(Problem::not_found("no such file route"));
    };
    let params = ReadParams::parse(&req.query)?;
    let sandboxes = Sandboxes::new(env.store.clone());
    let task = sandboxes
        .task_for_route(&path)?
        .ok_or_else(|| Problem::not_found("no task runs at this agent route"))?;
    let snapshot = sandboxes
        .file(&task.id, filename)
        .snapshot()?
        .ok_or_else(|| {
            Problem::not_found(format!("task {:?} has no file {filename:?}", task.id))
        })?;

    let range = byte_range(&snapshot, &params, env.config.max_response_bytes)?;
    if range.start == range.end {
        return Ok(Response::new(StatusCode::NO_CONTENT).header(header::CACHE_CONTROL, "no-cache"));
    }
    let mut response = Response::new(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache");
    if let Some(next) = range.next {
        let link = format!(
            "<{}?{}>; rel=\"next\"",
            req.path,
            next_query(&req.query, next)
        );
        response = response
            .header(HeaderName::from_static("x-next-cursor"), &next.to_string())
            .header(header::LINK, &link);
    }
    if req.method == Method::HEAD {
        return Ok(response);
    }
    Ok(response.stream(Box::new(Rc::new(snapshot).read(range.start, range.end))))
}

/// Bytes to send, and where the next page starts if the budget cut it short.
#[derive(Debug, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
    pub next: Option<u64>,
}

/// Resolves cursor, skip and limit to whole lines, then applies the budget.
pub fn byte_range(snap: &Snapshot, p: &ReadParams, budget: u64) -> Result<ByteRange, Problem> {
    let lines = snap.lines();
    let base = match &p.cursor {
        Some(Cursor::Beg) => 0,
        Some(Cursor::End) => lines,
        None if p.skip < 0 => lines, // "the last N", as for component logs
        None => 0,
        Some(Cursor::At(token)) => {
            let offset: u64 = token.parse().map_err(|_| {
                Problem::bad_param(
                    "cursor",
                    format!("cursor must be BEG, END or a byte offset, not {token:?}"),
                )
            })?;
            if offset > snap.size() {
                return Err(Problem::bad_param(
                    "cursor",
                    format!(
                        "cursor {offset} is past the end of the file ({} bytes)",
                        snap.size()
                    ),
                ));
            }
            // Resume is exclusive: a cursor inside a line means that line was sent.
            let line = snap.line_at(offset)?;
            if snap.line_start(line)? == offset {
                line
            } else {
                line + 1
            }
        }
    };
    let first = base.saturating_add_signed(p.skip).min(lines);
    let last = p
        .limit
        .map_or(lines, |n| first.saturating_add(n).min(lines));
    let start = snap.line_start(first)?;
    let end = snap.line_start(last)?;
    if end - start <= budget.max(1) {
        return Ok(ByteRange {
            start,
            end,
            next: None,
        });
    }
    // End on the last line boundary inside the budget; at least one line.
    let cut_line = snap.line_at(start + budget.max(1))?;
    let cut = snap.line_start(cut_line.max(first + 1))?;
    Ok(ByteRange {
        start,
        end: cut,
        next: Some(cut),
    })
}

/// The request's query with `cursor` set to `next` and `skip` dropped (the
/// cursor already includes it); `limit` and the rest are kept as sent.
fn next_query(query: &str, next: u64) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k != "cursor" && k != "skip" {
            out.append_pair(&k, &v);
        }
    }
    out.append_pair("cursor", &next.to_string());
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::log::Log;

    fn snapshot(lines: usize) -> Snapshot {
        let log = Log::new(Rc::new(Store::memory()), "f");
        let data: String = (0..lines).map(|i| format!("{i:04}\n")).collect();
        log.append(data.as_bytes(), None).unwrap();
        log.snapshot().unwrap().unwrap()
    }

    fn range(snap: &Snapshot, q: &str, budget: u64) -> ByteRange {
        byte_range(snap, &ReadParams::parse(q).unwrap(), budget).unwrap()
    }

    #[test]
    fn resolves_cursor_skip_and_limit_to_lines() {
        let s = snapshot(100); // 5 bytes a line
        assert_eq!(
            range(&s, "", u64::MAX),
            ByteRange {
                start: 0,
                end: 500,
                next: None
            }
        );
        assert_eq!(range(&s, "cursor=END&skip=-10", u64::MAX).start, 450);
        assert_eq!(range(&s, "skip=-10", u64::MAX).start, 450);
        assert_eq!(
            range(&s, "skip=3&limit=2", u64::MAX),
            ByteRange {
                start: 15,
                end: 25,
                next: None
            }
        );
        assert_eq!(range(&s, "cursor=25", u64::MAX).start, 25);
        assert_eq!(
            range(&s, "cursor=26", u64::MAX).start,
            30,
            "inside a line: resume after it"
        );
        assert_eq!(range(&s, "cursor=END", u64::MAX).start, 500);
        assert_eq!(range(&s, "skip=-1000", u64::MAX).start, 0);
        let e = byte_range(&s, &ReadParams::parse("cursor=501").unwrap(), 10).unwrap_err();
        assert_eq!(e.extra["parameter"], "cursor");
    }

    #[test]
    fn budget_cuts_on_line_boundaries_and_pages_cover_everything() {
        let s = snapshot(100);
        let mut pos = 0;
        let mut pages = 0;
        loop {
            let r = range(&s, &format!("cursor={pos}"), 12);
            assert_eq!(r.start, pos);
            assert_eq!((r.end - r.start) % 5, 0);
            pages += 1;
            match r.next {
                Some(n) => pos = n,
                None => break assert_eq!(r.end, 500),
            }
        }
        assert_eq!(pages, 50);
    }
}
