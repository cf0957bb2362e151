//! The performance table: every figure spin-logs is judged by, each beside
//! the tool a user would otherwise run, measured in one run on one machine,
//! printed as ratios and drawn as one SVG per figure.
//!
//! ```text
//! cargo bench -p spin-logs-tests --bench perf
//! ```
//!
//! Anchors: a hello-world spin-sdk 5.2 component on the same test host
//! (`tests/hello-world`), nginx (Debian's package, `sendfile on`) and
//! `python3 -m http.server` serving the same bytes, `tar czf` and
//! `tar -I 'pigz -p 2'` of the same files, GNU `tail -n 100` of the same file,
//! `grep` over the same lines, and the platform's ceiling for a full read (a
//! component in `tests/hello-world` that streams a static buffer), and the
//! floors under a refusal (`tests/host-floor`: the hello world plus one
//! variable read, or plus one variable read and one key-value get).
//! Sizes and durations: `BENCH_SECS` (each load run, default 5),
//! `BENCH_FULL_MIB` (256), `BENCH_BIG_MIB` (1024), `BENCH_ARCHIVE_MIB` (100),
//! `BENCH_FOLLOWERS` (1000), `BENCH_IDLE_SECS` (30), `BENCH_STORE_MIB` (256). Output: the table on
//! stdout; `target/bench/perf/<figure>.svg` and `results.json` (set
//! `BENCH_BASELINE` to an earlier `results.json` to print before and after).

mod support;

use serde_json::{Value, json};
use spin_logs_tests::repo_root;
use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::load::Load;
use support::plot::{Bar, svg};
use support::servers::{Killed, wait_for_port, with_nginx};
use support::*;

/// Which way a figure is good.
#[derive(Clone, Copy)]
enum Better {
    Higher,
    Lower,
}

/// One row of the table: spin-logs' figure, its anchors, and the ratio that
/// the target is stated in (ours / anchor for throughput, anchor / ours for
/// time, so above 1 is always better).
struct Row {
    key: &'static str,
    figure: String,
    unit: &'static str,
    better: Better,
    ours: f64,
    anchors: Vec<(String, f64)>,
    target: &'static str,
}

impl Row {
    fn ratio(&self) -> Option<f64> {
        let (_, anchor) = self.anchors.first()?;
        Some(match self.better {
            Better::Higher => self.ours / anchor,
            Better::Lower => anchor / self.ours,
        })
    }
}

fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let secs = env_num("BENCH_SECS", 5.0);
    let full_mib = env_num("BENCH_FULL_MIB", 256.0) as usize;
    let big_mib = env_num("BENCH_BIG_MIB", 1024.0) as usize;
    let archive_mib = env_num("BENCH_ARCHIVE_MIB", 100.0) as usize;
    let followers = env_num("BENCH_FOLLOWERS", 1000.0) as usize;
    let store_mib = env_num("BENCH_STORE_MIB", 256.0) as usize;
    let idle_secs = env_num("BENCH_IDLE_SECS", 30.0);
    let out_dir = repo_root().join("target").join("bench").join("perf");
    std::fs::create_dir_all(&out_dir).expect("output dir");
    let disk = tempfile::tempdir().expect("temp dir");
    let mut rows: Vec<Row> = Vec::new();
    // `BENCH_ONLY=request,read,store,archive,search,follow` runs some sections only.
    let only = std::env::var("BENCH_ONLY").ok();
    let section = |name: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|s| s == name))
    };

    eprintln!("host: {}", App::host_name());
    let app_dir = repo_root();
    let host = App::start(&app_dir, Vec::new());
    let agent = agent();
    let batch = batch_of_lines();
    let mut hello = Hello {
        app: None,
        measured: None,
    };

    if section("request") {
        // Per-request cost, against a hello-world component on the same host.
        let hello_rps = hello.get(secs);

        // Refusals and the public index with the rate limit at its default
        // (100 a minute), as deployed.
        let hundred = &batch[..100 * LINE];
        let limited = App::start(&app_dir, vec![("rate_limit_standard".into(), "100".into())]);
        register(&agent, &limited, "tiny");
        ingest(&agent, &limited, "tiny", hundred, 1);
        let small_read = limited.url(&read_path("tiny", "?cursor=END&skip=-1"));
        let (unauthenticated, unauthenticated_cpu) =
            costed(&limited, || load::measure(&small_read, None, 401, 8, secs));
        let (index, index_cpu) = costed(&limited, || {
            load::measure(&limited.url("/"), None, 200, 8, secs)
        });
        // One keep-alive connection: a response whose headers leave before
        // its body waits for the client's delayed ACK on Spin (no
        // TCP_NODELAY), which only this shows (`spin::send`).
        let index_one = load::measure(&limited.url("/"), None, 200, 1, secs);
        // Far over its limit: nearly every answer is a 429.
        let (refused, refused_cpu) = costed(&limited, || {
            load::measure(&small_read, Some(&auth_as("abuser")), 429, 8, secs)
        });
        drop(limited);
        // A small task log: 100 lines, what most tasks' stdout holds, read
        // by a caller the limit counts but never reaches (the bench's
        // limits are 10^8 a minute), and with no limit at all (nothing
        // counted).
        let read_small = |app: &App| {
            register(&agent, app, "tiny");
            ingest(&agent, app, "tiny", hundred, 1);
            let url = app.url(&read_path("tiny", "?cursor=END&skip=-1"));
            costed(app, || load::measure(&url, Some(auth()), 200, 8, secs))
        };
        let (on, on_cpu) = read_small(&host);
        let unlimited = App::start(&app_dir, vec![("rate_limit_standard".into(), "0".into())]);
        let (off, _) = read_small(&unlimited);
        drop(unlimited);
        // What an idle follower pays each time its budget ends and it
        // reconnects (40 times a second for 1,000 followers): one follow
        // invocation with nothing to send, its budget cut to 1 ms, so the
        // request is its setup (auth, the follower slot), one poll and its
        // end (the resume event). One caller on 8 connections: its follows
        // race for one slot record, but on one connection (no race) Spin
        // 4.1 measured the same, 2,554 µs with ~175 µs of that its idle
        // CPU spread over 22.8 requests a second (`tools/spin-cost/run.sh`'s
        // follow row, run once with `wrk -c1`).
        let short = App::start(
            &app_dir,
            vec![
                ("tail_budget_ms".into(), "1".into()),
                ("max_followers".into(), "1000000000".into()),
            ],
        );
        register(&agent, &short, "tiny");
        ingest(&agent, &short, "tiny", hundred, 1);
        let follow = short.url(&follow_path("tiny"));
        let (_, reconnect_cpu) = costed(&short, || {
            load::measure(&follow, Some(auth()), 200, 8, secs)
        });
        drop(short);
        let floor = (hello.floor("variable", secs), hello.floor("get", secs));
        let hello_anchor = || vec![("hello-world component".to_owned(), hello_rps)];
        push(
            &mut rows,
            Row {
                key: "small-read",
                figure:
                    "small authenticated read (cursor=END&skip=-1, 100-line file), 8 connections, counted by the rate limit"
                        .into(),
                unit: "requests/s",
                better: Better::Higher,
                ours: on.requests_per_s,
                anchors: hello_anchor(),
                target: ">= 0.5",
            },
        );
        push(
            &mut rows,
            Row {
                key: "small-read-no-limit",
                figure: "the same with no rate limit (nothing counted)".into(),
                unit: "requests/s",
                better: Better::Higher,
                ours: off.requests_per_s,
                anchors: hello_anchor(),
                target: "",
            },
        );
        push(
            &mut rows,
            Row {
                key: "unauthenticated",
                figure: "a 401 answer (no credentials)".into(),
                unit: "requests/s",
                better: Better::Higher,
                ours: unauthenticated.requests_per_s,
                anchors: hello_anchor(),
                target: ">= 0.8",
            },
        );
        push(
            &mut rows,
            Row {
                key: "index",
                figure: "public JSON GET /".into(),
                unit: "requests/s",
                better: Better::Higher,
                ours: index.requests_per_s,
                anchors: hello_anchor(),
                target: ">= 0.8",
            },
        );
        let hello_one = hello.one_connection(secs);
        push(
            &mut rows,
            Row {
                key: "index-one-connection",
                figure: "public JSON GET /, one keep-alive connection".into(),
                unit: "requests/s",
                better: Better::Higher,
                ours: index_one.requests_per_s,
                anchors: vec![("hello-world component, one connection".into(), hello_one)],
                target: ">= 0.5",
            },
        );
        push(
            &mut rows,
            Row {
                key: "rate-limited",
                figure: "a 429 answer (over the rate limit)".into(),
                unit: "requests/s",
                better: Better::Higher,
                ours: refused.requests_per_s,
                anchors: hello_anchor(),
                target: ">= 0.8",
            },
        );
        // The same answers by what they cost the host: CPU per request
        // moves far less with the machine's other load than requests per
        // second (the hello world's rate moved 4,269 to 6,366 between runs).
        // Then against their floors: the hello world plus the host calls no
        // implementation of the answer can skip (tests/host-floor), which
        // says how much of the gap to the hello world is ours.
        let hello_cpu = ("hello-world component", hello.cpu());
        let floor_variable = ("hello world + one variable read", floor.0);
        let floor_get = (
            "hello world + one variable read + one key-value get",
            floor.1,
        );
        for (key, figure, micros, anchor, target) in [
            (
                "small-read-cpu",
                "host CPU per small read (counted)",
                on_cpu,
                hello_cpu,
                ">= 0.5",
            ),
            (
                "unauthenticated-cpu",
                "host CPU per 401",
                unauthenticated_cpu,
                hello_cpu,
                ">= 0.8",
            ),
            (
                "index-cpu",
                "host CPU per GET /",
                index_cpu,
                hello_cpu,
                ">= 0.8",
            ),
            (
                "rate-limited-cpu",
                "host CPU per 429",
                refused_cpu,
                hello_cpu,
                ">= 0.8",
            ),
            (
                "follow-reconnect-cpu",
                "host CPU per follow invocation that starts, polls once and ends (an idle follower's reconnect)",
                reconnect_cpu,
                ("small read (counted)", on_cpu),
                "",
            ),
            (
                "unauthenticated-floor",
                "host CPU per 401, against its floor",
                unauthenticated_cpu,
                floor_variable,
                "",
            ),
            (
                "rate-limited-floor",
                "host CPU per 429, against its floor",
                refused_cpu,
                floor_get,
                "",
            ),
            (
                "small-read-floor",
                "host CPU per small read (counted), against a floor",
                on_cpu,
                floor_get,
                "",
            ),
        ] {
            push(
                &mut rows,
                Row {
                    key,
                    figure: figure.into(),
                    unit: "µs",
                    better: Better::Lower,
                    ours: micros,
                    anchors: vec![(anchor.0.into(), anchor.1)],
                    target,
                },
            );
        }
    }

    if section("read") {
        register(&agent, &host, "small");
        ingest(&agent, &host, "small", &batch, 1);

        // Ingest (4 MiB batches), which also fills the files the reads use.
        let batch4: Vec<u8> = batch.repeat(4);
        register(&agent, &host, "full");
        let t = Instant::now();
        ingest(&agent, &host, "full", &batch4, full_mib.div_ceil(4));
        let ingest_mbps =
            (full_mib.div_ceil(4) * batch4.len()) as f64 / 1e6 / t.elapsed().as_secs_f64();
        push(
            &mut rows,
            Row {
                key: "ingest",
                figure: format!("ingest, {LINE}-byte lines, 4 MiB batches, one client"),
                unit: "MB/s",
                better: Better::Higher,
                ours: ingest_mbps,
                anchors: Vec::new(),
                target: "",
            },
        );
        // A small read (a 100-line file, as in the request rows) before and
        // after the store takes the big file: its cost must not grow with
        // the store.
        register(&agent, &host, "few");
        ingest(&agent, &host, "few", &batch[..100 * LINE], 1);
        let small_read = host.url(&read_path("few", "?cursor=END&skip=-1"));
        let small_before = load::measure(&small_read, Some(auth()), 200, 8, secs);
        register(&agent, &host, "big");
        ingest(&agent, &host, "big", &batch4, big_mib.div_ceil(4));
        let small_after = load::measure(&small_read, Some(auth()), 200, 8, secs);
        let hello_rps = hello.get(secs);
        push(
            &mut rows,
            Row {
                key: "small-read-big-store",
                figure: format!(
                    "small authenticated read (100-line file) once the store holds {} MiB",
                    full_mib + big_mib
                ),
                unit: "requests/s",
                better: Better::Higher,
                ours: small_after.requests_per_s,
                anchors: vec![
                    ("hello-world component".into(), hello_rps),
                    ("the same before".into(), small_before.requests_per_s),
                ],
                target: ">= 0.5",
            },
        );

        // The last 100 lines, against GNU tail on the same bytes on disk.
        let small_ms = ms(last_100(&agent, &host, "small"));
        let big_ms = ms(last_100(&agent, &host, "big"));
        let big_file = disk.path().join("big.log");
        write_repeated(&big_file, &batch4, big_mib.div_ceil(4));
        let tail_ms = gnu_tail_ms(&big_file);
        push(
            &mut rows,
            Row {
                key: "last-100-small",
                figure: "last 100 lines of a 1 MiB file".into(),
                unit: "ms",
                better: Better::Lower,
                ours: small_ms,
                anchors: vec![("GNU tail -n 100 (1 GiB file)".into(), tail_ms)],
                target: "",
            },
        );
        push(
            &mut rows,
            Row {
                key: "last-100-big",
                figure: format!("last 100 lines of a {big_mib} MiB file"),
                unit: "ms",
                better: Better::Lower,
                ours: big_ms,
                anchors: vec![
                    ("the same of a 1 MiB file".into(), small_ms),
                    ("GNU tail -n 100".into(), tail_ms),
                ],
                target: "~1.0 (size-independent)",
            },
        );

        // Full reads: every page, and one response, against static servers.
        let full_bytes = (full_mib.div_ceil(4) * batch4.len()) as u64;
        let full_file = disk.path().join("full.log");
        write_repeated(&full_file, &batch4, full_mib.div_ceil(4));
        let paged = best_of(3, || read_all_pages(&agent, &host, "full", full_bytes));
        // No response cap (what `max_response_bytes = 0` says, spelt so that
        // builds from before that setting measure the same).
        let whole_host = App::start(
            &app_dir,
            vec![("max_response_bytes".into(), (1u64 << 40).to_string())],
        );
        register(&agent, &whole_host, "full");
        ingest(&agent, &whole_host, "full", &batch4, full_mib.div_ceil(4));
        let whole = best_of(3, || {
            curl(
                &whole_host.url(&read_path("full", "")),
                Some(auth()),
                full_bytes,
            )
        });
        drop(whole_host);
        let python = with_python(disk.path(), |url| {
            best_of(3, || curl(&format!("{url}/full.log"), None, full_bytes))
        });
        let nginx = with_nginx(disk.path(), |url| {
            best_of(3, || curl(&format!("{url}/full.log"), None, full_bytes))
        });
        let ceiling = hello.static_buffer(full_mib);
        let static_anchors = || {
            vec![
                ("python3 -m http.server".to_owned(), python),
                ("nginx (sendfile)".to_owned(), nginx),
                ("the platform: a static buffer streamed".to_owned(), ceiling),
            ]
        };
        push(
            &mut rows,
            Row {
                key: "full-read-paged",
                figure: format!("full read of {full_mib} MiB, every 8 MiB page (default)"),
                unit: "MB/s",
                better: Better::Higher,
                ours: paged,
                anchors: static_anchors(),
                target: ">= 1.0 (python), -> 0.5 (nginx)",
            },
        );
        push(
            &mut rows,
            Row {
                key: "full-read-whole",
                figure: format!("full read of {full_mib} MiB, one response (no response cap)"),
                unit: "MB/s",
                better: Better::Higher,
                ours: whole,
                anchors: static_anchors(),
                target: ">= 1.0 (python), -> 0.5 (nginx)",
            },
        );
    }

    if section("store") {
        // The hot store after typical log text, against `gzip -1` of it.
        let fresh = App::start(&app_dir, Vec::new());
        register(&agent, &fresh, "kept");
        let text = typical_log(store_mib << 20, 7);
        let t = Instant::now();
        append_in_batches(&agent, &fresh, "kept", "stdout", &text);
        let ingest_mbps = text.len() as f64 / 1e6 / t.elapsed().as_secs_f64();
        let stored = sqlite_bytes(fresh.state_dir());
        let file = disk.path().join("kept.log");
        std::fs::write(&file, &text).expect("write");
        let gzip = gzip_1_bytes(&file);
        let raw = text.len() as f64;
        push(
            &mut rows,
            Row {
                key: "store-size",
                figure: format!("hot store per raw byte after {store_mib} MiB of log text"),
                unit: "B/B",
                better: Better::Lower,
                ours: stored as f64 / raw,
                anchors: vec![("gzip -1 of the same bytes".into(), gzip as f64 / raw)],
                target: ">= 1.0",
            },
        );
        push(
            &mut rows,
            Row {
                key: "ingest-typical",
                figure: "ingest, typical log text, 4 MiB batches, one client".into(),
                unit: "MB/s",
                better: Better::Higher,
                ours: ingest_mbps,
                anchors: Vec::new(),
                target: ">= 50 MB/s",
            },
        );
    }

    if section("archive") {
        // Archives of typical log text, against tar and pigz on the same files.
        register(&agent, &host, "arch");
        let task_dir = disk.path().join("arch");
        std::fs::create_dir(&task_dir).expect("task dir");
        let mut raw = 0u64;
        for (name, share, seed) in [("stdout", 6, 1), ("stderr", 2, 2), ("app.log", 2, 3)] {
            let text = typical_log((archive_mib << 20) * share / 10, seed);
            std::fs::write(task_dir.join(name), &text).expect("write file");
            raw += text.len() as u64;
            append_in_batches(&agent, &host, "arch", name, &text);
        }
        let archive_url = host.url(
            "/system/v1/agent/A/logs/v2/task/frameworks/F/executors/arch/runs/arch-c/files/archive",
        );
        let (api_secs, api_size) = timed(|| download_size(&agent, &archive_url, Some(auth())));
        let (job_secs, job_size) = timed(|| collect_job(&agent, &host, "arch"));
        let (tar_secs, tar_size) = timed(|| tar(disk.path(), "arch", "arch.tar.gz", &["czf"]));
        let pigz = spin_logs_tests::services::debian_binary("pigz", "pigz").expect("pigz");
        let pigz = format!("{} -p 2", pigz.display());
        let (pigz_secs, pigz_size) = timed(|| {
            tar(
                disk.path(),
                "arch",
                "arch-pigz.tar.gz",
                &["-I", &pigz, "-cf"],
            )
        });
        let mb = raw as f64 / 1e6;
        let archive_anchors = vec![
            ("tar czf".to_owned(), mb / tar_secs),
            ("pigz -p 2 (tar -I)".to_owned(), mb / pigz_secs),
        ];
        push(
            &mut rows,
            Row {
                key: "archive",
                figure: format!("sandbox .tar.gz of {archive_mib} MiB of log text, streamed"),
                unit: "MB/s (input)",
                better: Better::Higher,
                ours: mb / api_secs,
                anchors: archive_anchors.clone(),
                target: ">= 2 (tar), >= 1 (pigz)",
            },
        );
        push(
            &mut rows,
            Row {
                key: "archive-job",
                figure: "log-collection job of the same, collected and downloaded".into(),
                unit: "MB/s (input)",
                better: Better::Higher,
                ours: mb / job_secs,
                anchors: archive_anchors,
                target: ">= 2 (tar), >= 1 (pigz)",
            },
        );
        push(
            &mut rows,
            Row {
                key: "archive-size",
                figure: "archive size, share of the input".into(),
                unit: "% of input",
                better: Better::Lower,
                ours: 100.0 * api_size as f64 / raw as f64,
                anchors: vec![
                    ("tar czf".into(), 100.0 * tar_size as f64 / raw as f64),
                    (
                        "pigz -p 2 (tar -I)".into(),
                        100.0 * pigz_size as f64 / raw as f64,
                    ),
                    ("job".into(), 100.0 * job_size as f64 / raw as f64),
                ],
                target: ">= 0.91 (size <= 1.1x)",
            },
        );
    }

    if section("search") {
        search_rows(&mut rows, &agent, &app_dir, big_mib, disk.path());
    }

    if section("follow") {
        // Append-to-delivery latency with one follower.
        register(&agent, &host, "live");
        ingest(&agent, &host, "live", b"start\n", 1);
        let (p50, p99) = follow_latency(&host.base_url(), "live", 500);
        push(
            &mut rows,
            Row {
                key: "follow-latency-p50",
                figure: "append-to-follower latency p50 (dcos-log, Loki poll ~1 s)".into(),
                unit: "ms",
                better: Better::Lower,
                ours: p50,
                anchors: Vec::new(),
                target: "",
            },
        );
        push(
            &mut rows,
            Row {
                key: "follow-latency-p99",
                figure: "append-to-follower latency p99".into(),
                unit: "ms",
                better: Better::Lower,
                ours: p99,
                anchors: Vec::new(),
                target: "",
            },
        );
        // Idle followers, on a host process of their own so its memory and CPU
        // are the host's alone.
        let idle = idle_followers(followers, idle_secs);
        push(
            &mut rows,
            Row {
                key: "idle-rss",
                figure: format!("{followers} idle followers: host RSS"),
                unit: "MiB",
                better: Better::Lower,
                ours: idle.rss_mib,
                anchors: vec![
                    ("goal".into(), 1024.0),
                    ("the host before they connect".into(), idle.rss_before_mib),
                ],
                target: ">= 1.0 (<= 1 GiB)",
            },
        );
        push(
            &mut rows,
            Row {
                key: "idle-cpu",
                figure: format!(
                    "{followers} idle followers: host CPU over {idle_secs:.0} s ({} reconnects)",
                    idle.reconnects
                ),
                unit: "% of one core",
                better: Better::Lower,
                ours: idle.cpu_percent,
                anchors: vec![("goal".into(), 10.0)],
                target: ">= 1.0 (<= 10%)",
            },
        );
        let floor = idle_floor(followers, idle_secs);
        push(
            &mut rows,
            Row {
                key: "idle-cpu-floor",
                figure: format!("the same against its floor: {followers} follows that only poll"),
                unit: "% of one core",
                better: Better::Lower,
                ours: idle.cpu_percent,
                anchors: vec![(
                    "one key-value get per idle poll (~500 ms) and nothing else (tests/host-floor)"
                        .into(),
                    floor,
                )],
                target: "",
            },
        );
        push(
            &mut rows,
            Row {
                key: "idle-latency-p99",
                figure: format!(
                    "append-to-follower p99 of another log beside {followers} idle followers"
                ),
                unit: "ms",
                better: Better::Lower,
                ours: idle.p99_ms,
                anchors: vec![("goal".into(), 500.0)],
                target: ">= 1.0 (<= 500 ms)",
            },
        );
        push(
            &mut rows,
            Row {
                key: "idle-herd-latency-p99",
                figure: format!(
                    "the same on the log all {followers} follow (each line delivered {followers} times)"
                ),
                unit: "ms",
                better: Better::Lower,
                ours: idle.p99_herd_ms,
                anchors: Vec::new(),
                target: "",
            },
        );
    }

    report(&rows, &out_dir);
}

