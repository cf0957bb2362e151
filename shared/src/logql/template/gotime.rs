//! Go's time layouts (`2006-01-02T15:04:05Z07:00`), formatting and parsing
//! in UTC: what `date`, `toDate`, `toDateInZone` and `__timestamp__` use in
//! Loki's templates. A layout is the reference time written the way the
//! output should look, so a query written for Loki formats the same here.

use time::{Month, OffsetDateTime, PrimitiveDateTime, UtcOffset, Weekday};

/// One element of a layout.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Chunk<'a> {
    Lit(&'a str),
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekday,
    Weekday,
    Day,
    UnderDay,
    ZeroDay,
    YearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM(bool),
    TzName,
    /// `-0700` style offsets: (with Z for UTC, colons, seconds, minutes).
    Offset {
        z: bool,
        colon: bool,
        minutes: bool,
    },
    /// `.000` (zeros kept) or `.999` (trailing zeros trimmed), n digits.
    Frac {
        digits: usize,
        trim: bool,
    },
}

/// The next chunk of `layout`: the longest standard element at its start,
/// or one literal character.
fn next(layout: &str) -> (Chunk<'_>, usize) {
    const TABLE: &[(&str, Chunk<'static>)] = &[
        ("January", Chunk::LongMonth),
        ("Jan", Chunk::Month),
        ("Monday", Chunk::LongWeekday),
        ("Mon", Chunk::Weekday),
        ("MST", Chunk::TzName),
        ("002", Chunk::YearDay),
        ("01", Chunk::ZeroMonth),
        ("02", Chunk::ZeroDay),
        ("03", Chunk::ZeroHour12),
        ("04", Chunk::ZeroMinute),
        ("05", Chunk::ZeroSecond),
        ("06", Chunk::Year),
        ("15", Chunk::Hour),
        ("1", Chunk::NumMonth),
        ("2006", Chunk::LongYear),
        ("2", Chunk::Day),
        ("_2", Chunk::UnderDay),
        ("3", Chunk::Hour12),
        ("4", Chunk::Minute),
        ("5", Chunk::Second),
        ("PM", Chunk::PM(true)),
        ("pm", Chunk::PM(false)),
        (
            "Z07:00",
            Chunk::Offset {
                z: true,
                colon: true,
                minutes: true,
            },
        ),
        (
            "Z0700",
            Chunk::Offset {
                z: true,
                colon: false,
                minutes: true,
            },
        ),
        (
            "Z07",
            Chunk::Offset {
                z: true,
                colon: false,
                minutes: false,
            },
        ),
        (
            "-07:00",
            Chunk::Offset {
                z: false,
                colon: true,
                minutes: true,
            },
        ),
        (
            "-0700",
            Chunk::Offset {
                z: false,
                colon: false,
                minutes: true,
            },
        ),
        (
            "-07",
            Chunk::Offset {
                z: false,
                colon: false,
                minutes: false,
            },
        ),
    ];
    for (text, chunk) in TABLE {
        if layout.starts_with(text) {
            return (*chunk, text.len());
        }
    }
    if let Some(f) = frac(layout) {
        return f;
    }
    let len = layout.chars().next().map_or(1, char::len_utf8);
    (Chunk::Lit(&layout[..len]), len)
}

/// `.000`/`.999` (or with a comma) not followed by a digit.
fn frac(layout: &str) -> Option<(Chunk<'static>, usize)> {
    let b = layout.as_bytes();
    if !matches!(b.first(), Some(b'.' | b',')) {
        return None;
    }
    let d = *b.get(1)?;
    if d != b'0' && d != b'9' {
        return None;
    }
    let n = b[1..].iter().take_while(|&&c| c == d).count();
    if b.get(1 + n).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some((
        Chunk::Frac {
            digits: n,
            trim: d == b'9',
        },
        1 + n,
    ))
}

fn utc(ns: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ns as i128).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `t` (ns, UTC) formatted with Go layout `layout`.
pub(crate) fn format(ns: i64, layout: &str) -> String {
    let t = utc(ns);
    let mut out = String::new();
    let mut rest = layout;
    while !rest.is_empty() {
        let (chunk, len) = next(rest);
        write_chunk(&mut out, &t, chunk);
        rest = &rest[len..];
    }
    out
}

fn write_chunk(out: &mut String, t: &OffsetDateTime, chunk: Chunk) {
    let hour12 = match t.hour() % 12 {
        0 => 12,
        h => h,
    };
    match chunk {
        Chunk::Lit(s) => out.push_str(s),
        Chunk::LongMonth => out.push_str(&month_name(t.month())),
        Chunk::Month => out.push_str(&month_name(t.month())[..3]),
        Chunk::NumMonth => out.push_str(&(t.month() as u8).to_string()),
        Chunk::ZeroMonth => out.push_str(&format!("{:02}", t.month() as u8)),
        Chunk::LongWeekday => out.push_str(&weekday_name(t.weekday())),
        Chunk::Weekday => out.push_str(&weekday_name(t.weekday())[..3]),
        Chunk::Day => out.push_str(&t.day().to_string()),
        Chunk::UnderDay => out.push_str(&format!("{:>2}", t.day())),
        Chunk::ZeroDay => out.push_str(&format!("{:02}", t.day())),
        Chunk::YearDay => out.push_str(&format!("{:03}", t.ordinal())),
        Chunk::Hour => out.push_str(&format!("{:02}", t.hour())),
        Chunk::Hour12 => out.push_str(&hour12.to_string()),
        Chunk::ZeroHour12 => out.push_str(&format!("{hour12:02}")),
        Chunk::Minute => out.push_str(&t.minute().to_string()),
        Chunk::ZeroMinute => out.push_str(&format!("{:02}", t.minute())),
        Chunk::Second => out.push_str(&t.second().to_string()),
        Chunk::ZeroSecond => out.push_str(&format!("{:02}", t.second())),
        Chunk::LongYear => out.push_str(&format!("{:04}", t.year())),
        Chunk::Year => out.push_str(&format!("{:02}", t.year().rem_euclid(100))),
        Chunk::PM(upper) => {
            let pm = if t.hour() >= 12 { "PM" } else { "AM" };
            out.push_str(&if upper {
                pm.to_owned()
            } else {
                pm.to_lowercase()
            });
        }
        Chunk::TzName => out.push_str("UTC"),
        Chunk::Offset { z, colon, minutes } => out.push_str(match (z, colon, minutes) {
            (true, _, _) => "Z",
            (false, true, _) => "+00:00",
            (false, false, true) => "+0000",
            (false, false, false) => "+00",
        }),
        Chunk::Frac { digits, trim } => {
            let ns = format!("{:09}", t.nanosecond());
            let mut d = ns[..digits.min(9)].to_owned();
            if trim {
                while d.ends_with('0') {
                    d.pop();
                }
                if !d.is_empty() {
                    out.push('.');
                    out.push_str(&d);
                }
            } else {
                out.push('.');
                out.push_str(&d);
            }
        }
    }
}

fn month_name(m: Month) -> String {
    format!("{m}")
}

fn weekday_name(d: Weekday) -> String {
    format!("{d}")
}

/// How Go prints a `time.Time` (`%v`): `2006-01-02 15:04:05.999999999 -0700 MST`.
pub(crate) fn go_string(ns: i64) -> String {
    format(ns, "2006-01-02 15:04:05.999999999 -0700 MST")
}

/// What parsing has read so far.
#[derive(Default)]
struct Parsed {
    year: i32,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    nanos: u32,
    pm: Option<bool>,
    offset_s: i32,
}

/// `value` parsed with Go layout `layout`, as UTC (or the offset it names).
pub(crate) fn parse(layout: &str, value: &str) -> Result<i64, String> {
    let bad = || format!("parsing time {value:?} as {layout:?}: cannot parse");
    let mut p = Parsed {
        year: 1,
        month: 1,
        day: 1,
        ..Parsed::default()
    };
    let (mut l, mut v) = (layout, value);
    while !l.is_empty() {
        let (chunk, len) = next(l);
        l = &l[len..];
        v = parse_chunk(chunk, v, &mut p).ok_or_else(bad)?;
        // Go reads a fraction after the seconds when the layout has none next.
        let frac_next = !l.is_empty() && matches!(next(l).0, Chunk::Frac { .. });
        if matches!(chunk, Chunk::Second | Chunk::ZeroSecond)
            && !frac_next
            && let Some(f) = v
                .strip_prefix(['.', ','])
                .filter(|f| f.starts_with(|c: char| c.is_ascii_digit()))
        {
            v = fraction(f, &mut p);
        }
    }
    if !v.is_empty() {
        return Err(format!("parsing time {value:?}: extra text: {v:?}"));
    }
    if let Some(pm) = p.pm {
        p.hour = p.hour % 12 + if pm { 12 } else { 0 };
    }
    let month = Month::try_from(p.month).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(p.year, month, p.day).map_err(|_| bad())?;
    let t = time::Time::from_hms_nano(p.hour, p.minute, p.second, p.nanos).map_err(|_| bad())?;
    let offset = UtcOffset::from_whole_seconds(p.offset_s).map_err(|_| bad())?;
    let dt = PrimitiveDateTime::new(date, t).assume_offset(offset);
    i64::try_from(dt.unix_timestamp_nanos()).map_err(|_| bad())
}

/// Reads up to `max` digits (at least `min`) from the start of `v`.
fn digits(v: &str, min: usize, max: usize) -> Option<(u32, &str)> {
    let n = v.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if n < min {
        return None;
    }
    Some((v[..n].parse().ok()?, &v[n..]))
}

fn parse_chunk<'v>(chunk: Chunk, v: &'v str, p: &mut Parsed) -> Option<&'v str> {
    let num = |min, max, slot: &mut u8| -> Option<&'v str> {
        let (n, rest) = digits(v, min, max)?;
        *slot = u8::try_from(n).ok()?;
        Some(rest)
    };
    match chunk {
        Chunk::Lit(s) => v.strip_prefix(s),
        Chunk::ZeroMonth | Chunk::NumMonth => num(1, 2, &mut p.month),
        Chunk::ZeroDay | Chunk::Day => num(1, 2, &mut p.day),
        Chunk::UnderDay => num(1, 2, &mut p.day).or_else(|| {
            let t = v.strip_prefix(' ')?;
            let (n, rest) = digits(t, 1, 1)?;
            p.day = n as u8;
            Some(rest)
        }),
        Chunk::Hour | Chunk::Hour12 | Chunk::ZeroHour12 => num(1, 2, &mut p.hour),
        Chunk::Minute | Chunk::ZeroMinute => num(1, 2, &mut p.minute),
        Chunk::Second | Chunk::ZeroSecond => num(1, 2, &mut p.second),
        Chunk::LongYear => {
            let (n, rest) = digits(v, 4, 4)?;
            p.year = n as i32;
            Some(rest)
        }
        Chunk::Year => {
            let (n, rest) = digits(v, 2, 2)?;
            p.year = if n >= 69 {
                1900 + n as i32
            } else {
                2000 + n as i32
            };
            Some(rest)
        }
        Chunk::YearDay => digits(v, 3, 3).map(|(_, r)| r),
        Chunk::PM(_) => {
            let word = v.get(..2)?;
            p.pm = Some(match word.to_ascii_lowercase().as_str() {
                "am" => false,
                "pm" => true,
                _ => return None,
            });
            Some(&v[2..])
        }
        Chunk::Frac { digits, trim } => match v.strip_prefix(['.', ',']) {
            Some(f) if f.starts_with(|c: char| c.is_ascii_digit()) => {
                let n = f.bytes().take_while(u8::is_ascii_digit).count();
                (trim || n == digits).then(|| fraction(f, p))
            }
            // `.999`: the fraction may be left out.
            _ if trim => Some(v),
            _ => None,
        },
        Chunk::LongMonth | Chunk::Month => month_word(v, p),
        Chunk::LongWeekday | Chunk::Weekday => {
            let n = v.bytes().take_while(u8::is_ascii_alphabetic).count();
            (n >= 3).then(|| &v[n..])
        }
        Chunk::TzName => {
            let n = v.bytes().take_while(u8::is_ascii_uppercase).count();
            (n >= 3).then(|| &v[n..])
        }
        Chunk::Offset { z, .. } => offset(v, z, p),
    }
}

