//! Readers: from a log snapshot, read parameters and a format to a response.
//!
//! Task files and the journal are both logs of lines, so one reader serves
//! both; they differ in how a position is spelled (a byte offset for files, as
//! DC/OS clients expect, a checked token for the journal), in which lines
//! match (journal filters) and in how a line is rendered. Plain-text reads of
//! files stream straight from storage with exact sizes known up front; other
//! reads render into a buffer that stops at the response budget, which is what
//! lets the headers name the next position.

use super::format::{Format, SSE_RETRY_MS, emit, utc_seconds};
use crate::read::params::{Cursor, ReadParams};
use crate::store::log::{Line, Snapshot};
use crate::web::message::Response;
use crate::web::problem::Problem;
use crate::web::query::Query;
use http::{HeaderName, StatusCode, header};
use std::rc::Rc;

/// How one kind of log spells positions, selects and renders lines.
pub trait Source {
    /// Decodes a client position (`cursor=` or `Last-Event-ID`) to a byte offset.
    fn decode(&self, token: &str) -> Result<u64, Problem>;
    /// The position token for byte `offset`, as `X-Next-Cursor`, `Link` and
    /// SSE `id:` give it; [`Source::decode`] takes it back.
    fn encode(&self, offset: u64) -> String;
    /// Whether every line is selected (lets reads use the line index).
    fn selects_all(&self) -> bool;
    /// Whether the text format is the stored bytes themselves (lets text reads
    /// stream straight from storage).
    fn text_is_stored(&self) -> bool {
        false
    }
    /// Appends `line` in `format`, or returns `false` if the line is not selected.
    fn render(&self, line: &Line, format: Format, out: &mut Vec<u8>) -> Result<bool, Problem>;
}

/// A read request, resolved against one snapshot.
pub struct Read<'a, S: Source> {
    /// The kind of log: how positions are spelled and lines rendered.
    pub source: S,
    /// The log as of the request: lines appended later are not sent.
    pub snapshot: Rc<Snapshot>,
    /// `limit`, `skip`, `cursor` and `filter` as the client gave them.
    pub params: ReadParams,
    /// `Last-Event-ID`: wins over `cursor`.
    pub last_event_id: Option<String>,
    /// The negotiated output format.
    pub format: Format,
    /// Most body bytes one answer carries (`max_response_bytes`): past it
    /// the answer ends on an entry and names the next position; at least
    /// one entry is always sent.
    pub budget: u64,
    /// Path of the request, for the `Link` to the next page.
    pub path: &'a str,
    /// Query of the request, kept as sent in the `Link` but for `cursor`
    /// and `skip`.
    pub query: &'a Query,
}

impl<S: Source + 'static> Read<'_, S> {
    /// The answer: 200 with the entries from the start position on (and
    /// `X-Next-Cursor` plus a `Link` when the budget cut it short), 204 when
    /// none is there, 400 for a position that is not this log's.
    pub fn respond(self) -> Result<Response, Problem> {
        let start = start(
            &self.snapshot,
            &self.source,
            &self.params,
            self.last_event_id.as_deref(),
        )?;
        if self.format == Format::Text && self.source.selects_all() && self.source.text_is_stored()
        {
            return self.stream_text(start);
        }
        self.render_buffered(start.offset)
    }

    fn headers(&self, status: StatusCode, next: Option<u64>) -> Response {
        let mut r = Response::new(status).header(header::CACHE_CONTROL, "no-cache");
        if status != StatusCode::NO_CONTENT {
            r = r.header(header::CONTENT_TYPE, self.format.content_type());
        }
        if let Some(next) = next {
            let token = self.source.encode(next);
            let link = format!(
                "<{}?{}>; rel=\"next\"",
                crate::web::path::header_safe(self.path),
                next_query(self.query, &token)
            );
            r = r
                .header(HeaderName::from_static("x-next-cursor"), &token)
                .header(header::LINK, &link);
        }
        r
    }

