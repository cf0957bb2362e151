//! Settings read from Spin variables (declared in `spin.toml`).
//!
//! Read through a lookup function so native tests can supply their own. Every
//! setting of every layer is parsed here, below the layers that use it, so a
//! malformed deployment fails the same way whichever route notices, and the
//! auth gate and the rate limiter need not know where their numbers come from.

use crate::store::s3::S3Settings;
use serde::Deserialize;

/// Every variable [`Config::from_lookup`] reads. spin.toml must declare each
/// one and map it into every component (a test checks): an unmapped
/// variable would silently fall back to its default inside that component.
pub const VARIABLES: &[&str] = &[
    "max_body_bytes",
    "max_response_bytes",
    "tail_budget_ms",
    "keepalive_ms",
    "max_followers",
    "max_archive_bytes",
    "job_step_ms",
    "archive_grace_ms",
    "query_budget_ms",
    "auth_hs256_secret",
    "auth_rs256_public_key",
    "auth_es256_public_key",
    "auth_api_keys",
    "auth_digest_keys",
    "url_token_secret",
    "url_token_max_ttl_s",
    "rate_limit_standard",
    "rate_limit_heavy",
    "rate_limit_ingest",
    "max_header_bytes",
    "max_uri_bytes",
    "blob_store",
    "s3_endpoint",
    "s3_region",
    "s3_bucket",
    "s3_access_key_id",
    "s3_secret_access_key",
    "s3_path_style",
    "s3_prefix",
    "capture_default_process",
];

/// A deployment error: a variable is set to something unusable. Never a
/// reason to fall back to a default or to open up; the request fails (500).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Largest request body accepted (ingest batches); larger is a 413.
    pub max_body_bytes: u64,
    /// Most bytes one read response may carry before it ends with a "next"
    /// cursor: a per-deployment setting, because hosts differ (about 10 MiB on
    /// some serverless hosts; `spin up` has no cap). `0` in the variable means
    /// no cap (`u64::MAX` here): one response carries the whole read.
    pub max_response_bytes: u64,
    /// How long one follow (SSE tail) invocation streams before it ends with a
    /// resume event, in milliseconds: well under the host's request limit.
    pub tail_budget_ms: u64,
    /// Silence after which a follow sends a keepalive, in milliseconds.
    pub keepalive_ms: u64,
    /// Concurrent follows one caller may hold; more is a 429.
    pub max_followers: u64,
    /// Largest sandbox (sum of file sizes) streamed as one `.tar.gz`; larger
    /// is a 413 pointing at log collection jobs.
    pub max_archive_bytes: u64,
    /// How long one request may spend advancing a log collection job, in ms.
    pub job_step_ms: u64,
    /// How long blobs an archive run replaced or expired are kept before
    /// deletion, and how long a page must have been sealed before it is
    /// packed, in ms: longer than any request, which may hold the old index.
    pub archive_grace_ms: u64,
    /// How long one search or LogQL query may scan before it answers with
    /// what it has and a cursor (ms): inside the hosts\' ~30 s request limit.
    pub query_budget_ms: u64,
    /// Keys and secrets of the auth gate (`auth_*`, `url_token_*`).
    pub auth: AuthSettings,
    /// Requests per minute and caller (`rate_limit_*`).
    pub rate: Limits,
    /// Largest total of request header bytes the client sent; more is a 431.
    pub max_header_bytes: u64,
    /// Longest path and query; longer is a 414.
    pub max_uri_bytes: u64,
    /// Where log bytes go (`blob_store`, `s3_*`).
    pub blobs: BlobBackend,
    /// What `GET /logs` captures: dotnet-monitor's default process.
    pub capture_default_process: DefaultProcess,
}

/// `capture_default_process`: empty (no default: `GET /logs` is a 400, as
/// dotnet-monitor's is when it cannot resolve one), `*` (the whole journal),
/// or `FIELD=value`, a journal field the default process's entries carry
/// (`_PID=4242`, `SYSLOG_IDENTIFIER=web`, `_SYSTEMD_UNIT=web.service`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DefaultProcess {
    #[default]
    Unset,
    All,
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
    fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        match text("blob_store").as_deref().map(str::trim) {
            None | Some("kv") => return Ok(Self::Embedded),
            Some("s3") => {}
            Some(other) => {
                return Err(ConfigError(format!(
                    "variable blob_store = {other:?}: expected \"kv\" or \"s3\""
                )));
            }
        }
        let required = |name: &str| {
            text(name).ok_or_else(|| ConfigError(format!("blob_store = \"s3\" needs {name}")))
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
        let path_style = match text("s3_path_style").as_deref().map(str::trim) {
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
            region: text("s3_region").unwrap_or_else(|| "us-east-1".to_owned()),
            bucket: required("s3_bucket")?,
            access_key_id: required("s3_access_key_id")?,
            secret_access_key: required("s3_secret_access_key")?,
            path_style,
            prefix: text("s3_prefix").unwrap_or_default(),
        }))
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_body_bytes: 8 * 1024 * 1024,
            max_response_bytes: 8 * 1024 * 1024,
            tail_budget_ms: 25_000,
            keepalive_ms: 15_000,
            max_followers: 8,
            max_archive_bytes: 1024 * 1024 * 1024,
            job_step_ms: 3_000,
            archive_grace_ms: 300_000,
            query_budget_ms: 20_000,
            auth: AuthSettings::default(),
            rate: Limits::default(),
            max_header_bytes: 16 * 1024,
            max_uri_bytes: 8 * 1024,
            blobs: BlobBackend::Embedded,
            capture_default_process: DefaultProcess::Unset,
        }
    }
}

