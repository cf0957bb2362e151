//! Kubernetes log retrieval and Loki's read API (`query` component):
//!
//! ```text
//! GET  /k8s/v1/                     logs by filters (cluster, namespace, pod, container, labels,
//!                                   start/end/since, contains, regex, level, limit, direction, cursor)
//! POST /k8s/v1/search               the same as a JSON body, plus case_insensitive, context lines
//! POST /k8s/v1/search/logql         a LogQL query: log lines, or a metric matrix
//! GET  /k8s/v1/namespaces|pods|containers   listings from the index, with counts and times
//! GET  /k8s/v1/tail?query=          a live tail of a LogQL log query (SSE, resumable)
//! GET  /loki/api/v1/query_range|query|labels|label/{name}/values|series   as Loki answers
//! GET  /loki/api/v1/tail            400: WebSocket; follow with SSE instead
//! ```
//! Every search is [`crate::read::search`]: a page says `has_more` and, when
//! true, a `next_cursor` that resumes exactly after its last entry, also when
//! the time budget ended it early. Timestamps go out in nanoseconds, as
//! strings, and as RFC 3339.

use crate::env::Env;
use crate::logql::{self, Labels, LineOp, MatchOp, Matcher, Pipeline, Query, Selector};
use crate::read::follow::{Follow, FollowOptions, stream_response, take_slot};
use crate::read::format::Format;
use crate::read::search::{self, Direction, Hit, Page, Plan, Resume, Selected, Stats};
use crate::read::target::last_event_id;
use crate::routes::query::{FAMILY, Loki, Query as Route};
use crate::util::ids::digest;
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;
use crate::web::query::Query as Params;
use crate::web::time::{parse_duration_ns, parse_time_ns};
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Default and largest page, as Loki's `limit` and `max_entries_limit_per_query`.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 5000;
/// Most context lines around one hit.
const MAX_CONTEXT: usize = 100;
/// Loki's cap on points per series in a range query.
const MAX_POINTS: u64 = 11_000;
const HOUR_NS: u64 = 3600 * 1_000_000_000;

/// The `query` component.
pub const API: super::Api<Route> = super::Api {
    family: &FAMILY,
    handle,
};

fn handle(route: Route, req: &Request, env: &Env) -> Result<Response, Problem> {
    match route {
        Route::K8sLogs => k8s_logs(&req.query, env),
        Route::Search => k8s_search(req, env),
        Route::SearchLogql => k8s_logql(req, env),
        Route::Tail => tail_selector(req, env),
        Route::Namespaces => namespaces(&req.query, env),
        Route::Pods => pods(&req.query, env),
        Route::Containers => containers(&req.query, env),
        Route::Loki(Loki::Tail) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "WebSocket Not Supported",
            "Loki's /tail is a WebSocket, which this host cannot hold: \
             GET /k8s/v1/tail?query=<the same query> streams it as Server-Sent Events \
             (and /system/v1/logs/v2/follow/... follows one task file or the journal)",
        )),
        Route::Loki(r) => {
            // Loki takes its parameters in the query string or a form body.
            let params = if req.method == Method::POST && !req.body.is_empty() {
                let body = std::str::from_utf8(&req.body)
                    .map_err(|_| Problem::bad_request("the form body is not UTF-8"))?;
                Params::parse(body)
            } else {
                req.query.clone()
            };
            match r {
                Loki::QueryRange => loki_query_range(&params, env),
                Loki::Query => loki_query(&params, env),
                Loki::Labels => loki_labels(&params, env),
                Loki::LabelValues(name) => loki_label_values(&params, env, &name),
                Loki::Series => loki_series(&params, env),
                Loki::Tail => unreachable_tail(),
            }
        }
    }
}

/// `Loki::Tail` is answered before the parameters are read.
fn unreachable_tail() -> Result<Response, Problem> {
    Err(Problem::internal("Loki's tail reached the read dispatch"))
}

// ---------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------

fn now_ns() -> u64 {
    crate::util::clock::now_micros().saturating_mul(1000)
}

fn time_param(p: &Params, name: &str) -> Result<Option<u64>, Problem> {
    p.get(name)
        .filter(|v| !v.is_empty())
        .map(|v| parse_time_ns(name, v))
        .transpose()
}

/// `start`/`end`/`since` into an inclusive range; `default_since` when
/// neither `start` nor `since` is given (`None`: all time).
fn time_range(
    start: Option<u64>,
    end: Option<u64>,
    since: Option<u64>,
    default_since: Option<u64>,
) -> Result<(u64, u64), Problem> {
    let end = end.unwrap_or_else(now_ns);
    let start = match (start, since.or(default_since)) {
        (Some(s), _) => s,
        (None, Some(d)) => end.saturating_sub(d),
        (None, None) => 0,
    };
    if start > end {
        return Err(Problem::bad_param("start", "start is after end"));
    }
    Ok((start, end))
}

