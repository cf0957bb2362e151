//! The README's examples work as written, on any day (issue 12, item 14):
//! every `sh` block that talks to `$API` runs, in order, with bash and curl
//! against a test host, and what it prints is checked. curl runs with
//! `--fail-with-body`, so any 4xx or 5xx an example meets fails the test.

mod common;

use common::*;
use spin_logs_tests::services::debian_binary;

/// The README's `sh` blocks that send requests to `$API`, in order.
fn examples() -> Vec<String> {
    let readme =
        std::fs::read_to_string(spin_logs_tests::repo_root().join("README.md")).expect("README.md");
    let mut blocks = Vec::new();
    let mut rest = readme.as_str();
    while let Some(start) = rest.find("```sh\n") {
        let body = &rest[start + 6..];
        let end = body.find("```").expect("a closed block");
        if body[..end].contains("$API") {
            blocks.push(body[..end].to_owned());
        }
        rest = &body[end + 3..];
    }
    blocks
}

#[test]
fn every_readme_example_runs_against_the_app() {
    let bash = debian_binary("bash", "bash").expect("bash");
    debian_binary("curl", "curl").expect("curl");
    debian_binary("jq", "jq").expect("jq");
    let blocks = examples();
    assert!(blocks.len() >= 2, "the walk-through and the jobs example");
    let host = host();
    let dir = tempfile::tempdir().expect("temp dir");
    // Every request must succeed; the README's own `-sS` stays as written.
    let script = format!(
        "curl() {{ command curl --fail-with-body \"$@\"; }}\n{}",
        blocks.join("\n")
    );
    let out = std::process::Command::new(bash)
        .args(["-euo", "pipefail", "-c", &script])
        .env("API", host.base_url())
        .env("TOKEN", token(&[SUPERUSER]))
        .current_dir(dir.path())
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the examples failed:\n{stdout}\n{stderr}"
    );
    // What the walk-through promises: its lines read back, the last line alone.
    assert!(
        stdout.contains("listening on :8080\nGET / 200\n"),
        "{stdout}"
    );
    assert!(stdout.contains("GET / 200\n"), "{stdout}");
    // The job collected what the example says.
    for entry in [
        "web.1/stdout",
        "journal/dcos-mesos-master/journal.log",
        "MANIFEST.json",
    ] {
        assert!(stdout.contains(entry), "{entry} in the archive: {stdout}");
    }
}
