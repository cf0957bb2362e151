//! A small Spin-compatible host for end-to-end tests.
//!
//! The `spin` CLI cannot be installed where these tests run, so this crate
//! runs the real compiled components the way `spin up` would: it reads
//! `spin.toml` and `runtime-config.toml`, builds the components with their
//! `[component.X.build]` commands, routes requests with Spin's router, adds
//! Spin's `spin-*` headers, runs a fresh instance per request through
//! `wasi:http/incoming-handler`, and implements the Spin host interfaces the
//! components import (SQLite-backed `wasi:keyvalue`, `fermyon:spin/variables`).
//! It is a test fixture, not a product: no TLS, no outbound HTTP, no Redis.
//!
//! ```no_run
//! use spin_logs_tests::{HostOptions, TestHost};
//! let host = TestHost::start(HostOptions::default()).unwrap();
//! let url = host.url("/logs");
//! ```

mod app;
pub mod builder;
pub mod faultproxy;
mod instance;
pub mod k8s;
pub mod kv;
pub mod manifest;
pub mod npm;
pub mod outbound;
pub mod routes;
mod server;
pub mod services;

use anyhow::{Context, Result, ensure};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use manifest::repo_root;

/// How to run a host. Everything is off/default unless set.
#[derive(Debug, Clone, Default)]
pub struct HostOptions {
    /// Where the key-value databases live (runtime-config paths under
    /// `.spin/` are mapped into it). `None`: a fresh temp dir, removed when
    /// the host is dropped.
    pub state_dir: Option<PathBuf>,
    /// Overrides for `[variables]`, winning over `SPIN_VARIABLE_<NAME>` env
    /// vars, which win over defaults.
    pub variables: Vec<(String, String)>,
    /// Per-request time budget, from the start of instantiation. When it runs
    /// out the instance is dropped: before the response head that is a 500;
    /// afterwards the body simply stops (a chunked body ends as if complete,
    /// which is what Spin does when it kills an instance mid-stream).
    pub request_timeout: Option<Duration>,
    /// Response bodies are cut after this many bytes: the bytes up to the
    /// limit are sent, then the connection is aborted, so the client sees an
    /// incomplete body.
    pub max_response_bytes: Option<u64>,
    /// Linear-memory limit per instance (`StoreLimits::memory_size`); growth
    /// beyond it fails inside the guest.
    pub max_memory_bytes: Option<usize>,
    /// Abort the guest as soon as the client disconnects (Spin since
    /// spinframework/spin#3541, May 2026). Default: the guest keeps running
    /// and its next body write fails, so it can clean up (`wasmtime serve`,
    /// and Spin releases before that change); `request_timeout` still bounds it.
    pub abort_on_disconnect: bool,
    /// Address to listen on; default `127.0.0.1:0` (an ephemeral port).
    pub listen: Option<SocketAddr>,
    /// The runtime config to read instead of the repo's `runtime-config.toml`
    /// (e.g. one that puts the stores on Redis).
    pub runtime_config: Option<PathBuf>,
    /// Reproduce Spin's SQLite backend for a CAS on an absent key (upsert,
    /// silently overwriting a concurrent creator) instead of the documented
    /// insert-if-absent. See [`kv::Cas::swap`].
    pub cas_insert_overwrites: bool,
    /// Serve the Spin app in this directory (its `spin.toml`, built by its
    /// build commands) instead of spin-logs; the benchmarks' hello-world
    /// anchor is one (`tests/hello-world`).
    pub app_dir: Option<PathBuf>,
    /// Collect every instance's stderr (the app's log) for
    /// [`TestHost::guest_stderr`] instead of passing it through.
    pub capture_guest_stderr: bool,
    /// A fault plan for every key-value call (`tests/tests/faults.rs`).
    pub kv_faults: Option<kv::Faults>,
}