/// `load` run against `app`, and the host CPU it cost per answer, in µs.
fn costed(app: &App, load: impl FnOnce() -> Load) -> (Load, f64) {
    let before = app.cpu_seconds();
    let done = load();
    let micros = (app.cpu_seconds() - before) * 1e6 / done.requests.max(1) as f64;
    (done, micros)
}

/// The anchors in `tests/hello-world`, started once and kept: the hello
/// world's requests/s, and Spin's ceiling for a full read (a component that
/// streams a static buffer).
struct Hello {
    app: Option<App>,
    /// Requests/s and host CPU µs per request, measured once.
    measured: Option<(f64, f64)>,
}

impl Hello {
    fn app(&mut self) -> &App {
        self.app.get_or_insert_with(|| {
            App::start_anchor(&repo_root().join("tests").join("hello-world"))
        })
    }

    /// The hello world's requests/s (measured once).
    fn get(&mut self, secs: f64) -> f64 {
        if let Some((rps, _)) = self.measured {
            return rps;
        }
        let app = self.app();
        let url = app.url("/");
        let (load, cpu) = costed(app, || load::measure(&url, None, 200, 8, secs));
        let rps = load.requests_per_s;
        eprintln!("hello world: {rps:.0} req/s, {cpu:.0} µs of host CPU each");
        self.measured.insert((rps, cpu)).0
    }

