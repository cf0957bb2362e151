//! What `GET /k8s/v1/` and `POST /k8s/v1/search` ask, from a query string
//! or a JSON body: labels, line filters, levels, a time range and paging.

use super::params::{body_duration, body_time, duration_param, eq, logql_problem};
use super::params::{number_param, time_param};
use crate::logql::{self, Matcher};
use crate::read::search::{self, Direction};
use crate::util::ids::digest;
use crate::web::problem::Problem;
use crate::web::query::Query as Params;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Most context lines around one hit.
const MAX_CONTEXT: usize = 100;

/// The labels `GET /k8s/v1/` and `POST /search` take as parameters of their
/// own: the canonical ones, and a DC/OS task file's.
pub(super) const FILTER_LABELS: [&str; 9] = [
    "cluster",
    "namespace",
    "pod",
    "container",
    "node",
    "app",
    "stream",
    "task",
    "file",
];

/// What `GET /k8s/v1/` and `POST /search` both ask.
pub(super) struct Filters {
    pub selector: Vec<Matcher>,
    /// The label filters as given, for the cursor's fingerprint.
    pub selector_text: String,
    pub contains: Vec<String>,
    pub regex: Vec<String>,
    pub case_insensitive: bool,
    pub levels: Vec<String>,
    pub start: Option<u64>,
    pub end: Option<u64>,
    pub since: Option<u64>,
    pub limit: Option<u64>,
    pub direction: Option<String>,
    pub cursor: Option<String>,
    pub budget_ms: Option<u64>,
    pub context: (usize, usize),
}

/// `labels`: a LogQL selector (`{app="web"}`) or `a=b,c=d`.
fn label_matchers(text: &str) -> Result<Vec<Matcher>, Problem> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(Vec::new());
    }
    if t.starts_with('{') {
        return logql::parse_selector_any(t)
            .map(|s| s.matchers)
            .map_err(|e| logql_problem(e).with("parameter", "labels"));
    }
    t.split(',')
        .map(|pair| {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                Problem::bad_param("labels", format!("{pair:?} is not name=value"))
            })?;
            label_eq(k.trim(), v.trim())
        })
        .collect()
}

/// `name="value"` for a label named by the caller, whose name is checked.
fn label_eq(name: &str, value: &str) -> Result<Matcher, Problem> {
    if !logql::valid_label_name(name) {
        return Err(Problem::bad_param(
            "labels",
            format!("{name:?} is not a label name"),
        ));
    }
    eq(name, value)
}

/// `level`: detected levels, comma-separated; a word that is none is refused.
fn levels(text: &str) -> Result<Vec<String>, Problem> {
    text.split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match search::normalize_level(l) {
            "unknown" if l != "unknown" => Err(Problem::bad_param(
                "level",
                format!("level {l:?} is one of trace, debug, info, warn, error, critical, unknown"),
            )),
            known => Ok(known.to_owned()),
        })
        .collect()
}

/// Every value of a repeatable parameter, the empty ones left out.
fn all_given(p: &Params, name: &str) -> Vec<String> {
    p.all(name)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Filters {
    /// `GET /k8s/v1/`'s query string.
    pub fn from_query(p: &Params) -> Result<Filters, Problem> {
        Ok(Filters {
            selector: query_selector(p)?,
            selector_text: p
                .pairs()
                .filter(|(k, _)| FILTER_LABELS.contains(k) || *k == "labels")
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&"),
            contains: all_given(p, "contains"),
            regex: all_given(p, "regex"),
            case_insensitive: matches!(p.get("case_insensitive"), Some("true" | "1")),
            levels: p.get("level").map(levels).transpose()?.unwrap_or_default(),
            start: time_param(p, "start")?,
            end: time_param(p, "end")?,
            since: duration_param(p, "since")?,
            limit: number_param(p, "limit")?,
            direction: p.get("direction").map(str::to_owned),
            cursor: p.get("cursor").filter(|c| !c.is_empty()).map(str::to_owned),
            budget_ms: number_param(p, "budget_ms")?,
            context: (0, 0),
        })
    }

    /// What a cursor must match: everything but the time range and paging.
    pub fn fingerprint(&self, dir: Direction) -> String {
        digest(
            format!(
                "{}|{:?}|{:?}|{}|{:?}|{:?}|{:?}",
                self.selector_text,
                self.contains,
                self.regex,
                self.case_insensitive,
                self.levels,
                dir,
                self.context
            )
            .as_bytes(),
        )
    }
}

/// The label filters of a query string: the [`FILTER_LABELS`], then `labels`.
fn query_selector(p: &Params) -> Result<Vec<Matcher>, Problem> {
    let mut selector = Vec::new();
    for name in FILTER_LABELS {
        if let Some(v) = p.get(name).filter(|v| !v.is_empty()) {
            selector.push(eq(name, v)?);
        }
    }
    if let Some(l) = p.get("labels") {
        selector.extend(label_matchers(l)?);
    }
    Ok(selector)
}

/// One value or a list, as a search body may give either.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum LabelsBody {
    #[default]
    None,
    Selector(String),
    Map(BTreeMap<String, String>),
}