impl Config {
    /// Builds the config from `lookup(name)`, falling back to defaults for absent
    /// variables. A present but malformed value is a deployment error, not ignored.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let d = Config::default();
        Ok(Self {
            max_body_bytes: number(&lookup, "max_body_bytes", d.max_body_bytes)?,
            max_response_bytes: match number(&lookup, "max_response_bytes", d.max_response_bytes)? {
                0 => u64::MAX,
                n => n,
            },
            tail_budget_ms: number(&lookup, "tail_budget_ms", d.tail_budget_ms)?,
            keepalive_ms: number(&lookup, "keepalive_ms", d.keepalive_ms)?,
            max_followers: number(&lookup, "max_followers", d.max_followers)?,
            max_archive_bytes: number(&lookup, "max_archive_bytes", d.max_archive_bytes)?,
            job_step_ms: number(&lookup, "job_step_ms", d.job_step_ms)?,
            archive_grace_ms: number(&lookup, "archive_grace_ms", d.archive_grace_ms)?,
            query_budget_ms: number(&lookup, "query_budget_ms", d.query_budget_ms)?,
            auth: AuthSettings::from_lookup(&lookup)?,
            rate: Limits {
                standard: number(&lookup, "rate_limit_standard", d.rate.standard)?,
                heavy: number(&lookup, "rate_limit_heavy", d.rate.heavy)?,
                ingest: number(&lookup, "rate_limit_ingest", d.rate.ingest)?,
            },
            max_header_bytes: number(&lookup, "max_header_bytes", d.max_header_bytes)?,
            max_uri_bytes: number(&lookup, "max_uri_bytes", d.max_uri_bytes)?,
            blobs: BlobBackend::from_lookup(&lookup)?,
            capture_default_process: DefaultProcess::parse(lookup("capture_default_process"))?,
        })
    }
}

fn number(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
) -> Result<u64, ConfigError> {
    match lookup(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| ConfigError(format!("variable {name} = {v:?} is not a number"))),
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
}

/// Requests per minute and caller for each class (`rate_limit_*`); 0 turns
/// a class's limit off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub standard: u64,
    pub heavy: u64,
    pub ingest: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            standard: 100,
            heavy: 10,
            ingest: 6_000,
        }
    }
}

impl Limits {
    pub fn of(&self, class: Class) -> u64 {
        match class {
            Class::Standard => self.standard,
            Class::Heavy => self.heavy,
            Class::Ingest => self.ingest,
        }
    }
}

/// Keys and secrets, from Spin variables (see the README's Authentication).
/// `Debug` shows which are set, never their values.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// `auth_hs256_secret`: HS256 JWTs (and, by derivation, URL tokens).
    pub hs256_secret: Option<String>,
    /// `auth_rs256_public_key`: PEM, verifies RS256 JWTs.
    pub rs256_public_key: Option<String>,
    /// `auth_es256_public_key`: PEM, verifies ES256 JWTs (P-256).
    pub es256_public_key: Option<String>,
    /// `auth_api_keys`: hashes of API keys and what each grants.
    pub api_keys: Vec<ApiKey>,
    /// `auth_digest_keys`: Digest key pairs (public key, HA1s) and what each grants.
    pub digest_keys: Vec<DigestKey>,
    /// `url_token_secret`: signs URL tokens; derived from the HS256 secret if unset.
    pub url_token_secret: Option<String>,
    /// `url_token_max_ttl_s`: the longest URL token lifetime one may mint.
    pub url_token_max_ttl_s: u64,
}

