//! One range aggregation evaluated at every step: the leaves of a metric
//! query, fed entry by entry.
//!
//! `push` runs once per selected entry, possibly millions of times, so it
//! neither clones labels for a series it has seen nor keeps entries when it
//! need not. Counting functions (`count_over_time`, `rate`, `bytes_*`,
//! `absent_over_time`) add each entry to a bucket whose width divides both
//! the range and the step, so every window is a whole run of buckets and
//! memory grows with the number of distinct buckets, not entries; a `sum`
//! right over one is folded into the buckets of its groups as entries
//! arrive (the sum of the windows' counts is the count of the union), which
//! keeps high-cardinality labels from parsers from multiplying the state.
//! Functions of unwrapped values keep each sample (a quantile needs them
//! all) and slide two cursors over them per series.
//!
//! Windows are Loki's: the value at step `t` covers `(t - offset - range,
//! t - offset]`. A sample still marked `__error__` fails the query with
//! Loki's pipeline error, unless a label filter removed it first.

use super::metric::{Grouping, RangeExpr, RangeFunc};
use super::parsers::ERROR_LABEL;
use super::{EvalError, Labels, MatchOp};
use std::borrow::Cow;
use std::collections::HashMap;

/// One output series of a metric query.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its label set, unique within a result.
    pub labels: Labels,
    /// (step time in ns, value), by time; a step without a value is left out.
    pub points: Vec<(i64, f64)>,
}

/// The steps a query is evaluated at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Steps {
    pub start: i64,
    /// How many (0: none).
    pub count: i64,
    pub step: i64,
}

impl Steps {
    /// `start..=end` every `step` ns (one step when `start == end` or no step).
    pub(crate) fn new(start: i64, end: i64, step: i64, fallback: i64) -> Steps {
        if end < start {
            return Steps {
                start,
                count: 0,
                step: fallback,
            };
        }
        if step <= 0 || end == start {
            return Steps {
                start,
                count: 1,
                step: fallback,
            };
        }
        // Spans beyond ~146 years are cut short, so step numbers fit an i64.
        let span = (end as i128 - start as i128).min(i64::MAX as i128 / 2);
        Steps {
            start,
            count: (span / step as i128) as i64 + 1,
            step,
        }
    }

    /// The last step's time.
    pub(crate) fn end(&self) -> i64 {
        let last = (self.count.max(1) - 1) as i128 * self.step as i128;
        (self.start as i128 + last).min(i64::MAX as i128) as i64
    }

    pub(crate) fn at(&self, i: i64) -> i64 {
        (self.start as i128 + i as i128 * self.step as i128).min(i64::MAX as i128) as i64
    }
}

/// Evaluates one range aggregation. The engine pushes every entry of the
/// selected streams whose time is in [`RangeEvaluator::span`], in any order,
/// with the labels and line its pipeline left.
pub struct RangeEvaluator {
    expr: RangeExpr,
    steps: Steps,
    range: i64,
    /// Grouping folded into the buckets (a `sum` right over the range).
    fold: Option<Option<Grouping>>,
    /// Pushed labels to their slot (counting only: an unwrapped sample's
    /// series depends on its value's conversion).
    index: HashMap<Labels, usize>,
    /// Series labels to their slot.
    groups: HashMap<Labels, usize>,
    slots: Vec<Slot>,
    width: i64,
    error: Option<EvalError>,
}

