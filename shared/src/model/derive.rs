//! What Loki 3 adds to every pushed stream and entry, so Grafana's Logs
//! Drilldown finds services and levels here as it does in Loki
//! (`pkg/loghttp/push/push.go`, `pkg/distributor/field_detection.go`):
//!
//! - the stream label `service_name`, when the stream has none: the first
//!   non-empty label of [`SERVICE_NAME_SOURCES`], else `unknown_service`;
//! - the structured metadata `detected_level` of every entry: an existing
//!   `detected_level` normalized, else a level label, a level metadata, an
//!   OTLP `severity_number`, a level field of a JSON or logfmt line, or the
//!   first level word of the line, else `unknown`.
//!
//! Done once at push time, as Loki does, so every reader (LogQL's
//! `detected_level`, Drilldown's volume by level) sees the same value.

use super::stream::Entry;
use crate::logql::Labels;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use std::fmt;

/// The label Loki derives for every stream.
pub const SERVICE_NAME: &str = "service_name";
/// Its value when no source label names a service.
pub const UNKNOWN_SERVICE: &str = "unknown_service";
/// Loki's `discover_service_name` default, in order: the first of these with
/// a value names the service.
pub const SERVICE_NAME_SOURCES: [&str; 13] = [
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
];

/// The structured metadata Loki adds to every entry.
pub const DETECTED_LEVEL: &str = "detected_level";
/// Loki's `log_level_fields` default, in order.
pub const LEVEL_FIELDS: [&str; 14] = [
    "level",
    "LEVEL",
    "Level",
    "log.level",
    "severity",
    "SEVERITY",
    "Severity",
    "SeverityText",
    "lvl",
    "LVL",
    "Lvl",
    "severity_text",
    "Severity_Text",
    "SEVERITY_TEXT",
];
/// How deep a JSON line is searched for a level field
/// (`log_level_from_json_max_depth`).
const JSON_DEPTH: usize = 2;

/// Adds `service_name` to `labels` unless they have one (Loki's push rule).
pub fn add_service_name(labels: &mut Labels) {
    if labels.contains_key(SERVICE_NAME) {
        return;
    }
    let found = SERVICE_NAME_SOURCES
        .iter()
        .find_map(|name| labels.get(*name).filter(|v| !v.is_empty()));
    let value = found.map_or(UNKNOWN_SERVICE, String::as_str).to_owned();
    labels.insert(SERVICE_NAME.to_owned(), value);
}

/// Adds `detected_level` to `entry`'s structured metadata (or normalizes
/// the one it has), as Loki's distributor does for an entry of a stream
/// with `labels`.
pub fn add_detected_level(labels: &Labels, entry: &mut Entry) {
    if let Some((_, v)) = entry.metadata.iter_mut().find(|(k, _)| k == DETECTED_LEVEL) {
        *v = normalize(v);
        return;
    }
    let level = detected_level(labels, &entry.metadata, &entry.line);
    if !level.is_empty() {
        entry.metadata.push((DETECTED_LEVEL.to_owned(), level));
    }
}

/// The level Loki detects for an entry without a `detected_level`.
pub fn detected_level(labels: &Labels, metadata: &[(String, String)], line: &str) -> String {
    let in_metadata = |name: &str| metadata.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    if let Some(v) = LEVEL_FIELDS.iter().find_map(|f| labels.get(*f)) {
        return normalize(v);
    }
    if let Some(v) = LEVEL_FIELDS.iter().find_map(|f| in_metadata(f)) {
        return normalize(v);
    }
    if let Some(n) = in_metadata("severity_number") {
        return severity_number(n).to_owned();
    }
    from_line(line).to_owned()
}

/// Loki's `normalizeLogLevel`: the canonical name of a known level
/// (case-insensitive, with its abbreviations), anything else unchanged.
pub fn normalize(level: &str) -> String {
    known(level).map_or_else(|| level.to_owned(), str::to_owned)
}

