//! End-to-end: sandbox `.tar.gz` archives and log collection jobs (issue 5)
//! through the test host and the real `archive` component.

mod common;

use common::*;
use serde_json::{Value, json};
use spin_logs_tests::{HostOptions, TestHost};
use std::collections::BTreeMap;
use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const JOBS: &str = "/api/public/v1.0/groups/5f0c8a2be4b0a1d2c3e4f5a6/logCollectionJobs";

/// Log-like text: `n` numbered lines, some with an e-mail and an IP address.
fn log_text(tag: &str, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| {
            format!(
                "2026-11-21T10:{:02}:{:02}Z {tag} request {i} user carol@example.org from 192.168.{}.{} took {}ms\n",
                i / 60 % 60,
                i % 60,
                i % 200,
                i % 250,
                i % 977
            )
        })
        .collect::<String>()
        .into_bytes()
}

/// Appends `bytes` in batches of about `batch` bytes, each ending on a line
/// (an append that does not end with a newline gets one).
fn append_in_batches(host: &TestHost, task: &str, file: &str, bytes: &[u8], batch: usize) {
    let mut rest = bytes;
    while !rest.is_empty() {
        let cut = if rest.len() <= batch {
            rest.len()
        } else {
            rest[..batch]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(rest.len(), |n| n + 1)
        };
        let r = append(host, task, file, &rest[..cut]);
        assert_eq!(r.status, 200, "{}", r.text());
        rest = &rest[cut..];
    }
}

fn unpack(gz: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    archive
        .entries()
        .expect("a tar stream")
        .map(|e| {
            let mut e = e.expect("an entry");
            let path = e.path().expect("a path").to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).expect("entry data");
            (path, data)
        })
        .collect()
}

fn post_job(host: &TestHost, body: Value) -> Reply {
    send(
        host,
        "POST",
        JOBS,
        Some("application/json"),
        body.to_string().as_bytes(),
    )
}

/// Polls a job (each poll advances it) until it leaves IN_PROGRESS.
fn poll(host: &TestHost, id: &str) -> (Value, usize) {
    for n in 1..5_000 {
        let r = get(host, &format!("{JOBS}/{id}"));
        assert_eq!(r.status, 200, "{}", r.text());
        let job = r.json();
        if job["status"] != "IN_PROGRESS" {
            return (job, n);
        }
    }
    panic!("job {id} never finished");
}

/// Now plus `secs`, whole seconds, RFC 3339 UTC (as the API renders dates).
fn rfc3339_in(secs: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    time::OffsetDateTime::from_unix_timestamp((now + secs) as i64)
        .expect("a date")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

#[test]
fn a_sandbox_archive_unpacks_to_exactly_the_stored_bytes() {
    let host = host();
    let task = register(&host, "web.archive", "agent-1", true);
    // Three files: one spans several storage segments, one is a single line.
    let mut stored = BTreeMap::new();
    for (file, bytes) in [
        ("stdout", log_text("web", 20_000)),
        ("stderr", b"warning: cache cold\n".to_vec()),
        ("access.log", log_text("access", 300)),
    ] {
        append_in_batches(&host, "web.archive", file, &bytes, 700_000);
        stored.insert(format!("web.archive/{file}"), bytes);
    }

    // The discovery route redirects to the agent route, which streams the archive.
    let r = get(&host, "/system/v1/logs/v2/task/web.archive/archive");
    assert_eq!(r.status, 303, "{}", r.text());
    let location = r.header("location").expect("a location").to_owned();
    assert_eq!(
        location,
        file_path(&task, "files/archive"),
        "the agent route of the archive"
    );
    let r = get(&host, &location);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/gzip"));
    assert!(
        r.header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment; filename=\"web.archive.tar.gz\"")),
    );
    assert_eq!(unpack(&r.body), stored, "the tar crate's view");

    // The system tar agrees, byte for byte, on disk.
    let dir = tempfile::tempdir().expect("a temp dir");
    let archive = dir.path().join("sandbox.tar.gz");
    std::fs::write(&archive, &r.body).expect("write the archive");
    let out = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&archive)
        .current_dir(dir.path())
        .output()
        .expect("tar runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (path, bytes) in &stored {
        let on_disk = std::fs::read(dir.path().join(path)).expect("extracted file");
        assert!(on_disk == *bytes, "{path} differs after tar xzf");
    }

    // HEAD: the same headers, no body; an unknown task is a problem, not a stream.
    let r = send(&host, "HEAD", &location, None, b"");
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    get(&host, "/system/v1/logs/v2/task/nope/archive").problem(404);
    let other_agent = location.replace("/agent/agent-1/", "/agent/agent-2/");
    get(&host, &other_agent).problem(404);
}

