//! Talking to a cluster's API server: bearer-token GETs over the host's
//! outbound HTTP, and every way one can fail, sorted into what a cluster's
//! status and a job's target report.
//!
//! The transport is the one the S3 backend uses (`store::s3::Transport`),
//! installed by the `clusters` and `collect` components before they serve
//! ([`install`]): `Env` is built by the glue for every family alike, and only
//! these two families reach a cluster, so each component hands it over itself.
//! Native tests install a fake.

use crate::store::s3::{HttpRequest, HttpResponse, Transport};
use crate::web::problem::Problem;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;

thread_local! {
    static OUTBOUND: RefCell<Option<Rc<dyn Transport>>> = const { RefCell::new(None) };
}

/// Makes `transport` the one cluster requests go through.
pub fn install(transport: Rc<dyn Transport>) {
    OUTBOUND.with(|o| *o.borrow_mut() = Some(transport));
}

/// The installed transport: a deployment error (500) if there is none.
pub fn outbound() -> Result<Rc<dyn Transport>, Problem> {
    OUTBOUND.with(|o| o.borrow().clone()).ok_or_else(|| {
        Problem::internal("no outbound HTTP transport is installed in this component")
    })
}

/// A Kubernetes `Status` as the API server gave it (or as we name a failure
/// that never reached it: code 0).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ApiStatus {
    /// The HTTP status, or 0 for a failure before any answer.
    pub code: u16,
    /// A CamelCase word: Kubernetes' (`Forbidden`, `NotFound`) or ours
    /// (`NotAllowed`, `TLSError`, `Unreachable`).
    pub reason: String,
    /// What went wrong, for people.
    pub message: String,
}

/// Why a request to a cluster gave no answer to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The host is not in the component's `allowed_outbound_hosts`.
    NotAllowed(String),
    /// TLS failed: the cluster's CA is not trusted (`[[client_tls]]`).
    Tls(String),
    /// No connection, DNS, a timeout.
    Unreachable(String),
    /// The API server answered with an error `Status`.
    Api(ApiStatus),
}

impl Failure {
    /// What a status record or a target's error shows.
    pub fn status(&self) -> ApiStatus {
        let local = |reason: &str, message: &str| ApiStatus {
            code: 0,
            reason: reason.to_owned(),
            message: message.to_owned(),
        };
        match self {
            Failure::NotAllowed(m) => local("NotAllowed", m),
            Failure::Tls(m) => local("TLSError", m),
            Failure::Unreachable(m) => local("Unreachable", m),
            Failure::Api(s) => s.clone(),
        }
    }

    /// The state a cluster is in when its probe fails this way.
    pub fn state(&self) -> &'static str {
        match self {
            Failure::NotAllowed(_) => "not_allowed",
            Failure::Tls(_) => "tls_error",
            Failure::Unreachable(_) => "unreachable",
            Failure::Api(s) if s.code == 401 || s.code == 403 => "unauthorized",
            Failure::Api(_) => "degraded",
        }
    }

    /// The problem a request that needed the cluster answers with: never a
    /// 500, each names what to do.
    pub fn problem(&self, server: &str) -> Problem {
        let s = self.status();
        let p = match self {
            Failure::NotAllowed(_) => Problem::new(
                StatusCode::CONFLICT,
                "Cluster Host Not Allowed",
                format!(
                    "this deployment does not let spin-logs reach {server}: add its \
                     scheme://host:port to allowed_outbound_hosts (the k8s_allowed_hosts variable; \
                     docs/collect.md)"
                ),
            ),
            Failure::Tls(m) => Problem::new(
                StatusCode::BAD_GATEWAY,
                "Cluster TLS Error",
                format!(
                    "TLS with {server} failed ({m}): trust its CA with a [[client_tls]] section of the runtime config"
                ),
            ),
            Failure::Unreachable(m) => Problem::new(
                StatusCode::BAD_GATEWAY,
                "Cluster Unreachable",
                format!("{server} did not answer: {m}"),
            ),
            Failure::Api(_) => Problem::new(
                StatusCode::BAD_GATEWAY,
                "Cluster Refused",
                format!("{server} answered {} {}: {}", s.code, s.reason, s.message),
            ),
        };
        p.with(
            "cluster_status",
            serde_json::to_value(&s).unwrap_or_default(),
        )
    }
}

/// An API server's address, split as the transport wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `https`, else `http` (for `kubectl proxy`).
    pub https: bool,
    /// `host` or `host:port`, as in the URL.
    pub authority: String,
    /// A path prefix (a proxy's), without a trailing `/`.
    pub base: String,
}

