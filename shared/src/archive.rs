//! Downloads (`archive` component): a sandbox file as an attachment, and the
//! whole sandbox as a `.tar.gz`.
//!
//! ```text
//! GET|HEAD .../runs/{container}[/tasks/{task}]/{file}/download
//! GET|HEAD .../runs/{container}[/tasks/{task}]/files/archive
//! ```
//! A file download has `Content-Length`, a strong `ETag` and single-range
//! `Range` / `If-Range` support, so a broken download resumes and a file
//! larger than a host's response cap downloads in parts. A log is append-only,
//! so its first `size` bytes never change: the ETag is the file's identity and
//! size.
//!
//! The sandbox archive is compressed while it streams, so it has no length up
//! front and no ranges; each file is cut at its size when its entry starts.
//! Archives too big for one response are what log collection jobs
//! ([`crate::jobs`]) are for: they are built in steps, stored, and downloaded
//! with ranges.

use crate::Env;
use crate::http::{Request, Response, respond};
use crate::problem::Problem;
use crate::route::{AgentPath, segments_after};
use crate::sandbox::{Sandboxes, Task};
use crate::store::log::digest;
use crate::targz;
use http::{Method, StatusCode, header};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use std::rc::Rc;

/// The `archive` component serves sandbox downloads and log collection jobs.
pub fn handle(req: Request, env: &Env) -> Response {
    if segments_after(&req.path, crate::jobs::PREFIX).is_some() {
        return crate::jobs::handle(req, env);
    }
    respond(route(&req, env))
}

fn route(req: &Request, env: &Env) -> Result<Response, Problem> {
    if req.method != Method::GET && req.method != Method::HEAD {
        return Err(Problem::method_not_allowed("GET, HEAD"));
    }
    let path = AgentPath::parse(&req.path)?;
    let sandboxes = Sandboxes::new(env.store.clone());
    let filename = match path.rest.as_slice() {
        [files, archive] if files == "files" && archive == "archive" => {
            let task = sandboxes.task_at(&path)?;
            return sandbox_archive(req, env, &sandboxes, &task);
        }
        [filename, download] if download == "download" => filename,
        _ => return Err(Problem::not_found("no such download route")),
    };
    let task = sandboxes.task_at(&path)?;
    let snapshot = sandboxes
        .file(&task.id, filename)
        .snapshot()?
        .ok_or_else(|| {
            Problem::not_found(format!("task {:?} has no file {filename:?}", task.id))
        })?;
    let size = snapshot.size();
    let etag = format!(
        "\"{}-{size:x}\"",
        &digest(format!("{}\0{filename}", task.id).as_bytes())[..16]
    );

    let download = Download {
        size,
        etag: &etag,
        content_type: "text/plain; charset=utf-8",
        filename,
    };
    let (response, start, end) = match download.respond(req) {
        Ranged::Body(response, start, end) => (response, start, end),
        Ranged::Done(response) => return Ok(response),
    };
    Ok(response.stream(Box::new(Rc::new(snapshot).read(start, end))))
}

/// A stored, immutable object served as an attachment with `Content-Length`,
/// a strong `ETag` and single-range `Range`/`If-Range`: a file, or a job's archive.
pub(crate) struct Download<'a> {
    pub size: u64,
    pub etag: &'a str,
    pub content_type: &'a str,
    pub filename: &'a str,
}

/// What a [`Download`] answers.
pub(crate) enum Ranged {
    /// A 200/206 head and the byte range `start..end` its body must carry.
    Body(Response, u64, u64),
    /// An answer that needs no body: HEAD, an empty range, a 416.
    Done(Response),
}

impl Download<'_> {
    pub fn respond(&self, req: &Request) -> Ranged {
        let size = self.size;
        let range = match req.header(header::RANGE) {
            Some(r) if if_range_holds(req, self.etag) => parse_range(r, size),
            _ => RangeSpec::Whole,
        };
        let (status, start, end) = match range {
            RangeSpec::Whole => (StatusCode::OK, 0, size),
            RangeSpec::Part(s, e) => (StatusCode::PARTIAL_CONTENT, s, e),
            RangeSpec::Unsatisfiable => {
                return Ranged::Done(
                    Response::from(
                        Problem::new(
                            StatusCode::RANGE_NOT_SATISFIABLE,
                            "Range Not Satisfiable",
                            format!("{} has {size} bytes", self.filename),
                        )
                        .with("size", size),
                    )
                    .header(header::CONTENT_RANGE, &format!("bytes */{size}")),
                );
            }
        };
        let mut response = Response::new(status)
            .header(header::CONTENT_TYPE, self.content_type)
            .header(header::CONTENT_DISPOSITION, &disposition(self.filename))
            .header(header::CONTENT_LENGTH, &(end - start).to_string())
            .header(header::ACCEPT_RANGES, "bytes")
            .header(header::ETAG, self.etag)
            .header(header::CACHE_CONTROL, "no-cache");
        if status == StatusCode::PARTIAL_CONTENT {
            response = response.header(
                header::CONTENT_RANGE,
                &format!("bytes {start}-{}/{size}", end - 1),
            );
        }
        if req.method == Method::HEAD || start == end {
            return Ranged::Done(response);
        }
        Ranged::Body(response, start, end)
    }
}

