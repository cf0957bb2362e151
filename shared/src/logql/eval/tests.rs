use super::*;
use crate::logql::labels_of as labels;
use crate::logql::{Query, parse};

const S: i64 = 1_000_000_000;

/// Labels, timestamp in seconds, line.
type Entry = (&'static [(&'static str, &'static str)], i64, &'static str);

fn expr(q: &str) -> MetricExpr {
    match parse(q).unwrap() {
        Query::Metric(m) => m,
        Query::Log(_) => panic!("log query"),
    }
}

/// Evaluates `q` over entries (each through its leaf's pipeline), seconds.
fn eval_q(
    q: &str,
    start: i64,
    end: i64,
    step: i64,
    entries: &[Entry],
) -> Result<Evaluated, EvalError> {
    let m = expr(q);
    let mut e = Evaluator::new(&m, start * S, end * S, step * S);
    for (i, r) in m.ranges().into_iter().enumerate() {
        for (l, ts, line) in entries {
            let l = labels(l);
            if !r.query.selector.matches(&l) {
                continue;
            }
            if let Some((out, text)) = r.query.pipeline.process(&l, line) {
                e.push(i, &out, ts * S, text.len());
            }
        }
    }
    e.finish()
}

fn eval(q: &str, start: i64, end: i64, step: i64, entries: &[Entry]) -> Vec<Series> {
    eval_q(q, start, end, step, entries)
        .unwrap_or_else(|e| panic!("{q}: {e}"))
        .series
}

fn pts(v: &[(i64, f64)]) -> Vec<(i64, f64)> {
    v.iter().map(|&(t, x)| (t * S, x)).collect()
}

const A: &[(&str, &str)] = &[("app", "a"), ("pod", "1")];
const B: &[(&str, &str)] = &[("app", "a"), ("pod", "2")];
const C: &[(&str, &str)] = &[("app", "c"), ("pod", "1")];

