//! Ranged downloads of stored, immutable objects: a sandbox file, or a log
//! collection job's archive. `Content-Length`, a strong `ETag` and
//! single-range `Range` / `If-Range`, so a broken download resumes and an
//! object larger than a host's response cap downloads in parts.

use crate::web::message::{Request, Response};
use crate::web::problem::Problem;
use http::{Method, StatusCode, header};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

/// A stored, immutable object served as an attachment with `Content-Length`,
/// a strong `ETag` and single-range `Range`/`If-Range`: a file, or a job's archive.
pub struct Download<'a> {
    /// The object's length in bytes: what ranges are checked against.
    pub size: u64,
    /// Its strong ETag, quoted as sent; it must change whenever the bytes
    /// could, or a resumed download splices two objects.
    pub etag: &'a str,
    /// The `Content-Type` sent.
    pub content_type: &'a str,
    /// The name offered in `Content-Disposition`: any name, made safe
    /// there (an ASCII fallback and a percent-encoded UTF-8 one).
    pub filename: &'a str,
}

/// What a [`Download`] answers.
pub enum Ranged {
    /// A 200/206 head and the byte range `start..end` its body must carry.
    Body(Response, u64, u64),
    /// An answer that needs no body: HEAD, an empty range, a 416.
    Done(Response),
}

impl Download<'_> {
    /// The answer to `req` (GET or HEAD): 304 when `If-None-Match` names the
    /// ETag, 206 for one satisfiable range (honoured only while `If-Range`
    /// still holds), 416 for an unsatisfiable one, else 200; the caller then
    /// streams the range a [`Ranged::Body`] names.
    pub fn respond(&self, req: &Request) -> Ranged {
        self.answer(req, false)
    }

    /// As [`Download::respond`], for an object whose first bytes may have
    /// gone since a client began it (a file that retention cut): offsets
    /// then count from a later start, so a `Range` is honoured only with an
    /// `If-Range` naming this very object. Without one the answer is the
    /// whole object, a 200, which `curl -C -` refuses and `wget -c` starts
    /// over, instead of a 206 that splices two different starts.
    pub fn respond_moved(&self, req: &Request) -> Ranged {
        self.answer(req, true)
    }

    fn answer(&self, req: &Request, moved: bool) -> Ranged {
        let size = self.size;
        // A client holding this very object (by its strong ETag) needs nothing.
        if req.none_match(&[self.etag]) {
            return Ranged::Done(
                Response::new(StatusCode::NOT_MODIFIED)
                    .header(header::ETAG, self.etag)
                    .header(header::CACHE_CONTROL, "no-cache"),
            );
        }
        let pinned = !moved || req.header(header::IF_RANGE).is_some();
        let range = match req.header(header::RANGE) {
            Some(r) if pinned && if_range_holds(req, self.etag) => parse_range(r, size),
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
pub fn disposition(name: &str) -> String {
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
    fn the_current_etag_is_a_304_and_any_other_the_object() {
        let d = Download {
            size: 10,
            etag: "\"abc-a\"",
            content_type: "text/plain",
            filename: "f",
        };
        let status = |inm: &str| {
            let req = Request::new(Method::GET, "/f").with_header("if-none-match", inm);
            match d.respond(&req) {
                Ranged::Done(r) => r.status.as_u16(),
                Ranged::Body(r, _, _) => r.status.as_u16(),
            }
        };
        assert_eq!(status("\"abc-a\""), 304);
        assert_eq!(status("\"x\", W/\"abc-a\""), 304);
        assert_eq!(status("*"), 304);
        assert_eq!(status("\"abc-b\""), 200);
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
