//! The LogQL parser: tokens to a [`Query`], by recursive descent.
//!
//! Loki's grammar is yacc; for the subset here a hand-written parser is
//! smaller and gives the same messages (`unexpected X, expecting Y`) with the
//! position of the offending token, which is what a user fixing a query in
//! Grafana needs.

use super::lexer::{Tok, lex};
use super::pipeline::{
    CmpOp, LabelFilter, LineOp, NamedMatcher, Pipeline, Stage, line_stage, parse_template,
};
use super::{
    Grouping, LogQuery, MatchOp, Matcher, MetricExpr, ParseError, Query, RangeFunc, Selector,
    VectorOp,
};
use std::mem::discriminant;

/// Loki's message for a selector that every stream would match.
pub(crate) const EMPTY_SELECTOR: &str = "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

/// How deeply parentheses and aggregations may nest (bounds recursion).
const MAX_DEPTH: usize = 64;

pub(crate) fn parse_query(src: &str) -> Result<Query, ParseError> {
    let mut p = Parser::new(src)?;
    let q = p.expr()?;
    p.expect(&Tok::Eof, &[])?;
    Ok(q)
}

pub(crate) fn parse_selector(src: &str, require_non_empty: bool) -> Result<Selector, ParseError> {
    let mut p = Parser::new(src)?;
    p.require_non_empty = require_non_empty;
    let s = p.selector()?;
    p.expect(&Tok::Eof, &[])?;
    Ok(s)
}

pub(crate) fn parse_labels(src: &str) -> Result<Vec<(String, String)>, ParseError> {
    let mut p = Parser::new(src)?;
    p.expect(&Tok::LBrace, &["{"])?;
    let mut out: Vec<(String, String)> = Vec::new();
    if !matches!(p.peek(), Tok::RBrace) {
        loop {
            let (name, at) = p.ident()?;
            p.expect(&Tok::Eq, &["="])?;
            let (value, _, _) = p.string()?;
            if out.iter().any(|(n, _)| *n == name) {
                return Err(p.err(at, format!("duplicate label name {name:?}")));
            }
            out.push((name, value));
            match p.peek() {
                Tok::Comma => p.bump(),
                Tok::RBrace => break,
                _ => return Err(p.unexpected(&["}", ","])),
            }
        }
    }
    p.expect(&Tok::RBrace, &["}"])?;
    p.expect(&Tok::Eof, &[])?;
    Ok(out)
}

struct Parser<'s> {
    src: &'s str,
    toks: Vec<(Tok, usize)>,
    i: usize,
    depth: usize,
    /// Whether a selector must have a matcher that rejects `""` (Loki's rule).
    require_non_empty: bool,
}