    fn stream_text(self, start: Start) -> Result<Response, Problem> {
        let snap = &self.snapshot;
        // The start's line number is known whenever the start came from a
        // line count (BEG, END, skip). From a client's cursor it costs a
        // look-up (its segment fetched and inflated once more): only a
        // `limit`, or a first line longer than the budget, needs it; a page
        // of a full read by cursors does not (with typical lines, that is
        // ~0.75 ms of inflate per 8 MiB page, at the 680 MB/s in
        // `store::log::codec`; the benchmark's repeated line inflates too
        // fast to show it).
        let first = || match start.line {
            Some(line) => Ok(line),
            None => snap.line_at(start.offset),
        };
        let last = match self.params.limit {
            Some(n) => first()?.saturating_add(n).min(snap.lines()),
            None => snap.lines(),
        };
        let mut end = snap.line_start(last)?;
        let mut next = None;
        let start = start.offset;
        if end - start > self.budget.max(1) {
            // A line boundary inside the budget; at least one line.
            end = match snap.page_end(start, start + self.budget.max(1))? {
                Some(end) => end,
                None => snap.line_start(first()? + 1)?,
            };
            next = Some(end);
        }
        if start == end {
            return Ok(self.headers(StatusCode::NO_CONTENT, None));
        }
        // Its length is known (the read skips what retention expired, as
        // `Snapshot::read` clamps): the host then needs no chunked framing.
        let length = end
            .min(snap.size())
            .saturating_sub(start.max(snap.retained()));
        let response = self
            .headers(StatusCode::OK, next)
            .header(header::CONTENT_LENGTH, &length.to_string());
        Ok(response.stream(Box::new(self.snapshot.clone().read(start, end))))
    }

    fn render_buffered(self, start: u64) -> Result<Response, Problem> {
        let mut out = Vec::new();
        if self.format == Format::Sse {
            out.extend_from_slice(format!("retry: {SSE_RETRY_MS}\n\n").as_bytes());
        }
        let preamble = out.len();
        let mut sent = 0u64;
        let mut next = None;
        let mut entry = Vec::new();
        for line in self.snapshot.clone().lines_in(start, self.snapshot.size()) {
            let line = line?;
            entry.clear();
            if !self.source.render(&line, self.format, &mut entry)? {
                continue;
            }
            if sent > 0 && (out.len() + entry.len()) as u64 > self.budget {
                next = Some(line.offset);
                break;
            }
            out.extend_from_slice(&entry);
            sent += 1;
            if self.params.limit.is_some_and(|n| sent >= n) {
                break;
            }
        }
        if out.len() == preamble {
            return Ok(self.headers(StatusCode::NO_CONTENT, None));
        }
        Ok(self.headers(StatusCode::OK, next).bytes(out))
    }
}

/// Where a read starts: a line boundary, and its line number when known
/// without a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Start {
    offset: u64,
    line: Option<u64>,
}

/// The first position a read sends, on a line boundary: `Last-Event-ID`
/// (if any) or `cursor`, moved by `skip` entries. A position the client
/// sent must be one of this log's (see [`crate::model::position`]):
/// otherwise a 400 naming the parameter it came in.
pub fn start_position<S: Source>(
    snapshot: &Rc<Snapshot>,
    source: &S,
    params: &ReadParams,
    last_event_id: Option<&str>,
) -> Result<u64, Problem> {
    start(snapshot, source, params, last_event_id).map(|s| s.offset)
}

fn start<S: Source>(
    snapshot: &Rc<Snapshot>,
    source: &S,
    params: &ReadParams,
    last_event_id: Option<&str>,
) -> Result<Start, Problem> {
    let snap = snapshot;
    let (cursor, param) = match last_event_id {
        Some(id) => (Some(Cursor::At(id.to_owned())), "Last-Event-ID"),
        None => (params.cursor.clone(), "cursor"),
    };
    // `skip` places a read's first start (`skip=-10`: the last ten, then
    // follow). A resume continues at the exact event it names: skipping
    // from there again would send the same lines after every reconnect,
    // since `EventSource` reconnects with its first URL, `skip` and all.
    let skip = if last_event_id.is_some() {
        0
    } else {
        params.skip
    };
    let at = |offset, line| Start { offset, line };
    let base = match cursor {
        Some(Cursor::Beg) => at(0, Some(0)),
        Some(Cursor::End) => at(snap.size(), Some(snap.lines())),
        None if skip < 0 => at(snap.size(), Some(snap.lines())), // "the last N"
        None => at(0, Some(0)),
        Some(Cursor::At(token)) => {
            let offset = source
                .decode(&token)
                .map_err(|p| p.with("parameter", param))?;
            crate::model::position::require(Some(snap), offset, param)?;
            at(offset, None)
        }
    };
    if skip == 0 {
        return Ok(base);
    }
    if source.selects_all() {
        let from = match base.line {
            Some(line) => line,
            None => snap.line_at(base.offset)?,
        };
        let line = from.saturating_add_signed(skip).min(snap.lines());
        return Ok(at(snap.line_start(line)?, Some(line)));
    }
    let base = base.offset;
    // Filtered: count selected entries, forwards or backwards.
    let mut scratch = Vec::new();
    if skip > 0 {
        let mut left = skip;
        for line in snap.clone().lines_in(base, snap.size()) {
            let line = line?;
            scratch.clear();
            if source.render(&line, Format::Text, &mut scratch)? {
                left -= 1;
                if left == 0 {
                    return Ok(at(line.end(), None));
                }
            }
        }
        Ok(at(snap.size(), Some(snap.lines())))
    } else {
        let mut left = skip.unsigned_abs();
        for line in snap.clone().lines_before(base) {
            let line = line?;
            scratch.clear();
            if source.render(&line, Format::Text, &mut scratch)? {
                left -= 1;
                if left == 0 {
                    return Ok(at(line.offset, None));
                }
            }
        }
        Ok(at(0, Some(0)))
    }
}

