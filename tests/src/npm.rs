//! Packages from the npm registry for tests that drive a real Node.js
//! client (`pino-loki`, issue 28), the way [`crate::services::python_venv`]
//! does for PyPI.

use anyhow::{Context, Result, ensure};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// The directory `target/<name>-npm` whose `node_modules` holds `packages`,
/// each pinned as `name@version`: installed from the npm registry on first
/// use (`npm install --save-exact`), reused while every pin is installed.
/// Run scripts with `node` and this directory as the current directory (or
/// `NODE_PATH=<dir>/node_modules`).
pub fn npm_packages(name: &str, packages: &[&str]) -> Result<PathBuf> {
    static ONE: Mutex<()> = Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|p| p.into_inner());
    let dir = crate::repo_root()
        .join("target")
        .join(format!("{name}-npm"));
    let pins: Vec<(&str, &str)> = packages
        .iter()
        .map(|p| {
            // `@scope/name@1.2.3`: the version follows the last `@`.
            p.rsplit_once('@')
                .filter(|(n, _)| !n.is_empty())
                .with_context(|| format!("{p}: pin it as name@version"))
        })
        .collect::<Result<_>>()?;
    if installed(&dir, &pins) {
        return Ok(dir);
    }
    eprintln!(
        "installing {packages:?} from the npm registry into {}...",
        dir.display()
    );
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let manifest = dir.join("package.json");
    if !manifest.exists() {
        std::fs::write(
            &manifest,
            format!("{{\"name\": \"{name}-test-clients\", \"private\": true}}\n"),
        )?;
    }
    let status = Command::new("npm")
        .current_dir(&dir)
        .args([
            "install",
            "--save-exact",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ])
        .args(packages)
        .stdout(Stdio::null())
        .status()
        .context("npm install (is Node.js installed? apt-get install nodejs npm)")?;
    ensure!(status.success(), "npm install {packages:?} failed");
    ensure!(
        installed(&dir, &pins),
        "{packages:?} not installed after npm install"
    );
    Ok(dir)
}

/// Whether `dir/node_modules` holds each package at its pinned version.
fn installed(dir: &Path, pins: &[(&str, &str)]) -> bool {
    pins.iter().all(|(name, version)| {
        let manifest = dir.join("node_modules").join(name).join("package.json");
        std::fs::read_to_string(&manifest).is_ok_and(|m| version_of(&m) == Some(version))
    })
}

/// The top-level `"version"` of a package.json (the first one: npm writes
/// it before any nested object that could hold another).
fn version_of(manifest: &str) -> Option<&str> {
    let at = manifest.find("\"version\"")?;
    let rest = manifest[at + 9..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    let rest = rest.strip_prefix('"')?;
    rest.split('"').next()
}

/// `node` (from `PATH`), for running a script beside [`npm_packages`].
pub fn node() -> Result<PathBuf> {
    let out = Command::new("node")
        .arg("--version")
        .output()
        .context("node --version (is Node.js installed? apt-get install nodejs npm)")?;
    ensure!(out.status.success(), "node --version failed");
    Ok(PathBuf::from("node"))
}