fn limit_param(value: Option<u64>) -> Result<usize, Problem> {
    match value {
        None => Ok(DEFAULT_LIMIT),
        Some(0) => Err(Problem::bad_param("limit", "limit must be at least 1")),
        Some(n) if n as usize > MAX_LIMIT => Err(Problem::bad_param(
            "limit",
            format!("limit is at most {MAX_LIMIT} (max_entries_limit_per_query)"),
        )),
        Some(n) => Ok(n as usize),
    }
}

fn number_param(p: &Params, name: &str) -> Result<Option<u64>, Problem> {
    p.get(name)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                Problem::bad_param(name, format!("{name} {v:?} is not a non-negative integer"))
            })
        })
        .transpose()
}

fn direction_param(value: Option<&str>) -> Result<Direction, Problem> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("backward") => Ok(Direction::Backward),
        Some("forward") => Ok(Direction::Forward),
        Some(other) => Err(Problem::bad_param(
            "direction",
            format!("direction {other:?} is forward or backward"),
        )),
    }
}

fn budget(env: &Env, asked: Option<u64>) -> Result<Duration, Problem> {
    let max = env.config.query_budget_ms()?;
    Ok(Duration::from_millis(asked.map_or(max, |a| a.min(max))))
}

fn logql_problem(e: logql::ParseError) -> Problem {
    Problem::bad_param("query", e.to_string())
        .with("position", e.pos)
        .with("line", e.line)
        .with("column", e.col)
}

/// The opaque cursor: where to resume, and a digest of the query it belongs
/// to, so a cursor is never applied to another query.
#[derive(Serialize, Deserialize)]
struct Cursor {
    r: Resume,
    q: String,
}

fn encode_cursor(resume: &Resume, query: &str) -> String {
    let c = Cursor {
        r: resume.clone(),
        q: query.to_owned(),
    };
    crate::read::format::opaque(&c)
}

fn decode_cursor(text: &str, query: &str) -> Result<Resume, Problem> {
    let bad = |why: &str| Problem::bad_param("cursor", format!("the cursor {why}"));
    let c: Cursor =
        crate::read::format::from_opaque(text).ok_or_else(|| bad("is not one this API gave"))?;
    if c.q != query {
        return Err(bad(
            "belongs to another query: send the same filters with it",
        ));
    }
    Ok(c.r)
}

// ---------------------------------------------------------------------------
// The Kubernetes API's searches
// ---------------------------------------------------------------------------

/// The labels `GET /k8s/v1/` and `POST /search` take as parameters of their
/// own: the canonical ones, and a DC/OS task file's.
const FILTER_LABELS: [&str; 9] = [
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
#[derive(Default)]
struct Filters {
    selector: Vec<Matcher>,
    selector_text: String,
    contains: Vec<String>,
    regex: Vec<String>,
    case_insensitive: bool,
    levels: Vec<String>,
    start: Option<u64>,
    end: Option<u64>,
    since: Option<u64>,
    limit: Option<u64>,
    direction: Option<String>,
    cursor: Option<String>,
    budget_ms: Option<u64>,
    context: (usize, usize),
}

fn eq(name: &str, value: &str) -> Result<Matcher, Problem> {
    Matcher::new(name, MatchOp::Eq, value).map_err(logql_problem)
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
            if !logql::valid_label_name(k.trim()) {
                return Err(Problem::bad_param(
                    "labels",
                    format!("{k:?} is not a label name"),
                ));
            }
            eq(k.trim(), v.trim())
        })
        .collect()
}

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

impl Filters {
    fn from_query(p: &Params) -> Result<Filters, Problem> {
        let mut f = Filters::default();
        for name in FILTER_LABELS {
            if let Some(v) = p.get(name).filter(|v| !v.is_empty()) {
                f.selector.push(eq(name, v)?);
            }
        }
        if let Some(l) = p.get("labels") {
            f.selector.extend(label_matchers(l)?);
        }
        f.contains = p
            .all("contains")
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        f.regex = p
            .all("regex")
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        f.case_insensitive = matches!(p.get("case_insensitive"), Some("true" | "1"));
        if let Some(l) = p.get("level") {
            f.levels = levels(l)?;
        }
        f.start = time_param(p, "start")?;
        f.end = time_param(p, "end")?;
        f.since = p
            .get("since")
            .filter(|v| !v.is_empty())
            .map(|v| parse_duration_ns("since", v))
            .transpose()?;
        f.limit = number_param(p, "limit")?;
        f.direction = p.get("direction").map(str::to_owned);
        f.cursor = p.get("cursor").filter(|c| !c.is_empty()).map(str::to_owned);
        f.budget_ms = number_param(p, "budget_ms")?;
        f.selector_text = p
            .pairs()
            .filter(|(k, _)| FILTER_LABELS.contains(k) || *k == "labels")
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        Ok(f)
    }

