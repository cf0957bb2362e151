//! The `collect` component. Its routes and rules live in [`spin_logs::api::collect`], where
//! native tests reach them; this file only binds them to Spin, and hands the
//! collection layer the host's outbound HTTP (a job pulls from a cluster's API
//! server).

use spin_sdk::http::{IncomingRequest, ResponseOutparam};

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    spin_logs::collect::http::install(spin_logs::spin::outbound());
    spin_logs::spin::serve(req, out, &spin_logs::api::collect::API).await
}
