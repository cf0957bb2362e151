//! The paths of `| json name="a.b[0][\"c-d\"]"`: fields by name or quoted,
//! array elements by index, as Loki's `jsonexpr` reads them.

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

/// Parses `a.b[0]["c"]`.
pub(crate) fn parse(src: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let mut rest = src.trim();
    let bad = |m: &str| format!("cannot parse expression [{src}]: {m}");
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            rest = r;
            if steps.is_empty() {
                return Err(bad("unexpected ."));
            }
            continue;
        }
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| bad("missing ]"))?;
            let inner = r[..end].trim();
            let step = match inner.strip_prefix('"') {
                Some(q) => Step::Key(q.trim_end_matches('"').to_owned()),
                None => Step::Index(inner.parse().map_err(|_| bad("non-integer index"))?),
            };
            steps.push(step);
            rest = &r[end + 1..];
            continue;
        }
        let n = rest
            .char_indices()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(rest.len(), |(i, _)| i);
        if n == 0 || rest.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(bad(&format!(
                "unexpected char {:?}",
                rest.chars().next().unwrap_or(' ')
            )));
        }
        steps.push(Step::Key(rest[..n].to_owned()));
        rest = &rest[n..];
    }
    if steps.is_empty() {
        return Err(bad("empty expression"));
    }
    Ok(steps)
}

/// The value at `path` in `doc`, as a label value: strings unquoted,
/// objects and arrays as their JSON, `null` empty; `None` if absent.
pub(crate) fn get(doc: &Value, path: &[Step]) -> Option<String> {
    let mut v = doc;
    for step in path {
        v = match (step, v) {
            (Step::Key(k), Value::Object(m)) => m.get(k)?,
            (Step::Index(i), Value::Array(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(label_value(v))
}

/// A JSON value as Loki writes it into a label.
pub(crate) fn label_value(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let doc: Value = serde_json::from_str(
            r#"{"servers":["a","b"],"request":{"headers":{"User-Agent":"curl"},"n":3},"o":{"x":1}}"#,
        )
        .unwrap();
        let at = |p: &str| get(&doc, &parse(p).unwrap());
        assert_eq!(at("servers[0]").as_deref(), Some("a"));
        assert_eq!(
            at(r#"request.headers["User-Agent"]"#).as_deref(),
            Some("curl")
        );
        assert_eq!(at("request.n").as_deref(), Some("3"));
        assert_eq!(at("servers").as_deref(), Some(r#"["a","b"]"#));
        assert_eq!(at("o").as_deref(), Some(r#"{"x":1}"#));
        assert_eq!(at("nope"), None);
        assert!(parse("a[x]").is_err() && parse("").is_err() && parse(".a").is_err());
    }
}
