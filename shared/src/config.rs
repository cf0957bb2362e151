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
