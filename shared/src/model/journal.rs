//! Component logs: journald-style entries, stored one JSON object per line in
//! an append-only [`Log`], so cursors, paging and tails work exactly as for
//! task files.
//!
//! An entry is a flat map of upper-case field names to strings, as journald
//! exports it: `MESSAGE`, `UNIT`, `_SYSTEMD_UNIT`, `PRIORITY`, `_HOSTNAME`, any
//! `KEY=value`, plus `__REALTIME_TIMESTAMP` and `__MONOTONIC_TIMESTAMP` in
//! microseconds (filled in on ingest when absent).

use crate::store::Store;
use crate::store::log::Log;
use crate::web::problem::Problem;
use serde_json::{Map, Value};
use std::rc::Rc;

/// The entry's wall-clock time, µs since the epoch as a decimal string;
/// set to the time of ingest when absent.
pub const REALTIME: &str = "__REALTIME_TIMESTAMP";
/// The entry's monotonic time in µs as a decimal string, as journald exports it.
pub const MONOTONIC: &str = "__MONOTONIC_TIMESTAMP";
/// journald's limit on field names.
const MAX_FIELD_NAME: usize = 64;

/// The node's journal.
pub fn log(store: Rc<Store>) -> Log {
    Log::new(store, "journal/default")
}

/// Parses an NDJSON batch into normalized journal lines (one JSON object per
/// line, each ending in `\n`), or the first problem with its line number.
/// Nothing is stored if any entry is bad.
pub fn parse_batch(body: &[u8], now_micros: u64) -> Result<(Vec<u8>, u64), Problem> {
    let text = std::str::from_utf8(body).map_err(|e| {
        Problem::bad_request(format!(
            "the body is not UTF-8 (first bad byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let mut out = Vec::with_capacity(body.len() + body.len() / 4);
    let mut entries = 0u64;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry = normalize(line, now_micros).map_err(|detail| {
            Problem::bad_request(format!("line {}: {detail}", i + 1)).with("line", i + 1)
        })?;
        serde_json::to_writer(&mut out, &entry).map_err(Problem::internal)?;
        out.push(b'\n');
        entries += 1;
    }
    if entries == 0 {
        return Err(Problem::bad_request("the body holds no journal entries"));
    }
    Ok((out, entries))
}

fn normalize(line: &str, now_micros: u64) -> Result<Map<String, Value>, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("malformed JSON: {e}"))?;
    let Value::Object(fields) = value else {
        return Err("an entry must be a JSON object of fields".into());
    };
    let mut entry = Map::new();
    for (key, value) in fields {
        let name = key.to_ascii_uppercase();
        let valid = !name.is_empty()
            && name.len() <= MAX_FIELD_NAME
            && !name.as_bytes()[0].is_ascii_digit()
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(format!(
                "field name {key:?} is not a journal field name (letters, digits, _; at most {MAX_FIELD_NAME})"
            ));
        }
        let text = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                return Err(format!(
                    "field {name} must be a string, number or boolean, not {}",
                    kind(&other)
                ));
            }
        };
        if entry.insert(name.clone(), Value::String(text)).is_some() {
            return Err(format!("field {name} appears twice"));
        }
    }
    if !matches!(entry.get("MESSAGE"), Some(Value::String(_))) {
        return Err("MESSAGE is required".into());
    }
    for ts in [REALTIME, MONOTONIC] {
        if let Some(Value::String(v)) = entry.get(ts)
            && v.parse::<u64>().is_err()
        {
            return Err(format!("{ts} must be microseconds as an unsigned integer"));
        }
    }
    let realtime = entry
        .entry(REALTIME)
        .or_insert_with(|| Value::String(now_micros.to_string()))
        .clone();
    entry.entry(MONOTONIC).or_insert(realtime);
    Ok(entry)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
        _ => "a scalar",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_fields_and_timestamps() {
        let (out, n) = parse_batch(
            b"{\"message\":\"hi\",\"priority\":6,\"_SYSTEMD_UNIT\":\"a.service\"}\n\n{\"MESSAGE\":\"x\",\"__REALTIME_TIMESTAMP\":\"5\"}",
            42,
        )
        .unwrap();
        assert_eq!(n, 2);
        let lines: Vec<Value> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines[0]["MESSAGE"], "hi");
        assert_eq!(lines[0]["PRIORITY"], "6");
        assert_eq!(lines[0][REALTIME], "42");
        assert_eq!(lines[1][MONOTONIC], "5");
    }

    #[test]
    fn names_the_bad_line() {
        for (body, needle) in [
            ("{\"MESSAGE\":\"ok\"}\n{\"MESSAGE\":[1]}", "line 2"),
            ("{\"NO\":\"message\"}", "MESSAGE is required"),
            ("{\"bad key\":\"x\",\"MESSAGE\":\"m\"}", "field name"),
            ("[1,2]", "object"),
            (
                "{\"MESSAGE\":\"m\",\"__REALTIME_TIMESTAMP\":\"soon\"}",
                "microseconds",
            ),
            ("", "no journal entries"),
        ] {
            let p = parse_batch(body.as_bytes(), 1).unwrap_err();
            assert!(p.detail.contains(needle), "{body}: {}", p.detail);
        }
        assert!(parse_batch(b"{\"MESSAGE\":\"\xff\"}", 1).is_err());
    }
}
