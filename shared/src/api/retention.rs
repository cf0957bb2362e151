//! Retention routes (`retention` component), the Kubernetes logs API's
//! Archive Management and S3 Storage endpoints under its base path `/k8s/v1`:
//!
//! ```text
//! GET     /k8s/v1/archive/policies[?id=]    list, or one
//! POST    /k8s/v1/archive/policies          create (201)
//! PUT     /k8s/v1/archive/policies?id=      replace
//! DELETE  /k8s/v1/archive/policies?id=      delete (204)
//! POST    /k8s/v1/archive/start             start or advance a run: {"policy_id"}, or every enabled policy
//! GET     /k8s/v1/archive/jobs[?id=]        runs (newest first), or one
//! GET     /k8s/v1/s3/metadata               archive objects by labels, task, policy and time
//! GET     /k8s/v1/s3/content?id=            one object's lines (text, Range), or its stored .gz
//! GET     /k8s/v1/s3/stats                  objects, bytes, ratio, by namespace
//! GET     /k8s/v1/storage/info              backends, bucket, hot and archived bytes
//! ```
//! What a run does is [`crate::retention`].

use crate::config::BlobBackend;
use crate::env::Env;
use crate::model::journal;
use crate::model::sandbox::Sandboxes;
use crate::read::download::{Download, Ranged};
use crate::read::format::rfc3339;
use crate::retention::catalog::{self, Entry};
use crate::retention::policy::{self, MAX_POLICIES, Policy, PolicySpec};
use crate::retention::run::{self, Run, Status};
use crate::routes::retention::{FAMILY, K8S, Retention};
use crate::store::log::Log;
use crate::util::clock::now_micros;
use crate::util::ids::random_id;
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;
use crate::web::time::parse_rfc3339_us;
use http::{StatusCode, header};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The `retention` component.
pub const API: super::Api<Retention> = super::Api {
    family: &FAMILY,
    handle,
};

fn handle(route: Retention, req: &Request, env: &Env) -> Result<Response, Problem> {
    match route {
        Retention::ListPolicies => list_policies(req, env),
        Retention::CreatePolicy => create_policy(req, env),
        Retention::ReplacePolicy => replace_policy(req, env),
        Retention::DeletePolicy => delete_policy(req, env),
        Retention::Start => start(req, env),
        Retention::Runs => jobs(req, env),
        Retention::S3Metadata => metadata(req, env),
        Retention::S3Content => content(req, env),
        Retention::S3Stats => stats(env),
        Retention::StorageInfo => storage_info(env),
    }
}

fn policies_url() -> String {
    format!("{K8S}/archive/policies")
}

fn id_param<'a>(req: &'a Request, what: &str) -> Result<&'a str, Problem> {
    match req.query.get("id") {
        Some(id) if !id.is_empty() => Ok(id),
        _ => Err(Problem::bad_param(
            "id",
            format!("name the {what} with ?id="),
        )),
    }
}

fn policy_view(p: &Policy) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "selector": p.selector,
        "archive_after_s": p.archive_after_s,
        "compression": p.compression,
        "compression_level": p.compression_level,
        "delete_after_s": p.delete_after_s,
        "enabled": p.enabled,
        "created": rfc3339(p.created),
        "updated": rfc3339(p.updated),
        "links": {
            "self": format!("{}?id={}", policies_url(), p.id),
            "jobs": format!("{K8S}/archive/jobs?policy_id={}", p.id),
        },
    })
}

fn list_policies(req: &Request, env: &Env) -> Result<Response, Problem> {
    if let Some(id) = req.query.get("id") {
        let p = policy::find(&env.store, id)?;
        return Ok(Response::json(StatusCode::OK, &policy_view(&p)));
    }
    let all = policy::all(&env.store)?;
    let views: Vec<Value> = all.iter().map(policy_view).collect();
    Ok(Response::json(
        StatusCode::OK,
        &json!({"policies": views, "total": views.len()}),
    ))
}

