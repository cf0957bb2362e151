//! Errors as values, rendered as RFC 9457 `application/problem+json`.
//!
//! Every failure a client can cause ends here with a status and a sentence that
//! names what was wrong, so no handler needs to panic or invent its own format.

use crate::config::ConfigError;
use crate::store::StoreError;
use crate::store::kv::KvError;
use http::StatusCode;
use serde_json::{Map, Value};

/// A client-visible failure: status, a short title, a detail, optional extra members.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The response status: 4xx for the client's fault, 5xx for the server's.
    pub status: StatusCode,
    /// The status's reason phrase (`Not Found`): the problem's `title` member.
    pub title: &'static str,
    /// One sentence for the client: what was wrong, naming the parameter or
    /// name at fault. Never internals (those go in `internal`).
    pub detail: String,
    /// Extra members (`"parameter": "limit"`, `"candidates": [...]`).
    pub extra: Map<String, Value>,
    /// Response headers the problem needs (`WWW-Authenticate`, `RateLimit-*`).
    pub headers: Vec<(http::HeaderName, String)>,
    /// What went wrong inside, for the operator's log only: logged when the
    /// problem becomes a response, so a caller that recovers logs nothing.
    pub internal: Option<String>,
}

impl Problem {
    /// A problem with `status`, `title` and `detail`, and nothing extra.
    pub fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            title,
            detail: detail.into(),
            extra: Map::new(),
            headers: Vec::new(),
            internal: None,
        }
    }

    /// 400: the request is malformed; `detail` says how.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad Request", detail)
    }

    /// A bad query parameter or field: the body names it so clients can point at it.
    pub fn bad_param(name: &str, detail: impl Into<String>) -> Self {
        Self::bad_request(detail).with("parameter", name)
    }

    /// 404: what the request names does not exist.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found", detail)
    }

    /// 409: the request contradicts what is stored (a name taken, a job not in
    /// a state that allows it).
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "Conflict", detail)
    }

    /// 405, naming the methods the route takes in `allow` (and the `Allow` header).
    pub fn method_not_allowed(allowed: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed",
            format!("this route answers {allowed}"),
        )
        .with("allow", allowed)
    }

    /// 413: the body is over `limit` bytes (in the `limit` member).
    pub fn too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Payload Too Large",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
        .with("limit", limit)
    }

    /// 415: the body's `Content-Type` is not one the route takes.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            detail,
        )
    }

    /// 501: `what` is not implemented (yet); the detail says so.
    pub fn not_implemented(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "Not Implemented",
            format!("{what} is not implemented yet"),
        )
    }

    /// Storage or host failures. The detail is logged when answered, never
    /// shown: it may name internals.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        let mut p = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            "the server failed to complete the request; it has been logged",
        );
        p.internal = Some(detail.to_string());
        p
    }

    /// Temporary overload (e.g. too much write contention): retry later.
    pub fn unavailable(detail: impl Into<String>, retry_after_secs: u32) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
            detail,
        )
        .with("retry_after", retry_after_secs)
    }

    /// The same, with member `key` set to `value` in the JSON body (`allow` and
    /// `retry_after` also become headers).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// Adds a response header (appended, so a name may repeat).
    pub fn with_header(mut self, name: http::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The `application/problem+json` body.
    pub fn to_json(&self) -> Vec<u8> {
        let mut body = Map::new();
        body.insert("type".into(), "about:blank".into());
        body.insert("title".into(), self.title.into());
        body.insert("status".into(), self.status.as_u16().into());
        body.insert("detail".into(), self.detail.clone().into());
        for (k, v) in &self.extra {
            body.insert(k.clone(), v.clone());
        }
        serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.title,
            self.detail
        )
    }
}

impl std::error::Error for Problem {}

/// Storage failures are the server's, except contention, which a retry cures.
impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Contended => {
                Problem::unavailable("too many concurrent writers to the same record; retry", 1)
            }
            StoreError::Kv(e) => e.into(),
            other => Problem::internal(other),
        }
    }
}

/// Seconds a client is asked to wait when storage fails: long enough for a
/// failover to finish or a blip to pass, short enough not to lose a shipper's
/// buffer.
pub const STORAGE_RETRY_AFTER_S: u32 = 2;

/// A storage backend that failed (the key-value store, S3) is a 503 with
/// `Retry-After`: the request did nothing it cannot do again, and every write
/// path commits all or nothing, so a retry is safe. A deployment error (a
/// store or host the component is not given) is a 500: no retry cures it.
/// What failed is logged.
impl From<KvError> for Problem {
    fn from(e: KvError) -> Self {
        if e.1 == crate::store::error::Cause::Misconfigured {
            return Problem::internal(e);
        }
        let mut p = Problem::unavailable(
            "storage is unavailable right now; nothing was changed: retry after Retry-After seconds",
            STORAGE_RETRY_AFTER_S,
        );
        p.internal = Some(format!("storage: {e}"));
        p
    }
}

impl From<ConfigError> for Problem {
    fn from(e: ConfigError) -> Self {
        Problem::internal(e)
    }
}

impl From<getrandom::Error> for Problem {
    fn from(e: getrandom::Error) -> Self {
        Problem::internal(format!("getrandom: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contention_is_retryable_and_failures_are_internal() {
        let busy = Problem::from(StoreError::Contended);
        assert_eq!(busy.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.extra["retry_after"], 1);
        let broken = Problem::from(StoreError::internal("page 3 missing"));
        assert_eq!(broken.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!broken.detail.contains("page 3"), "internals are not shown");
        assert_eq!(broken.internal.as_deref(), Some("storage: page 3 missing"));
    }

    #[test]
    fn renders_members_and_extras() {
        let p = Problem::bad_param("limit", "limit must be an integer");
        let v: Value = serde_json::from_slice(&p.to_json()).unwrap();
        assert_eq!(v["status"], 400);
        assert_eq!(v["parameter"], "limit");
        assert_eq!(v["detail"], "limit must be an integer");
    }
}
