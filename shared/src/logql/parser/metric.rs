//! Metric expressions: range aggregations (with `unwrap` and `offset`),
//! vector aggregations, `vector()`, `label_replace()`, numbers, and binary
//! operators by precedence climbing over Loki's table (`or` < `and`/`unless`
//! < comparisons < `+ -` < `* / %` < `^`, which is right-associative).

use super::Parser;
use crate::logql::lexer::Tok;
use crate::logql::metric::{
    BinModifier, BinOp, Card, Conv, Grouping, MetricExpr, RangeExpr, RangeFunc, Unwrap, VectorOp,
};
use crate::logql::selector::compile_regex;
use crate::logql::{LogQuery, ParseError, valid_label_name};

/// A log range: the log query, its range and offset, its unwrap.
struct LogRange {
    range: i64,
    offset: i64,
    query: LogQuery,
    unwrap: Option<Unwrap>,
}

impl Parser<'_> {
    pub(super) fn metric_expr(&mut self) -> Result<MetricExpr, ParseError> {
        self.enter()?;
        let e = self.binary(0)?;
        self.leave();
        Ok(e)
    }

    /// The binary operator next, if any.
    fn bin_op(&self) -> Option<BinOp> {
        Some(match self.peek() {
            Tok::Add => BinOp::Add,
            Tok::Sub => BinOp::Sub,
            Tok::Mul => BinOp::Mul,
            Tok::Div => BinOp::Div,
            Tok::Mod => BinOp::Mod,
            Tok::Pow => BinOp::Pow,
            Tok::CmpEq => BinOp::Eq,
            Tok::Neq => BinOp::Ne,
            Tok::Gt => BinOp::Gt,
            Tok::Gte => BinOp::Ge,
            Tok::Lt => BinOp::Lt,
            Tok::Lte => BinOp::Le,
            t if t.is_word("or") => BinOp::Or,
            t if t.is_word("and") => BinOp::And,
            t if t.is_word("unless") => BinOp::Unless,
            _ => return None,
        })
    }

    fn binary(&mut self, min: u8) -> Result<MetricExpr, ParseError> {
        let mut lhs = self.operand()?;
        while let Some(op) = self.bin_op() {
            let prec = op.precedence();
            if prec < min {
                break;
            }
            let at = self.pos();
            self.bump();
            let modifier = self.bin_modifier()?;
            let next = if op == BinOp::Pow { prec } else { prec + 1 };
            self.enter()?;
            let rhs = self.binary(next)?;
            self.leave();
            lhs = self.combine(op, lhs, rhs, modifier, at)?;
        }
        Ok(lhs)
    }

    /// Loki's checks of a binary operation; two numbers fold into one.
    fn combine(
        &self,
        op: BinOp,
        lhs: MetricExpr,
        rhs: MetricExpr,
        modifier: BinModifier,
        at: usize,
    ) -> Result<MetricExpr, ParseError> {
        let name = format!("{op:?}").to_lowercase();
        if op.is_set() && (lhs.is_scalar() || rhs.is_scalar()) {
            let leg = if lhs.is_scalar() { "left" } else { "right" };
            return Err(self.err(
                at,
                format!(
                    "unexpected literal for {leg} leg of logical/set binary operation ({name})"
                ),
            ));
        }
        if let (MetricExpr::Scalar(a), MetricExpr::Scalar(b)) = (&lhs, &rhs) {
            return Ok(MetricExpr::Scalar(op.apply(*a, *b)));
        }
        Ok(MetricExpr::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
            modifier,
        })
    }

    /// `bool`, `on(...)`/`ignoring(...)`, `group_left(...)`/`group_right(...)`.
    fn bin_modifier(&mut self) -> Result<BinModifier, ParseError> {
        let mut m = BinModifier {
            return_bool: self.eat_word("bool"),
            ..BinModifier::default()
        };
        for (word, on) in [("on", true), ("ignoring", false)] {
            if self.eat_word(word) {
                m.on = Some((on, self.label_list()?));
            }
        }
        for (word, card) in [
            ("group_left", Card::ManyToOne),
            ("group_right", Card::OneToMany),
        ] {
            if self.eat_word(word) {
                m.card = card;
                if matches!(self.peek(), Tok::LParen) {
                    m.include = self.label_list()?;
                }
            }
        }
        Ok(m)
    }

    /// `(a, b)`, possibly empty.
    fn label_list(&mut self) -> Result<Vec<String>, ParseError> {
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
        Ok(labels)
    }

    /// A number, a parenthesised expression, or a function.
    fn operand(&mut self) -> Result<MetricExpr, ParseError> {
        match self.peek().clone() {
            Tok::Number(n) => {
                self.bump();
                Ok(MetricExpr::Scalar(n))
            }
            Tok::Add | Tok::Sub if matches!(self.peek_at(1), Tok::Number(_)) => {
                let neg = matches!(self.peek(), Tok::Sub);
                self.bump();
                let Tok::Number(n) = *self.peek() else {
                    return Err(self.unexpected(&["NUMBER"]));
                };
                self.bump();
                Ok(MetricExpr::Scalar(if neg { -n } else { n }))
            }
            Tok::LParen => {
                self.bump();
                let e = self.metric_expr()?;
                self.expect(&Tok::RParen, &[")"])?;
                Ok(e)
            }
            Tok::Ident(name) => self.function(&name),
            _ => Err(self.unexpected(&["(", "IDENTIFIER", "NUMBER"])),
        }
    }

    fn function(&mut self, name: &str) -> Result<MetricExpr, ParseError> {
        let at = self.pos();
        if let Some(func) = RangeFunc::of(name) {
            self.bump();
            return self.range_aggregation(func, name, at);
        }
        if let Some(op) = VectorOp::of(name) {
            self.bump();
            return self.vector_aggregation(op, name);
        }
        match name {
            "vector" => {
                self.bump();
                self.expect(&Tok::LParen, &["("])?;
                let Tok::Number(n) = *self.peek() else {
                    return Err(self.unexpected(&["NUMBER"]));
                };
                self.bump();
                self.expect(&Tok::RParen, &[")"])?;
                Ok(MetricExpr::VectorOf(n))
            }
            "label_replace" => {
                self.bump();
                self.label_replace()
            }
            "approx_topk" => Err(self.err(at, "approx_topk is only supported by Loki's query frontend with probabilistic sharding; use topk")),
            _ => Err(self.unexpected(&["(", "{"])),
        }
    }

    fn range_aggregation(
        &mut self,
        func: RangeFunc,
        name: &str,
        at: usize,
    ) -> Result<MetricExpr, ParseError> {
        self.expect(&Tok::LParen, &["("])?;
        let param = match (self.peek().clone(), self.peek_at(1)) {
            (Tok::Number(n), Tok::Comma) => {
                if func != RangeFunc::QuantileOverTime {
                    return Err(self.err(
                        self.pos(),
                        format!("parameter {n} not supported for operation {name}"),
                    ));
                }
                self.bump();
                self.bump();
                Some(n)
            }
            _ if func == RangeFunc::QuantileOverTime => {
                return Err(self.err(
                    self.pos(),
                    format!("parameter required for operation {name}"),
                ));
            }
            _ => None,
        };
        let r = self.log_range()?;
        self.expect(&Tok::RParen, &[")"])?;
        let grouping = self.grouping()?;
        func.validate(name, r.unwrap.is_some(), grouping.is_some())
            .map_err(|e| self.err(at, e))?;
        Ok(MetricExpr::Range(Box::new(RangeExpr {
            func,
            range_ns: r.range,
            offset_ns: r.offset,
            query: r.query,
            unwrap: r.unwrap,
            grouping,
            param,
        })))
    }

    fn vector_aggregation(&mut self, op: VectorOp, name: &str) -> Result<MetricExpr, ParseError> {
        let mut grouping = self.grouping()?;
        self.expect(&Tok::LParen, &["("])?;
        let op = match op {
            VectorOp::Topk(_) | VectorOp::Bottomk(_) => {
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
                match op {
                    VectorOp::Topk(_) => VectorOp::Topk(n as usize),
                    _ => VectorOp::Bottomk(n as usize),
                }
            }
            other => {
                if let (Tok::Number(n), Tok::Comma) = (self.peek(), self.peek_at(1)) {
                    return Err(self.err(
                        self.pos(),
                        format!("unsupported parameter for operation {name}({n},"),
                    ));
                }
                other
            }
        };
        let inner = self.metric_expr()?;
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

    /// `label_replace(expr, "dst", "replacement", "src", "regex")`.
    fn label_replace(&mut self) -> Result<MetricExpr, ParseError> {
        self.expect(&Tok::LParen, &["("])?;
        let inner = self.metric_expr()?;
        let mut args = Vec::new();
        for _ in 0..4 {
            self.expect(&Tok::Comma, &[","])?;
            args.push(self.string()?);
        }
        self.expect(&Tok::RParen, &[")"])?;
        let (dst, replacement, src, (re, _, rat)) = (
            args[0].clone(),
            args[1].0.clone(),
            args[2].0.clone(),
            args[3].clone(),
        );
        if !valid_label_name(&dst.0) {
            return Err(self.err(
                dst.2,
                format!(
                    "invalid destination label name in label_replace(): {}",
                    dst.0
                ),
            ));
        }
        let regex = compile_regex(&format!("^(?:{re})$")).map_err(|e| {
            self.err(
                rat,
                format!("invalid regular expression in label_replace(): {e}"),
            )
        })?;
        Ok(MetricExpr::LabelReplace {
            inner: Box::new(inner),
            dst: dst.0,
            replacement,
            src,
            regex,
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
        Ok(Some(Grouping {
            without,
            labels: self.label_list()?,
        }))
    }

    /// A log query with a range, in any of Loki's spellings: `{..} | p
    /// [| unwrap x] [5m] [offset 1m]`, `{..}[5m] [offset 1m] | p`, `({..} |
    /// p)[5m]`, or any of those in parentheses.
    fn log_range(&mut self) -> Result<LogRange, ParseError> {
        if matches!(self.peek(), Tok::LParen) {
            self.enter()?;
            self.bump();
            let r = if matches!(self.peek(), Tok::LBrace) {
                let selector = self.selector()?;
                let pipeline = self.pipeline()?;
                let unwrap = self.unwrap()?;
                if let Tok::Range(_) = self.peek() {
                    let r = self.after_selector(LogQuery { selector, pipeline }, unwrap)?;
                    self.expect(&Tok::RParen, &[")"])?;
                    r
                } else {
                    self.expect(&Tok::RParen, &[")", "RANGE"])?;
                    let (range, offset) = (self.range()?, self.offset()?);
                    LogRange {
                        range,
                        offset,
                        query: LogQuery { selector, pipeline },
                        unwrap,
                    }
                }
            } else {
                let r = self.log_range()?;
                self.expect(&Tok::RParen, &[")"])?;
                r
            };
            self.leave();
            return Ok(r);
        }
        let selector = self.selector()?;
        let pipeline = self.pipeline()?;
        let unwrap = self.unwrap()?;
        self.after_selector(LogQuery { selector, pipeline }, unwrap)
    }

    /// The range, offset, and the pipeline and unwrap that may follow them
    /// when none came before.
    fn after_selector(
        &mut self,
        mut query: LogQuery,
        mut unwrap: Option<Unwrap>,
    ) -> Result<LogRange, ParseError> {
        let range = self.range()?;
        let offset = self.offset()?;
        if query.pipeline.is_empty() && unwrap.is_none() {
            query.pipeline = self.pipeline()?;
        }
        if unwrap.is_none() {
            unwrap = self.unwrap()?;
        }
        Ok(LogRange {
            range,
            offset,
            query,
            unwrap,
        })
    }

    /// `| unwrap [bytes|duration|duration_seconds(]label[)] [| filters]`.
    fn unwrap(&mut self) -> Result<Option<Unwrap>, ParseError> {
        if !(matches!(self.peek(), Tok::Pipe) && self.peek_at(1).is_word("unwrap")) {
            return Ok(None);
        }
        self.bump();
        self.bump();
        let conv = match self.peek() {
            Tok::Ident(w) if matches!(self.peek_at(1), Tok::LParen) => match w.as_str() {
                "bytes" => Some(Conv::Bytes),
                "duration" | "duration_seconds" => Some(Conv::Duration),
                _ => return Err(self.err(
                    self.pos(),
                    format!(
                        "unsupported conversion {w}: expecting bytes, duration or duration_seconds"
                    ),
                )),
            },
            _ => None,
        };
        let label = match conv {
            Some(_) => {
                self.bump();
                self.bump();
                let (l, _) = self.ident()?;
                self.expect(&Tok::RParen, &[")"])?;
                l
            }
            None => self.ident()?.0,
        };
        let mut post = Vec::new();
        while matches!(self.peek(), Tok::Pipe)
            && matches!(self.peek_at(1), Tok::Ident(_) | Tok::LParen)
        {
            self.bump();
            post.push(self.label_filter()?);
        }
        Ok(Some(Unwrap {
            label,
            conv: conv.unwrap_or(Conv::Float),
            post,
        }))
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

    /// `offset 5m`, if present.
    fn offset(&mut self) -> Result<i64, ParseError> {
        if !self.eat_word("offset") {
            return Ok(0);
        }
        match *self.peek() {
            Tok::Duration(d) => {
                self.bump();
                Ok(d)
            }
            _ => Err(self.unexpected(&["DURATION"])),
        }
    }
}
