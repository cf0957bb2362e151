//! The log pipeline: the stages after a selector, run on one entry at a time.
//!
//! A query may touch millions of entries, so the common path allocates
//! nothing: labels and line are borrowed until a stage really changes them,
//! `|=` uses a prebuilt `memmem` finder, and the engine can ask for the
//! literals every matching line contains to skip whole chunks unread.
//!
//! An entry's labels are its stream's and its structured metadata (what
//! Loki's label filters, templates and groupings see); the parsers add
//! theirs, suffixed `_extracted` where they collide with those.

use super::label_filter::LabelFilter;
use super::line_filter::{LineFilter, LineMatch, LineOp};
use super::parsers::{self, ERROR_LABEL, JSON_ERROR, LOGFMT_ERROR};
use super::pattern::Pattern;
use super::template::{Entry, Template};
use super::{Labels, Matcher, ParseError};
use regex_lite::Regex;
use std::borrow::Cow;

/// The stages of a log query, in order.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    pub(crate) stages: Vec<Stage>,
}

#[derive(Debug, Clone)]
pub(crate) enum Stage {
    Line(LineFilter),
    /// `| json`, or `| json a="b.c", d` (label and path).
    Json(Option<Vec<(String, Vec<super::jsonpath::Step>)>>),
    /// `| logfmt [--strict] [--keep-empty] [a="b", c]` (label and key).
    Logfmt {
        strict: bool,
        keep_empty: bool,
        only: Option<Vec<(String, String)>>,
    },
    /// `| regexp "(?P<name>...)"`, with the capture names by group index.
    Regexp(Regex, Vec<Option<String>>),
    Pattern(Pattern),
    Unpack,
    Label(LabelFilter),
    LineFormat(Template),
    LabelFormat(Vec<LabelFmt>),
    Decolorize,
    Drop(Vec<NamedMatcher>),
    Keep(Vec<NamedMatcher>),
}

/// One `dst=src` (a rename) or `dst="{{template}}"` of a `label_format`.
#[derive(Debug, Clone)]
pub(crate) struct LabelFmt {
    pub dst: String,
    pub src: FmtSource,
}

#[derive(Debug, Clone)]
pub(crate) enum FmtSource {
    Rename(String),
    Template(Template),
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

const TEMPLATE_ERROR: &str = "TemplateFormatErr";

/// A line filter stage of plain filters; `case_insensitive` turns literals
/// into `(?i)` regexes.
pub(crate) fn line_stage(
    op: LineOp,
    pattern: &str,
    case_insensitive: bool,
) -> Result<Stage, String> {
    Ok(Stage::Line(LineFilter {
        op,
        alts: vec![LineMatch::new(op, pattern, case_insensitive)?],
    }))
}

/// One entry going through the stages.
struct Run<'l, 's> {
    /// The labels the entry started with: stream labels and metadata.
    base: &'l Labels,
    labels: Cow<'l, Labels>,
    line: Cow<'s, str>,
    ts: i64,
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

    /// Substrings every line that passes must contain, from `|=` filters (and `|>` patterns' literals) that come before any stage that changes the line; the engine uses them to skip whole chunks with a fast `memmem` scan before decoding entries. Empty if none.
    pub fn required_literals(&self) -> Vec<String> {
        let mut out = Vec::new();
        for st in &self.stages {
            match st {
                Stage::LineFormat(_) | Stage::Decolorize | Stage::Unpack => break,
                Stage::Line(f) => out.extend(f.required()),
                _ => {}
            }
        }
        out
    }

    /// True if no stage can change labels (no parser, format, drop, keep, or filter that may mark an error): lets the engine group by stream labels without cloning.
    pub fn keeps_labels(&self) -> bool {
        self.stages.iter().all(|s| match s {
            Stage::Label(f) => !f.may_mark(),
            _ => matches!(s, Stage::Line(_) | Stage::Decolorize),
        })
    }

    /// True if the pipeline has no stages.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Runs the stages on one entry with no metadata and no time. `None`: the entry is filtered out. Otherwise the entry's labels after the stages (borrowed when no stage changed them) and its line (borrowed when no stage rewrote it).
    pub fn process<'a>(
        &self,
        labels: &'a Labels,
        line: &'a str,
    ) -> Option<(Cow<'a, Labels>, Cow<'a, str>)> {
        self.run(labels, line, 0)
    }