impl<'s> Parser<'s> {
    fn new(src: &'s str) -> Result<Parser<'s>, ParseError> {
        Ok(Parser {
            src,
            toks: lex(src)?,
            i: 0,
            depth: 0,
            require_non_empty: true,
        })
    }

    fn peek(&self) -> &Tok {
        self.peek_at(0)
    }

    fn peek_at(&self, n: usize) -> &Tok {
        self.toks.get(self.i + n).map_or(&Tok::Eof, |(t, _)| t)
    }

    fn pos(&self) -> usize {
        self.toks.get(self.i).map_or(self.src.len(), |(_, p)| *p)
    }

    fn bump(&mut self) {
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
    }

    fn err(&self, pos: usize, msg: impl Into<String>) -> ParseError {
        ParseError::at(self.src, pos, msg)
    }

    fn unexpected(&self, expecting: &[&str]) -> ParseError {
        let mut m = format!("syntax error: unexpected {}", self.peek().name());
        if !expecting.is_empty() {
            m.push_str(", expecting ");
            m.push_str(&expecting.join(" or "));
        }
        self.err(self.pos(), m)
    }

    /// Consumes a token of `want`'s kind, returning its position.
    fn expect(&mut self, want: &Tok, expecting: &[&str]) -> Result<usize, ParseError> {
        if discriminant(self.peek()) == discriminant(want) {
            let at = self.pos();
            self.bump();
            Ok(at)
        } else {
            Err(self.unexpected(expecting))
        }
    }

    fn ident(&mut self) -> Result<(String, usize), ParseError> {
        match self.peek() {
            Tok::Ident(s) => {
                let r = (s.clone(), self.pos());
                self.bump();
                Ok(r)
            }
            _ => Err(self.unexpected(&["IDENTIFIER"])),
        }
    }

    /// A string literal: value, whether it maps byte for byte onto the
    /// source, and the position of its opening quote.
    fn string(&mut self) -> Result<(String, bool, usize), ParseError> {
        match self.peek() {
            Tok::Str { value, exact } => {
                let r = (value.clone(), *exact, self.pos());
                self.bump();
                Ok(r)
            }
            _ => Err(self.unexpected(&["STRING"])),
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(self.pos(), "syntax error: expression nested too deeply"));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Query, ParseError> {
        // Skip any opening parentheses to see what they open.
        let mut n = 0;
        while matches!(self.peek_at(n), Tok::LParen) {
            n += 1;
        }
        match self.peek_at(n) {
            Tok::LBrace => Ok(Query::Log(self.log_expr()?)),
            Tok::Ident(_) => Ok(Query::Metric(self.metric()?)),
            _ => {
                self.i += n;
                Err(self.unexpected(&["{", "("]))
            }
        }
    }

    fn log_expr(&mut self) -> Result<LogQuery, ParseError> {
        if matches!(self.peek(), Tok::LParen) {
            self.enter()?;
            self.bump();
            let q = self.log_expr()?;
            self.expect(&Tok::RParen, &[")"])?;
            self.depth -= 1;
            return Ok(q);
        }
        let selector = self.selector()?;
        let pipeline = self.pipeline()?;
        Ok(LogQuery { selector, pipeline })
    }

    fn selector(&mut self) -> Result<Selector, ParseError> {
        let open = self.expect(&Tok::LBrace, &["{"])?;
        let mut matchers = Vec::new();
        if !matches!(self.peek(), Tok::RBrace) {
            loop {
                matchers.push(self.matcher()?);
                match self.peek() {
                    Tok::Comma => self.bump(),
                    Tok::RBrace => break,
                    _ => return Err(self.unexpected(&["}", ","])),
                }
            }
        }
        self.expect(&Tok::RBrace, &["}"])?;
        if self.require_non_empty && matchers.iter().all(|m| m.matches(Some(""))) {
            return Err(self.err(open, EMPTY_SELECTOR));
        }
        Ok(Selector { matchers })
    }

    /// `name op "value"`, with `op` one of `=`, `!=`, `=~`, `!~`.
    fn matcher(&mut self) -> Result<Matcher, ParseError> {
        let (name, _) = self.ident()?;
        let op = match self.peek() {
            Tok::Eq => MatchOp::Eq,
            Tok::Neq => MatchOp::Ne,
            Tok::Re => MatchOp::Re,
            Tok::Nre => MatchOp::Nre,
            _ => return Err(self.unexpected(&["=", "!=", "=~", "!~"])),
        };
        self.bump();
        self.matcher_value(name, op)
    }

    fn matcher_value(&mut self, name: String, op: MatchOp) -> Result<Matcher, ParseError> {
        let (value, _, at) = self.string()?;
        Matcher::new(&name, op, &value).map_err(|e| self.err(at, e.message))
    }

    fn pipeline(&mut self) -> Result<Pipeline, ParseError> {
        let mut stages = Vec::new();
        loop {
            let op = match self.peek() {
                Tok::PipeExact => LineOp::Contains,
                Tok::Neq => LineOp::NotContains,
                Tok::PipeMatch => LineOp::Match,
                Tok::Nre => LineOp::NotMatch,
                Tok::Pipe => {
                    self.bump();
                    stages.push(self.stage()?);
                    continue;
                }
                _ => break,
            };
            self.bump();
            let (pattern, _, at) = self.string()?;
            stages.push(line_stage(op, &pattern, false).map_err(|e| self.err(at, e))?);
        }
        Ok(Pipeline { stages })
    }

    /// The stage after a `|`.
    fn stage(&mut self) -> Result<Stage, ParseError> {
        let word = match self.peek() {
            Tok::Ident(w) => w.clone(),
            Tok::LParen => return Ok(Stage::Label(self.label_filter()?)),
            _ => {
                return Err(self.unexpected(&[
                    "IDENTIFIER",
                    "json",
                    "logfmt",
                    "line_format",
                    "drop",
                    "keep",
                ]));
            }
        };
        let at = self.pos();
        let stage = match word.as_str() {
            "json" | "logfmt" => {
                self.bump();
                if matches!(self.peek(), Tok::Ident(_) | Tok::Sub) {
                    return Err(
                        self.err(self.pos(), format!("{word} parameters are not supported"))
                    );
                }
                if word == "json" {
                    Stage::Json
                } else {
                    Stage::Logfmt
                }
            }
            "line_format" => {
                self.bump();
                let (t, exact, sat) = self.string()?;
                let parts = parse_template(&t).map_err(|(off, msg)| {
                    // Point into the template when its text is the source's.
                    let pos = if exact { sat + 1 + off } else { sat };
                    self.err(pos, msg)
                })?;
                Stage::LineFormat(parts)
            }
            "drop" | "keep" => {
                self.bump();
                let list = self.named_matchers()?;
                if word == "drop" {
                    Stage::Drop(list)
                } else {
                    Stage::Keep(list)
                }
            }
            "label_format" | "unwrap" | "regexp" | "pattern" | "unpack" | "xml" | "decolorize" => {
                return Err(self.err(at, format!("unsupported pipeline stage: {word}")));
            }
            _ => Stage::Label(self.label_filter()?),
        };
        Ok(stage)
    }

    /// `a, b="v", c=~"re"`.
    fn named_matchers(&mut self) -> Result<Vec<NamedMatcher>, ParseError> {
        let mut out = Vec::new();
        loop {
            let (name, _) = self.ident()?;
            let op = match self.peek() {
                Tok::Eq => Some(MatchOp::Eq),
                Tok::Neq => Some(MatchOp::Ne),
                Tok::Re => Some(MatchOp::Re),
                Tok::Nre => Some(MatchOp::Nre),
                _ => None,
            };
            let matcher = match op {
                Some(op) => {
                    self.bump();
                    Some(self.matcher_value(name.clone(), op)?)
                }
                None => None,
            };
            out.push(NamedMatcher { name, matcher });
            if !matches!(self.peek(), Tok::Comma) {
                return Ok(out);
            }
            self.bump();
        }
    }

    /// Label filters: `or` binds loosest, then `and`, `,` and juxtaposition.
    fn label_filter(&mut self) -> Result<LabelFilter, ParseError> {
        self.enter()?;
        let mut left = self.label_and()?;
        while self.peek().is_word("or") {
            self.bump();
            let right = self.label_and()?;
            left = LabelFilter::Or(Box::new(left), Box::new(right));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn label_and(&mut self) -> Result<LabelFilter, ParseError> {
        let mut left = self.label_primary()?;
        loop {
            match self.peek() {
                Tok::Comma => self.bump(),
                t if t.is_word("and") => self.bump(),
                t if t.is_word("or") => break,
                Tok::Ident(_) | Tok::LParen => {}
                _ => break,
            }
            let right = self.label_primary()?;
            left = LabelFilter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn label_primary(&mut self) -> Result<LabelFilter, ParseError> {
        if matches!(self.peek(), Tok::LParen) {
            self.bump();
            let f = self.label_filter()?;
            self.expect(&Tok::RParen, &[")"])?;
            return Ok(f);
        }
        let (name, _) = self.ident()?;
        let op = self.peek().clone();
        let cmp = match op {
            Tok::Eq | Tok::CmpEq => CmpOp::Eq,
            Tok::Neq => CmpOp::Ne,
            Tok::Gt => CmpOp::Gt,
            Tok::Gte => CmpOp::Ge,
            Tok::Lt => CmpOp::Lt,
            Tok::Lte => CmpOp::Le,
            Tok::Re | Tok::Nre => CmpOp::Eq,
            _ => return Err(self.unexpected(&["=", "!=", "=~", "!~", "==", ">", ">=", "<", "<="])),
        };
        self.bump();
        let is_eq = matches!(cmp, CmpOp::Eq | CmpOp::Ne);
        let is_re = matches!(op, Tok::Re | Tok::Nre);
        match self.peek().clone() {
            Tok::Str { .. } if is_eq || is_re => {
                let mop = match op {
                    Tok::Re => MatchOp::Re,
                    Tok::Nre => MatchOp::Nre,
                    Tok::Neq => MatchOp::Ne,
                    _ => MatchOp::Eq,
                };
                Ok(LabelFilter::Str(self.matcher_value(name, mop)?))
            }
            _ if is_re => Err(self.unexpected(&["STRING"])),
            Tok::Sub => {
                self.bump();
                match self.peek() {
                    Tok::Number(n) => {
                        let value = -n;
                        self.bump();
                        Ok(LabelFilter::Number {
                            name,
                            op: cmp,
                            value,
                        })
                    }
                    _ => Err(self.unexpected(&["NUMBER"])),
                }
            }
            Tok::Number(value) => {
                self.bump();
                Ok(LabelFilter::Number {
                    name,
                    op: cmp,
                    value,
                })
            }
            Tok::Duration(ns) => {
                self.bump();
                Ok(LabelFilter::Duration { name, op: cmp, ns })
            }
            Tok::Bytes(bytes) => {
                self.bump();
                Ok(LabelFilter::Bytes {
                    name,
                    op: cmp,
                    bytes,
                })
            }
            _ if is_eq => Err(self.unexpected(&["STRING", "NUMBER", "DURATION", "BYTES"])),
            _ => Err(self.unexpected(&["NUMBER", "DURATION", "BYTES"])),
        }
    }

    fn metric(&mut self) -> Result<MetricExpr, ParseError> {
        self.enter()?;
        let m = self.metric_inner()?;
        self.depth -= 1;
        Ok(m)
    }

    fn metric_inner(&mut self) -> Result<MetricExpr, ParseError> {
        if matches!(self.peek(), Tok::LParen) {
            self.bump();
            let m = self.metric()?;
            self.expect(&Tok::RParen, &[")"])?;
            return Ok(m);
        }
        let (name, at) = match self.peek() {
            Tok::Ident(s) => (s.clone(), self.pos()),
            _ => return Err(self.unexpected(&["(", "IDENTIFIER"])),
        };
        let range = match name.as_str() {
            "count_over_time" => Some(RangeFunc::CountOverTime),
            "rate" => Some(RangeFunc::Rate),
            "bytes_over_time" => Some(RangeFunc::BytesOverTime),
            "bytes_rate" => Some(RangeFunc::BytesRate),
            _ => None,
        };
        if let Some(func) = range {
            self.bump();
            self.expect(&Tok::LParen, &["("])?;
            let (range_ns, query) = self.log_range()?;
            self.expect(&Tok::RParen, &[")"])?;
            if self.peek().is_word("by") || self.peek().is_word("without") {
                return Err(self.err(
                    self.pos(),
                    format!("grouping not allowed for {name} aggregation"),
                ));
            }
            return Ok(MetricExpr::Range {
                func,
                range_ns,
                query,
            });
        }
        let op = match name.as_str() {
            "sum" => VectorOp::Sum,
            "count" => VectorOp::Count,
            "avg" => VectorOp::Avg,
            "min" => VectorOp::Min,
            "max" => VectorOp::Max,
            "topk" => VectorOp::Topk(0),
            "avg_over_time" | "sum_over_time" | "min_over_time" | "max_over_time"
            | "stddev_over_time" | "stdvar_over_time" | "quantile_over_time"
            | "first_over_time" | "last_over_time" | "absent_over_time" | "rate_counter"
            | "stddev" | "stdvar" | "bottomk" | "sort" | "sort_desc" | "approx_topk"
            | "label_replace" | "vector" => {
                return Err(self.err(at, format!("unsupported function: {name}")));
            }
            _ => return Err(self.unexpected(&["(", "{"])),
        };
        self.bump();
        let mut grouping = self.grouping()?;
        self.expect(&Tok::LParen, &["("])?;
        let op = if let VectorOp::Topk(_) = op {
            let (n, nat) = match self.peek() {
                Tok::Number(n) => (*n, self.pos()),
                _ => return Err(self.unexpected(&["NUMBER"])),
            };
            if n.fract() != 0.0 || n < 1.0 || n > u32::MAX as f64 {
                return Err(self.err(
                    nat,
                    format!("invalid parameter (must be greater than 0) {name}({n}"),
                ));
            }
            self.bump();
            self.expect(&Tok::Comma, &[","])?;
            VectorOp::Topk(n as usize)
        } else {
            if matches!(self.peek(), Tok::Number(_)) {
                return Err(self.err(
                    self.pos(),
                    format!("unsupported parameter for operation {name}("),
                ));
            }
            op
        };
        let inner = self.metric()?;
        self.expect(&Tok::RParen, &[")"])?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        Ok(MetricExpr::Vector {
            op,
            grouping,
            inner: Box::new(inner),
        })
    }

    /// `by (a, b)` or `without (a)`, if present.
    fn grouping(&mut self) -> Result<Option<Grouping>, ParseError> {
        let without = match self.peek() {
            t if t.is_word("by") => false,
            t if t.is_word("without") => true,
            _ => return Ok(None),
        };
        self.bump();
        self.expect(&Tok::LParen, &["("])?;
        let mut labels = Vec::new();
        if !matches!(self.peek(), Tok::RParen) {
            loop {
                labels.push(self.ident()?.0);
                match self.peek() {
                    Tok::Comma => self.bump(),
                    Tok::RParen => break,
                    _ => return Err(self.unexpected(&[")", ","])),
                }
            }
        }
        self.expect(&Tok::RParen, &[")"])?;
        Ok(Some(Grouping { without, labels }))
    }

    /// A log query with a range: `{..} | p [5m]`, `{..}[5m] | p`,
    /// `({..} | p)[5m]`, or any of those in parentheses.
    fn log_range(&mut self) -> Result<(i64, LogQuery), ParseError> {
        if matches!(self.peek(), Tok::LParen) {
            self.enter()?;
            self.bump();
            let r = if matches!(self.peek(), Tok::LBrace) {
                let selector = self.selector()?;
                let pipeline = self.pipeline()?;
                if let Tok::Range(d) = *self.peek() {
                    // `({..} | p [5m])`: a whole range expression in parentheses.
                    self.bump();
                    let pipeline = self.pipeline_after_range(pipeline)?;
                    self.expect(&Tok::RParen, &[")"])?;
                    (d, LogQuery { selector, pipeline })
                } else {
                    self.expect(&Tok::RParen, &[")", "RANGE"])?;
                    let d = self.range()?;
                    (d, LogQuery { selector, pipeline })
                }
            } else {
                let r = self.log_range()?;
                self.expect(&Tok::RParen, &[")"])?;
                r
            };
            self.depth -= 1;
            return Ok(r);
        }
        let selector = self.selector()?;
        let pipeline = self.pipeline()?;
        let d = self.range()?;
        let pipeline = self.pipeline_after_range(pipeline)?;
        Ok((d, LogQuery { selector, pipeline }))
    }

    /// `{..}[5m] | p`: a pipeline may follow the range if none preceded it.
    fn pipeline_after_range(&mut self, before: Pipeline) -> Result<Pipeline, ParseError> {
        if before.is_empty() {
            self.pipeline()
        } else {
            Ok(before)
        }
    }

    fn range(&mut self) -> Result<i64, ParseError> {
        match *self.peek() {
            Tok::Range(d) => {
                self.bump();
                Ok(d)
            }
            _ => Err(self.unexpected(&["RANGE"])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::parse;

    fn err(q: &str) -> ParseError {
        match parse(q) {
            Ok(v) => panic!("{q} parsed: {v:?}"),
            Err(e) => e,
        }
    }

    fn metric(q: &str) -> MetricExpr {
        match parse(q) {
            Ok(Query::Metric(m)) => m,
            other => panic!("{q}: {other:?}"),
        }
    }

    #[test]
    fn selectors() {
        let Query::Log(l) = parse(r#"{a="1", b!="2", c=~"3.*", d!~`4\d`}"#).unwrap() else {
            panic!("log")
        };
        let ops: Vec<_> = l
            .selector
            .matchers
            .iter()
            .map(|m| (m.name.as_str(), m.op, m.value.as_str()))
            .collect();
        assert_eq!(
            ops,
            [
                ("a", MatchOp::Eq, "1"),
                ("b", MatchOp::Ne, "2"),
                ("c", MatchOp::Re, "3.*"),
                ("d", MatchOp::Nre, "4\\d")
            ]
        );
        assert!(l.pipeline.is_empty());
        assert!(parse(r#"({a="1"})"#).is_ok());
        assert!(parse_selector(r#"{a=~".+"}"#, true).is_ok());
        assert!(parse_selector(r#"{a="1"} |= "x""#, true).is_err());
        // `!=""` does not match the empty string, so Loki accepts it.
        assert!(parse_selector(r#"{a!=""}"#, true).is_ok());
    }

    #[test]
    fn empty_compatible_selectors() {
        for q in [
            r#"{a=~".*"}"#,
            r#"{a=""}"#,
            r#"{a!="x"}"#,
            "{}",
            r#"{a=~".*", b!~"x"}"#,
        ] {
            let e = err(q);
            assert_eq!(e.message, EMPTY_SELECTOR, "{q}");
            assert_eq!(e.col, 1);
        }
        assert!(parse_selector(r#"{a=~".*"}"#, true).is_err());
        assert_eq!(parse_selector("{}", false).unwrap().matchers.len(), 0);
        assert!(parse_selector(r#"{a=~".*"}"#, false).is_ok());
    }

    #[test]
    fn error_positions() {
        let e = err(r#"{app="a"} |= "#);
        assert_eq!(
            e.to_string(),
            "parse error at line 1, col 14: syntax error: unexpected $end, expecting STRING"
        );
        let e = err(r#"{foo="bar""#);
        assert_eq!(
            e.to_string(),
            "parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,"
        );
        let e = err(r#"{app=foo}"#);
        assert_eq!(
            (e.col, e.message.as_str()),
            (6, "syntax error: unexpected IDENTIFIER, expecting STRING")
        );
        let e = err("{app=\"a\"}\n  | json |");
        assert_eq!((e.line, e.col, e.pos), (2, 11, 20));
        let e = err(r#"{a="b",}"#);
        assert_eq!(
            e.message,
            "syntax error: unexpected }, expecting IDENTIFIER"
        );
        let e = err(r#"{a="b"} x"#);
        assert_eq!(e.message, "syntax error: unexpected IDENTIFIER");
        let e = err(r#"{a=~"("}"#);
        assert_eq!(e.col, 5);
        assert!(e.message.starts_with("invalid regexp"));
        assert!(err("").message.contains("unexpected $end"));
    }

    #[test]
    fn huge_regexes_are_errors() {
        let e = err(r#"{a=~"(a{1000}){1000}"}"#);
        assert!(e.message.contains("invalid regexp"), "{e}");
        assert!(
            err(r#"{a="b"} |~ "(a{1000}){1000}""#)
                .message
                .contains("invalid regexp")
        );
        assert!(
            err(&format!(
                r#"{{a="b"}} |~ "{}{}""#,
                "(".repeat(300),
                ")".repeat(300)
            ))
            .message
            .contains("regexp")
        );
    }

    #[test]
    fn pipeline_stages() {
        let Query::Log(l) = parse(
            r#"{a="b"} |= "x" != "y" | json | logfmt |~ "z" | n > 1 | line_format "{{.n}}" | drop c, d="e" | keep n"#,
        )
        .unwrap() else {
            panic!("log")
        };
        let kinds: Vec<_> = l
            .pipeline
            .stages
            .iter()
            .map(|s| match s {
                Stage::Line { op, .. } => format!("{op:?}"),
                Stage::Json => "json".into(),
                Stage::Logfmt => "logfmt".into(),
                Stage::Label(_) => "label".into(),
                Stage::LineFormat(_) => "line_format".into(),
                Stage::Drop(m) => format!("drop{}", m.len()),
                Stage::Keep(m) => format!("keep{}", m.len()),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "Contains",
                "NotContains",
                "json",
                "logfmt",
                "Match",
                "label",
                "line_format",
                "drop2",
                "keep1"
            ]
        );
    }

    #[test]
    fn pipeline_errors() {
        assert!(
            err(r#"{a="b"} | json foo="bar""#)
                .message
                .contains("not supported")
        );
        assert!(
            err(r#"{a="b"} | unwrap x"#)
                .message
                .contains("unsupported pipeline stage")
        );
        assert_eq!(
            err(r#"{a="b"} | x > "s""#).message,
            "syntax error: unexpected STRING, expecting NUMBER or DURATION or BYTES"
        );
        assert!(
            err(r#"{a="b"} | x =~ 5"#)
                .message
                .contains("expecting STRING")
        );
        assert!(err(r#"{a="b"} | (x="1""#).message.contains("expecting )"));
        assert!(
            err(r#"{a="b"} | drop"#)
                .message
                .contains("expecting IDENTIFIER")
        );
        let e = err(r#"{a="b"} | line_format "ab {{ upper .x }}""#);
        assert_eq!(e.col, 27);
        assert!(e.message.contains("unsupported template action"), "{e}");
        let e = err(r#"{a="b"} | line_format "\tb {{ upper .x }}""#);
        assert_eq!(e.col, 23);
    }

    #[test]
    fn label_filter_precedence() {
        let Query::Log(l) = parse(r#"{a="b"} | x="1" or y="2" and z="3""#).unwrap() else {
            panic!("log")
        };
        let Stage::Label(LabelFilter::Or(_, r)) = &l.pipeline.stages[0] else {
            panic!("or at top")
        };
        assert!(matches!(**r, LabelFilter::And(..)));
        let Query::Log(l) = parse(r#"{a="b"} | (x="1" or y="2") and z="3""#).unwrap() else {
            panic!("log")
        };
        assert!(matches!(
            l.pipeline.stages[0],
            Stage::Label(LabelFilter::And(..))
        ));
        let Query::Log(l) = parse(r#"{a="b"} | x > 1.5, y <= 10s z == 2KB"#).unwrap() else {
            panic!("log")
        };
        assert_eq!(l.pipeline.stages.len(), 1);
    }

    #[test]
    fn range_aggregations() {
        for (q, f) in [
            (r#"count_over_time({a="b"}[5m])"#, RangeFunc::CountOverTime),
            (r#"rate({a="b"} |= "x" | json [1m30s])"#, RangeFunc::Rate),
            (
                r#"bytes_over_time({a="b"}[1h] |= "x")"#,
                RangeFunc::BytesOverTime,
            ),
            (r#"bytes_rate(({a="b"} |= "x")[10s])"#, RangeFunc::BytesRate),
            (r#"rate(({a="b"} |= "x" [10s]))"#, RangeFunc::Rate),
            (r#"(rate(({a="b"}[10s])))"#, RangeFunc::Rate),
        ] {
            let m = metric(q);
            assert_eq!(m.range_func(), f, "{q}");
        }
        assert_eq!(
            metric(r#"rate({a="b"} |= "x" | json [1m30s])"#).range_ns(),
            90_000_000_000
        );
        assert_eq!(
            metric(r#"bytes_over_time({a="b"}[1h] |= "x")"#)
                .log()
                .pipeline
                .required_literals(),
            ["x"]
        );
        assert!(err(r#"rate({a="b"})"#).message.contains("expecting RANGE"));
        assert!(
            err(r#"rate({a="b"} |= "x" [1m] |= "y")"#)
                .message
                .contains("unexpected |=")
        );
        assert!(
            err(r#"rate({a="b"}[1m]) by (x)"#)
                .message
                .contains("grouping not allowed")
        );
        assert!(
            err(r#"avg_over_time({a="b"}[1m])"#)
                .message
                .contains("unsupported function")
        );
        assert!(
            err(r#"foo({a="b"}[1m])"#)
                .message
                .contains("unexpected IDENTIFIER")
        );
    }

    #[test]
    fn vector_aggregations() {
        let m = metric(r#"sum by (app, pod) (rate({a="b"}[5m]))"#);
        let MetricExpr::Vector {
            op: VectorOp::Sum,
            grouping: Some(g),
            ..
        } = &m
        else {
            panic!("{m:?}")
        };
        assert_eq!(
            g,
            &Grouping {
                without: false,
                labels: vec!["app".into(), "pod".into()]
            }
        );
        let m = metric(r#"sum(rate({a="b"}[5m])) without (pod)"#);
        let MetricExpr::Vector {
            grouping: Some(g), ..
        } = &m
        else {
            panic!("{m:?}")
        };
        assert!(g.without);
        let m = metric(r#"topk(3, sum by (pod) (count_over_time({a="b"}[1m])))"#);
        let MetricExpr::Vector {
            op: VectorOp::Topk(3),
            grouping: None,
            inner,
        } = &m
        else {
            panic!("{m:?}")
        };
        assert!(matches!(
            **inner,
            MetricExpr::Vector {
                op: VectorOp::Sum,
                ..
            }
        ));
        for (q, op) in [
            ("count", VectorOp::Count),
            ("avg", VectorOp::Avg),
            ("min", VectorOp::Min),
            ("max", VectorOp::Max),
        ] {
            let m = metric(&format!(
                r#"{q}(sum(count_over_time({{a="b"}}[1m]))) by ()"#
            ));
            let MetricExpr::Vector {
                op: got,
                grouping: Some(g),
                ..
            } = m
            else {
                panic!("{q}")
            };
            assert_eq!((got, g.labels.len()), (op, 0));
        }
        assert!(parse(r#"topk by (x) (2, rate({a="b"}[1m]))"#).is_ok());
        assert!(
            err(r#"topk(0, rate({a="b"}[1m]))"#)
                .message
                .contains("must be greater than 0")
        );
        assert!(
            err(r#"topk(1.5, rate({a="b"}[1m]))"#)
                .message
                .contains("must be greater than 0")
        );
        assert!(
            err(r#"topk(rate({a="b"}[1m]))"#)
                .message
                .contains("expecting NUMBER")
        );
        assert!(
            err(r#"sum(2, rate({a="b"}[1m]))"#)
                .message
                .contains("unsupported parameter")
        );
        assert!(err(r#"sum({a="b"})"#).message.contains("unexpected {"));
        assert!(
            err(r#"sum(rate({a="b"}[1m])) by (a) by (b)"#)
                .message
                .contains("unexpected by")
        );
        assert!(
            err(r#"sum by (a (rate({a="b"}[1m]))"#)
                .message
                .contains("expecting ) or ,")
        );
        let deep = format!(
            "{}{}{}",
            "sum(".repeat(100),
            r#"rate({a="b"}[1m])"#,
            ")".repeat(100)
        );
        assert!(err(&deep).message.contains("nested too deeply"));
    }

    #[test]
    fn prefixes_never_panic() {
        let queries = [
            r#"topk by (a) (2, sum by (app, pod) (rate(({app=~"a.+", b!~`x`} |= "é\u00e9" != "y" | json | logfmt | n >= -1.5 and (d < 1m30s or s > 1KiB), x="1" | line_format "{{ .a }}é" | drop a, b="c" | keep d)[5m])))"#,
            r#"sum(count_over_time({a="b"}[1d] |~ "x")) without (a) # comment"#,
            r#"bytes_rate({a="b"} | drop x [1h])"#,
        ];
        for q in queries {
            assert!(parse(q).is_ok(), "{q}");
            for (i, _) in q.char_indices() {
                let _ = parse(&q[..i]);
                let _ = parse(&q[i..]);
                let _ = parse_labels(&q[..i]);
            }
        }
    }

    #[test]
    fn labels_strings() {
        assert_eq!(
            parse_labels(r#"{a="b", c="d\"e"}"#).unwrap(),
            [
                ("a".to_string(), "b".to_string()),
                ("c".to_string(), "d\"e".to_string())
            ]
        );
        assert_eq!(parse_labels("{}").unwrap(), []);
        assert!(
            parse_labels(r#"{a="b", a="c"}"#)
                .unwrap_err()
                .message
                .contains("duplicate")
        );
        assert!(parse_labels(r#"{a=~"b"}"#).is_err());
        assert!(parse_labels(r#"{a="b"} x"#).is_err());
        assert!(parse_labels(r#"{a="b""#).is_err());
    }
}
