//! `GET /k8s/v1/` (filters in the query string) and `POST /k8s/v1/search`
//! (the same filters as a JSON body, with context lines): one search each,
//! one page answered.

use super::filters::{Filters, SearchBody};
use super::page::page_json;
use super::params::{budget, direction_param, limit_param, page_range, resume, time_range};
use crate::env::Env;
use crate::logql::{LineOp, Pipeline, Selector};
use crate::read::search::{self, Plan};
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;
use crate::web::query::Query as Params;
use http::StatusCode;

/// `GET /k8s/v1/`.
pub(super) fn logs(p: &Params, env: &Env) -> Result<Response, Problem> {
    run(Filters::from_query(p)?, env)
}

/// `POST /k8s/v1/search`.
pub(super) fn search(req: &Request, env: &Env) -> Result<Response, Problem> {
    let body: SearchBody = req.json("search")?;
    run(body.into_filters()?, env)
}

fn run(f: Filters, env: &Env) -> Result<Response, Problem> {
    let dir = direction_param(f.direction.as_deref())?;
    let limit = limit_param(f.limit)?;
    let pipeline = line_filters(&f)?;
    let fingerprint = f.fingerprint(dir);
    let resumed = resume(f.cursor.as_deref(), &fingerprint)?;
    let (from, to) = page_range(resumed.as_ref(), || {
        time_range(f.start, f.end, f.since, None)
    })?;
    let selector = Selector {
        matchers: f.selector,
    };
    let streams = search::select(&env.store, &selector)?;
    let plan = Plan {
        pipeline,
        levels: f.levels,
        from,
        to,
        direction: dir,
        limit,
        resume: resumed.map(|r| r.0),
        budget: budget(env, f.budget_ms)?,
        context: f.context,
    };
    let page = search::search(&streams, &plan)?;
    Ok(Response::json(
        StatusCode::OK,
        &page_json(
            &page,
            &fingerprint,
            (from, to),
            plan.context != (0, 0),
            None,
        ),
    ))
}

/// `contains` and `regex` as a pipeline: every one must hold.
fn line_filters(f: &Filters) -> Result<Pipeline, Problem> {
    let mut ops: Vec<(LineOp, String)> = f
        .contains
        .iter()
        .map(|c| (LineOp::Contains, c.clone()))
        .collect();
    ops.extend(f.regex.iter().map(|r| (LineOp::Match, r.clone())));
    Pipeline::from_filters(&ops, f.case_insensitive).map_err(|e| {
        Problem::bad_param(
            "regex",
            format!("a pattern does not compile: {}", e.message),
        )
    })
}