    /// Runs the stages on one entry: its stream's labels, its structured
    /// metadata (labels of the entry, which filters and templates see as
    /// Loki's do; a stream label wins a clash), its time (ns) and line.
    pub fn process_entry<'a>(
        &self,
        labels: &'a Labels,
        metadata: &[(String, String)],
        ts: u64,
        line: &'a str,
    ) -> Option<(Cow<'a, Labels>, Cow<'a, str>)> {
        if metadata.is_empty() {
            return self.run(labels, line, ts as i64);
        }
        let mut merged = labels.clone();
        for (k, v) in metadata {
            merged.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let (l, s) = self.run(&merged, line, ts as i64)?;
        Some((Cow::Owned(l.into_owned()), s))
    }

    fn run<'l, 's>(
        &self,
        labels: &'l Labels,
        line: &'s str,
        ts: i64,
    ) -> Option<(Cow<'l, Labels>, Cow<'s, str>)> {
        let mut r = Run {
            base: labels,
            labels: Cow::Borrowed(labels),
            line: Cow::Borrowed(line),
            ts,
        };
        for st in &self.stages {
            if !r.stage(st) {
                return None;
            }
        }
        Some((r.labels, r.line))
    }
}

impl Run<'_, '_> {
    /// Applies one stage; false drops the entry.
    fn stage(&mut self, st: &Stage) -> bool {
        match st {
            Stage::Line(f) => return f.passes(&self.line),
            Stage::Label(f) => return f.apply(&mut self.labels),
            Stage::Json(None) => {
                let (pairs, failed) = parsers::json(&self.line, self.base);
                self.extracted(pairs, failed.then_some(JSON_ERROR));
            }
            Stage::Json(Some(exprs)) => self.json_exprs(exprs),
            Stage::Logfmt {
                strict,
                keep_empty,
                only: None,
            } => {
                let (pairs, failed) = parsers::logfmt(&self.line, *strict, *keep_empty);
                let pairs = pairs
                    .into_iter()
                    .map(|(k, v)| (parsers::extracted_name(self.base, k), v))
                    .collect();
                self.extracted(pairs, failed.then_some(LOGFMT_ERROR));
            }
            Stage::Logfmt {
                strict,
                only: Some(keys),
                ..
            } => self.logfmt_exprs(keys, *strict),
            Stage::Regexp(re, names) => self.regexp(re, names),
            Stage::Pattern(p) => {
                let pairs: Vec<(String, String)> = p
                    .matches(&self.line)
                    .into_iter()
                    .map(|(n, v)| {
                        (
                            parsers::extracted_name(self.base, n.to_owned()),
                            v.to_owned(),
                        )
                    })
                    .collect();
                self.extracted(pairs, None);
            }
            Stage::Unpack => self.unpack(),
            Stage::LineFormat(t) => self.line_format(t),
            Stage::LabelFormat(fmts) => self.label_format(fmts),
            Stage::Decolorize => {
                if self.line.contains(['\u{1b}', '\u{9b}']) {
                    self.line = Cow::Owned(decolorize(&self.line));
                }
            }
            Stage::Drop(ms) => {
                let hit = |(k, v): (&String, &String)| ms.iter().any(|m| m.hits(k, v));
                if self.labels.iter().any(hit) {
                    self.labels
                        .to_mut()
                        .retain(|k, v| !ms.iter().any(|m| m.hits(k, v)));
                }
            }
            Stage::Keep(ms) => {
                let kept = |k: &String, v: &String| {
                    k == ERROR_LABEL
                        || k == parsers::ERROR_DETAILS
                        || ms.iter().any(|m| m.hits(k, v))
                };
                if !self.labels.iter().all(|(k, v)| kept(k, v)) {
                    self.labels.to_mut().retain(|k, v| kept(k, v));
                }
            }
        }
        true
    }

    /// Adds extracted pairs (names final), and the error a parser met.
    fn extracted(&mut self, pairs: Vec<(String, String)>, error: Option<&str>) {
        if pairs.is_empty() && error.is_none() {
            return;
        }
        let map = self.labels.to_mut();
        for (k, v) in pairs {
            map.insert(k, v);
        }
        if let Some(e) = error {
            set_error(map, e);
        }
    }

    fn json_exprs(&mut self, exprs: &[(String, Vec<super::jsonpath::Step>)]) {
        let doc = match serde_json::from_str::<serde_json::Value>(&self.line) {
            Ok(d @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) => Some(d),
            _ => None,
        };
        let pairs = exprs
            .iter()
            .map(|(name, path)| {
                let v = doc.as_ref().and_then(|d| super::jsonpath::get(d, path));
                (
                    parsers::extracted_name(self.base, name.clone()),
                    v.unwrap_or_default(),
                )
            })
            .collect();
        self.extracted(pairs, doc.is_none().then_some(JSON_ERROR));
    }

