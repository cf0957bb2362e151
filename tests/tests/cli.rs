//! The `spin-logs` command-line client (tools/cli), run as a real process
//! against the test host: credentials, reads, follows across invocation
//! handoffs, downloads cut and resumed, jobs, and its exit codes.

mod common;

use common::*;
use spin_logs_tests::{HostOptions, TestHost};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const GROUP: &str = "5f0c8a2be4b0a1d2c3e4f5a6";

fn binary() -> PathBuf {
    spin_logs_tests::builder::native_binary("spin-logs-cli", "spin-logs").expect("the CLI builds")
}

/// The CLI against `host` as the superuser, with no config file of the
/// user's in the way.
fn command(host: &TestHost, args: &[&str]) -> Command {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .env("SPIN_LOGS_SERVER", host.base_url())
        .env("SPIN_LOGS_TOKEN", token(&[SUPERUSER]))
        .env("XDG_CONFIG_HOME", host.state_dir().join("no-config"))
        .env_remove("SPIN_LOGS_CONFIG")
        .env_remove("SPIN_LOGS_GROUP")
        .env_remove("SPIN_VARIABLE_AUTH_HS256_SECRET");
    cmd
}

fn run(host: &TestHost, args: &[&str]) -> Output {
    command(host, args).output().expect("the CLI runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "exit {:?}: {}", o.status, stderr(&o));
    stdout(&o)
}

fn lines(n: std::ops::Range<usize>) -> String {
    n.map(|i| format!("line {i}\n")).collect()
}

#[test]
fn dev_makes_a_secret_once_and_a_token_the_app_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".spin");
    let dev = |host: Option<&TestHost>| {
        let mut cmd = Command::new(binary());
        cmd.args(["dev", "--state-dir"]).arg(&state);
        if let Some(h) = host {
            cmd.env("XDG_CONFIG_HOME", h.state_dir());
        }
        ok(cmd.output().unwrap())
    };
    let first = dev(None);
    let env: Vec<(String, String)> = first
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let secret = &env
        .iter()
        .find(|(k, _)| k == "SPIN_VARIABLE_AUTH_HS256_SECRET")
        .expect("the environment line for spin up")
        .1;
    let token = &env.iter().find(|(k, _)| k == "SPIN_LOGS_TOKEN").unwrap().1;
    assert_eq!(
        std::fs::read_to_string(state.join("spin-logs-dev-secret")).unwrap(),
        *secret
    );
    // The app started with that secret accepts the token as a superuser.
    let host = host_with(HostOptions {
        variables: vec![("auth_hs256_secret".into(), secret.clone())],
        ..Default::default()
    });
    let put = send_as(
        &host,
        "PUT",
        &format!("{INGEST}/tasks/t"),
        Some(&format!("Bearer {token}")),
        &[],
        Some("application/json"),
        br#"{"name":"t","agent_id":"a","framework_id":"f","container_id":"c"}"#,
    );
    assert_eq!(put.status, 201, "{}", put.text());
    // A second run keeps the secret (tokens already handed out stay valid).
    let again = dev(Some(&host));
    assert!(again.contains(&format!("SPIN_VARIABLE_AUTH_HS256_SECRET={secret}")));
}

