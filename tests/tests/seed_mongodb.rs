//! The MongoDB seed (`../shared/seeds/mongodb-log-collection-download.rst`)
//! as its users run it (issue 13): programmatic API key pairs over HTTP
//! Digest with the real `curl --digest`, the seed's download command byte for
//! byte (both `Accept` headers, `--output`), under MongoDB's own path.

mod common;

use common::*;
use serde_json::json;
use spin_logs::auth::digest::{Algorithm, ha1};
use spin_logs_tests::TestHost;
use spin_logs_tests::services::debian_binary;
use std::io::Read;

const PUBLIC: &str = "QWERTYUI";
const PRIVATE: &str = "8f14e45f-ceea-467f-a0e6-5d3c2b1a0f9e";
const GROUP: &str = "5f0c8a2be4b0a1d2c3e4f5a6";

fn digest_host() -> TestHost {
    let keys = json!([{"username": PUBLIC, "ha1_md5": ha1(Algorithm::Md5, PUBLIC, PRIVATE),
        "ha1_sha256": ha1(Algorithm::Sha256, PUBLIC, PRIVATE), "uid": "ops",
        "permissions": ["spin-logs:jobs"]}]);
    host_with(spin_logs_tests::HostOptions {
        variables: vec![("auth_digest_keys".into(), keys.to_string())],
        ..Default::default()
    })
}

/// `curl --user <user> --digest <args>`; the status and the body.
fn curl_digest(user: &str, args: &[&str], dir: &std::path::Path) -> (u16, String) {
    let curl = debian_binary("curl", "curl").expect("curl");
    let out = std::process::Command::new(curl)
        .args(["-sS", "-w", "\n%{http_code}", "--user", user, "--digest"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let (body, status) = text.rsplit_once('\n').expect("status");
    (status.parse().expect("status"), body.to_owned())
}

#[test]
fn the_seeds_download_command_works_with_digest_key_pairs() {
    let host = digest_host();
    register(&host, "web.1", "agent-1", false);
    let lines: String = (0..500).map(|i| format!("mongod line {i}\n")).collect();
    assert_eq!(
        append(&host, "web.1", "stdout", lines.as_bytes()).status,
        200
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let user = format!("{PUBLIC}:{PRIVATE}");
    let jobs = host.url(&format!(
        "/api/public/v1.0/groups/{GROUP}/logCollectionJobs"
    ));

    // Create and poll the job with the key pair too.
    let (status, body) = curl_digest(
        &user,
        &[
            "--header",
            "Content-Type: application/json",
            "--request",
            "POST",
            "--data",
            r#"{"tasks":["web.1"]}"#,
            &jobs,
        ],
        dir.path(),
    );
    assert_eq!(status, 201, "{body}");
    let job: serde_json::Value = serde_json::from_str(&body).expect("json");
    let id = job["id"].as_str().expect("id").to_owned();
    let one = format!("{jobs}/{id}");
    for _ in 0..200 {
        let (status, body) = curl_digest(&user, &["--request", "GET", &one], dir.path());
        assert_eq!(status, 200, "{body}");
        if !body.contains("IN_PROGRESS") {
            break;
        }
    }

    // The seed's command, as written.
    let url = format!("{one}/download");
    let (status, _) = curl_digest(
        &user,
        &[
            "--header",
            "Accept: application/json",
            "--header",
            "Accept: application/gzip",
            "--output",
            "logs.tar.gz",
            "--request",
            "GET",
            &url,
        ],
        dir.path(),
    );
    assert_eq!(status, 200);
    let gz = std::fs::read(dir.path().join("logs.tar.gz")).expect("logs.tar.gz");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
    let mut found = false;
    for entry in archive.entries().expect("a tar.gz") {
        let mut e = entry.expect("entry");
        let path = e.path().expect("path").to_string_lossy().into_owned();
        if path.ends_with("/stdout") {
            let mut text = String::new();
            e.read_to_string(&mut text).expect("text");
            assert_eq!(text, lines, "{path}");
            found = true;
        }
    }
    assert!(found, "the task's stdout is in the archive");

    // A wrong private key, or none, is refused with a fresh challenge.
    let (status, body) = curl_digest(
        &format!("{PUBLIC}:wrong"),
        &["--request", "GET", &one],
        dir.path(),
    );
    assert_eq!(status, 401, "{body}");
    let r = get_as(
        &host,
        &format!("/api/public/v1.0/groups/{GROUP}/logCollectionJobs/{id}"),
        None,
    );
    assert_eq!(r.status, 401);
    let challenges: Vec<&str> = r
        .headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect();
    assert!(
        challenges.iter().any(|c| c.starts_with("Bearer ")),
        "{challenges:?}"
    );
    assert!(
        challenges.iter().any(|c| c.starts_with("Digest ")
            && c.contains("algorithm=SHA-256")
            && c.contains("qop=\"auth\"")),
        "{challenges:?}"
    );
    assert!(
        challenges
            .iter()
            .any(|c| c.starts_with("Digest ") && c.contains("algorithm=MD5")),
        "{challenges:?}"
    );
    // The pair grants what its entry says, no more.
    let (status, _) = curl_digest(
        &user,
        &[
            "--request",
            "GET",
            &host.url("/system/v1/logs/v2/component"),
        ],
        dir.path(),
    );
    assert_eq!(status, 403);
}
