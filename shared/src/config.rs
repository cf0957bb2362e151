//! Settings read from Spin variables (declared in `spin.toml`).
//!
//! Each setting is read from its variable the first time a request asks for
//! it, and kept for the rest of the request: a request reads only what it
//! uses (a 401 reads the gate's keys and nothing else; every variable read
//! is a host call), and a component may be given only the variables its
//! family uses ([`vars`]). Read through a lookup function so native tests can
//! supply their own. Every setting of every layer is parsed here, below the
//! layers that use it, so a malformed deployment fails the same way
//! whichever route notices, and the auth gate and the rate limiter need not
//! know where their numbers come from.

use crate::store::s3::S3Settings;
use serde::Deserialize;
use std::cell::{OnceCell, RefCell};
use std::rc::Rc;

/// The variables, as spin.toml declares them, and the groups the route
/// families take them in (`routes::Family::variables`). spin.toml (written
/// by `tools/gen`) maps into each component exactly its family's groups.
pub mod vars {
    /// A variable spin.toml declares: its name, default, whether Spin must
    /// treat it as a secret, and what it is for.
    pub struct Variable {
        /// The variable's name, as spin.toml and `spin up --variable` spell it.
        pub name: &'static str,
        /// The value it has when the deployment sets none (often empty: unset).
        pub default: &'static str,
        /// Whether Spin must treat it as a secret (keys, passwords).
        pub secret: bool,
        /// What it is for: one line, copied into spin.toml and the docs.
        pub doc: &'static str,
    }

    const fn var(name: &'static str, default: &'static str, doc: &'static str) -> Variable {
        Variable {
            name,
            default,
            secret: false,
            doc,
        }
    }

    const fn secret(name: &'static str, doc: &'static str) -> Variable {
        Variable {
            name,
            default: "",
            secret: true,
            doc,
        }
    }

    /// Every variable. Sizes are bytes, durations milliseconds unless the
    /// name says otherwise; empty means unset.
    pub const ALL: &[Variable] = &[
        var(
            "max_body_bytes",
            "8388608",
            "Largest request body accepted; larger is a 413.",
        ),
        var(
            "max_header_bytes",
            "16384",
            "Largest total of request header bytes; more is a 431. At least 4096.",
        ),
        var(
            "max_uri_bytes",
            "8192",
            "Longest path and query; longer is a 414. At least 1024.",
        ),
        secret(
            "auth_hs256_secret",
            "Authentication (docs/auth.md). Empty means unset; with no key at all every request is a 401: `spin up` without configuration stays closed.",
        ),
        var("auth_rs256_public_key", "", "PEM: verifies RS256 JWTs."),
        var("auth_es256_public_key", "", "PEM: verifies ES256 JWTs."),
        var(
            "auth_api_keys",
            "",
            "JSON array of {\"sha256\": \"<hex of the key>\", \"uid\": \"...\", \"permissions\": [...]}.",
        ),
        secret(
            "auth_digest_keys",
            "JSON array of {\"username\": \"<public key>\", \"ha1_md5\": \"...\", \"ha1_sha256\": \"...\", \"uid\": \"...\", \"permissions\": [...]}: HTTP Digest key pairs (spin-logs token digestkey prints one).",
        ),
        secret(
            "url_token_secret",
            "Signs URL tokens; derived from auth_hs256_secret if unset.",
        ),
        var(
            "rate_limit_standard",
            "100",
            "Requests per minute and caller, per class; 0 turns a class's limit off.",
        ),
        var("rate_limit_heavy", "10", ""),
        var("rate_limit_ingest", "6000", ""),
        var(
            "rate_limit_loki",
            "600",
            "Loki's read API (a Grafana data source): one Explore run or Logs Drilldown screen sends dozens (docs/auth.md).",
        ),
        var(
            "blob_store",
            "kv",
            "Where log bytes go: \"kv\" (chunks in the default store) or \"s3\" (docs/storage.md). s3_endpoint is also each storing component's only allowed outbound host; empty (the default) allows none.",
        ),
        var("s3_endpoint", "", ""),
        var("s3_region", "us-east-1", ""),
        var("s3_bucket", "", ""),
        var("s3_access_key_id", "", ""),
        secret("s3_secret_access_key", ""),
        var("s3_path_style", "true", ""),
        var("s3_prefix", "", ""),
        var(
            "max_response_bytes",
            "8388608",
            "Most bytes one read response carries before it ends with a next cursor; 0: no cap (hosts without a response limit).",
        ),
        var(
            "tail_budget_ms",
            "25000",
            "How long one follow streams before it ends with a resume event.",
        ),
        var(
            "keepalive_ms",
            "15000",
            "Silence after which a follow sends a keepalive.",
        ),
        var(
            "max_followers",
            "8",
            "Concurrent follows one caller may hold; more is a 429.",
        ),
        var(
            "capture_default_process",
            "",
            "dotnet-monitor's default process for GET /logs: \"\" (none: a 400, as dotnet-monitor answers), \"*\" (the whole journal) or FIELD=value (_PID=4242).",
        ),
        var(
            "max_archive_bytes",
            "1073741824",
            "Largest sandbox streamed as one .tar.gz; larger is a 413 pointing at jobs.",
        ),
        var(
            "job_step_ms",
            "3000",
            "How long one request may spend advancing a job or an archive run.",
        ),
        var(
            "url_token_max_ttl_s",
            "600",
            "The longest URL token lifetime one may mint, in seconds.",
        ),
        var(
            "archive_grace_ms",
            "300000",
            "Archive runs keep replaced blobs this long before deleting them.",
        ),
        var(
            "query_budget_ms",
            "20000",
            "A search or LogQL query scans this long at most, then answers with a cursor.",
        ),
        var(
            "idempotency_ttl_s",
            "86400",
            "How long an Idempotency-Key is remembered, in seconds: a retry within it is stored once.",
        ),
        var(
            "k8s_allowed_hosts",
            "",
            "The Kubernetes API servers the clusters and collect components may reach: its allowed_outbound_hosts entry (scheme://host:port, * allowed, as `https://*:6443`); empty allows none (docs/kubernetes.md).",
        ),
        secret(
            "k8s_token_key",
            "Seals cluster bearer tokens in the key-value store; derived from auth_hs256_secret if unset. Changing it makes stored tokens unreadable: set them again.",
        ),
        var(
            "idempotency_in_flight_ms",
            "30000",
            "How long an append with an Idempotency-Key may take to commit; a retry of an attempt that died waits at most twice this (409 with Retry-After meanwhile).",
        ),
        var(
            "metrics_request_sample",
            "0",
            "One request in this many is counted in /metrics' request counters, as this many; 0 (the default) counts only 5xx. Each count is two store writes: cheap on Redis (set 1 there), an fsync each on the embedded SQLite store, where even 1 in 16 cut refusals' throughput on Spin 4.1 to a third.",
        ),
    ];