#[test]
fn a_sandbox_over_the_archive_limit_is_pointed_at_jobs() {
    let host = host_with(HostOptions {
        variables: vec![("max_archive_bytes".into(), "1000".into())],
        ..Default::default()
    });
    let task = register(&host, "big.1", "agent-1", false);
    assert_eq!(
        append(&host, "big.1", "stdout", &log_text("big", 50)).status,
        200
    );
    let p = get(&host, &file_path(&task, "files/archive")).problem(413);
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("logCollectionJobs"))
    );
}

/// Everything about one job, start to end: in progress (409), a part that
/// fails and is listed in the manifest, retry, extend, download, delete.
#[test]
fn a_job_lifecycle_with_retry_extend_and_delete() {
    // Tiny steps, so the job is visibly IN_PROGRESS across many requests.
    let host = host_with(HostOptions {
        variables: vec![("job_step_ms".into(), "1".into())],
        ..Default::default()
    });
    register(&host, "api.1", "agent-1", false);
    register(&host, "api.2", "agent-2", true);
    let big = log_text("api", 90_000); // ~9 MiB: several parts
    append_in_batches(&host, "api.1", "stdout", &big, 4 << 20);
    assert_eq!(
        append(&host, "api.1", "stderr", b"token=hunter2 failed\n").status,
        200
    );
    assert_eq!(
        append(&host, "api.2", "stdout", &log_text("pod", 10)).status,
        200
    );
    let entries: String = (0..40)
        .map(|i| {
            format!(
                "{{\"MESSAGE\":\"leader {i} at 10.0.0.{i}\",\"_SYSTEMD_UNIT\":\"dcos-mesos-master.service\",\"__REALTIME_TIMESTAMP\":\"{}\"}}\n",
                1_700_000_000_000_000u64 + i * 1_000_000
            )
        })
        .collect();
    let r = send(
        &host,
        "POST",
        "/system/v1/logs/v2/ingest/component",
        Some("application/x-ndjson"),
        entries.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    let r = post_job(
        &host,
        json!({
            "tasks": ["api.1", "api.2", "api.3"],
            "components": ["dcos-mesos-master"],
            "redacted": true,
        }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let job = r.json();
    let id = job["id"].as_str().expect("an id").to_owned();
    assert_eq!(r.header("location"), Some(format!("{JOBS}/{id}").as_str()));
    assert_eq!(job["status"], "IN_PROGRESS");
    assert_eq!(job["groupId"], "5f0c8a2be4b0a1d2c3e4f5a6");

    // Still collecting: the download is refused, with a hint.
    let p = get(&host, &format!("{JOBS}/{id}/download")).problem(409);
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("IN_PROGRESS"))
    );

    // Listed while in progress.
    let list = get(&host, JOBS).json();
    assert_eq!(list["totalCount"], 1);
    assert_eq!(list["results"][0]["id"], id.as_str());

    let (job, polls) = poll(&host, &id);
    assert!(polls > 3, "collected in steps, not at once ({polls} polls)");
    // api.3 does not exist: the job fails in part.
    assert_eq!(job["status"], "FAILURE", "{job:#}");
    let failed: Vec<&Value> = job["childJobs"]
        .as_array()
        .expect("children")
        .iter()
        .filter(|c| c["status"] == "FAILURE")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["task"], "api.3");

    // What failed in part still downloads; the manifest says what is missing.
    let r = get(&host, &format!("{JOBS}/{id}/download"));
    assert_eq!(r.status, 200, "{}", r.text());
    let etag_failed = r.header("etag").expect("an etag").to_owned();
    let files = unpack(&r.body);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "MANIFEST.json",
            "agent-1/api.1/stderr",
            "agent-1/api.1/stdout",
            "agent-2/api.2/stdout",
            "journal/dcos-mesos-master/journal.log"
        ]
    );
    let manifest: Value = serde_json::from_slice(&files["MANIFEST.json"]).expect("JSON");
    assert_eq!(manifest["missing"].as_array().map(Vec::len), Some(1));
    assert_eq!(manifest["missing"][0]["source"]["task"], "api.3");
    assert!(
        manifest["missing"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("no task"))
    );
    let mut listed: Vec<&str> = manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    listed.sort_unstable();
    assert_eq!(listed, names[1..], "the manifest lists every other file");
    for f in manifest["files"].as_array().expect("files") {
        let data = &files[f["path"].as_str().expect("path")];
        assert_eq!(f["size"], data.len());
        assert_eq!(f["sha256"], sha256(data).as_str());
    }
    // Redacted, length kept: the same lines with secrets masked.
    let stdout = &files["agent-1/api.1/stdout"];
    assert_eq!(stdout.len(), big.len());
    let text = String::from_utf8_lossy(stdout);
    assert!(!text.contains("carol@example.org") && !text.contains("192.168."));
    assert_eq!(text.lines().count(), 90_000);
    assert_eq!(files["agent-1/api.1/stderr"], b"token=******* failed\n");
    let journal =
        String::from_utf8_lossy(&files["journal/dcos-mesos-master/journal.log"]).into_owned();
    assert_eq!(journal.lines().count(), 40);
    assert!(journal.contains(": leader 39 at ********"), "{journal}");

    // Not retryable while it has nothing to retry? It has: api.3 appears, retry.
    register(&host, "api.3", "agent-3", false);
    assert_eq!(
        append(&host, "api.3", "stdout", b"late but here\n").status,
        200
    );
    let r = send(&host, "PUT", &format!("{JOBS}/{id}/retry"), None, b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "IN_PROGRESS");
    let (job, _) = poll(&host, &id);
    assert_eq!(job["status"], "SUCCESS", "{job:#}");
    let r = get(&host, &format!("{JOBS}/{id}/download"));
    assert_ne!(
        r.header("etag"),
        Some(etag_failed.as_str()),
        "a new archive, a new tag"
    );
    let files = unpack(&r.body);
    assert_eq!(files["agent-3/api.3/stdout"], b"late but here\n");
    assert_eq!(files["agent-1/api.1/stdout"].len(), big.len());
    let manifest: Value = serde_json::from_slice(&files["MANIFEST.json"]).expect("JSON");
    assert_eq!(manifest["missing"], json!([]));
    assert_eq!(manifest["files"].as_array().map(Vec::len), Some(5));
    // A successful job has nothing to retry.
    send(&host, "PUT", &format!("{JOBS}/{id}/retry"), None, b"").problem(409);

    // Extend: later is fine, earlier is refused.
    let later = rfc3339_in(20 * 86_400);
    let r = send(
        &host,
        "PATCH",
        &format!("{JOBS}/{id}"),
        Some("application/json"),
        json!({"expirationDate": later}).to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["expirationDate"], later.as_str());
    let sooner = rfc3339_in(86_400);
    send(
        &host,
        "PATCH",
        &format!("{JOBS}/{id}"),
        Some("application/json"),
        json!({"expirationDate": sooner}).to_string().as_bytes(),
    )
    .problem(400);

    // Delete: the job, its archive and its parts are gone.
    let r = send(&host, "DELETE", &format!("{JOBS}/{id}"), None, b"");
    assert_eq!(r.status, 204, "{}", r.text());
    get(&host, &format!("{JOBS}/{id}")).problem(404);
    get(&host, &format!("{JOBS}/{id}/download")).problem(404);
    assert_eq!(get(&host, JOBS).json()["totalCount"], 0);
    // Nothing of the job is left but the group's (now empty) index.
    assert_eq!(
        job_keys(&host),
        [
            "jobs/5f0c8a2be4b0a1d2c3e4f5a6",
            "jobs/5f0c8a2be4b0a1d2c3e4f5a6#born"
        ]
    );
}