    /// What a cursor must match: everything but the time range and paging.
    fn fingerprint(&self, dir: Direction) -> String {
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

fn body_time(name: &str, v: &Option<Value>) -> Result<Option<u64>, Problem> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_time_ns(name, s).map(Some),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|n| parse_time_ns(name, &n.to_string()))
            .transpose()
            .and_then(|t| {
                t.ok_or_else(|| Problem::bad_param(name, format!("{name} is not a time")))
                    .map(Some)
            }),
        Some(_) => Err(Problem::bad_param(
            name,
            format!("{name} is a string or a number"),
        )),
    }
}

impl SearchBody {
    fn into_filters(self) -> Result<Filters, Problem> {
        let mut f = Filters::default();
        let mut text = Vec::new();
        for (name, v) in [
            ("cluster", &self.cluster),
            ("namespace", &self.namespace),
            ("pod", &self.pod),
            ("container", &self.container),
            ("node", &self.node),
            ("app", &self.app),
            ("stream", &self.stream),
            ("task", &self.task),
            ("file", &self.file),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                f.selector.push(eq(name, v)?);
                text.push(format!("{name}={v}"));
            }
        }
        match self.labels {
            LabelsBody::None => {}
            LabelsBody::Selector(s) => {
                f.selector.extend(label_matchers(&s)?);
                text.push(format!("labels={s}"));
            }
            LabelsBody::Map(m) => {
                for (k, v) in m {
                    if !logql::valid_label_name(&k) {
                        return Err(Problem::bad_param(
                            "labels",
                            format!("{k:?} is not a label name"),
                        ));
                    }
                    f.selector.push(eq(&k, &v)?);
                    text.push(format!("{k}={v}"));
                }
            }
        }
        f.selector_text = text.join("&");
        f.contains = self.contains.into_vec();
        f.contains.extend(self.patterns.into_vec());
        f.contains.retain(|c| !c.is_empty());
        f.regex = self.regex.into_vec();
        f.case_insensitive = self.case_insensitive;
        f.levels = levels(&self.level.into_vec().join(","))?;
        f.start = body_time("start", &self.start)?;
        f.end = body_time("end", &self.end)?;
        f.since = self
            .since
            .as_deref()
            .map(|s| parse_duration_ns("since", s))
            .transpose()?;
        f.limit = self.limit;
        f.direction = self.direction;
        f.cursor = self.cursor;
        f.budget_ms = self.budget_ms;
        if self.context_before > MAX_CONTEXT || self.context_after > MAX_CONTEXT {
            return Err(Problem::bad_param(
                "context_before",
                format!("at most {MAX_CONTEXT} context lines"),
            ));
        }
        f.context = (self.context_before, self.context_after);
        Ok(f)
    }
}

fn k8s_logs(p: &Params, env: &Env) -> Result<Response, Problem> {
    run_filters(Filters::from_query(p)?, env)
}

fn k8s_search(req: &Request, env: &Env) -> Result<Response, Problem> {
    let body: SearchBody = req.json("search")?;
    run_filters(body.into_filters()?, env)
}

fn run_filters(f: Filters, env: &Env) -> Result<Response, Problem> {
    let dir = direction_param(f.direction.as_deref())?;
    let limit = limit_param(f.limit)?;
    let mut ops: Vec<(LineOp, String)> = f
        .contains
        .iter()
        .map(|c| (LineOp::Contains, c.clone()))
        .collect();
    ops.extend(f.regex.iter().map(|r| (LineOp::Match, r.clone())));
    let pipeline = Pipeline::from_filters(&ops, f.case_insensitive).map_err(|e| {
        Problem::bad_param(
            "regex",
            format!("a pattern does not compile: {}", e.message),
        )
    })?;
    let (from, to) = time_range(f.start, f.end, f.since, None)?;
    let fingerprint = f.fingerprint(dir);
    let resume = f
        .cursor
        .as_deref()
        .map(|c| decode_cursor(c, &fingerprint))
        .transpose()?;
    let selector = Selector {
        matchers: f.selector,
    };
    let streams = search::select(&env.store, &selector)?;
    let plan = Plan {
        pipeline,
        levels: f.levels,
        from,
        to,
        direction: dir,
        limit,
        resume,
        budget: budget(env, f.budget_ms)?,
        context: f.context,
    };
    let page = search::search(&streams, &plan)?;
    Ok(Response::json(
        StatusCode::OK,
        &page_json(&page, &fingerprint, plan.context != (0, 0), None),
    ))
}

fn ts_json(ts: u64) -> Value {
    json!(crate::read::format::rfc3339_ns(ts))
}

