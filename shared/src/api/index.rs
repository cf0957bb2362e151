//! The API's front door (`index` component, spin.toml's catch-all `/...`):
//! `GET /` says what this is and where every route family lives; any path
//! outside every family is a 404 problem that points there, instead of the
//! host's bare 404. Both are public and touch no store: they say nothing the
//! README does not.

use super::ui::Asset;
use crate::env::Env;
use crate::routes::index::{FAMILY, Index};
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;
use http::{StatusCode, header};
use serde_json::json;

/// The `index` component.
pub const API: super::Api<Index> = super::Api {
    family: &FAMILY,
    handle,
};

fn handle(route: Index, req: &Request, _env: &Env) -> Result<Response, Problem> {
    Ok(match route {
        Index::Index => index(),
        Index::OpenApi => super::ui::serve(&OPENAPI, req),
    })
}

/// The OpenAPI 3.1 document (`docs/openapi.json`, written from the route
/// tables by `tools/gen`), compiled in as shared's build script gzipped it:
/// 13 KB instead of 259 KB of text in the component (issue 25). It changes
/// only with the code, so it is served like the viewer's files: a strong
/// `ETag` per form, gzip to a client that takes it, inflated for any other.
static OPENAPI: Asset = Asset {
    name: "openapi.json",
    content_type: "application/json",
    hash: include_str!(concat!(env!("OUT_DIR"), "/openapi.json.sha")),
    body: &[],
    gzip: include_bytes!(concat!(env!("OUT_DIR"), "/openapi.json.gz")),
};

/// Every family and its routes, from the route tables.
fn index() -> Response {
    let families: Vec<_> = crate::routes::ALL
        .iter()
        .map(|f| {
            let routes: Vec<String> = f
                .endpoints()
                .iter()
                .map(|e| format!("{} {}", e.verb.as_str(), e.path))
                .collect();
            json!({"family": f.component(), "summary": f.summary(), "routes": routes})
        })
        .collect();
    let body = json!({
        "name": "spin-logs",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "A Logging API (DC/OS Logging API v2 and friends) on Spin",
        "documentation": "README.md, docs/routes.md and docs/auth.md; GET /openapi.json",
        "authentication": "every route but this one needs credentials: Authorization: Bearer <jwt>, \
                           token=<jwt>, ApiKey <key>, Digest, or a ?token= URL token",
        "families": families,
    });
    Response::new(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "public, max-age=300")
        .bytes(body.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn get(path: &str) -> Response {
        API.call(Request::new(Method::GET, path), &Env::memory())
    }

    #[test]
    fn the_index_lists_every_family_and_other_paths_are_problems() {
        let r = get("/");
        assert_eq!(r.status, StatusCode::OK);
        let crate::web::message::Body::Bytes(body) = &r.body else {
            panic!("a body");
        };
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        let families = v["families"].as_array().unwrap();
        assert_eq!(families.len(), crate::routes::ALL.len());
        // Every route of every table, the ones the old hand-written list lost included.
        let all = v.to_string();
        for route in [
            "GET /k8s/v1/tail",
            "GET /ui/...",
            "logCollectionJobs/:job_id/token",
        ] {
            assert!(all.contains(route), "{route}");
        }
        for path in ["/nothing/here", "/system/v1/logs/v2/", "/favicon.ico"] {
            assert_eq!(get(path).status, StatusCode::NOT_FOUND, "{path}");
        }
    }
}
