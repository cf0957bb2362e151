//! Log collection job routes (`archive` component), after MongoDB's API:
//!
//! ```text
//! POST      /api/v1/groups/{group}/logCollectionJobs               create (201)
//! GET       /api/v1/groups/{group}/logCollectionJobs               list (pageNum, itemsPerPage)
//! GET       /api/v1/groups/{group}/logCollectionJobs/{job}         one job
//! PATCH     /api/v1/groups/{group}/logCollectionJobs/{job}         {"expirationDate": ...}: extend
//! DELETE    /api/v1/groups/{group}/logCollectionJobs/{job}         remove the job and its archive
//! PUT       /api/v1/groups/{group}/logCollectionJobs/{job}/retry   collect failed files again
//! GET|HEAD  /api/v1/groups/{group}/logCollectionJobs/{job}/download
//! POST      /api/v1/groups/{group}/logCollectionJobs/{job}/token      a URL token for the download
//! ```
//! What each does, and how jobs advance without a scheduler, is [`crate::jobs`].

use crate::env::Env;
use crate::jobs::Jobs;
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;
use crate::web::route::{JobRoute, Route};
use http::Method;

pub fn handle(route: Route, req: &Request, env: &Env) -> Result<Response, Problem> {
    let Route::Jobs { group, job } = route else {
        return Err(super::elsewhere(&route));
    };
    let jobs = Jobs::new(env, &group);
    let m = &req.method;
    match (job, m) {
        (JobRoute::All, &Method::POST) => jobs.create(req),
        (JobRoute::All, &Method::GET | &Method::HEAD) => jobs.list(req),
        (JobRoute::All, _) => Err(Problem::method_not_allowed("GET, HEAD, POST")),
        (JobRoute::One(id), &Method::GET | &Method::HEAD) => jobs.get(&id),
        (JobRoute::One(id), &Method::PATCH) => jobs.extend(&id, req),
        (JobRoute::One(id), &Method::DELETE) => jobs.delete(&id),
        (JobRoute::One(_), _) => Err(Problem::method_not_allowed("GET, HEAD, PATCH, DELETE")),
        (JobRoute::Retry(id), &Method::PUT) => jobs.retry(&id),
        (JobRoute::Retry(_), _) => Err(Problem::method_not_allowed("PUT")),
        (JobRoute::Download(id), &Method::GET | &Method::HEAD) => jobs.download(&id, req),
        (JobRoute::Download(_), _) => Err(Problem::method_not_allowed("GET, HEAD")),
        (JobRoute::Token(id), &Method::POST) => {
            let download = jobs.download_path(&id)?;
            super::token::job_download(req, env, &format!("{group}/{id}"), &download)
        }
        (JobRoute::Token(_), _) => Err(Problem::method_not_allowed("POST")),
    }
}
