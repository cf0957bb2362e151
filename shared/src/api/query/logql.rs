//! `POST /k8s/v1/search/logql`, and what it shares with Loki's read API: a
//! LogQL query run over a time range, as a page of log lines or a metric
//! matrix, and a metric's samples rendered as Loki renders them.

use super::page::page_json;
use super::params::{HOUR_NS, body_duration, body_time, budget, direction_param, limit_param};
use super::params::{logql_problem, page_range, resume, time_range};
use crate::env::Env;
use crate::logql::{self, MetricExpr, Query, Series};
use crate::read::search::{self, Direction, Page, Plan, Resume, Stats};
use crate::util::ids::digest;
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;
use crate::web::time::parse_duration_ns;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Loki's cap on points per series in a range query.
const MAX_POINTS: u64 = 11_000;

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

/// `POST /k8s/v1/search/logql`: a log query answers a page (resumable with
/// its cursor), a metric query a matrix. The range defaults to the last hour.
pub(super) fn search(req: &Request, env: &Env) -> Result<Response, Problem> {
    let body: LogqlBody = req.json("LogQL query")?;
    let query = logql::parse(&body.query).map_err(logql_problem)?;
    let since = body_duration("since", body.since.as_deref())?;
    let (from, to) = time_range(
        body_time("start", &body.start)?,
        body_time("end", &body.end)?,
        since,
        Some(HOUR_NS),
    )?;
    let run = Ranged {
        env,
        query: &query,
        from,
        to,
        budget: budget(env, body.budget_ms)?,
    };
    match &query {
        Query::Log(_) => log_page(&body, &run),
        Query::Metric(expr) => matrix(&body, &run, expr),
    }
}

fn log_page(body: &LogqlBody, run: &Ranged) -> Result<Response, Problem> {
    let dir = direction_param(body.direction.as_deref())?;
    let fingerprint = digest(format!("logql|{}|{dir:?}", body.query).as_bytes());
    let resumed = resume(body.cursor.as_deref(), &fingerprint)?;
    let (from, to) = page_range(resumed.as_ref(), || Ok((run.from, run.to)))?;
    let run = Ranged { from, to, ..*run };
    let page = run.page(dir, limit_param(body.limit)?, resumed.map(|r| r.0))?;
    Ok(Response::json(
        StatusCode::OK,
        &page_json(&page, &fingerprint, (from, to), false, Some(&body.query)),
    ))
}

fn matrix(body: &LogqlBody, run: &Ranged, expr: &MetricExpr) -> Result<Response, Problem> {
    let step = step_param(body.step.as_deref(), run.from, run.to)?;
    let m = run.matrix(expr, step)?;
    let o = json!({
        "query": body.query,
        "resultType": "matrix",
        "result": matrix_json(&m.series),
        "stats": m.stats,
    });
    Ok(Response::json(
        StatusCode::OK,
        &warn_partial(o, m.partial(), &m.stats),
    ))
}

/// A parsed LogQL query over `from..=to` (ns), and the time it may take.
#[derive(Clone, Copy)]
pub(super) struct Ranged<'a> {
    pub env: &'a Env,
    pub query: &'a Query,
    pub from: u64,
    pub to: u64,
    pub budget: Duration,
}

/// A metric query's series, and whether the budget let it see the whole range.
pub(super) struct Matrix {
    pub series: Vec<Series>,
    /// `1 + 1`: one unlabelled series that is a scalar.
    pub scalar: bool,
    pub stats: Stats,
    complete: bool,
}

impl Matrix {
    pub fn partial(&self) -> bool {
        !self.complete
    }
}

