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
//! What each does, and how jobs advance without a scheduler, is [`crate::jobs`];
//! this renders it: status codes, the JSON of a job, `Location`, ranged downloads.

use crate::env::Env;
use crate::jobs::Jobs;
use crate::jobs::model::{Child, Job, JobRequest, Origin};
use crate::read::download::{Download, Ranged};
use crate::read::format::rfc3339;
use crate::routes::archive::{JOBS_PREFIX, JobOp};
use crate::util::clock::now_micros;
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;
use crate::web::time::parse_rfc3339_us;
use http::{StatusCode, header};
use serde_json::{Value, json};

/// Answers `op` on `group`'s jobs.
pub fn handle(group: &str, op: JobOp, req: &Request, env: &Env) -> Result<Response, Problem> {
    let jobs = Jobs::new(env, group);
    let urls = Urls { group };
    match op {
        JobOp::Create => create(&jobs, &urls, req),
        JobOp::List => list(&jobs, &urls, req),
        JobOp::Get(id) => Ok(ok(&urls.view(&jobs.get(&id)?))),
        JobOp::Extend(id) => extend(&jobs, &urls, &id, req),
        JobOp::Delete(id) => {
            jobs.delete(&id)?;
            Ok(Response::new(StatusCode::NO_CONTENT))
        }
        JobOp::Retry(id) => Ok(ok(&urls.view(&jobs.retry(&id)?))),
        JobOp::Download(id) => download(&jobs, &urls, &id, req),
        JobOp::Token(id) => {
            jobs.find(&id)?;
            super::token::job_download(req, env, &format!("{group}/{id}"), &urls.download(&id))
        }
    }
}

fn ok(view: &Value) -> Response {
    Response::json(StatusCode::OK, view)
}

/// `POST`: 201, the job after its first step, and where it lives.
fn create(jobs: &Jobs, urls: &Urls, req: &Request) -> Result<Response, Problem> {
    let request: JobRequest = req.json("log collection job")?;
    let user_id = req
        .caller
        .as_deref()
        .and_then(|c| c.strip_prefix("user:"))
        .map(str::to_owned);
    let job = jobs.create(request, user_id, now_micros())?;
    Ok(Response::json(StatusCode::CREATED, &urls.view(&job))
        .header(header::LOCATION, &urls.job(&job.id)))
}

/// `GET ?pageNum=&itemsPerPage=`: MongoDB's paged list.
fn list(jobs: &Jobs, urls: &Urls, req: &Request) -> Result<Response, Problem> {
    let mut page = 1usize;
    let mut per_page = 100usize;
    for (k, v) in req.query.pairs() {
        let num = |name: &str, max: usize| {
            v.trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    Problem::bad_param(name, format!("{name} is a number from 1 to {max}"))
                })
        };
        match k {
            "pageNum" => page = num("pageNum", 1_000_000)?,
            "itemsPerPage" => per_page = num("itemsPerPage", 500)?,
            _ => {}
        }
    }
    let found = jobs.list(page, per_page)?;
    let results: Vec<Value> = found.jobs.iter().map(|j| urls.view(j)).collect();
    Ok(ok(&json!({
        "results": results,
        "totalCount": found.total,
        "links": [{"rel": "self", "href": format!("{}?pageNum={page}&itemsPerPage={per_page}", urls.base())}],
    })))
}

/// `PATCH {"expirationDate": ...}`: later than the current date, at most 30 days ahead.
fn extend(jobs: &Jobs, urls: &Urls, id: &str, req: &Request) -> Result<Response, Problem> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Patch {
        expiration_date: String,
    }
    let patch: Patch = req.json("patch")?;
    let now = now_micros();
    let wanted = parse_rfc3339_us("expirationDate", &patch.expiration_date)?;
    Ok(ok(&urls.view(&jobs.extend(id, wanted, now)?)))
}

/// The archive as `{id}.tar.gz`: `Range`, `If-Range`, `ETag`; 409 while collecting.
fn download(jobs: &Jobs, urls: &Urls, id: &str, req: &Request) -> Result<Response, Problem> {
    let Some(archive) = jobs.archive(id)? else {
        return Err(Problem::conflict(format!(
            "job {id} is still IN_PROGRESS; poll GET {} until it is SUCCESS or FAILURE",
            urls.job(id)
        ))
        .with("retry_after", 1));
    };
    let etag = format!("\"{}-{}-{:x}\"", archive.id, archive.version, archive.size);
    let filename = format!("{id}.tar.gz");
    let download = Download {
        size: archive.size,
        etag: &etag,
        content_type: "application/gzip",
        filename: &filename,
    };
    match download.respond(req) {
        Ranged::Body(response, start, end) => Ok(response.stream(archive.read(start, end))),
        Ranged::Done(response) => Ok(response),
    }
}

