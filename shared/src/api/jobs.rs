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
use crate::routes::archive::JobOp;
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;

/// Answers `op` on `group`'s jobs.
pub fn handle(group: &str, op: JobOp, req: &Request, env: &Env) -> Result<Response, Problem> {
    let jobs = Jobs::new(env, group);
    match op {
        JobOp::Create => jobs.create(req),
        JobOp::List => jobs.list(req),
        JobOp::Get(id) => jobs.get(&id),
        JobOp::Extend(id) => jobs.extend(&id, req),
        JobOp::Delete(id) => jobs.delete(&id),
        JobOp::Retry(id) => jobs.retry(&id),
        JobOp::Download(id) => jobs.download(&id, req),
        JobOp::Token(id) => {
            let download = jobs.download_path(&id)?;
            super::token::job_download(req, env, &format!("{group}/{id}"), &download)
        }
    }
}
