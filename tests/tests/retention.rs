//! End-to-end retention (issue 11): archive policies, stepped runs that pack
//! sealed pages into compressed objects (in the embedded store, and in a real
//! S3 server), reads that go through to them, the archive catalog, and expiry.

mod common;

use common::*;
use serde_json::{Value, json};
use spin_logs_tests::services::{RedisServer, S3Server};
use spin_logs_tests::{HostOptions, TestHost};
use std::io::Read;

const K8S: &str = "/k8s/v1";
const ARCHIVE_LIMIT: &str = "30000";

fn retention_host(variables: Vec<(String, String)>) -> TestHost {
    retention_host_with(variables, None)
}

fn retention_host_with(
    mut variables: Vec<(String, String)>,
    runtime_config: Option<std::path::PathBuf>,
) -> TestHost {
    // `max_archive_bytes` between what `fill` appends (~54 KB) and what
    // expiry keeps (its tail): a sandbox archive is refused before, served
    // after (it counts kept bytes).
    variables.extend(
        [
            ("archive_grace_ms", "0"),
            ("job_step_ms", "200"),
            ("max_archive_bytes", ARCHIVE_LIMIT),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    host_with(HostOptions {
        variables,
        runtime_config,
        ..HostOptions::default()
    })
}

/// A task labelled app=shop whose stdout spans two sealed pages and a tail.
fn fill(host: &TestHost) -> (Value, String) {
    let body = json!({"name": "shop", "agent_id": "agent-1", "framework_id": "fw-1",
        "container_id": "shop-c", "labels": {"app": "shop", "namespace": "prod"}});
    let r = send(
        host,
        "PUT",
        &format!("{INGEST}/tasks/shop.1"),
        Some("application/json"),
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let task = r.json();
    register(host, "other.1", "agent-1", false);
    assert_eq!(
        append(host, "other.1", "stdout", b"untouched\n").status,
        200
    );
    let mut all = String::new();
    for i in 0..300 {
        let batch: String = (0..4)
            .map(|j| {
                format!(
                    "GET /item/{i}/{j} 200 user=bob latency_ms={}\n",
                    (i * j) % 97
                )
            })
            .collect();
        let r = append(host, "shop.1", "stdout", batch.as_bytes());
        assert_eq!(r.status, 200, "{}", r.text());
        all.push_str(&batch);
    }
    (task, all)
}

fn run_to_done(host: &TestHost, policy: &str) -> (Value, usize) {
    for steps in 1..500 {
        let r = post(
            host,
            &format!("{K8S}/archive/start"),
            &json!({"policy_id": policy}),
        );
        assert!(r.status == 200 || r.status == 202, "{}", r.text());
        let v = r.json();
        if v["status"] == "DONE" {
            assert_eq!(r.status, 200);
            return (v, steps);
        }
        assert_eq!(r.status, 202, "an unfinished run is 202: {v}");
    }
    panic!("the archive run never finished");
}

/// The whole scenario; `stored` lists the blob keys the backend holds.
fn archive_then_expire(host: &TestHost, stored: &dyn Fn() -> Vec<String>) {
    let (task, all) = fill(host);
    let stdout = file_path(&task, "stdout");
    assert!(all.len() > ARCHIVE_LIMIT.parse().unwrap_or(usize::MAX));
    let too_big = get(host, &file_path(&task, "files/archive"));
    assert_eq!(too_big.status, 413, "{}", too_big.text());
    let hot_before = stored().iter().filter(|k| k.contains("/s/")).count();

    // Only the archive permission edits policies; a reader may look.
    let reader = bearer(&["dcos:adminrouter:ops:system-logs"]);
    let policy = json!({"name": "shop", "selector": {"labels": {"app": "shop"}},
        "archive_after": "0s", "compression": "gzip", "compression_level": 6});
    let post_policy = |auth: &str, body: &Value| {
        send_as(
            host,
            "POST",
            &format!("{K8S}/archive/policies"),
            Some(auth),
            &[],
            Some("application/json"),
            body.to_string().as_bytes(),
        )
    };
    let denied = post_policy(&reader, &policy);
    assert_eq!(denied.status, 403, "{}", denied.text());
    let archivist = bearer(&["spin-logs:archive"]);
    // An age past a hundred years is refused (as microseconds it wrapped
    // to under a second, and the run expired everything).
    let mut forever = policy.clone();
    forever["delete_after"] = json!(18_446_744_073_710u64);
    let refused = post_policy(&archivist, &forever);
    assert_eq!(refused.problem(400)["parameter"], "delete_after");
    let created = post_policy(&archivist, &policy);
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_str().expect("policy id").to_owned();
    assert_eq!(
        created.header("location"),
        Some(format!("{K8S}/archive/policies?id={id}").as_str())
    );
    let listed = get_as(host, &format!("{K8S}/archive/policies"), Some(&reader));
    assert_eq!(listed.json()["policies"][0]["archive_after_s"], 0);

    let (run, steps) = run_to_done(host, &id);
    assert_eq!(run["stats"]["pages_archived"], 2, "{run}");
    assert_eq!(
        run["progress"]["logs_total"], 1,
        "app=shop's file only: {run}"
    );
    eprintln!("archived in {steps} steps: {run}");

    // Reads go through to the archive: whole, the last lines, a range.
    assert_eq!(get(host, &stdout).text(), all);
    let last = get(host, &format!("{stdout}?cursor=END&skip=-2")).text();
    assert!(all.ends_with(&last) && last.lines().count() == 2, "{last}");
    let first = get(host, &format!("{stdout}?cursor=BEG&limit=3")).text();
    assert!(
        all.starts_with(&first) && first.lines().count() == 3,
        "{first}"
    );
    let part = get_with(
        host,
        &format!("{stdout}/download"),
        &[("range", "bytes=1000-1099")],
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.text(), &all[1000..1100]);

    let keys = stored();
    let hot_after = keys.iter().filter(|k| k.contains("/s/")).count();
    assert_eq!(
        hot_before - hot_after,
        256,
        "two pages of hot segments deleted"
    );
    assert_eq!(
        keys.iter().filter(|k| k.ends_with(".gz")).count(),
        2,
        "{keys:?}"
    );
    assert_eq!(
        keys.iter().filter(|k| k.ends_with(".gz.json")).count(),
        2,
        "manifests beside them"
    );

    // The catalog: by labels and time, an object's lines, its .gz, the stats.
    let meta = get_as(
        host,
        &format!("{K8S}/s3/metadata?labels=app=shop,namespace=prod"),
        Some(&reader),
    )
    .json();
    let objects = meta["objects"].as_array().expect("objects").clone();
    assert_eq!(objects.len(), 2, "{meta}");
    assert_eq!(meta["has_more"], false);
    let o = &objects[0];
    let (start, end) = (
        o["offset"].as_u64().unwrap() as usize,
        o["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(o["task_id"], "shop.1");
    let future = get(
        host,
        &format!("{K8S}/s3/metadata?since=2999-01-01T00:00:00Z"),
    )
    .json();
    assert_eq!(future["objects"].as_array().unwrap().len(), 0);
    let content = format!("{K8S}/s3/content?id={}", o["id"].as_str().unwrap());
    assert_eq!(get(host, &content).text(), &all[start..end]);
    let ranged = get_with(host, &content, &[("range", "bytes=5-24")]);
    assert_eq!(
        (ranged.status, ranged.text()),
        (206, all[start + 5..start + 25].to_owned())
    );
    let gz = get_with(host, &content, &[("accept", "application/gzip")]);
    assert_eq!(gz.header("content-type"), Some("application/gzip"));
    let mut plain = String::new();
    flate2::read::MultiGzDecoder::new(&gz.body[..])
        .read_to_string(&mut plain)
        .expect("a valid .gz");
    assert_eq!(plain, &all[start..end]);
    let stats = get(host, &format!("{K8S}/s3/stats")).json();
    assert_eq!(stats["namespaces"]["prod"]["objects"], 2, "{stats}");
    assert!(
        stats["total"]["compression_ratio"].as_f64().unwrap() < 0.7,
        "{stats}"
    );
    let info = get(host, &format!("{K8S}/storage/info")).json();
    let archived: u64 = objects.iter().map(|o| o["bytes"].as_u64().unwrap()).sum();
    assert_eq!(info["bytes"]["archived"], archived, "{info}");
    assert_eq!(
        info["bytes"]["hot"].as_u64().unwrap(),
        (all.len() + "untouched\n".len()) as u64 - archived,
        "{info}"
    );

    // Keep nothing sealed: the pages go, positions and the tail stay.
    let line_1100 = get(host, &format!("{stdout}?cursor=BEG&skip=1100&limit=1")).text();
    let replaced = send_as(host, "PUT", &format!("{K8S}/archive/policies?id={id}"), Some(&archivist), &[],
        Some("application/json"),
        json!({"name": "shop", "selector": {"labels": {"app": "shop"}}, "archive_after": 0, "delete_after": "0s"})
            .to_string().as_bytes());
    assert_eq!(replaced.status, 200, "{}", replaced.text());
    let (run, _) = run_to_done(host, &id);
    assert_eq!(run["stats"]["pages_expired"], 2, "{run}");
    let kept = get(host, &stdout).text();
    assert!(!kept.is_empty() && all.ends_with(&kept) && kept.len() < all.len() / 2);
    // Read as JSON from the start, lines carry their own offsets: the first
    // kept line's, then where the one before it ended.
    let r = get_with(
        host,
        &format!("{stdout}?cursor=BEG&limit=2"),
        &[("accept", "application/json")],
    );
    let offsets: Vec<u64> = r
        .text()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("JSON")["offset"]
                .as_u64()
                .expect("offset")
        })
        .collect();
    let first = (all.len() - kept.len()) as u64;
    let first_line = kept.lines().next().expect("a line").len() as u64 + 1;
    assert_eq!(offsets, [first, first + first_line]);
    downloads_are_of_what_is_kept(host, &task, &kept);
    assert_eq!(
        get(host, &format!("{stdout}?cursor=BEG&skip=1100&limit=1")).text(),
        line_1100,
        "line 1100 is still line 1100"
    );
    assert_eq!(get(host, &content).status, 410);
    let gone = get(host, &format!("{K8S}/s3/metadata")).json();
    assert_eq!(gone["objects"].as_array().unwrap().len(), 0);
    let keys = stored();
    assert_eq!(
        keys.iter().filter(|k| k.contains("archive/")).count(),
        0,
        "{keys:?}"
    );
    let jobs = get(host, &format!("{K8S}/archive/jobs?policy_id={id}")).json();
    assert_eq!(jobs["total"], 2, "{jobs}");
    // The other task was never touched.
    assert_eq!(
        get(
            host,
            &format!(
                "{}?cursor=BEG",
                file_path(&register(host, "other.1", "agent-1", false), "stdout")
            )
        )
        .text(),
        "untouched\n"
    );
}

/// After expiry a file is what retention kept, for everything that
/// downloads it: the file (whole and a range), the sandbox's `.tar.gz` and a
/// log collection job's archive, whose entries' sizes are the kept lengths.
fn downloads_are_of_what_is_kept(host: &TestHost, task: &Value, kept: &str) {
    let file = file_path(task, "stdout/download");
    let whole = get(host, &file);
    assert_eq!((whole.status, whole.text()), (200, kept.to_owned()));
    // Retention moved the file's start: a range holds only for the object
    // an If-Range names (a resume begun before the cut would otherwise
    // splice two starts); without one, the whole file.
    let etag = whole.header("etag").expect("an etag").to_owned();
    let part = get_with(host, &file, &[("range", "bytes=0-9"), ("if-range", &etag)]);
    assert_eq!((part.status, part.text()), (206, kept[..10].to_owned()));
    let unpinned = get_with(host, &file, &[("range", "bytes=0-9")]);
    assert_eq!((unpinned.status, unpinned.text()), (200, kept.to_owned()));

    // Under `max_archive_bytes` now: it counts what is kept.
    let sandbox = get(host, &file_path(task, "files/archive"));
    assert_eq!(sandbox.status, 200, "{}", sandbox.text());
    assert_eq!(entry(&sandbox.body, "shop.1/stdout"), kept);

    let jobs = "/api/public/v1.0/groups/5f0c8a2be4b0a1d2c3e4f5a6/logCollectionJobs";
    let body = json!({"tasks": ["shop.1"]}).to_string();
    let created = send(
        host,
        "POST",
        jobs,
        Some("application/json"),
        body.as_bytes(),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let job = format!("{jobs}/{}", created.json()["id"].as_str().expect("job id"));
    let mut done = get(host, &job).json();
    for _ in 0..1_000 {
        if done["status"] != "IN_PROGRESS" {
            break;
        }
        done = get(host, &job).json();
    }
    assert_eq!(done["status"], "SUCCESS", "{done}");
    let archive = get(host, &format!("{job}/download"));
    assert_eq!(archive.status, 200, "{}", archive.text());
    assert_eq!(entry(&archive.body, "/shop.1/stdout"), kept);
}

/// The text of the `.tar.gz` entry whose path ends with `suffix`.
fn entry(gz: &[u8], suffix: &str) -> String {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    for e in tar.entries().expect("a .tar.gz") {
        let mut e = e.expect("an entry");
        let path = e.path().expect("a path").to_string_lossy().into_owned();
        if path.ends_with(suffix) {
            let mut text = String::new();
            e.read_to_string(&mut text).expect("text");
            return text;
        }
    }
    panic!("no entry ends with {suffix}");
}

/// Every object key in the S3 server's bucket.
fn bucket_keys(server: &S3Server) -> Vec<String> {
    server
        .objects()
        .expect("objects")
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

#[test]
fn archives_and_expires_on_the_embedded_store() {
    let host = retention_host(Vec::new());
    let db = host.state_dir().join("sqlite_key_value.db");
    let stored = move || -> Vec<String> {
        let conn = rusqlite::Connection::open(&db).expect("open the store");
        let mut q = conn
            .prepare(
                "SELECT key FROM spin_key_value WHERE key LIKE 'blob/%' AND key NOT LIKE '%#%'",
            )
            .expect("query");
        q.query_map([], |row| row.get::<_, String>(0))
            .expect("rows")
            .map(|k| k.expect("key").trim_start_matches("blob/").to_owned())
            .collect()
    };
    archive_then_expire(&host, &stored);
}

#[test]
fn archives_into_s3_and_reads_through() {
    let server = S3Server::start().expect("s3s-fs");
    let host = retention_host(server.variables());
    let info = get(&host, &format!("{K8S}/storage/info")).json();
    assert_eq!(info["blobs"]["backend"], "s3", "{info}");
    assert_eq!(info["blobs"]["bucket"], S3Server::BUCKET);
    let stored = || bucket_keys(&server);
    archive_then_expire(&host, &stored);
}

/// Redis for the metadata (page rewrites, catalog and run records all by
/// Spin's Redis compare-and-swap, counters in its ASCII form), S3 for bytes.
#[test]
fn archives_with_metadata_on_redis_and_bytes_in_s3() {
    let redis = RedisServer::start().expect("redis-server");
    let server = S3Server::start().expect("s3s-fs");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = redis.runtime_config(dir.path(), 0).expect("runtime config");
    let host = retention_host_with(server.variables(), Some(config));
    let stored = || bucket_keys(&server);
    archive_then_expire(&host, &stored);
    // The run and catalog records are on the Redis server.
    let mut conn = redis.connection(0).expect("connection");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("archive/*")
        .query(&mut conn)
        .expect("keys");
    assert!(
        keys.iter().any(|k| k.starts_with("archive/run/")),
        "{keys:?}"
    );
    assert!(
        keys.iter().any(|k| k.starts_with("archive/catalog/")),
        "{keys:?}"
    );
}

#[test]
fn bad_retention_requests_are_problems() {
    let host = retention_host(Vec::new());
    for (method, path, ct, body, status) in [
        ("POST", "/archive/policies", Some("text/plain"), "{}", 415),
        (
            "POST",
            "/archive/policies",
            Some("application/json"),
            "{\"name\":\"x\"}",
            400,
        ),
        (
            "POST",
            "/archive/policies",
            Some("application/json"),
            "not json",
            400,
        ),
        (
            "PUT",
            "/archive/policies",
            Some("application/json"),
            "{\"name\":\"x\",\"archive_after\":1}",
            400,
        ),
        ("DELETE", "/archive/policies?id=none", None, "", 404),
        (
            "POST",
            "/archive/start",
            Some("application/json"),
            "{\"policy_id\":\"none\"}",
            404,
        ),
        ("GET", "/archive/start", None, "", 405),
        ("GET", "/archive/elsewhere", None, "", 404),
        ("GET", "/s3/content?id=zero", None, "", 400),
        ("GET", "/s3/metadata?limit=5000", None, "", 400),
    ] {
        let r = send(&host, method, &format!("{K8S}{path}"), ct, body.as_bytes());
        assert_eq!(r.status, status, "{method} {path}: {}", r.text());
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "{method} {path}"
        );
    }
    let none = get_as(&host, &format!("{K8S}/archive/policies"), None);
    assert_eq!(none.status, 401);
}
