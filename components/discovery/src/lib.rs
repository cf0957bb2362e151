//! The `discovery` component: its routes exist (see spin.toml) but are not built yet,
//! so each answers 501 with a problem+json body saying so.

use spin_sdk::http::{IncomingRequest, ResponseOutparam};

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    spin_logs::spin::serve(req, out, |_, _| {
        spin_logs::problem::Problem::not_implemented("discovery").into()
    })
    .await
}
