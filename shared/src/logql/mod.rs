//! LogQL, the subset worth having: parsed once per query, evaluated per entry.
//!
//! Grafana's tools (Grafana itself, logcli) speak Loki's query language, so
//! the read API accepts it rather than a dialect of our own. This module is
//! pure: it parses a query into a [`Query`], runs a log [`Pipeline`] over one
//! entry at a time, and folds entries into metric [`Series`] with an
//! [`Evaluator`]; storage and HTTP stay above it.
//!
//! The subset: stream selectors; line filters (`|=`, `!=`, `|~`, `!~`);
//! the `json` and `logfmt` parsers; label filters on strings, numbers,
//! durations and byte sizes with `and`/`or`/`,`; `line_format` with plain
//! `{{.label}}` substitution; `drop` and `keep`; the range aggregations
//! `count_over_time`, `rate`, `bytes_over_time`, `bytes_rate`; the vector
//! aggregations `sum`, `count`, `avg`, `min`, `max`, `topk` with `by` or
//! `without`. Semantics and error messages follow Loki's.

mod duration;
mod lexer;
mod metric;
mod parser;
mod parsers;
mod pipeline;
mod selector;

pub use metric::{Evaluator, Series};
pub use pipeline::{LineOp, Pipeline};
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
    /// The (innermost) log query's selector.
    pub fn selector(&self) -> &Selector {
        &self.log().selector
    }

    /// The innermost log query.
    pub fn log(&self) -> &LogQuery {
        match self {
            Query::Log(q) => q,
            Query::Metric(m) => m.log(),
        }
    }
}

/// A selector and the pipeline every selected entry goes through.
#[derive(Debug, Clone)]
pub struct LogQuery {
    pub selector: Selector,
    pub pipeline: Pipeline,
}

/// A metric expression: a range aggregation over a log query, or a vector
/// aggregation over another metric expression.
#[derive(Debug, Clone)]
pub enum MetricExpr {
    Range {
        func: RangeFunc,
        range_ns: i64,
        query: LogQuery,
    },
    Vector {
        op: VectorOp,
        grouping: Option<Grouping>,
        inner: Box<MetricExpr>,
    },
}

impl MetricExpr {
    /// The innermost range, in nanoseconds.
    pub fn range_ns(&self) -> i64 {
        match self {
            MetricExpr::Range { range_ns, .. } => *range_ns,
            MetricExpr::Vector { inner, .. } => inner.range_ns(),
        }
    }

    /// The innermost log query.
    pub fn log(&self) -> &LogQuery {
        match self {
            MetricExpr::Range { query, .. } => query,
            MetricExpr::Vector { inner, .. } => inner.log(),
        }
    }

    /// The innermost range aggregation's function.
    pub fn range_func(&self) -> RangeFunc {
        match self {
            MetricExpr::Range { func, .. } => *func,
            MetricExpr::Vector { inner, .. } => inner.range_func(),
        }
    }
}

/// A range aggregation over the entries of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFunc {
    CountOverTime,
    Rate,
    BytesOverTime,
    BytesRate,
}

/// A vector aggregation across series at each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorOp {
    Sum,
    Count,
    Avg,
    Min,
    Max,
    Topk(usize),
}

/// `by (a, b)` or `without (a)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    pub without: bool,
    pub labels: Vec<String>,
}

impl Grouping {
    /// The labels of the group a series with `labels` falls into.
    pub(crate) fn key(&self, labels: &Labels) -> Labels {
        labels
            .iter()
            .filter(|(k, _)| self.labels.iter().any(|l| l == *k) != self.without)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
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
        assert_eq!(q.selector().matchers[0].value, "x");
        assert_eq!(q.log().pipeline.required_literals(), ["e"]);
        let Query::Metric(m) = &q else {
            panic!("metric")
        };
        assert_eq!(m.range_ns(), 300_000_000_000);
        assert_eq!(m.range_func(), RangeFunc::Rate);
        let q = parse(r#"{app="x"}"#).unwrap();
        assert_eq!(q.selector().matchers.len(), 1);
    }
}
