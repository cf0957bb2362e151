//! One module per route family, each a [`Handler`]: it matches the request's
//! [`Route`] (parsed once, by the glue, before the gate), calls the layers
//! below, and renders the answer. Nothing shared lives here: what two
//! families both need belongs to a layer below.
//!
//! | module | component | routes |
//! |---|---|---|
//! | [`ingest`] | `ingest` | task metadata, file appends, journal appends, Loki push |
//! | [`discovery`] | `discovery` | `/system/v1/logs/v2/task/{task}/...`: 303 to the agent route |
//! | [`dump`] | `dump` | component logs and sandbox files |
//! | [`browse`] | `browse` | `.../files/browse` |
//! | [`archive`] | `archive` | file downloads, sandbox `.tar.gz`, log collection [`jobs`] |
//! | [`tail`] | `tail` | follows; Scalingo's [`scalingo`] and dotnet-monitor's [`dotnet`] streams |
//! | [`query`] | `query` | Kubernetes search and listings, Loki's read API |
//! | [`token`] | `token` | URL tokens |
//! | [`index`] | `index` | `/`, and every path outside the families (404) |

pub mod archive;
pub mod browse;
pub mod discovery;
pub mod dotnet;
pub mod dump;
pub mod index;
pub mod ingest;
pub mod jobs;
pub mod query;
pub mod retention;
pub mod scalingo;
pub mod tail;
pub mod token;
pub mod ui;

use crate::env::Env;
use crate::web::message::{Body, Request, Response, respond};
use crate::web::problem::Problem;
use crate::web::route::Route;

/// What every family exports: the answer to a request whose route it serves.
pub type Handler = fn(Route, &Request, &Env) -> Result<Response, Problem>;

/// Answers `req` on `route` with `handler`. HEAD is answered wherever GET
/// is, by the same code: the GET answer's status and headers, no body (a
/// body in memory still gives its `Content-Length`). A handler that answers
/// HEAD itself (downloads, archives, jobs) gives the same headers either way.
pub fn answer(
    handler: Handler,
    route: Route,
    req: &Request,
    env: &Env,
) -> Result<Response, Problem> {
    refuse_websocket(req)?;
    if req.method != http::Method::HEAD {
        return handler(route, req, env);
    }
    let mut get = req.clone();
    get.method = http::Method::GET;
    let mut response = handler(route, &get, env)?;
    if let Body::Bytes(bytes) = &response.body {
        let len = bytes.len().to_string();
        response = response.header(http::header::CONTENT_LENGTH, &len);
    }
    response.body = Body::Empty;
    Ok(response)
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

/// Parses `req`'s route and answers it with `handler`, without the gate:
/// what native tests and the fuzz targets call.
pub fn call(handler: Handler, req: Request, env: &Env) -> Response {
    respond(Route::parse(&req.path).and_then(|route| answer(handler, route, &req, env)))
}

/// The answer to a route spin.toml sends to another component: only a
/// misrouted deployment gets here.
pub fn elsewhere(route: &Route) -> Problem {
    Problem::not_found(format!(
        "this component does not serve that route; the {} component does",
        route.component()
    ))
}