/// Every stored key that belongs to a job: records, indexes, archive parts.
/// Keys of job records and (with the embedded blob store's `blob/` prefix
/// taken off) of job parts.
fn job_keys(host: &TestHost) -> Vec<String> {
    let mut keys: Vec<String> = stored_keys(host, "job")
        .into_iter()
        .map(|k| k.strip_prefix("blob/").map(str::to_owned).unwrap_or(k))
        .filter(|k| k.starts_with("job"))
        .collect();
    keys.sort();
    keys
}

#[test]
fn an_expired_job_is_gone() {
    let host = host();
    register(&host, "exp.1", "agent-1", false);
    assert_eq!(
        append(&host, "exp.1", "stdout", &log_text("exp", 100)).status,
        200
    );
    let r = post_job(
        &host,
        json!({"tasks": ["exp.1"], "expirationDate": rfc3339_in(3)}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let (job, _) = poll(&host, &id);
    assert_eq!(job["status"], "SUCCESS");
    assert_eq!(get(&host, &format!("{JOBS}/{id}/download")).status, 200);
    std::thread::sleep(Duration::from_secs(4));
    let job = get(&host, &format!("{JOBS}/{id}")).json();
    assert_eq!(job["status"], "EXPIRED", "{job:#}");
    assert!(job.get("downloadUrl").is_none());
    let p = get(&host, &format!("{JOBS}/{id}/download")).problem(410);
    assert!(p["detail"].as_str().is_some_and(|d| d.contains("expired")));
    // An expired job cannot be extended or retried back to life.
    send(
        &host,
        "PATCH",
        &format!("{JOBS}/{id}"),
        Some("application/json"),
        json!({"expirationDate": rfc3339_in(86_400)})
            .to_string()
            .as_bytes(),
    )
    .problem(410);
    send(&host, "PUT", &format!("{JOBS}/{id}/retry"), None, b"").problem(410);
    // The archive's parts are deleted; the record (EXPIRED) and the index remain.
    let left = job_keys(&host);
    assert!(left.iter().all(|k| !k.starts_with("jobpart/")), "{left:?}");
    assert!(left.contains(&format!("job/5f0c8a2be4b0a1d2c3e4f5a6/{id}")));
}

/// A download cut at a random byte and resumed with `Range` + `If-Range`
/// yields exactly the bytes of an uncut one.
#[test]
fn a_cut_download_resumes_with_range_to_the_same_sha256() {
    let host = host();
    register(&host, "dl.1", "agent-1", false);
    for file in ["stdout", "stderr", "app.log"] {
        let text = log_text(file, 12_000);
        assert_eq!(append(&host, "dl.1", file, &text).status, 200);
    }
    let r = post_job(&host, json!({"tasks": ["dl.1"]}));
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let (job, _) = poll(&host, &id);
    assert_eq!(job["status"], "SUCCESS");
    let url = format!("{JOBS}/{id}/download");

    let whole = get(&host, &url);
    assert_eq!(whole.status, 200);
    let size = whole.body.len();
    assert_eq!(
        whole.header("content-length"),
        Some(size.to_string().as_str())
    );
    assert_eq!(job["downloadSizeBytes"], size);
    let etag = whole.header("etag").expect("an etag").to_owned();
    let head = send(&host, "HEAD", &url, None, b"");
    assert_eq!(
        head.header("content-length"),
        Some(size.to_string().as_str())
    );
    assert_eq!(head.header("etag"), Some(etag.as_str()));

    // Cut: read a random number of bytes, then drop the connection.
    let cut = random_below(size as u64 - 1) as usize + 1;
    let resp = client()
        .get(host.url(&url))
        .header("authorization", &superuser())
        .call()
        .expect("request");
    let mut partial = vec![0; cut];
    resp.into_body()
        .into_reader()
        .read_exact(&mut partial)
        .expect("first bytes");
    // Resume from the cut.
    let r = get_with(
        &host,
        &url,
        &[("range", &format!("bytes={cut}-")), ("if-range", &etag)],
    );
    assert_eq!(r.status, 206, "cut at {cut}: {}", r.text());
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes {cut}-{}/{size}", size - 1).as_str())
    );
    partial.extend_from_slice(&r.body);
    assert_eq!(
        sha256(&partial),
        sha256(&whole.body),
        "cut at {cut} of {size}"
    );
    assert_eq!(unpack(&partial).len(), 4);

    // A stale If-Range gets the whole archive; past the end is a 416.
    let r = get_with(
        &host,
        &url,
        &[("range", "bytes=10-"), ("if-range", "\"old\"")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), size);
    let r = get_with(&host, &url, &[("range", &format!("bytes={size}-"))]);
    r.problem(416);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes */{size}").as_str())
    );
    // Parts of any shape, concatenated, are the archive.
    let mut pieces = Vec::new();
    let mut at = 0;
    while at < size {
        let end = (at + 100_000).min(size) - 1;
        let r = get_with(&host, &url, &[("range", &format!("bytes={at}-{end}"))]);
        assert_eq!(r.status, 206);
        pieces.extend_from_slice(&r.body);
        at = end + 1;
    }
    assert_eq!(sha256(&pieces), sha256(&whole.body));
}

