//! Output formats of the read routes and how a client picks one.
//!
//! - `text/plain`, `text/html`, `*/*`: one line per entry ending in `\n`;
//! - `application/json`, `application/x-ndjson`: NDJSON, one object per entry;
//! - `text/event-stream`: Server-Sent Events, each entry an event whose `id:`
//!   resumes right after it.
//!
//! Positions are boundaries: an entry's cursor is the position just after it,
//! and a read from a cursor starts with the first entry at or after it, so a
//! resume never repeats the entry the cursor came from.

use crate::web::problem::Problem;
use http::StatusCode;

/// Milliseconds an `EventSource` waits before reconnecting: the `retry:` of
/// every SSE answer, reads and follows alike.
pub const SSE_RETRY_MS: u64 = 500;

/// How a read route renders its entries, picked by [`Format::negotiate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One line per entry, each ending in `\n`.
    Text,
    /// NDJSON: one JSON object per entry and line.
    Json,
    /// Server-Sent Events, each entry an event whose `id:` resumes after it.
    Sse,
}

impl Format {
    /// Picks the format for an `Accept` header: the highest-quality supported
    /// media range; absent or empty means text. Nothing supported: 406.
    pub fn negotiate(accept: Option<&str>) -> Result<Self, Problem> {
        let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
            return Ok(Format::Text);
        };
        let mut best: Option<(f32, usize, Format)> = None;
        for (i, range) in accept.split(',').enumerate() {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let format = match media.as_str() {
                "text/plain" | "text/html" | "text/*" | "*/*" => Format::Text,
                "application/json" | "application/x-ndjson" | "application/*" => Format::Json,
                "text/event-stream" => Format::Sse,
                _ => continue,
            };
            // Highest q wins; on a tie the earlier range (the client's order).
            if q > 0.0 && best.is_none_or(|(bq, _, _)| q > bq) {
                best = Some((q, i, format));
            }
        }
        best.map(|(_, _, f)| f).ok_or_else(|| {
            Problem::new(
                StatusCode::NOT_ACCEPTABLE,
                "Not Acceptable",
                format!(
                    "no supported format in Accept: {accept:?}; use text/plain, \
                     application/json, application/x-ndjson or text/event-stream"
                ),
            )
            .with("parameter", "Accept")
        })
    }

    /// The `Content-Type` an answer in this format carries.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; charset=utf-8",
            Format::Json => "application/x-ndjson",
            Format::Sse => "text/event-stream",
        }
    }
}

/// Appends one SSE event: `id`, optional `event`, and `data`. A line break in
/// `data` (CR, LF or CRLF, all of which end an SSE line) starts another
/// `data:` line, which clients join back with `\n`; line breaks in `id` and
/// `event` (ours never have any) are dropped. So no stored text can end the
/// event early or forge an `id:` or `event:` field.
pub fn sse_event(out: &mut Vec<u8>, id: Option<&str>, event: Option<&str>, data: &str) {
    let field = |out: &mut Vec<u8>, name: &[u8], value: &str| {
        out.extend_from_slice(name);
        out.extend(value.bytes().filter(|b| *b != b'\r' && *b != b'\n'));
        out.push(b'\n');
    };
    if let Some(id) = id {
        field(out, b"id: ", id);
    }
    if let Some(event) = event {
        field(out, b"event: ", event);
    }
    let mut rest = data;
    loop {
        let cut = rest.find(['\r', '\n']);
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(&rest.as_bytes()[..cut.unwrap_or(rest.len())]);
        out.push(b'\n');
        match cut {
            None => break,
            Some(i) => {
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
            }
        }
    }
    out.push(b'\n');
}

/// Appends one rendered entry: an SSE event with its resume `id`, or an
/// NDJSON line (the JSON carries its own cursor).
pub fn emit(out: &mut Vec<u8>, format: Format, id: &str, json: &str) {
    match format {
        Format::Sse => sse_event(out, Some(id), None, json),
        _ => {
            out.extend_from_slice(json.as_bytes());
            out.push(b'\n');
        }
    }
}

/// RFC 3339 in UTC for microseconds since the epoch.
pub fn rfc3339(micros: u64) -> String {
    rfc3339_ns(micros.saturating_mul(1000))
}