fn create_policy(req: &Request, env: &Env) -> Result<Response, Problem> {
    let spec: PolicySpec = req.json("archive policy")?;
    let now = now_micros();
    let p = spec.into_policy(random_id()?, now, now)?;
    let stored = p.clone();
    policy::edit(&env.store, |list| {
        if list.iter().any(|q| q.name == stored.name) {
            return Err(Problem::conflict(format!(
                "an archive policy is already named {:?}",
                stored.name
            )));
        }
        if list.len() >= MAX_POLICIES {
            return Err(Problem::conflict(format!(
                "at most {MAX_POLICIES} archive policies; delete one first"
            )));
        }
        list.push(stored.clone());
        Ok(())
    })?;
    Ok(Response::json(StatusCode::CREATED, &policy_view(&p))
        .header(header::LOCATION, &format!("{}?id={}", policies_url(), p.id)))
}

fn replace_policy(req: &Request, env: &Env) -> Result<Response, Problem> {
    let id = id_param(req, "policy to replace")?.to_owned();
    let spec: PolicySpec = req.json("archive policy")?;
    let now = now_micros();
    let p = policy::edit(&env.store, |list| {
        let Some(i) = list.iter().position(|q| q.id == id) else {
            return Err(Problem::not_found(format!("no archive policy {id:?}")));
        };
        let s = spec.clone().into_policy(id.clone(), now, list[i].created)?;
        if list.iter().any(|q| q.id != id && q.name == s.name) {
            return Err(Problem::conflict(format!(
                "an archive policy is already named {:?}",
                s.name
            )));
        }
        list[i] = s.clone();
        Ok(s)
    })?;
    Ok(Response::json(StatusCode::OK, &policy_view(&p)))
}

fn delete_policy(req: &Request, env: &Env) -> Result<Response, Problem> {
    let id = id_param(req, "policy to delete")?.to_owned();
    policy::edit(&env.store, |list| {
        let before = list.len();
        list.retain(|q| q.id != id);
        if list.len() == before {
            return Err(Problem::not_found(format!("no archive policy {id:?}")));
        }
        Ok(())
    })?;
    Ok(Response::new(StatusCode::NO_CONTENT))
}

fn run_view(r: &Run) -> Value {
    let next_deletion = r.garbage.iter().map(|g| g.due).min();
    json!({
        "id": r.id,
        "policy_id": r.policy.id,
        "policy_name": r.policy.name,
        "status": r.status,
        "created": rfc3339(r.created),
        "updated": rfc3339(r.updated),
        "finished": r.finished.map(rfc3339),
        "progress": {"logs_total": r.targets.len(), "logs_visited": r.stats.logs_visited},
        "stats": r.stats,
        "pending_deletions": r.garbage.len(),
        "next_deletion_at": next_deletion.map(rfc3339),
        "errors": r.errors,
        "links": {"self": format!("{K8S}/archive/jobs?id={}", r.id)},
    })
}

/// Advances the unfinished runs of `p`, starting one if none is archiving.
/// Returns the run that is archiving (or just finished) now.
fn drive(env: &Env, p: &Policy, deadline: Instant) -> Result<Run, Problem> {
    let budget = || deadline.saturating_duration_since(Instant::now());
    let mut current = None;
    for r in run::list(env)?.into_iter().filter(|r| r.policy.id == p.id) {
        match r.status {
            Status::Done => {}
            // Only deletions left: cheap, and due or not.
            Status::Draining => {
                run::advance(env, &r.id, Duration::ZERO)?;
            }
            Status::Running => current = Some(r),
        }
    }
    let r = match current {
        Some(r) => r,
        None => run::create(env, p.clone())?,
    };
    run::advance(env, &r.id, budget())
}

