//! Archive policies: which logs a run archives, after what age, how
//! compressed, and when their bytes are deleted for good.
//!
//! All policies live in one key (`archive/policies`): a deployment has a
//! handful, every run reads them all, and one compare-and-swap keeps
//! concurrent edits from losing each other.

use crate::model::sandbox::Task;
use crate::store::Store;
use crate::store::kv::{Update, update};
use crate::store::log::Packing;
use crate::web::problem::Problem;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const KEY: &str = "archive/policies";
/// More policies than anyone maintains by hand: a bound on the one key.
pub const MAX_POLICIES: usize = 100;

/// Which logs a policy covers.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Task files of every task carrying all these labels (empty: every task).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Task files at all (default true).
    #[serde(default = "yes")]
    pub tasks: bool,
    /// The component journal too (default false).
    #[serde(default)]
    pub journal: bool,
}

fn yes() -> bool {
    true
}

/// No selector: every task's files, as `{}` means.
impl Default for Selector {
    fn default() -> Self {
        Self {
            labels: BTreeMap::new(),
            tasks: true,
            journal: false,
        }
    }
}

impl Selector {
    /// Whether `task`'s files are covered: task files are, and the task carries every label.
    pub fn matches(&self, task: &Task) -> bool {
        self.tasks
            && self
                .labels
                .iter()
                .all(|(k, v)| task.labels.get(k) == Some(v))
    }
}

/// How archived pages are compressed.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Gzip at the policy's `compression_level` (the default).
    #[default]
    Gzip,
    /// Stored as they are.
    None,
}

/// A policy as stored and returned. Ages are seconds, measured from the
/// commit time of the bytes (what `since`/`until` of a read use too).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Policy {
    /// Random hex, made when the policy is created; kept by a replace.
    pub id: String,
    /// A label for people: 1 to 200 characters, no control characters.
    pub name: String,
    /// Which logs it covers.
    pub selector: Selector,
    /// Sealed pages older than this move to archive objects.
    pub archive_after_s: u64,
    /// How archive objects are compressed.
    pub compression: Compression,
    /// 1 (fastest) .. 9 (smallest); gzip only.
    pub compression_level: u32,
    /// Bytes older than this are deleted, archived or not; `None` keeps them.
    pub delete_after_s: Option<u64>,
    /// Whether `POST /archive/start` without a policy id runs it.
    pub enabled: bool,
    /// Microseconds since the epoch.
    pub created: u64,
    /// When it was last replaced, µs since the epoch.
    pub updated: u64,
}

impl Policy {
    /// How `store::log::pack` writes its objects: gzip at its level, or stored.
    pub fn packing(&self) -> Packing {
        match self.compression {
            Compression::Gzip => Packing::Gzip(self.compression_level),
            Compression::None => Packing::Stored,
        }
    }
}

/// What a client sends to create or replace a policy. Ages are seconds or a
/// duration string (`90s`, `15m`, `12h`, `30d`, `2w`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// 1 to 200 characters, no control characters; trimmed.
    pub name: String,
    /// Which logs it covers; default every task's files.
    #[serde(default)]
    pub selector: Selector,
    /// Sealed pages older than this are archived.
    pub archive_after: Age,
    /// Default gzip.
    #[serde(default)]
    pub compression: Compression,
    /// 1 (fastest) to 9 (smallest); default 6.
    #[serde(default)]
    pub compression_level: Option<u32>,
    /// Bytes older than this are deleted; at least `archive_after`. None keeps them.
    #[serde(default)]
    pub delete_after: Option<Age>,
    /// Default true: run by `POST /archive/start` without a policy id.
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// An age as a client writes it.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum Age {
    /// Seconds.
    Seconds(u64),
    /// A number with a unit: `s`, `m`, `h`, `d` or `w` (`15m`, `30d`).
    Text(String),
}

/// The longest age a policy may name: a hundred years. Longer means
/// "never" in practice, and would overflow as microseconds (an age of
/// 2^64 / 10^6 seconds wrapped to under a second and expired everything).
pub const MAX_AGE_S: u64 = 100 * 366 * 86_400;

impl Age {
    fn seconds(&self, field: &str) -> Result<u64, Problem> {
        let seconds = match self {
            Age::Seconds(s) => Some(*s),
            Age::Text(t) => parse_age(t),
        };
        seconds.filter(|s| *s <= MAX_AGE_S).ok_or_else(|| {
            Problem::bad_param(
                field,
                format!(
                    "{field} is not an age of at most 100 years: seconds, or a number with s, m, h, d or w"
                ),
            )
        })
    }
}

