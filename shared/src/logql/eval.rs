//! A metric query evaluated: its range aggregations fed by the engine,
//! then vector aggregations, binary operators, `vector()` and
//! `label_replace()` applied step by step, as Loki's evaluator does.

use super::Labels;
use super::metric::{BinModifier, BinOp, Card, Grouping, MetricExpr, VectorOp};
use super::range::{RangeEvaluator, Series, Steps};
use crate::util::sort;
use std::collections::{BTreeMap, HashMap};

/// A query that parsed but cannot be answered: Loki's words.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalError {
    /// Shown as is, as Loki shows it (a 400 above this layer).
    pub message: String,
}

impl EvalError {
    fn new(message: impl Into<String>) -> Self {
        EvalError {
            message: message.into(),
        }
    }

    /// Loki's pipeline error: a sample kept an `__error__` label.
    pub(crate) fn pipeline(error: &str, labels: &Labels) -> Self {
        EvalError::new(format!(
            "pipeline error: '{error}' for series: '{}'.\nUse a label filter to intentionally skip this error. (e.g | __error__!=\"{error}\").\nTo skip all potential errors you can match empty errors.(e.g __error__=\"\")\nThe label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )\n",
            prom_labels(labels)
        ))
    }
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EvalError {}

fn prom_labels(l: &Labels) -> String {
    let parts: Vec<String> = l
        .iter()
        .map(|(k, v)| format!("{k}={}", serde_json::Value::String(v.clone())))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// What a metric query evaluates to.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated {
    /// The series, each with its points at the steps it has a value.
    pub series: Vec<Series>,
    /// A scalar (`1 + 1`): one series without labels.
    pub scalar: bool,
}

/// Evaluates a metric query over `start..=end` every `step`: the engine
/// feeds each of its range aggregations ([`Evaluator::leaves`], in
/// [`MetricExpr::ranges`] order), then asks for the result.
pub struct Evaluator {
    expr: MetricExpr,
    steps: Steps,
    leaves: Vec<RangeEvaluator>,
}

/// An intermediate result.
enum Val {
    Vector(Vec<Series>),
    Scalar(f64),
}

impl Evaluator {
    /// `expr` at `start..=end` every `step` (ns; `step <= 0` or
    /// `start == end`: one instant), its leaves empty.
    pub fn new(expr: &MetricExpr, start: i64, end: i64, step: i64) -> Evaluator {
        let first_range = expr.ranges().first().map_or(1, |r| r.range_ns.max(1));
        let steps = Steps::new(start, end, step, first_range);
        let mut leaves = Vec::new();
        collect_leaves(expr, None, start, end, step, &mut leaves);
        Evaluator {
            expr: expr.clone(),
            steps,
            leaves,
        }
    }

    /// The range aggregations to feed, each with its [`RangeEvaluator::span`].
    pub fn leaves(&self) -> &[RangeEvaluator] {
        &self.leaves
    }

    /// One entry for leaf `leaf`, with the labels and line length its
    /// pipeline left.
    pub fn push(&mut self, leaf: usize, labels: &Labels, ts_ns: i64, bytes: usize) {
        if let Some(l) = self.leaves.get_mut(leaf) {
            l.push(labels, ts_ns, bytes);
        }
    }