fn start(req: &Request, env: &Env) -> Result<Response, Problem> {
    let body: Value = if req.body.is_empty() {
        json!({})
    } else {
        req.json("archive start")?
    };
    let policy_id = match (body.get("policy_id"), req.query.get("policy_id")) {
        (Some(Value::String(s)), _) => Some(s.clone()),
        (Some(_), _) => return Err(Problem::bad_param("policy_id", "policy_id is a string")),
        (None, q) => q.map(str::to_owned),
    };
    let deadline = Instant::now() + Duration::from_millis(env.config.job_step_ms()?);
    let Some(id) = policy_id else {
        // Every enabled policy: one URL for a cron to call.
        let mut views = Vec::new();
        for p in policy::all(&env.store)?.into_iter().filter(|p| p.enabled) {
            views.push(run_view(&drive(env, &p, deadline)?));
        }
        return Ok(Response::json(StatusCode::OK, &json!({"runs": views})));
    };
    let p = policy::find(&env.store, &id)?;
    if !p.enabled {
        return Err(Problem::conflict(format!(
            "archive policy {id:?} is disabled; enable it with PUT {}?id={id}",
            policies_url()
        )));
    }
    let r = drive(env, &p, deadline)?;
    let status = if r.status == Status::Done {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok(Response::json(status, &run_view(&r))
        .header(header::LOCATION, &format!("{K8S}/archive/jobs?id={}", r.id)))
}

fn jobs(req: &Request, env: &Env) -> Result<Response, Problem> {
    if let Some(id) = req.query.get("id") {
        let r = run::load(env, id)?
            .ok_or_else(|| Problem::not_found(format!("no archive job {id:?}")))?;
        return Ok(Response::json(StatusCode::OK, &run_view(&r)));
    }
    let status = req.query.get("status").map(str::to_ascii_uppercase);
    if let Some(s) = &status
        && !["RUNNING", "DRAINING", "DONE"].contains(&s.as_str())
    {
        return Err(Problem::bad_param(
            "status",
            "status is RUNNING, DRAINING or DONE",
        ));
    }
    let policy_id = req.query.get("policy_id");
    let views: Vec<Value> = run::list(env)?
        .iter()
        .filter(|r| policy_id.is_none_or(|p| r.policy.id == p))
        .map(run_view)
        .filter(|v| status.as_deref().is_none_or(|s| v["status"] == s))
        .collect();
    Ok(Response::json(
        StatusCode::OK,
        &json!({"jobs": views, "total": views.len()}),
    ))
}

fn entry_view(e: &Entry) -> Value {
    json!({
        "id": e.id.to_string(),
        "object": e.object,
        "manifest": format!("{}.json", e.object),
        "policy_id": e.policy_id,
        "run_id": e.run_id,
        "source": e.source,
        "task_id": e.task_id,
        "file": e.file,
        "labels": e.labels,
        "offset": e.offset,
        "end": e.end,
        "first_line": e.first_line,
        "lines": e.lines,
        "first_time": rfc3339(e.first_time),
        "last_time": rfc3339(e.last_time),
        "bytes": e.bytes,
        "stored_bytes": e.stored_bytes,
        "compression": e.compression,
        "ratio": ratio(e.stored_bytes, e.bytes),
        "archived": rfc3339(e.archived),
        "deleted": e.deleted.map(rfc3339),
        "links": {"content": format!("{K8S}/s3/content?id={}", e.id)},
    })
}

fn ratio(stored: u64, bytes: u64) -> f64 {
    if bytes == 0 {
        return 1.0;
    }
    (stored as f64 / bytes as f64 * 1000.0).round() / 1000.0
}

/// `labels=app=web,tier=db` (Kubernetes' equality selector) and `label=k=v`.
fn label_filter(req: &Request) -> Result<BTreeMap<String, String>, Problem> {
    let mut out = BTreeMap::new();
    let pairs = req
        .query
        .all("labels")
        .flat_map(|s| s.split(','))
        .chain(req.query.all("label"))
        .filter(|s| !s.is_empty());
    for pair in pairs {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(Problem::bad_param(
                "labels",
                format!("{pair:?} is not key=value (labels=app=web,tier=db)"),
            ));
        };
        out.insert(k.trim_end_matches('=').to_owned(), v.to_owned());
    }
    Ok(out)
}

