//! The LogQL lexer: source text to positioned tokens.
//!
//! Lexing the whole query up front lets the recursive-descent parser look
//! ahead freely (a `(` may open a log query or a metric one) and gives every
//! token its byte offset, from which errors get Loki's line and column.
//! Token names in messages are Loki's yacc names, so errors read like Loki's.

use super::ParseError;
use super::duration::{parse_bytes, parse_duration};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    /// A string literal's value; `exact` when the value is the source text
    /// between the quotes byte for byte (no escapes), so offsets inside it
    /// map back onto the query.
    Str {
        value: String,
        exact: bool,
    },
    Number(f64),
    Duration(i64),
    Bytes(u64),
    /// `[5m]`, in nanoseconds.
    Range(i64),
    Eq,
    Neq,
    Re,
    Nre,
    CmpEq,
    Gt,
    Gte,
    Lt,
    Lte,
    PipeExact,
    PipeMatch,
    Pipe,
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    /// `|>` and `!>`: pattern line filters.
    PipePattern,
    NotPattern,
    /// `--strict`, `--keep-empty`: a parser's flag, without its dashes.
    Flag(String),
    Eof,
}

/// Identifiers Loki's lexer turns into keyword tokens; its messages name
/// them by the word itself.
const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "and",
    "or",
    "json",
    "logfmt",
    "line_format",
    "label_format",
    "unless",
    "bool",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "json",
    "logfmt",
    "regexp",
    "pattern",
    "unpack",
    "unwrap",
    "decolorize",
    "ip",
    "line_format",
    "label_format",
    "drop",
    "keep",
    "count_over_time",
    "rate",
    "rate_counter",
    "bytes_over_time",
    "bytes_rate",
    "avg_over_time",
    "sum_over_time",
    "min_over_time",
    "max_over_time",
    "stdvar_over_time",
    "stddev_over_time",
    "quantile_over_time",
    "first_over_time",
    "last_over_time",
    "absent_over_time",
    "bytes",
    "duration",
    "duration_seconds",
    "sum",
    "count",
    "avg",
    "min",
    "max",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "sort",
    "sort_desc",
    "vector",
    "label_replace",
];

impl Tok {
    /// The token's name as Loki's parser reports it.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Tok::Ident(s) => KEYWORDS
                .iter()
                .find(|k| *k == s)
                .map_or("IDENTIFIER", |k| k),
            Tok::Str { .. } => "STRING",
            Tok::Number(_) => "NUMBER",
            Tok::Duration(_) => "DURATION",
            Tok::Bytes(_) => "BYTES",
            Tok::Range(_) => "RANGE",
            Tok::Eq => "=",
            Tok::Neq => "!=",
            Tok::Re => "=~",
            Tok::Nre => "!~",
            Tok::CmpEq => "==",
            Tok::Gt => ">",
            Tok::Gte => ">=",
            Tok::Lt => "<",
            Tok::Lte => "<=",
            Tok::PipeExact => "|=",
            Tok::PipeMatch => "|~",
            Tok::Pipe => "|",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::Comma => ",",
            Tok::Add => "+",
            Tok::Sub => "-",
            Tok::Mul => "*",
            Tok::Div => "/",
            Tok::Mod => "%",
            Tok::Pow => "^",
            Tok::PipePattern => "|>",
            Tok::NotPattern => "!>",
            Tok::Flag(_) => "FUNCTION_FLAG",
            Tok::Eof => "$end",
        }
    }

    /// True for the identifier `word`.
    pub(crate) fn is_word(&self, word: &str) -> bool {
        matches!(self, Tok::Ident(s) if s == word)
    }
}