    /// The bounds every request passes first, and the body limit.
    pub const GUARD: &[&str] = &["max_body_bytes", "max_header_bytes", "max_uri_bytes"];
    /// The auth gate: keys, secrets and rate limits.
    pub const GATE: &[&str] = &[
        "auth_hs256_secret",
        "auth_rs256_public_key",
        "auth_es256_public_key",
        "auth_api_keys",
        "auth_digest_keys",
        "url_token_secret",
        "rate_limit_standard",
        "rate_limit_heavy",
        "rate_limit_ingest",
        "rate_limit_loki",
    ];
    /// Where log bytes live.
    pub const STORAGE: &[&str] = &[
        "metrics_request_sample",
        "blob_store",
        "s3_endpoint",
        "s3_region",
        "s3_bucket",
        "s3_access_key_id",
        "s3_secret_access_key",
        "s3_path_style",
        "s3_prefix",
    ];
    /// Reads that answer in pages.
    pub const READS: &[&str] = &["max_response_bytes"];
    /// Follows: their budget, keepalives and slots.
    pub const FOLLOW: &[&str] = &["tail_budget_ms", "keepalive_ms", "max_followers"];
    /// dotnet-monitor's captures.
    pub const CAPTURE: &[&str] = &["capture_default_process"];
    /// Sandbox archives and log collection jobs.
    pub const ARCHIVES: &[&str] = &["max_archive_bytes", "job_step_ms"];
    /// Minting URL tokens.
    pub const TOKENS: &[&str] = &["url_token_max_ttl_s"];
    /// Archive runs.
    pub const RETENTION: &[&str] = &["job_step_ms", "archive_grace_ms"];
    /// Searches and LogQL.
    pub const QUERY: &[&str] = &["query_budget_ms"];
    /// Clusters, collection configuration and pulls (`collect`).
    pub const K8S: &[&str] = &["job_step_ms", "k8s_allowed_hosts", "k8s_token_key"];
    /// Appends with an `Idempotency-Key`.
    pub const IDEMPOTENCY: &[&str] = &["idempotency_ttl_s", "idempotency_in_flight_ms"];
}

