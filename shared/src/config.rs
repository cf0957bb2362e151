//! Settings read from Spin variables (declared in `spin.toml`).
//!
//! Read through a lookup function so native tests can supply their own.

use crate::problem::Problem;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Largest request body accepted (ingest batches); larger is a 413.
    pub max_body_bytes: u64,
    /// Most bytes one read response may carry before it ends with a "next" cursor.
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
    /// Keys and secrets of the auth gate (`auth_*`, `url_token_*`).
    pub auth: crate::auth::Settings,
    /// Requests per minute and caller (`rate_limit_*`).
    pub rate: crate::ratelimit::Limits,
    /// Largest total of request header bytes the client sent; more is a 431.
    pub max_header_bytes: u64,
    /// Longest path and query; longer is a 414.
    pub max_uri_bytes: u64,
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
            auth: crate::auth::Settings::default(),
            rate: crate::ratelimit::Limits::default(),
            max_header_bytes: 16 * 1024,
            max_uri_bytes: 8 * 1024,
        }
    }
}

impl Config {
    /// Builds the config from `lookup(name)`, falling back to defaults for absent
    /// variables. A present but malformed value is a deployment error, not ignored.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Problem> {
        let d = Config::default();
        Ok(Self {
            max_body_bytes: number(&lookup, "max_body_bytes", d.max_body_bytes)?,
            max_response_bytes: number(&lookup, "max_response_bytes", d.max_response_bytes)?,
            tail_budget_ms: number(&lookup, "tail_budget_ms", d.tail_budget_ms)?,
            keepalive_ms: number(&lookup, "keepalive_ms", d.keepalive_ms)?,
            max_followers: number(&lookup, "max_followers", d.max_followers)?,
            max_archive_bytes: number(&lookup, "max_archive_bytes", d.max_archive_bytes)?,
            job_step_ms: number(&lookup, "job_step_ms", d.job_step_ms)?,
            auth: crate::auth::Settings::from_lookup(&lookup)?,
            rate: crate::ratelimit::Limits {
                standard: number(&lookup, "rate_limit_standard", d.rate.standard)?,
                heavy: number(&lookup, "rate_limit_heavy", d.rate.heavy)?,
                ingest: number(&lookup, "rate_limit_ingest", d.rate.ingest)?,
            },
            max_header_bytes: number(&lookup, "max_header_bytes", d.max_header_bytes)?,
            max_uri_bytes: number(&lookup, "max_uri_bytes", d.max_uri_bytes)?,
        })
    }
}

fn number(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
) -> Result<u64, Problem> {
    match lookup(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| Problem::internal(format!("variable {name} = {v:?} is not a number"))),
    }
}
