//! Kubernetes log retrieval and Loki's read API (`query` component):
//!
//! ```text
//! GET  /k8s/v1/                     logs by filters (cluster, namespace, pod, container, labels,
//!                                   start/end/since, contains, regex, level, limit, direction, cursor)
//! POST /k8s/v1/search               the same as a JSON body, plus case_insensitive, context lines
//! POST /k8s/v1/search/logql         a LogQL query: log lines, or a metric matrix
//! GET  /k8s/v1/namespaces|pods|containers   listings from the index, with counts and times
//! GET  /k8s/v1/tail?query=          a live tail of a LogQL log query (SSE, resumable)
//! GET  /loki/api/v1/query_range|query|labels|label/{name}/values|series   as Loki answers
//! GET  /loki/api/v1/index/stats|index/volume|index/volume_range           from the index
//! GET  /loki/api/v1/detected_labels|detected_fields|detected_field/{name}/values
//! GET  /loki/api/v1/patterns        Drain patterns of a sample of the range's lines
//! GET  /loki/api/v1/drilldown-limits
//! GET  /loki/api/v1/tail            400: WebSocket; follow with SSE instead
//! ```
//! Every search is [`crate::read::search`]: a page says `has_more` and, when
//! true, a `next_cursor` that resumes exactly after its last entry, also when
//! the time budget ended it early. Timestamps go out in nanoseconds, as
//! strings, and as RFC 3339.
//!
//! | module | job |
//! |---|---|
//! | `params` | what every route reads alike: times, limits, directions, the budget, cursors |
//! | `filters` | the filters of `GET /k8s/v1/` and `POST /search`, from a query string or a body |
//! | `k8s` | `GET /k8s/v1/` and `POST /search`: one search, one page |
//! | `page` | a page of hits as JSON |
//! | `logql` | `POST /search/logql`, and a LogQL query run over a range (page or matrix) |
//! | `loki` | Loki's read API: dispatch, bounds, envelope and errors, label look-ups |
//! | `loki_query` | `query_range` and `query`: streams (categorized or not) and metrics |
//! | `volume` | `index/stats` and `index/volume(_range)`, from the streams' index |
//! | `detected` | `detected_labels`, `detected_fields`, `detected_field/{name}/values` |
//! | `patterns` | `patterns`: Drain over a bounded sample of the range |
//! | `limits` | `drilldown-limits` |
//! | `listings` | namespaces, pods, containers |
//! | `tail` | the SSE tail |

mod detected;
mod filters;
mod k8s;
mod limits;
mod listings;
mod logql;
mod loki;
mod loki_query;
mod page;
mod params;
mod patterns;
mod tail;
mod volume;

use crate::env::Env;
use crate::routes::query::{FAMILY, Query as Route};
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;

pub(crate) use loki::websocket_refused as loki_websocket_refused;
/// The request bodies `tools/gen` names (`api/schemas.rs`, built with the
/// `schema` feature).
#[cfg(feature = "schema")]
pub(crate) use {filters::SearchBody, logql::LogqlBody};

/// The `query` component.
pub const API: super::Api<Route> = super::Api {
    family: &FAMILY,
    handle,
};

fn handle(route: Route, req: &Request, env: &Env) -> Result<Response, Problem> {
    match route {
        Route::K8sLogs => k8s::logs(&req.query, env),
        Route::Search => k8s::search(req, env),
        Route::SearchLogql => logql::search(req, env),
        Route::Tail => tail::follow(req, env),
        Route::Namespaces => listings::namespaces(&req.query, env),
        Route::Pods => listings::pods(&req.query, env),
        Route::Containers => listings::containers(&req.query, env),
        Route::Loki(route) => loki::answer(route, req, env),
    }
}

#[cfg(test)]
mod tests {
    use super::params::now_ns;
    use super::*;
    use http::{Method, StatusCode};
    use serde_json::{Value, json};

    fn call<R>(
        env: &Env,
        api: &super::super::Api<R>,
        method: Method,
        path: &str,
        body: &str,
    ) -> (StatusCode, Value) {
        let mut req = Request::new(method, path).with_body(body);
        if !body.is_empty() {
            req = req.with_header("content-type", "application/json");
        }
        let r = api.call(req, env);
        let status = r.status;
        let bytes = r.into_bytes().unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[test]
    fn a_push_is_found_by_filters_logql_and_loki() {
        let env = Env::memory();
        let t = now_ns() - 1_000_000_000;
        let push = json!({"streams": [{"stream": {"namespace": "n", "pod": "p"},
            "values": [[t.to_string(), "level=error boom"], [(t + 1).to_string(), "level=info fine"]]}]});
        let (s, _) = call(
            &env,
            &crate::api::ingest::API,
            Method::POST,
            "/loki/api/v1/push",
            &push.to_string(),
        );
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, v) = call(&env, &API, Method::GET, "/k8s/v1/?pod=p&level=error", "");
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["logs"][0]["line"], "level=error boom");
        assert_eq!(v["has_more"], false);
        let (_, v) = call(
            &env,
            &API,
            Method::POST,
            "/k8s/v1/search/logql",
            r#"{"query": "{pod=\"p\"} | logfmt | level=\"info\""}"#,
        );
        assert_eq!(v["logs"][0]["line"], "level=info fine", "{v}");
        let (_, v) = call(&env, &API, Method::GET, "/loki/api/v1/labels", "");
        assert_eq!(v["data"], json!(["namespace", "pod", "service_name"]));
        let (s, v) = call(
            &env,
            &API,
            Method::GET,
            "/loki/api/v1/query_range?query=%7Bpod%3D%22p%22%7D%20%7C%3D",
            "",
        );
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(
            v["detail"]
                .as_str()
                .unwrap()
                .starts_with("parse error at line 1, col"),
            "{v}"
        );
    }
}