/// `offset` if a line starts there, else the start of the next line: a
/// position inside a line means that line was already sent.
pub(crate) fn boundary_at_or_after(snap: &Snapshot, offset: u64) -> Result<u64, Problem> {
    let line = snap.line_at(offset)?;
    let start = snap.line_start(line)?;
    if start == offset {
        Ok(start)
    } else {
        Ok(snap.line_start(line + 1)?)
    }
}

/// [`start_position`] for a log that does not exist yet (an empty journal):
/// everything is position 0, and a position the client sent must say so.
pub fn start_position_empty<S: Source>(
    source: &S,
    params: &ReadParams,
    last_event_id: Option<&str>,
) -> Result<u64, Problem> {
    let (token, param) = match (last_event_id, &params.cursor) {
        (Some(id), _) => (id, "Last-Event-ID"),
        (None, Some(Cursor::At(token))) => (token.as_str(), "cursor"),
        (None, _) => return Ok(0),
    };
    let offset = source
        .decode(token)
        .map_err(|p| p.with("parameter", param))?;
    crate::model::position::require(None, offset, param)?;
    Ok(0)
}

/// The request's query with `cursor` set to `next` and `skip` dropped (the
/// cursor already includes it); `limit` and the rest are kept as sent.
pub fn next_query(query: &Query, next: &str) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in query.pairs() {
        if k != "cursor" && k != "skip" {
            out.append_pair(k, v);
        }
    }
    out.append_pair("cursor", next);
    out.finish()
}

/// A sandbox file: positions are byte offsets, every line is an entry.
pub struct FileSource {
    /// `AGENT_ID`, `EXECUTOR_ID`, ... as rendered into each JSON entry.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl FileSource {
    /// The file `file` of `task`: its JSON entries carry the task's ids.
    pub fn new(task: &crate::model::sandbox::Task, file: &str) -> Self {
        let mut fields = serde_json::Map::new();
        fields.insert("AGENT_ID".into(), task.agent_id.clone().into());
        fields.insert("EXECUTOR_ID".into(), task.executor().into());
        fields.insert("FRAMEWORK_ID".into(), task.framework_id.clone().into());
        fields.insert("CONTAINER_ID".into(), task.container_id.clone().into());
        fields.insert("FILE".into(), file.into());
        Self { fields }
    }
}

impl Source for FileSource {
    fn decode(&self, token: &str) -> Result<u64, Problem> {
        crate::model::position::decimal(token).ok_or_else(|| {
            Problem::bad_param(
                "cursor",
                format!("a task file cursor is BEG, END or a byte offset, not {token:?}"),
            )
        })
    }

    fn encode(&self, offset: u64) -> String {
        offset.to_string()
    }

    fn selects_all(&self) -> bool {
        true
    }

    fn text_is_stored(&self) -> bool {
        true
    }

    fn render(&self, line: &Line, format: Format, out: &mut Vec<u8>) -> Result<bool, Problem> {
        if format == Format::Text {
            out.extend_from_slice(&line.text);
            out.push(b'\n');
            return Ok(true);
        }
        let mut fields = self.fields.clone();
        fields.insert("MESSAGE".into(), String::from_utf8_lossy(&line.text).into());
        let cursor = line.end().to_string();
        let entry = serde_json::json!({"fields": fields, "offset": line.offset, "cursor": cursor});
        emit(out, format, &cursor, &entry.to_string());
        Ok(true)
    }
}

/// The journal: positions are checked tokens, entries selected by unit and filters.
pub struct JournalSource {
    /// `/component/{name}`: `UNIT` or `_SYSTEMD_UNIT` is `name` or `name.service`.
    pub unit: Option<String>,
    /// `filter=KEY:value` pairs, keys upper-cased: an entry is selected
    /// only if its field `KEY` is exactly `value` for every pair.
    pub filters: Vec<(String, String)>,
}