/// The smallest `max_uri_bytes` honoured (a smaller value is taken as
/// this): a request within both floors passes the guard whatever the
/// variables say, so it need not read them (`web::guard`).
pub const MIN_URI_BYTES: u64 = 1024;
/// The smallest `max_header_bytes` honoured, as [`MIN_URI_BYTES`].
pub const MIN_HEADER_BYTES: u64 = 4096;

/// A deployment error: a variable is set to something unusable, or a
/// component reads a variable spin.toml does not give it. Never a reason to
/// fall back to a default or to open up; the request fails (500).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

/// How a variable is looked up: its value, `None` for unset (the default
/// applies), or an error (Spin's for a variable the component has not been
/// given).
/// Shared by [`Config`] and its [`AuthSettings`], which read lazily too.
type Lookup = Rc<dyn Fn(&str) -> Result<Option<String>, ConfigError>>;

/// Every setting, read at first use (see the module docs).
pub struct Config {
    lookup: Lookup,
    /// Numbers read so far.
    numbers: RefCell<Vec<(&'static str, u64)>>,
    auth: OnceCell<AuthSettings>,
    blobs: OnceCell<BlobBackend>,
    capture: OnceCell<DefaultProcess>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("numbers", &self.numbers.borrow())
            .field("auth", &self.auth.get())
            .finish_non_exhaustive()
    }
}

impl Default for Config {
    /// Every setting at its default.
    fn default() -> Self {
        Config::from_lookup(|_| None)
    }
}

/// Gets a [`OnceCell`]'s value, building it on first use.
fn cached<T>(
    cell: &OnceCell<T>,
    build: impl FnOnce() -> Result<T, ConfigError>,
) -> Result<&T, ConfigError> {
    if let Some(value) = cell.get() {
        return Ok(value);
    }
    let value = build()?;
    Ok(cell.get_or_init(|| value))
}

/// A lookup of these variables, the rest unset: for tests.
fn pairs_lookup(pairs: &[(&str, &str)]) -> Lookup {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Rc::new(move |name| {
        Ok(pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone()))
    })
}