    /// The answer once every leaf has been fed; an error if a sample kept
    /// `__error__` or a binary operation's series match ambiguously.
    pub fn finish(self) -> Result<Evaluated, EvalError> {
        let mut done = Vec::with_capacity(self.leaves.len());
        for l in self.leaves {
            done.push(l.finish()?);
        }
        let mut leaves = done.into_iter();
        let scalar = self.expr.is_scalar();
        let series = match eval(&self.expr, &mut leaves, &self.steps)? {
            Val::Vector(v) => v,
            Val::Scalar(x) => vec![constant(x, &self.steps)],
        };
        Ok(Evaluated { series, scalar })
    }
}

/// The leaves of `expr` in order, each told whether a `sum` sits right
/// over it (`parent`), which lets it count into that sum's groups.
fn collect_leaves(
    expr: &MetricExpr,
    parent: Option<&MetricExpr>,
    start: i64,
    end: i64,
    step: i64,
    out: &mut Vec<RangeEvaluator>,
) {
    match expr {
        MetricExpr::Range(r) => {
            let fold = match parent {
                Some(MetricExpr::Vector {
                    op: VectorOp::Sum,
                    grouping,
                    ..
                }) => Some(grouping.clone()),
                _ => None,
            };
            out.push(RangeEvaluator::new(r, start, end, step, fold));
        }
        MetricExpr::Vector { inner, .. } | MetricExpr::LabelReplace { inner, .. } => {
            collect_leaves(inner, Some(expr), start, end, step, out)
        }
        MetricExpr::Binary { lhs, rhs, .. } => {
            collect_leaves(lhs, Some(expr), start, end, step, out);
            collect_leaves(rhs, Some(expr), start, end, step, out);
        }
        MetricExpr::Scalar(_) | MetricExpr::VectorOf(_) => {}
    }
}

/// One unlabelled series holding `x` at every step.
fn constant(x: f64, steps: &Steps) -> Series {
    Series {
        labels: Labels::new(),
        points: (0..steps.count).map(|i| (steps.at(i), x)).collect(),
    }
}

fn eval(
    expr: &MetricExpr,
    leaves: &mut std::vec::IntoIter<Vec<Series>>,
    steps: &Steps,
) -> Result<Val, EvalError> {
    Ok(match expr {
        MetricExpr::Range(_) => Val::Vector(leaves.next().unwrap_or_default()),
        MetricExpr::Scalar(x) => Val::Scalar(*x),
        MetricExpr::VectorOf(x) => Val::Vector(vec![constant(*x, steps)]),
        MetricExpr::Vector {
            op,
            grouping,
            inner,
        } => {
            let series = match eval(inner, leaves, steps)? {
                Val::Vector(v) => v,
                Val::Scalar(x) => vec![constant(x, steps)],
            };
            Val::Vector(aggregate(*op, grouping.as_ref(), series))
        }
        MetricExpr::Binary {
            op,
            lhs,
            rhs,
            modifier,
        } => {
            let l = eval(lhs, leaves, steps)?;
            let r = eval(rhs, leaves, steps)?;
            binary(*op, modifier, l, r)?
        }
        MetricExpr::LabelReplace {
            inner,
            dst,
            replacement,
            src,
            regex,
        } => {
            let series = match eval(inner, leaves, steps)? {
                Val::Vector(v) => v,
                Val::Scalar(x) => vec![constant(x, steps)],
            };
            Val::Vector(label_replace(series, dst, replacement, src, regex))
        }
    })
}

/// Per group and step: the values of the series in it.
type Groups = BTreeMap<Labels, BTreeMap<i64, Vec<f64>>>;

/// A vector aggregation, step by step.
fn aggregate(op: VectorOp, grouping: Option<&Grouping>, series: Vec<Series>) -> Vec<Series> {
    let key = |l: &Labels| grouping.map_or_else(Labels::new, |g| g.key(l));
    match op {
        VectorOp::Topk(k) => return ranked(k, true, series, key),
        VectorOp::Bottomk(k) => return ranked(k, false, series, key),
        VectorOp::Sort | VectorOp::SortDesc => return sorted(op == VectorOp::SortDesc, series),
        _ => {}
    }
    let mut groups: Groups = BTreeMap::new();
    for s in &series {
        let g = groups.entry(key(&s.labels)).or_default();
        for &(ts, v) in &s.points {
            g.entry(ts).or_default().push(v);
        }
    }
    groups
        .into_iter()
        .map(|(labels, steps)| Series {
            labels,
            points: steps
                .into_iter()
                .map(|(ts, vs)| (ts, reduce(op, &vs)))
                .collect(),
        })
        .collect()
}

/// One group's values at one step, reduced.
fn reduce(op: VectorOp, vs: &[f64]) -> f64 {
    let n = vs.len() as f64;
    let sum: f64 = vs.iter().sum();
    match op {
        VectorOp::Count => n,
        VectorOp::Avg => sum / n,
        VectorOp::Min => vs
            .iter()
            .copied()
            .fold(f64::NAN, |m, v| if v < m || m.is_nan() { v } else { m }),
        VectorOp::Max => vs
            .iter()
            .copied()
            .fold(f64::NAN, |m, v| if v > m || m.is_nan() { v } else { m }),
        VectorOp::Stdvar | VectorOp::Stddev => {
            let mean = sum / n;
            let var = vs.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            if op == VectorOp::Stddev {
                var.sqrt()
            } else {
                var
            }
        }
        _ => sum,
    }
}

/// `topk`/`bottomk`: the `k` largest (smallest) series per group and step,
/// keeping their own labels; among equal values the smaller labels win.
fn ranked(
    k: usize,
    top: bool,
    series: Vec<Series>,
    key: impl Fn(&Labels) -> Labels,
) -> Vec<Series> {
    let mut cands: BTreeMap<(Labels, i64), Vec<(f64, usize)>> = BTreeMap::new();
    for (idx, s) in series.iter().enumerate() {
        let g = key(&s.labels);
        for &(ts, v) in &s.points {
            cands.entry((g.clone(), ts)).or_default().push((v, idx));
        }
    }
    let mut kept: Vec<Vec<(i64, f64)>> = vec![Vec::new(); series.len()];
    for ((_, ts), mut c) in cands {
        crate::util::sort::sort_by(&mut c, |a, b| {
            let by_value = if top {
                b.0.total_cmp(&a.0)
            } else {
                a.0.total_cmp(&b.0)
            };
            by_value.then(series[a.1].labels.cmp(&series[b.1].labels))
        });
        for (v, idx) in c.into_iter().take(k) {
            if let Some(p) = kept.get_mut(idx) {
                p.push((ts, v));
            }
        }
    }
    let mut out: Vec<Series> = series
        .into_iter()
        .zip(kept)
        .filter(|(_, p)| !p.is_empty())
        .map(|(s, mut points)| {
            crate::util::sort::sort_by_key(&mut points, |p| p.0);
            Series {
                labels: s.labels,
                points,
            }
        })
        .collect();
    crate::util::sort::sort_by(&mut out, |a, b| a.labels.cmp(&b.labels));
    out
}

/// `sort`/`sort_desc`: the series ordered by their last value.
fn sorted(desc: bool, mut series: Vec<Series>) -> Vec<Series> {
    let last = |s: &Series| s.points.last().map_or(f64::NAN, |p| p.1);
    crate::util::sort::sort_by(&mut series, |a, b| {
        let o = last(a).total_cmp(&last(b));
        if desc { o.reverse() } else { o }
    });
    series
}

/// A binary operation between two values.
fn binary(op: BinOp, m: &BinModifier, l: Val, r: Val) -> Result<Val, EvalError> {
    Ok(match (l, r) {
        (Val::Scalar(a), Val::Scalar(b)) => Val::Scalar(op.apply(a, b)),
        (Val::Vector(v), Val::Scalar(x)) => Val::Vector(with_scalar(op, m, v, x, false)),
        (Val::Scalar(x), Val::Vector(v)) => Val::Vector(with_scalar(op, m, v, x, true)),
        (Val::Vector(a), Val::Vector(b)) => Val::Vector(vectors(op, m, a, b)?),
    })
}

/// A vector and a scalar (`swapped`: the scalar is on the left): each
/// sample combined, or kept when a comparison holds.
fn with_scalar(
    op: BinOp,
    m: &BinModifier,
    series: Vec<Series>,
    x: f64,
    swapped: bool,
) -> Vec<Series> {
    series
        .into_iter()
        .filter_map(|s| {
            let points: Vec<(i64, f64)> = s
                .points
                .into_iter()
                .filter_map(|(t, v)| {
                    let (a, b) = if swapped { (x, v) } else { (v, x) };
                    let r = op.apply(a, b);
                    match (op.is_comparison(), m.return_bool) {
                        (true, false) if r == 0.0 => None,
                        (true, false) => Some((t, v)),
                        _ => Some((t, r)),
                    }
                })
                .collect();
            (!points.is_empty()).then_some(Series {
                labels: s.labels,
                points,
            })
        })
        .collect()
}

/// The labels two series are matched on.
fn signature(l: &Labels, m: &BinModifier) -> Labels {
    match &m.on {
        None => l.clone(),
        Some((on, names)) => sort::collect(
            l.iter()
                .filter(|(k, _)| names.contains(k) == *on)
                .map(|(k, v)| (k.clone(), v.clone())),
        ),
    }
}

/// Loki's `resultMetric`: the labels of a matched pair's result.
fn result_labels(lhs: &Labels, rhs: &Labels, m: &BinModifier) -> Labels {
    let mut out = lhs.clone();
    if m.card == Card::OneToOne {
        match &m.on {
            Some((true, names)) => out.retain(|k, _| names.contains(k)),
            Some((false, names)) => out.retain(|k, _| !names.contains(k)),
            None => {}
        }
    }
    for name in &m.include {
        match rhs.get(name).filter(|v| !v.is_empty()) {
            Some(v) => {
                out.insert(name.clone(), v.clone());
            }
            None => {
                out.remove(name);
            }
        }
    }
    out
}

/// Samples of each step: (series index, value).
fn by_step(series: &[Series]) -> BTreeMap<i64, Vec<(usize, f64)>> {
    let mut out: BTreeMap<i64, Vec<(usize, f64)>> = BTreeMap::new();
    for (i, s) in series.iter().enumerate() {
        for &(t, v) in &s.points {
            out.entry(t).or_default().push((i, v));
        }
    }
    out
}

/// Two vectors, step by step.
fn vectors(
    op: BinOp,
    m: &BinModifier,
    a: Vec<Series>,
    b: Vec<Series>,
) -> Result<Vec<Series>, EvalError> {
    let (la, lb) = (by_step(&a), by_step(&b));
    let sig_a: Vec<Labels> = a.iter().map(|s| signature(&s.labels, m)).collect();
    let sig_b: Vec<Labels> = b.iter().map(|s| signature(&s.labels, m)).collect();
    let mut out: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    let steps: std::collections::BTreeSet<i64> = sort::collect(la.keys().chain(lb.keys()).copied());
    let empty = Vec::new();
    for t in steps {
        let (sa, sb) = (la.get(&t).unwrap_or(&empty), lb.get(&t).unwrap_or(&empty));
        let step = Side {
            series: &a,
            sigs: &sig_a,
            samples: sa,
        };
        let other = Side {
            series: &b,
            sigs: &sig_b,
            samples: sb,
        };
        let results = if op.is_set() {
            set_op(op, &step, &other)
        } else {
            matched(op, m, &step, &other)?
        };
        for (labels, v) in results {
            out.entry(labels).or_default().push((t, v));
        }
    }
    Ok(out
        .into_iter()
        .map(|(labels, points)| Series { labels, points })
        .collect())
}

/// One side of a binary operation at one step.
struct Side<'a> {
    series: &'a [Series],
    sigs: &'a [Labels],
    samples: &'a [(usize, f64)],
}

