use super::*;
use crate::logql::labels_of as labels;
use crate::logql::{Query, parse};

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

fn line_of(q: &str, line: &str) -> String {
    run(q, line).expect("passes").1
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
    // Alternatives: either for |=, neither for !=.
    assert!(passes(r#"{app="a"} |= "x" or "y""#, "a y"));
    assert!(!passes(r#"{app="a"} != "x" or "y""#, "a y"));
    assert!(passes(r#"{app="a"} != "x" or "y""#, "a z"));
    // Pattern filters and IP filters.
    assert!(passes(
        r#"{app="a"} |> "<_> level=error <_>""#,
        "ts=1 level=error msg=x"
    ));
    assert!(!passes(
        r#"{app="a"} !> "<_> level=error <_>""#,
        "ts=1 level=error msg=x"
    ));
    assert!(passes(
        r#"{app="a"} |= ip("192.168.4.5/16")"#,
        "from 192.168.9.9 ok"
    ));
    assert!(passes(
        r#"{app="a"} != ip("192.168.4.5-192.168.4.20")"#,
        "from 192.168.4.21"
    ));
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
    assert!(matches!(
        p.process(&base, "{}").unwrap().0,
        Cow::Borrowed(_)
    ));
}

#[test]
fn required_literals_stop_at_line_changes() {
    let p = pipeline(
        r#"{app="a"} |= "a" != "b" | json |= "c" |~ "d" |> "<_> e <_>" | line_format "{{.x}}" |= "f""#,
    );
    assert_eq!(p.required_literals(), ["a", "c", " e "]);
    let p = pipeline(r#"{app="a"} |= "a" or "b""#);
    assert!(
        p.required_literals().is_empty(),
        "alternatives need neither"
    );
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
    assert!(Pipeline::from_filters(&[(LineOp::Match, "(".to_string())], false).is_err());
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
fn json_expressions() {
    let line = r#"{"servers":["a","b"],"request":{"headers":{"User-Agent":"curl"}},"app":"z"}"#;
    let (l, _) = run(
        r#"{app="a"} | json first_server="servers[0]", ua="request.headers[\"User-Agent\"]", servers, app, missing"#,
        line,
    )
    .unwrap();
    assert_eq!(l["first_server"], "a");
    assert_eq!(l["ua"], "curl");
    assert_eq!(l["servers"], r#"["a","b"]"#);
    assert_eq!(l["app_extracted"], "z");
    assert_eq!(l["missing"], "");
    let (l, _) = run(r#"{app="a"} | json x="y""#, "nope").unwrap();
    assert_eq!(l["__error__"], "JSONParserErr");
}

#[test]
fn logfmt_stage() {
    let (l, _) = run(r#"{app="a"} | logfmt"#, r#"app=b msg="hi there" flag"#).unwrap();
    assert_eq!(
        l,
        labels(&[("app", "a"), ("app_extracted", "b"), ("msg", "hi there")])
    );
    let (l, _) = run(r#"{app="a"} | logfmt --keep-empty"#, "flag").unwrap();
    assert_eq!(l["flag"], "");
    // Loki 3 skips what it cannot read; --strict stops and marks the entry.
    let (l, _) = run(r#"{app="a"} | logfmt"#, r#"a=1 b="x"#).unwrap();
    assert!(!l.contains_key("__error__"));
    let (l, _) = run(r#"{app="a"} | logfmt --strict"#, r#"a=1 =x"#).unwrap();
    assert_eq!(l["__error__"], "LogfmtParserErr");
    let (l, _) = run(
        r#"{app="a"} | logfmt host, fwd_ip="fwd""#,
        "host=h fwd=1.2.3.4 other=x",
    )
    .unwrap();
    assert_eq!(
        l,
        labels(&[("app", "a"), ("fwd_ip", "1.2.3.4"), ("host", "h")])
    );
}

#[test]
fn regexp_pattern_unpack() {
    let (l, _) = run(
        r#"{app="a"} | regexp "(?P<method>\\w+) (?P<path>[\\w|/]+) \\((?P<status>\\d+?)\\) (?P<duration>.*)""#,
        "GET /api/x (200) 1.5ms",
    )
    .unwrap();
    assert_eq!(
        (
            l["method"].as_str(),
            l["path"].as_str(),
            l["status"].as_str()
        ),
        ("GET", "/api/x", "200")
    );
    assert_eq!(l["duration"], "1.5ms");
    let (l, _) = run(
        r#"{app="a"} | pattern "<ip> - <user> [<_>]""#,
        "10.0.0.1 - bob [now]",
    )
    .unwrap();
    assert_eq!((l["ip"].as_str(), l["user"].as_str()), ("10.0.0.1", "bob"));
    let (l, line) = run(
        r#"{app="a"} | unpack"#,
        r#"{"_entry":"the line","pod":"p"}"#,
    )
    .unwrap();
    assert_eq!((line.as_str(), l["pod"].as_str()), ("the line", "p"));
    let (l, _) = run(r#"{app="a"} | unpack"#, "not json").unwrap();
    assert_eq!(l["__error__"], "JSONParserErr");
}

#[test]
fn label_filters_numbers_durations_bytes() {
    let q = r#"{app="a"} | logfmt | status >= 400 and dur > 1s or size < 1KB"#;
    assert!(passes(q, "status=500 dur=1.5s size=5000"));
    assert!(!passes(q, "status=500 dur=500ms size=5000"));
    assert!(passes(q, "status=200 dur=5s size=999B"));
    assert!(passes(q, "status=200 dur=5s size=999"));
    assert!(!passes(q, "status=200 dur=5s size=2KiB"));
    let q = r#"{app="a"} | logfmt | status >= 400 and (dur > 1s or size < 1KB)"#;
    assert!(!passes(q, "status=200 dur=5s size=10"));
    assert!(passes(q, "status=404 dur=0s size=10"));
    let q = r#"{app="a"} | logfmt | a="1", b="2" c=~"3.*""#;
    assert!(passes(q, "a=1 b=2 c=345"));
    assert!(!passes(q, "a=1 b=2 c=45"));
    // As Loki: absent fails; a value that does not convert passes, marked.
    let (l, _) = run(r#"{app="a"} | logfmt | n > 1"#, "n=abc").unwrap();
    assert_eq!(l["__error__"], "LabelFilterErr");
    assert!(!passes(r#"{app="a"} | logfmt | n != 1"#, "m=2"));
    assert!(passes(r#"{app="a"} | logfmt | n == 2.5"#, "n=2.5"));
    assert!(passes(r#"{app="a"} | logfmt | n < -1"#, "n=-3"));
    assert!(passes(r#"{app="a"} | logfmt | d <= 1m30s"#, "d=90s"));
    assert!(passes(r#"{app="a"} | logfmt | s = 1MiB"#, "s=1048576"));
    assert!(passes(r#"{app="a"} | nope="""#, "x"));
    assert!(passes(r#"{app="a"} | nope!="x""#, "x"));
    assert!(passes(
        r#"{app="a"} | logfmt | addr = ip("192.168.4.0/24") or addr = ip("10.10.15.0/24")"#,
        "addr=10.10.15.7"
    ));
    assert!(!passes(
        r#"{app="a"} | logfmt | addr != ip("10.10.15.7")"#,
        "addr=10.10.15.7"
    ));
}

#[test]
fn line_format_templates() {
    let l = line_of(
        r#"{app="a"} | logfmt | line_format "{{.lvl}}: {{ .msg }} ({{.app}}) {{.none}}!""#,
        "lvl=warn msg=hey",
    );
    assert_eq!(l, "warn: hey (a) !");
    assert!(passes(
        r#"{app="a"} | line_format "x{{.app}}y" |= "xay""#,
        "zzz"
    ));
    assert_eq!(
        line_of(
            r#"{app="a"} | logfmt | line_format "{{ .path | replace \" \" \"_\" | trunc 5 | upper }}""#,
            r#"path="a b c d e f""#
        ),
        "A_B_C"
    );
    assert_eq!(
        line_of(
            r#"{app="a"} | line_format `{{ __line__ | count "XYZ"}}`"#,
            "XYZ a XYZ"
        ),
        "2"
    );
    assert_eq!(
        line_of(
            r#"{app="a"} | logfmt | line_format "{{div .d 1000}}""#,
            "d=12345"
        ),
        "12"
    );
    assert_eq!(
        line_of(
            r#"{app="a"} | json | line_format `{{.x | default "-"}}`"#,
            r#"{"y":1}"#
        ),
        "-"
    );
    // A template that fails marks the entry and keeps the line.
    let (l, line) = run(r#"{app="a"} | line_format "{{ index .app 5 }}""#, "orig").unwrap();
    assert_eq!(
        (l["__error__"].as_str(), line.as_str()),
        ("TemplateFormatErr", "orig")
    );
}

#[test]
fn label_format_renames_and_templates() {
    let (l, _) = run(
        r#"{app="a"} | logfmt | label_format dst=src, up="{{ upper .src }}""#,
        "src=v",
    )
    .unwrap();
    assert_eq!(l, labels(&[("app", "a"), ("dst", "v"), ("up", "")]));
    let (l, _) = run(
        r#"{app="a"} | label_format foo=bar | label_format foo="new""#,
        "x",
    )
    .unwrap();
    assert_eq!(l["foo"], "new");
    let (l, _) = run(
        r#"{app="a"} | logfmt | label_format q="{{ Replace .q \"\\n\" \"\" -1 }}""#,
        r#"q="a\nb""#,
    )
    .unwrap();
    assert_eq!(l["q"], "ab");
}

#[test]
fn decolorize_drop_keep() {
    assert_eq!(
        line_of(r#"{app="a"} | decolorize"#, "\u{1b}[31mred\u{1b}[0m text"),
        "red text"
    );
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
}

#[test]
fn structured_metadata_and_time_reach_the_stages() {
    let base = labels(&[("app", "a")]);
    let meta = vec![
        ("detected_level".to_string(), "error".to_string()),
        ("app".to_string(), "x".to_string()),
    ];
    let p = pipeline(
        r#"{app="a"} | detected_level="error" | line_format "{{.app}} {{ __timestamp__ | unixEpoch }}""#,
    );
    let (l, line) = p
        .process_entry(&base, &meta, 1_700_000_000_000_000_000, "x")
        .unwrap();
    assert_eq!(l["detected_level"], "error");
    assert_eq!(l["app"], "a", "a stream label wins a clash");
    assert_eq!(line, "a 1700000000");
    assert!(p.process_entry(&base, &[], 0, "x").is_none());
}