#[test]
fn cat_reads_whole_logs_across_pages_and_honours_the_read_parameters() {
    // A small response cap makes the server page; `cat` follows the pages.
    let host = host_with(HostOptions {
        variables: vec![("max_response_bytes".into(), "4096".into())],
        ..Default::default()
    });
    register(&host, "t", "agent-a", false);
    let all = lines(0..2_000);
    assert_eq!(append(&host, "t", "stdout", all.as_bytes()).status, 200);
    append(&host, "t", "stderr", b"oops\n");

    assert_eq!(ok(run(&host, &["cat", "t"])), all, "every page, in order");
    assert_eq!(ok(run(&host, &["cat", "task:t/stderr"])), "oops\n");
    assert_eq!(
        ok(run(&host, &["cat", "t", "--cursor", "END", "--skip", "-2"])),
        "line 1998\nline 1999\n"
    );
    assert_eq!(
        ok(run(&host, &["cat", "t", "--limit", "2", "--skip", "5"])),
        "line 5\nline 6\n"
    );
    assert_eq!(ok(run(&host, &["tail", "-n", "3", "t"])), lines(1997..2000));
    let json = ok(run(
        &host,
        &["--output", "json", "cat", "t", "--limit", "1"],
    ));
    let entry: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(entry["fields"]["MESSAGE"], "line 0");
    // The cursor an entry carries resumes right after it.
    let cursor = entry["cursor"].as_str().unwrap();
    assert_eq!(
        ok(run(
            &host,
            &["cat", "t", "--cursor", cursor, "--limit", "1"]
        )),
        "line 1\n"
    );
}

