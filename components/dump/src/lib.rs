//! The `dump` component. Its routes and rules live in [`spin_logs::api::dump`], where
//! native tests reach them; this file only binds them to Spin.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    spin_logs::spin::serve(req, out, &spin_logs::api::dump::API).await
}
