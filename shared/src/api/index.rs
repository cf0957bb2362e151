//! The API's front door (`index` component, spin.toml's catch-all `/...`):
//! `GET /` says what this is and where every route family lives; any path
//! outside every family is a 404 problem that points there, instead of the
//! host's bare 404. Both are public and touch no store: they say nothing the
//! README does not.

use crate::env::Env;
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;
use crate::web::route::{self, Route};
use http::{Method, StatusCode, header};
use serde_json::json;

pub fn handle(route: Route, req: &Request, _env: &Env) -> Result<Response, Problem> {
    match route {
        Route::Index if matches!(req.method, Method::GET | Method::HEAD) => Ok(index()),
        Route::OpenApi if matches!(req.method, Method::GET | Method::HEAD) => Ok(openapi()),
        Route::Index | Route::OpenApi => Err(Problem::method_not_allowed("GET, HEAD")),
        Route::Unrouted => Err(Problem::not_found(format!(
            "no route at {}; GET / lists the API's routes",
            route::header_safe(&req.path)
        ))),
        other => Err(super::elsewhere(&other)),
    }
}

/// The OpenAPI 3.1 document (`docs/openapi.json`, written by
/// `docs/openapi.py`), compiled in: it changes only with the code.
const OPENAPI: &str = include_str!("../../../docs/openapi.json");

fn openapi() -> Response {
    let etag = format!(
        "\"{}\"",
        &crate::util::ids::digest(OPENAPI.as_bytes())[..16]
    );
    Response::new(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::ETAG, &etag)
        .bytes(OPENAPI.as_bytes().to_vec())
}

fn index() -> Response {
    let run = format!(
        "{}/{{agent_id}}/logs/v2/task/frameworks/{{framework_id}}/executors/{{executor_id}}/runs/{{container_id}}",
        route::AGENT
    );
    let families = json!([
        {"family": "ingest", "routes": [
            format!("PUT|GET {}/tasks/{{task_id}}", route::INGEST),
            format!("POST {}/tasks/{{task_id}}/files/{{file}}", route::INGEST),
            format!("POST {}/component", route::INGEST),
            format!("POST {}/push", route::LOKI)]},
        {"family": "discovery", "routes": [
            format!("GET {}/{{task}}[/file/{{file}}][/browse|/download|/archive]", route::DISCOVERY)]},
        {"family": "read", "routes": [
            format!("GET {}[/{{unit}}]", route::COMPONENT),
            format!("GET {run}[/tasks/{{task_id}}]/{{file}}")]},
        {"family": "browse", "routes": [format!("GET {run}[/tasks/{{task_id}}]/files/browse")]},
        {"family": "archive", "routes": [
            format!("GET {run}[/tasks/{{task_id}}]/{{file}}/download"),
            format!("GET {run}[/tasks/{{task_id}}]/files/archive"),
            format!("GET|POST {}/{{group_id}}/logCollectionJobs[/{{job_id}}[/download|/retry]]", route::JOBS)]},
        {"family": "tail", "routes": [
            format!("GET {}/<read route>", route::FOLLOW),
            format!("GET {}/{{app}}/logs", route::APPS),
            format!("GET {}", route::CAPTURE)]},
        {"family": "token", "routes": [
            format!("POST {}", route::TOKENS),
            format!("GET {}/{{app}}/logs", route::SCALINGO_API)]},
        {"family": "retention", "routes": [
            format!("GET|POST|PUT|DELETE {}/archive/policies", route::K8S),
            format!("POST {}/archive/start", route::K8S),
            format!("GET {}/archive/jobs", route::K8S),
            format!("GET {}/s3/metadata|content|stats", route::K8S),
            format!("GET {}/storage/info", route::K8S)]},
        {"family": "query", "routes": [
            format!("GET {}/", route::K8S),
            format!("POST {}/search[/logql]", route::K8S),
            format!("GET {}/namespaces|pods|containers", route::K8S),
            format!("GET {}/query_range|query|labels|label/{{name}}/values|series", route::LOKI)]},
    ]);
    let body = json!({
        "name": "spin-logs",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "A Logging API (DC/OS Logging API v2 and friends) on Spin",
        "documentation": "README.md, \"Routes\" and \"Authentication and permissions\"; GET /openapi.json",
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

    fn get(path: &str) -> Response {
        crate::api::call(handle, Request::new(Method::GET, path), &Env::memory())
    }

    #[test]
    fn the_index_lists_every_family_and_other_paths_are_problems() {
        let r = get("/");
        assert_eq!(r.status, StatusCode::OK);
        let crate::web::message::Body::Bytes(body) = &r.body else {
            panic!("a body");
        };
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["families"].as_array().unwrap().len(), 9);
        for path in ["/nothing/here", "/system/v1/logs/v2/", "/favicon.ico"] {
            assert_eq!(get(path).status, StatusCode::NOT_FOUND, "{path}");
        }
    }
}
