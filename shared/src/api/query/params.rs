//! The parameters every query route reads the same way: times and ranges,
//! limits, directions, the time budget, LogQL errors and the opaque cursor.

use crate::env::Env;
use crate::logql::{self, MatchOp, Matcher};
use crate::read::search::{Direction, Resume};
use crate::web::problem::Problem;
use crate::web::query::Query as Params;
use crate::web::time::{parse_duration_ns, parse_time_ns};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// Default and largest page, as Loki's `limit` and `max_entries_limit_per_query`.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 5000;
/// How far back a LogQL query looks when it names no start.
pub(super) const HOUR_NS: u64 = 3600 * 1_000_000_000;

pub(super) fn now_ns() -> u64 {
    crate::util::clock::now_micros().saturating_mul(1000)
}

pub(super) fn time_param(p: &Params, name: &str) -> Result<Option<u64>, Problem> {
    p.get(name)
        .filter(|v| !v.is_empty())
        .map(|v| parse_time_ns(name, v))
        .transpose()
}

/// A duration (`since`) in the query string, in ns.
pub(super) fn duration_param(p: &Params, name: &str) -> Result<Option<u64>, Problem> {
    p.get(name)
        .filter(|v| !v.is_empty())
        .map(|v| parse_duration_ns(name, v))
        .transpose()
}

/// A time in a JSON body: a string in any form [`parse_time_ns`] reads, or
/// a number (ns or seconds since the epoch).
pub(super) fn body_time(name: &str, v: &Option<Value>) -> Result<Option<u64>, Problem> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_time_ns(name, s).map(Some),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|n| parse_time_ns(name, &n.to_string()))
            .transpose()
            .and_then(|t| {
                t.ok_or_else(|| Problem::bad_param(name, format!("{name} is not a time")))
                    .map(Some)
            }),
        Some(_) => Err(Problem::bad_param(
            name,
            format!("{name} is a string or a number"),
        )),
    }
}

/// A duration (`since`) in a JSON body, in ns.
pub(super) fn body_duration(name: &str, v: Option<&str>) -> Result<Option<u64>, Problem> {
    v.map(|s| parse_duration_ns(name, s)).transpose()
}

/// `start`/`end`/`since` into an inclusive range; `default_since` when
/// neither `start` nor `since` is given (`None`: all time).
pub(super) fn time_range(
    start: Option<u64>,
    end: Option<u64>,
    since: Option<u64>,
    default_since: Option<u64>,
) -> Result<(u64, u64), Problem> {
    let end = end.unwrap_or_else(now_ns);
    let start = match (start, since.or(default_since)) {
        (Some(s), _) => s,
        (None, Some(d)) => end.saturating_sub(d),
        (None, None) => 0,
    };
    if start > end {
        return Err(Problem::bad_param("start", "start is after end"));
    }
    Ok((start, end))
}

pub(super) fn limit_param(value: Option<u64>) -> Result<usize, Problem> {
    match value {
        None => Ok(DEFAULT_LIMIT),
        Some(0) => Err(Problem::bad_param("limit", "limit must be at least 1")),
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| *n <= MAX_LIMIT)
            .ok_or_else(|| {
                Problem::bad_param(
                    "limit",
                    format!("limit is at most {MAX_LIMIT} (max_entries_limit_per_query)"),
                )
            }),
    }
}

pub(super) fn number_param(p: &Params, name: &str) -> Result<Option<u64>, Problem> {
    p.get(name)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                Problem::bad_param(name, format!("{name} {v:?} is not a non-negative integer"))
            })
        })
        .transpose()
}

pub(super) fn direction_param(value: Option<&str>) -> Result<Direction, Problem> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("backward") => Ok(Direction::Backward),
        Some("forward") => Ok(Direction::Forward),
        Some(other) => Err(Problem::bad_param(
            "direction",
            format!("direction {other:?} is forward or backward"),
        )),
    }
}

/// The time a search may take: what it asked, capped by `query_budget_ms`.
pub(super) fn budget(env: &Env, asked: Option<u64>) -> Result<Duration, Problem> {
    let max = env.config.query_budget_ms()?;
    Ok(Duration::from_millis(asked.map_or(max, |a| a.min(max))))
}

pub(super) fn logql_problem(e: logql::ParseError) -> Problem {
    Problem::bad_param("query", e.to_string())
        .with("position", e.pos)
        .with("line", e.line)
        .with("column", e.col)
}

/// `name="value"`, a label filter.
pub(super) fn eq(name: &str, value: &str) -> Result<Matcher, Problem> {
    Matcher::new(name, MatchOp::Eq, value).map_err(logql_problem)
}

/// The opaque cursor: where to resume, a digest of the query it belongs
/// to, so a cursor is never applied to another query, and where its first
/// page's range began.
#[derive(Serialize, Deserialize)]
struct Cursor {
    r: Resume,
    q: String,
    /// `from` (ns) as the first page resolved it: `since` and LogQL's
    /// default hour count back from that page's now, and a later page that
    /// counted back from its own would start later and lose the lines in
    /// between (none in older cursors). The end stays open: with no `end`,
    /// lines appended since the first page are found on later ones.
    #[serde(default)]
    w: Option<u64>,
}

pub(super) fn encode_cursor(resume: &Resume, query: &str, range: (u64, u64)) -> String {
    let c = Cursor {
        r: resume.clone(),
        q: query.to_owned(),
        w: Some(range.0),
    };
    crate::read::format::opaque(&c)
}

/// Where a cursor resumes, and where its first page's range began, if it says.
pub(super) type Resumed = (Resume, Option<u64>);

fn decode_cursor(text: &str, query: &str) -> Result<Resumed, Problem> {
    let bad = |why: &str| Problem::bad_param("cursor", format!("the cursor {why}"));
    let c: Cursor =
        crate::read::format::from_opaque(text).ok_or_else(|| bad("is not one this API gave"))?;
    if c.q != query {
        return Err(bad(
            "belongs to another query: send the same filters with it",
        ));
    }
    Ok((c.r, c.w))
}

/// The cursor a request sent, if any, checked against its query's digest.
pub(super) fn resume(cursor: Option<&str>, query: &str) -> Result<Option<Resumed>, Problem> {
    cursor.map(|c| decode_cursor(c, query)).transpose()
}

/// The range a page searches: `fresh` (the request's own, resolved now),
/// but starting where the first page's did when it resumes a cursor that
/// says.
pub(super) fn page_range(
    resumed: Option<&Resumed>,
    fresh: impl FnOnce() -> Result<(u64, u64), Problem>,
) -> Result<(u64, u64), Problem> {
    let (from, to) = fresh()?;
    Ok((resumed.and_then(|r| r.1).unwrap_or(from).min(to), to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_read_as_loki_reads_them() {
        assert_eq!(
            parse_time_ns("t", "1700000000").unwrap(),
            1_700_000_000_000_000_000
        );
        assert_eq!(
            parse_time_ns("t", "1700000000123456789").unwrap(),
            1_700_000_000_123_456_789
        );
        assert_eq!(
            parse_time_ns("t", "1700000000.5").unwrap(),
            1_700_000_000_500_000_000
        );
        assert_eq!(
            parse_time_ns("t", "2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000_000_000
        );
        assert!(parse_time_ns("t", "soon").is_err());
        assert_eq!(parse_duration_ns("d", "1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration_ns("d", "15").unwrap(), 15_000_000_000);
        assert!(parse_duration_ns("d", "-5m").is_err());
    }
}