impl Config {
    /// Settings from `lookup(name)`; `None` (or an absent variable) means
    /// the default. A present but malformed value is a deployment error.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + 'static) -> Self {
        Config::strict(move |name| Ok(lookup(name)))
    }

    /// Settings from a lookup that may fail: on Spin, reading a variable the
    /// component was not given is an error, not a default.
    pub fn strict(lookup: impl Fn(&str) -> Result<Option<String>, ConfigError> + 'static) -> Self {
        // Empty and whitespace-only mean unset.
        Config::new(Rc::new(move |name| {
            Ok(lookup(name)?.filter(|v| !v.trim().is_empty()))
        }))
    }

    fn new(lookup: Lookup) -> Self {
        Config {
            lookup,
            numbers: RefCell::new(Vec::new()),
            auth: OnceCell::new(),
            blobs: OnceCell::new(),
            capture: OnceCell::new(),
        }
    }

    /// Settings with these variables set and the rest at their defaults:
    /// for tests.
    pub fn with(pairs: &[(&str, &str)]) -> Self {
        Config::new(pairs_lookup(pairs))
    }

    /// A variable's text; empty and whitespace-only mean unset.
    fn text(&self, name: &str) -> Result<Option<String>, ConfigError> {
        (self.lookup)(name)
    }

    fn number(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        if let Some((_, n)) = self.numbers.borrow().iter().find(|(k, _)| *k == name) {
            return Ok(*n);
        }
        let n = match self.text(name)? {
            None => default,
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| ConfigError(format!("variable {name} = {v:?} is not a number")))?,
        };
        self.numbers.borrow_mut().push((name, n));
        Ok(n)
    }

    /// Largest request body accepted (ingest batches); larger is a 413.
    pub fn max_body_bytes(&self) -> Result<u64, ConfigError> {
        self.number("max_body_bytes", 8 * 1024 * 1024)
    }

    /// Most bytes one read response may carry before it ends with a "next"
    /// cursor: a per-deployment setting, because hosts differ (about 10 MiB
    /// on some serverless hosts; `spin up` has no cap). `0` in the variable
    /// means no cap (`u64::MAX` here): one response carries the whole read.
    pub fn max_response_bytes(&self) -> Result<u64, ConfigError> {
        Ok(match self.number("max_response_bytes", 8 * 1024 * 1024)? {
            0 => u64::MAX,
            n => n,
        })
    }

    /// How long one follow (SSE tail) invocation streams before it ends with
    /// a resume event, in ms: well under the host's request limit.
    pub fn tail_budget_ms(&self) -> Result<u64, ConfigError> {
        self.number("tail_budget_ms", 25_000)
    }

    /// Silence after which a follow sends a keepalive, in milliseconds.
    pub fn keepalive_ms(&self) -> Result<u64, ConfigError> {
        self.number("keepalive_ms", 15_000)
    }

    /// Concurrent follows one caller may hold; more is a 429.
    pub fn max_followers(&self) -> Result<u64, ConfigError> {
        self.number("max_followers", 8)
    }

    /// Largest sandbox (sum of file sizes) streamed as one `.tar.gz`; larger
    /// is a 413 pointing at log collection jobs.
    pub fn max_archive_bytes(&self) -> Result<u64, ConfigError> {
        self.number("max_archive_bytes", 1024 * 1024 * 1024)
    }

    /// How long one request may spend advancing a log collection job or an
    /// archive run, in ms.
    pub fn job_step_ms(&self) -> Result<u64, ConfigError> {
        self.number("job_step_ms", 3_000)
    }

    /// How long blobs an archive run replaced or expired are kept before
    /// deletion, and how long a page must have been sealed before it is
    /// packed, in ms: longer than any request, which may hold the old index.
    pub fn archive_grace_ms(&self) -> Result<u64, ConfigError> {
        self.number("archive_grace_ms", 300_000)
    }

    /// How long one search or LogQL query may scan before it answers with
    /// what it has and a cursor (ms): inside the hosts' ~30 s request limit.
    pub fn query_budget_ms(&self) -> Result<u64, ConfigError> {
        self.number("query_budget_ms", 20_000)
    }

    /// Largest total of request header bytes the client sent; more is a 431.
    /// Never under [`MIN_HEADER_BYTES`].
    pub fn max_header_bytes(&self) -> Result<u64, ConfigError> {
        Ok(self
            .number("max_header_bytes", 16 * 1024)?
            .max(MIN_HEADER_BYTES))
    }

    /// Longest path and query; longer is a 414. Never under
    /// [`MIN_URI_BYTES`].
    pub fn max_uri_bytes(&self) -> Result<u64, ConfigError> {
        Ok(self.number("max_uri_bytes", 8 * 1024)?.max(MIN_URI_BYTES))
    }

    /// How long an `Idempotency-Key` is remembered, in seconds.
    pub fn idempotency_ttl_s(&self) -> Result<u64, ConfigError> {
        self.number("idempotency_ttl_s", 86_400)
    }

    /// How long an append with an `Idempotency-Key` may take to commit, in ms.
    pub fn idempotency_in_flight_ms(&self) -> Result<u64, ConfigError> {
        self.number("idempotency_in_flight_ms", 30_000)
    }

    /// `metrics_request_sample`: one request in this many is counted, as
    /// this many (`store::metrics::request_weight`).
    pub fn metrics_request_sample(&self) -> Result<u64, ConfigError> {
        self.number("metrics_request_sample", 0)
    }

    /// `url_token_max_ttl_s`: the longest URL token lifetime one may mint.
    pub fn url_token_max_ttl_s(&self) -> Result<u64, ConfigError> {
        self.number("url_token_max_ttl_s", URL_TOKEN_MAX_TTL_S)
    }

    /// `k8s_allowed_hosts`: the cluster hosts the deployment lets `collect`
    /// reach (its `allowed_outbound_hosts` entry), as written.
    pub fn k8s_allowed_hosts(&self) -> Result<Option<String>, ConfigError> {
        self.text("k8s_allowed_hosts")
    }

    /// The secret cluster tokens are sealed with: `k8s_token_key`, else
    /// derived from `auth_hs256_secret` (never stored beside what it seals).
    pub fn k8s_token_key(&self) -> Result<Option<String>, ConfigError> {
        if let Some(key) = self.text("k8s_token_key")? {
            return Ok(Some(key));
        }
        Ok(self.auth().hs256_secret()?.map(str::to_owned))
    }

    /// Keys and secrets of the auth gate (`auth_*`, `url_token_secret`),
    /// each read when first used.
    pub fn auth(&self) -> &AuthSettings {
        self.auth
            .get_or_init(|| AuthSettings::new(self.lookup.clone()))
    }

    /// Requests per minute and caller for `class` (`rate_limit_*`); 0: no
    /// limit. Reads that class's variable only.
    pub fn rate_limit(&self, class: Class) -> Result<u64, ConfigError> {
        let name = match class {
            Class::Standard => "rate_limit_standard",
            Class::Heavy => "rate_limit_heavy",
            Class::Ingest => "rate_limit_ingest",
            Class::Loki => "rate_limit_loki",
        };
        self.number(name, Limits::default().of(class))
    }

    /// Where log bytes go (`blob_store`, `s3_*`).
    pub fn blobs(&self) -> Result<&BlobBackend, ConfigError> {
        cached(&self.blobs, || {
            BlobBackend::from_lookup(&|name| self.text(name))
        })
    }

    /// What `GET /logs` captures: dotnet-monitor's default process.
    pub fn capture_default_process(&self) -> Result<&DefaultProcess, ConfigError> {
        cached(&self.capture, || {
            DefaultProcess::parse(self.text("capture_default_process")?)
        })
    }
}

