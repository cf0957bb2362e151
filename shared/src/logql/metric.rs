//! Metric evaluation: range aggregations per series, vector aggregations per step.
//!
//! `push` runs once per selected entry, possibly millions of times, so it
//! neither clones labels for a series it has seen nor keeps entries: it adds
//! the entry to a bucket whose width divides both the range and the step, so
//! every window is a whole run of buckets and memory grows with the number of
//! distinct buckets, not entries. A `sum` directly over a range aggregation
//! is folded into the buckets of its groups as entries arrive (the sum of the
//! windows' counts is the count of the union), which keeps high-cardinality
//! labels from parsers from multiplying the state.

use super::{Grouping, Labels, MetricExpr, RangeFunc, VectorOp};
use std::collections::{BTreeMap, HashMap};

/// One output series of a metric query.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// Evaluates a metric query: the engine pushes every entry of the selected streams whose timestamp is in (start - range, end] (in any order), already passed through the innermost log query's pipeline (so the labels pushed are the pipeline's output labels and `bytes` the line length after the pipeline), then asks for the series at steps start, start+step, ... <= end. Value at step t for a range aggregation over series S = aggregate of S's entries with t - range < ts <= t (Loki's left-open window); steps with no entries give no point. Then vector aggregations apply per step (topk keeps the k largest per step, ties by labels; avg/sum/min/max/count as Prometheus). Series sorted by labels; the output for an instant query is start == end.
pub struct Evaluator {
    expr: MetricExpr,
    func: RangeFunc,
    start: i64,
    /// Number of steps.
    steps: i64,
    step: i64,
    range: i64,
    /// Bucket width: divides `range` and `step`.
    width: i64,
    /// Grouping folded into the buckets (a `sum` right over the range).
    fold: Option<Option<Grouping>>,
    /// Pushed labels to their slot.
    index: HashMap<Labels, usize>,
    /// Folded group labels to their slot.
    groups: HashMap<Labels, usize>,
    slots: Vec<Slot>,
}

struct Slot {
    labels: Labels,
    /// (bucket, entries, bytes); a bucket may repeat (out-of-order pushes,
    /// or a count that would overflow), merged at finish.
    buckets: Vec<(i64, u32, u32)>,
}