    /// The host CPU per request of that [`Hello::get`] run.
    fn cpu(&self) -> f64 {
        self.measured.map_or(f64::NAN, |(_, cpu)| cpu)
    }

    /// Host CPU µs per request of one of the floors in `tests/host-floor`
    /// (`variable`: one variable read; `get`: one read and one key-value
    /// get), its requests/s printed beside.
    fn floor(&mut self, which: &str, secs: f64) -> f64 {
        let app = self.app();
        let url = app.url(&format!("/floor/{which}"));
        let (load, cpu) = costed(app, || load::measure(&url, None, 200, 8, secs));
        let rps = load.requests_per_s;
        eprintln!("floor {which}: {rps:.0} req/s, {cpu:.0} µs of host CPU each");
        cpu
    }

    /// The hello world's requests/s on one keep-alive connection.
    fn one_connection(&mut self, secs: f64) -> f64 {
        let url = self.app().url("/");
        load::measure(&url, None, 200, 1, secs).requests_per_s
    }

    /// MB/s of `mib` MiB of a static buffer streamed (best of three).
    fn static_buffer(&mut self, mib: usize) -> f64 {
        let url = self.app().url(&format!("/static?mib={mib}"));
        best_of(3, || curl(&url, None, (mib as u64) << 20))
    }
}