/// The URLs of a group's jobs, under MongoDB's prefix.
struct Urls<'a> {
    group: &'a str,
}

impl Urls<'_> {
    fn base(&self) -> String {
        format!("{JOBS_PREFIX}/{}/logCollectionJobs", self.group)
    }

    fn job(&self, id: &str) -> String {
        format!("{}/{id}", self.base())
    }

    fn download(&self, id: &str) -> String {
        format!("{}/{id}/download", self.base())
    }

    /// The job as MongoDB shapes it, plus our per-file detail.
    fn view(&self, job: &Job) -> Value {
        let r = &job.request;
        let children: Vec<Value> = job.children.iter().map(child_view).collect();
        let planned: u64 = job
            .children
            .iter()
            .filter_map(|c| c.plan.as_ref().and_then(|p| p.size))
            .sum();
        let mut v = json!({
            "id": job.id,
            "groupId": job.group_id,
            "status": job.status.name(),
            "creationDate": rfc3339(job.creation_date),
            "expirationDate": rfc3339(job.expiration_date),
            "redacted": r.redacted,
            "sizeRequestedPerFileBytes": r.size_requested_per_file_bytes,
            "tasks": r.tasks,
            "labels": r.labels,
            "components": r.components,
            "since": r.since,
            "until": r.until,
            "uncompressedSizeTotalBytes": planned,
            "uncompressedDiskSpaceBytes": planned,
            "resourceType": r.resource_type,
            "resourceName": r.resource_name,
            "logTypes": r.log_types,
            "childJobs": children,
            "links": [{"rel": "self", "href": self.job(&job.id)}],
        });
        if let Some(u) = &job.user_id {
            v["userId"] = json!(u);
        }
        if let Some(f) = job.finish_date {
            v["finishDate"] = json!(rfc3339(f));
        }
        if job.downloadable() {
            v["downloadUrl"] = json!(self.download(&job.id));
            v["downloadSizeBytes"] = json!(job.archive.size());
        }
        v
    }
}

