//! The `ui` component: the web viewer at `/ui/`. The files are `static/`,
//! compiled in by `build.rs` (hashed and gzipped there); how they are served
//! lives in [`spin_logs::api::ui`], where native tests reach it.

use spin_logs::api::ui::Asset;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    spin_logs::spin::serve(req, out, |route, req, env| {
        spin_logs::api::ui::handle(ASSETS, route, req, env)
    })
    .await
}