#[test]
fn jobs_routes_answer_bad_requests_with_problems() {
    let host = host();
    let rows = stored_rows(host.state_dir());
    for body in [
        json!({}),
        json!({"tasks": ["../../etc"]}),
        json!({"tasks": ["t"], "since": "yesterday"}),
        json!({"tasks": ["t"], "sizeRequestedPerFileBytes": 0}),
        json!({"tasks": ["t"], "expirationDate": "2001-01-01T00:00:00Z"}),
        json!({"tasks": ["t"], "expirationDate": rfc3339_in(400 * 86_400)}),
        json!({"tasks": ["t"], "resourceType": "CLUSTER"}),
        json!({"labels": {"app": "none-such"}}),
    ] {
        post_job(&host, body).problem(400);
    }
    send(&host, "POST", JOBS, Some("text/plain"), b"{}").problem(415);
    send(&host, "POST", JOBS, Some("application/json"), b"{not json").problem(400);
    send(&host, "DELETE", JOBS, None, b"").problem(405);
    send(&host, "POST", &format!("{JOBS}/abc/download"), None, b"").problem(405);
    get(&host, &format!("{JOBS}/no-such-job")).problem(404);
    get(&host, &format!("{JOBS}/no-such-job/download")).problem(404);
    get(&host, &format!("{JOBS}/a/b/c")).problem(404);
    get(&host, "/api/v1/groups/%2e%2e/logCollectionJobs").problem(400);
    // A group id is an ObjectId, on both prefixes.
    for bad in ["ops", "5f0c8a2be4b0a1d2c3e4f5a", "5f0c8a2be4b0a1d2c3e4f5az"] {
        for prefix in ["/api/public/v1.0/groups", "/api/v1/groups"] {
            let p = get(&host, &format!("{prefix}/{bad}/logCollectionJobs")).problem(400);
            assert_eq!(p["parameter"], "group_id", "{prefix}/{bad}");
        }
    }
    // The first prefix stays an alias of MongoDB's.
    let alias = get(
        &host,
        "/api/v1/groups/5f0c8a2be4b0a1d2c3e4f5a6/logCollectionJobs",
    );
    assert_eq!(alias.status, 200, "{}", alias.text());
    assert_eq!(alias.json(), get(&host, JOBS).json());
    get(&host, &format!("{JOBS}?itemsPerPage=0")).problem(400);
    assert_eq!(stored_rows(host.state_dir()), rows, "nothing stored");
}