fn known(level: &str) -> Option<&'static str> {
    const NAMES: [(&str, &str); 14] = [
        ("trace", "trace"),
        ("trc", "trace"),
        ("debug", "debug"),
        ("dbg", "debug"),
        ("info", "info"),
        ("inf", "info"),
        ("information", "info"),
        ("warn", "warn"),
        ("wrn", "warn"),
        ("warning", "warn"),
        ("error", "error"),
        ("err", "error"),
        ("critical", "critical"),
        ("fatal", "fatal"),
    ];
    NAMES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(level))
        .map(|(_, canonical)| *canonical)
}

/// OTLP's severity number (1-24, in fours per level) as a level.
fn severity_number(text: &str) -> &'static str {
    match text.parse::<i64>() {
        Err(_) => "info",
        Ok(0) => "unknown",
        Ok(n) if n <= 4 => "trace",
        Ok(n) if n <= 8 => "debug",
        Ok(n) if n <= 12 => "info",
        Ok(n) if n <= 16 => "warn",
        Ok(n) if n <= 20 => "error",
        Ok(n) if n <= 24 => "fatal",
        Ok(_) => "unknown",
    }
}

/// The level of a line: a level field of a JSON object or a logfmt line,
/// when it names a known level, else the first level word.
fn from_line(line: &str) -> &'static str {
    let trimmed = line.trim();
    let field = if trimmed.starts_with('{') && trimmed.ends_with('}') {
        json_level(trimmed)
    } else if line.contains('=') {
        logfmt_level(line)
    } else {
        None
    };
    field
        .and_then(|v| known(&v))
        .unwrap_or_else(|| level_word(line))
}

/// The first string value, in document order down to [`JSON_DEPTH`]
/// objects deep, whose key is one of [`LEVEL_FIELDS`].
fn json_level(line: &str) -> Option<String> {
    let mut de = serde_json::Deserializer::from_str(line);
    LevelSeed { depth: 0 }.deserialize(&mut de).ok().flatten()
}

/// A JSON object searched for a level field, `depth` objects down.
struct LevelSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for LevelSeed {
    type Value = Option<String>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LevelSeed {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            if found.is_some() || self.depth >= JSON_DEPTH {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let value = map.next_value_seed(Field {
                level_key: LEVEL_FIELDS.contains(&key.as_str()),
                depth: self.depth + 1,
            })?;
            found = found.or(value);
        }
        Ok(found)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// One member's value: the level if it is a string under a level key, the
/// level found inside if it is an object.
struct Field {
    level_key: bool,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Field {
    type Value = Option<String>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Field {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.level_key.then(|| v.to_owned()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        LevelSeed { depth: self.depth }.visit_map(map)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        LevelSeed { depth: self.depth }.visit_seq(seq)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// The value of the earliest-listed [`LEVEL_FIELDS`] key of a logfmt line
/// (keys compared case-insensitively).
fn logfmt_level(line: &str) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for (key, value) in logfmt_pairs(line) {
        let rank = LEVEL_FIELDS
            .iter()
            .position(|f| f.eq_ignore_ascii_case(key));
        if let Some(rank) = rank
            && best.as_ref().is_none_or(|(b, _)| rank < *b)
        {
            best = Some((rank, value));
        }
    }
    best.map(|(_, v)| v)
}

/// The `key=value` pairs of a logfmt line: keys are runs without spaces,
/// `=` or `"`; a value is a quoted string (with `\` escapes) or a run
/// without spaces; a key without `=` has an empty value.
fn logfmt_pairs(line: &str) -> Vec<(&str, String)> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] <= b' ' || bytes[i] == b'=' || bytes[i] == b'"' {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i] > b' ' && bytes[i] != b'=' && bytes[i] != b'"' {
            i += 1;
        }
        let key = &line[start..i];
        if bytes.get(i) != Some(&b'=') {
            out.push((key, String::new()));
            continue;
        }
        i += 1;
        let (value, next) = logfmt_value(line, i);
        out.push((key, value));
        i = next;
    }
    out
}

/// The value starting at byte `i`, and where the scan goes on.
fn logfmt_value(line: &str, mut i: usize) -> (String, usize) {
    let bytes = line.as_bytes();
    if bytes.get(i) != Some(&b'"') {
        let start = i;
        while i < bytes.len() && bytes[i] > b' ' {
            i += 1;
        }
        return (line[start..i].to_owned(), i);
    }
    let mut value = String::new();
    let mut chars = line[i + 1..].char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return (value, i + 1 + at + 1),
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            c => value.push(c),
        }
    }
    (value, bytes.len())
}