/// A string in no line over `mib` MiB of labelled streams (the search API,
/// paged until done) beside `grep -c` of the same lines on disk, and the
/// first 1,000 hits of a common one beside `grep -m 1000`.
fn search_rows(rows: &mut Vec<Row>, agent: &ureq::Agent, app_dir: &Path, mib: usize, dir: &Path) {
    let host = App::start(app_dir, Vec::new());
    let text = typical_log(mib << 20, 13);
    let file = dir.join("streams.log");
    std::fs::write(&file, &text).expect("write");
    push_streams(agent, &host, &text);
    drop(text);
    let search = host.url("/k8s/v1/search");
    let absent = "needle-7f3a9c";
    let (found, ours) = search_all(agent, &search, absent);
    assert_eq!(found, 0, "{absent} is in no line");
    let grep = best_of_ms(3, || grep_ms(&["-c", absent], &file));
    push(
        rows,
        Row {
            key: "search-absent",
            figure: format!("a string in no line, over {mib} MiB (search API, every page)"),
            unit: "ms",
            better: Better::Lower,
            ours,
            anchors: vec![("grep -c on the same lines on disk".into(), grep)],
            target: ">= 1.0 (<= 1x grep)",
        },
    );
    let common = "path=/healthz";
    let first = best_of_ms(5, || {
        let t = Instant::now();
        let page = search_page(agent, &search, &json!({"contains": common, "limit": 1000}));
        assert_eq!(page["count"], 1000, "a full first page");
        ms(t.elapsed())
    });
    let grep = best_of_ms(5, || grep_ms(&["-m", "1000", common], &file));
    push(
        rows,
        Row {
            key: "search-common",
            figure: "a common string, the first 1,000 hits (search API)".into(),
            unit: "ms",
            better: Better::Lower,
            ours: first,
            anchors: vec![("grep -m 1000 on the same lines".into(), grep)],
            target: "",
        },
    );
    let _ = std::fs::remove_file(&file);
}

/// Pushes `text`'s lines as eight labelled streams (Loki's JSON push, about
/// 4 MiB a push), timestamped a millisecond apart ending now.
fn push_streams(agent: &ureq::Agent, host: &App, text: &[u8]) {
    let lines: Vec<&str> = std::str::from_utf8(text).expect("text").lines().collect();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let start_ms = now_ms - lines.len() as u64;
    let per_push = (4 << 20) / (text.len() / lines.len().max(1)).max(1);
    let url = host.url("/loki/api/v1/push");
    for (n, chunk) in lines.chunks(per_push).enumerate() {
        let first = n * per_push;
        let streams: Vec<Value> = (0..8)
            .map(|pod| {
                let values: Vec<Value> = chunk
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| (first + i) % 8 == pod)
                    .map(|(i, l)| json!([((start_ms + (first + i) as u64) * 1_000_000).to_string(), l]))
                    .collect();
                json!({"stream": {"namespace": "bench", "pod": format!("app-{pod}"), "container": "app"}, "values": values})
            })
            .collect();
        let r = agent
            .post(&url)
            .header("authorization", auth())
            .header("content-type", "application/json")
            .send(json!({ "streams": streams }).to_string().as_bytes())
            .expect("push");
        assert_eq!(r.status(), 204, "push");
    }
}

/// Every page of a forward search for `needle`: hits and milliseconds.
fn search_all(agent: &ureq::Agent, search: &str, needle: &str) -> (u64, f64) {
    let t = Instant::now();
    let mut found = 0;
    let mut body = json!({"contains": needle, "direction": "forward", "limit": 1000});
    loop {
        let page = search_page(agent, search, &body);
        found += page["count"].as_u64().unwrap_or(0);
        match page["next_cursor"].as_str() {
            Some(c) if page["has_more"] == true => body["cursor"] = json!(c),
            _ => break,
        }
    }
    (found, ms(t.elapsed()))
}

/// Milliseconds of `grep <args> <file>`, process start included.
fn grep_ms(args: &[&str], file: &Path) -> f64 {
    let t = Instant::now();
    Command::new("grep")
        .args(args)
        .arg(file)
        .stdout(Stdio::null())
        .status()
        .expect("grep runs");
    ms(t.elapsed())
}

fn best_of_ms(n: usize, mut f: impl FnMut() -> f64) -> f64 {
    (0..n).map(|_| f()).fold(f64::INFINITY, f64::min)
}

/// Adds `row`, saying so on stderr (a run takes minutes).
fn push(rows: &mut Vec<Row>, row: Row) {
    eprintln!("{}: {}", row.figure, value(row.ours, row.unit));
    rows.push(row);
}

