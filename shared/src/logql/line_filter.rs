//! Line filters: `|= "a"`, `!= "a"`, `|~ "re"`, `!~ "re"`, `|> "<_> pat"`,
//! `!> "pat"`, `|= ip("10.0.0.0/8")`, and alternatives joined by `or`
//! (`|= "a" or "b"`: either; `!= "a" or "b"`: neither).

use super::ip::IpMatch;
use super::pattern::Pattern;
use super::selector::compile_regex;
use memchr::memmem::Finder;
use regex_lite::Regex;

/// A line filter's operator: `|=`, `!=`, `|~`, `!~`, `|>`, `!>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOp {
    /// `|=`: keeps lines holding the text (or an `ip()` match).
    Contains,
    /// `!=`: drops lines holding it.
    NotContains,
    /// `|~`: keeps lines the regex matches anywhere (unanchored).
    Match,
    /// `!~`: drops lines the regex matches.
    NotMatch,
    /// `|>`: keeps lines the pattern (`<_> error <_>`) matches.
    Pattern,
    /// `!>`: drops lines the pattern matches.
    NotPattern,
}

impl LineOp {
    /// Whether the line must not match.
    pub(crate) fn negated(self) -> bool {
        matches!(
            self,
            LineOp::NotContains | LineOp::NotMatch | LineOp::NotPattern
        )
    }
}

/// What one alternative looks for in a line.
#[derive(Debug, Clone)]
pub(crate) enum LineMatch {
    Literal {
        text: String,
        finder: Box<Finder<'static>>,
    },
    Regex(Regex),
    Pattern(Pattern),
    Ip(IpMatch),
}

impl LineMatch {
    /// The alternative `op` takes for `arg`; `case_insensitive` turns a
    /// literal into a `(?i)` regex.
    pub(crate) fn new(op: LineOp, arg: &str, case_insensitive: bool) -> Result<LineMatch, String> {
        Ok(match op {
            LineOp::Contains | LineOp::NotContains if !case_insensitive => LineMatch::Literal {
                text: arg.to_owned(),
                finder: Box::new(Finder::new(arg.as_bytes()).into_owned()),
            },
            LineOp::Contains | LineOp::NotContains => {
                LineMatch::Regex(compile_regex(&format!("(?i){}", regex_lite::escape(arg)))?)
            }
            LineOp::Match | LineOp::NotMatch => {
                let p = if case_insensitive {
                    format!("(?i){arg}")
                } else {
                    arg.to_owned()
                };
                LineMatch::Regex(compile_regex(&p)?)
            }
            LineOp::Pattern | LineOp::NotPattern => LineMatch::Pattern(Pattern::parse(arg, false)?),
        })
    }

    fn found(&self, line: &str) -> bool {
        match self {
            LineMatch::Literal { finder, .. } => finder.find(line.as_bytes()).is_some(),
            LineMatch::Regex(re) => re.is_match(line),
            LineMatch::Pattern(p) => p.test(line),
            LineMatch::Ip(ip) => ip.in_text(line),
        }
    }
}

/// One filter: alternatives, any of which matches, and whether that keeps
/// or drops the line.
#[derive(Debug, Clone)]
pub(crate) struct LineFilter {
    pub op: LineOp,
    pub alts: Vec<LineMatch>,
}

impl LineFilter {
    /// Whether `line` passes.
    pub(crate) fn passes(&self, line: &str) -> bool {
        self.alts.iter().any(|m| m.found(line)) != self.op.negated()
    }

    /// The substrings every passing line holds: a single `|=` literal, or
    /// the literals of a single `|>` pattern.
    pub(crate) fn required(&self) -> Vec<String> {
        match (self.op, self.alts.as_slice()) {
            (LineOp::Contains, [LineMatch::Literal { text, .. }]) if !text.is_empty() => {
                vec![text.clone()]
            }
            (LineOp::Pattern, [LineMatch::Pattern(p)]) => p
                .literals()
                .into_iter()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        }
    }
}
