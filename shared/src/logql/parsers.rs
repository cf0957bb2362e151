//! The parsers of a log pipeline: labels extracted from a line by `json`,
//! `logfmt`, `regexp`, `pattern` and `unpack`.
//!
//! They follow Loki's rules so that a query copied from Grafana yields the
//! same labels here: nested JSON keys joined with `_`, arrays skipped, names
//! sanitised to `[a-zA-Z0-9_]`, a name that collides with a stream label or
//! structured metadata suffixed `_extracted`, and a line a parser cannot
//! read marked with `__error__` rather than dropped. `logfmt` is Loki's own
//! decoder (adapted from go-logfmt): it skips what it cannot read unless
//! `--strict`, and drops empty values unless `--keep-empty`.

use super::Labels;
use serde_json::Value;

/// The label Loki marks a failed stage with.
pub const ERROR_LABEL: &str = "__error__";
pub(crate) const ERROR_DETAILS: &str = "__error_details__";
pub(crate) const JSON_ERROR: &str = "JSONParserErr";
pub(crate) const LOGFMT_ERROR: &str = "LogfmtParserErr";

/// Extracted `(name, value)` pairs, and whether the line failed to parse.
pub(crate) type Extracted = (Vec<(String, String)>, bool);

/// Loki's `sanitizeLabelKey`: characters outside `[a-zA-Z0-9_]` become `_`,
/// and a leading digit gets a `_` in front (when `prefix`, i.e. the name
/// starts a label rather than continuing a nested one).
pub(crate) fn sanitize(key: &str, prefix: bool) -> String {
    let key = key.trim();
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

/// The final label name for an extracted key: `_extracted` if the entry
/// already has a label of that name (a stream label or structured metadata).
pub(crate) fn extracted_name(base: &Labels, name: String) -> String {
    if base.contains_key(&name) {
        name + "_extracted"
    } else {
        name
    }
}

/// One field `| json` extracts: its label name, value and JSON path.
pub(crate) struct JsonField {
    pub name: String,
    pub value: String,
    pub path: Vec<String>,
}

/// `| json` without parameters: every string, number and boolean (not
/// arrays, not nulls), nested keys joined with `_`;
/// `None` when the line is not a JSON object.
pub(crate) fn json_fields(line: &str, base: &Labels) -> Option<Vec<JsonField>> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(line) else {
        return None;
    };
    let mut out = Vec::new();
    flatten(&mut Vec::new(), &map, base, &mut out);
    Some(out)
}

/// `| json`: the pairs, and whether the line failed.
pub(crate) fn json(line: &str, base: &Labels) -> Extracted {
    match json_fields(line, base) {
        Some(fields) => (
            fields.into_iter().map(|f| (f.name, f.value)).collect(),
            false,
        ),
        None => (Vec::new(), true),
    }
}

fn flatten(
    path: &mut Vec<String>,
    map: &serde_json::Map<String, Value>,
    base: &Labels,
    out: &mut Vec<JsonField>,
) {
    for (k, v) in map {
        path.push(k.clone());
        match v {
            Value::Object(inner) => flatten(path, inner, base, out),
            Value::Array(_) | Value::Null => {}
            scalar => {
                if let Some(name) = json_name(path, base) {
                    out.push(JsonField {
                        name,
                        value: super::jsonpath::label_value(scalar),
                        path: path.clone(),
                    });
                }
            }
        }
        path.pop();
    }
}

/// The label a nested key becomes: its sanitised parts joined with `_`
/// (empty parts skipped), the last part suffixed if the whole collides.
fn json_name(path: &[String], base: &Labels) -> Option<String> {
    let parts: Vec<String> = path
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.trim().is_empty())
        .map(|(i, p)| sanitize(p, i == 0))
        .collect();
    if parts.is_empty() {
        return None;
    }
    Some(extracted_name(base, parts.join("_")))
}

/// One key/value of a logfmt line, or a stretch the decoder could not read.
pub(crate) enum Pair<'l> {
    Kv(&'l str, std::borrow::Cow<'l, str>),
    Bad,
}

