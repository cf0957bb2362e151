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

use crate::env::Env;
use crate::model::sandbox::{Sandboxes, Task};
use crate::read::download::{Download, Ranged, disposition};
use crate::read::targz;
use crate::routes::archive::{Archive, FAMILY};
use crate::util::ids::digest;
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;
use http::{Method, StatusCode, header};
use std::rc::Rc;

/// The `archive` component: sandbox downloads and log collection jobs.
pub const API: super::Api<Archive> = super::Api {
    family: &FAMILY,
    handle,
};

fn handle(route: Archive, req: &Request, env: &Env) -> Result<Response, Problem> {
    let (run, file) = match route {
        Archive::Job { group, op } => return super::jobs::handle(&group, op, req, env),
        Archive::Download { run, file } => (run, Some(file)),
        Archive::Sandbox { run } => (run, None),
    };
    let sandboxes = Sandboxes::new(env.store.clone());
    let task = sandboxes.task_at(&run)?;
    match file {
        None => sandbox_archive(req, env, &sandboxes, &task),
        Some(file) => download(req, &sandboxes, &task, &file),
    }
}

/// One sandbox file as an attachment.
fn download(
    req: &Request,
    sandboxes: &Sandboxes,
    task: &Task,
    filename: &str,
) -> Result<Response, Problem> {
    let snapshot = sandboxes
        .file(&task.id, filename)
        .snapshot()?
        .ok_or_else(|| {
            Problem::not_found(format!("task {:?} has no file {filename:?}", task.id))
        })?;
    // After retention expired its first pages, the file is what is kept:
    // its length, its ranges and its ETag are those of `kept..size`.
    let (kept, end_of_log) = (snapshot.retained(), snapshot.size());
    let size = end_of_log - kept;
    let id = &digest(format!("{}\0{filename}", task.id).as_bytes())[..16];
    let etag = match kept {
        0 => format!("\"{id}-{size:x}\""),
        _ => format!("\"{id}-{kept:x}-{size:x}\""),
    };

    let download = Download {
        size,
        etag: &etag,
        content_type: "text/plain; charset=utf-8",
        filename,
    };
    let answer = match kept {
        0 => download.respond(req),
        _ => download.respond_moved(req),
    };
    let (response, start, end) = match answer {
        Ranged::Body(response, start, end) => (response, start, end),
        Ranged::Done(response) => return Ok(response),
    };
    Ok(response.stream(Box::new(Rc::new(snapshot).read(kept + start, kept + end))))
}

/// `task_id/<file>` for every file of the task, as one `.tar.gz` stream.
fn sandbox_archive(
    req: &Request,
    env: &Env,
    sandboxes: &Sandboxes,
    task: &Task,
) -> Result<Response, Problem> {
    let files = sandboxes.files(&task.id)?;
    let total: u64 = files.iter().map(|f| f.size - f.retained).sum();
    let max = env.config.max_archive_bytes()?;
    if total > max {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Archive Too Large",
            format!(
                "the sandbox holds {total} bytes, over max_archive_bytes ({}); \
                 create a log collection job (POST /api/public/v1.0/groups/{{group}}/logCollectionJobs), \
                 whose archive downloads in resumable ranges",
                max
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
                Err(e) => Box::new(std::iter::once(Err(e.into()))),
                Ok(None) => Box::new(std::iter::empty()),
                Ok(Some(snap)) => {
                    // What retention kept: the entry's size is its length.
                    let (kept, end) = (snap.retained(), snap.size());
                    let size = end - kept;
                    let head = targz::header(&path, size, snap.head().mtime / 1_000_000);
                    Box::new(
                        std::iter::once(head)
                            .chain(
                                Rc::new(snap)
                                    .read(kept, end)
                                    .map(|c| c.map_err(Problem::from)),
                            )
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
