//! What Logs Drilldown offers to filter by: `detected_labels` (the index's
//! label names and their cardinality, without those whose values are all
//! numbers or ids), and `detected_fields` / `detected_field/{name}/values`
//! (the fields of a sample of the newest lines: structured metadata, then
//! what `json`, else `logfmt`, extracts, each typed as Loki types it).
//!
//! Cardinalities are exact counts of distinct values (Loki estimates them
//! with HyperLogLog); a field's type is read from its first value.

use super::logql::Ranged;
use super::loki::{bounds, last_ns, matching_streams, optional_selector, query_param};
use super::params::{budget, number_param};
use crate::env::Env;
use crate::logql::{Query, Selector};
use crate::read::search::{Direction, Hit};
use crate::web::message::Response;
use crate::web::problem::Problem;
use crate::web::query::Query as Params;
use http::StatusCode;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Labels Loki always keeps, whatever their values look like.
const STATIC: [&str; 4] = ["cluster", "namespace", "instance", "pod"];
/// Internal labels no one filters by.
const HIDDEN: [&str; 3] = ["__error__", "__error_details__", "__preserve_error__"];
/// Lines sampled by default, and at most.
const LINE_LIMIT: u64 = 100;
const MAX_LINES: u64 = 5000;
/// Fields or values answered by default.
const FIELD_LIMIT: u64 = 1000;

/// `detected_labels`: the labels of the streams `query` matches (all if
/// none) alive in the range, from the index, with their cardinality.
pub(super) fn labels(p: &Params, env: &Env) -> Result<Response, Problem> {
    bounds(p)?;
    let sel = optional_selector(p)?.unwrap_or(Selector { matchers: vec![] });
    let streams = matching_streams(env, &[sel], p)?;
    let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for s in &streams {
        for (k, v) in s.meta.labels.iter() {
            values.entry(k).or_default().insert(v);
        }
    }
    let detected: Vec<Value> = values
        .into_iter()
        .filter(|(name, vals)| worth_offering(name, vals))
        .map(|(name, vals)| json!({"label": name, "cardinality": vals.len()}))
        .collect();
    let body = match detected.is_empty() {
        true => json!({}),
        false => json!({ "detectedLabels": detected }),
    };
    Ok(Response::json(StatusCode::OK, &body))
}

/// Loki's rule: a label whose values are all numbers or UUIDs is no filter
/// (unless it is a 0/1 flag, or one of the static labels).
fn worth_offering(name: &str, vals: &BTreeSet<&str>) -> bool {
    if STATIC.contains(&name) {
        return true;
    }
    if name.starts_with("__") || vals.is_empty() {
        return false;
    }
    if vals.len() <= 2 && vals.iter().all(|v| *v == "0" || *v == "1") {
        return true;
    }
    !vals.iter().all(|v| v.parse::<f64>().is_ok() || is_uuid(v))
}

fn is_uuid(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// One field seen in the sample.
#[derive(Default)]
struct Field {
    /// The first value's type.
    kind: &'static str,
    values: BTreeSet<String>,
    /// `None`: structured metadata.
    parsers: Option<BTreeSet<&'static str>>,
    json_path: Option<Vec<String>>,
}

/// The sample: the newest `line_limit` entries of `query` in the range.
fn sample(p: &Params, env: &Env) -> Result<Vec<Hit>, Problem> {
    let query = query_param(p)?;
    if !matches!(query, Query::Log(_)) {
        return Err(Problem::bad_param("query", "a log query is needed here"));
    }
    let (start, end) = bounds(p)?;
    let lines = number_param(p, "line_limit")?
        .unwrap_or(LINE_LIMIT)
        .clamp(1, MAX_LINES);
    let run = Ranged {
        env,
        query: &query,
        from: start,
        to: last_ns(end),
        budget: budget(env, None)?,
    };
    Ok(run.page(Direction::Backward, lines as usize, None)?.hits)
}

/// Every field of the sample, by name.
fn collect(hits: &[Hit]) -> BTreeMap<String, Field> {
    let mut fields: BTreeMap<String, Field> = BTreeMap::new();
    for h in hits {
        for (k, v) in &h.metadata {
            add(&mut fields, k, v, None, None);
        }
        if let Some(parsed) = crate::logql::detect_fields(&h.line, &h.stream_labels) {
            for (name, value, parser, path) in parsed {
                add(&mut fields, &name, &value, Some(parser), path);
            }
        }
    }
    fields.retain(|k, _| !HIDDEN.contains(&k.as_str()));
    fields
}

fn add(
    fields: &mut BTreeMap<String, Field>,
    name: &str,
    value: &str,
    parser: Option<&'static str>,
    path: Option<Vec<String>>,
) {
    let f = fields.entry(name.to_owned()).or_default();
    if f.values.is_empty() {
        f.kind = field_type(value);
    }
    if f.values.len() < 100_000 {
        f.values.insert(value.to_owned());
    }
    if let Some(parser) = parser {
        f.parsers.get_or_insert_with(BTreeSet::new).insert(parser);
    }
    if f.json_path.is_none() {
        f.json_path = path;
    }
}

/// Loki's `determineType`: int, float, boolean, duration, bytes, string.
fn field_type(v: &str) -> &'static str {
    if v.parse::<i64>().is_ok() {
        "int"
    } else if v.parse::<f64>().is_ok() {
        "float"
    } else if matches!(
        v,
        "1" | "t" | "T" | "TRUE" | "true" | "True" | "0" | "f" | "F" | "FALSE" | "false" | "False"
    ) {
        "boolean"
    } else if crate::logql::parse_go_duration(v).is_some() {
        "duration"
    } else if crate::logql::parse_bytes(v).is_some() {
        "bytes"
    } else {
        "string"
    }
}