struct Slot {
    labels: Labels,
    /// Counting: (bucket, entries, bytes); a bucket may repeat (out-of-order
    /// pushes, or a count that would overflow), merged at finish.
    buckets: Vec<(i64, u32, u32)>,
    /// Unwrapped: (time shifted by the offset, value), in push order.
    samples: Vec<(i64, f64)>,
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl RangeEvaluator {
    /// `expr` at the steps of `start..=end` every `step`; `fold`: the
    /// grouping of a `sum` right over it, whose groups it may count into.
    pub fn new(
        expr: &RangeExpr,
        start: i64,
        end: i64,
        step: i64,
        fold: Option<Option<Grouping>>,
    ) -> Self {
        let range = expr.range_ns.max(1);
        let steps = Steps::new(start, end, step, range);
        let counting = expr.unwrap.is_none() && expr.func != RangeFunc::AbsentOverTime;
        RangeEvaluator {
            expr: expr.clone(),
            steps,
            range,
            fold: if counting { fold } else { None },
            index: HashMap::new(),
            groups: HashMap::new(),
            slots: Vec::new(),
            width: gcd(range, steps.step).max(1),
            error: None,
        }
    }

    /// The entries it needs: times in `from..=to` (ns), before the offset.
    pub fn span(&self) -> (i64, i64) {
        let off = self.expr.offset_ns;
        let from = self
            .steps
            .start
            .saturating_sub(off)
            .saturating_sub(self.range)
            .saturating_add(1);
        (from, self.steps.end().saturating_sub(off))
    }

    /// One entry at `ts_ns` with the labels its pipeline left and its
    /// line's length in bytes; entries outside [`Self::span`] are ignored.
    pub fn push(&mut self, labels: &Labels, ts_ns: i64, bytes: usize) {
        if self.error.is_some() || self.steps.count == 0 {
            return;
        }
        let ts = ts_ns.saturating_add(self.expr.offset_ns);
        if ts > self.steps.end() || (ts as i128) <= self.steps.start as i128 - self.range as i128 {
            return;
        }
        if self.expr.unwrap.is_some() {
            return self.sample(labels, ts);
        }
        if let Some(e) = pipeline_error(labels) {
            self.error = Some(e);
            return;
        }
        if self.expr.func == RangeFunc::AbsentOverTime {
            let s = self.slot(Labels::new());
            if let Some(slot) = self.slots.get_mut(s) {
                slot.samples.push((ts, 1.0));
            }
            return;
        }
        self.count(labels, ts, bytes)
    }

    fn count(&mut self, labels: &Labels, ts: i64, bytes: usize) {
        let slot = match self.index.get(labels) {
            Some(&s) => s,
            None => {
                let key = match &self.fold {
                    Some(g) => g.as_ref().map_or_else(Labels::new, |g| g.key(labels)),
                    None => labels.clone(),
                };
                let s = self.slot(key);
                self.index.insert(labels.clone(), s);
                s
            }
        };
        // Bucket j holds (start + (j-1)*width, start + j*width].
        let off = ts as i128 - self.steps.start as i128;
        let bucket = -((-off).div_euclid(self.width as i128)) as i64;
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        let Some(s) = self.slots.get_mut(slot) else {
            return;
        };
        if let Some(last) = s.buckets.last_mut()
            && last.0 == bucket
            && last.1 < u32::MAX
            && let Some(b) = last.2.checked_add(bytes)
        {
            last.1 += 1;
            last.2 = b;
            return;
        }
        s.buckets.push((bucket, 1, bytes));
    }

    /// The slot of series `key`, made on first sight.
    fn slot(&mut self, key: Labels) -> usize {
        if let Some(&s) = self.groups.get(&key) {
            return s;
        }
        self.slots.push(Slot {
            labels: key.clone(),
            buckets: Vec::new(),
            samples: Vec::new(),
        });
        self.groups.insert(key, self.slots.len() - 1);
        self.slots.len() - 1
    }

    /// An unwrapped sample: the label's value converted, the post filters
    /// run, the series labels made (Loki's: without the unwrapped label,
    /// or the range aggregation's own grouping).
    fn sample(&mut self, labels: &Labels, ts: i64) {
        let Some(u) = &self.expr.unwrap else {
            return;
        };
        let text = match labels.get(&u.label) {
            Some(t) if !t.is_empty() => t,
            _ => return,
        };
        let value = u.conv.apply(text);
        let mut lbs = Cow::Borrowed(labels);
        if value.is_none() && !lbs.contains_key(ERROR_LABEL) {
            lbs.to_mut()
                .insert(ERROR_LABEL.into(), "SampleExtractionErr".into());
        }
        if !u.post.iter().all(|f| f.apply(&mut lbs)) {
            return;
        }
        let key = match &self.expr.grouping {
            Some(g) if !g.without => g.key(&lbs),
            Some(g) => {
                let mut k = g.key(&lbs);
                k.remove(&u.label);
                k
            }
            None => {
                let mut k = lbs.into_owned();
                k.remove(&u.label);
                k
            }
        };
        if let Some(e) = pipeline_error(&key) {
            self.error = Some(e);
            return;
        }
        let slot = self.slot(key);
        if let Some(s) = self.slots.get_mut(slot) {
            s.samples.push((ts, value.unwrap_or(0.0)));
        }
    }

    /// The series, sorted by labels; a pipeline error if a sample kept one.
    pub fn finish(self) -> Result<Vec<Series>, EvalError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.expr.func == RangeFunc::AbsentOverTime {
            return Ok(self.absent());
        }
        let mut slots = self.slots;
        crate::util::sort::sort_by(&mut slots, |a, b| a.labels.cmp(&b.labels));
        let mut out = Vec::with_capacity(slots.len());
        for slot in slots {
            let points = match self.expr.unwrap {
                None => counted(
                    &self.expr,
                    &self.steps,
                    self.width,
                    self.range,
                    slot.buckets,
                ),
                Some(_) => sampled(&self.expr, &self.steps, self.range, slot.samples),
            };
            if !points.is_empty() {
                out.push(Series {
                    labels: slot.labels,
                    points,
                });
            }
        }
        Ok(out)
    }