/// Loki's `detectLevelFromLogLine`: the level word that starts earliest in
/// the line, as a whole word, else `unknown`.
fn level_word(line: &str) -> &'static str {
    const WORDS: [(&str, &str); 9] = [
        ("trace", "trace"),
        ("debug", "debug"),
        ("fatal", "fatal"),
        ("critical", "critical"),
        ("error", "error"),
        ("err", "error"),
        ("warning", "warn"),
        ("warn", "warn"),
        ("info", "info"),
    ];
    let lower = line.to_ascii_lowercase();
    let mut best = (lower.len(), "unknown");
    for (word, level) in WORDS {
        if let Some(at) = bounded(&lower, word)
            && at < best.0
        {
            best = (at, level);
        }
    }
    best.1
}

/// Where `word` first occurs in `text` between word boundaries (Loki's:
/// a colon ends a word but does not start one).
fn bounded(text: &str, word: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let left = |at: usize| at == 0 || b" \t\n[({\"'=|".contains(&bytes[at - 1]);
    let right = |end: usize| end >= bytes.len() || b" \t\n[](){}:,!\"'=|".contains(&bytes[end]);
    let mut from = 0;
    while let Some(i) = text[from..].find(word) {
        let at = from + i;
        if left(at) && right(at + word.len()) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::labels_of;

    fn level(labels: &[(&str, &str)], meta: &[(&str, &str)], line: &str) -> String {
        let mut e = Entry {
            ts: 1,
            line: line.into(),
            metadata: meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        add_detected_level(&labels_of(labels), &mut e);
        let found = e.metadata.iter().find(|(k, _)| k == DETECTED_LEVEL);
        found.map(|(_, v)| v.clone()).unwrap_or_default()
    }

    #[test]
    fn service_name_comes_from_the_first_source_label() {
        let mut l = labels_of(&[("container", "web"), ("app", "shop")]);
        add_service_name(&mut l);
        assert_eq!(l[SERVICE_NAME], "shop", "app is listed before container");
        let mut l = labels_of(&[("pod", "p-1")]);
        add_service_name(&mut l);
        assert_eq!(l[SERVICE_NAME], UNKNOWN_SERVICE);
        let mut l = labels_of(&[("service_name", "given"), ("app", "x")]);
        add_service_name(&mut l);
        assert_eq!(l[SERVICE_NAME], "given");
    }

    #[test]
    fn levels_are_detected_as_loki_does() {
        // Given, normalized; labels before metadata before the line.
        assert_eq!(
            level(&[], &[("detected_level", "WARNING")], "error"),
            "warn"
        );
        assert_eq!(level(&[("level", "ERR")], &[], "info"), "error");
        assert_eq!(level(&[], &[("severity_text", "Notice")], "x"), "Notice");
        assert_eq!(level(&[], &[("severity_number", "17")], "info"), "error");
        assert_eq!(level(&[], &[("severity_number", "0")], "info"), "unknown");
        // JSON: first string field in document order, two objects deep.
        assert_eq!(level(&[], &[], r#"{"msg":"x","lvl":"dbg"}"#), "debug");
        assert_eq!(level(&[], &[], r#"{"a":{"level":"fatal"}}"#), "fatal");
        assert_eq!(level(&[], &[], r#"{"a":{"b":{"level":"wrn"}}}"#), "unknown");
        assert_eq!(level(&[], &[], r#"{"level":30,"msg":"an error"}"#), "error");
        // logfmt: keys case-insensitive, the earliest-listed wins.
        assert_eq!(level(&[], &[], "lvl=info LEVEL=warn msg=x"), "warn");
        assert_eq!(level(&[], &[], r#"msg="a b" level="inf""#), "info");
        // Words: the earliest bounded one; a colon does not start a word.
        assert_eq!(level(&[], &[], "[WARN] disk: error soon"), "warn");
        assert_eq!(level(&[], &[], "x:error happened"), "unknown");
        assert_eq!(level(&[], &[], "terrible errors"), "unknown");
        assert_eq!(level(&[], &[], "GET / 200"), "unknown");
    }
}
