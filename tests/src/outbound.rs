//! Outbound HTTP as Spin grants it: a component may reach only the hosts in
//! its `allowed_outbound_hosts`, templates resolved from the app's variables.
//!
//! Follows Spin's `outbound-networking-config` (`allowed_hosts.rs`) for what
//! the app uses: `scheme://host[:port]` with `*` for any host or port and the
//! scheme's well-known port when none is given; an entry whose template
//! resolves to an empty string (or a bare `http://`) is skipped, so an unset
//! variable grants nothing; a malformed entry stops the app at startup. A
//! refused request fails with `HttpRequestDenied`, as in Spin. Allowed
//! requests go out over plain HTTP/1.1 (the test host has no TLS: its servers
//! are on loopback), with the guest's connect and first-byte timeouts, as
//! wasmtime-wasi-http's default sender (Spin's) applies them.

use anyhow::{Context, Result, bail};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use wasmtime_wasi_http::{Error, WasiBody, WasiHttpHooks};

/// One `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// `None` for `*://`.
    scheme: Option<String>,
    /// `None` for `*`.
    host: Option<String>,
    /// `None` for `:*`.
    port: Option<u16>,
}

impl AllowedHost {
    /// Parses a resolved entry; `Ok(None)` for one Spin skips.
    pub fn parse(entry: &str) -> Result<Option<AllowedHost>> {
        let entry = entry.trim();
        if entry.is_empty() || entry == "http://" || entry == "https://" {
            return Ok(None);
        }
        let (scheme, rest) = entry
            .split_once("://")
            .with_context(|| format!("{entry:?} does not contain a scheme"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            bail!("{entry:?} has a path but is not allowed to");
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => (h, Some(p)),
            _ => (rest, None),
        };
        let port = match port {
            Some("*") => None,
            Some(p) => Some(
                p.parse()
                    .with_context(|| format!("port {p:?} is not a number"))?,
            ),
            None => Some(
                well_known_port(scheme)
                    .with_context(|| format!("no port given and {scheme:?} has no default"))?,
            ),
        };
        if host.is_empty() {
            bail!("{entry:?} has no host");
        }
        Ok(Some(AllowedHost {
            scheme: (scheme != "*").then(|| scheme.to_owned()),
            host: (host != "*").then(|| host.to_ascii_lowercase()),
            port,
        }))
    }

    fn allows(&self, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("https");
        let Some(host) = uri.host() else {
            return false;
        };
        let Some(port) = uri.port_u16().or_else(|| well_known_port(scheme)) else {
            return false;
        };
        self.scheme.as_deref().is_none_or(|s| s == scheme)
            && self
                .host
                .as_deref()
                .is_none_or(|h| h.eq_ignore_ascii_case(host))
            && self.port.is_none_or(|p| p == port)
    }
}

fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "redis" => Some(6379),
        _ => None,
    }
}

/// A component's grants, resolved at startup.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Vec<AllowedHost>);

impl AllowedHosts {
    pub fn parse(resolved: &[String]) -> Result<AllowedHosts> {
        let mut hosts = Vec::new();
        for entry in resolved {
            if let Some(h) = AllowedHost::parse(entry)
                .with_context(|| format!("allowed_outbound_hosts entry {entry:?}"))?
            {
                hosts.push(h);
            }
        }
        Ok(AllowedHosts(hosts))
    }

    pub fn allows(&self, uri: &http::Uri) -> bool {
        self.0.iter().any(|h| h.allows(uri))
    }
}

/// The instance's `wasi:http/outgoing-handler`.
pub struct Outbound(pub std::sync::Arc<AllowedHosts>);

type BoxedResult = Box<dyn Future<Output = Result<(), Error>> + Send>;

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: BoxedResult,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, BoxedResult), Error>> + Send>
    {
        let allowed = self.0.allows(request.uri());
        Box::new(async move {
            if !allowed {
                return Err(Error::HttpRequestDenied);
            }
            send(request, options.unwrap_or_default()).await
        })
    }
}

/// `f`, or `error` once `limit` (if any) has passed.
async fn within<T>(
    limit: Option<std::time::Duration>,
    error: Error,
    f: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, f).await.map_err(|_| error)?,
        None => f.await,
    }
}

async fn send(
    mut request: http::Request<WasiBody>,
    options: wasmtime_wasi_http::RequestOptions,
) -> Result<(http::Response<WasiBody>, BoxedResult), Error> {
    let uri = request.uri().clone();
    if uri.scheme_str() == Some("https") {
        return Err(Error::TlsProtocolError);
    }
    let host = uri.host().ok_or(Error::HttpRequestUriInvalid)?;
    let port = uri.port_u16().unwrap_or(80);
    let connect = async {
        tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|_| Error::ConnectionRefused)
    };
    let stream = within(options.connect_timeout, Error::ConnectionTimeout, connect).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(Error::Hyper)?;
    // The request line carries the path only; the authority goes in Host.
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .ok_or(Error::HttpRequestUriInvalid)?;
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;
    if !request.headers().contains_key(http::header::HOST) {
        let value =
            http::HeaderValue::from_str(&authority).map_err(|_| Error::HttpRequestUriInvalid)?;
        request.headers_mut().insert(http::header::HOST, value);
    }
    // The connection runs on its own task: it must move the request body
    // while `send_request` waits for the response head.
    let connection = tokio::spawn(connection);
    let response = within(
        options.first_byte_timeout,
        Error::ConnectionReadTimeout,
        async { sender.send_request(request).await.map_err(Error::Hyper) },
    )
    .await?;
    let io: BoxedResult = Box::new(async move {
        match connection.await {
            Ok(result) => result.map_err(Error::Hyper),
            Err(_) => Err(Error::ConnectionTerminated),
        }
    });
    Ok((response.map(|b| b.map_err(Error::Hyper).boxed_unsync()), io))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str], uri: &str) -> bool {
        let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        AllowedHosts::parse(&entries)
            .unwrap()
            .allows(&uri.parse().unwrap())
    }

    #[test]
    fn grants_follow_spin() {
        assert!(allowed(
            &["http://127.0.0.1:9000"],
            "http://127.0.0.1:9000/b/k?x=1"
        ));
        assert!(!allowed(
            &["http://127.0.0.1:9000"],
            "http://127.0.0.1:9001/b/k"
        ));
        assert!(!allowed(
            &["http://127.0.0.1:9000"],
            "https://127.0.0.1:9000/b/k"
        ));
        assert!(allowed(&["http://s3.local"], "http://s3.local/k"));
        assert!(!allowed(&["http://s3.local"], "http://s3.local:8080/k"));
        assert!(allowed(&["*://*:*"], "http://anything:1/k"));
        assert!(allowed(&["http://127.0.0.1:*"], "http://127.0.0.1:5/k"));
        // An unset variable grants nothing, and nothing is granted by default.
        assert!(!allowed(&[""], "http://127.0.0.1:9000/k"));
        assert!(!allowed(&[], "http://127.0.0.1:9000/k"));
    }

    #[test]
    fn malformed_entries_are_startup_errors() {
        for bad in [
            "127.0.0.1:9000",
            "http://h/path",
            "ftp://h",
            "http://h:port",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
    }
}