/// `and`, `or`, `unless` at one step.
fn set_op(op: BinOp, l: &Side, r: &Side) -> Vec<(Labels, f64)> {
    let rsigs: std::collections::HashSet<&Labels> =
        r.samples.iter().map(|(i, _)| &r.sigs[*i]).collect();
    let lsigs: std::collections::HashSet<&Labels> =
        l.samples.iter().map(|(i, _)| &l.sigs[*i]).collect();
    let left = |keep: &dyn Fn(&Labels) -> bool| {
        l.samples
            .iter()
            .filter(|(i, _)| keep(&l.sigs[*i]))
            .map(|(i, v)| (l.series[*i].labels.clone(), *v))
            .collect::<Vec<_>>()
    };
    match op {
        BinOp::And => left(&|s| rsigs.contains(s)),
        BinOp::Unless => left(&|s| !rsigs.contains(s)),
        _ => {
            let mut out = left(&|_| true);
            out.extend(
                r.samples
                    .iter()
                    .filter(|(i, _)| !lsigs.contains(&r.sigs[*i]))
                    .map(|(i, v)| (r.series[*i].labels.clone(), *v)),
            );
            out
        }
    }
}

/// Arithmetic and comparisons between matched samples at one step
/// (Loki's `vectorBinop`).
fn matched(
    op: BinOp,
    m: &BinModifier,
    l: &Side,
    r: &Side,
) -> Result<Vec<(Labels, f64)>, EvalError> {
    let (many, one, swapped) = match m.card {
        Card::OneToMany => (r, l, true),
        _ => (l, r, false),
    };
    let mut ones: HashMap<&Labels, (usize, f64)> = HashMap::new();
    for &(i, v) in one.samples {
        if ones.insert(&one.sigs[i], (i, v)).is_some() {
            let side = if swapped { "left" } else { "right" };
            return Err(EvalError::new(format!(
                "found duplicate series on the {side} hand-side;many-to-many matching not allowed: matching labels must be unique on one side"
            )));
        }
    }
    let mut seen: HashMap<&Labels, Vec<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for &(i, v) in many.samples {
        let sig = &many.sigs[i];
        let Some(&(j, w)) = ones.get(sig) else {
            continue;
        };
        let labels = result_labels(&many.series[i].labels, &one.series[j].labels, m);
        let prior = seen.entry(sig).or_default();
        if m.card == Card::OneToOne && !prior.is_empty() {
            return Err(EvalError::new(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
            ));
        }
        if prior.contains(&labels) {
            return Err(EvalError::new(
                "multiple matches for labels: grouping labels must ensure unique matches",
            ));
        }
        prior.push(labels.clone());
        let (a, b) = if swapped { (w, v) } else { (v, w) };
        let res = op.apply(a, b);
        match (op.is_comparison(), m.return_bool) {
            (true, false) if res == 0.0 => {}
            (true, false) => out.push((labels, a)),
            _ => out.push((labels, res)),
        }
    }
    Ok(out)
}

/// `label_replace`: `dst` set from `replacement` (`$1` groups of `regex`
/// over `src`'s value) where it matches; an empty result removes `dst`.
fn label_replace(
    series: Vec<Series>,
    dst: &str,
    replacement: &str,
    src: &str,
    regex: &regex_lite::Regex,
) -> Vec<Series> {
    series
        .into_iter()
        .map(|mut s| {
            let value = s.labels.get(src).cloned().unwrap_or_default();
            if let Some(caps) = regex.captures(&value) {
                let mut out = String::new();
                caps.expand(replacement, &mut out);
                if out.is_empty() {
                    s.labels.remove(dst);
                } else {
                    s.labels.insert(dst.to_owned(), out);
                }
            }
            s
        })
        .collect()
}

#[cfg(test)]
mod tests;