/// Loki's logfmt decoder over one line.
pub(crate) struct Logfmt<'l> {
    line: &'l str,
    pos: usize,
}

impl<'l> Logfmt<'l> {
    pub(crate) fn new(line: &'l str) -> Self {
        Logfmt { line, pos: 0 }
    }

    /// Moves past the value of a bad pair, to the next space.
    fn skip_value(&mut self) -> Option<Pair<'l>> {
        let b = self.line.as_bytes();
        while self.pos < b.len() && b[self.pos] > b' ' {
            self.pos += 1;
        }
        Some(Pair::Bad)
    }
}

impl<'l> Iterator for Logfmt<'l> {
    type Item = Pair<'l>;

    fn next(&mut self) -> Option<Pair<'l>> {
        let (line, b) = (self.line, self.line.as_bytes());
        while self.pos < b.len() && b[self.pos] <= b' ' {
            self.pos += 1;
        }
        if self.pos >= b.len() {
            return None;
        }
        let start = self.pos;
        while self.pos < b.len() && b[self.pos] > b' ' && b[self.pos] != b'=' && b[self.pos] != b'"'
        {
            self.pos += 1;
        }
        let key = &line[start..self.pos];
        match b.get(self.pos) {
            None => return Some(Pair::Kv(key, "".into())),
            Some(c) if *c <= b' ' => return Some(Pair::Kv(key, "".into())),
            Some(b'"') => return self.skip_value(),
            Some(_) if key.is_empty() => return self.skip_value(),
            Some(_) => {}
        }
        self.pos += 1; // '='
        match b.get(self.pos) {
            None => Some(Pair::Kv(key, "".into())),
            Some(c) if *c <= b' ' => Some(Pair::Kv(key, "".into())),
            Some(b'"') => self.quoted(key),
            Some(_) => {
                let vstart = self.pos;
                while self.pos < b.len() && b[self.pos] > b' ' {
                    if b[self.pos] == b'=' || b[self.pos] == b'"' {
                        return self.skip_value();
                    }
                    self.pos += 1;
                }
                Some(Pair::Kv(key, line[vstart..self.pos].into()))
            }
        }
    }
}

impl<'l> Logfmt<'l> {
    fn quoted(&mut self, key: &'l str) -> Option<Pair<'l>> {
        let (line, b) = (self.line, self.line.as_bytes());
        let start = self.pos;
        let (mut esc, mut has_esc) = (false, false);
        let mut i = start + 1;
        while i < b.len() {
            match b[i] {
                _ if esc => esc = false,
                b'\\' => {
                    esc = true;
                    has_esc = true;
                }
                b'"' => {
                    self.pos = i + 1;
                    if !has_esc {
                        return Some(Pair::Kv(key, line[start + 1..i].into()));
                    }
                    return Some(match unquote(&line[start..=i]) {
                        Some(v) => Pair::Kv(key, v.into()),
                        None => Pair::Bad,
                    });
                }
                _ => {}
            }
            i += 1;
        }
        self.pos = b.len();
        Some(Pair::Bad)
    }
}

/// `| logfmt [--strict] [--keep-empty]`: the pairs, and whether a strict
/// parse stopped on an error.
pub(crate) fn logfmt(line: &str, strict: bool, keep_empty: bool) -> Extracted {
    let mut out = Vec::new();
    for pair in Logfmt::new(line) {
        match pair {
            Pair::Bad if strict => return (out, true),
            Pair::Bad => continue,
            Pair::Kv(k, v) => {
                let key = sanitize(k, true);
                if key.is_empty() || (!keep_empty && v.is_empty()) {
                    continue;
                }
                out.push((key, v.into_owned()));
            }
        }
    }
    (out, false)
}

/// `| unpack`: a JSON object's string fields become labels when it holds
/// the packed line `_entry`, which replaces the line (Promtail's `pack`).
/// `None`: not a JSON object (an error); `Some((pairs, None))`: nothing packed.
/// `unpack`'s result: the labels, and the packed line if there was one.
pub(crate) type Unpacked = (Vec<(String, String)>, Option<String>);

pub(crate) fn unpack(line: &str) -> Option<Unpacked> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(line) else {
        return None;
    };
    let mut entry = None;
    let mut pairs = Vec::new();
    for (k, v) in map {
        let Value::String(s) = v else { continue };
        if k == "_entry" {
            entry = Some(s);
        } else {
            pairs.push((sanitize(&k, true), s));
        }
    }
    Some(match entry {
        Some(e) => (pairs, Some(e)),
        None => (Vec::new(), None),
    })
}

