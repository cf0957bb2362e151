//! The process-wide, compiled app: one `Engine`, every component compiled and
//! pre-linked once, so each test can start hosts cheaply.
//!
//! Compiling six components with Cranelift takes seconds, so compiled code is
//! also cached on disk in `target/spin-logs-host/`, keyed by the SHA-256 of
//! the `.wasm` and the engine's compatibility hash; an unusable cache entry
//! is simply recompiled.

use anyhow::{Context, Result, anyhow};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::builder::build_components;
use crate::instance::{self, InstanceState};
use crate::manifest::{Manifest, repo_root};

/// How often the engine's epoch advances. Guests yield to the async runtime
/// at every tick, so a request's time budget is enforced even on a guest
/// that never awaits.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

pub(crate) struct App {
    pub manifest: Manifest,
    pub engine: Engine,
    pub components: HashMap<String, ProxyPre<InstanceState>>,
}

/// Builds (unless `SPIN_LOGS_HOST_SKIP_BUILD=1`) and compiles the app once
/// per process.
pub(crate) fn app() -> Result<&'static App> {
    static APP: OnceLock<Result<App, String>> = OnceLock::new();
    APP.get_or_init(|| load(&repo_root()).map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow!("{e}"))
}

fn load(root: &Path) -> Result<App> {
    let manifest = Manifest::load(root)?;
    if std::env::var_os("SPIN_LOGS_HOST_SKIP_BUILD").is_none_or(|v| v != "1") {
        build_components(&manifest)?;
    }

    let mut config = Config::new();
    config.epoch_interruption(true);
    let engine = Engine::new(&config).map_err(|e| anyhow!("{e:?}"))?;
    let ticker = engine.weak();
    std::thread::Builder::new()
        .name("spin-logs-host-epoch".into())
        .spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })?;

    let mut linker = Linker::<InstanceState>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| anyhow!("{e:?}"))?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .map_err(|e| anyhow!("{e:?}"))?;
    instance::add_to_linker(&mut linker).map_err(|e| anyhow!("{e:?}"))?;

    let cache = root.join("target").join("spin-logs-host");
    let mut components = HashMap::new();
    for (id, def) in &manifest.components {
        let source = manifest.source_path(def);
        let component = compile(&engine, &source, &cache)
            .with_context(|| format!("component {id:?} ({})", source.display()))?;
        // Every import must be implemented. `define_unknown_imports_as_traps`
        // is deliberately not used: in wasmtime 48 it also "fills in" types an
        // interface merely `use`s (e.g. `error` in `wasi:io/streams`, `bucket`
        // in `wasi:keyvalue/atomics`) with fresh resource types, which then
        // fail to match and make instantiation impossible.
        let pre = linker
            .instantiate_pre(&component)
            .and_then(ProxyPre::new)
            .map_err(|e| anyhow!("component {id:?} cannot be served: {e:?}"))?;
        components.insert(id.clone(), pre);
    }
    Ok(App {
        manifest,
        engine,
        components,
    })
}

fn compile(engine: &Engine, source: &Path, cache_dir: &Path) -> Result<Component> {
    let wasm = std::fs::read(source).with_context(|| format!("reading {}", source.display()))?;
    let mut engine_hash = DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let key = format!(
        "{:x}-{:016x}.cwasm",
        Sha256::digest(&wasm),
        engine_hash.finish()
    );
    let cached: PathBuf = cache_dir.join(key);
    if cached.exists() {
        // SAFETY: the file was written by `Component::serialize` below for an
        // engine with the same compatibility hash; wasmtime still checks the
        // header and rejects mismatches, in which case we recompile.
        if let Ok(c) = unsafe { Component::deserialize_file(engine, &cached) } {
            // Mark as recently used, for pruning.
            let _ = std::fs::File::options()
                .append(true)
                .open(&cached)
                .and_then(|f| f.set_modified(std::time::SystemTime::now()));
            return Ok(c);
        }
    }
    let component = Component::new(engine, &wasm).map_err(|e| anyhow!("{e:?}"))?;
    if let Ok(bytes) = component.serialize() {
        // Best effort: write then rename, so concurrent test processes never
        // read a half-written file.
        let tmp = cache_dir.join(format!(".{}.tmp", std::process::id()));
        let written = std::fs::create_dir_all(cache_dir)
            .and_then(|()| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &cached));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        prune(cache_dir);
    }
    Ok(component)
}

/// Keeps the most recently used entries (a few builds' worth of the six
/// components); every rebuild of a component adds one.
fn prune(cache_dir: &Path) {
    const KEEP: usize = 24;
    let Ok(entries) = std::fs::read_dir(cache_dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    files.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    for (_, path) in files.into_iter().skip(KEEP) {
        let _ = std::fs::remove_file(path);
    }
}