/// Splits `src` into tokens, each with its byte offset; the last is `Eof`
/// at `src.len()`.
pub(crate) fn lex(src: &str) -> Result<Vec<(Tok, usize)>, ParseError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let two = |a: u8, b: u8| c == a && bytes.get(i + 1) == Some(&b);
        let (tok, len) = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'#' => {
                i = memchr::memchr(b'\n', &bytes[i..]).map_or(bytes.len(), |n| i + n);
                continue;
            }
            _ if two(b'=', b'~') => (Tok::Re, 2),
            _ if two(b'=', b'=') => (Tok::CmpEq, 2),
            _ if two(b'!', b'=') => (Tok::Neq, 2),
            _ if two(b'!', b'~') => (Tok::Nre, 2),
            _ if two(b'|', b'=') => (Tok::PipeExact, 2),
            _ if two(b'|', b'~') => (Tok::PipeMatch, 2),
            _ if two(b'|', b'>') => (Tok::PipePattern, 2),
            _ if two(b'!', b'>') => (Tok::NotPattern, 2),
            _ if two(b'-', b'-') && bytes.get(i + 2).is_some_and(u8::is_ascii_alphabetic) => {
                let len = bytes[i + 2..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_' || **b == b'-')
                    .count();
                (Tok::Flag(src[i + 2..i + 2 + len].to_string()), len + 2)
            }
            _ if two(b'>', b'=') => (Tok::Gte, 2),
            _ if two(b'<', b'=') => (Tok::Lte, 2),
            b'=' => (Tok::Eq, 1),
            b'>' => (Tok::Gt, 1),
            b'<' => (Tok::Lt, 1),
            b'|' => (Tok::Pipe, 1),
            b'{' => (Tok::LBrace, 1),
            b'}' => (Tok::RBrace, 1),
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b',' => (Tok::Comma, 1),
            b'-' => (Tok::Sub, 1),
            b'+' => (Tok::Add, 1),
            b'*' => (Tok::Mul, 1),
            b'/' => (Tok::Div, 1),
            b'%' => (Tok::Mod, 1),
            b'^' => (Tok::Pow, 1),
            b'"' => lex_quoted(src, i)?,
            b'`' => {
                let end = memchr::memchr(b'`', &bytes[i + 1..]).ok_or_else(|| {
                    ParseError::at(src, i, "syntax error: literal not terminated")
                })?;
                let value = src[i + 1..i + 1 + end].to_string();
                (Tok::Str { value, exact: true }, end + 2)
            }
            b'[' => {
                let end = memchr::memchr(b']', &bytes[i + 1..]).ok_or_else(|| {
                    ParseError::at(src, i, "syntax error: missing closing ']' in duration")
                })?;
                let text = src[i + 1..i + 1 + end].trim();
                match parse_duration(text, true) {
                    Some(d) if d > 0 => (Tok::Range(d), end + 2),
                    _ => {
                        return Err(ParseError::at(
                            src,
                            i + 1,
                            format!("syntax error: invalid range duration \"{text}\""),
                        ));
                    }
                }
            }
            b'0'..=b'9' | b'.' => lex_number(src, i)?,
            _ if c == b'_' || c.is_ascii_alphabetic() => {
                let len = bytes[i..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .count();
                (Tok::Ident(src[i..i + len].to_string()), len)
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(ParseError::at(
                    src,
                    i,
                    format!("syntax error: unexpected character {ch:?}"),
                ));
            }
        };
        out.push((tok, start));
        i += len;
    }
    out.push((Tok::Eof, src.len()));
    Ok(out)
}

/// A number, duration or byte size: digits, dots and unit letters run
/// together (`1.5`, `1m30s`, `10KB`), then classified in that order.
fn lex_number(src: &str, start: usize) -> Result<(Tok, usize), ParseError> {
    let len = src[start..]
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '.' || c == '\u{b5}' || c == '\u{3bc}'))
        .map_or(src.len() - start, |(n, _)| n);
    let text = &src[start..start + len];
    let tok = if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        text.parse::<f64>().ok().map(Tok::Number)
    } else if let Some(d) = parse_duration(text, true) {
        Some(Tok::Duration(d))
    } else {
        parse_bytes(text).map(Tok::Bytes)
    };
    tok.map(|t| (t, len)).ok_or_else(|| {
        ParseError::at(
            src,
            start,
            format!("syntax error: invalid number \"{text}\""),
        )
    })
}