fn metadata(req: &Request, env: &Env) -> Result<Response, Problem> {
    let q = &req.query;
    let labels = label_filter(req)?;
    let time = |name: &str| q.get(name).map(|v| parse_rfc3339_us(name, v)).transpose();
    let (since, until) = (time("since")?, time("until")?);
    let limit = match q.get("limit") {
        None => 100,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => return Err(Problem::bad_param("limit", "limit is 1 to 1000")),
        },
    };
    let after = match q.get("cursor") {
        None => None,
        Some(c) => Some(c.parse::<u64>().map_err(|_| {
            Problem::bad_param("cursor", "cursor is a next_cursor this route gave")
        })?),
    };
    let deleted = match q.get("include_deleted") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(Problem::bad_param(
                "include_deleted",
                "include_deleted is true or false",
            ));
        }
    };
    let eq = |name: &str, v: Option<&str>| q.get(name).is_none_or(|want| v == Some(want));
    let matching: Vec<Entry> = catalog::all(&env.store)?
        .into_iter()
        .filter(|e| after.is_none_or(|a| e.id > a))
        .filter(|e| deleted || e.deleted.is_none())
        .filter(|e| labels.iter().all(|(k, v)| e.labels.get(k) == Some(v)))
        .filter(|e| eq("namespace", e.labels.get("namespace").map(String::as_str)))
        .filter(|e| eq("task_id", e.task_id.as_deref()))
        .filter(|e| eq("file", e.file.as_deref()))
        .filter(|e| eq("policy_id", Some(&e.policy_id)))
        .filter(|e| eq("source", Some(&e.source)))
        // Overlap: an object holding any byte committed within since..until.
        .filter(|e| since.is_none_or(|s| e.last_time >= s))
        .filter(|e| until.is_none_or(|u| e.first_time < u))
        .take(limit + 1)
        .collect();
    let has_more = matching.len() > limit;
    let page = &matching[..matching.len().min(limit)];
    let next = has_more
        .then(|| page.last().map(|e| e.id.to_string()))
        .flatten();
    Ok(Response::json(
        StatusCode::OK,
        &json!({
            "objects": page.iter().map(entry_view).collect::<Vec<_>>(),
            "has_more": has_more,
            "next_cursor": next,
        }),
    ))
}

fn content(req: &Request, env: &Env) -> Result<Response, Problem> {
    let id: u64 = id_param(req, "archive object")?
        .parse()
        .map_err(|_| Problem::bad_param("id", "id is an object id from /k8s/v1/s3/metadata"))?;
    let e = catalog::get(&env.store, id)?
        .ok_or_else(|| Problem::not_found(format!("no archive object {id}")))?;
    if let Some(at) = e.deleted {
        return Err(Problem::new(
            StatusCode::GONE,
            "Gone",
            format!(
                "archive object {id} was deleted by retention at {}",
                rfc3339(at)
            ),
        ));
    }
    let gzip = req.query.get("format") == Some("gzip")
        || req
            .header(header::ACCEPT)
            .is_some_and(|a| a.contains("application/gzip"));
    let etag = format!("\"archive-{id}\"");
    if gzip {
        // The object as stored: a valid .gz of the page (one member per segment).
        let filename = format!("{id}.log.gz");
        let d = Download {
            size: e.stored_bytes,
            etag: &etag,
            content_type: "application/gzip",
            filename: &filename,
        };
        let (response, start, end) = match d.respond(req) {
            Ranged::Body(r, s, t) => (r, s, t),
            Ranged::Done(r) => return Ok(r),
        };
        let store = Rc::clone(&env.store);
        let object = e.object.clone();
        let body = std::iter::once(()).map(move |()| {
            store
                .blobs
                .get_range(&object, start, end)?
                .ok_or_else(|| Problem::internal(format!("archive object {object} is missing")))
        });
        return Ok(response.stream(Box::new(body)));
    }
    let filename = format!("{id}.log");
    let d = Download {
        size: e.end - e.offset,
        etag: &etag,
        content_type: "text/plain; charset=utf-8",
        filename: &filename,
    };
    let (response, start, end) = match d.respond(req) {
        Ranged::Body(r, s, t) => (r, s, t),
        Ranged::Done(r) => return Ok(r),
    };
    // Read through the log: the page's segments, one ranged GET each.
    let log = Log::new(env.store.clone(), e.log.clone());
    let snap = Rc::new(
        log.snapshot()?
            .ok_or_else(|| Problem::internal(format!("the log of archive object {id} is gone")))?,
    );
    if snap.retained() > e.offset {
        return Err(Problem::new(
            StatusCode::GONE,
            "Gone",
            format!("archive object {id} has expired"),
        ));
    }
    let body = snap.read(e.offset + start, e.offset + end);
    Ok(response.stream(Box::new(body)))
}

fn stats(env: &Env) -> Result<Response, Problem> {
    #[derive(Default)]
    struct Sum {
        objects: u64,
        bytes: u64,
        stored: u64,
        lines: u64,
    }
    let mut by_ns: BTreeMap<String, Sum> = BTreeMap::new();
    let mut total = Sum::default();
    let mut deleted = 0;
    for e in catalog::all(&env.store)? {
        if e.deleted.is_some() {
            deleted += 1;
            continue;
        }
        for s in [
            by_ns.entry(e.namespace().to_owned()).or_default(),
            &mut total,
        ] {
            s.objects += 1;
            s.bytes += e.bytes;
            s.stored += e.stored_bytes;
            s.lines += e.lines;
        }
    }
    let view = |s: &Sum| {
        json!({
            "objects": s.objects,
            "bytes": s.bytes,
            "stored_bytes": s.stored,
            "lines": s.lines,
            "compression_ratio": ratio(s.stored, s.bytes),
        })
    };
    let namespaces: BTreeMap<String, Value> =
        crate::util::sort::collect(by_ns.iter().map(|(k, s)| (k.clone(), view(s))));
    Ok(Response::json(
        StatusCode::OK,
        &json!({"total": view(&total), "namespaces": namespaces, "deleted_objects": deleted}),
    ))
}