fn hit_json(h: &Hit, context: bool) -> Value {
    let mut o = Map::new();
    o.insert("timestamp".into(), ts_json(h.key.ts));
    o.insert("timestamp_ns".into(), json!(h.key.ts.to_string()));
    for name in FILTER_LABELS {
        if let Some(v) = h.stream_labels.get(name) {
            o.insert(name.into(), json!(v));
        }
    }
    o.insert("labels".into(), json!(*h.labels));
    o.insert("line".into(), json!(h.line));
    o.insert("level".into(), json!(h.level));
    if !h.metadata.is_empty() {
        let m: Map<String, Value> = h
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        o.insert("metadata".into(), Value::Object(m));
    }
    if context {
        o.insert("context_before".into(), json!(h.before));
        o.insert("context_after".into(), json!(h.after));
    }
    Value::Object(o)
}

fn stats_json(s: &Stats) -> Value {
    json!(s)
}

fn page_json(page: &Page, fingerprint: &str, context: bool, query: Option<&str>) -> Value {
    let mut o = json!({
        "logs": page.hits.iter().map(|h| hit_json(h, context)).collect::<Vec<_>>(),
        "count": page.hits.len(),
        "has_more": page.has_more,
        "stats": stats_json(&page.stats),
    });
    if let Some(r) = &page.resume {
        o["next_cursor"] = json!(encode_cursor(r, fingerprint));
    }
    if let Some(q) = query {
        o["query"] = json!(q);
    }
    o
}

/// `POST /k8s/v1/search/logql`'s body.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogqlBody {
    query: String,
    #[serde(default)]
    start: Option<Value>,
    #[serde(default)]
    end: Option<Value>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    step: Option<String>,
    #[serde(default)]
    budget_ms: Option<u64>,
}

fn k8s_logql(req: &Request, env: &Env) -> Result<Response, Problem> {
    let body: LogqlBody = req.json("LogQL query")?;
    let query = logql::parse(&body.query).map_err(logql_problem)?;
    let since = body
        .since
        .as_deref()
        .map(|s| parse_duration_ns("since", s))
        .transpose()?;
    let (from, to) = time_range(
        body_time("start", &body.start)?,
        body_time("end", &body.end)?,
        since,
        Some(HOUR_NS),
    )?;
    let asked = budget(env, body.budget_ms)?;
    match &query {
        Query::Log(_) => {
            let dir = direction_param(body.direction.as_deref())?;
            let fingerprint = digest(format!("logql|{}|{dir:?}", body.query).as_bytes());
            let resume = body
                .cursor
                .as_deref()
                .map(|c| decode_cursor(c, &fingerprint))
                .transpose()?;
            let page = log_query(
                env,
                &query,
                from,
                to,
                dir,
                limit_param(body.limit)?,
                resume,
                asked,
            )?;
            Ok(Response::json(
                StatusCode::OK,
                &page_json(&page, &fingerprint, false, Some(&body.query)),
            ))
        }
        Query::Metric(expr) => {
            let step = step_param(body.step.as_deref(), from, to)?;
            let (series, stats, complete) = metric_query(env, expr, &query, from, to, step, asked)?;
            let mut o = json!({
                "query": body.query,
                "resultType": "matrix",
                "result": matrix_json(&series),
                "stats": stats_json(&stats),
            });
            if !complete {
                o["warnings"] = json!([budget_warning(&stats)]);
            }
            Ok(Response::json(StatusCode::OK, &o))
        }
    }
}

fn budget_warning(stats: &Stats) -> String {
    format!(
        "the query's time budget ran out after {} ms and {} entries: the values cover part of the range; narrow the range or the selector",
        stats.elapsed_ms, stats.entries_scanned
    )
}

#[allow(clippy::too_many_arguments)]
fn log_query(
    env: &Env,
    query: &Query,
    from: u64,
    to: u64,
    dir: Direction,
    limit: usize,
    resume: Option<Resume>,
    budget: Duration,
) -> Result<Page, Problem> {
    let log = query.log();
    let streams = search::select(&env.store, &log.selector)?;
    let plan = Plan {
        pipeline: log.pipeline.clone(),
        levels: Vec::new(),
        from,
        to,
        direction: dir,
        limit,
        resume,
        budget,
        context: (0, 0),
    };
    Ok(search::search(&streams, &plan)?)
}

fn step_param(step: Option<&str>, from: u64, to: u64) -> Result<u64, Problem> {
    let range = to - from;
    let step = match step.filter(|s| !s.is_empty()) {
        Some(s) => parse_duration_ns("step", s)?,
        // Loki's default: the range over 250 points, at least a second.
        None => (range / 250).max(1_000_000_000),
    };
    if step == 0 {
        return Err(Problem::bad_param("step", "step must be positive"));
    }
    if range / step > MAX_POINTS {
        return Err(Problem::bad_param(
            "step",
            format!(
                "exceeded maximum resolution of {MAX_POINTS} points per timeseries: increase step or shorten the range"
            ),
        ));
    }
    Ok(step)
}