/// `90`, `90s`, `15m`, `12h`, `30d`, `2w` as seconds.
pub fn parse_age(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok()?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(scale)
}

impl PolicySpec {
    /// The policy this spec describes, checked.
    pub fn into_policy(self, id: String, now: u64, created: u64) -> Result<Policy, Problem> {
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
            return Err(Problem::bad_param(
                "name",
                "a policy name is 1 to 200 characters, no control characters",
            ));
        }
        if !self.selector.tasks && !self.selector.journal {
            return Err(Problem::bad_param(
                "selector",
                "the selector covers nothing: set tasks or journal",
            ));
        }
        let archive_after_s = self.archive_after.seconds("archive_after")?;
        let delete_after_s = self
            .delete_after
            .as_ref()
            .map(|a| a.seconds("delete_after"))
            .transpose()?;
        if let Some(d) = delete_after_s
            && d < archive_after_s
        {
            return Err(Problem::bad_param(
                "delete_after",
                "delete_after is shorter than archive_after: bytes would be deleted before they are archived",
            ));
        }
        let level = self.compression_level.unwrap_or(6);
        if !(1..=9).contains(&level) {
            return Err(Problem::bad_param(
                "compression_level",
                "compression_level is 1 (fastest) to 9 (smallest)",
            ));
        }
        Ok(Policy {
            id,
            name,
            selector: self.selector,
            archive_after_s,
            compression: self.compression,
            compression_level: level,
            delete_after_s,
            enabled: self.enabled,
            created,
            updated: now,
        })
    }
}

/// Every policy, oldest first.
pub fn all(store: &Store) -> Result<Vec<Policy>, Problem> {
    match store.meta.get(KEY)? {
        None => Ok(Vec::new()),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| Problem::internal(format!("archive policies: {e}"))),
    }
}

/// Policy `id`, or a 404.
pub fn find(store: &Store, id: &str) -> Result<Policy, Problem> {
    all(store)?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| Problem::not_found(format!("no archive policy {id:?}")))
}

/// Applies `f` to the list of policies and stores the result.
pub fn edit<T>(
    store: &Store,
    mut f: impl FnMut(&mut Vec<Policy>) -> Result<T, Problem>,
) -> Result<T, Problem> {
    update::<_, Problem>(store.meta.as_ref(), KEY, Some(b"[]"), 50, |current| {
        let mut list: Vec<Policy> = match current {
            Some(bytes) => serde_json::from_slice(bytes)
                .map_err(|e| Problem::internal(format!("archive policies: {e}")))?,
            None => Vec::new(),
        };
        let t = f(&mut list)?;
        Ok(Update::Write(
            serde_json::to_vec(&list).map_err(Problem::internal)?,
            t,
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl_durations() {
        assert_eq!(parse_age("90"), Some(90));
        assert_eq!(parse_age("15m"), Some(900));
        assert_eq!(parse_age("30d"), Some(30 * 86_400));
        assert_eq!(parse_age("2w"), Some(14 * 86_400));
        assert_eq!(parse_age("1y"), None);
        assert_eq!(parse_age("-1"), None);
        assert_eq!(parse_age("99999999999999999999d"), None);
    }

    #[test]
    fn specs_are_checked() {
        let spec = |body: &str| {
            serde_json::from_str::<PolicySpec>(body)
                .map_err(|e| Problem::bad_request(e.to_string()))
                .and_then(|s| s.into_policy("p".into(), 1, 1))
        };
        let p = spec(r#"{"name":"web","selector":{"labels":{"app":"web"}},"archive_after":"1h","delete_after":"30d"}"#).unwrap();
        assert_eq!(
            (p.archive_after_s, p.delete_after_s, p.compression_level),
            (3600, Some(30 * 86_400), 6)
        );
        for bad in [
            r#"{"name":"x","archive_after":"1h","delete_after":"1m"}"#,
            r#"{"name":"x","archive_after":"soon"}"#,
            r#"{"name":"","archive_after":1}"#,
            r#"{"name":"x","archive_after":1,"compression_level":0}"#,
            r#"{"name":"x","archive_after":1,"selector":{"tasks":false}}"#,
            r#"{"name":"x","archive_after":1,"colour":"red"}"#,
            r#"{"name":"x","archive_after":1,"compression":"zstd"}"#,
            // Past a hundred years (this one wrapped to under a second as µs).
            r#"{"name":"x","archive_after":"1d","delete_after":18446744073710}"#,
            r#"{"name":"x","archive_after":"5300w"}"#,
        ] {
            let e = spec(bad).unwrap_err();
            assert_eq!(e.status, http::StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}