/// Prints the table (and before/after against `BENCH_BASELINE`), writes
/// `results.json` and one SVG per figure.
fn report(rows: &[Row], out_dir: &Path) {
    let baseline: Option<Value> = std::env::var("BENCH_BASELINE")
        .ok()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok());
    println!("\n| Figure | spin-logs | Anchor | Ratio | Target |");
    println!("|---|---|---|---|---|");
    for row in rows {
        let anchors: Vec<String> = row
            .anchors
            .iter()
            .map(|(name, v)| format!("{name}: {}", value(*v, row.unit)))
            .collect();
        let ratios: Vec<String> = row
            .anchors
            .iter()
            .map(|(_, a)| match row.better {
                Better::Higher => format!("{:.2}", row.ours / a),
                Better::Lower => format!("{:.2}", a / row.ours),
            })
            .collect();
        println!(
            "| {} | {} | {} | {} | {} |",
            row.figure,
            value(row.ours, row.unit),
            if anchors.is_empty() {
                "-".into()
            } else {
                anchors.join("; ")
            },
            if ratios.is_empty() {
                "-".into()
            } else {
                ratios.join(" / ")
            },
            row.target
        );
    }
    if let Some(base) = &baseline {
        println!("\n| Figure | before | after | after / before |");
        println!("|---|---|---|---|");
        for row in rows {
            let Some(before) = base[row.key]["ours"].as_f64() else {
                continue;
            };
            println!(
                "| {} | {} | {} | {:.2} |",
                row.figure,
                value(before, row.unit),
                value(row.ours, row.unit),
                row.ours / before
            );
        }
    }
    // A partial run (`BENCH_ONLY`) updates its rows and keeps the others.
    let path = out_dir.join("results.json");
    let mut results = match std::env::var_os("BENCH_ONLY") {
        Some(_) => std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Map<String, Value>>(&b).ok())
            .unwrap_or_default(),
        None => serde_json::Map::new(),
    };
    for row in rows {
        results.insert(
            row.key.into(),
            json!({
                "figure": row.figure, "unit": row.unit, "ours": row.ours,
                "anchors": row.anchors, "ratio": row.ratio(), "target": row.target,
            }),
        );
        let mut bars = vec![Bar {
            label: "spin-logs".into(),
            value: row.ours,
            ours: true,
        }];
        if let Some(before) = baseline.as_ref().and_then(|b| b[row.key]["ours"].as_f64()) {
            bars.push(Bar {
                label: "spin-logs (before)".into(),
                value: before,
                ours: true,
            });
        }
        bars.extend(row.anchors.iter().map(|(name, v)| Bar {
            label: name.clone(),
            value: *v,
            ours: false,
        }));
        let better = match row.better {
            Better::Higher => "higher",
            Better::Lower => "lower",
        };
        let file = out_dir.join(format!("{}.svg", row.key));
        std::fs::write(&file, svg(&row.figure, row.unit, better, &bars)).expect("write plot");
    }
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&Value::Object(results)).expect("JSON"),
    )
    .expect("write results");
    println!("\nplots and results.json in {}", out_dir.display());
}

fn value(v: f64, unit: &str) -> String {
    let n = if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    format!("{n} {unit}")
}

fn timed<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let t = Instant::now();
    let out = f();
    (t.elapsed().as_secs_f64(), out)
}

/// Runs `tar <flags> <dir>/<out> -C <dir> <what>`; the archive's size.
fn tar(dir: &Path, what: &str, out: &str, flags: &[&str]) -> u64 {
    let out = dir.join(out);
    let ok = Command::new("tar")
        .args(flags)
        .arg(&out)
        .arg("-C")
        .arg(dir)
        .arg(what)
        .status()
        .expect("tar runs")
        .success();
    assert!(ok, "tar {flags:?}");
    std::fs::metadata(&out).expect("tar output").len()
}

fn best_of(n: usize, mut f: impl FnMut() -> f64) -> f64 {
    (0..n).map(|_| f()).fold(0.0, f64::max)
}

/// Bytes of the embedded store's SQLite files under `dir` (any journal too).
fn sqlite_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).expect("state dir").flatten() {
        let meta = entry.metadata().expect("metadata");
        if meta.is_dir() {
            total += sqlite_bytes(&entry.path());
        } else if entry
            .file_name()
            .to_string_lossy()
            .contains("sqlite_key_value")
        {
            total += meta.len();
        }
    }
    total
}

/// Bytes of `gzip -1` of `file`.
fn gzip_1_bytes(file: &Path) -> u64 {
    let out = Command::new("gzip")
        .args(["-1", "-c"])
        .arg(file)
        .output()
        .expect("gzip runs");
    assert!(out.status.success(), "gzip -1");
    out.stdout.len() as u64
}

fn write_repeated(path: &Path, chunk: &[u8], times: usize) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    for _ in 0..times {
        file.write_all(chunk).expect("write");
    }
    file.flush().expect("flush");
}

/// Median of 21 runs of `tail -n 100 <file>`, process start included (what a
/// user at a shell pays).
fn gnu_tail_ms(file: &Path) -> f64 {
    let mut times: Vec<f64> = (0..21)
        .map(|_| {
            let t = Instant::now();
            let out = Command::new("tail")
                .args(["-n", "100"])
                .arg(file)
                .output()
                .expect("tail runs");
            assert_eq!(out.stdout.iter().filter(|b| **b == b'\n').count(), 100);
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Bytes per second of reading the whole file page by page, following
/// `X-Next-Cursor` as a client of a host with a response cap must.
fn read_all_pages(agent: &ureq::Agent, host: &impl Url, task: &str, expect: u64) -> f64 {
    let t = Instant::now();
    let mut total = 0u64;
    let mut cursor: Option<String> = None;
    loop {
        let query = cursor
            .as_ref()
            .map_or(String::new(), |c| format!("?cursor={c}"));
        let r = agent
            .get(host.url(&read_path(task, &query)))
            .header("authorization", auth())
            .call()
            .expect("read");
        assert_eq!(r.status(), 200);
        let next = r
            .headers()
            .get("x-next-cursor")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut reader = r.into_body().into_reader();
        total += std::io::copy(&mut reader, &mut std::io::sink()).expect("body");
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(total, expect, "every page together is the file");
    total as f64 / t.elapsed().as_secs_f64() / 1e6
}

/// MB/s of one `curl` download of `url`.
fn curl(url: &str, authorization: Option<&str>, expect: u64) -> f64 {
    let mut cmd = Command::new("curl");
    if let Some(a) = authorization {
        cmd.args(["-H", &format!("authorization: {a}")]);
    }
    let out = cmd
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download} %{time_total}",
            url,
        ])
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace();
    let size: u64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let secs: f64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::MAX);
    assert_eq!(size, expect, "curl {url} got the whole file");
    size as f64 / secs / 1e6
}

fn with_python<T>(dir: &Path, f: impl FnOnce(&str) -> T) -> T {
    let port = spin_logs_tests::services::free_port().expect("port");
    let _server = Killed(
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m http.server"),
    );
    wait_for_port(port);
    f(&format!("http://127.0.0.1:{port}"))
}

fn append_in_batches(agent: &ureq::Agent, host: &impl Url, task: &str, file: &str, text: &[u8]) {
    let url = host.url(&format!("{INGEST}/tasks/{task}/files/{file}"));
    let mut rest = text;
    while !rest.is_empty() {
        let cut = if rest.len() <= 4 * BATCH {
            rest.len()
        } else {
            rest[..4 * BATCH]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(rest.len(), |n| n + 1)
        };
        let r = agent
            .post(&url)
            .header("authorization", auth())
            .header("content-type", "text/plain")
            .send(&rest[..cut])
            .expect("append");
        assert_eq!(r.status(), 200);
        rest = &rest[cut..];
    }
}