fn metric_query(
    env: &Env,
    expr: &logql::MetricExpr,
    query: &Query,
    from: u64,
    to: u64,
    step: u64,
    budget: Duration,
) -> Result<(Vec<logql::Series>, Stats, bool), Problem> {
    let log = query.log();
    let streams: Vec<Selected> = search::select(&env.store, &log.selector)?;
    let range = u64::try_from(expr.range_ns()).unwrap_or(0);
    let mut eval = logql::Evaluator::new(expr, from as i64, to as i64, step as i64);
    let plan = Plan {
        pipeline: log.pipeline.clone(),
        levels: Vec::new(),
        from: from.saturating_sub(range).saturating_add(1),
        to,
        direction: Direction::Forward,
        limit: usize::MAX,
        resume: None,
        budget,
        context: (0, 0),
    };
    let (complete, stats) = search::feed(&streams, &plan, &mut |labels, ts, bytes| {
        eval.push(labels, ts as i64, bytes)
    })?;
    Ok((eval.finish(), stats, complete))
}

/// Loki's sample value: a string of the shortest form that round-trips.
fn sample(v: f64) -> Value {
    json!(if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    })
}

fn seconds(ts: i64) -> Value {
    let s = ts as f64 / 1e9;
    serde_json::Number::from_f64(s).map_or(Value::Null, Value::Number)
}