/// `capture_default_process`: empty (no default: `GET /logs` is a 400, as
/// dotnet-monitor's is when it cannot resolve one), `*` (the whole journal),
/// or `FIELD=value`, a journal field the default process's entries carry
/// (`_PID=4242`, `SYSLOG_IDENTIFIER=web`, `_SYSTEMD_UNIT=web.service`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DefaultProcess {
    /// No default: `GET /logs` without a process is a 400.
    #[default]
    Unset,
    /// `*`: the whole journal.
    All,
    /// `FIELD=value`: the entries carrying that journal field, as the pair (field, value).
    Field(String, String),
}

impl DefaultProcess {
    fn parse(value: Option<String>) -> Result<Self, ConfigError> {
        let Some(v) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
            return Ok(Self::Unset);
        };
        if v == "*" {
            return Ok(Self::All);
        }
        match v.split_once('=') {
            Some((k, val))
                if !k.is_empty()
                    && !val.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') =>
            {
                Ok(Self::Field(k.to_owned(), val.to_owned()))
            }
            _ => Err(ConfigError(format!(
                "variable capture_default_process = {v:?}: expected \"\", \"*\" or FIELD=value (a journal field, e.g. _PID=4242)"
            ))),
        }
    }
}

/// The blob backend (`blob_store`): `kv`, the embedded default, or `s3`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BlobBackend {
    /// Chunks in the `default` key-value store.
    #[default]
    Embedded,
    /// One object per blob in an S3-compatible bucket.
    S3(S3Settings),
}

impl BlobBackend {
    /// The `s3_*` variables are read only when `blob_store = "s3"`: a
    /// request on the embedded default pays for one look-up, not eight.
    fn from_lookup(
        text: &impl Fn(&str) -> Result<Option<String>, ConfigError>,
    ) -> Result<Self, ConfigError> {
        match text("blob_store")?.as_deref().map(str::trim) {
            None | Some("kv") => return Ok(Self::Embedded),
            Some("s3") => {}
            Some(other) => {
                return Err(ConfigError(format!(
                    "variable blob_store = {other:?}: expected \"kv\" or \"s3\""
                )));
            }
        }
        let required = |name: &str| {
            text(name)?.ok_or_else(|| ConfigError(format!("blob_store = \"s3\" needs {name}")))
        };
        let endpoint = required("s3_endpoint")?
            .trim()
            .trim_end_matches('/')
            .to_owned();
        if let Err(why) = crate::store::s3::Endpoint::parse(&endpoint) {
            return Err(ConfigError(format!(
                "variable s3_endpoint = {endpoint:?}: {why}"
            )));
        }
        let path_style = match text("s3_path_style")?.as_deref().map(str::trim) {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(ConfigError(format!(
                    "variable s3_path_style = {other:?}: expected true or false"
                )));
            }
        };
        Ok(Self::S3(S3Settings {
            endpoint,
            region: text("s3_region")?.unwrap_or_else(|| "us-east-1".to_owned()),
            bucket: required("s3_bucket")?,
            access_key_id: required("s3_access_key_id")?,
            secret_access_key: required("s3_secret_access_key")?,
            path_style,
            prefix: text("s3_prefix")?.unwrap_or_default(),
        }))
    }
}

/// How expensive a route is; each class has its own limit and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Reads, follows (each reconnect counts), listings, token minting.
    Standard,
    /// Whole-archive downloads and job creation.
    Heavy,
    /// The write path for log shippers.
    Ingest,
    /// Loki's read API: what a Grafana data source sends.
    Loki,
}