    /// `absent_over_time`: 1 at every step whose window has nothing, with
    /// the selector's equality labels.
    fn absent(self) -> Vec<Series> {
        let mut times: Vec<i64> = Vec::new();
        for s in &self.slots {
            times.extend(s.samples.iter().map(|p| p.0));
        }
        times.sort_unstable();
        let mut points = Vec::new();
        for i in 0..self.steps.count {
            let t = self.steps.at(i);
            let lo = times.partition_point(|&x| x <= t - self.range);
            let hi = times.partition_point(|&x| x <= t);
            if lo == hi {
                points.push((t, 1.0));
            }
        }
        if points.is_empty() {
            return Vec::new();
        }
        vec![Series {
            labels: absent_labels(&self.expr),
            points,
        }]
    }
}

/// Loki's labels of an absent series: the selector's `=` matchers, a name
/// given twice left out.
fn absent_labels(expr: &RangeExpr) -> Labels {
    let ms = &expr.query.selector.matchers;
    ms.iter()
        .filter(|m| m.op == MatchOp::Eq)
        .filter(|m| ms.iter().filter(|o| o.name == m.name).count() == 1)
        .map(|m| (m.name.clone(), m.value.clone()))
        .collect()
}

/// Loki's pipeline error for a sample still marked with `__error__`.
fn pipeline_error(labels: &Labels) -> Option<EvalError> {
    let e = labels.get(ERROR_LABEL)?;
    if labels
        .get("__preserve_error__")
        .is_some_and(|v| v == "true")
    {
        return None;
    }
    Some(EvalError::pipeline(e, labels))
}

/// A counting series' points: sliding sums over its sorted buckets.
fn counted(
    expr: &RangeExpr,
    steps: &Steps,
    width: i64,
    range: i64,
    mut b: Vec<(i64, u32, u32)>,
) -> Vec<(i64, f64)> {
    b.sort_unstable_by_key(|x| x.0);
    let (sw, rw) = (steps.step / width, range / width);
    let secs = range as f64 / 1e9;
    let mut out = Vec::new();
    let (mut lo, mut hi) = (0usize, 0usize);
    let (mut count, mut bytes) = (0u64, 0u64);
    let mut i = 0i64;
    while i < steps.count {
        let top = i as i128 * sw as i128;
        while hi < b.len() && (b[hi].0 as i128) <= top {
            count += u64::from(b[hi].1);
            bytes += u64::from(b[hi].2);
            hi += 1;
        }
        while lo < hi && (b[lo].0 as i128) <= top - rw as i128 {
            count -= u64::from(b[lo].1);
            bytes -= u64::from(b[lo].2);
            lo += 1;
        }
        if count > 0 {
            let v = match expr.func {
                RangeFunc::Rate => count as f64 / secs,
                RangeFunc::BytesOverTime => bytes as f64,
                RangeFunc::BytesRate => bytes as f64 / secs,
                _ => count as f64,
            };
            out.push((steps.at(i), v));
            i += 1;
        } else if hi < b.len() && sw > 0 {
            // Jump to the first step whose window reaches the next bucket.
            let next = (b[hi].0 as i128 + sw as i128 - 1).div_euclid(sw as i128);
            i = (next.max(i as i128 + 1)).min(steps.count as i128) as i64;
        } else {
            break;
        }
    }
    out
}