fn download_size(agent: &ureq::Agent, url: &str, authorization: Option<&str>) -> u64 {
    let mut req = agent.get(url);
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let r = req.call().expect("download");
    assert_eq!(r.status(), 200, "{url}");
    let mut reader = r.into_body().into_reader();
    std::io::copy(&mut reader, &mut std::io::sink()).expect("body")
}

/// Creates a log-collection job for `task`, polls it to SUCCESS, downloads
/// the archive; its size.
fn collect_job(agent: &ureq::Agent, host: &impl Url, task: &str) -> u64 {
    let jobs = host.url("/api/public/v1.0/groups/0123456789abcdef01234567/logCollectionJobs");
    let r = agent
        .post(&jobs)
        .header("authorization", auth())
        .header("content-type", "application/json")
        .send(format!(r#"{{"tasks":["{task}"]}}"#).as_bytes())
        .expect("create job");
    assert_eq!(r.status(), 201);
    let job: Value = serde_json::from_reader(r.into_body().into_reader()).expect("JSON");
    let id = job["id"].as_str().expect("id").to_owned();
    loop {
        let r = agent
            .get(format!("{jobs}/{id}"))
            .header("authorization", auth())
            .call()
            .expect("poll");
        let job: Value = serde_json::from_reader(r.into_body().into_reader()).expect("JSON");
        if job["status"] != "IN_PROGRESS" {
            assert_eq!(job["status"], "SUCCESS");
            break;
        }
    }
    download_size(agent, &format!("{jobs}/{id}/download"), Some(auth()))
}

/// The follow route of a task registered by [`register`].
fn follow_path(task: &str) -> String {
    format!(
        "/system/v1/logs/v2/follow{}",
        read_path(task, "?cursor=END")
    )
}

/// p50 and p99 (ms) of append-to-delivery over `lines` lines appended every
/// 10 ms to `task` on the host at `base`, one follower resuming across
/// invocations with `Last-Event-ID`.
fn follow_latency(base: &str, task: &str, lines: usize) -> (f64, f64) {
    let agent = agent();
    let follow = format!("{base}{}", follow_path(task));
    let origin = Instant::now();
    let mut got: Vec<Duration> = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut got = Vec::new();
            let mut last_id: Option<String> = None;
            while got.len() < lines {
                let mut req = agent
                    .get(&follow)
                    .header("authorization", auth())
                    .header("accept", "text/event-stream");
                if let Some(id) = &last_id {
                    req = req.header("last-event-id", id);
                }
                let resp = req.call().expect("follow");
                for line in std::io::BufReader::new(resp.into_body().into_reader()).lines() {
                    let Ok(line) = line else { break };
                    if let Some(id) = line.strip_prefix("id: ") {
                        last_id = Some(id.to_owned());
                    }
                    let Some(data) = line.strip_prefix("data: ") else {
                        continue;
                    };
                    let v: Value = serde_json::from_str(data).unwrap_or_default();
                    if let Some(sent) = v["fields"]["MESSAGE"]
                        .as_str()
                        .and_then(|m| m.strip_prefix("at "))
                    {
                        let sent = Duration::from_micros(sent.parse().expect("stamp"));
                        got.push(origin.elapsed().saturating_sub(sent));
                    }
                    if got.len() >= lines {
                        break;
                    }
                }
            }
            got
        });
        std::thread::sleep(Duration::from_millis(500));
        let url = format!("{base}{INGEST}/tasks/{task}/files/stdout");
        for _ in 0..lines {
            let line = format!("at {}\n", origin.elapsed().as_micros());
            let r = agent
                .post(&url)
                .header("authorization", auth())
                .header("content-type", "text/plain")
                .send(line.as_bytes())
                .expect("append");
            assert_eq!(r.status(), 200);
            std::thread::sleep(Duration::from_millis(10));
        }
        reader.join().expect("reader")
    });
    got.sort();
    let pct = |p: f64| ms(got[((got.len() as f64 * p) as usize).min(got.len() - 1)]);
    (pct(0.50), pct(0.99))
}

struct Idle {
    rss_before_mib: f64,
    rss_mib: f64,
    cpu_percent: f64,
    p99_ms: f64,
    p99_herd_ms: f64,
    reconnects: usize,
}

/// Starts a host process, holds `n` idle follows on it (each reconnecting
/// when its invocation ends, as `EventSource` does) and measures its memory
/// and CPU over `secs`, then append-to-delivery beside them.
fn idle_followers(n: usize, secs: f64) -> Idle {
    let variables = vec![("max_followers".to_owned(), "1000000".to_owned())];
    let server = IdleHost::start(&repo_root(), with_bench_defaults(variables), n);
    let base = server.base_url();
    let agent = agent();
    // `idle` is the log the followers hold; `active` one beside it.
    for task in ["idle", "active"] {
        register(&agent, &server, task);
        ingest(&agent, &server, task, b"start\n", 1);
    }
    let rss_before = server.usage().0;
    let held = hold_idle(&server, &follow_path("idle"), n, secs, || {
        // Appends to another log: the idle followers stay idle. Then to
        // theirs: each line is delivered a thousand times over.
        let (_, p99) = follow_latency(&base, "active", 200);
        let (_, p99_herd) = follow_latency(&base, "idle", 200);
        (p99, p99_herd)
    });
    drop(server);
    Idle {
        rss_before_mib: rss_before as f64 / 1048576.0,
        rss_mib: held.rss as f64 / 1048576.0,
        cpu_percent: held.cpu_percent,
        p99_ms: held.then.0,
        p99_herd_ms: held.then.1,
        reconnects: held.reconnects,
    }
}

/// The same `n` idle follows held on the floor in `tests/host-floor`
/// (`/floor/poll`: an event stream that does nothing but one key-value get
/// per spin-logs' idle poll interval): the host's CPU, in % of one core.
fn idle_floor(n: usize, secs: f64) -> f64 {
    let anchor = repo_root().join("tests").join("hello-world");
    let server = IdleHost::start(&anchor, Vec::new(), n);
    hold_idle(&server, "/floor/poll", n, secs, || ()).cpu_percent
}

/// What [`hold_idle`] measured.
struct Held<T> {
    rss: u64,
    cpu_percent: f64,
    reconnects: usize,
    /// What `then` returned, run while the follows were still held.
    then: T,
}