/// A running host. Serves on its own tokio runtime; stops when dropped.
pub struct TestHost {
    addr: SocketAddr,
    stderr: Option<wasmtime_wasi::p2::pipe::MemoryOutputPipe>,
    state_dir: PathBuf,
    runtime: Option<tokio::runtime::Runtime>,
    // Declared after `runtime` so the runtime stops before the dir goes.
    _temp_dir: Option<tempfile::TempDir>,
}

impl TestHost {
    /// Builds and compiles the app (once per process), then starts serving.
    pub fn start(opts: HostOptions) -> Result<TestHost> {
        let app = app::app(opts.app_dir.as_deref())?;
        let manifest = &app.manifest;

        let (state_dir, temp_dir) = match &opts.state_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                (dir.clone(), None)
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("spin-logs-host-")
                    .tempdir()?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };

        let vars = manifest::Variables::resolve(manifest, &opts.variables, |name| {
            std::env::var(name).ok()
        })?;
        let runtime_config = opts
            .runtime_config
            .clone()
            .unwrap_or_else(|| manifest.root.join("runtime-config.toml"));
        let locations = manifest::key_value_stores(&runtime_config, &state_dir)?;
        let mut kv = kv::KvStores::open(&locations, opts.cas_insert_overwrites)?;
        kv.faults = opts.kv_faults.clone();
        let mut grants = std::collections::HashMap::new();
        let mut outbound_grants = std::collections::HashMap::new();
        for (id, component) in &manifest.components {
            for label in &component.key_value_stores {
                // Spin refuses to start in this case too.
                ensure!(
                    kv.is_defined(label),
                    "unknown key_value_stores label {label:?} for component {id:?}"
                );
            }
            let granted: HashSet<String> = component.key_value_stores.iter().cloned().collect();
            grants.insert(id.clone(), Arc::new(granted));
            let resolved = component
                .allowed_outbound_hosts
                .iter()
                .map(|t| vars.expand(t))
                .collect::<Result<Vec<_>>>()
                .with_context(|| format!("component {id:?}: allowed_outbound_hosts"))?;
            let hosts = outbound::AllowedHosts::parse(&resolved)
                .with_context(|| format!("component {id:?}"))?;
            outbound_grants.insert(id.clone(), Arc::new(hosts));
        }

        // 16 MiB: a write beyond it fails in the guest, which no test nears.
        let stderr = opts
            .capture_guest_stderr
            .then(|| wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(16 << 20));
        let server = Arc::new(server::Server {
            app,
            router: routes::Router::build(&manifest.routes)?,
            kv: Arc::new(kv),
            vars: Arc::new(vars),
            grants,
            outbound: outbound_grants,
            stderr: stderr.clone(),
            limits: server::Limits {
                request_timeout: opts.request_timeout,
                max_response_bytes: opts.max_response_bytes,
                max_memory_bytes: opts.max_memory_bytes,
                abort_on_disconnect: opts.abort_on_disconnect,
            },
        });

        let listen = opts
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = std::net::TcpListener::bind(listen)
            .with_context(|| format!("listening on {listen}"))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("spin-logs-host")
            .enable_all()
            .build()?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        runtime.spawn(server.serve(listener));

        Ok(TestHost {
            addr,
            stderr,
            state_dir,
            runtime: Some(runtime),
            _temp_dir: temp_dir,
        })
    }

    /// `http://127.0.0.1:<port>`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `base_url()` + `path_and_query` (which should start with `/`).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base_url())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// What the app has written to stderr so far (with
    /// `capture_guest_stderr`; empty otherwise).
    pub fn guest_stderr(&self) -> String {
        self.stderr
            .as_ref()
            .map(|p| String::from_utf8_lossy(&p.contents()).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                // Blocking is not allowed inside another runtime.
                runtime.shutdown_background();
            } else {
                // Wait (briefly) so connections and database handles are
                // closed before the state dir is removed or reused.
                runtime.shutdown_timeout(Duration::from_secs(2));
            }
        }
    }
}

/// `s` percent-encoded as a URL query value: RFC 3986's unreserved
/// characters kept, every other byte `%XX`.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