/// A double-quoted string with Go's escapes (`strconv.Unquote`).
fn lex_quoted(src: &str, start: usize) -> Result<(Tok, usize), ParseError> {
    let mut value = String::new();
    let mut exact = true;
    let mut chars = src[start + 1..].char_indices();
    let err = |off: usize, msg: &str| ParseError::at(src, start + 1 + off, msg);
    // Bytes from `\x` and octal escapes, which may form UTF-8 together.
    let mut pending: Vec<u8> = Vec::new();
    let flush = |pending: &mut Vec<u8>, value: &mut String, off: usize| {
        if pending.is_empty() {
            return Ok(());
        }
        let s = String::from_utf8(std::mem::take(pending))
            .map_err(|_| err(off, "syntax error: invalid UTF-8 in string literal"))?;
        value.push_str(&s);
        Ok::<(), ParseError>(())
    };
    while let Some((off, c)) = chars.next() {
        match c {
            '"' => {
                flush(&mut pending, &mut value, off)?;
                return Ok((Tok::Str { value, exact }, off + 2));
            }
            '\n' => return Err(err(off, "syntax error: newline in string")),
            '\\' => {
                exact = false;
                let (_, e) = chars
                    .next()
                    .ok_or_else(|| err(off, "syntax error: literal not terminated"))?;
                let mut hex = |n: usize| -> Result<u32, ParseError> {
                    let mut v = 0u32;
                    for _ in 0..n {
                        let d = chars
                            .next()
                            .and_then(|(_, h)| h.to_digit(16))
                            .ok_or_else(|| err(off, "syntax error: invalid escape in string"))?;
                        v = v * 16 + d;
                    }
                    Ok(v)
                };
                let ch =
                    match e {
                        'a' => '\u{7}',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        'v' => '\u{b}',
                        '\\' => '\\',
                        '"' => '"',
                        'x' => {
                            pending.push(hex(2)? as u8);
                            continue;
                        }
                        'u' | 'U' => {
                            let v = hex(if e == 'u' { 4 } else { 8 })?;
                            char::from_u32(v)
                                .ok_or_else(|| err(off, "syntax error: invalid escape in string"))?
                        }
                        '0'..='7' => {
                            let mut v = e as u32 - '0' as u32;
                            for _ in 0..2 {
                                let d = chars.next().and_then(|(_, o)| o.to_digit(8)).ok_or_else(
                                    || err(off, "syntax error: invalid escape in string"),
                                )?;
                                v = v * 8 + d;
                            }
                            let b = u8::try_from(v)
                                .map_err(|_| err(off, "syntax error: invalid escape in string"))?;
                            pending.push(b);
                            continue;
                        }
                        _ => return Err(err(off, "syntax error: invalid escape in string")),
                    };
                flush(&mut pending, &mut value, off)?;
                value.push(ch);
            }
            _ => {
                flush(&mut pending, &mut value, off)?;
                value.push(c);
            }
        }
    }
    Err(ParseError::at(
        src,
        start,
        "syntax error: literal not terminated",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|(t, _)| t).collect()
    }

    fn s(v: &str) -> Tok {
        Tok::Str {
            value: v.into(),
            exact: true,
        }
    }

    #[test]
    fn operators_and_positions() {
        let t = lex(r#"{a=~"x"} |= "y" != "z" |~ "r" !~ "q" | b >= 1"#).unwrap();
        let kinds: Vec<_> = t.iter().map(|(t, _)| t.name()).collect();
        assert_eq!(
            kinds,
            [
                "{",
                "IDENTIFIER",
                "=~",
                "STRING",
                "}",
                "|=",
                "STRING",
                "!=",
                "STRING",
                "|~",
                "STRING",
                "!~",
                "STRING",
                "|",
                "IDENTIFIER",
                ">=",
                "NUMBER",
                "$end"
            ]
        );
        assert_eq!(t[1].1, 1);
        assert_eq!(t[3].1, 4);
        assert_eq!(t.last().unwrap().1, 45);
    }

    #[test]
    fn strings() {
        assert_eq!(
            toks(r#""a\"b\\c\n\t\u00e9\x41""#)[0],
            Tok::Str {
                value: "a\"b\\c\n\té\x41".into(),
                exact: false
            }
        );
        assert_eq!(
            toks(r#""\xc3\xa9""#)[0],
            Tok::Str {
                value: "é".into(),
                exact: false
            }
        );
        assert_eq!(toks("`a\\n\"`")[0], s("a\\n\""));
        assert_eq!(toks(r#""plain""#)[0], s("plain"));
        assert!(lex(r#""abc"#).is_err());
        assert!(lex(r#""\q""#).is_err());
        assert!(lex(r#""\xff""#).is_err());
        assert!(lex("`abc").is_err());
    }

    #[test]
    fn numbers_durations_bytes_ranges() {
        assert_eq!(
            toks("10 1.5 10s 1m30s 250ms 10KB 1MiB 5B [5m] [1d]"),
            [
                Tok::Number(10.0),
                Tok::Number(1.5),
                Tok::Duration(10_000_000_000),
                Tok::Duration(90_000_000_000),
                Tok::Duration(250_000_000),
                Tok::Bytes(10_000),
                Tok::Bytes(1 << 20),
                Tok::Bytes(5),
                Tok::Range(300_000_000_000),
                Tok::Range(86_400_000_000_000),
                Tok::Eof
            ]
        );
        assert!(lex("10xyz").is_err());
        assert!(lex("[5x]").is_err());
        assert!(lex("[0s]").is_err());
        assert!(lex("[5m").is_err());
    }

    #[test]
    fn keywords_comments_and_bad_chars() {
        assert_eq!(Tok::Ident("json".into()).name(), "json");
        assert_eq!(Tok::Ident("app".into()).name(), "IDENTIFIER");
        assert_eq!(
            toks("a # comment\n b"),
            [Tok::Ident("a".into()), Tok::Ident("b".into()), Tok::Eof]
        );
        let e = lex("{a=\"b\"} $").unwrap_err();
        assert_eq!((e.pos, e.line, e.col), (8, 1, 9));
    }
}
