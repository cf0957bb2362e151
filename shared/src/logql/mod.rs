//! LogQL as Loki 3 documents it: parsed once per query, evaluated per entry.
//!
//! Grafana's tools (Grafana itself, Logs Drilldown, logcli) speak Loki's
//! query language, so the read API accepts it rather than a dialect of our
//! own. This module is pure: it parses a query into a [`Query`], runs a log
//! [`Pipeline`] over one entry at a time, folds entries into the samples of
//! each range aggregation with a [`RangeEvaluator`], and combines those
//! into the answer ([`Evaluator`]); storage and HTTP stay above it.
//!
//! Covered: stream selectors; line filters (`|=`, `!=`, `|~`, `!~`, the
//! pattern filters `|>`/`!>`, `ip()`, alternatives with `or`); the parsers
//! `json` (with `a="b.c[0]"` expressions), `logfmt` (`--strict`,
//! `--keep-empty`, expressions), `regexp`, `pattern`, `unpack`; label filters
//! on strings, numbers, durations, byte sizes and IPs; `line_format` and
//! `label_format` with Go templates and Loki's functions; `decolorize`,
//! `drop`, `keep`; every range aggregation (`unwrap` with `duration()` and
//! `bytes()`, `offset`); the vector aggregations with `by`/`without`,
//! `topk`/`bottomk`, `sort`/`sort_desc`; binary and comparison operators
//! (`bool`, `on`/`ignoring`, `group_left`/`group_right`) between expressions
//! and with scalars; `vector()` and `label_replace()`. Semantics and error
//! messages follow Loki's. Not here: `approx_topk` (a sketch of Loki's
//! query frontend) and `count_values`-style functions Loki does not have.

mod duration;
mod eval;
mod ip;
mod jsonpath;
mod label_filter;
mod lexer;
mod line_filter;
mod metric;
mod parser;
mod parsers;
mod pattern;
mod pipeline;
mod range;
mod selector;
mod template;

pub mod drain;

pub use eval::{EvalError, Evaluated, Evaluator};
pub use line_filter::LineOp;
pub use metric::{
    BinModifier, BinOp, Card, Conv, Grouping, MetricExpr, RangeExpr, RangeFunc, Unwrap, VectorOp,
};
pub use parsers::ERROR_LABEL;
pub use pipeline::Pipeline;
pub use range::{RangeEvaluator, Series};
pub use selector::{MatchOp, Matcher, Selector};

/// A stream's (or an entry's) labels, sorted by name.
pub type Labels = std::collections::BTreeMap<String, String>;

/// A query that does not parse: where, and why, in Loki's words.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// Byte offset into the query.
    pub pos: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// What is wrong, as Loki words it (`syntax error: ...`).
    pub message: String,
}

impl ParseError {
    /// An error at byte `pos` of `src` (clamped to a character boundary).
    pub(crate) fn at(src: &str, pos: usize, message: impl Into<String>) -> ParseError {
        let mut pos = pos.min(src.len());
        while !src.is_char_boundary(pos) {
            pos -= 1;
        }
        let before = &src[..pos];
        let line = 1 + before.bytes().filter(|&b| b == b'\n').count();
        let line_start = before.rfind('\n').map_or(0, |n| n + 1);
        let col = 1 + before[line_start..].chars().count();
        ParseError {
            pos,
            line,
            col,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "parse error at line {}, col {}: {}",
            self.line, self.col, self.message
        )
    }
}

impl std::error::Error for ParseError {}

/// Parses a log or metric query.
pub fn parse(src: &str) -> Result<Query, ParseError> {
    parser::parse_query(src)
}

/// A plain stream selector only (no pipeline): what the `match[]` parameter of Loki's /series takes.
pub fn parse_selector(src: &str) -> Result<Selector, ParseError> {
    parser::parse_selector(src, true)
}

/// A plain stream selector that may match every stream (`{}`, `{a=~".*"}`):
/// for filters that narrow something else rather than select streams.
pub fn parse_selector_any(src: &str) -> Result<Selector, ParseError> {
    parser::parse_selector(src, false)
}

/// A duration in nanoseconds, as LogQL writes one: Go's (`1h30m`, `250ms`)
/// or Prometheus' (`1d`, `2w`, `1y`).
pub fn parse_duration(src: &str) -> Result<i64, ParseError> {
    duration::parse_duration(src.trim(), true)
        .ok_or_else(|| ParseError::at(src, 0, format!("invalid duration {src:?}")))
}

/// A Go duration (`150ms`, `1h30m`) in nanoseconds, as a label filter
/// reads a label's value.
pub fn parse_go_duration(src: &str) -> Option<i64> {
    duration::parse_duration(src.trim(), false)
}

