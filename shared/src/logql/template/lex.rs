//! A template split into text and actions, each action into tokens, as Go's
//! `text/template/parse` lexer splits it (trim markers applied, comments
//! dropped, strings inside actions may hold `}}`).

use super::TemplateError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
    Str(String),
    Number(String),
    Char(char),
    Ident(String),
    /// `.a.b` (empty: `.` alone).
    Field(Vec<String>),
    /// `$x.a.b` (`$` alone names the data).
    Var(String, Vec<String>),
}

/// Text, or an action's tokens with the offset of its `{{`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Item {
    Text(String),
    Action(Vec<Tok>, usize),
}

pub(super) fn lex(src: &str) -> Result<Vec<Item>, TemplateError> {
    let mut items = Vec::new();
    let mut pos = 0;
    let mut trim_next = false;
    while pos < src.len() {
        let Some(open) = src[pos..].find("{{").map(|i| pos + i) else {
            push_text(&mut items, &src[pos..], trim_next, false);
            break;
        };
        let trim_left = src[open + 2..].starts_with("- ")
            || src[open + 2..].starts_with("-\t")
            || src[open + 2..].starts_with("-\n");
        push_text(&mut items, &src[pos..open], trim_next, trim_left);
        let start = open + 2 + if trim_left { 1 } else { 0 };
        let (toks, end, trim_right) = action(src, start, open)?;
        if !toks.is_empty() {
            items.push(Item::Action(toks, open));
        }
        trim_next = trim_right;
        pos = end;
    }
    Ok(items)
}

fn push_text(items: &mut Vec<Item>, text: &str, trim_start: bool, trim_end: bool) {
    let mut t = text;
    if trim_start {
        t = t.trim_start();
    }
    if trim_end {
        t = t.trim_end();
    }
    if !t.is_empty() {
        items.push(Item::Text(t.to_owned()));
    }
}

/// The tokens of the action starting at `i` (after `{{`), the offset after
/// its `}}`, and whether it ends with ` -}}`.
fn action(src: &str, mut i: usize, open: usize) -> Result<(Vec<Tok>, usize, bool), TemplateError> {
    let b = src.as_bytes();
    let mut toks = Vec::new();
    let err = |at: usize, m: &str| (at, m.to_owned());
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if src[i..].starts_with("/*") {
            let end = src[i..]
                .find("*/")
                .ok_or_else(|| err(open, "unclosed comment"))?;
            i += end + 2;
            continue;
        }
        if src[i..].starts_with("}}") {
            return Ok((toks, i + 2, false));
        }
        if src[i..].starts_with("-}}") && i > 0 && b[i - 1].is_ascii_whitespace() {
            return Ok((toks, i + 3, true));
        }
        let Some(&c) = b.get(i) else {
            return Err(err(open, "unclosed action"));
        };
        let (tok, len) = match c {
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b'|' => (Tok::Pipe, 1),
            b',' => (Tok::Comma, 1),
            b':' if b.get(i + 1) == Some(&b'=') => (Tok::Declare, 2),
            b'=' => (Tok::Assign, 1),
            b'"' => quoted(src, i).ok_or_else(|| err(i, "unterminated quoted string"))?,
            b'`' => {
                let end = src[i + 1..]
                    .find('`')
                    .ok_or_else(|| err(i, "unterminated raw quoted string"))?;
                (Tok::Str(src[i + 1..i + 1 + end].to_owned()), end + 2)
            }
            b'\'' => {
                let ch = src[i + 1..]
                    .chars()
                    .next()
                    .ok_or_else(|| err(i, "unterminated character constant"))?;
                if src[i + 1 + ch.len_utf8()..].starts_with('\'') {
                    (Tok::Char(ch), ch.len_utf8() + 2)
                } else {
                    return Err(err(i, "unterminated character constant"));
                }
            }
            b'.' if !b.get(i + 1).is_some_and(u8::is_ascii_digit) => fields(src, i, Tok::Field),
            b'$' => {
                let n = word(&src[i + 1..]);
                let name = format!("${}", &src[i + 1..i + 1 + n]);
                let (tok, len) = fields(src, i + 1 + n, move |f| Tok::Var(name.clone(), f));
                (tok, len + 1 + n)
            }
            b'0'..=b'9' | b'.' | b'-' | b'+' => {
                let n = src[i..]
                    .char_indices()
                    .skip(1)
                    .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                    .map_or(src.len() - i, |(n, _)| n);
                (Tok::Number(src[i..i + n].to_owned()), n)
            }
            _ if c == b'_' || c.is_ascii_alphabetic() => {
                let n = word(&src[i..]);
                (Tok::Ident(src[i..i + n].to_owned()), n)
            }
            _ => {
                // A whole character, which may be more than this byte.
                let ch = src[i..]
                    .chars()
                    .next()
                    .unwrap_or(char::REPLACEMENT_CHARACTER);
                return Err(err(i, &format!("unexpected {ch:?} in command")));
            }
        };
        toks.push(tok);
        i += len;
    }
}

/// The length of the identifier at the start of `s`.
fn word(s: &str) -> usize {
    s.bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count()
}

/// A chain `.a.b` starting at `i` (which is a `.`, or not: then empty).
fn fields(src: &str, mut i: usize, make: impl Fn(Vec<String>) -> Tok) -> (Tok, usize) {
    let start = i;
    let mut chain = Vec::new();
    while src[i..].starts_with('.') {
        let n = word(&src[i + 1..]);
        if n == 0 {
            i += 1;
            break;
        }
        chain.push(src[i + 1..i + 1 + n].to_owned());
        i += 1 + n;
    }
    (make(chain), i - start)
}

/// A Go double-quoted string at `i`: its value and length.
fn quoted(src: &str, i: usize) -> Option<(Tok, usize)> {
    let mut out = String::new();
    let mut chars = src[i + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            '"' => return Some((Tok::Str(out), off + 2)),
            '\n' => return None,
            '\\' => {
                let (_, e) = chars.next()?;
                out.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'v' => '\u{b}',
                    '\\' => '\\',
                    '"' => '"',
                    '\'' => '\'',
                    'u' => {
                        let hex: String = (0..4)
                            .filter_map(|_| chars.next().map(|(_, h)| h))
                            .collect();
                        char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
                    }
                    _ => return None,
                });
            }
            _ => out.push(c),
        }
    }
    None
}