fn limit(p: &Params) -> Result<usize, Problem> {
    let asked = match number_param(p, "limit")? {
        Some(n) => Some(n),
        None => number_param(p, "field_limit")?,
    };
    Ok(asked.unwrap_or(FIELD_LIMIT).clamp(1, 100_000) as usize)
}

/// `detected_fields`: `{"fields":[{label,type,cardinality,parsers,jsonPath}],"limit"}`.
pub(super) fn fields(p: &Params, env: &Env) -> Result<Response, Problem> {
    let limit = limit(p)?;
    let fields = collect(&sample(p, env)?);
    let out: Vec<Value> = fields
        .into_iter()
        .take(limit)
        .map(|(name, f)| field_json(&name, f))
        .collect();
    let body = match out.is_empty() {
        true => json!({}),
        false => json!({"fields": out, "limit": limit}),
    };
    Ok(Response::json(StatusCode::OK, &body))
}

fn field_json(name: &str, f: Field) -> Value {
    let mut o = Map::new();
    o.insert("label".into(), json!(name));
    o.insert("type".into(), json!(f.kind));
    o.insert("cardinality".into(), json!(f.values.len()));
    o.insert(
        "parsers".into(),
        f.parsers.map_or(Value::Null, |p| json!(p)),
    );
    if let Some(path) = f.json_path {
        o.insert("jsonPath".into(), json!(path));
    }
    Value::Object(o)
}

/// `detected_field/{name}/values`: `{"values":[...],"limit"}`.
pub(super) fn values(p: &Params, env: &Env, name: &str) -> Result<Response, Problem> {
    let limit = limit(p)?;
    let mut fields = collect(&sample(p, env)?);
    let values: Vec<String> = fields
        .remove(name)
        .map(|f| f.values.into_iter().take(limit).collect())
        .unwrap_or_default();
    let body = match values.is_empty() {
        true => json!({}),
        false => json!({"values": values, "limit": limit}),
    };
    Ok(Response::json(StatusCode::OK, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_worth_offering() {
        let set = |v: &[&'static str]| v.iter().copied().collect::<BTreeSet<&str>>();
        assert!(worth_offering("app", &set(&["a", "b"])));
        assert!(!worth_offering("id", &set(&["1", "2", "3"])));
        assert!(worth_offering("flag", &set(&["0", "1"])));
        assert!(!worth_offering(
            "req",
            &set(&["123e4567-e89b-12d3-a456-426614174000"])
        ));
        assert!(worth_offering("pod", &set(&["1"])));
        assert!(!worth_offering("__stream_shard__", &set(&["a"])));
    }

    #[test]
    fn types_as_loki_reads_them() {
        assert_eq!(field_type("42"), "int");
        assert_eq!(field_type("4.2"), "float");
        assert_eq!(field_type("true"), "boolean");
        assert_eq!(field_type("150ms"), "duration");
        assert_eq!(field_type("10KB"), "bytes");
        assert_eq!(field_type("hello"), "string");
    }
}
