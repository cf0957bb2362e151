//! HTTP routing and the `spin-*` request headers, as Spin's HTTP trigger does
//! them (`crates/routes/src/lib.rs` and `crates/trigger-http/src/headers.rs`
//! in spinframework/spin).
//!
//! Spin delegates matching to the `routefinder` crate (0.5.x); so does this
//! module, so precedence is identical by construction: routes are ordered by
//! comparing segment by segment, `exact > :param > wildcard`, the first
//! differing segment deciding, then fewer dots, then more segments; the first
//! route in that order that matches the path wins. `/foo/...` becomes
//! routefinder's `/foo/*`, which also matches `/foo` itself. Paths are
//! matched as received (no percent-decoding), the query is ignored.

use anyhow::{Result, anyhow};
use std::net::SocketAddr;

use crate::manifest::HttpRoute;

/// Router for the HTTP trigger, built from `[[trigger.http]]`.
pub struct Router {
    rf: routefinder::Router<Handler>,
}

#[derive(Debug, Clone)]
struct Handler {
    component: String,
    /// The route as written in the manifest.
    raw_route: String,
    /// The route with the (always `/`) base applied and one trailing `/` removed.
    based_route: String,
}

/// A successful match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub component: String,
    pub raw_route: String,
    pub based_route: String,
    /// `:name` captures, in route order.
    pub params: Vec<(String, String)>,
    /// The part matched by a trailing `/...` (`spin-path-info`).
    pub path_info: String,
}

impl Router {
    /// Builds the router. As in Spin, when two triggers have the same route
    /// the later one wins.
    pub fn build(routes: &[HttpRoute]) -> Result<Router> {
        let mut deduped: Vec<&HttpRoute> = Vec::new();
        for r in routes {
            match deduped.iter_mut().find(|d| d.route == r.route) {
                Some(slot) => *slot = r,
                None => deduped.push(r),
            }
        }
        let mut rf = routefinder::Router::new();
        for r in deduped {
            let based_route = sanitize(&r.route);
            let spec = match based_route.strip_suffix("/...") {
                Some(prefix) => format!("{prefix}/*"),
                None => based_route.clone(),
            };
            let handler = Handler {
                component: r.component.clone(),
                raw_route: r.route.clone(),
                based_route,
            };
            rf.add(spec.as_str(), handler)
                .map_err(|e| anyhow!("route {:?} of component {:?}: {e}", r.route, r.component))?;
        }
        Ok(Router { rf })
    }

    /// The best match for `path` (the URI path, without query), if any.
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let m = self.rf.best_match(path)?;
        let handler = m.handler();
        let captures = m.captures();
        let params = captures
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        // Spin keeps trailing slashes in the path info, routefinder does not.
        let path_info = match captures.wildcard() {
            None => String::new(),
            Some(s) => match (s.is_empty(), path.ends_with('/')) {
                (true, false) => String::new(),
                (true, true) => "/".to_owned(),
                (false, false) => format!("/{s}"),
                (false, true) => format!("/{s}/"),
            },
        };
        Some(RouteMatch {
            component: handler.component.clone(),
            raw_route: handler.raw_route.clone(),
            based_route: handler.based_route.clone(),
            params,
            path_info,
        })
    }
}

/// Spin's `sanitize_with_base("/", route)`: absolutize, drop one trailing `/`.
fn sanitize(route: &str) -> String {
    let absolute = if route.starts_with('/') {
        route.to_owned()
    } else {
        format!("/{route}")
    };
    match absolute.strip_suffix('/') {
        Some(s) => s.to_owned(),
        None => absolute,
    }
}

/// The headers Spin adds to a request routed to a `wasi:http` component
/// (`compute_default_headers`), lowercased with `_` turned into `-`:
/// `spin-path-info`, `spin-full-url`, `spin-matched-route`, `spin-base-path`,
/// `spin-raw-component-route`, `spin-component-route`, `spin-client-addr` and
/// `spin-path-match-<name>` per `:name` capture (e.g. `:agent_id` ->
/// `spin-path-match-agent-id`).
pub fn spin_headers(
    m: &RouteMatch,
    host: &str,
    path_and_query: &str,
    client_addr: SocketAddr,
) -> Vec<(String, String)> {
    let component_route = m
        .raw_route
        .strip_suffix("/...")
        .unwrap_or(&m.raw_route)
        .to_owned();
    let mut headers = vec![
        ("spin-path-info".to_owned(), m.path_info.clone()),
        (
            "spin-full-url".to_owned(),
            format!("http://{host}{path_and_query}"),
        ),
        ("spin-matched-route".to_owned(), m.based_route.clone()),
        ("spin-base-path".to_owned(), "/".to_owned()),
        ("spin-raw-component-route".to_owned(), m.raw_route.clone()),
        ("spin-component-route".to_owned(), component_route),
        ("spin-client-addr".to_owned(), client_addr.to_string()),
    ];
    for (name, value) in &m.params {
        let key = format!(
            "spin-path-match-{}",
            name.to_ascii_lowercase().replace('_', "-")
        );
        headers.push((key, value.clone()));
    }
    headers
}