/// A byte size (`10KB`, `1MiB`), as go-humanize reads one.
pub fn parse_bytes(src: &str) -> Option<u64> {
    duration::parse_bytes(src)
}

/// One field a line holds: its label name, value, parser, and JSON path.
pub type Field = (String, String, &'static str, Option<Vec<String>>);

/// The fields of a line as Loki's `detected_fields` reads them: what
/// `json` extracts (with each field's path), or else what `logfmt` does;
/// `None` if neither reads anything. `base`: the labels a field's name must
/// not collide with (they get `_extracted`).
pub fn detect_fields(line: &str, base: &Labels) -> Option<Vec<Field>> {
    if let Some(fields) = parsers::json_fields(line, base) {
        return Some(
            fields
                .into_iter()
                .map(|f| (f.name, f.value, "json", Some(f.path)))
                .collect(),
        );
    }
    let (pairs, _) = parsers::logfmt(line, false, false);
    if pairs.is_empty() {
        return None;
    }
    let out = pairs
        .into_iter()
        .map(|(k, v)| (parsers::extracted_name(base, k), v, "logfmt", None))
        .collect();
    Some(out)
}

/// Loki push protobuf's `labels` string, `{a="b", c="d"}`: only `=` matchers, any label name allowed by Loki's rule; duplicates are an error. Returns pairs in source order.
pub fn parse_labels(src: &str) -> Result<Vec<(String, String)>, ParseError> {
    parser::parse_labels(src)
}

/// True if `name` is a label name Loki accepts: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

/// A parsed query.
#[derive(Debug, Clone)]
pub enum Query {
    /// Entries: `{app="a"} |= "error"`.
    Log(LogQuery),
    /// Samples: `sum by (app) (rate({app="a"}[5m]))`.
    Metric(MetricExpr),
}

impl Query {
    /// Every log query it reads: one for a log query, one per range
    /// aggregation of a metric query (none for `vector(1) + 1`).
    pub fn logs(&self) -> Vec<&LogQuery> {
        match self {
            Query::Log(q) => vec![q],
            Query::Metric(m) => m.ranges().into_iter().map(|r| &r.query).collect(),
        }
    }
}

/// A selector and the pipeline every selected entry goes through.
#[derive(Debug, Clone)]
pub struct LogQuery {
    /// Which streams are read.
    pub selector: Selector,
    /// Filters, parsers and formatters, applied to each entry in order.
    pub pipeline: Pipeline,
}

/// A label set from pairs, for the tests of this layer and those above.
#[cfg(test)]
pub(crate) fn labels_of(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_display_and_positions() {
        let e = ParseError::at("ab\ncdé", 7, "syntax error: x");
        assert_eq!((e.line, e.col), (2, 4));
        assert_eq!(
            e.to_string(),
            "parse error at line 2, col 4: syntax error: x"
        );
        // Inside a multi-byte character: clamped back.
        let e = ParseError::at("é", 1, "m");
        assert_eq!((e.pos, e.col), (0, 1));
    }

    #[test]
    fn public_durations() {
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration(" 2d "), Ok(172_800_000_000_000));
        assert!(parse_duration("5").is_err());
    }

    #[test]
    fn label_names() {
        for ok in ["a", "_", "A_1", "__name__"] {
            assert!(valid_label_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a.b", "é"] {
            assert!(!valid_label_name(bad), "{bad}");
        }
    }

    #[test]
    fn grouping_keys() {
        let l: Labels = [("a", "1"), ("b", "2"), ("c", "3")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let by = Grouping {
            without: false,
            labels: vec!["a".into(), "z".into()],
        };
        assert_eq!(
            by.key(&l).into_iter().collect::<Vec<_>>(),
            [("a".into(), "1".into())]
        );
        let without = Grouping {
            without: true,
            labels: vec!["a".into()],
        };
        assert_eq!(without.key(&l).len(), 2);
    }

    #[test]
    fn query_accessors() {
        let q = parse(r#"topk(2, sum by (a) (rate({app="x"} |= "e" [5m])))"#).unwrap();
        let logs = q.logs();
        assert_eq!(logs[0].selector.matchers[0].value, "x");
        assert_eq!(logs[0].pipeline.required_literals(), ["e"]);
        let Query::Metric(m) = &q else {
            panic!("metric")
        };
        assert_eq!(m.ranges()[0].range_ns, 300_000_000_000);
        assert_eq!(m.ranges()[0].func, RangeFunc::Rate);
        let q = parse(r#"rate({a="1"}[1m]) / rate({b="2"}[1m]) + vector(1)"#).unwrap();
        assert_eq!(q.logs().len(), 2);
        assert_eq!(parse("vector(1) + 1").unwrap().logs().len(), 0);
    }
}
