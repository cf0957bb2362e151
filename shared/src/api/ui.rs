//! The web viewer's files (`ui` component, `/ui/...`). The files themselves
//! are compiled into the component (its build script hashes and gzips them
//! once, so a request never compresses anything); this module answers for
//! them: the page at `/ui/`, each file with its type, a strong `ETag`
//! (304 on `If-None-Match`), the gzip form when the client accepts it, and
//! caching that lets a browser keep a file for a year when the page asks
//! for it by its hash (`app.js?v=<hash>`) and revalidate otherwise.
//!
//! Public, like `GET /`: the files hold no data. The page signs in by itself
//! against the API's routes, where the auth gate applies.

use crate::env::Env;
use crate::routes::ui::{FAMILY, UI, Ui};
use crate::web::message::{Request, Response};
use crate::web::path::header_safe;
use crate::web::problem::Problem;
use http::{StatusCode, header};

/// One compiled-in file of the viewer.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// The name under `/ui/` (`index.html` is also `/ui/`).
    pub name: &'static str,
    /// The `Content-Type` it is served with.
    pub content_type: &'static str,
    /// The content's hash: the strong `ETag` (quoted) and the `v=` a
    /// hashed URL carries.
    pub hash: &'static str,
    /// The file's bytes as built; empty when only the gzip form is
    /// compiled in (then a client that does not take gzip gets it inflated).
    pub body: &'static [u8],
    /// The same bytes gzipped; empty when gzip would not make them smaller.
    pub gzip: &'static [u8],
}

/// A year: what a hashed URL may be cached for (its bytes never change).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The page runs only its own script and talks only to this origin; URL
/// tokens ride in URLs, so no `Referer` carries them elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The `ui` component, serving `assets` (its build script compiles them in):
/// `handle` is a function of the component's that passes them to [`handle`].
pub const fn api(handle: fn(Ui, &Request, &Env) -> Result<Response, Problem>) -> super::Api<Ui> {
    super::Api {
        family: &FAMILY,
        handle,
    }
}

/// Answers `asset` from `assets`.
pub fn handle(assets: &[Asset], asset: Ui, req: &Request, _env: &Env) -> Result<Response, Problem> {
    let Some(name) = asset else {
        // `/ui` -> `/ui/`, so the page's relative links resolve under it.
        return Ok(Response::new(StatusCode::MOVED_PERMANENTLY)
            .header(header::LOCATION, &format!("{UI}/"))
            .header(header::CACHE_CONTROL, IMMUTABLE));
    };
    let name = if name.is_empty() { "index.html" } else { &name };
    let asset = assets.iter().find(|a| a.name == name).ok_or_else(|| {
        Problem::not_found(format!(
            "the viewer has no file {}; open {UI}/",
            header_safe(name)
        ))
    })?;
    Ok(serve(asset, req))
}

