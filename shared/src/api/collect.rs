//! Collection job routes (`collect` component), the Kubernetes logs API's
//! Log Collection endpoints under `/k8s/v1/collect`:
//!
//! ```text
//! POST   /k8s/v1/collect[/bulk|/continuous]      start a job (201, first step taken)
//! GET    /k8s/v1/collect/jobs[/{id}]             jobs; one job is advanced a step
//! POST   /k8s/v1/collect/jobs/{id}/stop, DELETE /k8s/v1/collect/jobs/{id}
//! POST   /k8s/v1/collect/step                    advance every running job (cron)
//! ```
//! What they do is [`crate::collect::job`]; the clusters they pull from are
//! [`super::clusters`]'.

use crate::collect::job::{self, Job, JobSpec, Status, TargetState};
use crate::env::Env;
use crate::read::format::{rfc3339, rfc3339_ns};
use crate::routes::collect::{Collect, FAMILY, JobKind};
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;
use http::{StatusCode, header};
use serde_json::{Value, json};
use std::time::Duration;

/// The `collect` component.
pub const API: super::Api<Collect> = super::Api {
    family: &FAMILY,
    handle,
};

const K8S: &str = "/k8s/v1";

fn handle(route: Collect, req: &Request, env: &Env) -> Result<Response, Problem> {
    match route {
        Collect::Start(kind) => start(req, env, kind),
        Collect::Jobs => list_jobs(req, env),
        Collect::Job(id) => one_job(env, &id),
        Collect::StopJob(id) => ok(job_view(&job::stop(env, &id)?, true)),
        Collect::DeleteJob(id) => {
            job::delete(env, &id)?;
            Ok(Response::new(StatusCode::NO_CONTENT))
        }
        Collect::Step => step_all(env),
    }
}

fn ok(v: Value) -> Result<Response, Problem> {
    Ok(Response::json(StatusCode::OK, &v))
}

fn budget(env: &Env) -> Result<Duration, Problem> {
    Ok(Duration::from_millis(env.config.job_step_ms()?))
}

fn start(req: &Request, env: &Env, kind: JobKind) -> Result<Response, Problem> {
    let spec: JobSpec = req.json("collection request")?;
    let j = job::create(env, kind, spec, budget(env)?)?;
    Ok(Response::json(StatusCode::CREATED, &job_view(&j, true))
        .header(header::LOCATION, &format!("{K8S}/collect/jobs/{}", j.id)))
}

fn list_jobs(req: &Request, env: &Env) -> Result<Response, Problem> {
    let wanted = req.query.get("status");
    if let Some(w) = wanted
        && !Status::ALL.iter().any(|s| s.name() == w)
    {
        return Err(Problem::bad_param(
            "status",
            format!("status is running, done, stopped or failed, not {w:?}"),
        ));
    }
    let mut out = Vec::new();
    for entry in job::index(env)?.iter().rev() {
        if wanted.is_some_and(|w| w != entry.status.name()) {
            continue;
        }
        match job::load(env, &entry.id) {
            Ok(j) => out.push(job_view(&j, false)),
            Err(p) if p.status == StatusCode::NOT_FOUND => {}
            Err(p) => return Err(p),
        }
    }
    ok(json!({"jobs": out, "total": out.len()}))
}

fn one_job(env: &Env, id: &str) -> Result<Response, Problem> {
    job::load(env, id)?;
    job::advance(env, id, budget(env)?)?;
    ok(job_view(&job::load(env, id)?, true))
}

/// Advances every running job by a step, sharing the step budget.
fn step_all(env: &Env) -> Result<Response, Problem> {
    let running: Vec<_> = job::index(env)?
        .into_iter()
        .filter(|j| j.status == Status::Running)
        .collect();
    let each = budget(env)? / (running.len().max(1) as u32);
    let mut out = Vec::new();
    for j in &running {
        job::advance(env, &j.id, each.max(Duration::from_millis(100)))?;
        out.push(job_view(&job::load(env, &j.id)?, false));
    }
    ok(json!({"advanced": out.len(), "jobs": out}))
}

fn job_view(j: &Job, targets: bool) -> Value {
    let count = |s: TargetState| j.targets.iter().filter(|t| t.state == s).count();
    let mut v = json!({
        "id": j.id,
        "kind": j.kind,
        "cluster_id": j.request.cluster_id,
        "status": j.status.name(),
        "request": j.request,
        "created": rfc3339(j.created),
        "updated": rfc3339(j.updated),
        "finished": j.finished.map(rfc3339),
        "progress": {
            "targets": j.targets.len(),
            "active": count(TargetState::Active),
            "waiting": count(TargetState::Waiting),
            "done": count(TargetState::Done),
            "gone": count(TargetState::Gone),
            "with_errors": j.targets.iter().filter(|t| t.error.is_some()).count(),
        },
        "stats": j.stats,
        "errors": j.errors,
        "links": {"self": format!("{K8S}/collect/jobs/{}", j.id), "stop": format!("{K8S}/collect/jobs/{}/stop", j.id)},
    });
    if targets {
        v["targets"] = j
            .targets
            .iter()
            .map(|t| {
                json!({
                    "namespace": t.namespace, "pod": t.pod, "container": t.container, "node": t.node,
                    "state": t.state, "lines": t.lines, "bytes": t.bytes, "gaps": t.gaps,
                    "instance": t.cursor.instance,
                    "position": (t.cursor.ts > 1).then(|| rfc3339_ns(t.cursor.ts)),
                    "error": t.error,
                })
            })
            .collect();
    }
    v
}
