//! The `| json` and `| logfmt` parsers: labels extracted from a line.
//!
//! They follow Loki's rules so that a query copied from Grafana yields the
//! same labels here: nested JSON keys joined with `_`, arrays skipped, names
//! sanitised to `[a-zA-Z0-9_]`, a name that collides with a stream label
//! suffixed `_extracted`, and a line that does not parse marked with
//! `__error__` rather than dropped.

use super::Labels;

/// The label Loki marks a failed stage with.
pub(crate) const ERROR_LABEL: &str = "__error__";
pub(crate) const JSON_ERROR: &str = "JSONParserErr";
pub(crate) const LOGFMT_ERROR: &str = "LogfmtParserErr";

/// Extracted `(name, value)` pairs, and whether the line failed to parse.
pub(crate) type Extracted = (Vec<(String, String)>, bool);

/// Loki's `sanitizeLabelKey`: characters outside `[a-zA-Z0-9_]` become `_`,
/// and a leading digit gets a `_` in front (when `prefix`, i.e. the name
/// starts a label rather than continuing a nested one).
fn sanitize(key: &str, prefix: bool) -> String {
    let mut out = String::with_capacity(key.len() + 1);
    if prefix && key.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(key.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    out
}

/// The final label name for an extracted key: `_extracted` if the stream
/// already has a label of that name.
pub(crate) fn extracted_name(base: &Labels, name: String) -> String {
    if base.contains_key(&name) {
        name + "_extracted"
    } else {
        name
    }
}

/// `| json` without parameters.
pub(crate) fn json(line: &str) -> Extracted {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(line) else {
        return (Vec::new(), true);
    };
    let mut out = Vec::new();
    flatten("", &map, &mut out);
    (out, false)
}

fn flatten(
    prefix: &str,
    map: &serde_json::Map<String, serde_json::Value>,
    out: &mut Vec<(String, String)>,
) {
    use serde_json::Value;
    for (k, v) in map {
        let key = if prefix.is_empty() {
            sanitize(k, true)
        } else {
            format!("{prefix}_{}", sanitize(k, false))
        };
        if key.is_empty() {
            continue;
        }
        match v {
            Value::Object(inner) => flatten(&key, inner, out),
            Value::Array(_) | Value::Null => {}
            Value::String(s) => out.push((key, s.clone())),
            Value::Number(n) => out.push((key, n.to_string())),
            Value::Bool(b) => out.push((key, b.to_string())),
        }
    }
}

/// `| logfmt`, as go-logfmt reads it: `key=value`, `key="quoted value"`,
/// and a bare `key` meaning `""`. Pairs before an error are kept.
pub(crate) fn logfmt(line: &str) -> Extracted {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let is_plain = |c: u8| c > b' ' && c != b'=' && c != b'"';
    loop {
        while i < b.len() && b[i] <= b' ' {
            i += 1;
        }
        if i >= b.len() {
            return (out, false);
        }
        let start = i;
        while i < b.len() && is_plain(b[i]) {
            i += 1;
        }
        if i == start || (i < b.len() && b[i] == b'"') {
            return (out, true);
        }
        let key = sanitize(&line[start..i], true);
        let value = if i < b.len() && b[i] == b'=' {
            i += 1;
            if i < b.len() && b[i] == b'"' {
                match unquote(&line[i..]) {
                    Some((v, len)) => {
                        i += len;
                        v
                    }
                    None => return (out, true),
                }
            } else {
                let vstart = i;
                while i < b.len() && is_plain(b[i]) {
                    i += 1;
                }
                if i < b.len() && b[i] > b' ' {
                    return (out, true);
                }
                line[vstart..i].to_string()
            }
        } else {
            String::new()
        };
        out.push((key, value));
    }
}

/// A quoted logfmt value at the start of `s` (which begins with `"`): its
/// unescaped text and the bytes it spans.
fn unquote(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\\' => {
                let (_, e) = chars.next()?;
                out.push(match e {
                    '"' => '"',
                    '\\' => '\\',
                    '/' => '/',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'u' => {
                        let mut v = 0u32;
                        for _ in 0..4 {
                            v = v * 16 + chars.next()?.1.to_digit(16)?;
                        }
                        char::from_u32(v).unwrap_or('\u{fffd}')
                    }
                    _ => return None,
                });
            }
            _ => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn json_flattens() {
        let (mut got, err) =
            json(r#"{"a":{"b":1,"c":{"d":"x"}},"e":[1,2],"f":true,"g":null,"h":"q\"s","n":1.5}"#);
        assert!(!err);
        got.sort();
        assert_eq!(
            got,
            pairs(&[
                ("a_b", "1"),
                ("a_c_d", "x"),
                ("f", "true"),
                ("h", "q\"s"),
                ("n", "1.5")
            ])
        );
    }

    #[test]
    fn json_sanitises_names() {
        let (mut got, _) = json(r#"{"a.b-c":"1","1x":"2","o":{"2y":"3"}}"#);
        got.sort();
        assert_eq!(got, pairs(&[("_1x", "2"), ("a_b_c", "1"), ("o_2y", "3")]));
    }

    #[test]
    fn json_errors() {
        for bad in ["not json", "[1,2]", "\"s\"", "{\"a\":", ""] {
            assert!(json(bad).1, "{bad}");
        }
    }

    #[test]
    fn logfmt_pairs() {
        let (got, err) = logfmt(r#"level=info msg="hello \"world\"" bare dur=1.5s empty= x.y=z"#);
        assert!(!err);
        assert_eq!(
            got,
            pairs(&[
                ("level", "info"),
                ("msg", "hello \"world\""),
                ("bare", ""),
                ("dur", "1.5s"),
                ("empty", ""),
                ("x_y", "z")
            ])
        );
    }

    #[test]
    fn logfmt_errors_keep_earlier_pairs() {
        let (got, err) = logfmt(r#"a=1 b="unterminated"#);
        assert!(err);
        assert_eq!(got, pairs(&[("a", "1")]));
        assert!(logfmt("=x").1);
        assert!(logfmt("a=b=c").1);
        assert!(logfmt(r#"a"b=1"#).1);
        assert_eq!(logfmt("").0, vec![]);
    }

    #[test]
    fn extracted_suffix() {
        let base: Labels = [("app".to_string(), "x".to_string())].into_iter().collect();
        assert_eq!(extracted_name(&base, "app".into()), "app_extracted");
        assert_eq!(extracted_name(&base, "other".into()), "other");
    }
}
