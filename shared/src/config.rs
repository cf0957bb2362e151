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
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_body_bytes: 8 * 1024 * 1024,
            max_response_bytes: 8 * 1024 * 1024,
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
