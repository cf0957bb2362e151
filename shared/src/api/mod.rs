//! One handler per route family: it matches the family's typed route (parsed
//! once, by the glue, from the family's table in `crate::routes`, before the
//! gate), calls the layers below, and renders the answer. Nothing shared
//! lives here: what two families both need belongs to a layer below. Methods
//! are the table's business: a handler gets only the method its row names
//! (HEAD as GET).
//!
//! | module | family | also |
//! |---|---|---|
//! | [`ingest`] | `routes::ingest` | |
//! | [`discovery`] | `routes::discovery` | |
//! | [`dump`] | `routes::dump` | |
//! | [`browse`] | `routes::browse` | |
//! | [`archive`] | `routes::archive` | log collection [`jobs`] |
//! | [`tail`] | `routes::tail` | Scalingo's [`scalingo`] and dotnet-monitor's [`dotnet`] streams |
//! | [`token`] | `routes::token` | |
//! | [`retention`] | `routes::retention` | |
//! | [`query`] | `routes::query` | |
//! | [`clusters`] | `routes::clusters` | |
//! | [`collect`] | `routes::collect` | |
//! | [`ui`] | `routes::ui` | |
//! | [`index`] | `routes::index` | |

pub mod archive;
pub mod browse;
pub mod clusters;
pub mod collect;
pub mod discovery;
pub mod dotnet;
pub mod dump;
pub mod index;
pub mod ingest;
pub mod jobs;
pub mod query;
pub mod retention;
pub mod scalingo;
#[cfg(feature = "schema")]
pub mod schemas;
pub mod tail;
pub mod token;
pub mod ui;

use crate::env::Env;
use crate::routes::{Family, Lookup};
use crate::web::message::{Body, Request, Response, respond};
use crate::web::problem::Problem;

/// A route family's handler: the table its routes come from, and the answer
/// to a request on one of them.
pub struct Api<R: 'static> {
    /// The routes it answers, with their rules and rate classes.
    pub family: &'static Family<R>,
    /// The answer to one parsed route; a `Problem` is rendered as the error response.
    pub handle: fn(R, &Request, &Env) -> Result<Response, Problem>,
}

impl<R> Api<R> {
    /// Answers `req` on `route`. HEAD is answered wherever GET is, by the
    /// same code: the GET answer's status and headers, no body (a body in
    /// memory still gives its `Content-Length`). A handler that answers HEAD
    /// itself (downloads, archives, jobs) gives the same headers either way.
    pub fn answer(&self, route: R, req: &Request, env: &Env) -> Result<Response, Problem> {
        refuse_websocket(req)?;
        if req.method != http::Method::HEAD {
            return (self.handle)(route, req, env);
        }
        let mut get = req.clone();
        get.method = http::Method::GET;
        let mut response = (self.handle)(route, &get, env)?;
        if let Body::Bytes(bytes) = &response.body {
            let len = bytes.len().to_string();
            response = response.header(http::header::CONTENT_LENGTH, &len);
        }
        response.body = Body::Empty;
        Ok(response)
    }

    /// Finds `req`'s route in the family and answers it, without the gate:
    /// what native tests and the fuzz targets call.
    pub fn call(&self, req: Request, env: &Env) -> Response {
        respond(match self.family.find(&req.method, &req.path) {
            Lookup::Found(found) => self.answer(found.route, &req, env),
            Lookup::Refused(problem, _) => Err(problem),
            Lookup::Unrouted => Err(crate::routes::unrouted(&req.path)),
        })
    }
}

/// A WebSocket handshake, on any route, is a 400 that points to SSE: Spin's
/// HTTP trigger cannot hold an upgraded connection. A handshake is known by
/// its `Sec-WebSocket-Key` (RFC 6455 requires it, and unlike `Upgrade`,
/// which is hop-by-hop and which hosts drop, it reaches the component); a
/// request without one is not a handshake and is answered as what it is.
fn refuse_websocket(req: &Request) -> Result<(), Problem> {
    let upgrade = req.header(http::header::UPGRADE).unwrap_or_default();
    if upgrade.eq_ignore_ascii_case("websocket")
        || req.headers.contains_key(http::header::SEC_WEBSOCKET_KEY)
    {
        if req.path.starts_with("/loki/") {
            // Grafana's Live tail: what Grafana shows is the `message`.
            return Err(query::loki_websocket_refused());
        }
        return Err(Problem::new(
            http::StatusCode::BAD_REQUEST,
            "WebSocket Not Supported",
            "this host cannot hold WebSocket connections; read the same logs as \
             Server-Sent Events: the follow route (or stream=true on /apps/{app}/logs) \
             with Accept: text/event-stream",
        ));
    }
    Ok(())
}
