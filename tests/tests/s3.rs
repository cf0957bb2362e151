//! End-to-end on S3 (issue 11): log bytes in a real S3-compatible server
//! (`s3s-fs`, installed and started by the harness), metadata in the
//! key-value store, outbound HTTP only to the granted endpoint.

mod common;

use common::*;
use serde_json::json;
use spin_logs_tests::HostOptions;
use spin_logs_tests::services::S3Server;
use std::io::Read;

const JOBS: &str = "/api/public/v1.0/groups/5f0c8a2be4b0a1d2c3e4f5a6/logCollectionJobs";

fn s3_host(server: &S3Server, extra: &[(&str, &str)]) -> spin_logs_tests::TestHost {
    let mut variables = server.variables();
    variables.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    host_with(HostOptions {
        variables,
        ..HostOptions::default()
    })
}

fn lines(tag: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!("{tag} line {i:05} of the log\n"))
        .collect()
}

/// Keys of the embedded blob store left in the host's SQLite store.
fn embedded_blob_rows(host: &spin_logs_tests::TestHost) -> u64 {
    let db = host.state_dir().join("sqlite_key_value.db");
    let conn = rusqlite::Connection::open(db).expect("open the store");
    conn.query_row(
        "SELECT COUNT(*) FROM spin_key_value WHERE key LIKE 'blob/%'",
        [],
        |row| row.get(0),
    )
    .expect("count")
}

#[test]
fn logs_are_stored_in_the_bucket_and_read_back_whole_and_in_ranges() {
    let server = S3Server::start().expect("s3s-fs");
    let host = s3_host(&server, &[]);
    let task = register(&host, "web.s3", "agent-1", false);
    let mut want = String::new();
    for batch in 0..5 {
        let text = lines(&format!("b{batch}"), 2_000);
        let r = append(&host, "web.s3", "stdout", text.as_bytes());
        assert_eq!(r.status, 200, "{}", r.text());
        want.push_str(&text);
    }
    let objects = server.objects().expect("objects");
    // Each segment is one gzip member (store::log::codec): every byte once,
    // compressed.
    let stored: u64 = objects.iter().map(|(_, n)| n).sum();
    let inflated: usize = objects
        .iter()
        .map(|(key, _)| {
            let member = server.object(key).expect("object");
            let mut text = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&member[..]), &mut text)
                .expect("a gzip member");
            text.len()
        })
        .sum();
    assert_eq!(inflated, want.len(), "every byte once in S3: {objects:?}");
    assert!(
        stored * 3 < want.len() as u64,
        "stored compressed: {stored}"
    );
    assert!(
        objects.len() <= 5 * 2,
        "one object per append (two when a batch crosses a segment): {objects:?}"
    );
    assert_eq!(embedded_blob_rows(&host), 0, "no log bytes in the KV store");

    // Whole, from the end, and a byte range of the download.
    assert_eq!(get(&host, &file_path(&task, "stdout")).text(), want);
    let last = get(
        &host,
        &format!("{}?cursor=END&skip=-2", file_path(&task, "stdout")),
    );
    assert_eq!(
        last.text(),
        "b4 line 01998 of the log\nb4 line 01999 of the log\n"
    );
    let part = get_with(
        &host,
        &file_path(&task, "stdout/download"),
        &[("range", "bytes=100000-100099")],
    );
    assert_eq!(part.status, 206, "{}", part.text());
    assert_eq!(part.body, want.as_bytes()[100_000..100_100]);

    // The sandbox archive streams from S3 too.
    let r = get(&host, &file_path(&task, "files/archive"));
    assert_eq!(r.status, 200, "{}", r.text());
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&r.body[..]));
    let mut entries = tar.entries().expect("tar");
    let mut entry = entries.next().expect("one entry").expect("entry");
    let mut body = String::new();
    entry.read_to_string(&mut body).expect("read");
    assert_eq!(body, want);
}

#[test]
fn a_log_collection_job_keeps_its_parts_in_the_bucket_and_deletes_them() {
    let server = S3Server::start().expect("s3s-fs");
    let host = s3_host(&server, &[]);
    register(&host, "api.1", "agent-1", false);
    let text = lines("api", 3_000);
    assert_eq!(
        append(&host, "api.1", "stdout", text.as_bytes()).status,
        200
    );
    let segments = server.objects().expect("objects").len();

    let body = json!({"tasks": ["api.1"]}).to_string();
    let r = send(
        &host,
        "POST",
        JOBS,
        Some("application/json"),
        body.as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().expect("id").to_owned();
    let mut status = String::new();
    for _ in 0..200 {
        status = get(&host, &format!("{JOBS}/{id}")).json()["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if status != "IN_PROGRESS" {
            break;
        }
    }
    assert_eq!(status, "SUCCESS");
    assert!(
        server.objects().expect("objects").len() > segments,
        "parts in S3"
    );
    let r = get(&host, &format!("{JOBS}/{id}/download"));
    assert_eq!(r.status, 200, "{}", r.text());
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&r.body[..]));
    let mut found = String::new();
    for entry in tar.entries().expect("tar") {
        let mut entry = entry.expect("entry");
        if entry.path().expect("path").ends_with("stdout") {
            entry.read_to_string(&mut found).expect("read");
        }
    }
    assert_eq!(found, text);

    let r = send(&host, "DELETE", &format!("{JOBS}/{id}"), None, b"");
    assert!(
        r.status == 204 || r.status == 200,
        "{} {}",
        r.status,
        r.text()
    );
    assert_eq!(
        server.objects().expect("objects").len(),
        segments,
        "the job's parts are gone, the logs stay"
    );
}

#[test]
fn outbound_http_reaches_only_the_granted_endpoint() {
    let server = S3Server::start().expect("s3s-fs");
    // Virtual-host style sends to `spin-logs.localhost`, which
    // `allowed_outbound_hosts = ["{{ s3_endpoint }}"]` does not grant: Spin
    // (and the test host) refuse the request, and the append fails whole.
    let endpoint = server.endpoint().replace("127.0.0.1", "localhost");
    let host = s3_host(
        &server,
        &[("s3_endpoint", &endpoint), ("s3_path_style", "false")],
    );
    register(&host, "denied.1", "agent-1", false);
    let r = append(&host, "denied.1", "stdout", b"never stored\n");
    let problem = r.problem(500);
    assert!(problem["title"].is_string(), "{problem}");
    assert!(server.objects().expect("objects").is_empty());

    // An incomplete S3 configuration is a clear deployment error, on the
    // first request that needs the object store (settings are read only
    // when a request uses them: a listing of nothing does not).
    let broken = s3_host(&server, &[("s3_bucket", "")]);
    register(&broken, "broken.1", "agent-1", false);
    let p = append(&broken, "broken.1", "stdout", b"never stored\n").problem(500);
    assert_eq!(p["status"], 500, "{p}");
}