/// Requests per minute and caller for each class (`rate_limit_*`); 0 turns
/// a class's limit off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// [`Class::Standard`]'s limit (`rate_limit_standard`).
    pub standard: u64,
    /// [`Class::Heavy`]'s limit (`rate_limit_heavy`).
    pub heavy: u64,
    /// [`Class::Ingest`]'s limit (`rate_limit_ingest`).
    pub ingest: u64,
    /// [`Class::Loki`]'s limit (`rate_limit_loki`).
    pub loki: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            standard: 100,
            heavy: 10,
            ingest: 6_000,
            loki: 600,
        }
    }
}

impl Limits {
    /// The limit for `class`, per minute and caller; 0: no limit.
    pub fn of(&self, class: Class) -> u64 {
        match class {
            Class::Standard => self.standard,
            Class::Heavy => self.heavy,
            Class::Ingest => self.ingest,
            Class::Loki => self.loki,
        }
    }
}

/// Keys and secrets, from Spin variables (see docs/auth.md), each read at
/// its first use: a bearer token reads the key of its algorithm, an API key
/// `auth_api_keys`, and so on. Every variable read is a host call (about
/// 10 us of Spin's CPU each, docs/performance.md), so a small read reads one
/// here, not six. A malformed value is a deployment error (500) when it is
/// read, never a reason to open up. `Debug` shows which are set, never
/// their values.
pub struct AuthSettings {
    text: Lookup,
    hs256_secret: OnceCell<Option<String>>,
    rs256_public_key: OnceCell<Option<String>>,
    es256_public_key: OnceCell<Option<String>>,
    api_keys: OnceCell<Vec<ApiKey>>,
    digest_keys: OnceCell<Vec<DigestKey>>,
    url_token_secret: OnceCell<Option<String>>,
}

impl Default for AuthSettings {
    /// Closed: no key, so nothing authenticates.
    fn default() -> Self {
        AuthSettings::with(&[])
    }
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |cell: &OnceCell<Option<String>>| match cell.get() {
            None => "<unread>",
            Some(None) => "<unset>",
            Some(Some(_)) => "<set>",
        };
        f.debug_struct("AuthSettings")
            .field("hs256_secret", &set(&self.hs256_secret))
            .field("rs256_public_key", &set(&self.rs256_public_key))
            .field("es256_public_key", &set(&self.es256_public_key))
            .field("api_keys", &self.api_keys.get().map(Vec::len))
            .field("digest_keys", &self.digest_keys.get().map(Vec::len))
            .field("url_token_secret", &set(&self.url_token_secret))
            .finish()
    }
}

/// Shortest HS256 secret accepted: a shorter one can be guessed offline from
/// any token it signed.
pub const MIN_SECRET_BYTES: usize = 32;

/// Default `url_token_max_ttl_s`.
pub const URL_TOKEN_MAX_TTL_S: u64 = 600;

impl AuthSettings {
    /// Reads the `auth_*` variables and `url_token_secret` through `text`
    /// (a variable's value, `None` if unset), each when first asked for.
    fn new(text: Lookup) -> Self {
        Self {
            text,
            hs256_secret: OnceCell::new(),
            rs256_public_key: OnceCell::new(),
            es256_public_key: OnceCell::new(),
            api_keys: OnceCell::new(),
            digest_keys: OnceCell::new(),
            url_token_secret: OnceCell::new(),
        }
    }

    /// Settings with these variables set and the rest unset: for tests.
    pub fn with(pairs: &[(&str, &str)]) -> Self {
        AuthSettings::new(pairs_lookup(pairs))
    }