impl Server {
    /// Parses and checks an API server URL: http(s), a host, an optional
    /// port and path prefix, nothing else. With `http::Uri`, which every
    /// component links already: `url::Url` added its IDNA and Unicode
    /// normalization tables, ~190 KB of the `collect` component at
    /// opt-level `s` (`twiggy top` on its core module). A host that is not
    /// ASCII is refused rather than converted to punycode.
    pub fn parse(text: &str) -> Result<Server, String> {
        let text = text.trim();
        let uri: http::Uri = text.parse().map_err(|e| format!("not a URL: {e}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            Some(other) => {
                return Err(format!(
                    "the scheme is {other}, not https (or http for kubectl proxy)"
                ));
            }
            None => return Err("not a URL: it has no scheme".into()),
        };
        let authority = uri.authority().ok_or("the URL has no host")?;
        if authority.as_str().contains('@') {
            return Err("credentials go in token, not in the URL".into());
        }
        if authority.host().is_empty() {
            return Err("the URL has no host".into());
        }
        if uri.query().is_some() || text.contains('#') {
            return Err("the URL has a query or fragment".into());
        }
        let host = authority.host().to_ascii_lowercase();
        let default = if https { 443 } else { 80 };
        let authority = match authority.port_u16().filter(|p| *p != default) {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        Ok(Server {
            https,
            authority,
            base: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    /// The `allowed_outbound_hosts` entry that grants it.
    pub fn outbound_entry(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let port = if self.authority.contains(':') {
            ""
        } else if self.https {
            ":443"
        } else {
            ":80"
        };
        format!("{scheme}://{}{port}", self.authority)
    }
}

/// One cluster to talk to: where, with what token.
pub struct Client {
    /// Where requests go.
    pub server: Server,
    /// The opened bearer token, sent as `Authorization: Bearer`; `None`
    /// sends none.
    pub token: Option<String>,
    transport: Rc<dyn Transport>,
}

impl Client {
    /// A client for `server` that sends through `transport` (usually
    /// [`outbound`]).
    pub fn new(server: Server, token: Option<String>, transport: Rc<dyn Transport>) -> Self {
        Client {
            server,
            token,
            transport,
        }
    }

    /// `GET path_and_query` (under the server's prefix): a 2xx response, or
    /// why not.
    pub fn get(&self, path_and_query: &str, accept: &str) -> Result<HttpResponse, Failure> {
        let mut headers = vec![
            ("accept".to_owned(), accept.to_owned()),
            ("user-agent".to_owned(), "spin-logs-collect".to_owned()),
        ];
        if let Some(t) = &self.token {
            headers.push(("authorization".to_owned(), format!("Bearer {t}")));
        }
        let request = HttpRequest {
            method: http::Method::GET,
            https: self.server.https,
            authority: self.server.authority.clone(),
            path_and_query: format!("{}{path_and_query}", self.server.base),
            headers,
            body: Vec::new(),
        };
        let response = self
            .transport
            .send(&request)
            .map_err(|e| transport_failure(&e.message))?;
        if (200..300).contains(&response.status) {
            return Ok(response);
        }
        Err(Failure::Api(api_status(response.status, &response.body)))
    }

    /// A JSON answer, decoded.
    pub fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path_and_query: &str,
    ) -> Result<T, Failure> {
        let response = self.get(path_and_query, "application/json")?;
        serde_json::from_slice(&response.body).map_err(|e| {
            Failure::Api(ApiStatus {
                code: response.status,
                reason: "BadResponse".into(),
                message: format!("{path_and_query}: not the JSON expected: {e}"),
            })
        })
    }
}

/// Sorts the host's error (`wasi:http` `ErrorCode`, as the glue spells it)
/// into a [`Failure`].
pub fn transport_failure(message: &str) -> Failure {
    let m = message.to_owned();
    if message.contains("HttpRequestDenied") || message.contains("not allowed") {
        Failure::NotAllowed(m)
    } else if message.contains("Tls") || message.contains("TLS") || message.contains("certificate")
    {
        Failure::Tls(m)
    } else {
        Failure::Unreachable(m)
    }
}

/// The `Status` in an error body, or one made of the HTTP status when the
/// body is none (a proxy's page, say).
pub fn api_status(code: u16, body: &[u8]) -> ApiStatus {
    #[derive(Deserialize)]
    struct Status {
        kind: Option<String>,
        #[serde(default)]
        reason: String,
        #[serde(default)]
        message: String,
        code: Option<u16>,
    }
    match serde_json::from_slice::<Status>(body) {
        Ok(s) if s.kind.as_deref() == Some("Status") => ApiStatus {
            code: s.code.unwrap_or(code),
            reason: s.reason,
            message: s.message,
        },
        _ => ApiStatus {
            code,
            reason: StatusCode::from_u16(code)
                .ok()
                .and_then(|c| c.canonical_reason())
                .unwrap_or("Error")
                .replace(' ', ""),
            message: String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_split() {
        let s = Server::parse("https://10.0.0.1:6443/").unwrap();
        assert_eq!(
            (s.https, s.authority.as_str(), s.base.as_str()),
            (true, "10.0.0.1:6443", "")
        );
        assert_eq!(s.outbound_entry(), "https://10.0.0.1:6443");
        // The scheme's own port is left out, and the host lower-cased, as
        // `url::Url` did.
        let d = Server::parse("http://Proxy.Local:80/api/").unwrap();
        assert_eq!(
            (d.authority.as_str(), d.base.as_str()),
            ("proxy.local", "/api")
        );
        let p = Server::parse("https://rancher.example/k8s/clusters/c-1").unwrap();
        assert_eq!(
            (p.base.as_str(), p.outbound_entry().as_str()),
            ("/k8s/clusters/c-1", "https://rancher.example:443")
        );
        for bad in [
            "ftp://x",
            "https://u:p@x",
            "https://x/?a=1",
            "not a url",
            "https://",
            "https://x/#top",
            "//x/y",
        ] {
            assert!(Server::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn failures_are_sorted_by_what_the_host_said() {
        assert_eq!(
            transport_failure("HttpRequestDenied").state(),
            "not_allowed"
        );
        assert_eq!(
            transport_failure("TlsCertificateError").state(),
            "tls_error"
        );
        assert_eq!(
            transport_failure("ConnectionRefused").state(),
            "unreachable"
        );
        let s = api_status(403, br#"{"kind":"Status","status":"Failure","message":"pods is forbidden","reason":"Forbidden","code":403}"#);
        assert_eq!(Failure::Api(s.clone()).state(), "unauthorized");
        assert_eq!(s.message, "pods is forbidden");
        assert_eq!(api_status(502, b"<html>").reason, "BadGateway");
        let p = Failure::NotAllowed("HttpRequestDenied".into()).problem("https://k:6443");
        assert_eq!(p.status, StatusCode::CONFLICT);
        assert!(p.detail.contains("allowed_outbound_hosts"));
    }
}