/// `POST /k8s/v1/search`'s body.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SearchBody {
    cluster: Option<String>,
    namespace: Option<String>,
    pod: Option<String>,
    container: Option<String>,
    node: Option<String>,
    app: Option<String>,
    stream: Option<String>,
    task: Option<String>,
    file: Option<String>,
    labels: LabelsBody,
    /// Every one must appear in the line.
    contains: OneOrMany,
    /// Every one must match the line.
    regex: OneOrMany,
    /// Several patterns, each a substring, all required (`contains` too).
    patterns: OneOrMany,
    case_insensitive: bool,
    context_before: usize,
    context_after: usize,
    level: OneOrMany,
    start: Option<Value>,
    end: Option<Value>,
    since: Option<String>,
    limit: Option<u64>,
    direction: Option<String>,
    cursor: Option<String>,
    budget_ms: Option<u64>,
}

impl SearchBody {
    pub(super) fn into_filters(self) -> Result<Filters, Problem> {
        let (selector, selector_text) = self.selector()?;
        let mut contains = self.contains.into_vec();
        contains.extend(self.patterns.into_vec());
        contains.retain(|c| !c.is_empty());
        Ok(Filters {
            selector,
            selector_text,
            contains,
            regex: self.regex.into_vec(),
            case_insensitive: self.case_insensitive,
            levels: levels(&self.level.into_vec().join(","))?,
            start: body_time("start", &self.start)?,
            end: body_time("end", &self.end)?,
            since: body_duration("since", self.since.as_deref())?,
            context: context(self.context_before, self.context_after)?,
            limit: self.limit,
            direction: self.direction,
            cursor: self.cursor,
            budget_ms: self.budget_ms,
        })
    }

    /// The label filters, and their text for the fingerprint: the named
    /// labels, then `labels` (a selector or a map).
    fn selector(&self) -> Result<(Vec<Matcher>, String), Problem> {
        let mut matchers = Vec::new();
        let mut text = Vec::new();
        for (name, v) in self.named_labels() {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                matchers.push(eq(name, v)?);
                text.push(format!("{name}={v}"));
            }
        }
        match &self.labels {
            LabelsBody::None => {}
            LabelsBody::Selector(s) => {
                matchers.extend(label_matchers(s)?);
                text.push(format!("labels={s}"));
            }
            LabelsBody::Map(m) => {
                for (k, v) in m {
                    matchers.push(label_eq(k, v)?);
                    text.push(format!("{k}={v}"));
                }
            }
        }
        Ok((matchers, text.join("&")))
    }

    /// The [`FILTER_LABELS`] fields, in that order.
    fn named_labels(&self) -> [(&'static str, Option<&str>); 9] {
        [
            ("cluster", self.cluster.as_deref()),
            ("namespace", self.namespace.as_deref()),
            ("pod", self.pod.as_deref()),
            ("container", self.container.as_deref()),
            ("node", self.node.as_deref()),
            ("app", self.app.as_deref()),
            ("stream", self.stream.as_deref()),
            ("task", self.task.as_deref()),
            ("file", self.file.as_deref()),
        ]
    }
}

/// Context lines before and after each hit, at most [`MAX_CONTEXT`] each.
fn context(before: usize, after: usize) -> Result<(usize, usize), Problem> {
    if before > MAX_CONTEXT || after > MAX_CONTEXT {
        return Err(Problem::bad_param(
            "context_before",
            format!("at most {MAX_CONTEXT} context lines"),
        ));
    }
    Ok((before, after))
}
