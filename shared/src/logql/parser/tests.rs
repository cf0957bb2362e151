use super::*;
use crate::logql::label_filter::LabelFilter;
use crate::logql::pipeline::Stage;
use crate::logql::{Grouping, MetricExpr, RangeExpr, RangeFunc, VectorOp, parse};

/// The one range aggregation of `m`.
fn range(m: &MetricExpr) -> &RangeExpr {
    m.ranges()[0]
}

fn err(q: &str) -> ParseError {
    match parse(q) {
        Ok(v) => panic!("{q} parsed: {v:?}"),
        Err(e) => e,
    }
}

fn metric(q: &str) -> MetricExpr {
    match parse(q) {
        Ok(Query::Metric(m)) => m,
        other => panic!("{q}: {other:?}"),
    }
}

#[test]
fn selectors() {
    let Query::Log(l) = parse(r#"{a="1", b!="2", c=~"3.*", d!~`4\d`}"#).unwrap() else {
        panic!("log")
    };
    let ops: Vec<_> = l
        .selector
        .matchers
        .iter()
        .map(|m| (m.name.as_str(), m.op, m.value.as_str()))
        .collect();
    assert_eq!(
        ops,
        [
            ("a", MatchOp::Eq, "1"),
            ("b", MatchOp::Ne, "2"),
            ("c", MatchOp::Re, "3.*"),
            ("d", MatchOp::Nre, "4\\d")
        ]
    );
    assert!(l.pipeline.is_empty());
    assert!(parse(r#"({a="1"})"#).is_ok());
    assert!(parse_selector(r#"{a=~".+"}"#, true).is_ok());
    assert!(parse_selector(r#"{a="1"} |= "x""#, true).is_err());
    // `!=""` does not match the empty string, so Loki accepts it.
    assert!(parse_selector(r#"{a!=""}"#, true).is_ok());
}

#[test]
fn empty_compatible_selectors() {
    for q in [
        r#"{a=~".*"}"#,
        r#"{a=""}"#,
        r#"{a!="x"}"#,
        "{}",
        r#"{a=~".*", b!~"x"}"#,
    ] {
        let e = err(q);
        assert_eq!(e.message, EMPTY_SELECTOR, "{q}");
        assert_eq!(e.col, 1);
    }
    assert!(parse_selector(r#"{a=~".*"}"#, true).is_err());
    assert_eq!(parse_selector("{}", false).unwrap().matchers.len(), 0);
    assert!(parse_selector(r#"{a=~".*"}"#, false).is_ok());
}

#[test]
fn error_positions() {
    let e = err(r#"{app="a"} |= "#);
    assert_eq!(
        e.to_string(),
        "parse error at line 1, col 14: syntax error: unexpected $end, expecting STRING"
    );
    let e = err(r#"{foo="bar""#);
    assert_eq!(
        e.to_string(),
        "parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,"
    );
    let e = err(r#"{app=foo}"#);
    assert_eq!(
        (e.col, e.message.as_str()),
        (6, "syntax error: unexpected IDENTIFIER, expecting STRING")
    );
    let e = err("{app=\"a\"}\n  | json |");
    assert_eq!((e.line, e.col, e.pos), (2, 11, 20));
    let e = err(r#"{a="b",}"#);
    assert_eq!(
        e.message,
        "syntax error: unexpected }, expecting IDENTIFIER"
    );
    let e = err(r#"{a="b"} x"#);
    assert_eq!(e.message, "syntax error: unexpected IDENTIFIER");
    let e = err(r#"{a=~"("}"#);
    assert_eq!(e.col, 5);
    assert!(e.message.starts_with("invalid regexp"));
    assert!(err("").message.contains("unexpected $end"));
}

#[test]
fn huge_regexes_are_errors() {
    let e = err(r#"{a=~"(a{1000}){1000}"}"#);
    assert!(e.message.contains("invalid regexp"), "{e}");
    assert!(
        err(r#"{a="b"} |~ "(a{1000}){1000}""#)
            .message
            .contains("invalid regexp")
    );
    assert!(
        err(&format!(
            r#"{{a="b"}} |~ "{}{}""#,
            "(".repeat(300),
            ")".repeat(300)
        ))
        .message
        .contains("regexp")
    );
}

#[test]
fn pipeline_stages() {
    let Query::Log(l) = parse(
        r#"{a="b"} |= "x" != "y" | json | logfmt |~ "z" | n > 1 | line_format "{{.n}}" | drop c, d="e" | keep n |> "<_> x" !> "y <_>" | regexp "(?P<m>\\w+)" | pattern "<p> <_>" | unpack | decolorize | label_format a=b, c="{{.d}}" | json e="f.g[0]" | logfmt --strict --keep-empty h, i="j""#,
    )
    .unwrap() else {
        panic!("log")
    };
    let kinds: Vec<_> = l
        .pipeline
        .stages
        .iter()
        .map(|s| match s {
            Stage::Line(f) => format!("{:?}", f.op),
            Stage::Json(e) => format!("json{}", e.as_ref().map_or(0, Vec::len)),
            Stage::Logfmt {
                strict,
                keep_empty,
                only,
            } => {
                format!(
                    "logfmt{strict}{keep_empty}{}",
                    only.as_ref().map_or(0, Vec::len)
                )
            }
            Stage::Regexp(..) => "regexp".into(),
            Stage::Pattern(_) => "pattern".into(),
            Stage::Unpack => "unpack".into(),
            Stage::Decolorize => "decolorize".into(),
            Stage::Label(_) => "label".into(),
            Stage::LineFormat(_) => "line_format".into(),
            Stage::LabelFormat(f) => format!("label_format{}", f.len()),
            Stage::Drop(m) => format!("drop{}", m.len()),
            Stage::Keep(m) => format!("keep{}", m.len()),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "Contains",
            "NotContains",
            "json0",
            "logfmtfalsefalse0",
            "Match",
            "label",
            "line_format",
            "drop2",
            "keep1",
            "Pattern",
            "NotPattern",
            "regexp",
            "pattern",
            "unpack",
            "decolorize",
            "label_format2",
            "json1",
            "logfmttruetrue2"
        ]
    );
}

#[test]
fn pipeline_errors() {
    assert!(
        err(r#"{a="b"} | json foo="a[x]""#)
            .message
            .contains("cannot parse expression")
    );
    assert!(
        err(r#"{a="b"} | unwrap x"#)
            .message
            .contains("unexpected |")
    );
    assert_eq!(
        err(r#"{a="b"} | x > "s""#).message,
        "syntax error: unexpected STRING, expecting NUMBER or DURATION or BYTES"
    );
    assert!(
        err(r#"{a="b"} | x =~ 5"#)
            .message
            .contains("expecting STRING")
    );
    assert!(err(r#"{a="b"} | (x="1""#).message.contains("expecting )"));
    assert!(
        err(r#"{a="b"} | drop"#)
            .message
            .contains("expecting IDENTIFIER")
    );
    let e = err(r#"{a="b"} | line_format "ab {{ upper .x ""#);
    assert_eq!(e.col, 27, "{e}");
    assert!(e.message.contains("invalid line template"), "{e}");
    assert!(
        err(r#"{a="b"} | regexp "(\\w+)""#)
            .message
            .contains("named capture")
    );
    assert!(
        err(r#"{a="b"} | pattern "<a><b>""#)
            .message
            .contains("consecutive capture")
    );
    assert!(
        err(r#"{a="b"} |> "<a> x""#)
            .message
            .contains("named captures are not allowed")
    );
    assert!(
        err(r#"{a="b"} | label_format a=b, a="x""#)
            .message
            .contains("multiple label name")
    );
    assert!(
        err(r#"{a="b"} | label_format __error__=b"#)
            .message
            .contains("cannot be formatted")
    );
    assert!(
        err(r#"{a="b"} | logfmt --nope"#)
            .message
            .contains("invalid logfmt flag")
    );
    assert!(
        err(r#"{a="b"} |= ip("nope")"#)
            .message
            .contains("ip: invalid pattern")
    );
    assert!(
        err(r#"{a="b"} |~ ip("10.0.0.1")"#)
            .message
            .contains("ip: invalid operation")
    );
}

#[test]
fn label_filter_precedence() {
    let Query::Log(l) = parse(r#"{a="b"} | x="1" or y="2" and z="3""#).unwrap() else {
        panic!("log")
    };
    let Stage::Label(LabelFilter::Or(_, r)) = &l.pipeline.stages[0] else {
        panic!("or at top")
    };
    assert!(matches!(**r, LabelFilter::And(..)));
    let Query::Log(l) = parse(r#"{a="b"} | (x="1" or y="2") and z="3""#).unwrap() else {
        panic!("log")
    };
    assert!(matches!(
        l.pipeline.stages[0],
        Stage::Label(LabelFilter::And(..))
    ));
    let Query::Log(l) = parse(r#"{a="b"} | x > 1.5, y <= 10s z == 2KB"#).unwrap() else {
        panic!("log")
    };
    assert_eq!(l.pipeline.stages.len(), 1);
}

#[test]
fn range_aggregations() {
    for (q, f) in [
        (r#"count_over_time({a="b"}[5m])"#, RangeFunc::CountOverTime),
        (r#"rate({a="b"} |= "x" | json [1m30s])"#, RangeFunc::Rate),
        (
            r#"bytes_over_time({a="b"}[1h] |= "x")"#,
            RangeFunc::BytesOverTime,
        ),
        (r#"bytes_rate(({a="b"} |= "x")[10s])"#, RangeFunc::BytesRate),
        (r#"rate(({a="b"} |= "x" [10s]))"#, RangeFunc::Rate),
        (r#"(rate(({a="b"}[10s])))"#, RangeFunc::Rate),
        (
            r#"sum_over_time({a="b"} | logfmt | unwrap n [1m])"#,
            RangeFunc::SumOverTime,
        ),
        (
            r#"absent_over_time({a="b"}[1m])"#,
            RangeFunc::AbsentOverTime,
        ),
        (
            r#"rate_counter({a="b"} | logfmt | unwrap n [1m])"#,
            RangeFunc::RateCounter,
        ),
    ] {
        let m = metric(q);
        assert_eq!(range(&m).func, f, "{q}");
    }
    assert_eq!(
        range(&metric(r#"rate({a="b"} |= "x" | json [1m30s])"#)).range_ns,
        90_000_000_000
    );
    assert_eq!(
        range(&metric(r#"bytes_over_time({a="b"}[1h] |= "x")"#))
            .query
            .pipeline
            .required_literals(),
        ["x"]
    );
    assert!(err(r#"rate({a="b"})"#).message.contains("expecting RANGE"));
    assert!(
        err(r#"rate({a="b"} |= "x" [1m] |= "y")"#)
            .message
            .contains("unexpected |=")
    );
    assert!(
        err(r#"rate({a="b"}[1m]) by (x)"#)
            .message
            .contains("grouping not allowed")
    );
    assert!(
        err(r#"avg_over_time({a="b"}[1m])"#)
            .message
            .contains("invalid aggregation avg_over_time without unwrap")
    );
    assert!(
        err(r#"count_over_time({a="b"} | unwrap x [1m])"#)
            .message
            .contains("with unwrap")
    );
    assert!(
        err(r#"quantile_over_time({a="b"} | unwrap x [1m])"#)
            .message
            .contains("parameter required")
    );
    assert!(
        err(r#"sum_over_time(0.5, {a="b"} | unwrap x [1m])"#)
            .message
            .contains("not supported")
    );
    assert!(
        err(r#"foo({a="b"}[1m])"#)
            .message
            .contains("unexpected IDENTIFIER")
    );
    assert!(
        err(r#"count_over_time({job="mysql"}[5m]) offset 5m"#)
            .message
            .contains("unexpected offset")
    );
}

#[test]
fn unwrap_and_offset() {
    let m = metric(
        r#"quantile_over_time(0.99, {a="b"} | json | unwrap duration(latency) | __error__="" [5m] offset 1h) by (path)"#,
    );
    let r = range(&m);
    assert_eq!(
        (r.param, r.offset_ns, r.range_ns),
        (Some(0.99), 3_600_000_000_000, 300_000_000_000)
    );
    let u = r.unwrap.as_ref().unwrap();
    assert_eq!(
        (u.label.as_str(), u.conv, u.post.len()),
        ("latency", crate::logql::Conv::Duration, 1)
    );
    assert_eq!(
        r.grouping,
        Some(Grouping {
            without: false,
            labels: vec!["path".into()]
        })
    );
    let m = metric(r#"max_over_time({a="b"}[1m] offset 5m | logfmt | unwrap bytes(size))"#);
    assert_eq!(
        range(&m).unwrap.as_ref().unwrap().conv,
        crate::logql::Conv::Bytes
    );
    let m = metric(r#"sum_over_time(({a="b"} | logfmt | unwrap n)[1m])"#);
    assert_eq!(range(&m).unwrap.as_ref().unwrap().label, "n");
}

#[test]
fn binary_operators_by_precedence() {
    let MetricExpr::Binary { op, rhs, .. } = metric(r#"sum(rate({a="b"}[1m])) + 2 * 3"#) else {
        panic!()
    };
    assert_eq!(op, crate::logql::BinOp::Add);
    assert!(
        matches!(*rhs, MetricExpr::Scalar(6.0)),
        "literals fold: {rhs:?}"
    );
    let MetricExpr::Binary { op, lhs, .. } = metric(r#"rate({a="b"}[1m]) * 2 > 10"#) else {
        panic!()
    };
    assert_eq!(op, crate::logql::BinOp::Gt);
    assert!(matches!(
        *lhs,
        MetricExpr::Binary {
            op: crate::logql::BinOp::Mul,
            ..
        }
    ));
    // `^` is right-associative: 2 ^ 3 ^ 2 = 2 ^ 9.
    assert!(matches!(metric("2 ^ 3 ^ 2"), MetricExpr::Scalar(512.0)));
    assert!(matches!(metric("1 + 1"), MetricExpr::Scalar(2.0)));
    let MetricExpr::Binary { modifier, .. } = metric(
        r#"sum by (a) (rate({a="b"}[1m])) / on (a) group_left (c) sum by (a, c) (rate({a="b"}[1m]))"#,
    ) else {
        panic!()
    };
    assert_eq!(modifier.on, Some((true, vec!["a".to_string()])));
    assert_eq!(
        (modifier.card, modifier.include.clone()),
        (crate::logql::Card::ManyToOne, vec!["c".to_string()])
    );
    let MetricExpr::Binary { modifier, .. } =
        metric(r#"rate({a="b"}[1m]) > bool ignoring(x) rate({a="c"}[1m])"#)
    else {
        panic!()
    };
    assert!(modifier.return_bool && modifier.on == Some((false, vec!["x".to_string()])));
    assert!(
        err(r#"rate({a="b"}[1m]) and 1"#)
            .message
            .contains("unexpected literal for right leg")
    );
    assert!(matches!(metric("vector(0)"), MetricExpr::VectorOf(0.0)));
    assert!(matches!(
        metric(r#"label_replace(rate({a="b"}[1m]), "foo", "$1", "a", "(.*)")"#),
        MetricExpr::LabelReplace { .. }
    ));
    assert!(
        err(r#"label_replace(rate({a="b"}[1m]), "1foo", "$1", "a", "(.*)")"#)
            .message
            .contains("destination label")
    );
    assert!(
        err(r#"label_replace(rate({a="b"}[1m]), "foo", "$1", "a", "(")"#)
            .message
            .contains("regular expression")
    );
}

#[test]
fn vector_aggregations() {
    let m = metric(r#"sum by (app, pod) (rate({a="b"}[5m]))"#);
    let MetricExpr::Vector {
        op: VectorOp::Sum,
        grouping: Some(g),
        ..
    } = &m
    else {
        panic!("{m:?}")
    };
    assert_eq!(
        g,
        &Grouping {
            without: false,
            labels: vec!["app".into(), "pod".into()]
        }
    );
    let m = metric(r#"sum(rate({a="b"}[5m])) without (pod)"#);
    let MetricExpr::Vector {
        grouping: Some(g), ..
    } = &m
    else {
        panic!("{m:?}")
    };
    assert!(g.without);
    let m = metric(r#"topk(3, sum by (pod) (count_over_time({a="b"}[1m])))"#);
    let MetricExpr::Vector {
        op: VectorOp::Topk(3),
        grouping: None,
        inner,
    } = &m
    else {
        panic!("{m:?}")
    };
    assert!(matches!(
        **inner,
        MetricExpr::Vector {
            op: VectorOp::Sum,
            ..
        }
    ));
    for (q, op) in [
        ("count", VectorOp::Count),
        ("avg", VectorOp::Avg),
        ("min", VectorOp::Min),
        ("max", VectorOp::Max),
    ] {
        let m = metric(&format!(
            r#"{q}(sum(count_over_time({{a="b"}}[1m]))) by ()"#
        ));
        let MetricExpr::Vector {
            op: got,
            grouping: Some(g),
            ..
        } = m
        else {
            panic!("{q}")
        };
        assert_eq!((got, g.labels.len()), (op, 0));
    }
    assert!(parse(r#"topk by (x) (2, rate({a="b"}[1m]))"#).is_ok());
    assert!(matches!(
        metric(r#"bottomk(2, rate({a="b"}[1m]))"#),
        MetricExpr::Vector {
            op: VectorOp::Bottomk(2),
            ..
        }
    ));
    assert!(matches!(
        metric(r#"sort_desc(rate({a="b"}[1m]))"#),
        MetricExpr::Vector {
            op: VectorOp::SortDesc,
            ..
        }
    ));
    assert!(matches!(
        metric(r#"stddev by (a) (rate({a="b"}[1m]))"#),
        MetricExpr::Vector {
            op: VectorOp::Stddev,
            ..
        }
    ));
    assert!(
        err(r#"topk(0, rate({a="b"}[1m]))"#)
            .message
            .contains("must be greater than 0")
    );
    assert!(
        err(r#"topk(1.5, rate({a="b"}[1m]))"#)
            .message
            .contains("must be greater than 0")
    );
    assert!(
        err(r#"topk(rate({a="b"}[1m]))"#)
            .message
            .contains("expecting NUMBER")
    );
    assert!(
        err(r#"sum(2, rate({a="b"}[1m]))"#)
            .message
            .contains("unsupported parameter")
    );
    assert!(err(r#"sum({a="b"})"#).message.contains("unexpected {"));
    assert!(
        err(r#"sum(rate({a="b"}[1m])) by (a) by (b)"#)
            .message
            .contains("unexpected by")
    );
    assert!(
        err(r#"sum by (a (rate({a="b"}[1m]))"#)
            .message
            .contains("expecting ) or ,")
    );
    let deep = format!(
        "{}{}{}",
        "sum(".repeat(100),
        r#"rate({a="b"}[1m])"#,
        ")".repeat(100)
    );
    assert!(err(&deep).message.contains("nested too deeply"));
}

#[test]
fn prefixes_never_panic() {
    let queries = [
        r#"topk by (a) (2, sum by (app, pod) (rate(({app=~"a.+", b!~`x`} |= "é\u00e9" != "y" | json | logfmt | n >= -1.5 and (d < 1m30s or s > 1KiB), x="1" | line_format "{{ .a }}é" | drop a, b="c" | keep d)[5m])))"#,
        r#"sum(count_over_time({a="b"}[1d] |~ "x")) without (a) # comment"#,
        r#"bytes_rate({a="b"} | drop x [1h])"#,
        r#"quantile_over_time(0.99, {a="b"} | json x="y[0]" | regexp "(?P<n>\\d+)" | unwrap duration(n) | __error__="" [1m] offset 5m) by (p) / on (p) group_left (q) sum by (p, q) (rate({a="b"} |> "<_> x" | pattern "<q> <_>" | label_format z="{{ if eq .q \"1\" }}y{{ else }}n{{ end }}" [1m])) > bool 0.5 or vector(0)"#,
        r#"label_replace(sort_desc(bottomk(3, absent_over_time({a="b"} |= ip("10.0.0.0/8") | decolorize | unpack [1m]))), "x", "$1", "a", "(.*)")"#,
    ];
    for q in queries {
        assert!(parse(q).is_ok(), "{q}: {:?}", parse(q).err());
        for (i, _) in q.char_indices() {
            let _ = parse(&q[..i]);
            let _ = parse(&q[i..]);
            let _ = parse_labels(&q[..i]);
        }
    }
}

#[test]
fn labels_strings() {
    assert_eq!(
        parse_labels(r#"{a="b", c="d\"e"}"#).unwrap(),
        [
            ("a".to_string(), "b".to_string()),
            ("c".to_string(), "d\"e".to_string())
        ]
    );
    assert_eq!(parse_labels("{}").unwrap(), []);
    assert!(
        parse_labels(r#"{a="b", a="c"}"#)
            .unwrap_err()
            .message
            .contains("duplicate")
    );
    assert!(parse_labels(r#"{a=~"b"}"#).is_err());
    assert!(parse_labels(r#"{a="b"} x"#).is_err());
    assert!(parse_labels(r#"{a="b""#).is_err());
}