    /// A secret: at least [`MIN_SECRET_BYTES`] long.
    fn secret<'a>(
        &self,
        cell: &'a OnceCell<Option<String>>,
        name: &str,
    ) -> Result<Option<&'a str>, ConfigError> {
        let value = cached(cell, || match (self.text)(name)? {
            Some(s) if s.len() < MIN_SECRET_BYTES => Err(ConfigError(format!(
                "variable {name} is shorter than {MIN_SECRET_BYTES} bytes"
            ))),
            other => Ok(other),
        })?;
        Ok(value.as_deref())
    }

    /// A PEM; on one line (`\n` escapes, as env files often carry it) it is unfolded.
    fn pem<'a>(
        &self,
        cell: &'a OnceCell<Option<String>>,
        name: &str,
    ) -> Result<Option<&'a str>, ConfigError> {
        let value = cached(cell, || {
            Ok((self.text)(name)?.map(|v| {
                if v.contains('\n') {
                    v
                } else {
                    v.replace("\\n", "\n")
                }
            }))
        })?;
        Ok(value.as_deref())
    }

    /// `auth_hs256_secret`: HS256 JWTs (and, by derivation, URL tokens).
    pub fn hs256_secret(&self) -> Result<Option<&str>, ConfigError> {
        self.secret(&self.hs256_secret, "auth_hs256_secret")
    }

    /// `auth_rs256_public_key`: PEM, verifies RS256 JWTs.
    pub fn rs256_public_key(&self) -> Result<Option<&str>, ConfigError> {
        self.pem(&self.rs256_public_key, "auth_rs256_public_key")
    }

    /// `auth_es256_public_key`: PEM, verifies ES256 JWTs (P-256).
    pub fn es256_public_key(&self) -> Result<Option<&str>, ConfigError> {
        self.pem(&self.es256_public_key, "auth_es256_public_key")
    }

    /// `auth_api_keys`: hashes of API keys and what each grants.
    pub fn api_keys(&self) -> Result<&[ApiKey], ConfigError> {
        let keys = cached(&self.api_keys, || {
            parse_api_keys(&(self.text)("auth_api_keys")?.unwrap_or_default()).map_err(ConfigError)
        })?;
        Ok(keys)
    }

    /// `auth_digest_keys`: Digest key pairs (public key, HA1s) and what each grants.
    pub fn digest_keys(&self) -> Result<&[DigestKey], ConfigError> {
        let keys = cached(&self.digest_keys, || {
            parse_digest_keys(&(self.text)("auth_digest_keys")?.unwrap_or_default())
                .map_err(ConfigError)
        })?;
        Ok(keys)
    }

    /// `url_token_secret`: signs URL tokens; derived from the HS256 secret if unset.
    pub fn url_token_secret(&self) -> Result<Option<&str>, ConfigError> {
        self.secret(&self.url_token_secret, "url_token_secret")
    }

    /// Whether any credential could be accepted at all. Stops at the first
    /// key it finds set, so a configured server reads one variable here.
    pub fn configured(&self) -> Result<bool, ConfigError> {
        Ok(self.hs256_secret()?.is_some()
            || self.rs256_public_key()?.is_some()
            || self.es256_public_key()?.is_some()
            || !self.api_keys()?.is_empty()
            || !self.digest_keys()?.is_empty()
            || self.url_token_secret()?.is_some())
    }
}

/// One entry of `auth_api_keys`: a key, known only by its hash, and what it grants.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// Lower-case hex SHA-256 of the key.
    pub sha256: String,
    /// Who the key's caller is: rate limits and follow slots count per `user:<uid>`,
    /// and Basic auth must name it as the user.
    pub uid: String,
    /// What the key grants, as the route rules name them (e.g. `spin-logs:ingest`);
    /// empty: none.
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// A programmatic API key pair for HTTP Digest (MongoDB's `--user
/// "{PUBLIC-KEY}:{PRIVATE-KEY}" --digest`): the public key, and the private
/// key only as Digest's `HA1 = H(public:spin-logs:private)` per algorithm
/// (`spin-logs token digestkey` prints an entry).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestKey {
    /// The public key, the Digest `username` a client sends.
    pub username: String,
    /// Lower-case hex MD5 HA1; empty: MD5 is not accepted for this pair.
    #[serde(default)]
    pub ha1_md5: String,
    /// Lower-case hex SHA-256 HA1; empty: SHA-256 is not accepted.
    #[serde(default)]
    pub ha1_sha256: String,
    /// Who the pair's caller is, as for [`ApiKey::uid`].
    pub uid: String,
    /// What the pair grants, as for [`ApiKey::permissions`].
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// Parses `auth_digest_keys`; empty means none.
pub fn parse_digest_keys(json: &str) -> Result<Vec<DigestKey>, String> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut keys: Vec<DigestKey> = serde_json::from_str(json)
        .map_err(|e| format!("auth_digest_keys is not a JSON array of key pairs: {e}"))?;
    for k in &mut keys {
        k.ha1_md5.make_ascii_lowercase();
        k.ha1_sha256.make_ascii_lowercase();
        let hex = |s: &str, n: usize| {
            s.is_empty() || (s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit()))
        };
        if k.username.is_empty() || k.username.contains(':') || k.uid.is_empty() {
            return Err("auth_digest_keys: every pair needs a username (no ':') and a uid".into());
        }
        if !hex(&k.ha1_md5, 32)
            || !hex(&k.ha1_sha256, 64)
            || (k.ha1_md5.is_empty() && k.ha1_sha256.is_empty())
        {
            return Err(format!(
                "auth_digest_keys: {:?} needs ha1_md5 (32 hex digits) and/or ha1_sha256 (64)",
                k.username
            ));
        }
    }
    Ok(keys)
}

