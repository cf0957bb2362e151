//! `docs/index.json`, what `GET /` answers: every family and its routes.
//! Written here rather than per request because building it with
//! `serde_json` on each `GET /` cost ~160 µs of the host's CPU on Spin 4.1
//! (524 against 361 µs a request served from the compiled-in bytes,
//! `tools/spin-cost/run.sh`), and it changes only with the tables.

use super::families;
use serde_json::json;

/// The document, one line (as the app sent it when it built it).
pub fn render() -> String {
    let families: Vec<_> = families()
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
    format!("{body}\n")
}