/// Holds `n` follows of `path` on `server`, lets them reach a steady state,
/// measures the server's memory and CPU over `secs`, then runs `then`
/// beside them.
fn hold_idle<T>(
    server: &IdleHost,
    path: &str,
    n: usize,
    secs: f64,
    then: impl FnOnce() -> T,
) -> Held<T> {
    let stop = AtomicBool::new(false);
    let reconnected = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let holder = s.spawn(|| hold(server.port(), path, n, RAMP, &stop, &reconnected));
        // All connected, each reconnecting at its own moment: steady state.
        std::thread::sleep(RAMP + Duration::from_secs(2));
        let (_, cpu_a) = server.usage();
        let before = reconnected.load(Ordering::Relaxed);
        let t = Instant::now();
        std::thread::sleep(Duration::from_secs_f64(secs));
        let (rss, cpu_b) = server.usage();
        let cpu_percent = 100.0 * (cpu_b - cpu_a) / t.elapsed().as_secs_f64();
        let reconnects = reconnected.load(Ordering::Relaxed) - before;
        let then = then();
        stop.store(true, Ordering::Relaxed);
        holder.join().expect("holder");
        Held {
            rss,
            cpu_percent,
            reconnects,
            then,
        }
    })
}

impl Url for IdleHost {
    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }
}

/// The host the idle followers are held on, a process of its own so that
/// its memory and CPU are the followers' alone: real Spin when `SPIN` names
/// one, as every other row, or else the test host.
enum IdleHost {
    Test {
        child: Killed,
        port: u16,
        _state: tempfile::TempDir,
    },
    Spin(support::spin::SpinUp),
}

impl IdleHost {
    /// The app in `app_dir` with `variables`, its instance pool sized for
    /// `n` follows: on real Spin when `SPIN` names one, else the test host.
    fn start(app_dir: &Path, variables: Vec<(String, String)>, n: usize) -> Self {
        // Spin's pool holds 1,000 instances by default; the writer and the
        // measuring follower need a few more.
        let pool = ("SPIN_MAX_INSTANCE_COUNT", (n + 64).to_string());
        match support::spin::spin_binary() {
            Some(spin) => IdleHost::Spin(support::spin::SpinUp::start_with_env(
                &spin,
                app_dir,
                &variables,
                &[pool],
            )),
            None => IdleHost::test(app_dir, variables, pool),
        }
    }

    fn test(app_dir: &Path, variables: Vec<(String, String)>, pool: (&str, String)) -> Self {
        let port = spin_logs_tests::services::free_port().expect("port");
        let state = tempfile::tempdir().expect("state dir");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_spin-logs-host"));
        cmd.arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--app-dir")
            .arg(app_dir)
            .arg("--state-dir")
            .arg(state.path())
            .env(pool.0, pool.1)
            .stdout(Stdio::null());
        if app_dir == repo_root() {
            // The in-process hosts built spin-logs already.
            cmd.env("SPIN_LOGS_HOST_SKIP_BUILD", "1");
        }
        for (name, value) in variables {
            cmd.arg("--variable").arg(format!("{name}={value}"));
        }
        let child = Killed(cmd.spawn().expect("spin-logs-host"));
        wait_for_port(port);
        IdleHost::Test {
            child,
            port,
            _state: state,
        }
    }

    fn port(&self) -> u16 {
        match self {
            IdleHost::Test { port, .. } => *port,
            IdleHost::Spin(s) => s.port(),
        }
    }

    /// Resident bytes and CPU seconds of every process serving.
    fn usage(&self) -> (u64, f64) {
        let pids = match self {
            IdleHost::Test { child, .. } => vec![child.0.id()],
            IdleHost::Spin(s) => s.pids(),
        };
        support::spin::usage(pids)
    }
}

/// How long [`hold`] takes to open its follows: one invocation budget
/// (`tail_budget_ms`' default), so their reconnects are spread evenly, as
/// those of followers who started at different moments are.
const RAMP: Duration = Duration::from_secs(25);

/// Holds `n` follows of `path` open from one thread (non-blocking sockets,
/// drained every 50 ms), opened evenly over `ramp` and each reconnected when
/// its server closes it (counted in `reconnected`) with the last event id it
/// read as `Last-Event-ID`, as `EventSource` reconnects, until `stop`.
fn hold(
    port: u16,
    path: &str,
    n: usize,
    ramp: Duration,
    stop: &AtomicBool,
    reconnected: &AtomicUsize,
) {
    // One user each (a follower slot is per caller), as a thousand people
    // following their own tasks would be.
    let auths: Vec<String> = (0..n)
        .map(|i| support::auth_as(&format!("follower-{i}")))
        .collect();
    let open = |i: usize, last_id: Option<&str>| {
        let resume = last_id.map_or(String::new(), |id| format!("last-event-id: {id}\r\n"));
        let request = format!(
            "GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nauthorization: {}\r\n\
             accept: text/event-stream\r\n{resume}connection: close\r\n\r\n",
            auths[i]
        );
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.write_all(request.as_bytes()).expect("send");
        s.set_nonblocking(true).expect("non-blocking");
        s
    };
    let mut follows: Vec<Follower> = Vec::with_capacity(n);
    let started = Instant::now();
    let mut buf = vec![0u8; 16 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let due = (n as f64 * started.elapsed().as_secs_f64() / ramp.as_secs_f64()) as usize;
        while follows.len() < due.min(n) {
            follows.push(Follower::new(open(follows.len(), None)));
        }
        for (i, held) in follows.iter_mut().enumerate() {
            let closed = loop {
                match held.sock.read(&mut buf) {
                    Ok(0) => break true,
                    Ok(k) => held.read(&buf[..k]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
                    Err(_) => break true,
                }
            };
            if closed {
                // EventSource keeps its last id over a reconnect that
                // brought none (a refusal, an error).
                let last_id = held.last_id.take();
                *held = Follower::new(open(i, last_id.as_deref()));
                held.last_id = last_id;
                reconnected.fetch_add(1, Ordering::Relaxed);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One follow [`hold`] keeps open, and the last event id it has read.
struct Follower {
    sock: TcpStream,
    /// The bytes after the last newline read so far.
    partial: Vec<u8>,
    last_id: Option<String>,
}

impl Follower {
    fn new(sock: TcpStream) -> Self {
        Follower {
            sock,
            partial: Vec::new(),
            last_id: None,
        }
    }

    /// Takes in `bytes` read, noting each complete `id:` line.
    fn read(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return;
        };
        for line in self.partial[..end].split(|b| *b == b'\n') {
            if let Some(id) = line.strip_prefix(b"id: ") {
                self.last_id = Some(String::from_utf8_lossy(id).trim_end().to_owned());
            }
        }
        self.partial.drain(..=end);
    }
}
