//! Real servers the end-to-end tests run against, each installed (from
//! Debian's packages, when missing) and started by the tests themselves on a
//! free loopback port, so a clean machine (CI) needs no setup step.

use anyhow::{Context, Result, bail, ensure};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The path of `binary`, installing Debian's `package` if it is not there.
/// Installs run one at a time per process (dpkg takes a lock anyway).
pub fn debian_binary(binary: &str, package: &str) -> Result<PathBuf> {
    static APT: Mutex<()> = Mutex::new(());
    let _one = APT.lock().unwrap_or_else(|p| p.into_inner());
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin"] {
        let path = Path::new(dir).join(binary);
        if path.exists() {
            return Ok(path);
        }
    }
    eprintln!("installing {package} from Debian's packages (apt-get)...");
    static UPDATED: OnceLock<bool> = OnceLock::new();
    let apt = |args: &[&str]| -> Result<()> {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .context("running apt-get (the tests install their servers; run as root)")?;
        ensure!(status.success(), "apt-get {args:?} failed");
        Ok(())
    };
    if !*UPDATED.get_or_init(|| apt(&["update", "-q"]).is_ok()) {
        bail!("apt-get update failed");
    }
    apt(&["install", "-y", "-q", "--no-install-recommends", package])?;
    ["/usr/bin", "/usr/sbin"]
        .into_iter()
        .map(|dir| Path::new(dir).join(binary))
        .find(|path| path.exists())
        .with_context(|| format!("{package} installed no {binary}"))
}

/// A port nobody listens on right now.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A `redis-server` of our own: loopback only, no persistence, in a temp
/// dir; stopped when dropped.
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    /// `appendonly yes` with `appendfsync always`: what survives a kill.
    durable: bool,
}

impl RedisServer {
    /// A server keeping everything in memory.
    pub fn start() -> Result<RedisServer> {
        Self::start_on(free_port()?, Self::temp_dir()?, false)
    }

    /// A server that writes every command to its append-only file before it
    /// answers, so a killed server restarts with everything it acknowledged.
    pub fn start_durable() -> Result<RedisServer> {
        Self::start_on(free_port()?, Self::temp_dir()?, true)
    }

    fn temp_dir() -> Result<tempfile::TempDir> {
        Ok(tempfile::Builder::new()
            .prefix("spin-logs-redis-")
            .tempdir()?)
    }

    fn spawn(port: u16, dir: &std::path::Path, durable: bool) -> Result<Child> {
        let binary = debian_binary("redis-server", "redis-server")?;
        let aof: &[&str] = if durable {
            &["--appendonly", "yes", "--appendfsync", "always"]
        } else {
            &["--appendonly", "no"]
        };
        Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--protected-mode", "yes"])
            .args(aof)
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server")
    }

    /// Kills the server (SIGKILL): clients' connections break, and new ones
    /// are refused until [`RedisServer::restart`].
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port and folder.
    pub fn restart(&mut self) -> Result<()> {
        self.child = Self::spawn(self.port, self.dir.path(), self.durable)?;
        self.wait_until_up()
    }

    fn start_on(port: u16, dir: tempfile::TempDir, durable: bool) -> Result<RedisServer> {
        let child = Self::spawn(port, dir.path(), durable)?;
        let server = RedisServer {
            child,
            port,
            dir,
            durable,
        };
        server.wait_until_up()?;
        Ok(server)
    }