/// `task_id/<file>` for every file of the task, as one `.tar.gz` stream.
fn sandbox_archive(
    req: &Request,
    env: &Env,
    sandboxes: &Sandboxes,
    task: &Task,
) -> Result<Response, Problem> {
    let files = sandboxes.files(&task.id)?;
    let total: u64 = files.iter().map(|f| f.size).sum();
    if total > env.config.max_archive_bytes {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Archive Too Large",
            format!(
                "the sandbox holds {total} bytes, over max_archive_bytes ({}); \
                 create a log collection job (POST /api/v1/groups/{{group}}/logCollectionJobs), \
                 whose archive downloads in resumable ranges",
                env.config.max_archive_bytes
            ),
        ));
    }
    let response = Response::new(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/gzip")
        .header(
            header::CONTENT_DISPOSITION,
            &disposition(&format!("{}.tar.gz", task.id)),
        )
        .header(header::CACHE_CONTROL, "no-cache");
    if req.method == Method::HEAD {
        return Ok(response);
    }
    let store = env.store.clone();
    let task_id = task.id.clone();
    // Each file's entry: header, data streamed from storage, padding. Snapshots
    // are taken lazily, as each entry starts, so memory holds one chunk.
    let tar = files
        .into_iter()
        .flat_map(move |f| {
            let log = Sandboxes::new(store.clone()).file(&task_id, &f.name);
            let path = format!("{task_id}/{}", f.name);
            let entry: Box<dyn Iterator<Item = Result<Vec<u8>, Problem>>> = match log.snapshot() {
                Err(e) => Box::new(std::iter::once(Err(e))),
                Ok(None) => Box::new(std::iter::empty()),
                Ok(Some(snap)) => {
                    let size = snap.size();
                    let head = targz::header(&path, size, snap.head().mtime / 1_000_000);
                    Box::new(
                        std::iter::once(head)
                            .chain(Rc::new(snap).read(0, size))
                            .chain(std::iter::once(Ok(targz::padding(size).to_vec()))),
                    )
                }
            };
            entry
        })
        .chain(std::iter::once(Ok(targz::END.to_vec())));
    Ok(response.stream(Box::new(compress(tar))))
}

/// Gzips a stream of tar chunks, yielding compressed output as it is produced.
fn compress(
    mut tar: impl Iterator<Item = Result<Vec<u8>, Problem>>,
) -> impl Iterator<Item = Result<Vec<u8>, Problem>> {
    let mut gz = Some(targz::GzStream::default());
    std::iter::from_fn(move || {
        loop {
            let stream = gz.as_mut()?;
            match tar.next() {
                Some(Ok(chunk)) => match stream.push(&chunk) {
                    Ok(out) if out.is_empty() => continue,
                    other => return Some(other),
                },
                Some(Err(e)) => {
                    gz = None;
                    return Some(Err(e));
                }
                None => return gz.take().map(targz::GzStream::finish),
            }
        }
    })
}

#[derive(Debug, PartialEq, Eq)]
enum RangeSpec {
    Whole,
    /// `start..end`, end exclusive.
    Part(u64, u64),
    Unsatisfiable,
}

/// One `bytes=` range (RFC 9110 §14.1.2). Several ranges or a malformed header
/// are ignored (the whole file is sent), which the RFC allows.
fn parse_range(value: &str, size: u64) -> RangeSpec {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeSpec::Whole;
    };
    if spec.contains(',') {
        return RangeSpec::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeSpec::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| s.parse::<u64>().ok();
    match (a.is_empty(), b.is_empty()) {
        (true, false) => match num(b) {
            Some(0) => RangeSpec::Unsatisfiable,
            Some(_) if size == 0 => RangeSpec::Unsatisfiable,
            Some(n) => RangeSpec::Part(size - n.min(size), size),
            None => RangeSpec::Whole,
        },
        (false, _) => match (num(a), if b.is_empty() { Some(u64::MAX) } else { num(b) }) {
            (Some(s), Some(e)) if s <= e => {
                if s >= size {
                    RangeSpec::Unsatisfiable
                } else {
                    RangeSpec::Part(s, e.saturating_add(1).min(size))
                }
            }
            _ => RangeSpec::Whole,
        },
        (true, true) => RangeSpec::Whole,
    }
}

/// `If-Range` holds when absent or equal to the current strong ETag; a date or
/// another tag means the client's partial copy is stale: send everything.
fn if_range_holds(req: &Request, etag: &str) -> bool {
    req.header(header::IF_RANGE)
        .is_none_or(|v| v.trim() == etag)
}

/// `attachment; filename="..."` plus RFC 8187 `filename*` for non-ASCII names.
pub(crate) fn disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        utf8_percent_encode(name, NON_ALPHANUMERIC)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_single_byte_ranges() {
        use RangeSpec::*;
        for (value, want) in [
            ("bytes=0-9", Part(0, 10)),
            ("bytes=5-", Part(5, 100)),
            ("bytes=-10", Part(90, 100)),
            ("bytes=-1000", Part(0, 100)),
            ("bytes=90-1000", Part(90, 100)),
            ("bytes=100-", Unsatisfiable),
            ("bytes=-0", Unsatisfiable),
            ("bytes=9-5", Whole),
            ("bytes=0-1,5-6", Whole),
            ("items=0-1", Whole),
            ("bytes=x-1", Whole),
        ] {
            assert_eq!(parse_range(value, 100), want, "{value}");
        }
        assert_eq!(parse_range("bytes=-5", 0), Unsatisfiable);
    }

    #[test]
    fn dispositions_are_safe_for_any_name() {
        assert_eq!(
            disposition("stdout"),
            "attachment; filename=\"stdout\"; filename*=UTF-8''stdout"
        );
        assert!(disposition("a\"b é").starts_with("attachment; filename=\"a_b _\""));
    }
}
