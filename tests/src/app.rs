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
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
};
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

/// Builds (unless `SPIN_LOGS_HOST_SKIP_BUILD=1`) and compiles the app in
/// `root` (default: spin-logs itself) once per process.
pub(crate) fn app(root: Option<&Path>) -> Result<&'static App> {
    type Apps = Mutex<HashMap<PathBuf, &'static Result<App, String>>>;
    static APPS: OnceLock<Apps> = OnceLock::new();
    let root = root.map_or_else(repo_root, Path::to_path_buf);
    // Held while building: two hosts of one app never build it twice.
    let mut apps = APPS
        .get_or_init(Default::default)
        .lock()
        .map_err(|_| anyhow!("app cache poisoned"))?;
    let loaded = *apps
        .entry(root.clone())
        .or_insert_with(|| Box::leak(Box::new(load(&root).map_err(|e| format!("{e:#}")))));
    loaded.as_ref().map_err(|e| anyhow!("{e}"))
}

/// The engine, configured as Spin's (`spin-core`'s `Config::default`):
/// epoch interruption, and the pooling instance allocator with Spin's limits
/// (`SPIN_MAX_INSTANCE_COUNT` concurrent instances, default 1,000; 2 MiB of
/// linear memory kept resident per slot), which is what makes instantiation
/// cheap there. `SPIN_WASMTIME_POOLING=0` turns pooling off, as in Spin;
/// `SPIN_LOGS_HOST_PERFMAP=1` writes a perf map for profiling guests.
fn engine_config() -> Config {
    const MB: usize = 1 << 20;
    let mut config = Config::new();
    config.epoch_interruption(true);
    // `perf record` then names guest functions (`/tmp/perf-<pid>.map`).
    if std::env::var_os("SPIN_LOGS_HOST_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if std::env::var("SPIN_WASMTIME_POOLING").is_ok_and(|v| v == "0") {
        return config;
    }
    let max: u32 = std::env::var("SPIN_MAX_INSTANCE_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(max)
        .total_memories(max)
        .total_tables(2 * max)
        .total_stacks(max)
        .total_core_instances(4 * max)
        .table_elements(100_000)
        .max_component_instance_size(10 * MB)
        .max_core_instance_size(10 * MB)
        .max_core_instances_per_component(200)
        .max_tables_per_component(64)
        .max_memories_per_component(32)
        .max_tables_per_module(2)
        .max_memories_per_module(2)
        .max_memory_size(4 << 30)
        .linear_memory_keep_resident(2 * MB)
        .table_keep_resident(MB / 2);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    config
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
    let mut config = engine_config();
    config.cache(Some(cache));
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
