//! The README's and the docs' examples work as written, on any day (issue 12,
//! item 14): every `sh` block of README.md and docs/*.md that talks to `$API`
//! runs, in [`PAGES`]' order, with bash and curl against a test host, and
//! what it prints is checked. curl runs with `--fail-with-body`, so any 4xx
//! or 5xx an example meets fails the test.

mod common;

use common::*;
use spin_logs_tests::repo_root;
use spin_logs_tests::services::debian_binary;

/// The pages whose examples run, in this order, as one script: the README's
/// walk-through first, since later examples read what it stores (task
/// `web.1` of app `shop`, the `dcos-mesos-master` journal). A page under
/// `docs/` with examples that is not listed here fails
/// [`every_page_with_examples_runs`], so none is skipped unnoticed.
const PAGES: &[&str] = &[
    "README.md",
    "docs/dcos.md",
    "docs/mongodb-jobs.md",
    "docs/kubernetes.md",
    "docs/scalingo.md",
    "docs/dotnet-monitor.md",
];

/// A page's `sh` blocks that send requests to `$API`, in order.
fn blocks(page: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo_root().join(page)).expect(page);
    let mut blocks = Vec::new();
    let mut rest = text.as_str();
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

/// Every example of [`PAGES`], in order, with the page it comes from.
fn examples() -> Vec<(&'static str, String)> {
    PAGES
        .iter()
        .flat_map(|&page| blocks(page).into_iter().map(move |b| (page, b)))
        .collect()
}

#[test]
fn every_page_with_examples_runs() {
    for page in PAGES {
        assert!(repo_root().join(page).is_file(), "{page} is gone");
    }
    let dir = repo_root().join("docs");
    for entry in std::fs::read_dir(&dir).expect("docs/") {
        let name = entry.expect("entry").file_name();
        let name = name.to_string_lossy();
        if !name.ends_with(".md") {
            continue;
        }
        let page = format!("docs/{name}");
        assert!(
            PAGES.contains(&page.as_str()) || blocks(&page).is_empty(),
            "{page} has `sh` examples that talk to $API: add it to PAGES in tests/tests/readme.rs, \
             after the pages whose data its examples read"
        );
    }
}

#[test]
fn every_readme_example_runs_against_the_app() {
    let bash = debian_binary("bash", "bash").expect("bash");
    debian_binary("curl", "curl").expect("curl");
    debian_binary("jq", "jq").expect("jq");
    let examples = examples();
    let (first, walk_through) = &examples[0];
    assert!(
        *first == "README.md" && walk_through.contains("/ingest/tasks/web.1"),
        "the walk-through runs first: {first}"
    );
    for page in [
        "docs/mongodb-jobs.md",
        "docs/kubernetes.md",
        "docs/scalingo.md",
    ] {
        assert!(
            examples.iter().any(|(p, _)| *p == page),
            "{page}'s examples"
        );
    }
    let host = host();
    let dir = tempfile::tempdir().expect("temp dir");
    // Every request must succeed; the pages' own `-sS` stays as written. Each
    // example says on stderr where it comes from, so a failure names its page.
    let mut script = String::from("curl() { command curl --fail-with-body \"$@\"; }\n");
    for (n, (page, block)) in examples.iter().enumerate() {
        script.push_str(&format!("echo '>>> example {}, {page}' >&2\n", n + 1));
        script.push_str(block);
        script.push('\n');
    }
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
    // What the walk-through promises: its lines read back, then the last
    // line alone (the two reads are its third step's two commands).
    assert!(
        stdout.contains("listening on :8080\nGET / 200\nGET / 200\n"),
        "{stdout}"
    );
    // The job collected what the example says.
    for entry in [
        "web.1/stdout",
        "journal/dcos-mesos-master/journal.log",
        "MANIFEST.json",
    ] {
        assert!(stdout.contains(entry), "{entry} in the archive: {stdout}");
    }
    // The LogQL example formats the slow request's line.
    assert!(stdout.contains("GET /pay took 1.2s"), "{stdout}");
    // Scalingo's text form, by the URL token and by the header.
    assert!(stdout.contains("[web-1] GET / 200"), "{stdout}");
}