/// RFC 3339 with nanoseconds, for nanoseconds since the epoch, as `time`'s
/// `Rfc3339` writes it: a fraction only when there is one, without its
/// trailing zeros.
pub fn rfc3339_ns(nanos: u64) -> String {
    date_time(i128::from(nanos), 'T')
        .map_or_else(String::new, |(s, ns)| format!("{s}{}Z", fraction(ns)))
}

/// `.5`, `.000000001`: nanoseconds as a decimal fraction without trailing
/// zeros, as `time` and Go write them; nothing for none.
pub fn fraction(nanos: u32) -> String {
    match nanos {
        0 => String::new(),
        n => format!(".{n:09}").trim_end_matches('0').to_owned(),
    }
}

/// `YYYY-MM-DD`, `sep`, `HH:MM:SS` in UTC for nanoseconds since the epoch,
/// and the nanoseconds past that second: what every time the API writes
/// starts with. Written with `format!` over `time`'s fields, not with
/// `time`'s formatter: its RFC 3339 and format-description paths took
/// ~17 KB of each component that wrote a time (`twiggy top` of `archive`,
/// December 7), more than `archive` had left under 1 MiB.
pub fn date_time(nanos: i128, sep: char) -> Option<(String, u32)> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?;
    let s = format!(
        "{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    Some((s, t.nanosecond()))
}

/// An opaque token a client hands back (a cursor): `value` as base64url JSON.
pub fn opaque<T: serde::Serialize>(value: &T) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(value).unwrap_or_default())
}

/// The value an [`opaque`] token holds; `None` for anything else.
pub fn from_opaque<T: serde::de::DeserializeOwned>(token: &str) -> Option<T> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// `YYYY-MM-DD HH:MM:SS` in UTC for microseconds since the epoch.
pub fn utc_seconds(micros: u64) -> String {
    date_time(i128::from(micros) * 1000, ' ')
        .map_or_else(|| "0000-00-00 00:00:00".to_owned(), |(s, _)| s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_like_dcos() {
        for (accept, want) in [
            (None, Format::Text),
            (Some(""), Format::Text),
            (Some("*/*"), Format::Text),
            (Some("text/html"), Format::Text),
            (Some("application/json"), Format::Json),
            (Some("application/x-ndjson"), Format::Json),
            (Some("text/event-stream"), Format::Sse),
            (
                Some("image/png, application/json;q=0.5, text/plain;q=0.2"),
                Format::Json,
            ),
            (Some("text/plain, text/event-stream"), Format::Text),
            (Some("text/plain;q=0, text/event-stream"), Format::Sse),
        ] {
            assert_eq!(Format::negotiate(accept).unwrap(), want, "{accept:?}");
        }
        let p = Format::negotiate(Some("image/png")).unwrap_err();
        assert_eq!(p.status, StatusCode::NOT_ACCEPTABLE);
    }

    #[test]
    fn formats_events_and_times() {
        let mut out = Vec::new();
        sse_event(&mut out, Some("42"), None, "{}");
        assert_eq!(out, b"id: 42\ndata: {}\n\n");
        // Stored text cannot end the event or forge a field.
        let mut out = Vec::new();
        sse_event(
            &mut out,
            Some("1"),
            Some("log"),
            "a\rid: 666\r\nb\n\nevent: x",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "id: 1\nevent: log\ndata: a\ndata: id: 666\ndata: b\ndata: \ndata: event: x\n\n"
        );
        assert_eq!(utc_seconds(1_500_000_000_123_456), "2017-07-14 02:40:00");
        // Past year 9999 (a client's __REALTIME_TIMESTAMP): the placeholder.
        assert_eq!(utc_seconds(u64::MAX), "0000-00-00 00:00:00");
        // As `time`'s Rfc3339 wrote them (the formatter it replaced).
        for ns in [
            0,
            1,
            1_500_000_000_123_456_000,
            1_700_000_000_100_000_000,
            u64::MAX,
        ] {
            let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)).unwrap();
            let want = t
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
            assert_eq!(rfc3339_ns(ns), want, "{ns}");
        }
    }
}
