//! Spin's own ceiling for a full read: `GET /static?mib=N` streams N MiB of
//! one static 1 MiB buffer, through the same streaming response body a
//! spin-logs read uses, with no storage and no work per byte.
//! `tests/benches/perf.rs` measures spin-logs' full reads beside it.

use futures::SinkExt;
use spin_sdk::http::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};

/// One MiB of log-like text.
static BUFFER: [u8; 1 << 20] = {
    let mut b = [b'x'; 1 << 20];
    let mut i = 99;
    while i < b.len() {
        b[i] = b'\n';
        i += 100;
    }
    b
};

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let mib: usize = req
        .path_with_query()
        .and_then(|p| p.split_once("mib=").and_then(|(_, n)| n.parse().ok()))
        .unwrap_or(1);
    let headers = Fields::from_list(&[("content-type".to_owned(), b"text/plain".to_vec())])
        .unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(headers);
    let mut body = response.take_body();
    out.set(response);
    for _ in 0..mib {
        if body.send(BUFFER.to_vec()).await.is_err() {
            return;
        }
    }
}