    fn wait_until_up(&self) -> Result<()> {
        let server = self;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ping = redis::Client::open(server.url(0))
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if ping.is_ok() {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "redis-server did not answer: {ping:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:<port>/<db>`
    pub fn url(&self, db: u32) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    /// Writes `dir/runtime-config.toml` pointing the `default` store at
    /// database `db` of this server, as an operator's runtime config would,
    /// and returns its path.
    pub fn runtime_config(&self, dir: &Path, db: u32) -> Result<PathBuf> {
        let path = dir.join("runtime-config.toml");
        let text = format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
            self.url(db)
        );
        std::fs::write(&path, text).context("writing the runtime config")?;
        Ok(path)
    }

    /// A connection, for tests that look at what the app stored.
    pub fn connection(&self, db: u32) -> Result<redis::Connection> {
        Ok(redis::Client::open(self.url(db))?.get_connection()?)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of a crates.io binary, `cargo install`ed once (per machine; the
/// tests' build cache keeps it) under `target/spin-logs-tools/<crate>-<version>`.
pub fn cargo_binary(
    krate: &str,
    version: &str,
    features: &[&str],
    binary: &str,
) -> Result<PathBuf> {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _one = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    let root = crate::manifest::repo_root()
        .join("target/spin-logs-tools")
        .join(format!("{krate}-{version}"));
    let path = root.join("bin").join(binary);
    if path.exists() {
        return Ok(path);
    }
    eprintln!("installing {krate} {version} from crates.io (cargo install, once)...");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .args([
            "install",
            "--locked",
            "--quiet",
            krate,
            "--version",
            version,
        ])
        .arg("--root")
        .arg(&root);
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    let status = command
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("running cargo install {krate}"))?;
    ensure!(status.success(), "cargo install {krate} {version} failed");
    ensure!(path.exists(), "{krate} installed no {}", path.display());
    Ok(path)
}

/// An S3-compatible server of our own (`s3s-fs`: S3 on a folder), on a free
/// loopback port with one bucket, `spin-logs`; stopped when dropped.
pub struct S3Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl S3Server {
    pub const BUCKET: &'static str = "spin-logs";
    pub const ACCESS_KEY: &'static str = "spinlogstest";
    pub const SECRET_KEY: &'static str = "spin-logs-test-secret";

    pub fn start() -> Result<S3Server> {
        let binary = cargo_binary("s3s-fs", "0.14.1", &["binary"], "s3s-fs")?;
        let dir = tempfile::Builder::new().prefix("spin-logs-s3-").tempdir()?;
        std::fs::create_dir(dir.path().join(Self::BUCKET))?;
        let port = free_port()?;
        let child = Command::new(binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--access-key",
                Self::ACCESS_KEY,
                "--secret-key",
                Self::SECRET_KEY,
            ])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting s3s-fs")?;
        let server = S3Server { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            ensure!(Instant::now() < deadline, "s3s-fs did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// `http://127.0.0.1:<port>`: the app's `s3_endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The variables that point the app at this server.
    pub fn variables(&self) -> Vec<(String, String)> {
        [
            ("blob_store", "s3".to_owned()),
            ("s3_endpoint", self.endpoint()),
            ("s3_bucket", Self::BUCKET.to_owned()),
            ("s3_access_key_id", Self::ACCESS_KEY.to_owned()),
            ("s3_secret_access_key", Self::SECRET_KEY.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Objects in the bucket (relative paths) and their sizes, read off the
    /// server's folder: what the app really stored.
    pub fn objects(&self) -> Result<Vec<(String, u64)>> {
        let bucket = self.dir.path().join(Self::BUCKET);
        let mut out = Vec::new();
        let mut stack = vec![bucket.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let path = entry.path();
                if entry.file_type()?.is_dir() {
                    stack.push(path);
                } else if let Ok(rel) = path.strip_prefix(&bucket) {
                    let rel = rel.to_string_lossy().into_owned();
                    // s3s-fs keeps its own metadata beside the objects.
                    if !rel.starts_with(".") && !rel.contains("/.") {
                        out.push((rel, entry.metadata()?.len()));
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The bytes of object `key` (a path [`S3Server::objects`] lists).
    pub fn object(&self, key: &str) -> Result<Vec<u8>> {
        Ok(std::fs::read(self.dir.path().join(Self::BUCKET).join(key))?)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Playwright's version the viewer tests drive Chromium with (from PyPI).
const PLAYWRIGHT: &str = "1.65.2";

/// A Python with Playwright (the driver only: it runs Debian's `chromium`,
/// never downloads a browser), and the path of that Chromium, installed
/// when missing.
pub fn playwright() -> Result<(PathBuf, PathBuf)> {
    let chromium = debian_binary("chromium", "chromium")?;
    let python = python_venv("playwright", &[&format!("playwright=={PLAYWRIGHT}")])?;
    Ok((python, chromium))
}

/// The Python of a virtualenv `target/<name>-venv` holding `packages`, each
/// pinned as `name==version`: created and filled from PyPI on first use,
/// reused while every pin is installed. Tests that drive a client from PyPI
/// (the Kubernetes client, Loki handlers, OpenTelemetry) start here.
pub fn python_venv(name: &str, packages: &[&str]) -> Result<PathBuf> {
    static ONE: Mutex<()> = Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|p| p.into_inner());
    let venv = crate::repo_root()
        .join("target")
        .join(format!("{name}-venv"));
    let python = venv.join("bin").join("python");
    let check = packages
        .iter()
        .filter_map(|p| p.split_once("=="))
        .map(|(n, v)| format!("assert m.version('{n}') == '{v}'"))
        .collect::<Vec<_>>()
        .join("; ");
    let ready = |python: &Path| {
        Command::new(python)
            .args(["-c", &format!("import importlib.metadata as m; {check}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return Ok(python);
    }
    eprintln!(
        "installing {packages:?} from PyPI into {}...",
        venv.display()
    );
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .context("python3 -m venv")?;
    ensure!(status.success(), "python3 -m venv failed");
    let status = Command::new(&python)
        .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
        .args(packages)
        .status()
        .context("pip install")?;
    ensure!(status.success(), "pip install {packages:?} failed");
    ensure!(
        ready(&python),
        "{packages:?} not installed after pip install"
    );
    Ok(python)
}