/// Parses `auth_api_keys`; empty means none.
pub fn parse_api_keys(json: &str) -> Result<Vec<ApiKey>, String> {
    if json.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut keys: Vec<ApiKey> = serde_json::from_str(json)
        .map_err(|e| format!("auth_api_keys is not a JSON array of keys: {e}"))?;
    for k in &mut keys {
        k.sha256.make_ascii_lowercase();
        if k.sha256.len() != 64 || !k.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "auth_api_keys: {:?} is not a hex SHA-256 (64 hex digits)",
                k.sha256
            ));
        }
        if k.uid.is_empty() {
            return Err("auth_api_keys: an entry has an empty uid".into());
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_variable_only_when_asked_and_once() {
        let asked = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let seen = asked.clone();
        let config = Config::from_lookup(move |name| {
            seen.borrow_mut().push(name.to_owned());
            s3_lookup(name)
        });
        assert!(asked.borrow().is_empty());
        assert_eq!(config.max_uri_bytes().unwrap(), 8192);
        assert_eq!(config.max_uri_bytes().unwrap(), 8192);
        assert!(matches!(config.blobs().unwrap(), BlobBackend::S3(_)));
        let asked = asked.borrow();
        assert_eq!(asked.iter().filter(|n| *n == "max_uri_bytes").count(), 1);
        assert!(asked.iter().all(|n| vars::ALL.iter().any(|v| v.name == n)));
        assert!(!asked.iter().any(|n| n.starts_with("auth_")), "{asked:?}");
    }

    #[test]
    fn every_variable_is_in_exactly_the_groups_that_name_it() {
        let groups = [
            vars::GUARD,
            vars::GATE,
            vars::STORAGE,
            vars::READS,
            vars::FOLLOW,
            vars::CAPTURE,
            vars::ARCHIVES,
            vars::TOKENS,
            vars::RETENTION,
            vars::QUERY,
            vars::IDEMPOTENCY,
            vars::K8S,
        ];
        for v in vars::ALL {
            assert!(
                groups.iter().any(|g| g.contains(&v.name)),
                "{} in no group",
                v.name
            );
        }
        for name in groups.iter().flat_map(|g| g.iter()) {
            assert!(
                vars::ALL.iter().any(|v| v.name == *name),
                "{name} undeclared"
            );
        }
    }

    #[test]
    fn a_variable_the_component_lacks_is_an_error_not_a_default() {
        let config = Config::strict(|name| Err(ConfigError(format!("no variable {name}"))));
        assert!(
            config
                .tail_budget_ms()
                .unwrap_err()
                .0
                .contains("tail_budget_ms")
        );
    }

    #[test]
    fn a_response_cap_of_zero_means_none() {
        let cap = |v: &str| {
            Config::with(&[("max_response_bytes", v)])
                .max_response_bytes()
                .unwrap()
        };
        assert_eq!(cap("0"), u64::MAX);
        assert_eq!(cap("1048576"), 1 << 20);
        assert_eq!(Config::default().max_response_bytes().unwrap(), 8 << 20);
    }

    fn s3_lookup(name: &str) -> Option<String> {
        let value = match name {
            "blob_store" => "s3",
            "s3_endpoint" => "http://127.0.0.1:9000/",
            "s3_bucket" => "logs",
            "s3_access_key_id" => "AKID",
            "s3_secret_access_key" => "secret",
            _ => return None,
        };
        Some(value.to_owned())
    }

    #[test]
    fn the_blob_backend_is_embedded_unless_s3_is_configured_completely() {
        assert_eq!(Config::default().blobs().unwrap(), &BlobBackend::Embedded);
        let config = Config::from_lookup(s3_lookup);
        let BlobBackend::S3(s3) = config.blobs().unwrap() else {
            panic!("s3 expected");
        };
        assert_eq!(s3.endpoint, "http://127.0.0.1:9000");
        assert_eq!((s3.region.as_str(), s3.path_style), ("us-east-1", true));
        for (name, value) in [
            ("blob_store", "sqlite"),
            ("s3_bucket", ""),
            ("s3_endpoint", "127.0.0.1:9000"),
            ("s3_endpoint", "http://minio/bucket"),
            ("s3_path_style", "yes"),
        ] {
            let err = Config::from_lookup(move |n| {
                if n == name {
                    Some(value.to_owned())
                } else {
                    s3_lookup(n)
                }
            })
            .blobs()
            .unwrap_err();
            assert!(err.0.contains(name), "{name}={value}: {err}");
        }
    }
}
