//! The stages after a selector: line filters, parsers, label filters,
//! formats, `drop` and `keep`. `| unwrap` ends a pipeline: it belongs to
//! the range aggregation around it.

use super::Parser;
use crate::logql::ip::IpMatch;
use crate::logql::label_filter::{CmpOp, LabelFilter};
use crate::logql::lexer::Tok;
use crate::logql::line_filter::{LineFilter, LineMatch, LineOp};
use crate::logql::pattern::Pattern;
use crate::logql::pipeline::{FmtSource, LabelFmt, NamedMatcher, Pipeline, Stage};
use crate::logql::selector::compile_regex;
use crate::logql::template::Template;
use crate::logql::{MatchOp, ParseError, jsonpath, valid_label_name};

/// `json`'s extractions: (label, path).
type JsonExprs = Vec<(String, Vec<jsonpath::Step>)>;
/// `name[="expression"]` items: (label, expression, position).
type Extractions = Vec<(String, String, usize)>;

impl Parser<'_> {
    /// Stages up to the end of the pipeline (or a `| unwrap`, left unread).
    pub(super) fn pipeline(&mut self) -> Result<Pipeline, ParseError> {
        let mut stages = Vec::new();
        loop {
            let op = match self.peek() {
                Tok::PipeExact => LineOp::Contains,
                Tok::Neq => LineOp::NotContains,
                Tok::PipeMatch => LineOp::Match,
                Tok::Nre => LineOp::NotMatch,
                Tok::PipePattern => LineOp::Pattern,
                Tok::NotPattern => LineOp::NotPattern,
                Tok::Pipe if self.peek_at(1).is_word("unwrap") => break,
                Tok::Pipe => {
                    self.bump();
                    stages.push(self.stage()?);
                    continue;
                }
                _ => break,
            };
            self.bump();
            stages.push(Stage::Line(self.line_filter(op)?));
        }
        Ok(Pipeline { stages })
    }

    /// The argument(s) of a line filter: `"x"`, `ip("...")`, `"a" or "b"`.
    fn line_filter(&mut self, op: LineOp) -> Result<LineFilter, ParseError> {
        let mut alts = vec![self.line_arg(op)?];
        while self.peek().is_word("or")
            && matches!(self.peek_at(1), Tok::Str { .. } | Tok::Ident(_))
        {
            self.bump();
            alts.push(self.line_arg(op)?);
        }
        Ok(LineFilter { op, alts })
    }

    fn line_arg(&mut self, op: LineOp) -> Result<LineMatch, ParseError> {
        if self.peek().is_word("ip") {
            let at = self.pos();
            if !matches!(op, LineOp::Contains | LineOp::NotContains) {
                return Err(self.err(at, "ip: invalid operation"));
            }
            return Ok(LineMatch::Ip(self.ip_call()?));
        }
        let (pattern, _, at) = self.string()?;
        LineMatch::new(op, &pattern, false).map_err(|e| self.err(at, e))
    }

    /// `ip("...")`.
    fn ip_call(&mut self) -> Result<IpMatch, ParseError> {
        self.bump();
        self.expect(&Tok::LParen, &["("])?;
        let (pattern, _, at) = self.string()?;
        self.expect(&Tok::RParen, &[")"])?;
        IpMatch::parse(&pattern).map_err(|e| self.err(at, e))
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
                    "regexp",
                    "pattern",
                    "unpack",
                    "line_format",
                    "label_format",
                    "decolorize",
                    "drop",
                    "keep",
                ]));
            }
        };
        let at = self.pos();
        let keyword = matches!(
            word.as_str(),
            "json"
                | "logfmt"
                | "regexp"
                | "pattern"
                | "unpack"
                | "decolorize"
                | "line_format"
                | "label_format"
                | "drop"
                | "keep"
        );
        // `| json="x"` is a label filter on a label named json.
        if !keyword
            || matches!(
                self.peek_at(1),
                Tok::Eq
                    | Tok::Neq
                    | Tok::Re
                    | Tok::Nre
                    | Tok::CmpEq
                    | Tok::Gt
                    | Tok::Gte
                    | Tok::Lt
                    | Tok::Lte
            )
        {
            return Ok(Stage::Label(self.label_filter()?));
        }
        self.bump();
        Ok(match word.as_str() {
            "json" => Stage::Json(self.json_exprs()?),
            "logfmt" => self.logfmt()?,
            "regexp" => self.regexp()?,
            "pattern" => {
                let (p, _, sat) = self.string()?;
                Stage::Pattern(Pattern::parse(&p, true).map_err(|e| self.err(sat, e))?)
            }
            "unpack" => Stage::Unpack,
            "decolorize" => Stage::Decolorize,
            "line_format" => Stage::LineFormat(self.template()?),
            "label_format" => Stage::LabelFormat(self.label_formats()?),
            "drop" => Stage::Drop(self.named_matchers()?),
            "keep" => Stage::Keep(self.named_matchers()?),
            _ => return Err(self.err(at, format!("unsupported pipeline stage: {word}"))),
        })
    }

    /// `a="b.c", d` after `json`; `None` if no list follows.
    fn json_exprs(&mut self) -> Result<Option<JsonExprs>, ParseError> {
        let Some(list) = self.extractions()? else {
            return Ok(None);
        };
        list.into_iter()
            .map(|(name, expr, at)| {
                let path = jsonpath::parse(&expr).map_err(|e| self.err(at, e))?;
                Ok((name, path))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// `name[="expression"], ...`: (label, expression, position).
    fn extractions(&mut self) -> Result<Option<Extractions>, ParseError> {
        if !matches!(self.peek(), Tok::Ident(_)) || self.peek().is_word("or") {
            return Ok(None);
        }
        let mut out = Vec::new();
        loop {
            let (name, at) = self.ident()?;
            let expr = if matches!(self.peek(), Tok::Eq) {
                self.bump();
                let (e, _, _) = self.string()?;
                e
            } else {
                name.clone()
            };
            out.push((name, expr, at));
            if !matches!(self.peek(), Tok::Comma) {
                return Ok(Some(out));
            }
            self.bump();
        }
    }

    /// `logfmt [--strict] [--keep-empty] [a="b", c]`.
    fn logfmt(&mut self) -> Result<Stage, ParseError> {
        let (mut strict, mut keep_empty) = (false, false);
        while let Tok::Flag(f) = self.peek().clone() {
            match f.as_str() {
                "strict" => strict = true,
                "keep-empty" => keep_empty = true,
                other => return Err(self.err(self.pos(), format!("invalid logfmt flag --{other}"))),
            }
            self.bump();
        }
        let only = self
            .extractions()?
            .map(|l| l.into_iter().map(|(name, key, _)| (name, key)).collect());
        Ok(Stage::Logfmt {
            strict,
            keep_empty,
            only,
        })
    }

    /// `regexp "(?P<name>re)"`: at least one named capture, each a label name.
    fn regexp(&mut self) -> Result<Stage, ParseError> {
        let (re, _, at) = self.string()?;
        let compiled = compile_regex(&re).map_err(|e| self.err(at, e))?;
        let names: Vec<Option<String>> = compiled
            .capture_names()
            .map(|n| n.map(str::to_owned))
            .collect();
        if names.iter().all(Option::is_none) {
            return Err(self.err(at, "at least one named capture must be supplied"));
        }
        for n in names.iter().flatten() {
            if !valid_label_name(n) {
                return Err(self.err(at, format!("invalid extracted label name '{n}'")));
            }
        }
        Ok(Stage::Regexp(compiled, names))
    }

    /// A template string, its errors pointing into it when its text is the source's.
    fn template(&mut self) -> Result<Template, ParseError> {
        let (t, exact, sat) = self.string()?;
        Template::parse(&t).map_err(|(off, msg)| {
            let pos = if exact { sat + 1 + off } else { sat };
            self.err(pos, format!("invalid line template: template: {msg}"))
        })
    }

    /// `a=b, c="{{.x}}"`: renames and templates, each label once.
    fn label_formats(&mut self) -> Result<Vec<LabelFmt>, ParseError> {
        let mut out: Vec<LabelFmt> = Vec::new();
        loop {
            let (dst, at) = self.ident()?;
            self.expect(&Tok::Eq, &["="])?;
            let src = match self.peek().clone() {
                Tok::Ident(src) => {
                    self.bump();
                    FmtSource::Rename(src)
                }
                _ => FmtSource::Template(self.template()?),
            };
            if dst == "__error__" {
                return Err(self.err(at, "__error__ cannot be formatted"));
            }
            if out.iter().any(|f| f.dst == dst) {
                return Err(self.err(
                    at,
                    format!("multiple label name '{dst}' not allowed in a single format operation"),
                ));
            }
            out.push(LabelFmt { dst, src });
            if !matches!(self.peek(), Tok::Comma) {
                return Ok(out);
            }
            self.bump();
        }
    }

    /// `a, b="v", c=~"re"`.
    fn named_matchers(&mut self) -> Result<Vec<NamedMatcher>, ParseError> {
        let mut out = Vec::new();
        loop {
            let (name, _) = self.ident()?;
            let matcher = match self.match_op() {
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
    pub(super) fn label_filter(&mut self) -> Result<LabelFilter, ParseError> {
        self.enter()?;
        let mut left = self.label_and()?;
        while self.peek().is_word("or") {
            self.bump();
            let right = self.label_and()?;
            left = LabelFilter::Or(Box::new(left), Box::new(right));
        }
        self.leave();
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
            Tok::Eq | Tok::CmpEq | Tok::Re | Tok::Nre => CmpOp::Eq,
            Tok::Neq => CmpOp::Ne,
            Tok::Gt => CmpOp::Gt,
            Tok::Gte => CmpOp::Ge,
            Tok::Lt => CmpOp::Lt,
            Tok::Lte => CmpOp::Le,
            _ => return Err(self.unexpected(&["=", "!=", "=~", "!~", "==", ">", ">=", "<", "<="])),
        };
        self.bump();
        self.label_value(name, &op, cmp)
    }

    /// What a label is compared with after its operator.
    fn label_value(
        &mut self,
        name: String,
        op: &Tok,
        cmp: CmpOp,
    ) -> Result<LabelFilter, ParseError> {
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
            Tok::Ident(w) if w == "ip" && is_eq => Ok(LabelFilter::Ip {
                name,
                negate: cmp == CmpOp::Ne,
                ip: self.ip_call()?,
            }),
            Tok::Sub | Tok::Add | Tok::Number(_) => {
                let sign = match self.peek() {
                    Tok::Sub => {
                        self.bump();
                        -1.0
                    }
                    Tok::Add => {
                        self.bump();
                        1.0
                    }
                    _ => 1.0,
                };
                let Tok::Number(n) = *self.peek() else {
                    return Err(self.unexpected(&["NUMBER"]));
                };
                self.bump();
                Ok(LabelFilter::Number {
                    name,
                    op: cmp,
                    value: sign * n,
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
}