fn matrix_json(series: &[logql::Series]) -> Value {
    Value::Array(
        series
            .iter()
            .map(|s| {
                json!({
                    "metric": s.labels,
                    "values": s.points.iter().map(|(t, v)| json!([seconds(*t), sample(*v)])).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------
// Loki's read API
// ---------------------------------------------------------------------------

fn loki_ok(data: Value) -> Response {
    Response::json(StatusCode::OK, &json!({"status": "success", "data": data}))
}

fn loki_stats(s: &Stats, returned: usize) -> Value {
    let secs = (s.elapsed_ms as f64 / 1000.0).max(1e-6);
    json!({"summary": {
        "bytesProcessedPerSecond": (s.bytes_scanned as f64 / secs) as u64,
        "linesProcessedPerSecond": (s.entries_scanned as f64 / secs) as u64,
        "totalBytesProcessed": s.bytes_scanned,
        "totalLinesProcessed": s.entries_scanned,
        "totalEntriesReturned": returned,
        "execTime": s.elapsed_ms as f64 / 1000.0,
        "queueTime": 0,
    }})
}

fn loki_query_param(p: &Params) -> Result<Query, Problem> {
    let q = p
        .get("query")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| Problem::bad_param("query", "query is required: a LogQL expression"))?;
    logql::parse(q).map_err(logql_problem)
}

fn streams_json(hits: &[Hit]) -> Value {
    // Grouped by the labels each entry ended with, streams in first-seen order.
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, (Labels, Vec<Value>)> = BTreeMap::new();
    for h in hits {
        let key = crate::model::stream::canonical(&h.labels);
        let g = groups.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            ((*h.labels).clone(), Vec::new())
        });
        g.1.push(json!([h.key.ts.to_string(), h.line]));
    }
    Value::Array(
        order
            .into_iter()
            .filter_map(|k| groups.remove(&k))
            .map(|(labels, values)| json!({"stream": labels, "values": values}))
            .collect(),
    )
}

fn loki_query_range(p: &Params, env: &Env) -> Result<Response, Problem> {
    let query = loki_query_param(p)?;
    let since = p
        .get("since")
        .filter(|v| !v.is_empty())
        .map(|v| parse_duration_ns("since", v))
        .transpose()?;
    let (from, to) = time_range(
        time_param(p, "start")?,
        time_param(p, "end")?,
        since,
        Some(HOUR_NS),
    )?;
    let asked = budget(env, number_param(p, "budget_ms")?)?;
    match &query {
        Query::Log(_) => {
            let dir = direction_param(p.get("direction"))?;
            let limit = limit_param(number_param(p, "limit")?)?;
            let page = log_query(env, &query, from, to, dir, limit, None, asked)?;
            let mut data = json!({
                "resultType": "streams",
                "result": streams_json(&page.hits),
                "stats": loki_stats(&page.stats, page.hits.len()),
            });
            if page.stats.budget_exhausted {
                data["warnings"] = json!([budget_warning(&page.stats)]);
            }
            Ok(loki_ok(data))
        }
        Query::Metric(expr) => {
            let step = step_param(p.get("step").or(p.get("interval")), from, to)?;
            let (series, stats, complete) = metric_query(env, expr, &query, from, to, step, asked)?;
            let mut data = json!({
                "resultType": "matrix",
                "result": matrix_json(&series),
                "stats": loki_stats(&stats, series.len()),
            });
            if !complete {
                data["warnings"] = json!([budget_warning(&stats)]);
            }
            Ok(loki_ok(data))
        }
    }
}

/// The value of a sum of `vector(<number>)` terms: the query Grafana's Loki
/// data source sends as its health check (`vector(1)+vector(1)`).
fn constant_vector(query: &str) -> Option<f64> {
    let compact: String = query.chars().filter(|c| !c.is_whitespace()).collect();
    compact
        .split('+')
        .map(|term| {
            term.strip_prefix("vector(")?
                .strip_suffix(')')?
                .parse::<f64>()
                .ok()
        })
        .sum()
}

fn loki_query(p: &Params, env: &Env) -> Result<Response, Problem> {
    if let Some(v) = p.get("query").and_then(constant_vector) {
        let at = time_param(p, "time")?.unwrap_or_else(now_ns);
        let result = json!([{"metric": {}, "value": [seconds(at as i64), sample(v)]}]);
        return Ok(loki_ok(json!({"resultType": "vector", "result": result})));
    }
    let query = loki_query_param(p)?;
    let Query::Metric(expr) = &query else {
        return Err(Problem::bad_param(
            "query",
            "log queries are not supported as an instant query type, please change your query to a range query type",
        ));
    };
    let at = time_param(p, "time")?.unwrap_or_else(now_ns);
    let asked = budget(env, number_param(p, "budget_ms")?)?;
    let (series, stats, complete) = metric_query(env, expr, &query, at, at, 1, asked)?;
    let result: Vec<Value> = series
        .iter()
        .filter_map(|s| {
            s.points
                .last()
                .map(|(t, v)| json!({"metric": s.labels, "value": [seconds(*t), sample(*v)]}))
        })
        .collect();
    let mut data = json!({"resultType": "vector", "result": result, "stats": loki_stats(&stats, series.len())});
    if !complete {
        data["warnings"] = json!([budget_warning(&stats)]);
    }
    Ok(loki_ok(data))
}

/// The streams a Loki label or series look-up is about: those matching
/// `query`/`match[]` selectors and alive in `start..end` when given.
fn matching_streams(
    env: &Env,
    selectors: &[Selector],
    p: &Params,
) -> Result<Vec<Selected>, Problem> {
    let (start, end) = (time_param(p, "start")?, time_param(p, "end")?);
    let mut out: Vec<Selected> = Vec::new();
    let mut seen = BTreeSet::new();
    for sel in selectors {
        for s in search::select(&env.store, sel)? {
            let alive =
                start.is_none_or(|t| s.last() >= t) && end.is_none_or(|t| s.meta.first <= t);
            if alive && seen.insert(s.id.clone()) {
                out.push(s);
            }
        }
    }
    Ok(out)
}

fn selector_param(text: &str, name: &str) -> Result<Selector, Problem> {
    logql::parse_selector(text).map_err(|e| logql_problem(e).with("parameter", name))
}

fn loki_labels(p: &Params, env: &Env) -> Result<Response, Problem> {
    match p.get("query").filter(|q| !q.is_empty()) {
        None => Ok(loki_ok(json!(crate::model::stream::names(&env.store)?))),
        Some(q) => {
            let streams = matching_streams(env, &[selector_param(q, "query")?], p)?;
            let names: BTreeSet<&String> =
                streams.iter().flat_map(|s| s.meta.labels.keys()).collect();
            Ok(loki_ok(json!(names)))
        }
    }
}

fn loki_label_values(p: &Params, env: &Env, name: &str) -> Result<Response, Problem> {
    match p.get("query").filter(|q| !q.is_empty()) {
        None => Ok(loki_ok(json!(crate::model::stream::values(
            &env.store, name
        )?))),
        Some(q) => {
            let streams = matching_streams(env, &[selector_param(q, "query")?], p)?;
            let values: BTreeSet<&String> = streams
                .iter()
                .filter_map(|s| s.meta.labels.get(name))
                .collect();
            Ok(loki_ok(json!(values)))
        }
    }
}

fn loki_series(p: &Params, env: &Env) -> Result<Response, Problem> {
    let selectors: Vec<Selector> = p
        .all("match[]")
        .chain(p.all("match"))
        .map(|m| selector_param(m, "match[]"))
        .collect::<Result<_, _>>()?;
    if selectors.is_empty() {
        return Err(Problem::bad_param(
            "match[]",
            "match[] is required: one or more stream selectors",
        ));
    }
    let streams = matching_streams(env, &selectors, p)?;
    Ok(loki_ok(json!(
        streams.iter().map(|s| &s.meta.labels).collect::<Vec<_>>()
    )))
}

// ---------------------------------------------------------------------------
// Live tail
/// Follows a LogQL log query's streams from `start` (default now), or from
/// the cursor a previous invocation ended with (`Last-Event-ID` or `cursor`).
fn tail_selector(req: &Request, env: &Env) -> Result<Response, Problem> {
    use crate::read::stream_tail::{SelectorFeed, TailCursor};
    let text = req
        .query
        .get("query")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| Problem::bad_param("query", "query is required: a LogQL log query"))?;
    let query = crate::logql::parse(text)
        .map_err(|e| Problem::bad_param("query", e.to_string()).with("column", e.col))?;
    let crate::logql::Query::Log(log) = query else {
        return Err(Problem::bad_param(
            "query",
            "a live tail follows a log query, not a metric query",
        ));
    };
    let resume =
        last_event_id(req, Format::Sse).or_else(|| req.query.get("cursor").map(str::to_owned));
    let cursor = match resume {
        Some(c) => TailCursor::decode(&c).ok_or_else(|| {
            Problem::bad_param(
                "cursor",
                "the cursor (Last-Event-ID) is not one this tail gave",
            )
        })?,
        None => TailCursor {
            t0: match req.query.get("start").filter(|s| !s.is_empty()) {
                Some(s) => parse_time_ns("start", s)?,
                None => crate::util::clock::now_micros().saturating_mul(1000),
            },
            at: Default::default(),
        },
    };
    let feed = SelectorFeed::new(
        env.store.clone(),
        log.selector,
        log.pipeline,
        Vec::new(),
        cursor,
    )?;
    let lease = take_slot(req, env)?;
    let follow = Follow::new(
        feed,
        Format::Sse,
        FollowOptions::from_config(&env.config)?,
        Some(lease),
    );
    Ok(stream_response(Format::Sse, follow))
}

// ---------------------------------------------------------------------------
// Listings
// ---------------------------------------------------------------------------

/// Counts and times over some streams.
#[derive(Default)]
struct Tally {
    streams: u64,
    entries: u64,
    bytes: u64,
    first: Option<u64>,
    last: Option<u64>,
}

impl Tally {
    fn add(&mut self, s: &Selected) {
        self.streams += 1;
        self.entries += s.snap.lines();
        self.bytes += s.snap.size();
        self.first = Some(self.first.map_or(s.meta.first, |f| f.min(s.meta.first)));
        self.last = Some(self.last.map_or(s.last(), |l| l.max(s.last())));
    }

    fn json(&self, mut o: Map<String, Value>) -> Value {
        o.insert("streams".into(), json!(self.streams));
        o.insert("entries".into(), json!(self.entries));
        o.insert("bytes".into(), json!(self.bytes));
        o.insert(
            "first_timestamp".into(),
            self.first.map_or(Value::Null, ts_json),
        );
        o.insert(
            "last_timestamp".into(),
            self.last.map_or(Value::Null, ts_json),
        );
        Value::Object(o)
    }
}

fn required<'a>(p: &'a Params, name: &str) -> Result<&'a str, Problem> {
    p.get(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Problem::bad_param(name, format!("{name} is required")))
}