/// A random number below `n`, seeded by the OS (no extra crate for one number).
fn random_below(n: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(n);
    let r = h.finish() % n;
    eprintln!("random cut: {r} of {n}");
    r
}

/// A step killed by the host in the middle of a collection (Spin's request
/// limit, an OOM, a deploy) leaves a job that the next poll resumes: the
/// archive ends up whole and equal to the stored bytes, and no part written
/// by the killed step is left behind.
#[test]
fn a_step_killed_mid_collection_leaves_a_job_that_resumes() {
    let state = tempfile::tempdir().expect("a state dir");
    let opts = |vars: &[(&str, &str)], timeout: Option<Duration>| HostOptions {
        state_dir: Some(state.path().to_owned()),
        variables: vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        request_timeout: timeout,
        ..Default::default()
    };
    // ~75 MiB: collecting it takes a step about a second here, well past
    // the 300 ms cut (25 MiB once finished inside it on a fast machine).
    let big = log_text("crash", 750_000);
    {
        let host = host_with(opts(&[], None));
        register(&host, "crash.1", "agent-1", false);
        append_in_batches(&host, "crash.1", "stdout", &big, 4 << 20);
    }
    {
        // The step may take 5 s; the host kills every request after 300 ms.
        let host = host_with(opts(
            &[("job_step_ms", "5000")],
            Some(Duration::from_millis(300)),
        ));
        let r = post_job(&host, json!({"tasks": ["crash.1"]}));
        assert_eq!(r.status, 500, "the host cut the request: {}", r.text());
    }
    let host = host_with(opts(&[("job_step_ms", "500")], None));
    let list = get(&host, JOBS).json();
    assert_eq!(
        list["totalCount"], 1,
        "the job was stored before the step ran"
    );
    let id = list["results"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(list["results"][0]["status"], "IN_PROGRESS");
    let collected = list["results"][0]["childJobs"][0]["collectedBytes"]
        .as_u64()
        .expect("progress");
    // How far the killed step got depends on the machine; it did not finish.
    eprintln!(
        "the killed step committed {collected} of {} bytes",
        big.len()
    );
    assert!(collected < big.len() as u64);
    // The dead step's lease (budget + 2 s) runs out; then polls resume it.
    std::thread::sleep(Duration::from_millis(7_500));
    let (job, _) = poll(&host, &id);
    assert_eq!(job["status"], "SUCCESS", "{job:#}");
    let r = get(&host, &format!("{JOBS}/{id}/download"));
    assert_eq!(r.status, 200);
    let files = unpack(&r.body);
    assert!(
        files["agent-1/crash.1/stdout"] == big,
        "the archive holds the stored bytes"
    );

    // Every stored part is one the record lists: nothing leaked.
    let record: Value = {
        let db = rusqlite::Connection::open(state.path().join("sqlite_key_value.db"))
            .expect("the default store");
        let bytes: Vec<u8> = db
            .query_row(
                "SELECT value FROM spin_key_value WHERE key = ?1",
                [format!("job/5f0c8a2be4b0a1d2c3e4f5a6/{id}")],
                |r| r.get(0),
            )
            .expect("the job record");
        serde_json::from_slice(&bytes).expect("JSON")
    };
    let mut listed: Vec<String> = record["archive"]["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .chain(std::iter::once(&record["archive"]["last"]))
        .map(|p| p["key"].as_str().expect("key").to_owned())
        .collect();
    listed.sort();
    let mut stored: Vec<String> = job_keys(&host)
        .into_iter()
        .filter(|k| k.starts_with("jobpart/") && !k.contains('#'))
        .collect();
    stored.sort();
    assert_eq!(stored, listed);
    let chunks_of_unlisted = job_keys(&host)
        .into_iter()
        .filter(|k| k.starts_with("jobpart/"))
        .filter(|k| {
            !listed
                .iter()
                .any(|l| k == l || k.starts_with(&format!("{l}#")))
        })
        .count();
    assert_eq!(chunks_of_unlisted, 0);
}

/// Auth on the archive family: the sandbox archive is an agent route, its
/// discovery redirect a system-logs route, and every jobs route needs the
/// jobs permission (the superuser reaches all).
#[test]
fn archive_and_job_routes_are_guarded() {
    let host = host();
    let task = register(&host, "guard.1", "agent-1", false);
    assert_eq!(append(&host, "guard.1", "stdout", b"hello\n").status, 200);
    let r = post_job(&host, json!({"tasks": ["guard.1"]}));
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let (job, _) = poll(&host, &id);
    assert_eq!(job["status"], "SUCCESS");

    const AGENT: &str = "dcos:adminrouter:system:agent";
    const LOGS: &str = "dcos:adminrouter:ops:system-logs";
    const JOBS_PERM: &str = "spin-logs:jobs";
    let archive = file_path(&task, "files/archive");
    let one = format!("{JOBS}/{id}");
    let download = format!("{one}/download");
    let retry = format!("{one}/retry");
    let route = |method, path, content_type, body| Route {
        method,
        path,
        content_type,
        body,
    };
    let create = br#"{"tasks":["guard.1"]}"#;
    for (r, right, wrong, ok) in [
        (route("GET", &archive, None, b""), AGENT, LOGS, 200),
        (
            route("GET", "/system/v1/logs/v2/task/guard.1/archive", None, b""),
            LOGS,
            AGENT,
            303,
        ),
        (route("GET", JOBS, None, b""), JOBS_PERM, LOGS, 200),
        (
            route("POST", JOBS, Some("application/json"), create),
            JOBS_PERM,
            AGENT,
            201,
        ),
        (route("GET", &one, None, b""), JOBS_PERM, LOGS, 200),
        (route("GET", &download, None, b""), JOBS_PERM, AGENT, 200),
        (route("PUT", &retry, None, b""), JOBS_PERM, LOGS, 409),
    ] {
        assert_guarded(&host, &r, right, wrong, ok);
    }
}

/// Archives and job creation are "heavy": 10 a minute per caller by default.
#[test]
fn heavy_archive_routes_are_limited_per_caller() {
    let host = host_with(HostOptions {
        variables: vec![("rate_limit_heavy".into(), "10".into())],
        ..Default::default()
    });
    let task = register(&host, "heavy.1", "agent-1", false);
    assert_eq!(append(&host, "heavy.1", "stdout", b"x\n").status, 200);
    let me = bearer(&["dcos:superuser"]);
    let replies = burst(&host, &file_path(&task, "files/archive"), &me, 4, 16);
    let ok = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 10, "exactly the limit is served");
    for r in &replies {
        assert_eq!(r.header("ratelimit-limit"), Some("10"));
        if r.status == 429 {
            r.problem(429);
            assert!(r.header("retry-after").is_some());
            assert_eq!(r.header("ratelimit-remaining"), Some("0"));
        }
    }
    // Standard routes are a separate budget: reading still works.
    assert_eq!(
        get_as(&host, &file_path(&task, "stdout"), Some(&me)).status,
        200
    );
}

/// A component that has never logged is missing, with the reason, as an
/// unknown task is; a component that logged, only outside the window, is an
/// empty file (issue 12, item 3).
#[test]
fn a_job_lists_an_unknown_component_as_missing() {
    let host = host();
    register(&host, "c.1", "agent-1", false);
    assert_eq!(append(&host, "c.1", "stdout", b"task line\n").status, 200);
    let entry =
        r#"{"MESSAGE":"old","_SYSTEMD_UNIT":"known.service","__REALTIME_TIMESTAMP":"1000000"}"#;
    let r = send(
        &host,
        "POST",
        "/system/v1/logs/v2/ingest/component",
        Some("application/x-ndjson"),
        entry.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let since = "2020-01-01T00:00:00Z";
    let r = post_job(
        &host,
        json!({"tasks": ["c.1"], "components": ["known", "never-logged"], "since": since}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let (job, _) = poll(&host, &id);
    assert_eq!(job["status"], "FAILURE", "{job:#}");
    let files = unpack(&get(&host, &format!("{JOBS}/{id}/download")).body);
    assert_eq!(
        files["journal/known/journal.log"], b"",
        "known, nothing in the window"
    );
    assert!(!files.contains_key("journal/never-logged/journal.log"));
    let manifest: Value = serde_json::from_slice(&files["MANIFEST.json"]).expect("JSON");
    let missing = manifest["missing"].as_array().expect("missing");
    assert_eq!(missing.len(), 1, "{manifest:#}");
    assert_eq!(missing[0]["source"]["component"], "never-logged");
    assert!(
        missing[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("no journal entries")),
        "{manifest:#}"
    );
}

/// A component named twice, not side by side, is collected once: one child
/// job, one archive entry, one manifest line.
#[test]
fn a_component_named_twice_is_collected_once() {
    let host = host();
    let entries = [
        r#"{"MESSAGE":"from a","_SYSTEMD_UNIT":"a.service","__REALTIME_TIMESTAMP":"1000000"}"#,
        r#"{"MESSAGE":"from b","_SYSTEMD_UNIT":"b.service","__REALTIME_TIMESTAMP":"2000000"}"#,
    ]
    .join("\n");
    let r = send(
        &host,
        "POST",
        "/system/v1/logs/v2/ingest/component",
        Some("application/x-ndjson"),
        entries.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = post_job(&host, json!({"components": ["a", "b", "a"]}));
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let (job, _) = poll(&host, &id);
    assert_eq!(job["status"], "SUCCESS", "{job:#}");
    let components: Vec<&str> = job["childJobs"]
        .as_array()
        .expect("childJobs")
        .iter()
        .filter_map(|c| c["component"].as_str())
        .collect();
    assert_eq!(components, ["a", "b"], "{job:#}");
    let gz = get(&host, &format!("{JOBS}/{id}/download")).body;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
    let paths: Vec<String> = archive
        .entries()
        .expect("a tar stream")
        .map(|e| {
            let e = e.expect("an entry");
            e.path().expect("a path").to_string_lossy().into_owned()
        })
        .collect();
    assert_eq!(
        paths,
        [
            "journal/a/journal.log",
            "journal/b/journal.log",
            "MANIFEST.json"
        ]
    );
    let files = unpack(&gz);
    let a = String::from_utf8_lossy(&files["journal/a/journal.log"]);
    assert_eq!(a.matches("from a").count(), 1, "{a}");
    let manifest: Value = serde_json::from_slice(&files["MANIFEST.json"]).expect("JSON");
    assert_eq!(
        manifest["files"].as_array().expect("files").len(),
        2,
        "{manifest:#}"
    );
}

/// A job's download token: the archive through a plain link (no header),
/// so a browser saves it to disk, and nothing else with it.
#[test]
fn a_job_download_token_reads_that_archive_and_nothing_else() {
    let host = host();
    let task = register(&host, "t", "agent-a", false);
    append(&host, "t", "stdout", b"to collect\n");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let r = post_job(&host, json!({"tasks": ["t"]}));
        assert_eq!(r.status, 201, "{}", r.text());
        let id = r.json()["id"].as_str().expect("id").to_owned();
        assert_eq!(poll(&host, &id).0["status"], "SUCCESS");
        ids.push(id);
    }
    let (id, other) = (&ids[0], &ids[1]);
    let minted = send(&host, "POST", &format!("{JOBS}/{id}/token"), None, b"");
    assert_eq!(minted.status, 201, "{}", minted.text());
    assert_eq!(minted.header("cache-control"), Some("no-store"));
    let doc = minted.json();
    let token = doc["token"].as_str().expect("token");
    let url = doc["url"].as_str().expect("url");
    assert_eq!(url, format!("{JOBS}/{id}/download?token={token}"));
    assert_eq!(doc["expires_in"], 300);

    let with_header = get(&host, &format!("{JOBS}/{id}/download"));
    let with_token = get_as(&host, url, None);
    assert_eq!(with_token.status, 200, "{}", with_token.text());
    assert_eq!(with_token.body, with_header.body);
    assert!(with_token.body.starts_with(&[0x1f, 0x8b]));

    // Nothing else: the job itself, another job's archive, a write, the task.
    for path in [
        format!("{JOBS}/{id}?token={token}"),
        format!("{JOBS}/{other}/download?token={token}"),
        format!("{}?token={token}", file_path(&task, "stdout")),
    ] {
        get_as(&host, &path, None).problem(403);
    }
    let r = send_as(
        &host,
        "DELETE",
        &format!("{JOBS}/{id}?token={token}"),
        None,
        &[],
        None,
        b"",
    );
    r.problem(403);
    // A task's URL token does not open a job's archive either.
    let task_token = url_token(&host, "t", 60);
    get_as(
        &host,
        &format!("{JOBS}/{id}/download?token={task_token}"),
        None,
    )
    .problem(403);

    // Minting takes the jobs permission, a job that exists, a sane ttl.
    let path = format!("{JOBS}/{id}/token");
    let logs_only = bearer(&[SYSTEM_LOGS]);
    send_as(&host, "POST", &path, Some(&logs_only), &[], None, b"").problem(403);
    let jobs_only = bearer(&[spin_logs::routes::JOBS]);
    assert_eq!(
        send_as(&host, "POST", &path, Some(&jobs_only), &[], None, b"").status,
        201
    );
    send(
        &host,
        "POST",
        &format!("{JOBS}/{}/token", "0".repeat(24)),
        None,
        b"",
    )
    .problem(404);
    let ttl = send(
        &host,
        "POST",
        &path,
        Some("application/json"),
        br#"{"ttl": 0}"#,
    );
    assert_eq!(ttl.problem(400)["parameter"], "ttl");
    let r = send(
        &host,
        "POST",
        &path,
        Some("application/json"),
        br#"{"ttl": 60}"#,
    );
    assert_eq!(r.json()["expires_in"], 60);
    send(&host, "POST", &path, Some("application/json"), b"{").problem(400);
    send(&host, "GET", &path, None, b"").problem(405);
}
