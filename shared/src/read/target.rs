//! Opening the log a read route names: the one step `dump` (reads) and
//! `tail` (follows) share, so a path means the same log to both.

use super::format::Format;
use super::params::ReadParams;
use super::reader::{FileSource, JournalSource};
use crate::env::Env;
use crate::model::journal;
use crate::model::sandbox::Sandboxes;
use crate::store::log::{Log, Snapshot};
use crate::web::message::Request;
use crate::web::path::ReadTarget;
use crate::web::problem::Problem;

/// The log a read route names, how to render it, and its state as of the
/// request (taken once: reads and follows start from this snapshot).
pub enum Opened {
    /// A registered task's file may not exist yet: a read of it is a 404,
    /// a follow waits for its first line, as `tail -F` does.
    File(FileSource, Log, Option<Snapshot>),
    /// The journal may not exist yet: nothing to read, but something to follow.
    Journal(JournalSource, Log, Option<Snapshot>),
}

/// Finds and snapshots the log `target` names.
pub fn open(target: &ReadTarget, params: &ReadParams, env: &Env) -> Result<Opened, Problem> {
    match target {
        ReadTarget::Journal { unit } => {
            let source = JournalSource {
                unit: unit.clone(),
                filters: params.filters.clone(),
            };
            let log = journal::log(env.store.clone());
            let snapshot = log.snapshot()?;
            Ok(Opened::Journal(source, log, snapshot))
        }
        ReadTarget::File { run, file } => {
            if !params.filters.is_empty() {
                return Err(Problem::bad_param(
                    "filter",
                    "filter applies to component logs only",
                ));
            }
            let sandboxes = Sandboxes::new(env.store.clone());
            let task = sandboxes.task_at(run)?;
            let log = sandboxes.file(&task.id, file);
            let snapshot = log.snapshot()?;
            Ok(Opened::File(FileSource::new(&task, file), log, snapshot))
        }
    }
}

/// `Last-Event-ID`, when the client reads SSE and sent one.
pub fn last_event_id(req: &Request, format: Format) -> Option<String> {
    match (format, req.header("last-event-id")) {
        (Format::Sse, Some(id)) if !id.is_empty() => Some(id.to_owned()),
        _ => None,
    }
}

/// Whether a read asks to follow: SSE (DC/OS) or `stream=true`.
pub fn wants_follow(req: &Request, format: Format) -> bool {
    format == Format::Sse || req.query.all("stream").any(|v| v == "true")
}
