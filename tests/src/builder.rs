//! `spin build`: run each component's `[component.X.build] command`.
//!
//! Commands run through `sh -c` from the repo root (or the component's
//! `workdir`), as `spin build` does, with the outer cargo's per-invocation
//! environment removed so a `cargo test` run does not leak its target dir,
//! flags or jobserver into the nested build. Commands that differ only in
//! their package run as one `cargo build -p a -p b ...` per profile, so
//! cargo builds the components side by side.
//!
//! Locking: we checked empirically (cargo 1.95) that a nested
//! `cargo build --target wasm32-wasip2 --release` into the *same* `target/`
//! does not deadlock when run from `cargo test`, `cargo test --release` or
//! `cargo run --release`: cargo releases its build-directory lock before it
//! runs test binaries or `run` targets. So the components are built exactly
//! where `spin.toml`'s `source` paths point; no path mapping is needed. (A
//! concurrent, unrelated cargo build in `target/` only makes us wait.)

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;

use crate::manifest::Manifest;

/// Environment variables that describe the *outer* cargo invocation, not the
/// user's setup. `CARGO_HOME`, `RUSTUP_HOME`, `RUSTUP_TOOLCHAIN` and `PATH`
/// are kept, as are user-level `CARGO_NET_*`/`CARGO_HTTP_*`/registry settings.
fn is_outer_cargo_var(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "CARGO",
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "MAKEFLAGS",
        "MFLAGS",
        "OUT_DIR",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_MAKEFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_CRATE_NAME",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
        "CARGO_LLVM_COV",
    ];
    const PREFIXES: &[&str] = &[
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "CARGO_BIN_",
        "CARGO_CFG_",
        "__CARGO",
    ];
    EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

fn command(program: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir);
    for (name, _) in std::env::vars_os() {
        if let Some(name) = name.to_str()
            && is_outer_cargo_var(name)
        {
            cmd.env_remove(name);
        }
    }
    cmd
}

fn run(mut cmd: Command, what: &str) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed with {status}");
    }
    Ok(())
}

/// Runs every component's build command (after making sure the
/// `wasm32-wasip2` target is installed). If all commands are
/// `cargo build <same flags> -p <one package>` in the repo root, they run as a
/// single cargo invocation; otherwise each runs as written.
pub fn build_components(manifest: &Manifest) -> Result<()> {
    let root = &manifest.root;
    // Idempotent; a no-op (without network) when the target is installed.
    // rustup may be absent (distro toolchains): then the build itself says
    // what is missing.
    let mut rustup = command("rustup", root);
    rustup.args(["target", "add", "wasm32-wasip2"]);
    if let Err(e) = run(rustup, "rustup target add wasm32-wasip2") {
        eprintln!("spin-logs-host: {e:#}; building anyway");
    }

    let builds: Vec<_> = manifest
        .components
        .iter()
        .filter_map(|(id, c)| c.build.as_ref().map(|b| (id, b)))
        .collect();
    if let Some(groups) = combined_cargo_builds(builds.iter().map(|(_, b)| *b)) {
        for args in groups {
            let mut cmd = command("cargo", root);
            cmd.args(&args);
            run(cmd, &format!("cargo {}", args.join(" ")))?;
        }
        return Ok(());
    }
    for (id, build) in builds {
        let dir = match &build.workdir {
            Some(w) => root.join(w),
            None => root.clone(),
        };
        let mut cmd = command("sh", &dir);
        cmd.args(["-c", &build.command]);
        run(
            cmd,
            &format!("build of component {id:?} (`{}`)", build.command),
        )?;
    }
    Ok(())
}

/// Builds the native binary `bin` of workspace package `package` (the dev
/// profile, as `cargo test` builds) once per process, and returns its path:
/// the CLI's end-to-end tests run the real binary, which a test of another
/// package cannot name through `CARGO_BIN_EXE_*`.
pub fn native_binary(package: &str, bin: &str) -> Result<std::path::PathBuf> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static BUILT: OnceLock<Mutex<HashMap<String, Result<std::path::PathBuf, String>>>> =
        OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .map_err(|_| anyhow::anyhow!("build cache poisoned"))?;
    let result = built.entry(format!("{package}/{bin}")).or_insert_with(|| {
        let root = crate::manifest::repo_root();
        let mut cmd = command("cargo", &root);
        cmd.args(["build", "-q", "-p", package, "--bin", bin]);
        run(cmd, &format!("cargo build -p {package} --bin {bin}"))
            .map(|()| {
                root.join("target")
                    .join("debug")
                    .join(format!("{bin}{}", std::env::consts::EXE_SUFFIX))
            })
            .map_err(|e| format!("{e:#}"))
    });
    result.clone().map_err(|e| anyhow::anyhow!("{e}"))
}

/// One `cargo build <flags> -p a -p b ...` per distinct `<flags>` (the
/// families build with two profiles), if every command is
/// `cargo build <flags> -p <pkg>` with no workdir.
fn combined_cargo_builds<'a>(
    builds: impl Iterator<Item = &'a crate::manifest::BuildDef>,
) -> Option<Vec<Vec<String>>> {
    let mut groups: Vec<(Vec<&str>, Vec<&str>)> = Vec::new();
    for build in builds {
        if build.workdir.is_some() {
            return None;
        }
        let words: Vec<&str> = build.command.split_whitespace().collect();
        if words
            .iter()
            .any(|w| w.contains(['\'', '"', '$', ';', '&', '|', '`']))
        {
            return None;
        }
        let ["cargo", "build", rest @ ..] = words.as_slice() else {
            return None;
        };
        let p = rest.iter().position(|w| *w == "-p" || *w == "--package")?;
        let package = *rest.get(p + 1)?;
        let mut others: Vec<&str> = rest.to_vec();
        others.drain(p..p + 2);
        if others.iter().any(|w| *w == "-p" || *w == "--package") {
            return None;
        }
        match groups.iter_mut().find(|(flags, _)| *flags == others) {
            Some((_, packages)) => packages.push(package),
            None => groups.push((others, vec![package])),
        }
    }
    let commands = groups.into_iter().map(|(flags, packages)| {
        let mut args = vec!["build".to_owned()];
        args.extend(flags.into_iter().map(str::to_owned));
        for p in packages {
            args.push("-p".to_owned());
            args.push(p.to_owned());
        }
        args
    });
    Some(commands.collect())
}
