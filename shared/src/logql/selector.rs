//! Label matchers and stream selectors.
//!
//! Matchers are shared by the stream selector, string label filters and
//! `drop`/`keep`, so their regex rules live here once: Loki anchors a label
//! regex at both ends, an absent label matches as the empty string, and every
//! regex is compiled with a size limit so a hostile query cannot exhaust the
//! component's memory.

use super::{Labels, ParseError};
use regex_lite::{Regex, RegexBuilder};

/// The largest compiled regex a query may carry, in bytes (approximate).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles `pattern` with the module's limits.
pub(crate) fn compile_regex(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(100)
        .build()
        .map_err(|e| format!("invalid regexp {pattern:?}: {e}"))
}

/// A stream selector, `{app="a", env!="dev"}`.
#[derive(Debug, Clone)]
pub struct Selector {
    /// All must match (none: every stream).
    pub matchers: Vec<Matcher>,
}

impl Selector {
    /// True if a stream with `labels` is selected: every matcher matches.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matchers
            .iter()
            .all(|m| m.matches(labels.get(&m.name).map(String::as_str)))
    }
}

/// One `name op "value"`.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label tested.
    pub name: String,
    /// How its value is compared.
    pub op: MatchOp,
    /// The value, or the regex as written (unanchored).
    pub value: String,
    /// The anchored regex of `=~` and `!~`.
    re: Option<Regex>,
}

/// `=`, `!=`, `=~`, `!~`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`: equal.
    Eq,
    /// `!=`: not equal.
    Ne,
    /// `=~`: the whole value matches the regex.
    Re,
    /// `!~`: the whole value does not match the regex.
    Nre,
}

impl Matcher {
    /// A matcher; a regex that does not compile is an error at position 0.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Matcher, ParseError> {
        let re = match op {
            MatchOp::Re | MatchOp::Nre => Some(compile_regex(&format!("^(?:{value})$")).map_err(
                |e| ParseError {
                    pos: 0,
                    line: 1,
                    col: 1,
                    message: e,
                },
            )?),
            MatchOp::Eq | MatchOp::Ne => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            re,
        })
    }

    /// True if a label value matches; `None` (absent) matches as `""`.
    pub fn matches(&self, value: Option<&str>) -> bool {
        let v = value.unwrap_or("");
        match (&self.op, &self.re) {
            (MatchOp::Eq, _) => v == self.value,
            (MatchOp::Ne, _) => v != self.value,
            (MatchOp::Re, Some(re)) => re.is_match(v),
            (MatchOp::Nre, Some(re)) => !re.is_match(v),
            // Unreachable: `new` always compiles a regex for these.
            (MatchOp::Re | MatchOp::Nre, None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::logql::labels_of as labels;

    #[test]
    fn ops_and_absent_labels() {
        let eq = Matcher::new("a", MatchOp::Eq, "x").unwrap();
        assert!(eq.matches(Some("x")) && !eq.matches(Some("y")) && !eq.matches(None));
        let ne = Matcher::new("a", MatchOp::Ne, "x").unwrap();
        assert!(ne.matches(None) && !ne.matches(Some("x")));
        let empty = Matcher::new("a", MatchOp::Eq, "").unwrap();
        assert!(empty.matches(None));
    }

    #[test]
    fn regexes_are_anchored() {
        let re = Matcher::new("a", MatchOp::Re, "a.*").unwrap();
        assert!(re.matches(Some("abc")) && !re.matches(Some("xabc")));
        let alt = Matcher::new("a", MatchOp::Re, "x|y").unwrap();
        assert!(alt.matches(Some("y")) && !alt.matches(Some("xy")));
        let nre = Matcher::new("a", MatchOp::Nre, "b+").unwrap();
        assert!(nre.matches(None) && nre.matches(Some("abb")) && !nre.matches(Some("bb")));
    }

    #[test]
    fn bad_and_huge_regexes_are_errors() {
        let e = Matcher::new("a", MatchOp::Re, "(").unwrap_err();
        assert_eq!(e.pos, 0);
        assert!(e.message.contains("invalid regexp"));
        assert!(Matcher::new("a", MatchOp::Re, "(a{1000}){1000}").is_err());
    }

    #[test]
    fn selector_matches_all() {
        let s = Selector {
            matchers: vec![
                Matcher::new("app", MatchOp::Eq, "api").unwrap(),
                Matcher::new("env", MatchOp::Ne, "dev").unwrap(),
            ],
        };
        assert!(s.matches(&labels(&[("app", "api")])));
        assert!(s.matches(&labels(&[("app", "api"), ("env", "prod")])));
        assert!(!s.matches(&labels(&[("app", "api"), ("env", "dev")])));
        assert!(!s.matches(&labels(&[("env", "prod")])));
    }
}
