//! The level of an entry, detected as Loki's `detected_level` is.

use crate::logql::Labels;

/// The detected level of an entry, as Loki's `detected_level`: structured
/// metadata or a label first, then a `level` field of a JSON or logfmt line,
/// then a leading keyword.
pub fn detect_level(labels: &Labels, metadata: &[(String, String)], line: &str) -> &'static str {
    let named = ["level", "detected_level", "severity", "lvl"];
    // Loki's derived `detected_level` is `unknown` where it knows no word
    // (`panic: ...`): that says nothing, so the line is still looked at.
    let given = metadata
        .iter()
        .find(|(k, v)| named.contains(&k.as_str()) && !(k == "detected_level" && v == "unknown"))
        .map(|(_, v)| v.as_str())
        .or_else(|| {
            named
                .iter()
                .find_map(|n| labels.get(*n).map(String::as_str))
        });
    if let Some(v) = given {
        return normalize_level(v);
    }
    if let Some(level) = field_level(line) {
        return level;
    }
    let first: String = line
        .trim_start_matches(|c: char| !c.is_ascii_alphabetic())
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .take(9)
        .collect();
    normalize_level(&first)
}

/// The level a `level` field of a JSON or logfmt line names, if one names a
/// known level.
fn field_level(line: &str) -> Option<&'static str> {
    for pat in ["\"level\":\"", "level=", "\"severity\":\"", "lvl="] {
        if let Some(i) = line.find(pat) {
            let rest = line[i + pat.len()..].trim_start_matches('"');
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            let level = normalize_level(&word);
            if level != "unknown" {
                return Some(level);
            }
        }
    }
    None
}

/// Loki's detected levels: trace, debug, info, warn, error, critical, unknown.
pub fn normalize_level(v: &str) -> &'static str {
    match v.to_ascii_lowercase().as_str() {
        "trace" | "trc" => "trace",
        "debug" | "dbg" => "debug",
        "info" | "inf" | "information" | "notice" => "info",
        "warn" | "warning" | "wrn" => "warn",
        "error" | "err" | "eror" => "error",
        "critical" | "crit" | "fatal" | "panic" | "emerg" | "alert" => "critical",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_detected_from_fields_and_keywords() {
        let none = Labels::new();
        assert_eq!(detect_level(&none, &[], "level=warn msg=x"), "warn");
        assert_eq!(
            detect_level(&none, &[], r#"{"level":"ERROR","m":1}"#),
            "error"
        );
        assert_eq!(detect_level(&none, &[], "[FATAL] it broke"), "critical");
        assert_eq!(
            detect_level(&none, &[("level".into(), "debug".into())], "x"),
            "debug"
        );
        assert_eq!(detect_level(&none, &[], "plain words"), "unknown");
    }
}
