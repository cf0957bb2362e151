//! The `ui` component: the web viewer at `/ui/`. The files are `static/`,
//! compiled in by `build.rs` (hashed and gzipped there); how they are served
//! lives in [`spin_logs::api::ui`], where native tests reach it.

use spin_logs::api::Api;
use spin_logs::api::ui::Asset;
use spin_logs::routes::ui::Ui;
use spin_logs::web::message::{Request, Response};
use spin_logs::web::problem::Problem;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

fn answer(asset: Ui, req: &Request, env: &spin_logs::env::Env) -> Result<Response, Problem> {
    spin_logs::api::ui::handle(ASSETS, asset, req, env)
}

static API: Api<Ui> = spin_logs::api::ui::api(answer);

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    spin_logs::spin::serve(req, out, &API).await
}