fn fraction<'v>(f: &'v str, p: &mut Parsed) -> &'v str {
    let n = f.bytes().take_while(u8::is_ascii_digit).count();
    let digits = &f[..n.min(9)];
    let scaled = format!("{digits:0<9}");
    p.nanos = scaled.parse().unwrap_or(0);
    &f[n..]
}

fn month_word<'v>(v: &'v str, p: &mut Parsed) -> Option<&'v str> {
    let n = v.bytes().take_while(u8::is_ascii_alphabetic).count();
    let word = v[..n].to_ascii_lowercase();
    let m = (1u8..=12).find(|m| {
        let name = month_name(Month::try_from(*m).unwrap_or(Month::January)).to_ascii_lowercase();
        name == word || name[..3] == word
    })?;
    p.month = m;
    Some(&v[n..])
}

fn offset<'v>(v: &'v str, z: bool, p: &mut Parsed) -> Option<&'v str> {
    if z && let Some(rest) = v.strip_prefix('Z') {
        return Some(rest);
    }
    let sign = match v.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, rest) = digits(&v[1..], 2, 2)?;
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    let (m, rest) = digits(rest, 2, 2).unwrap_or((0, rest));
    p.offset_s = sign * (h as i32 * 3600 + m as i32 * 60);
    Some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_635_847_445_123_000_000; // 2021-11-02T10:04:05.123Z, a Tuesday

    #[test]
    fn formats_like_go() {
        assert_eq!(format(T, "2006-01-02"), "2021-11-02");
        // `Z-07:00` is no zone element: a literal Z, then an offset, as in Go.
        assert_eq!(
            format(T, "2006-01-02T15:04:05.00Z-07:00"),
            "2021-11-02T10:04:05.12Z+00:00"
        );
        assert_eq!(format(T, "Mon Jan _2 3:04PM"), "Tue Nov  2 10:04AM");
        assert_eq!(format(T, "January 2, 06 .999"), "November 2, 21 .123");
        assert_eq!(go_string(T), "2021-11-02 10:04:05.123 +0000 UTC");
        assert_eq!(go_string(0), "1970-01-01 00:00:00 +0000 UTC");
    }

    #[test]
    fn parses_like_go() {
        assert_eq!(
            parse("2006-01-02", "2021-11-02").unwrap(),
            1_635_811_200_000_000_000
        );
        assert_eq!(
            parse("2006-01-02T15:04:05.999999999Z", "2021-11-02T10:04:05.123Z").unwrap(),
            T
        );
        assert_eq!(
            parse("2006-01-02T15:04:05Z07:00", "2021-11-02T12:04:05+02:00").unwrap(),
            T - 123_000_000
        );
        assert!(parse("2006-01-02", "2021/11/02").is_err());
        assert!(parse("2006-01-02", "2021-13-02").is_err());
        assert!(parse("2006-01-02", "2021-11-02x").is_err());
    }
}