fn storage_info(env: &Env) -> Result<Response, Problem> {
    let blobs = match env.config.blobs()? {
        BlobBackend::Embedded => json!({
            "backend": "kv",
            "store": "default",
            "chunk_bytes": crate::store::blob::CHUNK_SIZE,
        }),
        BlobBackend::S3(s) => json!({
            "backend": "s3",
            "endpoint": s.endpoint,
            "region": s.region,
            "bucket": s.bucket,
            "prefix": s.prefix,
            "path_style": s.path_style,
        }),
    };
    // Every log's size from its head: the task index, then each task's files.
    let sandboxes = Sandboxes::new(env.store.clone());
    let mut logs: Vec<Log> = vec![journal::log(env.store.clone())];
    for t in sandboxes.index()? {
        for f in sandboxes.files(&t.id)? {
            logs.push(sandboxes.file(&t.id, &f.name));
        }
    }
    let (mut total, mut expired) = (0u64, 0u64);
    for log in &logs {
        if let Some(head) = log.head()? {
            total += head.size;
            expired += head.retained.map_or(0, |r| r.offset);
        }
    }
    let (mut archived, mut stored) = (0u64, 0u64);
    for e in catalog::all(&env.store)?
        .iter()
        .filter(|e| e.deleted.is_none())
    {
        archived += e.bytes;
        stored += e.stored_bytes;
    }
    Ok(Response::json(
        StatusCode::OK,
        &json!({
            "metadata": {"backend": "spin key-value", "store": "default"},
            "blobs": blobs,
            "logs": logs.len(),
            "bytes": {
                "total": total,
                "hot": total.saturating_sub(expired).saturating_sub(archived),
                "archived": archived,
                "archived_stored": stored,
                "expired": expired,
            },
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use http::Method;
    use std::rc::Rc;

    const BASE: &str = "/k8s/v1";

    fn env() -> Env {
        Env {
            config: Config::with(&[("job_step_ms", "0"), ("archive_grace_ms", "0")]),
            ..Env::memory()
        }
    }

    fn call(env: &Env, method: Method, path: &str, body: &str) -> (StatusCode, Value) {
        let mut req = Request::new(method, path).with_body(body);
        if !body.is_empty() {
            req = req.with_header("content-type", "application/json");
        }
        let r = API.call(req, env);
        let status = r.status;
        let bytes = r.into_bytes().unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    fn ingest(env: &Env, method: Method, path: &str, body: &[u8]) {
        let req =
            Request::new(method, &format!("{}{path}", crate::api::ingest::PREFIX)).with_body(body);
        let r = crate::api::ingest::API.call(req, env);
        assert!(r.status.is_success(), "{path}: {:?}", r.into_bytes());
    }

    /// Task t1 (app=shop) with over two sealed pages of stdout, t2 (app=other).
    fn fill(env: &Env) -> Vec<u8> {
        for (id, app) in [("t1", "shop"), ("t2", "other")] {
            let spec = format!(
                r#"{{"name":"{id}","agent_id":"A","framework_id":"F","container_id":"C-{id}","labels":{{"app":"{app}","namespace":"prod"}}}}"#
            );
            ingest(env, Method::PUT, &format!("/tasks/{id}"), spec.as_bytes());
        }
        let mut all = Vec::new();
        for i in 0..300 {
            let batch: String = (0..4)
                .map(|j| {
                    format!(
                        "GET /item/{i}/{j} 200 user=bob latency_ms={}\n",
                        (i * j) % 97
                    )
                })
                .collect();
            ingest(
                env,
                Method::POST,
                "/tasks/t1/files/stdout",
                batch.as_bytes(),
            );
            all.extend_from_slice(batch.as_bytes());
        }
        ingest(env, Method::POST, "/tasks/t2/files/stdout", b"other\n");
        all
    }

    fn text(env: &Env) -> Vec<u8> {
        let log = Sandboxes::new(env.store.clone()).file("t1", "stdout");
        let snap = Rc::new(log.snapshot().unwrap().unwrap());
        let size = snap.size();
        snap.read(0, size)
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .concat()
    }

    fn finish(env: &Env, policy: &str) -> (Value, usize) {
        for steps in 1..10_000 {
            let (s, v) = call(
                env,
                Method::POST,
                &format!("{BASE}/archive/start"),
                &format!(r#"{{"policy_id":"{policy}"}}"#),
            );
            assert!(s == StatusCode::OK || s == StatusCode::ACCEPTED, "{s} {v}");
            if v["status"] == "DONE" {
                return (v, steps);
            }
        }
        panic!("the run never finished");
    }

    #[test]
    fn a_run_archives_in_steps_reads_through_then_expires() {
        let env = env();
        let all = fill(&env);
        let log = Sandboxes::new(env.store.clone()).file("t1", "stdout");
        let hot = log.page(0).unwrap()[0].blob.clone();
        let (s, p) = call(
            &env,
            Method::POST,
            &format!("{BASE}/archive/policies"),
            r#"{"name":"shop","selector":{"labels":{"app":"shop"}},"archive_after":"0s"}"#,
        );
        assert_eq!(s, StatusCode::CREATED, "{p}");
        let id = p["id"].as_str().unwrap().to_owned();
        let (run, steps) = finish(&env, &id);
        assert!(steps >= 2, "one page per step with a zero budget: {steps}");
        assert_eq!(run["stats"]["pages_archived"], 2);
        assert_eq!(run["progress"]["logs_total"], 1, "only app=shop's one file");
        assert_eq!(text(&env), all, "reads go through to the archive");
        assert_eq!(env.store.blobs.get(&hot).unwrap(), None, "hot blob deleted");

        let (_, meta) = call(
            &env,
            Method::GET,
            &format!("{BASE}/s3/metadata?labels=app=shop"),
            "",
        );
        let objects = meta["objects"].as_array().unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0]["labels"]["namespace"], "prod");
        let (_, none) = call(
            &env,
            Method::GET,
            &format!("{BASE}/s3/metadata?labels=app=other"),
            "",
        );
        assert_eq!(none["objects"].as_array().unwrap().len(), 0);
        let (_, page1) = call(
            &env,
            Method::GET,
            &format!("{BASE}/s3/metadata?limit=1"),
            "",
        );
        assert_eq!(
            (page1["has_more"].clone(), page1["next_cursor"].clone()),
            (json!(true), json!("0"))
        );

        let first = &objects[0];
        let (start, end) = (
            first["offset"].as_u64().unwrap() as usize,
            first["end"].as_u64().unwrap() as usize,
        );
        let req = Request::new(Method::GET, &format!("{BASE}/s3/content?id=0"))
            .with_header("range", "bytes=10-19");
        let r = API.call(req, &env);
        assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.into_bytes().unwrap(), &all[start + 10..start + 20]);
        let req = Request::new(Method::GET, &format!("{BASE}/s3/content?id=0&format=gzip"));
        let gz = API.call(req, &env).into_bytes().unwrap();
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&gz[..]), &mut plain)
            .unwrap();
        assert_eq!(plain, &all[start..end]);

        let (_, stats) = call(&env, Method::GET, &format!("{BASE}/s3/stats"), "");
        assert_eq!(stats["namespaces"]["prod"]["objects"], 2);
        assert!(
            stats["total"]["compression_ratio"].as_f64().unwrap() < 0.7,
            "{stats}"
        );
        let (_, info) = call(&env, Method::GET, &format!("{BASE}/storage/info"), "");
        assert_eq!(
            info["bytes"]["archived"],
            objects
                .iter()
                .map(|o| o["bytes"].as_u64().unwrap())
                .sum::<u64>()
        );
        assert_eq!(info["blobs"]["backend"], "kv");

        // Keep nothing: the sealed pages go, the tail and every position stay.
        let (s, _) = call(
            &env,
            Method::PUT,
            &format!("{BASE}/archive/policies?id={id}"),
            r#"{"name":"shop","selector":{"labels":{"app":"shop"}},"archive_after":0,"delete_after":0}"#,
        );
        assert_eq!(s, StatusCode::OK);
        let (run, _) = finish(&env, &id);
        assert_eq!(run["stats"]["pages_expired"], 2, "{run}");
        let kept = text(&env);
        assert!(!kept.is_empty() && all.ends_with(&kept) && kept.len() < all.len() / 2);
        let (s, _) = call(&env, Method::GET, &format!("{BASE}/s3/content?id=0"), "");
        assert_eq!(s, StatusCode::GONE);
        let (_, meta) = call(&env, Method::GET, &format!("{BASE}/s3/metadata"), "");
        assert_eq!(meta["objects"].as_array().unwrap().len(), 0);
        let (_, meta) = call(
            &env,
            Method::GET,
            &format!("{BASE}/s3/metadata?include_deleted=true"),
            "",
        );
        assert_eq!(meta["objects"].as_array().unwrap().len(), 2);
        assert!(env.store.blobs.get("archive/0-x").unwrap().is_none());
        let (_, jobs) = call(
            &env,
            Method::GET,
            &format!("{BASE}/archive/jobs?policy_id={id}"),
            "",
        );
        assert_eq!(jobs["total"], 2);
    }

    #[test]
    fn bad_requests_are_problems_and_store_nothing() {
        let env = env();
        let policies = format!("{BASE}/archive/policies");
        let req = Request::new(Method::POST, &policies)
            .with_header("content-type", "text/plain")
            .with_body(r#"{"name":"x","archive_after":1}"#);
        assert_eq!(
            API.call(req, &env).status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        for (method, path, body, want) in [
            (
                Method::POST,
                policies.clone(),
                r#"{"name":"x"}"#,
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::POST,
                policies.clone(),
                r#"{"name":"x","archive_after":"1y"}"#,
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::PUT,
                policies.clone(),
                r#"{"name":"x","archive_after":1}"#,
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::PUT,
                format!("{policies}?id=nope"),
                r#"{"name":"x","archive_after":1}"#,
                StatusCode::NOT_FOUND,
            ),
            (
                Method::DELETE,
                format!("{policies}?id=nope"),
                "",
                StatusCode::NOT_FOUND,
            ),
            (
                Method::PATCH,
                policies.clone(),
                "",
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            (
                Method::POST,
                format!("{BASE}/archive/start"),
                r#"{"policy_id":"nope"}"#,
                StatusCode::NOT_FOUND,
            ),
            (
                Method::POST,
                format!("{BASE}/archive/start"),
                r#"{"policy_id":7}"#,
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::GET,
                format!("{BASE}/archive/start"),
                "",
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            (
                Method::GET,
                format!("{BASE}/archive/jobs?id=nope"),
                "",
                StatusCode::NOT_FOUND,
            ),
            (
                Method::GET,
                format!("{BASE}/archive/jobs?status=LATE"),
                "",
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::GET,
                format!("{BASE}/s3/content"),
                "",
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::GET,
                format!("{BASE}/s3/content?id=x"),
                "",
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::GET,
                format!("{BASE}/s3/content?id=5"),
                "",
                StatusCode::NOT_FOUND,
            ),
            (
                Method::GET,
                format!("{BASE}/s3/metadata?labels=app"),
                "",
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::GET,
                format!("{BASE}/s3/metadata?since=yesterday"),
                "",
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::GET,
                format!("{BASE}/s3/metadata?limit=0"),
                "",
                StatusCode::BAD_REQUEST,
            ),
            (
                Method::POST,
                format!("{BASE}/s3/stats"),
                "",
                StatusCode::METHOD_NOT_ALLOWED,
            ),
        ] {
            let (s, v) = call(&env, method.clone(), &path, body);
            assert_eq!(s, want, "{method} {path} {body}: {v}");
            assert!(v["title"].is_string() && v["detail"].is_string(), "{v}");
        }
        let (_, list) = call(&env, Method::GET, &policies, "");
        assert_eq!(list["total"], 0);
        let (s, _) = call(
            &env,
            Method::POST,
            &policies,
            r#"{"name":"x","archive_after":1}"#,
        );
        assert_eq!(s, StatusCode::CREATED);
        let (s, _) = call(
            &env,
            Method::POST,
            &policies,
            r#"{"name":"x","archive_after":2}"#,
        );
        assert_eq!(s, StatusCode::CONFLICT, "names are unique");
    }
}