/// `<time>: <message>\n`. A multi-line message continues on lines indented
/// to the message column, as `journalctl` prints it, so a line break in a
/// message can never pass for an entry of its own.
fn text_entry(out: &mut Vec<u8>, time: &str, message: &str) {
    out.extend_from_slice(time.as_bytes());
    out.extend_from_slice(b": ");
    let indent = time.len() + 2;
    let lines = message
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l));
    for (i, line) in lines.enumerate() {
        if i > 0 {
            out.push(b'\n');
            out.resize(out.len() + indent, b' ');
        }
        // A lone CR would let a terminal draw over the line's start.
        out.extend(line.bytes().map(|b| if b == b'\r' { b' ' } else { b }));
    }
    out.push(b'\n');
}

/// What [`JournalSource::text_between`] made of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Another unit's, or filtered out.
    Other,
    /// This source's, but stamped outside the window: the unit exists.
    OutsideWindow,
    /// Selected and written.
    Within,
}

impl JournalSource {
    /// The entry's fields if this source selects it (unit and filters).
    fn select(&self, line: &Line) -> Result<Option<JournalFields>, Problem> {
        let fields: JournalFields = serde_json::from_slice(&line.text)
            .map_err(|e| Problem::internal(format!("journal entry at {}: {e}", line.offset)))?;
        let field = |k: &str| fields.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        if let Some(unit) = &self.unit {
            let service = format!("{unit}.service");
            let is = |v: &str| v == unit || v == service;
            if !(is(field("UNIT")) || is(field("_SYSTEMD_UNIT"))) {
                return Ok(None);
            }
        }
        if !self.filters.iter().all(|(k, v)| field(k) == v) {
            return Ok(None);
        }
        Ok(Some(fields))
    }

    /// The entry as a text line (what `/component` serves, and what a log
    /// collection job archives), written to `out` if selected and stamped
    /// within `[since, until)` (microseconds; `None` is open).
    pub fn text_between(
        &self,
        line: &Line,
        since: Option<u64>,
        until: Option<u64>,
        out: &mut Vec<u8>,
    ) -> Result<Selection, Problem> {
        let Some(fields) = self.select(line)? else {
            return Ok(Selection::Other);
        };
        let field = |k: &str| fields.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        let realtime: u64 = field(crate::model::journal::REALTIME).parse().unwrap_or(0);
        if since.is_some_and(|s| realtime < s) || until.is_some_and(|u| realtime >= u) {
            return Ok(Selection::OutsideWindow);
        }
        text_entry(out, &utc_seconds(realtime), field("MESSAGE"));
        Ok(Selection::Within)
    }
}

type JournalFields = serde_json::Map<String, serde_json::Value>;

/// Journal cursor tokens: `j.<offset>.<check>`. The check binds the token to
/// the journal and catches truncation or typos; it is not a signature.
const JOURNAL_DOMAIN: &str = "journal/default";

impl Source for JournalSource {
    fn decode(&self, token: &str) -> Result<u64, Problem> {
        crate::model::position::open("j", JOURNAL_DOMAIN, token)
            .and_then(crate::model::position::canonical_decimal)
            .ok_or_else(|| {
                Problem::bad_param("cursor", format!("{token:?} is not a journal cursor"))
            })
    }

    fn encode(&self, offset: u64) -> String {
        crate::model::position::seal("j", JOURNAL_DOMAIN, &offset.to_string())
    }

    fn selects_all(&self) -> bool {
        self.unit.is_none() && self.filters.is_empty()
    }

    fn render(&self, line: &Line, format: Format, out: &mut Vec<u8>) -> Result<bool, Problem> {
        use crate::model::journal::{MONOTONIC, REALTIME};
        if format == Format::Text {
            return Ok(self.text_between(line, None, None, out)? == Selection::Within);
        }
        let Some(mut fields) = self.select(line)? else {
            return Ok(false);
        };
        let field = |k: &str| fields.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        let realtime: u64 = field(REALTIME).parse().unwrap_or(0);
        let monotonic: u64 = field(MONOTONIC).parse().unwrap_or(0);
        fields.remove(REALTIME);
        fields.remove(MONOTONIC);
        let cursor = self.encode(line.end());
        let entry = serde_json::json!({
            "fields": fields,
            "cursor": cursor,
            "realtime_timestamp": realtime,
            "monotonic_timestamp": monotonic,
        });
        emit(out, format, &cursor, &entry.to_string());
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_journal_messages_cannot_pass_for_entries() {
        let mut out = Vec::new();
        text_entry(
            &mut out,
            "2017-07-14 02:40:00",
            "one\r\n2017-07-14 02:40:01: forged\rx\ny",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2017-07-14 02:40:00: one\n                     2017-07-14 02:40:01: forged x\n                     y\n"
        );
    }
}
