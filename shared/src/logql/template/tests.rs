use super::*;
use crate::logql::labels_of;

fn render(t: &str, labels: &[(&str, &str)]) -> Result<String, String> {
    let l = labels_of(labels);
    let tpl = Template::parse(t).map_err(|e| format!("parse: {e:?}"))?;
    tpl.render(&Entry {
        labels: &l,
        line: "the Line",
        ts: 1_635_847_445_000_000_000,
    })
}

fn ok(t: &str, labels: &[(&str, &str)]) -> String {
    render(t, labels).unwrap_or_else(|e| panic!("{t}: {e}"))
}

#[test]
fn documented_snippets() {
    let foo = [("foo", "2021-11-02T10:04:05Z")];
    assert_eq!(
        ok(
            r#"{{ .path | replace " " "_" | trunc 5 | upper }}"#,
            &[("path", "a b c d")]
        ),
        "A_B_C"
    );
    assert_eq!(
        ok(
            r#"{{ if and (contains "he" "hello") (contains "llo" "hello") }} yes {{end}}"#,
            &[]
        ),
        " yes "
    );
    assert_eq!(
        ok(
            r#"{{ if contains "ErrTimeout" .err }} timeout {{else if contains "he" "hello"}} yes {{else}} no {{end}}"#,
            &[("err", "x")]
        ),
        " yes "
    );
    assert_eq!(ok("{{ __line__ | lower }}", &[]), "the line");
    assert_eq!(
        ok("{{ __timestamp__ }}", &[]),
        "2021-11-02 10:04:05 +0000 UTC"
    );
    assert_eq!(
        ok(
            r#"{{ __timestamp__ | date "2006-01-02T15:04:05.00Z-07:00" }}"#,
            &[]
        ),
        "2021-11-02T10:04:05.00Z+00:00"
    );
    assert_eq!(ok("{{ __timestamp__ | unixEpoch }}", &[]), "1635847445");
    assert_eq!(ok("{{ .foo | duration }}", &[("foo", "1m30s")]), "90");
    assert_eq!(
        ok("{{ duration_seconds .foo }}", &[("foo", "250ms")]),
        "0.25"
    );
    assert_eq!(
        ok(r#"{{ toDate "2006-01-02" "2021-11-02" | unixEpoch }}"#, &[]),
        "1635811200"
    );
    assert_eq!(
        ok(
            r#"{{ .foo | toDateInZone "2006-01-02T15:04:05.999999999Z" "UTC" | unixEpochMillis }}"#,
            &foo
        ),
        "1635847445000"
    );
    assert_eq!(
        ok(
            r#"{{ .foo | toDateInZone "2006-01-02T15:04:05.999999999Z" "UTC" | unixEpochNanos }}"#,
            &foo
        ),
        "1635847445000000000"
    );
    assert_eq!(ok(r#"{{ alignLeft 5 "hello world"}}"#, &[]), "hello");
    assert_eq!(ok(r#"{{ alignLeft 5 "hi"}}"#, &[]), "hi   ");
    assert_eq!(ok(r#"{{ alignRight 5 "hello world"}}"#, &[]), "world");
    assert_eq!(ok(r#"{{ alignRight 5 "hi"}}"#, &[]), "   hi");
    assert_eq!(ok("{{ .foo | b64enc }}", &[("foo", "hi")]), "aGk=");
    assert_eq!(ok("{{ .foo | b64dec }}", &[("foo", "aGk")]), "hi");
    assert_eq!(
        ok(
            r#"{{ date "2006-01-02" (unixToTime .from) }}"#,
            &[("from", "1635847445")]
        ),
        "2021-11-02"
    );
    // The docs' own typo (`contains("llo"`) does not parse, in Go either.
    assert!(
        render(
            r#"{{ if or (contains "he" "hello") (contains("llo" "hello") }} yes {{end}}"#,
            &[]
        )
        .is_err()
    );
}

#[test]
fn range_over_from_json_and_variables() {
    let q = r#"[{"query":"a"},{"query":"b"}]"#;
    assert_eq!(
        ok(
            r#"{{ range $q := fromJson .queries }} {{ $q.query }} {{ end }}"#,
            &[("queries", q)]
        ),
        " a  b "
    );
    assert_eq!(
        ok(
            r#"{{ range $i, $v := fromJson .l }}{{$i}}={{$v}};{{ end }}"#,
            &[("l", "[5,6]")]
        ),
        "0=5;1=6;"
    );
    assert_eq!(
        ok(r#"{{ $x := upper .a }}{{ $x }}{{ $x }}"#, &[("a", "b")]),
        "BB"
    );
    assert_eq!(
        ok(
            "{{- .a -}} {{/* comment */}} {{ .b }}",
            &[("a", "1"), ("b", "2")]
        ),
        "1 2"
    );
    assert_eq!(
        ok(r#"{{ with .a }}[{{ . }}]{{ else }}none{{ end }}"#, &[]),
        "none"
    );
}

#[test]
fn functions() {
    assert_eq!(
        ok(
            r#"{{ printf "%-6.3s|%5d|%.2f|%q" .a 42 3.14159 "x" }}"#,
            &[("a", "abcdef")]
        ),
        r#"abc   |   42|3.14|"x""#
    );
    assert_eq!(
        ok(
            "{{ add 1 .n 3 }} {{ sub .n 1 }} {{ mul 2 3 }} {{ mod 7 3 }}",
            &[("n", "5")]
        ),
        "9 4 6 1"
    );
    assert_eq!(
        ok(
            "{{ addf 1.5 2 }} {{ divf 1 4 }} {{ round 3.14159 2 }} {{ ceil 1.2 }}",
            &[]
        ),
        "3.5 0.25 3.14 2"
    );
    assert_eq!(
        ok(
            "{{ max 1 5 3 }} {{ min 4 2 }} {{ int \"7\" }} {{ float64 \"1.5\" }}",
            &[]
        ),
        "5 2 7 1.5"
    );
    assert_eq!(
        ok(
            r#"{{ regexReplaceAll "(a+)" .s "<$1>" }}"#,
            &[("s", "baaad")]
        ),
        "b<aaa>d"
    );
    assert_eq!(
        ok(
            r#"{{ regexReplaceAllLiteral "a+" .s "$1" }}"#,
            &[("s", "baad")]
        ),
        "b$1d"
    );
    assert_eq!(
        ok(
            r#"{{ title "hello world" }} {{ substr 1 3 "abcd" }} {{ repeat 3 "ab" }}"#,
            &[]
        ),
        "Hello World bc ababab"
    );
    assert_eq!(
        ok(
            r#"{{ trimAll "-" "--a--" }} {{ trimPrefix "x" "xy" }} {{ TrimSpace "  z " }}"#,
            &[]
        ),
        "a y z"
    );
    assert_eq!(
        ok(
            r#"{{ hasPrefix "ab" "abc" }} {{ eq .a "1" "2" }} {{ lt 1 2 }} {{ not true }}"#,
            &[("a", "2")]
        ),
        "true true true false"
    );
    assert_eq!(
        ok(r#"{{ urlencode "a b&c" }} {{ urldecode "a+b%26c" }}"#, &[]),
        "a+b%26c a b&c"
    );
    assert_eq!(
        ok(
            r#"{{ bytes "2KB" }} {{ len .a }} {{ index (fromJson "[1,2]") 1 }}"#,
            &[("a", "abc")]
        ),
        "2000 3 2"
    );
    assert!(render("{{ nosuch .a }}", &[]).is_err());
    assert!(render("{{ div 1 0 }}", &[]).is_err());
    assert!(render(r#"{{ eq 1 "a" }}"#, &[]).is_err());
}

#[test]
fn parse_errors_point_at_the_action() {
    assert_eq!(Template::parse("ab {{ .x").unwrap_err().0, 3);
    assert_eq!(Template::parse("ab {{ if .x }}").unwrap_err().0, 3);
    assert!(Template::parse("{{ end }}").is_err());
    assert!(Template::parse("{{ define \"x\" }}{{ end }}").is_err());
    assert!(Template::parse("{{ .a }}").unwrap().is_simple());
    assert!(!Template::parse("{{ .a | upper }}").unwrap().is_simple());
}

#[test]
fn runaway_output_is_an_error() {
    let t = r#"{{ range $i := fromJson .l }}{{ repeat 65536 "xxxxxxxxxxxxxxxx" }}{{ end }}"#;
    assert!(render(t, &[("l", "[1,2,3]")]).is_err());
}

/// A request's template bounds what it may cost: each of these used to
/// panic (a sliced character), trap (an allocation of gigabytes) or
/// overflow the stack; each is now an error the pipeline reports.
#[test]
fn hostile_templates_are_errors_not_traps() {
    let parse_err = |t: &str| {
        let e = Template::parse(t).err();
        assert!(e.is_some(), "{t} parsed");
    };
    parse_err("{{ é }}");
    parse_err("{{ .a | 日本 }}");
    parse_err(&"{{if 1}}".repeat(100_000));
    parse_err(&format!(
        "{{{{ {}1{} }}}}",
        "(".repeat(100),
        ")".repeat(100)
    ));
    let nested = format!("{}x{}", "{{if 1}}".repeat(60), "{{end}}".repeat(60));
    assert_eq!(ok(&nested, &[]), "x", "60 levels are fine");

    let render_err = |t: &str, want: &str| {
        let e = render(t, &[("app", "a")]).expect_err(t);
        assert!(e.contains(want), "{t}: {e}");
    };
    render_err("{{ range 100000000 }}{{ end }}", "steps");
    render_err(
        "{{ range 1000 }}{{ range 1000 }}{{ end }}{{ end }}",
        "steps",
    );
    // Each refused by the function, before it allocates (the output check
    // after it would be too late: the allocation is the trap).
    let over = |name: &str| format!("{name}: the result would exceed 1 MiB");
    render_err("{{ alignLeft 3000000000 .app }}", &over("align"));
    render_err(r#"{{ repeat 65536 (repeat 65536 "x") }}"#, &over("repeat"));
    render_err(
        r#"{{ replace "x" (repeat 4096 "y") (repeat 4096 "x") }}"#,
        &over("replace"),
    );
    render_err(
        r#"{{ regexReplaceAll "x" (repeat 4096 "x") (repeat 512 "$0") }}"#,
        &over("regexReplaceAll"),
    );
    render_err(
        r#"{{ regexReplaceAll ".+" (repeat 65536 "x") (repeat 65536 "$0") }}"#,
        &over("regexReplaceAll"),
    );
    render_err(
        r#"{{ regexReplaceAllLiteral "x" (repeat 4096 "x") (repeat 512 "y") }}"#,
        &over("regexReplaceAllLiteral"),
    );
    render_err(r#"{{ indent 1024 (repeat 4096 "\n") }}"#, &over("indent"));
    // Under the bounds, the same functions answer as before.
    assert_eq!(
        ok(r#"{{ regexReplaceAll "(b)" "abc" "[$1]" }}"#, &[]),
        "a[b]c"
    );
    assert_eq!(
        ok(r#"{{ regexReplaceAllLiteral "b" "abc" "$1" }}"#, &[]),
        "a$1c"
    );
    assert_eq!(ok(r#"{{ replace "" "-" "ab" }}"#, &[]), "-a-b-");
    assert_eq!(ok(r#"{{ Replace "aaa" "a" "b" 2 }}"#, &[]), "bba");
    assert_eq!(ok("{{ range 3 }}.{{ end }}", &[]), "...");
}
