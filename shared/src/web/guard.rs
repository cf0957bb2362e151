//! Size and encoding bounds every request passes before any handler sees it.
//!
//! Hosts bound requests too, but loosely and differently: Spin's HTTP server
//! (hyper) accepts a request head of up to ~400 KiB (`--http1-max-buf-size`)
//! with up to 100 headers and a URI of up to 64 KiB, answering 431 or 414 with
//! an empty body beyond that. A component may run behind other hosts, so the
//! API states its own, tighter bounds and answers them as problems:
//!
//! - a path and query longer than `max_uri_bytes` is a 414;
//! - request headers larger than `max_header_bytes` in total are a 431
//!   (neither limit goes under a floor, 1 KiB and 4 KiB, so the many
//!   requests within both pass without reading either);
//! - a query string that percent-decodes to invalid UTF-8 is a 400;
//! - a header the API interprets (`Accept`, `Last-Event-ID`, ...) that is not
//!   visible ASCII is a 400, rather than being silently taken as absent.
//!
//! Spin appends its own `spin-*` headers (the full URL, the path info, the
//! matched route, ...) to what the client sent, so they carry the URI about
//! twice. They are counted apart, against `max_header_bytes` plus twice
//! `max_uri_bytes` and a little for route names and addresses: a long but
//! allowed URI never becomes a 431, and a client cannot hide large headers
//! under `spin-` names either.

use super::message::Request;
use super::problem::Problem;
use crate::config::{Config, MIN_HEADER_BYTES, MIN_URI_BYTES};
use http::StatusCode;

/// Headers whose values the API reads as text (they must be visible ASCII),
/// and how problems name them.
const ASCII_HEADERS: [(&str, &str); 7] = [
    ("accept", "Accept"),
    ("content-type", "Content-Type"),
    ("content-encoding", "Content-Encoding"),
    ("last-event-id", "Last-Event-ID"),
    ("idempotency-key", "Idempotency-Key"),
    ("range", "Range"),
    ("if-range", "If-Range"),
];

/// What Spin's own headers may add beyond the URI twice: route patterns,
/// the base path and the client address.
const SPIN_HEADER_SLACK: u64 = 4096;

/// Checks `req` against the bounds in the module docs.
pub fn check(req: &Request, config: &Config) -> Result<(), Problem> {
    bound(&Size::of(req), config)?;
    for (key, name) in ASCII_HEADERS {
        if req.headers.get_all(key).iter().any(|v| v.to_str().is_err()) {
            return Err(Problem::bad_param(
                name,
                format!("the {name} header must be visible ASCII"),
            ));
        }
    }

    if !req.query.is_utf8() {
        return Err(Problem::bad_param(
            "query",
            "the query string does not decode to UTF-8",
        ));
    }
    Ok(())
}

/// The 414 and 431. Most requests are within the floors no configured
/// limit goes under, so they pass without the two variable reads: on Spin
/// 4.1 those were 78 µs of the host's CPU in a 404 of 363 (`index`, no other
/// host call; a request's first host call hands its thread's work to
/// another).
fn bound(size: &Size, config: &Config) -> Result<(), Problem> {
    if size.over(MIN_URI_BYTES, MIN_HEADER_BYTES).is_none() {
        return Ok(());
    }
    let (max_uri, max_header) = (config.max_uri_bytes()?, config.max_header_bytes()?);
    match size.over(max_uri, max_header) {
        None => Ok(()),
        Some(Over::Uri) => Err(Problem::new(
            StatusCode::URI_TOO_LONG,
            "URI Too Long",
            format!(
                "the path and query are {} bytes, more than the limit of {max_uri} bytes",
                size.uri
            ),
        )
        .with("limit", max_uri)),
        Some(Over::Headers) => Err(Problem::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request Header Fields Too Large",
            format!("the request headers are larger than the limit of {max_header} bytes"),
        )
        .with("limit", max_header)),
    }
}

/// A request's sizes, as the bounds count them.
struct Size {
    /// The path and query (with its `?`).
    uri: u64,
    /// The client's headers, `name: value\r\n` each.
    client: u64,
    /// Spin's `spin-*` headers, the same way.
    host: u64,
}

/// Which bound a request is over.
enum Over {
    Uri,
    Headers,
}

impl Size {
    fn of(req: &Request) -> Size {
        let raw_query = req.query.raw();
        let uri = req.path.len() as u64
            + if raw_query.is_empty() {
                0
            } else {
                1 + raw_query.len() as u64
            };
        let (mut client, mut host) = (0u64, 0u64);
        for (name, value) in &req.headers {
            let bytes = (name.as_str().len() + value.len() + 4) as u64;
            if name.as_str().starts_with("spin-") {
                host += bytes;
            } else {
                client += bytes;
            }
        }
        Size { uri, client, host }
    }