fn child_view(c: &Child) -> Value {
    let mut v = json!({
        "path": c.path,
        "status": c.status.name(),
        "collectedBytes": c.done,
    });
    match &c.source {
        Origin::Task { task, file } => {
            v["task"] = json!(task);
            if let Some(f) = file {
                v["file"] = json!(f);
            }
        }
        Origin::Component { component } => v["component"] = json!(component),
    }
    if let Some(p) = &c.plan {
        if let Some(size) = p.size {
            v["uncompressedDiskSpaceBytes"] = json!(size);
        }
        v["truncated"] = json!(p.truncated);
    }
    if let Some(e) = &c.error {
        v["errorMessage"] = json!(e);
    }
    if let Some(h) = &c.sha256 {
        v["sha256"] = json!(h);
    }
    if let Some(t) = c.started {
        v["startDate"] = json!(rfc3339(t));
    }
    if let Some(t) = c.finished {
        v["finishDate"] = json!(rfc3339(t));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;
    use std::collections::BTreeMap;
    use std::io::Read;

    const JOBS: &str = "/api/public/v1.0/groups/5f0c8a2be4b0a1d2c3e4f5a6/logCollectionJobs";

    fn env(step_ms: u64) -> Env {
        let env = Env {
            config: crate::config::Config::with(&[("job_step_ms", &(step_ms).to_string())]),
            ..Env::memory()
        };
        let task = |id: &str| {
            format!(
                r#"{{"name":"{id}","agent_id":"A","framework_id":"F","container_id":"C-{id}","labels":{{"app":"shop"}}}}"#
            )
        };
        ingest(&env, Method::PUT, "/tasks/t1", task("t1").as_bytes());
        ingest(&env, Method::PUT, "/tasks/t2", task("t2").as_bytes());
        let lines: String = (0..2000)
            .map(|i| format!("line {i:05} user bob@example.com from 10.0.0.{}\n", i % 250))
            .collect();
        ingest(
            &env,
            Method::POST,
            "/tasks/t1/files/stdout",
            lines.as_bytes(),
        );
        ingest(&env, Method::POST, "/tasks/t1/files/stderr", b"oops\n");
        ingest(
            &env,
            Method::POST,
            "/tasks/t2/files/stdout",
            b"t2 says hi\n",
        );
        let entries: String = (0..50)
            .map(|i| {
                format!(
                    "{{\"MESSAGE\":\"m{i}\",\"UNIT\":\"{}\",\"__REALTIME_TIMESTAMP\":\"{}\"}}\n",
                    ["a", "b"][i % 2],
                    1_500_000_000_000_000u64 + i as u64
                )
            })
            .collect();
        ingest(&env, Method::POST, "/component", entries.as_bytes());
        env
    }

    fn ingest(env: &Env, method: Method, path: &str, body: &[u8]) {
        let req =
            Request::new(method, &format!("{}{path}", crate::api::ingest::PREFIX)).with_body(body);
        let r = crate::api::ingest::API.call(req, env);
        assert!(r.status.is_success(), "{path}: {:?}", r.into_bytes());
    }

    fn call(env: &Env, method: Method, path: &str, body: &str) -> (StatusCode, Vec<u8>) {
        let req = Request::new(method, path)
            .with_header("content-type", "application/json")
            .with_body(body);
        let r = crate::api::archive::API.call(req, env);
        let status = r.status;
        (status, r.into_bytes().unwrap())
    }

    fn json_of(b: &[u8]) -> Value {
        serde_json::from_slice(b).unwrap()
    }

    /// Polls the job until it leaves IN_PROGRESS; returns it and the poll count.
    fn finish(env: &Env, id: &str) -> (Value, usize) {
        for n in 1..10_000 {
            let (s, b) = call(env, Method::GET, &format!("{JOBS}/{id}"), "");
            assert_eq!(s, StatusCode::OK);
            let v = json_of(&b);
            if v["status"] != "IN_PROGRESS" {
                return (v, n);
            }
        }
        panic!("job never finished");
    }

    fn unpack(gz: &[u8]) -> BTreeMap<String, Vec<u8>> {
        let mut a = tar::Archive::new(flate2::read::GzDecoder::new(gz));
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let p = e.path().unwrap().to_string_lossy().into_owned();
                let mut d = Vec::new();
                e.read_to_end(&mut d).unwrap();
                (p, d)
            })
            .collect()
    }

    #[test]
    fn collects_in_small_steps_into_one_valid_archive() {
        for step_ms in [0, 10_000] {
            let env = env(step_ms);
            let (s, b) = call(
                &env,
                Method::POST,
                JOBS,
                r#"{"labels":{"app":"shop"},"components":["a"],"redacted":true,"sizeRequestedPerFileBytes":20000}"#,
            );
            assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
            let id = json_of(&b)["id"].as_str().unwrap().to_owned();
            let (job, polls) = finish(&env, &id);
            assert_eq!(job["status"], "SUCCESS", "{job:#}");
            if step_ms == 0 {
                assert!(polls > 3, "{polls}");
            }
            let (s, gz) = call(&env, Method::GET, &format!("{JOBS}/{id}/download"), "");
            assert_eq!(s, StatusCode::OK);
            let files = unpack(&gz);
            let names: Vec<&str> = files.keys().map(String::as_str).collect();
            assert_eq!(
                names,
                [
                    "A/t1/stderr",
                    "A/t1/stdout",
                    "A/t2/stdout",
                    "MANIFEST.json",
                    "journal/a/journal.log"
                ]
            );
            let stdout = String::from_utf8(files["A/t1/stdout"].clone()).unwrap();
            assert!(
                stdout.len() <= 20000 && stdout.len() > 19000,
                "{}",
                stdout.len()
            );
            assert!(
                stdout.ends_with("line 01999 user *************** from **********\n"),
                "{}",
                &stdout[stdout.len() - 100..]
            );
            assert!(!stdout.contains("example.com") && !stdout.contains("10.0.0."));
            let journal = String::from_utf8(files["journal/a/journal.log"].clone()).unwrap();
            assert_eq!(journal.lines().count(), 25);
            assert!(journal.lines().all(|l| l.contains(": m")), "{journal}");
            let manifest = json_of(&files["MANIFEST.json"]);
            assert_eq!(manifest["files"].as_array().unwrap().len(), 4);
            for f in manifest["files"].as_array().unwrap() {
                let data = &files[f["path"].as_str().unwrap()];
                assert_eq!(f["size"], data.len());
                use sha2::Digest;
                assert_eq!(f["sha256"], format!("{:x}", sha2::Sha256::digest(data)));
            }
            let stdout = manifest["files"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["path"] == "A/t1/stdout")
                .unwrap();
            assert_eq!(stdout["truncated"], true);
        }
    }

    #[test]
    fn a_failed_part_is_listed_and_retried() {
        let env = env(10_000);
        let (s, b) = call(&env, Method::POST, JOBS, r#"{"tasks":["t2","t9"]}"#);
        assert_eq!(s, StatusCode::CREATED);
        let id = json_of(&b)["id"].as_str().unwrap().to_owned();
        let (job, _) = finish(&env, &id);
        assert_eq!(job["status"], "FAILURE", "{job:#}");
        let (_, gz) = call(&env, Method::GET, &format!("{JOBS}/{id}/download"), "");
        let files = unpack(&gz);
        assert_eq!(files["A/t2/stdout"], b"t2 says hi\n");
        let manifest = json_of(&files["MANIFEST.json"]);
        assert_eq!(manifest["missing"][0]["source"]["task"], "t9");
        // Retrying before the task exists fails again; after, it succeeds.
        ingest(
            &env,
            Method::PUT,
            "/tasks/t9",
            br#"{"name":"t9","agent_id":"B","framework_id":"F","container_id":"C9"}"#,
        );
        ingest(&env, Method::POST, "/tasks/t9/files/stdout", b"late\n");
        let (s, _) = call(&env, Method::PUT, &format!("{JOBS}/{id}/retry"), "");
        assert_eq!(s, StatusCode::OK);
        let (job, _) = finish(&env, &id);
        assert_eq!(job["status"], "SUCCESS", "{job:#}");
        let (_, gz) = call(&env, Method::GET, &format!("{JOBS}/{id}/download"), "");
        let files = unpack(&gz);
        assert_eq!(files["B/t9/stdout"], b"late\n");
        assert_eq!(files["A/t2/stdout"], b"t2 says hi\n");
        let (s, _) = call(&env, Method::PUT, &format!("{JOBS}/{id}/retry"), "");
        assert_eq!(s, StatusCode::CONFLICT);
    }

    #[test]
    fn rejects_bad_jobs_before_storing_anything() {
        let env = env(10_000);
        for body in [
            "{}",
            r#"{"tasks":["../x"]}"#,
            r#"{"tasks":["t1"],"since":"yesterday"}"#,
            r#"{"tasks":["t1"],"since":"2026-01-02T00:00:00Z","until":"2026-01-01T00:00:00Z"}"#,
            r#"{"tasks":["t1"],"sizeRequestedPerFileBytes":0}"#,
            r#"{"tasks":["t1"],"expirationDate":"2001-01-01T00:00:00Z"}"#,
            r#"{"tasks":["t1"],"bogus":1}"#,
            r#"{"labels":{"app":"nothing"}}"#,
            r#"{"resourceType":"CLUSTER"}"#,
            r#"{"resourceType":"SHARD","resourceName":"shop"}"#,
            r#"{"resourceType":"CLUSTER","resourceName":"shop","logTypes":["SLOWLOG"]}"#,
            r#"{"resourceType":"CLUSTER","resourceName":"nowhere"}"#,
            "not json",
        ] {
            let (s, b) = call(&env, Method::POST, JOBS, body);
            assert_eq!(
                s,
                StatusCode::BAD_REQUEST,
                "{body}: {}",
                String::from_utf8_lossy(&b)
            );
        }
        let (_, b) = call(&env, Method::GET, JOBS, "");
        assert_eq!(json_of(&b)["totalCount"], 0);
    }

    #[test]
    fn mongodbs_own_body_maps_onto_tasks_and_agent_units() {
        let env = env(10_000);
        let body = r#"{"resourceType":"CLUSTER","resourceName":"shop","redacted":true,
            "logTypes":["MONGODB","AUTOMATION_AGENT","FTDC"],"sizeRequestedPerFileBytes":100000}"#;
        let (s, b) = call(&env, Method::POST, JOBS, body);
        assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
        let v = json_of(&b);
        for field in [
            "id",
            "groupId",
            "creationDate",
            "expirationDate",
            "status",
            "resourceType",
            "resourceName",
            "redacted",
            "logTypes",
            "sizeRequestedPerFileBytes",
            "uncompressedDiskSpaceBytes",
            "childJobs",
        ] {
            assert!(!v[field].is_null(), "{field} missing: {v}");
        }
        assert_eq!(v["resourceType"], "CLUSTER");
        assert_eq!(
            v["logTypes"],
            json!(["MONGODB", "AUTOMATION_AGENT", "FTDC"])
        );
        let (done, _) = finish(&env, v["id"].as_str().unwrap());
        let paths: Vec<String> = done["childJobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["path"].as_str().unwrap().to_owned())
            .collect();
        assert!(paths.iter().any(|p| p == "A/t1/stdout"), "{paths:?}");
        assert!(paths.iter().any(|p| p == "A/t2/stdout"), "{paths:?}");
        assert!(
            paths.iter().any(|p| p.contains("automation-agent")),
            "{paths:?}"
        );
        assert!(done["downloadUrl"].is_string());
        // One process: a task id.
        let (s, b) = call(
            &env,
            Method::POST,
            JOBS,
            r#"{"resourceType":"PROCESS","resourceName":"t2"}"#,
        );
        assert_eq!(s, StatusCode::CREATED);
        assert_eq!(json_of(&b)["childJobs"].as_array().unwrap().len(), 1);
    }
}