/// A quoted logfmt value (with its quotes), unescaped as JSON would.
fn unquote(s: &str) -> Option<String> {
    match serde_json::from_str::<Value>(s).ok()? {
        Value::String(v) => Some(v),
        _ => None,
    }
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
        let (mut got, err) = json(
            r#"{"a":{"b":1,"c":{"d":"x"}},"e":[1,2],"f":true,"g":null,"h":"q\"s","n":1.5}"#,
            &Labels::new(),
        );
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
    fn json_sanitises_names_and_keeps_paths() {
        let base: Labels = [("app".to_string(), "x".to_string())].into_iter().collect();
        let fields =
            json_fields(r#"{"a.b-c":"1","1x":"2","o":{"2y":"3"},"app":"y"}"#, &base).unwrap();
        let got: Vec<(&str, &str, String)> = fields
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str(), f.path.join("/")))
            .collect();
        assert!(got.contains(&("_1x", "2", "1x".into())));
        assert!(got.contains(&("a_b_c", "1", "a.b-c".into())));
        assert!(got.contains(&("o_2y", "3", "o/2y".into())));
        assert!(got.contains(&("app_extracted", "y", "app".into())));
    }

    #[test]
    fn json_errors() {
        for bad in ["not json", "[1,2]", "\"s\"", "{\"a\":", ""] {
            assert!(json(bad, &Labels::new()).1, "{bad}");
        }
    }

    #[test]
    fn logfmt_as_loki() {
        let line = r#"level=info msg="hello \"world\"" bare dur=1.5s empty= x.y=z"#;
        let (got, err) = logfmt(line, false, false);
        assert!(!err);
        assert_eq!(
            got,
            pairs(&[
                ("level", "info"),
                ("msg", "hello \"world\""),
                ("dur", "1.5s"),
                ("x_y", "z")
            ])
        );
        let (got, _) = logfmt(line, false, true);
        assert_eq!(got.len(), 6, "--keep-empty keeps bare and empty= {got:?}");
        // Non-strict skips what it cannot read; strict stops and says so.
        let (got, err) = logfmt(r#"a=1 b="unterminated"#, false, false);
        assert_eq!((got, err), (pairs(&[("a", "1")]), false));
        let (got, err) = logfmt("a=1 =x c=3", true, false);
        assert_eq!((got, err), (pairs(&[("a", "1")]), true));
        let (got, _) = logfmt("a=b=c d=1", false, false);
        assert_eq!(got, pairs(&[("d", "1")]));
    }

    #[test]
    fn unpack_needs_a_packed_entry() {
        let (pairs_, entry) = unpack(r#"{"_entry":"the line","app":"a","n":1}"#).unwrap();
        assert_eq!(
            (pairs_, entry.as_deref()),
            (pairs(&[("app", "a")]), Some("the line"))
        );
        let (pairs_, entry) = unpack(r#"{"app":"a"}"#).unwrap();
        assert!(pairs_.is_empty() && entry.is_none());
        assert!(unpack("nope").is_none());
    }

    #[test]
    fn extracted_suffix() {
        let base: Labels = [("app".to_string(), "x".to_string())].into_iter().collect();
        assert_eq!(extracted_name(&base, "app".into()), "app_extracted");
        assert_eq!(extracted_name(&base, "other".into()), "other");
    }
}