    /// The bound these sizes are over, if any, under these limits.
    fn over(&self, max_uri: u64, max_header: u64) -> Option<Over> {
        let host_limit = max_header
            .saturating_add(max_uri.saturating_mul(2))
            .saturating_add(SPIN_HEADER_SLACK);
        if self.uri > max_uri {
            Some(Over::Uri)
        } else if self.client > max_header || self.host > host_limit {
            Some(Over::Headers)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue, Method};

    fn config() -> Config {
        Config::with(&[("max_header_bytes", "5000"), ("max_uri_bytes", "2000")])
    }

    fn status(req: &Request) -> Option<u16> {
        check(req, &config()).err().map(|p| p.status.as_u16())
    }

    #[test]
    fn bounds_the_uri() {
        let ok = format!("/{}", "a".repeat(1999));
        assert_eq!(status(&Request::new(Method::GET, &ok)), None);
        let long = format!("/{}", "a".repeat(2000));
        assert_eq!(status(&Request::new(Method::GET, &long)), Some(414));
        let query = format!("/a?{}", "q".repeat(1998));
        assert_eq!(status(&Request::new(Method::GET, &query)), Some(414));
    }

    #[test]
    fn bounds_client_headers_and_spin_headers_apart() {
        let req = Request::new(Method::GET, "/").with_header("x-a", &"v".repeat(4993));
        assert_eq!(status(&req), None, "3 + 4993 + 4 = 5000 bytes");
        let req = Request::new(Method::GET, "/").with_header("x-a", &"v".repeat(4994));
        assert_eq!(status(&req), Some(431));
        // Spin's headers carry the URI twice: allowed up to 5000 + 2 * 2000 + 4096.
        let mut req = Request::new(Method::GET, "/");
        for (i, n) in [12000usize, 1000].iter().enumerate() {
            req.headers.append(
                HeaderName::from_bytes(format!("spin-h{i}").as_bytes()).unwrap(),
                HeaderValue::from_str(&"u".repeat(*n)).unwrap(),
            );
        }
        assert_eq!(status(&req), None);
        req.headers.append(
            HeaderName::from_static("spin-smuggled"),
            HeaderValue::from_str(&"u".repeat(100)).unwrap(),
        );
        assert_eq!(status(&req), Some(431));
    }

    /// A limit under its floor is taken as the floor, and a request within
    /// both floors is let through without reading either variable.
    #[test]
    fn floors_and_no_reads_below_them() {
        let low = Config::with(&[("max_header_bytes", "100"), ("max_uri_bytes", "50")]);
        let at = format!("/{}", "a".repeat(1023));
        assert!(check(&Request::new(Method::GET, &at), &low).is_ok());
        let over = format!("/{}", "a".repeat(1024));
        let p = check(&Request::new(Method::GET, &over), &low).unwrap_err();
        assert_eq!((p.status.as_u16(), &p.extra["limit"]), (414, &1024.into()));

        let names = std::rc::Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
        let seen = names.clone();
        let counted = Config::from_lookup(move |name| {
            seen.borrow_mut().push(name.to_owned());
            None
        });
        assert!(check(&Request::new(Method::GET, "/a?b=c"), &counted).is_ok());
        assert!(names.borrow().is_empty(), "{:?}", names.borrow());
        assert!(check(&Request::new(Method::GET, &over), &counted).is_ok());
        assert_eq!(*names.borrow(), ["max_uri_bytes", "max_header_bytes"]);
    }

    #[test]
    fn rejects_undecodable_queries_and_non_ascii_headers() {
        assert_eq!(
            status(&Request::new(Method::GET, "/?cursor=%ff")),
            Some(400)
        );
        assert_eq!(status(&Request::new(Method::GET, "/?q=%C3%A9")), None);
        let mut req = Request::new(Method::GET, "/");
        req.headers.insert(
            HeaderName::from_static("last-event-id"),
            HeaderValue::from_bytes(b"12\xff").unwrap(),
        );
        let p = check(&req, &config()).unwrap_err();
        assert_eq!(p.extra["parameter"], "Last-Event-ID");
        // Headers the API does not read may carry any bytes the host lets through.
        let mut req = Request::new(Method::GET, "/");
        req.headers.insert(
            HeaderName::from_static("x-note"),
            HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        );
        assert_eq!(status(&req), None);
    }
}