fn cluster_matchers(p: &Params) -> Result<Vec<Matcher>, Problem> {
    p.get("cluster")
        .filter(|c| !c.is_empty())
        .map(|c| eq("cluster", c))
        .into_iter()
        .collect()
}

fn namespaces(p: &Params, env: &Env) -> Result<Response, Problem> {
    let mut out = Vec::new();
    for ns in crate::model::stream::values(&env.store, "namespace")? {
        let mut matchers = cluster_matchers(p)?;
        matchers.push(eq("namespace", &ns)?);
        let streams = search::select(&env.store, &Selector { matchers })?;
        if streams.is_empty() {
            continue;
        }
        let mut t = Tally::default();
        let mut pods = BTreeSet::new();
        let mut clusters = BTreeSet::new();
        for s in &streams {
            t.add(s);
            if let Some(pod) = s.meta.labels.get("pod") {
                pods.insert(pod.clone());
            }
            if let Some(c) = s.meta.labels.get("cluster") {
                clusters.insert(c.clone());
            }
        }
        let mut o = Map::new();
        o.insert("name".into(), json!(ns));
        o.insert("clusters".into(), json!(clusters));
        o.insert("pods".into(), json!(pods.len()));
        out.push(t.json(o));
    }
    Ok(Response::json(
        StatusCode::OK,
        &json!({"namespaces": out, "count": out.len()}),
    ))
}

