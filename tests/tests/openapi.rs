//! The OpenAPI 3.1 document (issue 13) stays true: the app serves it at
//! `GET /openapi.json`, every spin.toml route is in it, and every path in it
//! reaches, through Spin's routing, the component whose typed route it is,
//! with a security scheme and a problem body for every error it lists.

mod common;

use common::*;
use spin_logs_tests::manifest::Manifest;
use spin_logs_tests::repo_root;
use spin_logs_tests::routes::Router;

/// A path template with every `{name}` (or `:name`) as `{}`.
fn shape(path: &str) -> String {
    path.split('/')
        .map(|s| {
            if s.starts_with('{') || s.starts_with(':') {
                "{}"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A concrete path for a template: ids that validate everywhere.
fn example(path: &str) -> String {
    path.split('/')
        .map(|s| match s {
            "{group_id}" => "5f0c8a2be4b0a1d2c3e4f5a6",
            "{process}" => "4242",
            s if s.starts_with('{') => "x1",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn the_served_document_covers_every_route() {
    let host = host();
    let r = get_as(&host, "/openapi.json", None);
    assert_eq!(r.status, 200, "public, like GET /");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let on_disk: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo_root().join("docs/openapi.json")).expect("docs/openapi.json"),
    )
    .expect("json");
    assert_eq!(
        doc, on_disk,
        "the app serves docs/openapi.json as committed"
    );
    let paths = doc["paths"].as_object().expect("paths");
    let shapes: Vec<String> = paths.keys().map(|p| shape(p)).collect();

    let manifest = Manifest::load(&repo_root()).expect("spin.toml");
    for route in &manifest.routes {
        let r = &route.route;
        let covered = match r.strip_suffix("/...") {
            Some("") => true, // the catch-all: GET / and /openapi.json are in
            Some(prefix) => shapes.iter().any(|s| s.starts_with(&shape(prefix))),
            None => shapes.contains(&shape(r)),
        };
        assert!(covered, "spin.toml route {r} is not in docs/openapi.json");
    }

    let router = Router::build(&manifest.routes).expect("router");
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("schemes");
    for (path, ops) in paths {
        let concrete = example(path);
        let spin = router.route(&concrete).expect("Spin routes it").component;
        for (method, op) in ops.as_object().expect("operations") {
            let m = http::Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            let typed = spin_logs::routes::resolve(&m, &concrete);
            assert_eq!(typed.problem, None, "{method} {path} is a route");
            assert_eq!(typed.component, spin, "{path}");
            let responses = op["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{method} {path}");
            for (code, resp) in responses {
                if code.starts_with('4') || code.starts_with('5') {
                    let reference = resp["$ref"].as_str().expect("a shared problem response");
                    let name = reference.rsplit('/').next().expect("name");
                    assert!(
                        doc["components"]["responses"][name]["content"]["application/problem+json"]
                            .is_object(),
                        "{reference}"
                    );
                }
            }
            let declared: Vec<&str> = op["parameters"]
                .as_array()
                .expect("parameters")
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().expect("name"))
                .collect();
            let in_path = path.matches('{').count();
            assert_eq!(declared.len(), in_path, "{method} {path}: path parameters");
        }
    }
    for name in ["bearer", "apiKey", "digest", "urlToken"] {
        assert!(schemes.contains_key(name), "{name}");
    }
}
