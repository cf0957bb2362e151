//! The smallest useful spin-sdk 5.2 HTTP component: "hello world" with a
//! content type. `tests/benches/perf.rs` serves it beside spin-logs so a
//! request's fixed cost is measured against the platform's, on the same host.

use spin_sdk::http::{IntoResponse, Request, Response};

#[spin_sdk::http_component]
fn handle(_req: Request) -> anyhow::Result<impl IntoResponse> {
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body("hello world\n")
        .build())
}