/// Answers `GET` of `asset`: 304 for a tag the client holds, else its
/// bytes, gzipped when the client takes that.
pub(super) fn serve(asset: &Asset, req: &Request) -> Response {
    let gzip = !asset.gzip.is_empty() && accepts_gzip(req.header(header::ACCEPT_ENCODING));
    // Each representation has its own strong tag (RFC 9110 8.8.3); a client
    // holding either form holds these bytes.
    let plain = format!("\"{}\"", asset.hash);
    let gzipped = format!("\"{}-gz\"", asset.hash);
    let etag = if gzip { &gzipped } else { &plain };
    let cache = if req.query.get("v") == Some(asset.hash) {
        IMMUTABLE
    } else {
        "no-cache"
    };
    let held = req.none_match(&[&plain, &gzipped]);
    let status = if held {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    let mut response = Response::new(status)
        .header(header::ETAG, etag)
        .header(header::CACHE_CONTROL, cache)
        .header(header::VARY, "Accept-Encoding")
        .header(header::CONTENT_TYPE, asset.content_type)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer");
    if asset.content_type.starts_with("text/html") {
        response = response
            .header(header::CONTENT_SECURITY_POLICY, CSP)
            .header(header::X_FRAME_OPTIONS, "DENY");
    }
    if held {
        return response;
    }
    if gzip {
        response
            .header(header::CONTENT_ENCODING, "gzip")
            .bytes(asset.gzip.to_vec())
    } else if asset.body.is_empty() && !asset.gzip.is_empty() {
        response.bytes(inflate(asset.gzip))
    } else {
        response.bytes(asset.body.to_vec())
    }
}

/// A compiled-in gzip form's bytes; they were written by a build script,
/// so they inflate (an empty body would show it if they did not).
fn inflate(gzip: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let _ = flate2::read::GzDecoder::new(gzip).read_to_end(&mut bytes);
    bytes
}

/// Whether `Accept-Encoding` takes gzip: listed (or `*`) with a q above 0.
fn accepts_gzip(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    accept.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or("");
        if !(coding.eq_ignore_ascii_case("gzip") || coding == "*") {
            return false;
        }
        parts
            .filter_map(|p| p.strip_prefix("q="))
            .all(|q| q.parse::<f32>().map(|q| q > 0.0).unwrap_or(false))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::message::Body;
    use http::Method;

    const ASSETS: &[Asset] = &[
        Asset {
            name: "index.html",
            content_type: "text/html; charset=utf-8",
            hash: "aaaa",
            body: b"<!doctype html>",
            gzip: b"GZ",
        },
        Asset {
            name: "app.js",
            content_type: "text/javascript; charset=utf-8",
            hash: "bbbb",
            body: b"x()",
            gzip: b"",
        },
    ];

    fn get(path: &str, headers: &[(&'static str, &str)]) -> Response {
        let mut req = Request::new(Method::GET, path);
        for (k, v) in headers {
            req = req.with_header(k, v);
        }
        api(|r, q, e| handle(ASSETS, r, q, e)).call(req, &Env::memory())
    }

    fn body(r: &Response) -> &[u8] {
        match &r.body {
            Body::Bytes(b) => b,
            Body::Empty => &[],
            Body::Stream(_) => panic!("a body in memory"),
        }
    }

    #[test]
    fn the_page_its_files_and_what_is_not_there() {
        let r = get("/ui/", &[]);
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(body(&r), b"<!doctype html>");
        assert_eq!(r.headers["etag"], "\"aaaa\"");
        assert_eq!(r.headers["cache-control"], "no-cache");
        assert!(r.headers.contains_key("content-security-policy"));
        let r = get("/ui", &[]);
        assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY);
        assert_eq!(r.headers["location"], "/ui/");
        let r = get("/ui/app.js?v=bbbb", &[]);
        assert_eq!(r.headers["cache-control"], IMMUTABLE);
        assert_eq!(r.headers["content-type"], "text/javascript; charset=utf-8");
        for path in ["/ui/nope.js", "/ui/../index.html", "/ui/app.js/x"] {
            assert_eq!(get(path, &[]).status, StatusCode::NOT_FOUND, "{path}");
        }
    }

    #[test]
    fn gzip_when_accepted_and_a_304_for_either_form() {
        let r = get("/ui/", &[("accept-encoding", "br, gzip;q=0.8")]);
        assert_eq!(r.headers["content-encoding"], "gzip");
        assert_eq!(r.headers["etag"], "\"aaaa-gz\"");
        assert_eq!(body(&r), b"GZ");
        let r = get("/ui/", &[("accept-encoding", "gzip;q=0")]);
        assert!(!r.headers.contains_key("content-encoding"));
        // A file gzip does not shrink is sent as it is.
        let r = get("/ui/app.js", &[("accept-encoding", "gzip")]);
        assert!(!r.headers.contains_key("content-encoding"));
        for tag in ["\"aaaa\"", "\"aaaa-gz\"", "W/\"aaaa-gz\"", "*"] {
            let r = get("/ui/", &[("if-none-match", tag)]);
            assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{tag}");
            assert!(body(&r).is_empty());
        }
        assert_eq!(
            get("/ui/", &[("if-none-match", "\"other\"")]).status,
            StatusCode::OK
        );
    }

    #[test]
    fn only_reads() {
        let r = api(|r, q, e| handle(ASSETS, r, q, e))
            .call(Request::new(Method::POST, "/ui/"), &Env::memory());
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    }
}