#[test]
fn errors_show_the_problem_and_exit_with_a_code_a_script_can_rely_on() {
    let host = host();
    let missing = run(&host, &["cat", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("404"), "{}", stderr(&missing));

    let anonymous = command(&host, &["cat", "nope"])
        .env_remove("SPIN_LOGS_TOKEN")
        .output()
        .unwrap();
    assert_eq!(anonymous.status.code(), Some(1));
    assert!(stderr(&anonymous).contains("401"), "{}", stderr(&anonymous));

    let json = run(&host, &["--output", "json", "cat", "nope"]);
    let e: serde_json::Value = serde_json::from_str(stderr(&json).trim()).unwrap();
    assert_eq!(
        (e["error"].as_str(), e["status"].as_u64()),
        (Some("problem"), Some(404))
    );

    assert_eq!(run(&host, &["cat", "a/b/c"]).status.code(), Some(2));
    assert_eq!(run(&host, &["frobnicate"]).status.code(), Some(2));
    let unreachable = command(&host, &["cat", "t"])
        .env("SPIN_LOGS_SERVER", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(
        unreachable.status.code(),
        Some(3),
        "{}",
        stderr(&unreachable)
    );
}

#[test]
fn the_server_and_token_come_from_a_config_file_too() {
    let host = host();
    register(&host, "t", "agent-a", false);
    append(&host, "t", "stdout", b"from config\n");
    let config = host.state_dir().join("cli.json");
    let body = serde_json::json!({"server": host.base_url(), "token": token(&[SUPERUSER])});
    std::fs::write(&config, body.to_string()).unwrap();
    let out = command(&host, &["cat", "t"])
        .env_remove("SPIN_LOGS_SERVER")
        .env_remove("SPIN_LOGS_TOKEN")
        .env("SPIN_LOGS_CONFIG", &config)
        .output()
        .unwrap();
    assert_eq!(ok(out), "from config\n");
}

/// `tail -f` through invocations of 1 s: every line written while it runs
/// is printed exactly once, in order.
#[test]
fn tail_follows_across_handoffs_with_no_line_lost_or_repeated() {
    let host = host_with(HostOptions {
        variables: vec![
            ("tail_budget_ms".into(), "1000".into()),
            ("keepalive_ms".into(), "300".into()),
            // Every request counted, so that /metrics says how many follow
            // invocations the CLI made.
            ("metrics_request_sample".into(), "1".into()),
        ],
        ..Default::default()
    });
    register(&host, "t", "agent-a", false);
    append(&host, "t", "stdout", lines(0..5).as_bytes());
    let follows_before = answered(&host, "tail");
    let mut child = command(&host, &["tail", "-f", "-n", "2", "t"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    const TOTAL: usize = 600;
    // The history first (the last two lines), then the writers start.
    let mut got: Vec<String> = rx.iter().take(2).collect();
    std::thread::scope(|s| {
        s.spawn(|| {
            // Four seconds of appends: at least three handoffs.
            for b in 0..40 {
                let body = lines(5 + b * 15..5 + (b + 1) * 15);
                assert_eq!(append(&host, "t", "stdout", body.as_bytes()).status, 200);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        while got.len() < 2 + TOTAL {
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => got.push(line),
                Err(_) => break,
            }
        }
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let want: Vec<String> = (3..5 + TOTAL).map(|i| format!("line {i}")).collect();
    assert_eq!(got, want);
    // Four seconds of appends with a one-second budget: the lines above
    // came through at least three handoffs, each a new follow invocation.
    let follows = answered(&host, "tail") - follows_before;
    assert!(follows >= 4, "{follows} follow invocations");
}

/// Requests of route family `family` answered with a 2xx, from /metrics.
fn answered(host: &TestHost, family: &str) -> u64 {
    let r = get_as(host, "/k8s/v1/metrics", Some(&bearer(&[SUPERUSER])));
    assert_eq!(r.status, 200, "{}", r.text());
    let sample = format!("spin_logs_requests_total{{family=\"{family}\",code=\"2xx\"}} ");
    let text = r.text();
    let line = text.lines().find_map(|l| l.strip_prefix(sample.as_str()));
    line.and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{sample} in:\n{text}"))
}

/// A download cut by the host is resumed by the same command, with `Range`,
/// to the same bytes.
#[test]
fn a_cut_download_resumes_to_the_same_sha256() {
    let state = tempfile::tempdir().unwrap();
    let opts = |cap: Option<u64>| HostOptions {
        state_dir: Some(state.path().to_owned()),
        max_response_bytes: cap,
        ..Default::default()
    };
    let content = lines(0..100_000); // ~1.2 MB
    let out = state.path().join("stdout.log");
    let out_arg = out.to_str().unwrap();
    {
        let capped = host_with(opts(Some(300_000)));
        register(&capped, "t", "agent-a", false);
        assert_eq!(
            append(&capped, "t", "stdout", content.as_bytes()).status,
            200
        );
        let cut = run(&capped, &["download", "t", "-o", out_arg]);
        assert_eq!(cut.status.code(), Some(3), "{}", stderr(&cut));
        assert!(stderr(&cut).contains("resume"), "{}", stderr(&cut));
        assert!(!out.exists(), "only a .part until the file is whole");
    }
    let host = host_with(opts(None));
    let done = ok(run(
        &host,
        &["--output", "json", "download", "t", "-o", out_arg],
    ));
    let done: serde_json::Value = serde_json::from_str(done.trim()).unwrap();
    let resumed = done["resumed_from"].as_u64().unwrap();
    assert!(resumed > 0, "resumed, not restarted: {done}");
    assert_eq!(done["bytes"].as_u64(), Some(content.len() as u64));
    assert_eq!(
        sha256(&std::fs::read(&out).unwrap()),
        sha256(content.as_bytes())
    );
    assert!(!Path::new(&format!("{out_arg}.part")).exists());
}

fn tar_entries(gz: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

#[test]
fn sandbox_archives_and_jobs_download_as_tar_gz() {
    let host = host();
    register(&host, "t", "agent-a", false);
    append(&host, "t", "stdout", b"out\n");
    append(&host, "t", "stderr", b"err\n");
    let dir = host.state_dir();
    let sandbox = dir.join("t.tar.gz");
    let said = run(
        &host,
        &[
            "download",
            "--archive",
            "t",
            "-o",
            sandbox.to_str().unwrap(),
        ],
    );
    assert!(stderr(&said).contains(" bytes in "), "a summary line");
    ok(said);
    let mut entries = tar_entries(&std::fs::read(&sandbox).unwrap());
    entries.sort();
    assert_eq!(entries, ["t/stderr", "t/stdout"]);

    let id = ok(run(
        &host,
        &["jobs", "create", "--group", GROUP, "--task", "t"],
    ));
    let id = id.trim();
    assert!(!id.is_empty());
    assert_eq!(
        ok(run(&host, &["jobs", "wait", "--group", GROUP, id])),
        "SUCCESS\n"
    );
    let listed = ok(run(&host, &["jobs", "list", "--group", GROUP]));
    assert!(
        listed.contains(id) && listed.contains("SUCCESS"),
        "{listed}"
    );
    let job = dir.join("job.tar.gz");
    let quiet = run(
        &host,
        &[
            "jobs",
            "download",
            "--quiet",
            "--group",
            GROUP,
            id,
            "-o",
            job.to_str().unwrap(),
        ],
    );
    assert_eq!(stderr(&quiet), "", "--quiet says nothing");
    ok(quiet);
    let entries = tar_entries(&std::fs::read(&job).unwrap());
    assert!(
        entries.iter().any(|e| e.ends_with("t/stdout")),
        "{entries:?}"
    );
}

#[test]
fn token_commands_mint_what_the_server_accepts() {
    let host = host();
    register(&host, "t", "agent-a", false);
    append(&host, "t", "stdout", b"hello\n");
    let jwt = ok(command(
        &host,
        &[
            "token",
            "jwt",
            "--uid",
            "ops",
            "--perm",
            SYSTEM_LOGS,
            "--perm",
            AGENT,
        ],
    )
    .env("SPIN_VARIABLE_AUTH_HS256_SECRET", SECRET)
    .output()
    .unwrap());
    let read = command(&host, &["cat", "t"])
        .env("SPIN_LOGS_TOKEN", jwt.trim())
        .output()
        .unwrap();
    assert_eq!(ok(read), "hello\n");
    // A URL token from the server reads that task and nothing else.
    let url_token = ok(run(&host, &["token", "url", "t"]));
    let read = command(&host, &["cat", "t"])
        .env("SPIN_LOGS_TOKEN", url_token.trim())
        .output()
        .unwrap();
    assert_eq!(ok(read), "hello\n");
    let secret = ok(run(&host, &["token", "secret"]));
    assert_eq!(secret.trim().len(), 64);
    let key = ok(run(
        &host,
        &["--output", "json", "token", "apikey", "--uid", "ship"],
    ));
    let key: serde_json::Value = serde_json::from_str(key.trim()).unwrap();
    assert!(key["key"].as_str().unwrap().starts_with("slk_"));
}

#[test]
fn push_ships_a_file_and_stdin_in_whole_line_batches() {
    let host = host();
    register(&host, "t", "agent-a", false);
    let file = host.state_dir().join("app.log");
    let content = lines(0..5_000);
    std::fs::write(&file, &content).unwrap();
    let out = ok(run(
        &host,
        &[
            "--output",
            "json",
            "push",
            "t",
            file.to_str().unwrap(),
            "--file",
            "app",
            "--batch-bytes",
            "10000",
        ],
    ));
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["lines"].as_u64(), Some(5_000));
    // ~49 KB in batches of at most 10,000 bytes.
    assert!(summary["batches"].as_u64().unwrap() >= 5, "{summary}");
    assert_eq!(ok(run(&host, &["cat", "t/app"])), content);

    let mut child = command(&host, &["push", "t", "--file", "piped"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(b"one\ntwo").unwrap();
    assert!(child.wait().unwrap().success());
    // The last line had no newline: it is shipped whole at the end.
    assert_eq!(ok(run(&host, &["cat", "t/piped"])), "one\ntwo\n");
}

/// `push --follow` of a file being appended to and rotated (renamed away,
/// a new one made, as logrotate does): every line lands once, in order.
#[test]
fn push_follow_ships_appends_across_a_rotation() {
    let host = host();
    register(&host, "t", "agent-a", false);
    let dir = host.state_dir();
    let file = dir.join("app.log");
    std::fs::write(&file, lines(0..10)).unwrap();
    let mut child = command(&host, &["push", "-f", "t", file.to_str().unwrap()])
        .spawn()
        .unwrap();
    let append_to = |path: &Path, range: std::ops::Range<usize>| {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .unwrap();
        f.write_all(lines(range).as_bytes()).unwrap();
    };
    std::thread::sleep(Duration::from_millis(600));
    append_to(&file, 10..20);
    std::thread::sleep(Duration::from_millis(600));
    // Rotate: the old file gets a last line after the rename, then a new one.
    std::fs::rename(&file, dir.join("app.log.1")).unwrap();
    append_to(&dir.join("app.log.1"), 20..25);
    append_to(&file, 25..40);
    let want = lines(0..40);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = String::new();
    while Instant::now() < deadline {
        got = stdout(&run(&host, &["cat", "t"]));
        if got.len() >= want.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(got, want);
}

#[test]
fn search_finds_lines_by_text_and_by_logql_across_pages() {
    let host = host();
    let t0 = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        - 60_000_000_000) as u64;
    let values: Vec<serde_json::Value> = (0..30u64)
        .map(|i| {
            let line = if i % 3 == 0 {
                format!("GET /item/{i} 500")
            } else {
                format!("GET /item/{i} 200")
            };
            serde_json::json!([(t0 + i * 1_000_000).to_string(), line])
        })
        .collect();
    let body = serde_json::json!({"streams": [
        {"stream": {"namespace": "shop", "pod": "web-1", "container": "web"}, "values": values}
    ]});
    let r = send(
        &host,
        "POST",
        "/loki/api/v1/push",
        Some("application/json"),
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 204, "{}", r.text());

    let text = ok(run(
        &host,
        &["search", " 500", "--namespace", "shop", "--limit", "100"],
    ));
    let found: Vec<&str> = text.lines().collect();
    assert_eq!(found.len(), 10, "{text}");
    assert!(found.iter().all(|l| l.ends_with(" 500")), "{text}");
    // LogQL: --limit entries, none twice.
    let logql = ok(run(
        &host,
        &[
            "--output",
            "json",
            "search",
            r#"{namespace="shop"} |= "200""#,
            "--limit",
            "12",
        ],
    ));
    let entries: Vec<serde_json::Value> = logql
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 12);
    assert!(
        entries
            .iter()
            .all(|e| e["line"].as_str().unwrap().ends_with(" 200"))
    );
    let mut seen: Vec<&str> = entries
        .iter()
        .map(|e| e["line"].as_str().unwrap())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 12, "no entry twice");
}

/// Ctrl-C ends `tail -f` at once, as SIGINT ends `tail -f`, without an
/// error of its own; the server sees the connection go and gives the
/// caller's follower slot back, so the next `tail -f` is not refused.
#[test]
fn tail_f_ends_on_ctrl_c_and_its_follower_slot_comes_back() {
    use std::os::unix::process::ExitStatusExt;
    let host = host_with(HostOptions {
        variables: vec![
            ("max_followers".into(), "1".into()),
            ("keepalive_ms".into(), "300".into()),
        ],
        ..Default::default()
    });
    let task = register(&host, "t", "agent-a", false);
    append(&host, "t", "stdout", b"line 0\n");
    let follow = format!("/system/v1/logs/v2/follow{}", file_path(&task, "stdout"));
    let status_of_another = || {
        client()
            .get(host.url(&follow))
            .header("authorization", &superuser())
            .header("accept", "text/event-stream")
            .call()
            .expect("answers")
            .status()
            .as_u16()
    };
    let mut child = command(&host, &["tail", "-f", "t"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "line 0\n");
    assert_eq!(status_of_another(), 429, "the one slot is the CLI's");

    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "still running");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.signal() == Some(2) || status.code() == Some(130),
        "{status:?}"
    );
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(err, "", "nothing to report");
    // Within a few polls of the client going away.
    let deadline = Instant::now() + Duration::from_secs(5);
    while status_of_another() != 200 {
        assert!(Instant::now() < deadline, "the slot never came back");
        std::thread::sleep(Duration::from_millis(100));
    }
}
