//! The LogQL parser: tokens to a [`Query`], by recursive descent.
//!
//! Loki's grammar is yacc; a hand-written parser is smaller and gives the
//! same messages (`unexpected X, expecting Y`) with the position of the
//! offending token, which is what a user fixing a query in Grafana needs.
//! Binary operators are parsed by precedence climbing with Loki's table.
//!
//! | module | job |
//! |---|---|
//! | this | the parser's state, selectors, matchers, push labels |
//! | `pipeline` | the stages after a selector |
//! | `metric` | range and vector aggregations, binary operators, functions |

mod metric;
mod pipeline;

use super::lexer::{Tok, lex};
use super::{LogQuery, MatchOp, Matcher, ParseError, Query, Selector};
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

pub(super) struct Parser<'s> {
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

    /// Consumes the identifier `word` if it is next.
    fn eat_word(&mut self, word: &str) -> bool {
        let hit = self.peek().is_word(word);
        if hit {
            self.bump();
        }
        hit
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

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// A log query, or a metric one (skipping opening parentheses to see
    /// which they open).
    fn expr(&mut self) -> Result<Query, ParseError> {
        let mut n = 0;
        while matches!(self.peek_at(n), Tok::LParen) {
            n += 1;
        }
        match self.peek_at(n) {
            Tok::LBrace => Ok(Query::Log(self.log_expr()?)),
            Tok::Ident(_) | Tok::Number(_) | Tok::Add | Tok::Sub => {
                Ok(Query::Metric(self.metric_expr()?))
            }
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
            self.leave();
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

    fn match_op(&self) -> Option<MatchOp> {
        Some(match self.peek() {
            Tok::Eq => MatchOp::Eq,
            Tok::Neq => MatchOp::Ne,
            Tok::Re => MatchOp::Re,
            Tok::Nre => MatchOp::Nre,
            _ => return None,
        })
    }

    /// `name op "value"`, with `op` one of `=`, `!=`, `=~`, `!~`.
    fn matcher(&mut self) -> Result<Matcher, ParseError> {
        let (name, _) = self.ident()?;
        let Some(op) = self.match_op() else {
            return Err(self.unexpected(&["=", "!=", "=~", "!~"]));
        };
        self.bump();
        self.matcher_value(name, op)
    }

    fn matcher_value(&mut self, name: String, op: MatchOp) -> Result<Matcher, ParseError> {
        let (value, _, at) = self.string()?;
        Matcher::new(&name, op, &value).map_err(|e| self.err(at, e.message))
    }
}

#[cfg(test)]
mod tests;