/// The grouping of a `sum` right over the range aggregation, if that is
/// what the innermost vector aggregation is.
fn fold_of(expr: &MetricExpr) -> Option<Option<Grouping>> {
    match expr {
        MetricExpr::Range { .. } => None,
        MetricExpr::Vector {
            op,
            grouping,
            inner,
        } => match **inner {
            MetricExpr::Range { .. } => (*op == VectorOp::Sum).then(|| grouping.clone()),
            _ => fold_of(inner),
        },
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl Evaluator {
    pub fn new(expr: &MetricExpr, start_ns: i64, end_ns: i64, step_ns: i64) -> Evaluator {
        let range = expr.range_ns().max(1);
        let (steps, step) = if end_ns < start_ns {
            (0, range)
        } else if step_ns <= 0 || end_ns == start_ns {
            (1, range)
        } else {
            // Spans beyond ~146 years are cut short, so bucket numbers fit an i64.
            let span = (end_ns as i128 - start_ns as i128).min(i64::MAX as i128 / 2);
            ((span / step_ns as i128) as i64 + 1, step_ns)
        };
        let fold = fold_of(expr);
        Evaluator {
            expr: expr.clone(),
            func: expr.range_func(),
            start: start_ns,
            steps,
            step,
            range,
            width: gcd(range, step),
            fold,
            index: HashMap::new(),
            groups: HashMap::new(),
            slots: Vec::new(),
        }
    }

    /// The last step's timestamp.
    fn end(&self) -> i64 {
        let last = (self.steps.max(1) - 1) as i128 * self.step as i128;
        (self.start as i128 + last).min(i64::MAX as i128) as i64
    }

    pub fn push(&mut self, labels: &Labels, ts_ns: i64, bytes: usize) {
        if self.steps == 0
            || ts_ns > self.end()
            || (ts_ns as i128) <= self.start as i128 - self.range as i128
        {
            return;
        }
        let slot = match self.index.get(labels) {
            Some(&s) => s,
            None => {
                let s = match &self.fold {
                    Some(g) => {
                        let key = g.as_ref().map_or_else(Labels::new, |g| g.key(labels));
                        match self.groups.get(&key) {
                            Some(&s) => s,
                            None => {
                                self.slots.push(Slot {
                                    labels: key.clone(),
                                    buckets: Vec::new(),
                                });
                                self.groups.insert(key, self.slots.len() - 1);
                                self.slots.len() - 1
                            }
                        }
                    }
                    None => {
                        self.slots.push(Slot {
                            labels: labels.clone(),
                            buckets: Vec::new(),
                        });
                        self.slots.len() - 1
                    }
                };
                self.index.insert(labels.clone(), s);
                s
            }
        };
        // Bucket j holds (start + (j-1)*width, start + j*width].
        let off = ts_ns as i128 - self.start as i128;
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

    pub fn finish(self) -> Vec<Series> {
        let mut slots = self.slots;
        slots.sort_by(|a, b| a.labels.cmp(&b.labels));
        let mut series = Vec::with_capacity(slots.len());
        let range_secs = self.range as f64 / 1e9;
        for slot in slots {
            let points = windows(
                slot.buckets,
                self.steps,
                self.step / self.width,
                self.range / self.width,
            )
            .into_iter()
            .map(|(i, count, bytes)| {
                let ts = self.start + i * self.step;
                let v = match self.func {
                    RangeFunc::CountOverTime => count as f64,
                    RangeFunc::Rate => count as f64 / range_secs,
                    RangeFunc::BytesOverTime => bytes as f64,
                    RangeFunc::BytesRate => bytes as f64 / range_secs,
                };
                (ts, v)
            })
            .collect::<Vec<_>>();
            if !points.is_empty() {
                series.push(Series {
                    labels: slot.labels,
                    points,
                });
            }
        }
        vector(&self.expr, series)
    }
}

/// Sliding sums over sorted buckets: for each step `i` with entries, `(i,
/// entries, bytes)` over buckets `(i*sw - rw, i*sw]`, where `sw` and `rw` are
/// the step and range in buckets.
fn windows(mut b: Vec<(i64, u32, u32)>, steps: i64, sw: i64, rw: i64) -> Vec<(i64, u64, u64)> {
    b.sort_unstable_by_key(|x| x.0);
    let mut out = Vec::new();
    let (mut lo, mut hi) = (0usize, 0usize);
    let (mut count, mut bytes) = (0u64, 0u64);
    let mut i = 0i64;
    while i < steps {
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
            out.push((i, count, bytes));
            i += 1;
        } else if hi < b.len() && sw > 0 {
            // Jump to the first step whose window reaches the next bucket.
            let next = (b[hi].0 as i128 + sw as i128 - 1).div_euclid(sw as i128);
            i = (next.max(i as i128 + 1)).min(steps as i128) as i64;
        } else {
            break;
        }
    }
    out
}

/// Per group and step: sum, count, min, max.
type Acc = (f64, u64, f64, f64);

/// Applies the vector aggregations of `expr` (outermost last) to the range
/// aggregation's `series`.
fn vector(expr: &MetricExpr, series: Vec<Series>) -> Vec<Series> {
    let MetricExpr::Vector {
        op,
        grouping,
        inner,
    } = expr
    else {
        return series;
    };
    let series = vector(inner, series);
    let key = |l: &Labels| grouping.as_ref().map_or_else(Labels::new, |g| g.key(l));
    match op {
        VectorOp::Topk(k) => topk(*k, series, key),
        op => {
            // Per group and step: sum, count, min, max.
            let mut groups: BTreeMap<Labels, BTreeMap<i64, Acc>> = BTreeMap::new();
            for s in &series {
                let g = groups.entry(key(&s.labels)).or_default();
                for &(ts, v) in &s.points {
                    let a = g
                        .entry(ts)
                        .or_insert((0.0, 0, f64::INFINITY, f64::NEG_INFINITY));
                    a.0 += v;
                    a.1 += 1;
                    a.2 = a.2.min(v);
                    a.3 = a.3.max(v);
                }
            }
            groups
                .into_iter()
                .map(|(labels, steps)| Series {
                    labels,
                    points: steps
                        .into_iter()
                        .map(|(ts, (sum, n, min, max))| {
                            let v = match op {
                                VectorOp::Sum => sum,
                                VectorOp::Count => n as f64,
                                VectorOp::Avg => sum / n as f64,
                                VectorOp::Min => min,
                                VectorOp::Max => max,
                                VectorOp::Topk(_) => sum,
                            };
                            (ts, v)
                        })
                        .collect(),
                })
                .collect()
        }
    }
}

/// The `k` largest series per group and step, keeping their own labels;
/// among equal values the series with the smaller labels wins.
fn topk(k: usize, series: Vec<Series>, key: impl Fn(&Labels) -> Labels) -> Vec<Series> {
    // series is sorted by labels, so an index order is a label order.
    let mut cands: BTreeMap<(Labels, i64), Vec<(f64, usize)>> = BTreeMap::new();
    for (idx, s) in series.iter().enumerate() {
        let g = key(&s.labels);
        for &(ts, v) in &s.points {
            cands.entry((g.clone(), ts)).or_default().push((v, idx));
        }
    }
    let mut kept: Vec<Vec<(i64, f64)>> = vec![Vec::new(); series.len()];
    for ((_, ts), mut c) in cands {
        c.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for (v, idx) in c.into_iter().take(k) {
            if let Some(p) = kept.get_mut(idx) {
                p.push((ts, v));
            }
        }
    }
    series
        .into_iter()
        .zip(kept)
        .filter(|(_, p)| !p.is_empty())
        .map(|(s, mut points)| {
            points.sort_by_key(|p| p.0);
            Series {
                labels: s.labels,
                points,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::{Query, parse};

    const S: i64 = 1_000_000_000;

    /// Labels, timestamp in seconds, bytes.
    type Entry = (&'static [(&'static str, &'static str)], i64, usize);

    use crate::logql::labels_of as labels;

    fn expr(q: &str) -> MetricExpr {
        match parse(q).unwrap() {
            Query::Metric(m) => m,
            Query::Log(_) => panic!("log query"),
        }
    }

    /// Evaluates `q` over `(labels, ts seconds, bytes)` entries.
    fn eval(q: &str, start: i64, end: i64, step: i64, entries: &[Entry]) -> Vec<Series> {
        let mut e = Evaluator::new(&expr(q), start * S, end * S, step * S);
        for (l, ts, b) in entries {
            e.push(&labels(l), ts * S, *b);
        }
        e.finish()
    }

    fn pts(v: &[(i64, f64)]) -> Vec<(i64, f64)> {
        v.iter().map(|&(t, x)| (t * S, x)).collect()
    }

    const A: &[(&str, &str)] = &[("app", "a"), ("pod", "1")];
    const B: &[(&str, &str)] = &[("app", "a"), ("pod", "2")];
    const C: &[(&str, &str)] = &[("app", "c"), ("pod", "1")];

    #[test]
    fn count_over_time_left_open_window() {
        // Entries at 10, 20, 30 (twice), 40; 10s range, 10s step from 10 to 50.
        let entries: &[Entry] = &[(A, 30, 1), (A, 10, 1), (A, 20, 1), (A, 30, 1), (A, 40, 1)];
        let got = eval(r#"count_over_time({app="a"}[10s])"#, 10, 60, 10, entries);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].labels, labels(A));
        assert_eq!(
            got[0].points,
            pts(&[(10, 1.0), (20, 1.0), (30, 2.0), (40, 1.0)])
        );
        // A 20s range overlaps steps; a 5s step splits buckets.
        let got = eval(r#"count_over_time({app="a"}[20s])"#, 10, 50, 5, entries);
        assert_eq!(
            got[0].points,
            pts(&[
                (10, 1.0),
                (15, 1.0),
                (20, 2.0),
                (25, 2.0),
                (30, 3.0),
                (35, 3.0),
                (40, 3.0),
                (45, 3.0),
                (50, 1.0)
            ])
        );
        // Range not a multiple of the step.
        let got = eval(r#"count_over_time({app="a"}[15s])"#, 0, 60, 20, entries);
        assert_eq!(got[0].points, pts(&[(20, 2.0), (40, 3.0)]));
    }

    #[test]
    fn entries_outside_the_query_are_ignored() {
        // (start - range, end] = (0, 20]: 0 and 21 are out.
        let got = eval(
            r#"count_over_time({app="a"}[10s])"#,
            10,
            20,
            10,
            &[(A, 0, 1), (A, 1, 1), (A, 20, 1), (A, 21, 1)],
        );
        assert_eq!(got[0].points, pts(&[(10, 1.0), (20, 1.0)]));
    }

    #[test]
    fn instant_queries() {
        let got = eval(
            r#"count_over_time({app="a"}[1m])"#,
            100,
            100,
            0,
            &[(A, 40, 1), (A, 41, 1), (A, 100, 1), (B, 99, 1)],
        );
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].points, pts(&[(100, 2.0)]));
        assert_eq!(got[1].points, pts(&[(100, 1.0)]));
        assert!(eval(r#"rate({app="a"}[1m])"#, 100, 50, 10, &[(A, 40, 1)]).is_empty());
    }

    #[test]
    fn rates_and_bytes() {
        let entries: &[Entry] = &[(A, 1, 100), (A, 2, 50), (A, 5, 10)];
        let got = eval(r#"rate({app="a"}[4s])"#, 2, 6, 2, entries);
        assert_eq!(got[0].points, pts(&[(2, 0.5), (4, 0.5), (6, 0.25)]));
        let got = eval(r#"bytes_over_time({app="a"}[4s])"#, 2, 6, 2, entries);
        assert_eq!(got[0].points, pts(&[(2, 150.0), (4, 150.0), (6, 10.0)]));
        let got = eval(r#"bytes_rate({app="a"}[4s])"#, 2, 6, 2, entries);
        assert_eq!(got[0].points, pts(&[(2, 37.5), (4, 37.5), (6, 2.5)]));
    }

    #[test]
    fn sum_by_without_and_plain() {
        let entries: &[Entry] = &[(A, 10, 1), (B, 10, 1), (B, 20, 1), (C, 20, 1)];
        let got = eval(
            r#"sum by (app) (count_over_time({app=~".+"}[10s]))"#,
            10,
            20,
            10,
            entries,
        );
        assert_eq!(
            got,
            [
                Series {
                    labels: labels(&[("app", "a")]),
                    points: pts(&[(10, 2.0), (20, 1.0)])
                },
                Series {
                    labels: labels(&[("app", "c")]),
                    points: pts(&[(20, 1.0)])
                },
            ]
        );
        let got = eval(
            r#"sum(count_over_time({app=~".+"}[10s])) without (app)"#,
            10,
            20,
            10,
            entries,
        );
        assert_eq!(
            got,
            [
                Series {
                    labels: labels(&[("pod", "1")]),
                    points: pts(&[(10, 1.0), (20, 1.0)])
                },
                Series {
                    labels: labels(&[("pod", "2")]),
                    points: pts(&[(10, 1.0), (20, 1.0)])
                },
            ]
        );
        let got = eval(
            r#"sum(count_over_time({app=~".+"}[10s]))"#,
            10,
            20,
            10,
            entries,
        );
        assert_eq!(
            got,
            [Series {
                labels: Labels::new(),
                points: pts(&[(10, 2.0), (20, 2.0)])
            }]
        );
        // By a label some series lack: they group under {}.
        let got = eval(
            r#"sum by (zone) (count_over_time({app=~".+"}[10s]))"#,
            10,
            10,
            0,
            entries,
        );
        assert_eq!(
            got,
            [Series {
                labels: Labels::new(),
                points: pts(&[(10, 2.0)])
            }]
        );
    }

    #[test]
    fn count_avg_min_max() {
        let entries: &[Entry] = &[(A, 10, 1), (B, 10, 1), (B, 9, 1), (B, 8, 1), (C, 10, 1)];
        let q = |op: &str| format!(r#"{op} by (app) (count_over_time({{app=~".+"}}[10s]))"#);
        let val = |got: &[Series]| got.iter().map(|s| s.points[0].1).collect::<Vec<_>>();
        assert_eq!(val(&eval(&q("count"), 10, 10, 0, entries)), [2.0, 1.0]);
        assert_eq!(val(&eval(&q("avg"), 10, 10, 0, entries)), [2.0, 1.0]);
        assert_eq!(val(&eval(&q("min"), 10, 10, 0, entries)), [1.0, 1.0]);
        assert_eq!(val(&eval(&q("max"), 10, 10, 0, entries)), [3.0, 1.0]);
        // Nested: the average over apps of their sums.
        let got = eval(
            r#"avg(sum by (app) (count_over_time({app=~".+"}[10s])))"#,
            10,
            10,
            0,
            entries,
        );
        assert_eq!(
            got,
            [Series {
                labels: Labels::new(),
                points: pts(&[(10, 2.5)])
            }]
        );
        // ...computed from folded groups: one slot per app.
        let mut e = Evaluator::new(
            &expr(r#"avg(sum by (app) (rate({app=~".+"}[10s])))"#),
            10 * S,
            10 * S,
            0,
        );
        for (l, ts, b) in entries {
            e.push(&labels(l), ts * S, *b);
        }
        assert_eq!(e.slots.len(), 2);
        assert_eq!(e.finish()[0].points, pts(&[(10, 0.25)]));
    }

    #[test]
    fn topk_per_step() {
        let entries: &[Entry] = &[
            (A, 10, 1),
            (B, 10, 1),
            (B, 10, 1),
            (C, 10, 1),
            (A, 20, 1),
            (A, 20, 1),
            (C, 20, 1),
            (C, 20, 1),
            (B, 20, 1),
        ];
        let got = eval(
            r#"topk(1, count_over_time({app=~".+"}[10s]))"#,
            10,
            20,
            10,
            entries,
        );
        // Step 10: B (2). Step 20: A and C tie at 2; A's labels are smaller.
        assert_eq!(
            got,
            [
                Series {
                    labels: labels(A),
                    points: pts(&[(20, 2.0)])
                },
                Series {
                    labels: labels(B),
                    points: pts(&[(10, 2.0)])
                },
            ]
        );
        let got = eval(
            r#"topk by (app) (1, count_over_time({app=~".+"}[10s]))"#,
            20,
            20,
            0,
            entries,
        );
        assert_eq!(
            got.iter().map(|s| s.labels.clone()).collect::<Vec<_>>(),
            [labels(A), labels(C)]
        );
        let got = eval(
            r#"topk(2, sum by (pod) (count_over_time({app=~".+"}[10s])))"#,
            10,
            10,
            0,
            entries,
        );
        assert_eq!(
            got,
            [
                Series {
                    labels: labels(&[("pod", "1")]),
                    points: pts(&[(10, 2.0)])
                },
                Series {
                    labels: labels(&[("pod", "2")]),
                    points: pts(&[(10, 2.0)])
                },
            ]
        );
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let q = expr(r#"count_over_time({app="a"}[1m])"#);
        let mut e = Evaluator::new(&q, i64::MIN, i64::MAX, i64::MAX);
        e.push(&labels(A), 0, 1);
        e.push(&labels(A), i64::MAX, 1);
        e.push(&labels(A), i64::MIN, 1);
        assert_eq!(e.finish()[0].points, [(i64::MIN, 1.0)]);
        let mut e = Evaluator::new(&q, i64::MAX - 100 * S, i64::MAX, 10 * S);
        e.push(&labels(A), i64::MAX, 1);
        e.push(&labels(A), i64::MAX - 100 * S, 1);
        let mut want: Vec<_> = (0..6)
            .map(|i| (i64::MAX - (100 - 10 * i) * S, 1.0))
            .collect();
        want.push((i64::MAX, 1.0));
        assert_eq!(e.finish()[0].points, want);
        let mut e = Evaluator::new(&q, i64::MIN + 5 * S, i64::MIN + 5 * S, 0);
        e.push(&labels(A), i64::MIN, 1);
        assert_eq!(e.finish()[0].points, [(i64::MIN + 5 * S, 1.0)]);
    }

    #[test]
    fn many_pushes_share_buckets() {
        let mut e = Evaluator::new(
            &expr(r#"count_over_time({app="a"}[1m])"#),
            60 * S,
            120 * S,
            60 * S,
        );
        let l = labels(A);
        for i in 0..10_000 {
            e.push(&l, S + i * (S / 100), 10);
        }
        assert_eq!(e.slots[0].buckets.len(), 2);
        let got = e.finish();
        assert_eq!(got[0].points, pts(&[(60, 5_901.0), (120, 4_099.0)]));
    }
}
