//! The log pipeline: the stages after a selector, run on one entry at a time.
//!
//! A query may touch millions of entries, so the common path allocates
//! nothing: labels and line are borrowed until a stage really changes them,
//! `|=` uses a prebuilt `memmem` finder, and the engine can ask for the
//! literals every matching line contains to skip whole chunks unread.

use super::parsers::{self, ERROR_LABEL};
use super::selector::compile_regex;
use super::{Labels, Matcher, ParseError};
use memchr::memmem::Finder;
use regex_lite::Regex;
use std::borrow::Cow;

/// A line filter's operator: `|=`, `!=`, `|~`, `!~`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOp {
    Contains,
    NotContains,
    Match,
    NotMatch,
}

/// The stages of a log query, in order.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    pub(crate) stages: Vec<Stage>,
}

#[derive(Debug, Clone)]
pub(crate) enum Stage {
    Line { op: LineOp, m: LineMatch },
    Json,
    Logfmt,
    Label(LabelFilter),
    LineFormat(Vec<TemplatePart>),
    Drop(Vec<NamedMatcher>),
    Keep(Vec<NamedMatcher>),
}

#[derive(Debug, Clone)]
pub(crate) enum LineMatch {
    Literal {
        text: String,
        finder: Box<Finder<'static>>,
    },
    Regex(Regex),
}

/// A comparison of a label filter on numbers, durations or sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    fn apply<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
        }
    }
}

/// `| a="x" and (b > 10 or c < 1s)`.
#[derive(Debug, Clone)]
pub(crate) enum LabelFilter {
    And(Box<LabelFilter>, Box<LabelFilter>),
    Or(Box<LabelFilter>, Box<LabelFilter>),
    Str(Matcher),
    Number { name: String, op: CmpOp, value: f64 },
    Duration { name: String, op: CmpOp, ns: i64 },
    Bytes { name: String, op: CmpOp, bytes: u64 },
}

impl LabelFilter {
    /// A value that is absent or does not convert fails the filter (Loki
    /// would keep the line marked with `__error__`; dropping it is simpler
    /// and what a filter on a missing value should mean).
    pub(crate) fn matches(&self, labels: &Labels) -> bool {
        let get = |name: &str| labels.get(name).map(String::as_str);
        match self {
            LabelFilter::And(a, b) => a.matches(labels) && b.matches(labels),
            LabelFilter::Or(a, b) => a.matches(labels) || b.matches(labels),
            LabelFilter::Str(m) => m.matches(get(&m.name)),
            LabelFilter::Number { name, op, value } => get(name)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .is_some_and(|v| op.apply(v, *value)),
            LabelFilter::Duration { name, op, ns } => get(name)
                .and_then(|v| super::duration::parse_duration(v.trim(), false))
                .is_some_and(|v| op.apply(v, *ns)),
            LabelFilter::Bytes { name, op, bytes } => get(name)
                .and_then(super::duration::parse_bytes)
                .is_some_and(|v| op.apply(v, *bytes)),
        }
    }
}

/// A `drop`/`keep` operand: a name, or a name whose value must match.
#[derive(Debug, Clone)]
pub(crate) struct NamedMatcher {
    pub(crate) name: String,
    pub(crate) matcher: Option<Matcher>,
}

impl NamedMatcher {
    fn hits(&self, name: &str, value: &str) -> bool {
        self.name == name && self.matcher.as_ref().is_none_or(|m| m.matches(Some(value)))
    }
}

/// A piece of a `line_format` template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TemplatePart {
    Text(String),
    Label(String),
}

/// Parses a `line_format` template: text with `{{.name}}` substitutions.
/// Errors carry the byte offset of the offending action in the template.
pub(crate) fn parse_template(t: &str) -> Result<Vec<TemplatePart>, (usize, String)> {
    let mut parts = Vec::new();
    let mut rest = t;
    let mut offset = 0;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(TemplatePart::Text(rest[..open].to_string()));
        }
        let at = offset + open;
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| (at, "line_format: unclosed action \"{{\"".to_string()))?;
        let inner = after[..close].trim();
        match inner.strip_prefix('.') {
            Some(name) if super::valid_label_name(name) => {
                parts.push(TemplatePart::Label(name.to_string()));
            }
            _ => {
                return Err((
                    at,
                    format!(
                        "line_format: unsupported template action \"{{{{{}}}}}\": only {{{{.label}}}} is supported",
                        &after[..close]
                    ),
                ));
            }
        }
        let consumed = open + 2 + close + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    if !rest.is_empty() {
        parts.push(TemplatePart::Text(rest.to_string()));
    }
    Ok(parts)
}