#[test]
fn count_over_time_left_open_window() {
    let entries: &[Entry] = &[
        (A, 30, "x"),
        (A, 10, "x"),
        (A, 20, "x"),
        (A, 30, "x"),
        (A, 40, "x"),
    ];
    let got = eval(r#"count_over_time({app="a"}[10s])"#, 10, 60, 10, entries);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].labels, labels(A));
    assert_eq!(
        got[0].points,
        pts(&[(10, 1.0), (20, 1.0), (30, 2.0), (40, 1.0)])
    );
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
    let got = eval(r#"count_over_time({app="a"}[15s])"#, 0, 60, 20, entries);
    assert_eq!(got[0].points, pts(&[(20, 2.0), (40, 3.0)]));
}

#[test]
fn rates_bytes_and_instants() {
    let entries: &[Entry] = &[(A, 1, "xxxxxxxxxx"), (A, 2, "xxxxx"), (A, 5, "x")];
    assert_eq!(
        eval(r#"rate({app="a"}[4s])"#, 2, 6, 2, entries)[0].points,
        pts(&[(2, 0.5), (4, 0.5), (6, 0.25)])
    );
    assert_eq!(
        eval(r#"bytes_over_time({app="a"}[4s])"#, 2, 6, 2, entries)[0].points,
        pts(&[(2, 15.0), (4, 15.0), (6, 1.0)])
    );
    assert_eq!(
        eval(r#"bytes_rate({app="a"}[4s])"#, 2, 6, 2, entries)[0].points,
        pts(&[(2, 3.75), (4, 3.75), (6, 0.25)])
    );
    let got = eval(
        r#"count_over_time({app="a"}[1m])"#,
        100,
        100,
        0,
        &[(A, 40, "x"), (A, 41, "x"), (A, 100, "x"), (B, 99, "x")],
    );
    assert_eq!((got.len(), got[0].points.clone()), (2, pts(&[(100, 2.0)])));
}

#[test]
fn sum_folds_groups_and_vector_ops_apply() {
    let entries: &[Entry] = &[(A, 10, "x"), (B, 10, "x"), (B, 20, "x"), (C, 20, "x")];
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
    let q = |op: &str| format!(r#"{op} by (app) (count_over_time({{app=~".+"}}[10s]))"#);
    let val = |got: &[Series]| got.iter().map(|s| s.points[0].1).collect::<Vec<_>>();
    let e2: &[Entry] = &[
        (A, 10, "x"),
        (B, 10, "x"),
        (B, 9, "x"),
        (B, 8, "x"),
        (C, 10, "x"),
    ];
    assert_eq!(val(&eval(&q("count"), 10, 10, 0, e2)), [2.0, 1.0]);
    assert_eq!(val(&eval(&q("avg"), 10, 10, 0, e2)), [2.0, 1.0]);
    assert_eq!(val(&eval(&q("min"), 10, 10, 0, e2)), [1.0, 1.0]);
    assert_eq!(val(&eval(&q("max"), 10, 10, 0, e2)), [3.0, 1.0]);
    assert_eq!(val(&eval(&q("stddev"), 10, 10, 0, e2)), [1.0, 0.0]);
    assert_eq!(val(&eval(&q("stdvar"), 10, 10, 0, e2)), [1.0, 0.0]);
}

#[test]
fn topk_bottomk_sort() {
    let entries: &[Entry] = &[
        (A, 10, "x"),
        (B, 10, "x"),
        (B, 10, "x"),
        (C, 10, "x"),
        (C, 10, "x"),
        (C, 10, "x"),
    ];
    let names = |got: &[Series]| got.iter().map(|s| s.labels.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&eval(
            r#"topk(1, count_over_time({app=~".+"}[10s]))"#,
            10,
            10,
            0,
            entries
        )),
        [labels(C)]
    );
    assert_eq!(
        names(&eval(
            r#"bottomk(1, count_over_time({app=~".+"}[10s]))"#,
            10,
            10,
            0,
            entries
        )),
        [labels(A)]
    );
    assert_eq!(
        names(&eval(
            r#"sort_desc(count_over_time({app=~".+"}[10s]))"#,
            10,
            10,
            0,
            entries
        )),
        [labels(C), labels(B), labels(A)]
    );
    assert_eq!(
        names(&eval(
            r#"sort(count_over_time({app=~".+"}[10s]))"#,
            10,
            10,
            0,
            entries
        )),
        [labels(A), labels(B), labels(C)]
    );
}

#[test]
fn unwrapped_aggregations() {
    let entries: &[Entry] = &[
        (A, 1, "d=1s n=1"),
        (A, 2, "d=2s n=4"),
        (A, 3, "d=3s n=2"),
        (A, 4, "d=bad n=x"),
        (A, 5, "n=8"),
    ];
    let at = |f: &str| {
        let q = format!(r#"{f}({{app="a"}} | logfmt n | unwrap n | __error__="" [5s])"#);
        eval(&q, 5, 5, 0, entries)[0].points[0].1
    };
    assert_eq!(at("sum_over_time"), 15.0);
    assert_eq!(at("avg_over_time"), 3.75);
    assert_eq!(at("min_over_time"), 1.0);
    assert_eq!(at("max_over_time"), 8.0);
    assert_eq!(at("first_over_time"), 1.0);
    assert_eq!(at("last_over_time"), 8.0);
    assert_eq!(at("stdvar_over_time"), 7.1875);
    assert_eq!(at("rate"), 3.0);
    let q = r#"quantile_over_time(0.5, {app="a"} | logfmt n | unwrap n | __error__="" [5s])"#;
    assert_eq!(eval(q, 5, 5, 0, entries)[0].points[0].1, 3.0);
    let q = r#"sum_over_time({app="a"} | logfmt d | unwrap duration(d) | __error__="" [5s])"#;
    assert_eq!(eval(q, 5, 5, 0, entries)[0].points[0].1, 6.0);
    // The unwrapped label leaves the series; a grouping replaces its labels.
    let got = eval(
        r#"max_over_time({app="a"} | logfmt n | unwrap n | __error__="" [5s])"#,
        5,
        5,
        0,
        entries,
    );
    assert!(!got[0].labels.contains_key("n") && got[0].labels.contains_key("pod"));
    let got = eval(
        r#"max_over_time({app="a"} | logfmt | unwrap n | __error__="" [5s]) by (app)"#,
        5,
        5,
        0,
        entries,
    );
    assert_eq!(got[0].labels, labels(&[("app", "a")]));
    // Without the filter, the bad sample fails the query, in Loki's words.
    let e = eval_q(
        r#"sum_over_time({app="a"} | logfmt n | unwrap n [5s])"#,
        5,
        5,
        0,
        entries,
    )
    .unwrap_err();
    assert!(
        e.message
            .starts_with("pipeline error: 'SampleExtractionErr'"),
        "{e}"
    );
}

#[test]
fn rate_counter_absent_and_offset() {
    let entries: &[Entry] = &[
        (A, 10, "c=10"),
        (A, 20, "c=20"),
        (A, 30, "c=5"),
        (A, 40, "c=15"),
    ];
    let got = eval(
        r#"rate_counter({app="a"} | logfmt | unwrap c [30s])"#,
        40,
        40,
        0,
        entries,
    );
    // Increase 20 -> 5 is a reset: 5 + 10 = 15 over 20 s of samples, extrapolated.
    assert!((got[0].points[0].1 - 0.75).abs() < 1e-9, "{got:?}");
    let got = eval(
        r#"absent_over_time({app="a", pod="1"}[5s])"#,
        10,
        20,
        5,
        &[(A, 10, "x")],
    );
    assert_eq!(got[0].labels, labels(&[("app", "a"), ("pod", "1")]));
    assert_eq!(got[0].points, pts(&[(15, 1.0), (20, 1.0)]));
    let got = eval(
        r#"count_over_time({app="a"}[10s] offset 20s)"#,
        40,
        40,
        0,
        &[(A, 15, "x"), (A, 25, "x"), (A, 35, "x")],
    );
    assert_eq!(got[0].points, pts(&[(40, 1.0)]));
}

#[test]
fn binary_operators() {
    let entries: &[Entry] = &[(A, 10, "x"), (B, 10, "x"), (B, 10, "x"), (C, 10, "x")];
    let v = |q: &str| {
        eval(q, 10, 10, 0, entries)
            .iter()
            .map(|s| (s.labels.clone(), s.points[0].1))
            .collect::<Vec<_>>()
    };
    let pod = |p: &str| labels(&[("pod", p)]);
    assert_eq!(
        v(r#"sum(count_over_time({app=~".+"}[10s])) * 2"#),
        [(Labels::new(), 8.0)]
    );
    assert_eq!(
        v(r#"10 - sum(count_over_time({app=~".+"}[10s]))"#),
        [(Labels::new(), 6.0)]
    );
    assert_eq!(
        v(r#"count_over_time({app=~".+"}[10s]) > 1"#),
        [(labels(B), 2.0)]
    );
    assert_eq!(
        v(r#"count_over_time({app="a"}[10s]) > bool 1"#),
        [(labels(A), 0.0), (labels(B), 1.0)]
    );
    let ratio = r#"sum by (pod) (count_over_time({app=~".+"}[10s])) / on () group_left sum(count_over_time({app=~".+"}[10s]))"#;
    assert_eq!(v(ratio), [(pod("1"), 0.5), (pod("2"), 0.5)]);
    let e = eval_q(r#"sum by (pod) (count_over_time({app=~".+"}[10s])) / on () sum(count_over_time({app=~".+"}[10s]))"#, 10, 10, 0, entries)
        .unwrap_err();
    assert!(
        e.message.contains("many-to-one matching must be explicit"),
        "{e}"
    );
    assert_eq!(
        v(
            r#"sum by (pod) (count_over_time({app=~".+"}[10s])) + sum by (pod) (count_over_time({app="c"}[10s]))"#
        ),
        [(pod("1"), 3.0)]
    );
    assert_eq!(
        v(
            r#"sum by (pod) (count_over_time({app=~".+"}[10s])) and sum by (pod) (count_over_time({app="c"}[10s]))"#
        ),
        [(pod("1"), 2.0)]
    );
    assert_eq!(
        v(
            r#"sum by (pod) (count_over_time({app=~".+"}[10s])) unless sum by (pod) (count_over_time({app="c"}[10s]))"#
        ),
        [(pod("2"), 2.0)]
    );
    assert_eq!(
        v(r#"sum(count_over_time({app="zzz"}[10s])) or vector(0)"#),
        [(Labels::new(), 0.0)]
    );
    assert_eq!(v("vector(1) + vector(1)"), [(Labels::new(), 2.0)]);
    let replaced =
        v(r#"label_replace(count_over_time({app="c"}[10s]), "svc", "$1-x", "app", "(.*)")"#);
    assert_eq!(replaced[0].0["svc"], "c-x");
    let scalar = eval_q("1 + 2 * 3", 10, 10, 0, &[]).unwrap();
    assert!(scalar.scalar);
    assert_eq!(scalar.series[0].points, pts(&[(10, 7.0)]));
}

#[test]
fn pipeline_errors_fail_metric_queries() {
    let entries: &[Entry] = &[(A, 10, r#"{"a":1}"#), (A, 10, "not json")];
    let e = eval_q(
        r#"count_over_time({app="a"} | json [10s])"#,
        10,
        10,
        0,
        entries,
    )
    .unwrap_err();
    assert!(e.message.contains("'JSONParserErr'"), "{e}");
    let got = eval(
        r#"count_over_time({app="a"} | json | __error__="" [10s])"#,
        10,
        10,
        0,
        entries,
    );
    assert_eq!(got[0].points[0].1, 1.0);
}
