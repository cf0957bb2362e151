//! Durations and byte sizes as LogQL writes them.
//!
//! Two dialects meet here because Loki uses both: a range such as `[5m]` or
//! `[1d]` is a Prometheus duration, while a label value compared with
//! `| latency > 250ms` is parsed with Go's `time.ParseDuration`; byte sizes
//! (`10KB`, `1MiB`) follow go-humanize's `ParseBytes`. Keeping the rules in
//! one place keeps the lexer and the label filters agreeing on them.

const NS: i128 = 1;
const US: i128 = 1_000;
const MS: i128 = 1_000_000;
const SEC: i128 = 1_000_000_000;
const MIN: i128 = 60 * SEC;
const HOUR: i128 = 60 * MIN;
const DAY: i128 = 24 * HOUR;

/// Go's `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?unit)+` or `0`, in
/// nanoseconds. With `extended`, the Prometheus units `d`, `w` and `y` are
/// accepted too (what a range selector allows).
pub(crate) fn parse_duration(s: &str, extended: bool) -> Option<i64> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &after_dot[..frac_len];
            rest = &after_dot[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_len = rest
            .char_indices()
            .find(|&(_, c)| c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        let unit = match &rest[..unit_len] {
            "ns" => NS,
            "us" | "\u{b5}s" | "\u{3bc}s" => US,
            "ms" => MS,
            "s" => SEC,
            "m" => MIN,
            "h" => HOUR,
            "d" if extended => DAY,
            "w" if extended => 7 * DAY,
            "y" if extended => 365 * DAY,
            _ => return None,
        };
        rest = &rest[unit_len..];
        let int: i128 = if int_part.is_empty() {
            0
        } else {
            // More than 30 digits overflows any i64 duration anyway.
            if int_part.len() > 30 {
                return None;
            }
            int_part.parse().ok()?
        };
        let mut value = int.checked_mul(unit)?;
        if !frac_part.is_empty() {
            // Digits beyond nanosecond precision cannot change the result.
            let digits = &frac_part[..frac_part.len().min(20)];
            let f: i128 = digits.parse().ok()?;
            let scale = 10i128.checked_pow(digits.len() as u32)?;
            value = value.checked_add(f.checked_mul(unit)? / scale)?;
        }
        total = total.checked_add(value)?;
        if total > i64::MAX as i128 {
            return None;
        }
    }
    let total = if neg { -total } else { total };
    i64::try_from(total).ok()
}

/// go-humanize's `ParseBytes`: a decimal number (commas allowed), optional
/// spaces, then a unit looked up case-insensitively; SI units are powers of
/// 1000, IEC units (`KiB`) powers of 1024, no unit means bytes.
pub(crate) fn parse_bytes(s: &str) -> Option<u64> {
    let num_len = s
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_digit() || c == '.' || c == ','))
        .map_or(s.len(), |(i, _)| i);
    let num: String = s[..num_len].chars().filter(|&c| c != ',').collect();
    if num.is_empty() || num == "." {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    let unit = s[num_len..].trim().to_ascii_lowercase();
    let mult: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "kib" | "ki" => 1024.0,
        "kb" | "k" => 1e3,
        "mib" | "mi" => 1024.0 * 1024.0,
        "mb" | "m" => 1e6,
        "gib" | "gi" => 1024f64.powi(3),
        "gb" | "g" => 1e9,
        "tib" | "ti" => 1024f64.powi(4),
        "tb" | "t" => 1e12,
        "pib" | "pi" => 1024f64.powi(5),
        "pb" | "p" => 1e15,
        "eib" | "ei" => 1024f64.powi(6),
        "eb" | "e" => 1e18,
        _ => return None,
    };
    let bytes = value * mult;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return None;
    }
    Some(bytes.floor() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("10s", false), Some(10_000_000_000));
        assert_eq!(parse_duration("1m30s", false), Some(90_000_000_000));
        assert_eq!(parse_duration("250ms", false), Some(250_000_000));
        assert_eq!(parse_duration("1.5h", false), Some(5_400_000_000_000));
        assert_eq!(parse_duration(".5s", false), Some(500_000_000));
        assert_eq!(parse_duration("1.1s", false), Some(1_100_000_000));
        assert_eq!(parse_duration("-2us", false), Some(-2_000));
        assert_eq!(parse_duration("3\u{b5}s", false), Some(3_000));
        assert_eq!(parse_duration("7ns", false), Some(7));
        assert_eq!(parse_duration("0", false), Some(0));
        assert_eq!(parse_duration("2h45m", false), Some(9_900_000_000_000));
    }

    #[test]
    fn bad_durations() {
        for s in [
            "",
            "10",
            "s",
            "1x",
            "1d",
            "1.s.",
            "-",
            "1s2",
            "9999999999999h",
        ] {
            assert_eq!(parse_duration(s, false), None, "{s}");
        }
    }

    #[test]
    fn extended_units() {
        assert_eq!(parse_duration("1d", true), Some(86_400_000_000_000));
        assert_eq!(parse_duration("1w", true), Some(7 * 86_400_000_000_000));
        assert_eq!(parse_duration("1y", true), Some(365 * 86_400_000_000_000));
        assert_eq!(parse_duration("1d12h", true), Some(129_600_000_000_000));
    }

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("5B"), Some(5));
        assert_eq!(parse_bytes("10KB"), Some(10_000));
        assert_eq!(parse_bytes("10kB"), Some(10_000));
        assert_eq!(parse_bytes("1MiB"), Some(1 << 20));
        assert_eq!(parse_bytes("1mib"), Some(1 << 20));
        assert_eq!(parse_bytes("2GiB"), Some(2 << 30));
        assert_eq!(parse_bytes("1.5 KB"), Some(1500));
        assert_eq!(parse_bytes("1,024"), Some(1024));
        assert_eq!(parse_bytes("42"), Some(42));
        assert_eq!(parse_bytes("3GB"), Some(3_000_000_000));
        for s in ["", "KB", "1XB", "1.2.3", "x"] {
            assert_eq!(parse_bytes(s), None, "{s}");
        }
    }
}