impl Default for AuthSettings {
    /// Closed: no key, so nothing authenticates.
    fn default() -> Self {
        Self {
            hs256_secret: None,
            rs256_public_key: None,
            es256_public_key: None,
            api_keys: Vec::new(),
            digest_keys: Vec::new(),
            url_token_secret: None,
            url_token_max_ttl_s: URL_TOKEN_MAX_TTL_S,
        }
    }
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("hs256_secret", &self.hs256_secret.as_ref().map(|_| "<set>"))
            .field("rs256_public_key", &self.rs256_public_key.is_some())
            .field("es256_public_key", &self.es256_public_key.is_some())
            .field("api_keys", &self.api_keys.len())
            .field("digest_keys", &self.digest_keys.len())
            .field(
                "url_token_secret",
                &self.url_token_secret.as_ref().map(|_| "<set>"),
            )
            .field("url_token_max_ttl_s", &self.url_token_max_ttl_s)
            .finish()
    }
}

/// Shortest HS256 secret accepted: a shorter one can be guessed offline from
/// any token it signed.
pub const MIN_SECRET_BYTES: usize = 32;

/// Default `url_token_max_ttl_s`.
pub const URL_TOKEN_MAX_TTL_S: u64 = 600;

impl AuthSettings {
    /// Reads the `auth_*` and `url_token_*` variables. Empty means unset. A
    /// malformed value is a deployment error (500), never a reason to open up.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let secret = |name: &str| match text(name) {
            Some(s) if s.len() < MIN_SECRET_BYTES => Err(ConfigError(format!(
                "variable {name} is shorter than {MIN_SECRET_BYTES} bytes"
            ))),
            other => Ok(other),
        };
        // A PEM on one line (`\n` escapes, as env files often carry it) is unfolded.
        let pem = |name: &str| {
            text(name).map(|v| {
                if v.contains('\n') {
                    v
                } else {
                    v.replace("\\n", "\n")
                }
            })
        };
        let max_ttl = match text("url_token_max_ttl_s") {
            None => URL_TOKEN_MAX_TTL_S,
            Some(v) => v.trim().parse().map_err(|_| {
                ConfigError(format!(
                    "variable url_token_max_ttl_s = {v:?} is not a number"
                ))
            })?,
        };
        Ok(Self {
            hs256_secret: secret("auth_hs256_secret")?,
            rs256_public_key: pem("auth_rs256_public_key"),
            es256_public_key: pem("auth_es256_public_key"),
            api_keys: parse_api_keys(&text("auth_api_keys").unwrap_or_default())
                .map_err(ConfigError)?,
            digest_keys: parse_digest_keys(&text("auth_digest_keys").unwrap_or_default())
                .map_err(ConfigError)?,
            url_token_secret: secret("url_token_secret")?,
            url_token_max_ttl_s: max_ttl,
        })
    }

    /// Whether any credential could be accepted at all.
    pub fn configured(&self) -> bool {
        self.hs256_secret.is_some()
            || self.rs256_public_key.is_some()
            || self.es256_public_key.is_some()
            || !self.api_keys.is_empty()
            || !self.digest_keys.is_empty()
            || self.url_token_secret.is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// Lower-case hex SHA-256 of the key.
    pub sha256: String,
    pub uid: String,
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
    pub username: String,
    /// Lower-case hex MD5 HA1; empty: MD5 is not accepted for this pair.
    #[serde(default)]
    pub ha1_md5: String,
    /// Lower-case hex SHA-256 HA1; empty: SHA-256 is not accepted.
    #[serde(default)]
    pub ha1_sha256: String,
    pub uid: String,
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
    fn reads_every_listed_variable_and_nothing_else() {
        let asked = std::cell::RefCell::new(Vec::new());
        // With the S3 backend chosen, so that its variables are read too.
        let config = Config::from_lookup(|name| {
            asked.borrow_mut().push(name.to_owned());
            s3_lookup(name)
        })
        .unwrap();
        assert!(matches!(config.blobs, BlobBackend::S3(_)));
        let mut asked = asked.into_inner();
        asked.sort();
        asked.dedup();
        let mut listed: Vec<String> = VARIABLES.iter().map(|v| v.to_string()).collect();
        listed.sort();
        assert_eq!(asked, listed);
    }

    #[test]
    fn a_response_cap_of_zero_means_none() {
        let cap = |v: &str| {
            Config::from_lookup(|n| (n == "max_response_bytes").then(|| v.to_owned()))
                .unwrap()
                .max_response_bytes
        };
        assert_eq!(cap("0"), u64::MAX);
        assert_eq!(cap("1048576"), 1 << 20);
        assert_eq!(Config::default().max_response_bytes, 8 << 20);
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
        assert_eq!(
            Config::from_lookup(|_| None).unwrap().blobs,
            BlobBackend::Embedded
        );
        let BlobBackend::S3(s3) = Config::from_lookup(s3_lookup).unwrap().blobs else {
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
            let err = Config::from_lookup(|n| {
                if n == name {
                    Some(value.to_owned())
                } else {
                    s3_lookup(n)
                }
            })
            .unwrap_err();
            assert!(err.0.contains(name), "{name}={value}: {err}");
        }
    }
}
