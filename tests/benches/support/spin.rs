//! The app under a real Spin (`SPIN=<path of a spin binary>`), or on the
//! test host: what the benchmarks measure, behind one [`Url`].
//!
//! A real Spin is what users run: `spin up` serving the app's `spin.toml`
//! (its components built first, as `spin build` would) with its own state
//! directory, settings as `SPIN_VARIABLE_*`, and no runtime config (plain
//! `spin up` keeps the one `default` store in the state directory). The test
//! host does not cost like Spin (issue 29), so figures meant to describe
//! production come from this one.

use spin_logs_tests::{HostOptions, TestHost};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Anything serving HTTP the benchmarks send requests to.
pub trait Url {
    fn base_url(&self) -> String;
    fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base_url())
    }
}

impl Url for TestHost {
    fn base_url(&self) -> String {
        TestHost::base_url(self)
    }
}

/// `spin up` running an app, with its `spin trigger http` child; both are
/// killed when this is dropped.
pub struct SpinUp {
    child: Child,
    port: u16,
    _state: tempfile::TempDir,
}

impl Url for SpinUp {
    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl SpinUp {
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for SpinUp {
    fn drop(&mut self) {
        // The process group: `spin up` and the trigger it runs.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-9", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// The Spin binary the benchmarks run under, if `SPIN` names one.
pub fn spin_binary() -> Option<PathBuf> {
    std::env::var_os("SPIN").map(PathBuf::from)
}

impl SpinUp {
    /// Builds the app in `dir` (its `spin.toml`'s build commands) and serves
    /// it with `spin` on a free port, `variables` set.
    pub fn start(spin: &Path, dir: &Path, variables: &[(String, String)]) -> SpinUp {
        Self::start_with_env(spin, dir, variables, &[])
    }

    /// The same, with `env` also set for Spin itself (its pool's size, say).
    pub fn start_with_env(
        spin: &Path,
        dir: &Path,
        variables: &[(String, String)],
        env: &[(&str, String)],
    ) -> SpinUp {
        let manifest = spin_logs_tests::manifest::Manifest::load(dir).expect("spin.toml");
        spin_logs_tests::builder::build_components(&manifest).expect("spin build");
        let port = spin_logs_tests::services::free_port().expect("port");
        let state = tempfile::tempdir().expect("state dir");
        let mut cmd = Command::new(spin);
        cmd.arg("up")
            .arg("--from")
            .arg(dir.join("spin.toml"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--state-dir")
            .arg(state.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        for (name, value) in variables {
            cmd.env(
                format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()),
                value,
            );
        }
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        let child = cmd.spawn().expect("spin up");
        // Spin compiles every component before it listens: ~10 s on an idle
        // 2-core machine, several times that on a busy one.
        super::servers::wait_for_port_within(port, std::time::Duration::from_secs(180));
        SpinUp {
            child,
            port,
            _state: state,
        }
    }
}

impl SpinUp {
    /// The processes serving: `spin up` and the `spin trigger http` it runs
    /// (its process group), for their memory and CPU.
    pub fn pids(&self) -> Vec<u32> {
        let group = self.child.id().to_string();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                // After the command's closing parenthesis: state, ppid, pgrp.
                stat.rsplit(')')
                    .next()
                    .and_then(|f| f.split_whitespace().nth(2))
                    == Some(&group)
            })
            .collect()
    }
}

/// spin-logs on Spin (when `SPIN` is set) or on the test host.
pub enum App {
    Test(TestHost),
    Spin(SpinUp),
}

impl Url for App {
    fn base_url(&self) -> String {
        match self {
            App::Test(h) => Url::base_url(h),
            App::Spin(s) => s.base_url(),
        }
    }
}

impl App {
    /// The app in `dir` with `variables` (and the benchmarks' secret and
    /// rate limits), on the host `SPIN` says.
    pub fn start(dir: &Path, variables: Vec<(String, String)>) -> App {
        let variables = super::with_bench_defaults(variables);
        match spin_binary() {
            Some(spin) => App::Spin(SpinUp::start(&spin, dir, &variables)),
            None => App::Test(
                TestHost::start(HostOptions {
                    app_dir: Some(dir.to_path_buf()),
                    variables,
                    ..HostOptions::default()
                })
                .expect("host starts"),
            ),
        }
    }

    /// An anchor app in `dir` (the hello world), as it is: none of the
    /// benchmarks' variables, which its manifest does not declare.
    pub fn start_anchor(dir: &Path) -> App {
        match spin_binary() {
            Some(spin) => App::Spin(SpinUp::start(&spin, dir, &[])),
            None => App::Test(
                TestHost::start(HostOptions {
                    app_dir: Some(dir.to_path_buf()),
                    ..HostOptions::default()
                })
                .expect("host starts"),
            ),
        }
    }

    /// User and system CPU seconds the host has used: `spin up`'s process
    /// group, or this process for the test host (which runs in it; the load
    /// generator is `wrk`, a process of its own, when it can be had).
    pub fn cpu_seconds(&self) -> f64 {
        usage(match self {
            App::Test(_) => vec![std::process::id()],
            App::Spin(s) => s.pids(),
        })
        .1
    }

    /// Where the host keeps its state (the embedded store's SQLite file).
    pub fn state_dir(&self) -> &Path {
        match self {
            App::Test(h) => h.state_dir(),
            App::Spin(s) => s._state.path(),
        }
    }

    /// Which host this is, for the table.
    pub fn host_name() -> String {
        match spin_binary() {
            Some(spin) => format!("Spin ({})", spin_version(&spin)),
            None => "the test host (tests/src)".to_owned(),
        }
    }
}

/// Resident bytes and user+system CPU seconds of processes `pids`, summed.
pub fn usage(pids: Vec<u32>) -> (u64, f64) {
    pids.into_iter()
        .map(proc_usage)
        .fold((0, 0.0), |(r, c), (rss, cpu)| (r + rss, c + cpu))
}

/// Resident bytes and user+system CPU seconds of process `pid`.
fn proc_usage(pid: u32) -> (u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (rss_kb * 1024, (ticks(11) + ticks(12)) / 100.0)
}

fn spin_version(spin: &Path) -> String {
    Command::new(spin)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown version".to_owned(), |v| v.trim().to_owned())
}