/// A line filter stage; `case_insensitive` turns literals into `(?i)` regexes.
pub(crate) fn line_stage(
    op: LineOp,
    pattern: &str,
    case_insensitive: bool,
) -> Result<Stage, String> {
    let m = match op {
        LineOp::Contains | LineOp::NotContains if !case_insensitive => LineMatch::Literal {
            text: pattern.to_string(),
            finder: Box::new(Finder::new(pattern.as_bytes()).into_owned()),
        },
        LineOp::Contains | LineOp::NotContains => LineMatch::Regex(compile_regex(&format!(
            "(?i){}",
            regex_lite::escape(pattern)
        ))?),
        LineOp::Match | LineOp::NotMatch => {
            let p = if case_insensitive {
                format!("(?i){pattern}")
            } else {
                pattern.to_string()
            };
            LineMatch::Regex(compile_regex(&p)?)
        }
    };
    Ok(Stage::Line { op, m })
}

impl Pipeline {
    /// Builds a pipeline of plain line filters only, from (op, pattern) pairs, for the non-LogQL search API: `contains` / `regex` filters. Case-insensitive makes `|=` compare case-insensitively and regexes `(?i)`.
    pub fn from_filters(
        filters: &[(LineOp, String)],
        case_insensitive: bool,
    ) -> Result<Pipeline, ParseError> {
        let stages = filters
            .iter()
            .map(|(op, p)| {
                line_stage(*op, p, case_insensitive).map_err(|e| ParseError {
                    pos: 0,
                    line: 1,
                    col: 1,
                    message: e,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Pipeline { stages })
    }

    /// Substrings every line that passes must contain, from `|=` filters that come before any stage that changes the line (line_format); the engine uses them to skip whole chunks with a fast `memmem` scan before decoding entries. Empty if none. (When case_insensitive, return none.)
    pub fn required_literals(&self) -> Vec<String> {
        let mut out = Vec::new();
        for st in &self.stages {
            match st {
                Stage::LineFormat(_) => break,
                Stage::Line {
                    op: LineOp::Contains,
                    m: LineMatch::Literal { text, .. },
                } if !text.is_empty() => {
                    out.push(text.clone());
                }
                _ => {}
            }
        }
        out
    }

    /// True if no stage can change labels (no parser, drop, keep): lets the engine group by stream labels without cloning.
    pub fn keeps_labels(&self) -> bool {
        self.stages.iter().all(|s| {
            matches!(
                s,
                Stage::Line { .. } | Stage::Label(_) | Stage::LineFormat(_)
            )
        })
    }

    /// True if the pipeline has no stages.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Runs the stages on one entry. `None`: the entry is filtered out. Otherwise the entry's labels after parsers/drop/keep (borrowed when no stage changed them) and its line (borrowed when no line_format).
    pub fn process<'a>(
        &self,
        labels: &'a Labels,
        line: &'a str,
    ) -> Option<(Cow<'a, Labels>, Cow<'a, str>)> {
        let mut lbs: Cow<'a, Labels> = Cow::Borrowed(labels);
        let mut line: Cow<'a, str> = Cow::Borrowed(line);
        for st in &self.stages {
            match st {
                Stage::Line { op, m } => {
                    let found = match m {
                        LineMatch::Literal { finder, .. } => finder.find(line.as_bytes()).is_some(),
                        LineMatch::Regex(re) => re.is_match(&line),
                    };
                    if found != matches!(op, LineOp::Contains | LineOp::Match) {
                        return None;
                    }
                }
                Stage::Json | Stage::Logfmt => {
                    let (pairs, failed, err) = match st {
                        Stage::Json => {
                            let (p, f) = parsers::json(&line);
                            (p, f, parsers::JSON_ERROR)
                        }
                        _ => {
                            let (p, f) = parsers::logfmt(&line);
                            (p, f, parsers::LOGFMT_ERROR)
                        }
                    };
                    if pairs.is_empty() && !failed {
                        continue;
                    }
                    let map = lbs.to_mut();
                    for (k, v) in pairs {
                        map.insert(parsers::extracted_name(labels, k), v);
                    }
                    if failed {
                        map.insert(ERROR_LABEL.to_string(), err.to_string());
                    }
                }
                Stage::Label(f) => {
                    if !f.matches(&lbs) {
                        return None;
                    }
                }
                Stage::LineFormat(parts) => {
                    let mut out = String::new();
                    for p in parts {
                        match p {
                            TemplatePart::Text(t) => out.push_str(t),
                            TemplatePart::Label(n) => {
                                out.push_str(lbs.get(n).map_or("", String::as_str))
                            }
                        }
                    }
                    line = Cow::Owned(out);
                }
                Stage::Drop(ms) => {
                    let hit = |(k, v): (&String, &String)| ms.iter().any(|m| m.hits(k, v));
                    if lbs.iter().any(hit) {
                        lbs.to_mut().retain(|k, v| !ms.iter().any(|m| m.hits(k, v)));
                    }
                }
                Stage::Keep(ms) => {
                    let kept = |k: &String, v: &String| {
                        k == ERROR_LABEL
                            || k == "__error_details__"
                            || ms.iter().any(|m| m.hits(k, v))
                    };
                    if !lbs.iter().all(|(k, v)| kept(k, v)) {
                        lbs.to_mut().retain(|k, v| kept(k, v));
                    }
                }
            }
        }
        Some((lbs, line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::{Query, parse};

    use crate::logql::labels_of as labels;

    fn pipeline(q: &str) -> Pipeline {
        match parse(q).unwrap() {
            Query::Log(l) => l.pipeline,
            Query::Metric(_) => panic!("not a log query"),
        }
    }

    /// Runs `q`'s pipeline on `line` with stream labels `{app="a"}`.
    fn run(q: &str, line: &str) -> Option<(Labels, String)> {
        let base = labels(&[("app", "a")]);
        pipeline(q)
            .process(&base, line)
            .map(|(l, s)| (l.into_owned(), s.into_owned()))
    }

    fn passes(q: &str, line: &str) -> bool {
        run(q, line).is_some()
    }

    #[test]
    fn line_filters() {
        let q = r#"{app="a"} |= "err" != "timeout" |~ "code=[45]\\d\\d" !~ "(?i)ignore""#;
        assert!(passes(q, "err code=500"));
        assert!(!passes(q, "err timeout code=500"));
        assert!(!passes(q, "err code=200"));
        assert!(!passes(q, "err code=404 IGNORE me"));
        assert!(!passes(q, "warn code=500"));
        assert!(passes(r#"{app="a"} |= """#, "anything"));
    }

    #[test]
    fn nothing_is_copied_without_changes() {
        let base = labels(&[("app", "a")]);
        let p = pipeline(r#"{app="a"} |= "x" | app="a""#);
        let (l, s) = p.process(&base, "x y").unwrap();
        assert!(matches!(l, Cow::Borrowed(_)) && matches!(s, Cow::Borrowed(_)));
        assert!(p.keeps_labels());
        let p = pipeline(r#"{app="a"} | json"#);
        assert!(!p.keeps_labels());
        // A line that yields no labels leaves them borrowed.
        assert!(matches!(
            p.process(&base, "{}").unwrap().0,
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn required_literals_stop_at_line_format() {
        let p = pipeline(
            r#"{app="a"} |= "a" != "b" | json |= "c" |~ "d" | line_format "{{.x}}" |= "e""#,
        );
        assert_eq!(p.required_literals(), ["a", "c"]);
        let p = Pipeline::from_filters(&[(LineOp::Contains, "Err".into())], true).unwrap();
        assert!(p.required_literals().is_empty());
        let p = Pipeline::from_filters(&[(LineOp::Contains, "Err".into())], false).unwrap();
        assert_eq!(p.required_literals(), ["Err"]);
    }

    #[test]
    fn from_filters_case_insensitive() {
        let base = Labels::new();
        let filters = [
            (LineOp::Contains, "ERR.".to_string()),
            (LineOp::NotMatch, "^debug".to_string()),
        ];
        let ci = Pipeline::from_filters(&filters, true).unwrap();
        assert!(ci.process(&base, "an err. here").is_some());
        assert!(ci.process(&base, "an errx here").is_none());
        assert!(ci.process(&base, "DEBUG err.").is_none());
        let cs = Pipeline::from_filters(&filters, false).unwrap();
        assert!(cs.process(&base, "an err. here").is_none());
        assert!(cs.process(&base, "ERR. x").is_some());
        let bad = Pipeline::from_filters(&[(LineOp::Match, "(".to_string())], false);
        assert!(bad.is_err());
    }

    #[test]
    fn json_stage() {
        let (l, line) = run(
            r#"{app="a"} | json"#,
            r#"{"app":"x","lvl":"info","n":{"m":2}}"#,
        )
        .unwrap();
        assert_eq!(line, r#"{"app":"x","lvl":"info","n":{"m":2}}"#);
        assert_eq!(
            l,
            labels(&[
                ("app", "a"),
                ("app_extracted", "x"),
                ("lvl", "info"),
                ("n_m", "2")
            ])
        );
        let (l, _) = run(r#"{app="a"} | json"#, "nope").unwrap();
        assert_eq!(l, labels(&[("__error__", "JSONParserErr"), ("app", "a")]));
        assert!(!passes(r#"{app="a"} | json | __error__="""#, "nope"));
        assert!(passes(
            r#"{app="a"} | json | lvl="info""#,
            r#"{"lvl":"info"}"#
        ));
    }

    #[test]
    fn logfmt_stage() {
        let (l, _) = run(r#"{app="a"} | logfmt"#, r#"app=b msg="hi there" flag"#).unwrap();
        assert_eq!(
            l,
            labels(&[
                ("app", "a"),
                ("app_extracted", "b"),
                ("flag", ""),
                ("msg", "hi there")
            ])
        );
        let (l, _) = run(r#"{app="a"} | logfmt"#, r#"a="x"#).unwrap();
        assert_eq!(l["__error__"], "LogfmtParserErr");
    }

    #[test]
    fn label_filters_numbers_durations_bytes() {
        let q = r#"{app="a"} | logfmt | status >= 400 and dur > 1s or size < 1KB"#;
        assert!(passes(q, "status=500 dur=1.5s size=5000"));
        assert!(!passes(q, "status=500 dur=500ms size=5000"));
        assert!(passes(q, "status=200 dur=5s size=999B"));
        assert!(passes(q, "status=200 dur=5s size=999"));
        assert!(!passes(q, "status=200 dur=5s size=2KiB"));
        // Parentheses change the grouping.
        let q = r#"{app="a"} | logfmt | status >= 400 and (dur > 1s or size < 1KB)"#;
        assert!(!passes(q, "status=200 dur=5s size=10"));
        assert!(passes(q, "status=404 dur=0s size=10"));
        // Comma and juxtaposition are `and`.
        let q = r#"{app="a"} | logfmt | a="1", b="2" c=~"3.*""#;
        assert!(passes(q, "a=1 b=2 c=345"));
        assert!(!passes(q, "a=1 b=2 c=45"));
        // Non-numeric or absent values fail.
        assert!(!passes(r#"{app="a"} | logfmt | n > 1"#, "n=abc"));
        assert!(!passes(r#"{app="a"} | logfmt | n != 1"#, "m=2"));
        assert!(!passes(r#"{app="a"} | logfmt | d > 1s"#, "d=12"));
        assert!(passes(r#"{app="a"} | logfmt | n == 2.5"#, "n=2.5"));
        assert!(passes(r#"{app="a"} | logfmt | n < -1"#, "n=-3"));
        assert!(passes(r#"{app="a"} | logfmt | d <= 1m30s"#, "d=90s"));
        assert!(passes(r#"{app="a"} | logfmt | s = 1MiB"#, "s=1048576"));
        // String filters treat absent labels as "".
        assert!(passes(r#"{app="a"} | nope="""#, "x"));
        assert!(passes(r#"{app="a"} | nope!="x""#, "x"));
    }

    #[test]
    fn line_format() {
        let (l, line) = run(
            r#"{app="a"} | logfmt | line_format "{{.lvl}}: {{ .msg }} ({{.app}}) {{.none}}!""#,
            "lvl=warn msg=hey",
        )
        .unwrap();
        assert_eq!(line, "warn: hey (a) !");
        assert_eq!(l["lvl"], "warn");
        // Filters after line_format see the new line.
        assert!(passes(
            r#"{app="a"} | line_format "x{{.app}}y" |= "xay""#,
            "zzz"
        ));
        assert_eq!(
            parse_template("a {{.b}}}} c").unwrap(),
            [
                TemplatePart::Text("a ".into()),
                TemplatePart::Label("b".into()),
                TemplatePart::Text("}} c".into())
            ]
        );
        assert_eq!(parse_template("ab {{ upper .x }}").unwrap_err().0, 3);
        assert_eq!(parse_template("ab {{.x").unwrap_err().0, 3);
        assert!(parse_template("{{.a.b}}").is_err());
    }

    #[test]
    fn drop_and_keep() {
        let line = "a=1 b=2 c=3";
        let (l, _) = run(r#"{app="a"} | logfmt | drop a, c"#, line).unwrap();
        assert_eq!(l, labels(&[("app", "a"), ("b", "2")]));
        let (l, _) = run(r#"{app="a"} | logfmt | drop b="3", c="3""#, line).unwrap();
        assert_eq!(l, labels(&[("a", "1"), ("app", "a"), ("b", "2")]));
        let (l, _) = run(r#"{app="a"} | logfmt | keep a, b=~"[0-2]""#, line).unwrap();
        assert_eq!(l, labels(&[("a", "1"), ("b", "2")]));
        let (l, _) = run(r#"{app="a"} | json | keep app"#, "bad").unwrap();
        assert_eq!(l, labels(&[("__error__", "JSONParserErr"), ("app", "a")]));
        let (l, _) = run(r#"{app="a"} | json | drop __error__"#, "bad").unwrap();
        assert_eq!(l, labels(&[("app", "a")]));
        let p = pipeline(r#"{app="a"} | drop zzz"#);
        assert!(!p.keeps_labels());
        let base = labels(&[("app", "a")]);
        assert!(matches!(p.process(&base, "x").unwrap().0, Cow::Borrowed(_)));
    }
}
