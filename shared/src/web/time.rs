//! Times and durations in requests, each parser named for the unit it
//! gives: Loki's many spellings of an instant and of a duration, in
//! nanoseconds (the unit of labelled streams), and RFC 3339 dates in
//! microseconds (the unit of stored records). A value that is none of them
//! is a 400 naming its parameter.

use super::problem::Problem;

/// A time as Loki takes one: nanoseconds (or seconds, up to 10 digits) since
/// the epoch, fractional seconds (`1700000000.5`), or RFC 3339.
pub fn parse_time_ns(name: &str, value: &str) -> Result<u64, Problem> {
    let bad = || {
        Problem::bad_param(
            name,
            format!(
                "{name} {value:?} is not a time: nanoseconds since the epoch, seconds (with a fraction), or RFC 3339"
            ),
        )
    };
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        let n: u64 = v.parse().map_err(|_| bad())?;
        return Ok(if v.len() <= 10 {
            n.saturating_mul(1_000_000_000)
        } else {
            n
        });
    }
    if v.contains('.') && !v.contains('T') {
        let f: f64 = v.parse().map_err(|_| bad())?;
        if !(0.0..1e11).contains(&f) {
            return Err(bad());
        }
        return Ok((f * 1e9) as u64);
    }
    let t = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map_err(|_| bad())?;
    u64::try_from(t.unix_timestamp_nanos()).map_err(|_| bad())
}

/// A duration: Go's (`1h30m`, `250ms`) or Prometheus' (`1d`, `1w`), or plain seconds.
pub fn parse_duration_ns(name: &str, value: &str) -> Result<u64, Problem> {
    let bad = || {
        Problem::bad_param(
            name,
            format!("{name} {value:?} is not a duration, like 15s, 5m, 1h30m or 2d"),
        )
    };
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        if !(0.0..1e11).contains(&secs) {
            return Err(bad());
        }
        return Ok((secs * 1e9) as u64);
    }
    crate::logql::parse_duration(v)
        .ok()
        .and_then(|d| u64::try_from(d).ok())
        .ok_or_else(bad)
}

/// An RFC 3339 date, in microseconds since the epoch (how records keep time).
pub fn parse_rfc3339_us(name: &str, value: &str) -> Result<u64, Problem> {
    let t = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            Problem::bad_param(name, format!("{name} {value:?} is not an RFC 3339 date"))
        })?;
    u64::try_from(t.unix_timestamp_nanos() / 1000)
        .map_err(|_| Problem::bad_param(name, format!("{name} is before 1970")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loki_times_in_every_spelling() {
        let ns = 1_700_000_000_000_000_000;
        assert_eq!(parse_time_ns("t", "1700000000").unwrap(), ns);
        assert_eq!(
            parse_time_ns("t", "1700000000123456789").unwrap(),
            ns + 123_456_789
        );
        assert_eq!(
            parse_time_ns("t", "1700000000.5").unwrap(),
            ns + 500_000_000
        );
        assert_eq!(parse_time_ns("t", "2023-11-14T22:13:20Z").unwrap(), ns);
        let p = parse_time_ns("start", "yesterday").unwrap_err();
        assert_eq!(p.extra["parameter"], "start");
    }

    #[test]
    fn durations_and_dates() {
        assert_eq!(
            parse_duration_ns("since", "1h30m").unwrap(),
            5_400_000_000_000
        );
        assert_eq!(parse_duration_ns("step", "14").unwrap(), 14_000_000_000);
        assert!(parse_duration_ns("step", "-1").is_err());
        assert_eq!(
            parse_rfc3339_us("d", "1970-01-01T00:00:01Z").unwrap(),
            1_000_000
        );
        assert!(parse_rfc3339_us("d", "1700000000").is_err());
    }
}