impl Ranged<'_> {
    /// A log query's page of at most `limit` entries, in `dir` order, after
    /// `resume`.
    pub fn page(
        &self,
        dir: Direction,
        limit: usize,
        resume: Option<Resume>,
    ) -> Result<Page, Problem> {
        let Query::Log(log) = self.query else {
            return Err(Problem::bad_param("query", "a log query is needed here"));
        };
        let streams = search::select(&self.env.store, &log.selector)?;
        let plan = Plan {
            pipeline: log.pipeline.clone(),
            levels: Vec::new(),
            from: self.from,
            to: self.to,
            direction: dir,
            limit,
            resume,
            budget: self.budget,
            context: (0, 0),
        };
        Ok(search::search(&streams, &plan)?)
    }

    /// The metric query `expr` (this query's) evaluated every `step` ns:
    /// each of its range aggregations is fed the entries of its own
    /// selector and pipeline over its own span (its range and offset before
    /// `from`), within what is left of the budget.
    pub fn matrix(&self, expr: &MetricExpr, step: u64) -> Result<Matrix, Problem> {
        let started = Instant::now();
        let mut eval = logql::Evaluator::new(expr, self.from as i64, self.to as i64, step as i64);
        let spans: Vec<(i64, i64)> = eval.leaves().iter().map(|l| l.span()).collect();
        let mut stats = Stats::default();
        let mut complete = true;
        for (i, (range, (lo, hi))) in expr.ranges().into_iter().zip(spans).enumerate() {
            let streams = search::select(&self.env.store, &range.query.selector)?;
            let plan = Plan {
                pipeline: range.query.pipeline.clone(),
                levels: Vec::new(),
                from: lo.max(0) as u64,
                to: hi.max(0) as u64,
                direction: Direction::Forward,
                limit: usize::MAX,
                resume: None,
                budget: self.budget.saturating_sub(started.elapsed()),
                context: (0, 0),
            };
            let (done, s) = search::feed(&streams, &plan, &mut |labels, ts, bytes| {
                eval.push(i, labels, ts as i64, bytes)
            })?;
            add_stats(&mut stats, &s);
            if !done {
                complete = false;
                break;
            }
        }
        stats.elapsed_ms = started.elapsed().as_millis() as u64;
        let done = eval
            .finish()
            .map_err(|e| Problem::bad_param("query", e.message))?;
        Ok(Matrix {
            series: done.series,
            scalar: done.scalar,
            stats,
            complete,
        })
    }
}

/// `total` with one feed's counts added.
fn add_stats(total: &mut Stats, s: &Stats) {
    total.streams += s.streams;
    total.entries_scanned += s.entries_scanned;
    total.bytes_scanned += s.bytes_scanned;
    total.segments_skipped += s.segments_skipped;
    total.matched += s.matched;
    total.budget_exhausted |= s.budget_exhausted;
}

/// A metric query's resolution: `step` as Loki reads it (float seconds,
/// or a duration such as `14000ms`, Grafana's spelling), or Loki's default
/// (the range over 250 points in whole seconds, at least one); refused past
/// [`MAX_POINTS`] points a series, in Loki's words.
pub(super) fn step_param(step: Option<&str>, from: u64, to: u64) -> Result<u64, Problem> {
    let range = to.saturating_sub(from);
    let step = match step.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) if s.starts_with('-') || s.parse::<f64>().is_ok_and(|f| f <= 0.0) => 0,
        Some(s) => parse_duration_ns("step", s)?,
        None => (range / 250 / 1_000_000_000).max(1) * 1_000_000_000,
    };
    if step == 0 {
        return Err(Problem::bad_param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if range / step > MAX_POINTS {
        return Err(Problem::bad_param(
            "step",
            "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter",
        ));
    }
    Ok(step)
}

/// `data` with a warning when the budget ended the query before its range did.
pub(super) fn warn_partial(mut data: Value, partial: bool, stats: &Stats) -> Value {
    if partial {
        data["warnings"] = json!([budget_warning(stats)]);
    }
    data
}

fn budget_warning(stats: &Stats) -> String {
    format!(
        "the query's time budget ran out after {} ms and {} entries: the values cover part of the range; narrow the range or the selector",
        stats.elapsed_ms, stats.entries_scanned
    )
}

/// Loki's sample value: a string of the shortest form that round-trips.
pub(super) fn sample(v: f64) -> Value {
    json!(if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    })
}

/// A sample's time: seconds since the epoch, with a fraction.
pub(super) fn seconds(ts: i64) -> Value {
    let s = ts as f64 / 1e9;
    serde_json::Number::from_f64(s).map_or(Value::Null, Value::Number)
}

pub(super) fn matrix_json(series: &[Series]) -> Value {
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
