//! The process-wide, compiled app: one `Engine`, every component compiled and
//! pre-linked once, so each test can start hosts cheaply.
//!
//! Compiling six components with Cranelift takes seconds, so the engine uses
//! wasmtime's own compilation cache, in `target/spin-logs-host/wasmtime-cache`
//! (so `cargo clean` clears it and a fresh clone starts empty). Its entries
//! are keyed by the engine's configuration and the wasm bytes, and it prunes
//! itself; there is no second, hand-written cache here to keep correct.

use anyhow::{Context, Result, anyhow};
use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Cache, CacheConfig, Config, Engine};
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

    let mut cache = CacheConfig::new();
    // Must be absolute; `repo_root()` is (it comes from `CARGO_MANIFEST_DIR`).
    cache.with_directory(
        root.join("target")
            .join("spin-logs-host")
            .join("wasmtime-cache"),
    );
    let cache = Cache::new(cache).map_err(|e| anyhow!("wasmtime cache: {e:?}"))?;
    let mut config = Config::new();
    config.epoch_interruption(true).cache(Some(cache));
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

    let mut components = HashMap::new();
    for (id, def) in &manifest.components {
        let source = manifest.source_path(def);
        let component = Component::from_file(&engine, &source)
            .map_err(|e| anyhow!("{e:?}"))
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
