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

/// The `index` component.
pub const API: super::Api<Index> = super::Api {
    family: &FAMILY,
    handle,
};

fn handle(route: Index, req: &Request, _env: &Env) -> Result<Response, Problem> {
    Ok(match route {
        Index::Index => super::ui::serve(&INDEX, req),
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

/// `GET /`: every family and its routes (`docs/index.json`, written from
/// the route tables by `tools/gen`). Its raw bytes are compiled in too, as
/// the clients that read it seldom take gzip.
static INDEX: Asset = Asset {
    name: "index.json",
    content_type: "application/json",
    hash: include_str!(concat!(env!("OUT_DIR"), "/index.json.sha")),
    body: include_bytes!("../../../docs/index.json"),
    gzip: include_bytes!(concat!(env!("OUT_DIR"), "/index.json.gz")),
};

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Method, StatusCode};

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
        // Compiled in, so it has a tag, and a client holding it gets a 304.
        let held = Request::new(Method::GET, "/")
            .with_header("if-none-match", r.headers["etag"].to_str().unwrap());
        let again = API.call(held, &Env::memory());
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        for path in ["/nothing/here", "/system/v1/logs/v2/", "/favicon.ico"] {
            assert_eq!(get(path).status, StatusCode::NOT_FOUND, "{path}");
        }
    }
}