fn pods(p: &Params, env: &Env) -> Result<Response, Problem> {
    let ns = required(p, "namespace")?;
    let mut matchers = cluster_matchers(p)?;
    matchers.push(eq("namespace", ns)?);
    let streams = search::select(&env.store, &Selector { matchers })?;
    let mut by_pod: BTreeMap<String, (Tally, BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for s in &streams {
        let Some(pod) = s.meta.labels.get("pod") else {
            continue;
        };
        let e = by_pod.entry(pod.clone()).or_default();
        e.0.add(s);
        if let Some(c) = s.meta.labels.get("container") {
            e.1.insert(c.clone());
        }
        if let Some(n) = s.meta.labels.get("node") {
            e.2.insert(n.clone());
        }
    }
    let pods: Vec<Value> = by_pod
        .into_iter()
        .map(|(name, (t, containers, nodes))| {
            let mut o = Map::new();
            o.insert("name".into(), json!(name));
            o.insert("namespace".into(), json!(ns));
            o.insert("containers".into(), json!(containers));
            o.insert("node".into(), json!(nodes.into_iter().next()));
            t.json(o)
        })
        .collect();
    Ok(Response::json(
        StatusCode::OK,
        &json!({"namespace": ns, "pods": pods, "count": pods.len()}),
    ))
}

fn containers(p: &Params, env: &Env) -> Result<Response, Problem> {
    let ns = required(p, "namespace")?;
    let pod = required(p, "pod")?;
    let mut matchers = cluster_matchers(p)?;
    matchers.push(eq("namespace", ns)?);
    matchers.push(eq("pod", pod)?);
    let streams = search::select(&env.store, &Selector { matchers })?;
    let mut by: BTreeMap<String, (Tally, BTreeSet<String>)> = BTreeMap::new();
    for s in &streams {
        let name = s.meta.labels.get("container").cloned().unwrap_or_default();
        let e = by.entry(name).or_default();
        e.0.add(s);
        if let Some(st) = s.meta.labels.get("stream") {
            e.1.insert(st.clone());
        }
    }
    let list: Vec<Value> = by
        .into_iter()
        .map(|(name, (t, outputs))| {
            let mut o = Map::new();
            o.insert("name".into(), json!(name));
            o.insert("namespace".into(), json!(ns));
            o.insert("pod".into(), json!(pod));
            o.insert("outputs".into(), json!(outputs));
            t.json(o)
        })
        .collect();
    Ok(Response::json(
        StatusCode::OK,
        &json!({"namespace": ns, "pod": pod, "containers": list, "count": list.len()}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call<R>(
        env: &Env,
        api: &super::super::Api<R>,
        method: Method,
        path: &str,
        body: &str,
    ) -> (StatusCode, Value) {
        let mut req = Request::new(method, path).with_body(body);
        if !body.is_empty() {
            req = req.with_header("content-type", "application/json");
        }
        let r = api.call(req, env);
        let status = r.status;
        let bytes = r.into_bytes().unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    #[test]
    fn a_push_is_found_by_filters_logql_and_loki() {
        let env = Env::memory();
        let t = now_ns() - 1_000_000_000;
        let push = json!({"streams": [{"stream": {"namespace": "n", "pod": "p"},
            "values": [[t.to_string(), "level=error boom"], [(t + 1).to_string(), "level=info fine"]]}]});
        let (s, _) = call(
            &env,
            &crate::api::ingest::API,
            Method::POST,
            "/loki/api/v1/push",
            &push.to_string(),
        );
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, v) = call(&env, &API, Method::GET, "/k8s/v1/?pod=p&level=error", "");
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["logs"][0]["line"], "level=error boom");
        assert_eq!(v["has_more"], false);
        let (_, v) = call(
            &env,
            &API,
            Method::POST,
            "/k8s/v1/search/logql",
            r#"{"query": "{pod=\"p\"} | logfmt | level=\"info\""}"#,
        );
        assert_eq!(v["logs"][0]["line"], "level=info fine", "{v}");
        let (_, v) = call(&env, &API, Method::GET, "/loki/api/v1/labels", "");
        assert_eq!(v["data"], json!(["namespace", "pod"]));
        let (s, v) = call(
            &env,
            &API,
            Method::GET,
            "/loki/api/v1/query_range?query=%7Bpod%3D%22p%22%7D%20%7C%3D",
            "",
        );
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(
            v["detail"]
                .as_str()
                .unwrap()
                .starts_with("parse error at line 1, col"),
            "{v}"
        );
    }

    #[test]
    fn times_and_durations_read_as_loki_reads_them() {
        assert_eq!(
            parse_time_ns("t", "1700000000").unwrap(),
            1_700_000_000_000_000_000
        );
        assert_eq!(
            parse_time_ns("t", "1700000000123456789").unwrap(),
            1_700_000_000_123_456_789
        );
        assert_eq!(
            parse_time_ns("t", "1700000000.5").unwrap(),
            1_700_000_000_500_000_000
        );
        assert_eq!(
            parse_time_ns("t", "2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000_000_000
        );
        assert!(parse_time_ns("t", "soon").is_err());
        assert_eq!(parse_duration_ns("d", "1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration_ns("d", "15").unwrap(), 15_000_000_000);
        assert!(parse_duration_ns("d", "-5m").is_err());
    }
}