    fn logfmt_exprs(&mut self, keys: &[(String, String)], strict: bool) {
        let mut found: Vec<Option<String>> = vec![None; keys.len()];
        let mut failed = false;
        for pair in parsers::Logfmt::new(&self.line) {
            match pair {
                parsers::Pair::Bad if strict => {
                    failed = true;
                    break;
                }
                parsers::Pair::Bad => {}
                parsers::Pair::Kv(k, v) => {
                    let k = parsers::sanitize(k, true);
                    for (i, (_, key)) in keys.iter().enumerate() {
                        if *key == k {
                            found[i] = Some(v.to_string());
                        }
                    }
                }
            }
        }
        let pairs = keys
            .iter()
            .zip(found)
            .map(|((name, _), v)| {
                (
                    parsers::extracted_name(self.base, name.clone()),
                    v.unwrap_or_default(),
                )
            })
            .collect();
        self.extracted(pairs, failed.then_some(LOGFMT_ERROR));
    }

    fn regexp(&mut self, re: &Regex, names: &[Option<String>]) {
        let Some(caps) = re.captures(&self.line) else {
            return;
        };
        let pairs: Vec<(String, String)> = names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                let n = n.as_ref()?;
                let v = caps.get(i).map_or("", |m| m.as_str());
                Some((parsers::extracted_name(self.base, n.clone()), v.to_owned()))
            })
            .collect();
        self.extracted(pairs, None);
    }

    fn unpack(&mut self) {
        match parsers::unpack(&self.line) {
            None => self.extracted(Vec::new(), Some(JSON_ERROR)),
            Some((pairs, entry)) => {
                let pairs = pairs
                    .into_iter()
                    .map(|(k, v)| (parsers::extracted_name(self.base, k), v))
                    .collect();
                self.extracted(pairs, None);
                if let Some(e) = entry {
                    self.line = Cow::Owned(e);
                }
            }
        }
    }

    fn entry(&self) -> Entry<'_> {
        Entry {
            labels: &self.labels,
            line: &self.line,
            ts: self.ts,
        }
    }

    fn line_format(&mut self, t: &Template) {
        match t.render(&self.entry()) {
            Ok(line) => self.line = Cow::Owned(line),
            Err(_) => set_error(self.labels.to_mut(), TEMPLATE_ERROR),
        }
    }

    /// Renames first-come, templates over the labels as they stood when the
    /// first template ran (Loki's order within one `label_format`).
    fn label_format(&mut self, fmts: &[LabelFmt]) {
        let mut snapshot: Option<Labels> = None;
        for f in fmts {
            match &f.src {
                FmtSource::Rename(src) => {
                    if let Some(v) = self.labels.get(src).cloned() {
                        let map = self.labels.to_mut();
                        map.remove(src);
                        map.insert(f.dst.clone(), v);
                    }
                }
                FmtSource::Template(t) => {
                    let seen = snapshot.get_or_insert_with(|| self.labels.clone().into_owned());
                    let entry = Entry {
                        labels: seen,
                        line: &self.line,
                        ts: self.ts,
                    };
                    match t.render(&entry) {
                        Ok(v) => {
                            self.labels.to_mut().insert(f.dst.clone(), v);
                        }
                        Err(_) => set_error(self.labels.to_mut(), TEMPLATE_ERROR),
                    }
                }
            }
        }
    }
}

fn set_error(map: &mut Labels, error: &str) {
    map.entry(ERROR_LABEL.to_owned())
        .or_insert_with(|| error.to_owned());
}

/// The line without ANSI escape sequences: Loki's `decolorize`, with its
/// pattern (from `acarl005/stripansi`).
fn decolorize(line: &str) -> String {
    static ANSI: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    let re = ANSI.get_or_init(|| {
        Regex::new(
            "[\u{1b}\u{9b}][\\[\\]()#;?]*(?:(?:(?:[a-zA-Z\\d]*(?:;[a-zA-Z\\d]*)*)?\u{7})|(?:(?:\\d{1,4}(?:;\\d{0,4})*)?[\\dA-PRZcf-ntqry=><~]))",
        )
        .ok()
    });
    match re {
        Some(re) => re.replace_all(line, "").into_owned(),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests;