/// An unwrapped series' points: each step's window of samples aggregated.
fn sampled(expr: &RangeExpr, steps: &Steps, range: i64, mut s: Vec<(i64, f64)>) -> Vec<(i64, f64)> {
    // One sample per line of the range: the standard sort, not the
    // size-saving `util::sort` (an indirect call per comparison).
    s.sort_by_key(|p| p.0);
    let mut out = Vec::new();
    let (mut lo, mut hi) = (0usize, 0usize);
    let mut i = 0i64;
    while i < steps.count {
        let t = steps.at(i);
        while hi < s.len() && s[hi].0 <= t {
            hi += 1;
        }
        while lo < hi && s[lo].0 <= t - range {
            lo += 1;
        }
        if lo < hi {
            out.push((t, aggregate(expr, &s[lo..hi], range, t)));
            i += 1;
        } else if hi < s.len() && steps.step > 0 {
            let next = (s[hi].0 as i128 - steps.start as i128 + steps.step as i128 - 1)
                .div_euclid(steps.step as i128);
            i = next.max(i as i128 + 1).min(steps.count as i128) as i64;
        } else {
            break;
        }
    }
    out
}

/// One window's value (Loki's `range_vector.go`).
fn aggregate(expr: &RangeExpr, w: &[(i64, f64)], range: i64, end: i64) -> f64 {
    let vals = || w.iter().map(|p| p.1);
    let n = w.len() as f64;
    let secs = range as f64 / 1e9;
    match expr.func {
        RangeFunc::Rate => vals().sum::<f64>() / secs,
        RangeFunc::RateCounter => counter_rate(w, range, end),
        RangeFunc::SumOverTime => vals().sum(),
        RangeFunc::AvgOverTime => vals().sum::<f64>() / n,
        RangeFunc::MinOverTime => {
            vals().fold(f64::NAN, |m, v| if v < m || m.is_nan() { v } else { m })
        }
        RangeFunc::MaxOverTime => {
            vals().fold(f64::NAN, |m, v| if v > m || m.is_nan() { v } else { m })
        }
        RangeFunc::StdvarOverTime => variance(w),
        RangeFunc::StddevOverTime => variance(w).sqrt(),
        RangeFunc::QuantileOverTime => quantile(expr.param.unwrap_or(0.5), vals().collect()),
        RangeFunc::FirstOverTime => w[0].1,
        RangeFunc::LastOverTime => w[w.len() - 1].1,
        RangeFunc::CountOverTime | RangeFunc::AbsentOverTime => n,
        RangeFunc::BytesOverTime | RangeFunc::BytesRate => vals().sum(),
    }
}

/// Welford's population variance.
fn variance(w: &[(i64, f64)]) -> f64 {
    let (mut aux, mut count, mut mean) = (0.0, 0.0, 0.0);
    for &(_, v) in w {
        count += 1.0;
        let delta = v - mean;
        mean += delta / count;
        aux += delta * (v - mean);
    }
    aux / count
}

/// Prometheus' quantile: a weighted average of the two nearest ranks.
pub(crate) fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // Equal under `total_cmp` is bit-equal, so unstable gives the same
    // order; per-sample data, so not through `util::sort`.
    values.sort_unstable_by(f64::total_cmp);
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// `rate_counter`: Prometheus' extrapolated rate of a counter (resets
/// count as drops to zero).
fn counter_rate(w: &[(i64, f64)], range: i64, end: i64) -> f64 {
    if w.len() < 2 {
        return 0.0;
    }
    let (first, last) = (w[0], w[w.len() - 1]);
    let mut result = last.1 - first.1;
    let mut prev = 0.0;
    for &(_, v) in w {
        if v < prev {
            result += prev;
        }
        prev = v;
    }
    let start = end - range;
    let mut to_start = (first.0 - start) as f64 / 1e9;
    let mut to_end = (end - last.0) as f64 / 1e9;
    let sampled = (last.0 - first.0) as f64 / 1e9;
    let avg = sampled / (w.len() - 1) as f64;
    let threshold = avg * 1.1;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if result > 0.0 && first.1 >= 0.0 {
        to_start = to_start.min(sampled * (first.1 / result));
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let extrapolated = sampled + to_start + to_end;
    result * (extrapolated / sampled) / (range as f64 / 1e9)
}
