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
    let path = Path::new("/usr/bin").join(binary);
    ensure!(path.exists(), "{package} installed no {}", path.display());
    Ok(path)
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
    _dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> Result<RedisServer> {
        let binary = debian_binary("redis-server", "redis-server")?;
        let dir = tempfile::Builder::new()
            .prefix("spin-logs-redis-")
            .tempdir()?;
        let port = free_port()?;
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting redis-server")?;
        let server = RedisServer {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ping = redis::Client::open(server.url(0))
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if ping.is_ok() {
                return Ok(server);
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
