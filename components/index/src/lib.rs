//! The `index` component: `GET /` and the 404 problem for every path outside
//! the route families. Its routes live in [`spin_logs::api::index`]; this
//! file only binds them to Spin.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    spin_logs::spin::serve(req, out, &spin_logs::api::index::API).await
}
