//! The functions Loki's templates may call: Go's builtins, Loki's own
//! (`__line__`, `alignLeft`, `unixToTime`, ...) and the sprig functions it
//! registers, with their argument order (a piped value is the last
//! argument: `{{ .path | replace " " "_" }}` is `replace " " "_" .path`).

use super::gotime;
use super::value::go_float;
use super::{MAX_OUTPUT, Value, too_long};
use crate::logql::selector::compile_regex;
use regex_lite::Regex;

type Args = Vec<Value>;

/// Calls `name` with `args`; an unknown name is an error, as Go's parser
/// reports it.
pub(super) fn call(name: &str, args: Args) -> Result<Value, String> {
    if let Some(v) = strings(name, &args)? {
        return Ok(v);
    }
    if let Some(v) = math(name, &args)? {
        return Ok(v);
    }
    if let Some(v) = times(name, &args)? {
        return Ok(v);
    }
    if let Some(v) = builtins(name, &args)? {
        return Ok(v);
    }
    Err(format!("function {name:?} not defined"))
}

/// Argument `i` as a string (missing: an arity error).
fn s(args: &Args, i: usize, name: &str) -> Result<String, String> {
    args.get(i)
        .map(Value::string)
        .ok_or_else(|| format!("wrong number of args for {name}: want at least {}", i + 1))
}

fn n(args: &Args, i: usize, name: &str) -> Result<i64, String> {
    args.get(i)
        .map(Value::int)
        .ok_or_else(|| format!("wrong number of args for {name}: want at least {}", i + 1))
}

fn f(args: &Args, i: usize, name: &str) -> Result<f64, String> {
    args.get(i)
        .map(Value::float)
        .ok_or_else(|| format!("wrong number of args for {name}: want at least {}", i + 1))
}

fn str_v(s: impl Into<String>) -> Option<Value> {
    Some(Value::Str(s.into()))
}

fn strings(name: &str, a: &Args) -> Result<Option<Value>, String> {
    Ok(match name {
        "ToLower" | "lower" => str_v(s(a, 0, name)?.to_lowercase()),
        "ToUpper" | "upper" => str_v(s(a, 0, name)?.to_uppercase()),
        "title" => str_v(title(&s(a, 0, name)?)),
        "Replace" => {
            let (src, old, new, count) = (
                s(a, 0, name)?,
                s(a, 1, name)?,
                s(a, 2, name)?,
                n(a, 3, name)?,
            );
            let count = usize::try_from(count).ok();
            fits(replaced_len(&src, &old, &new, count), name)?;
            str_v(match count {
                None => src.replace(&old, &new),
                Some(n) => src.replacen(&old, &new, n),
            })
        }
        "replace" => {
            let (old, new, src) = (s(a, 0, name)?, s(a, 1, name)?, s(a, 2, name)?);
            fits(replaced_len(&src, &old, &new, None), name)?;
            str_v(src.replace(&old, &new))
        }
        "Trim" => str_v(
            s(a, 0, name)?
                .trim_matches(|c| s(a, 1, name).unwrap_or_default().contains(c))
                .to_owned(),
        ),
        "TrimLeft" => str_v(
            s(a, 0, name)?
                .trim_start_matches(|c| s(a, 1, name).unwrap_or_default().contains(c))
                .to_owned(),
        ),
        "TrimRight" => str_v(
            s(a, 0, name)?
                .trim_end_matches(|c| s(a, 1, name).unwrap_or_default().contains(c))
                .to_owned(),
        ),
        "trimAll" => str_v(
            s(a, 1, name)?
                .trim_matches(|c| s(a, 0, name).unwrap_or_default().contains(c))
                .to_owned(),
        ),
        "TrimPrefix" => str_v(strip(&s(a, 0, name)?, &s(a, 1, name)?, true)),
        "TrimSuffix" => str_v(strip(&s(a, 0, name)?, &s(a, 1, name)?, false)),
        "trimPrefix" => str_v(strip(&s(a, 1, name)?, &s(a, 0, name)?, true)),
        "trimSuffix" => str_v(strip(&s(a, 1, name)?, &s(a, 0, name)?, false)),
        "TrimSpace" | "trim" => str_v(s(a, 0, name)?.trim().to_owned()),
        "contains" => Some(Value::Bool(s(a, 1, name)?.contains(&s(a, 0, name)?))),
        "hasPrefix" => Some(Value::Bool(s(a, 1, name)?.starts_with(&s(a, 0, name)?))),
        "hasSuffix" => Some(Value::Bool(s(a, 1, name)?.ends_with(&s(a, 0, name)?))),
        "trunc" => str_v(trunc(n(a, 0, name)?, &s(a, 1, name)?)),
        "substr" => str_v(substr(n(a, 0, name)?, n(a, 1, name)?, &s(a, 2, name)?)),
        "repeat" => {
            let count = n(a, 0, name)?.clamp(0, 1 << 16) as usize;
            let src = s(a, 1, name)?;
            fits(src.len().saturating_mul(count), name)?;
            str_v(src.repeat(count))
        }
        "indent" => str_v(indent(n(a, 0, name)?, &s(a, 1, name)?)?),
        "nindent" => str_v(format!("\n{}", indent(n(a, 0, name)?, &s(a, 1, name)?)?)),
        "alignLeft" => str_v(align(n(a, 0, name)?, &s(a, 1, name)?, true)?),
        "alignRight" => str_v(align(n(a, 0, name)?, &s(a, 1, name)?, false)?),
        "regexReplaceAll" | "regexReplaceAllLiteral" => {
            let re = compile_regex(&s(a, 0, name)?)?;
            let (src, repl) = (s(a, 1, name)?, s(a, 2, name)?);
            str_v(regex_replace(&re, &src, &repl, name)?)
        }
        "count" => {
            let re = compile_regex(&s(a, 0, name)?)?;
            Some(Value::Int(re.find_iter(&s(a, 1, name)?).count() as i64))
        }
        "b64enc" => {
            use base64::Engine;
            str_v(base64::engine::general_purpose::STANDARD.encode(s(a, 0, name)?))
        }
        "b64dec" => str_v(b64dec(&s(a, 0, name)?)),
        "urlencode" => {
            str_v(form_urlencoded::byte_serialize(s(a, 0, name)?.as_bytes()).collect::<String>())
        }
        "urldecode" => str_v(urldecode(&s(a, 0, name)?)?),
        "default" => {
            let given = a.get(1).filter(|v| v.truthy()).cloned();
            Some(given.unwrap_or_else(|| a.first().cloned().unwrap_or(Value::Nil)))
        }
        "fromJson" => Some(
            serde_json::from_str::<serde_json::Value>(&s(a, 0, name)?)
                .map(Value::from_json)
                .unwrap_or(Value::Map(Default::default())),
        ),
        _ => None,
    })
}

fn strip(src: &str, affix: &str, prefix: bool) -> String {
    let out = if prefix {
        src.strip_prefix(affix)
    } else {
        src.strip_suffix(affix)
    };
    out.unwrap_or(src).to_owned()
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric() && c != '\'';
    }
    out
}

fn trunc(c: i64, s: &str) -> String {
    let runes: Vec<char> = s.chars().collect();
    let l = runes.len() as i64;
    if c < 0 && l + c > 0 {
        return runes[(l + c) as usize..].iter().collect();
    }
    if c >= 0 && l > c {
        return runes[..c as usize].iter().collect();
    }
    s.to_owned()
}

/// sprig's `substr`: a negative start means 0, a negative or too large end the end.
fn substr(start: i64, end: i64, s: &str) -> String {
    let bytes = s.as_bytes();
    let len = bytes.len() as i64;
    let start = start.clamp(0, len) as usize;
    let end = if end < 0 || end > len {
        len as usize
    } else {
        end as usize
    };
    if start > end {
        return String::new();
    }
    String::from_utf8_lossy(&bytes[start..end]).into_owned()
}

/// Ok when a result of `len` bytes is within [`MAX_OUTPUT`]; checked before
/// a function that multiplies its input builds it.
fn fits(len: usize, name: &str) -> Result<(), String> {
    match len > MAX_OUTPUT {
        true => Err(too_long(name)),
        false => Ok(()),
    }
}

/// The length of `src` with `old` replaced by `new` (the first `count`
/// times, or every time), or an upper bound when it cannot grow: an
/// empty `old` matches before every character and at the end, as Go's
/// `strings.Replace` does.
fn replaced_len(src: &str, old: &str, new: &str, count: Option<usize>) -> usize {
    if !old.is_empty() && new.len() <= old.len() {
        return src.len(); // cannot grow: no need to count
    }
    let found = match old.is_empty() {
        true => src.chars().count() + 1,
        false => src.matches(old).count(),
    };
    let n = count.map_or(found, |c| c.min(found));
    (src.len() - n * old.len()).saturating_add(n.saturating_mul(new.len()))
}

/// Every match of `re` in `src` replaced by `repl`: with `$1`-style groups
/// expanded for `regexReplaceAll`, literally for `regexReplaceAllLiteral`.
/// Each replacement is bounded before it is written: a group lies inside
/// its match, so it expands to at most `repl` plus the match once per `$`.
/// A replacement that names the whole match many times could otherwise
/// build gigabytes from one match.
fn regex_replace(re: &Regex, src: &str, repl: &str, name: &str) -> Result<String, String> {
    let refs = match name == "regexReplaceAll" {
        true => repl.matches('$').count(),
        false => 0,
    };
    let mut out = String::new();
    let mut last = 0;
    let mut put = |out: &mut String, start: usize, end: usize| {
        let most = repl.len().saturating_add(refs.saturating_mul(end - start));
        fits(out.len() + (start - last) + most, name)?;
        out.push_str(&src[last..start]);
        last = end;
        Ok::<(), String>(())
    };
    if refs == 0 {
        for m in re.find_iter(src) {
            put(&mut out, m.start(), m.end())?;
            out.push_str(repl);
        }
    } else {
        for caps in re.captures_iter(src) {
            let Some(m) = caps.get(0) else { continue };
            put(&mut out, m.start(), m.end())?;
            caps.expand(repl, &mut out);
        }
    }
    out.push_str(&src[last..]);
    Ok(out)
}

fn indent(spaces: i64, s: &str) -> Result<String, String> {
    let pad = " ".repeat(spaces.clamp(0, 1024) as usize);
    let lines = s.bytes().filter(|b| *b == b'\n').count() + 1;
    fits(s.len().saturating_add(lines * pad.len()), "indent")?;
    Ok(format!("{pad}{}", s.replace('\n', &format!("\n{pad}"))))
}

fn align(count: i64, src: &str, left: bool) -> Result<String, String> {
    let runes: Vec<char> = src.chars().collect();
    let l = runes.len() as i64;
    if count < 0 || count == l {
        return Ok(src.to_owned());
    }
    let pad = count - l;
    if pad > 0 {
        fits(usize::try_from(pad).unwrap_or(usize::MAX), "align")?;
        let p = " ".repeat(pad as usize);
        return Ok(if left {
            format!("{src}{p}")
        } else {
            format!("{p}{src}")
        });
    }
    let c = count as usize;
    Ok(if left {
        runes[..c].iter().collect()
    } else {
        runes[runes.len() - c..].iter().collect()
    })
}

fn b64dec(v: &str) -> String {
    use base64::Engine;
    let mut v = v.to_owned();
    let rem = v.len() % 4;
    if rem != 0 && rem != 1 {
        v.push_str(&"=".repeat(4 - rem));
    }
    match base64::engine::general_purpose::STANDARD.decode(v.as_bytes()) {
        Ok(d) => String::from_utf8_lossy(&d).into_owned(),
        Err(e) => e.to_string(),
    }
}

fn urldecode(s: &str) -> Result<String, String> {
    let plus: String = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|e| e.to_string())
}

fn math(name: &str, a: &Args) -> Result<Option<Value>, String> {
    let ints = || a.iter().map(Value::int);
    let floats = || a.iter().map(Value::float);
    Ok(Some(match name {
        "add" => Value::Int(ints().fold(0i64, i64::wrapping_add)),
        "mul" => Value::Int(ints().fold(1i64, i64::wrapping_mul)),
        "sub" => Value::Int(n(a, 0, name)?.wrapping_sub(n(a, 1, name)?)),
        "div" | "mod" => {
            let (x, y) = (n(a, 0, name)?, n(a, 1, name)?);
            if y == 0 {
                return Err("runtime error: integer divide by zero".into());
            }
            Value::Int(if name == "div" {
                x.wrapping_div(y)
            } else {
                x.wrapping_rem(y)
            })
        }
        "max" => Value::Int(ints().max().unwrap_or(0)),
        "min" => Value::Int(ints().min().unwrap_or(0)),
        "addf" => Value::Float(floats().sum()),
        "mulf" => Value::Float(floats().product()),
        "subf" => Value::Float(floats().skip(1).fold(f(a, 0, name)?, |x, y| x - y)),
        "divf" => Value::Float(floats().skip(1).fold(f(a, 0, name)?, |x, y| x / y)),
        "maxf" => Value::Float(floats().fold(f64::NEG_INFINITY, f64::max)),
        "minf" => Value::Float(floats().fold(f64::INFINITY, f64::min)),
        "ceil" => Value::Float(f(a, 0, name)?.ceil()),
        "floor" => Value::Float(f(a, 0, name)?.floor()),
        "round" => {
            let p = 10f64.powi(a.get(1).map_or(0, Value::int).clamp(0, 15) as i32);
            Value::Float((f(a, 0, name)? * p).round() / p)
        }
        "int" => Value::Int(n(a, 0, name)?),
        "float64" => Value::Float(f(a, 0, name)?),
        "bytes" => Value::Float(
            crate::logql::duration::parse_bytes(&s(a, 0, name)?)
                .ok_or_else(|| format!("invalid bytes {:?}", s(a, 0, name).unwrap_or_default()))?
                as f64,
        ),
        "duration" | "duration_seconds" => {
            let text = s(a, 0, name)?;
            let ns = crate::logql::duration::parse_duration(text.trim(), false)
                .ok_or_else(|| format!("time: invalid duration {text:?}"))?;
            Value::Float(ns as f64 / 1e9)
        }
        _ => return Ok(None),
    }))
}

fn time_arg(a: &Args, i: usize, name: &str) -> Result<i64, String> {
    match a.get(i) {
        Some(Value::Time(t)) => Ok(*t),
        Some(Value::Int(secs)) => Ok(secs.saturating_mul(1_000_000_000)),
        Some(other) => Err(format!("{name}: expected a time, got {}", other.kind())),
        None => Err(format!("wrong number of args for {name}")),
    }
}

fn now_ns() -> i64 {
    (crate::util::clock::now_micros() as i64).saturating_mul(1000)
}

fn times(name: &str, a: &Args) -> Result<Option<Value>, String> {
    Ok(Some(match name {
        "now" => Value::Time(now_ns()),
        "date" => {
            let t = match a.get(1) {
                Some(Value::Time(t)) => *t,
                Some(Value::Int(s)) => s.saturating_mul(1_000_000_000),
                _ => now_ns(),
            };
            Value::Str(gotime::format(t, &s(a, 0, name)?))
        }
        "toDate" => {
            Value::Time(gotime::parse(&s(a, 0, name)?, &s(a, 1, name)?).unwrap_or(i64::MIN / 2))
        }
        "toDateInZone" => {
            Value::Time(gotime::parse(&s(a, 0, name)?, &s(a, 2, name)?).unwrap_or(i64::MIN / 2))
        }
        "unixEpoch" => Value::Str(time_arg(a, 0, name)?.div_euclid(1_000_000_000).to_string()),
        "unixEpochMillis" => Value::Str(time_arg(a, 0, name)?.div_euclid(1_000_000).to_string()),
        "unixEpochNanos" => Value::Str(time_arg(a, 0, name)?.to_string()),
        "unixToTime" => Value::Time(unix_to_time(&s(a, 0, name)?)?),
        _ => return Ok(None),
    }))
}

/// Loki's `unixToTime`: the unit is read from the number of digits.
fn unix_to_time(epoch: &str) -> Result<i64, String> {
    let i: i64 = epoch
        .parse()
        .map_err(|_| format!("unable to parse time '{epoch}'"))?;
    Ok(match epoch.len() {
        5 => i.saturating_mul(86_400_000_000_000),
        10 => i.saturating_mul(1_000_000_000),
        13 => i.saturating_mul(1_000_000),
        16 => i.saturating_mul(1000),
        19 => i,
        _ => return Err(format!("unable to parse time '{epoch}'")),
    })
}

fn builtins(name: &str, a: &Args) -> Result<Option<Value>, String> {
    Ok(Some(match name {
        "and" => a
            .iter()
            .find(|v| !v.truthy())
            .or(a.last())
            .cloned()
            .unwrap_or(Value::Nil),
        "or" => a
            .iter()
            .find(|v| v.truthy())
            .or(a.last())
            .cloned()
            .unwrap_or(Value::Nil),
        "not" => Value::Bool(!a.first().is_some_and(Value::truthy)),
        "len" => Value::Int(match a.first() {
            Some(Value::Str(s)) => s.len(),
            Some(Value::List(l)) => l.len(),
            Some(Value::Map(m)) => m.len(),
            _ => return Err("len of a value that has no length".into()),
        } as i64),
        "index" => index(a)?,
        "print" => Value::Str(go_print(a)),
        "println" => Value::Str(format!(
            "{}\n",
            a.iter().map(Value::print).collect::<Vec<_>>().join(" ")
        )),
        "printf" => Value::Str(printf(&s(a, 0, name)?, &a[1..])),
        "eq" => {
            let first = a.first().ok_or("missing argument for comparison")?;
            let mut any = false;
            for other in &a[1..] {
                any |= compare(first, other)? == std::cmp::Ordering::Equal;
            }
            Value::Bool(any)
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            let (x, y) = (
                a.first().ok_or("missing argument")?,
                a.get(1).ok_or("missing argument")?,
            );
            let o = compare(x, y)?;
            Value::Bool(match name {
                "ne" => o.is_ne(),
                "lt" => o.is_lt(),
                "le" => o.is_le(),
                "gt" => o.is_gt(),
                _ => o.is_ge(),
            })
        }
        "html" => Value::Str(
            go_print(a)
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&#34;")
                .replace('\'', "&#39;"),
        ),
        "urlquery" => Value::Str(form_urlencoded::byte_serialize(go_print(a).as_bytes()).collect()),
        _ => return Ok(None),
    }))
}

fn index(a: &Args) -> Result<Value, String> {
    let mut v = a.first().cloned().ok_or("index of nothing")?;
    for key in &a[1..] {
        v = match (&v, key) {
            (Value::List(l), k) => l
                .get(usize::try_from(k.int()).map_err(|_| "index out of range")?)
                .cloned()
                .ok_or("index out of range")?,
            (Value::Map(m), k) => m.get(&k.string()).cloned().unwrap_or(Value::Nil),
            (Value::Nil, _) => Value::Nil,
            (other, _) => return Err(format!("can't index item of type {}", other.kind())),
        };
    }
    Ok(v)
}

/// Go's `print`: operands joined, a space between two that are not strings.
fn go_print(a: &Args) -> String {
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        let both_non_str =
            i > 0 && !matches!(v, Value::Str(_)) && !matches!(a[i - 1], Value::Str(_));
        if both_non_str {
            out.push(' ');
        }
        out.push_str(&v.print());
    }
    out
}

/// Go's template comparison: numbers by value, strings and booleans by
/// their kind; anything else is "incompatible types for comparison".
fn compare(x: &Value, y: &Value) -> Result<std::cmp::Ordering, String> {
    use Value::*;
    match (x, y) {
        (Int(a), Int(b)) => Ok(a.cmp(b)),
        (Float(a), Float(b)) => Ok(a.total_cmp(b)),
        (Int(a), Float(b)) => Ok((*a as f64).total_cmp(b)),
        (Float(a), Int(b)) => Ok(a.total_cmp(&(*b as f64))),
        (Str(a), Str(b)) => Ok(a.cmp(b)),
        (Bool(a), Bool(b)) => Ok(a.cmp(b)),
        (Time(a), Time(b)) => Ok(a.cmp(b)),
        (Nil, Nil) => Ok(std::cmp::Ordering::Equal),
        _ => Err("incompatible types for comparison".into()),
    }
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %d %f %e %g %q
/// %x %X %t %%`, with flags `-+ 0`, width and precision.
pub(super) fn printf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&fl) = chars.peek() {
            match fl {
                '-' => spec.left = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        spec.width = number(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(number(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.next() {
            Some(v) => out.push_str(&spec.pad(verb_text(verb, v, &spec))),
            None => out.push_str(&format!("%!{verb}(MISSING)")),
        }
    }
    let extra: Vec<String> = args
        .map(|v| format!("{}={}", v.kind(), v.print()))
        .collect();
    if !extra.is_empty() {
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

#[derive(Default)]
struct Spec {
    left: bool,
    plus: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

impl Spec {
    fn pad(&self, text: String) -> String {
        let len = text.chars().count();
        let Some(w) = self.width.filter(|w| *w > len) else {
            return text;
        };
        let fill = w - len;
        if self.left {
            format!("{text}{}", " ".repeat(fill))
        } else if self.zero {
            let (sign, digits) = match text.strip_prefix('-') {
                Some(d) => ("-", d.to_owned()),
                None => ("", text.clone()),
            };
            format!("{sign}{}{digits}", "0".repeat(fill))
        } else {
            format!("{}{text}", " ".repeat(fill))
        }
    }
}

fn number(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = Some(
            n.unwrap_or(0)
                .saturating_mul(10)
                .saturating_add(d as usize)
                .min(4096),
        );
        chars.next();
    }
    n
}

fn verb_text(verb: char, v: &Value, spec: &Spec) -> String {
    let sign = |s: String, neg: bool| {
        if spec.plus && !neg {
            format!("+{s}")
        } else {
            s
        }
    };
    match (verb, v) {
        ('s' | 'v', Value::Str(s)) => match spec.prec {
            Some(p) => s.chars().take(p).collect(),
            None => s.clone(),
        },
        ('v' | 'd', Value::Int(i)) => sign(i.to_string(), *i < 0),
        ('v', Value::Float(x)) if spec.prec.is_none() => sign(go_float(*x), *x < 0.0),
        ('f' | 'F' | 'v', Value::Float(_) | Value::Int(_)) => {
            let x = v.float();
            sign(format!("{:.*}", spec.prec.unwrap_or(6), x), x < 0.0)
        }
        ('e', Value::Float(_) | Value::Int(_)) => {
            let x = v.float();
            let s = format!("{:.*e}", spec.prec.unwrap_or(6), x);
            let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
            let (es, ed) = e.strip_prefix('-').map_or(('+', e), |d| ('-', d));
            format!("{m}e{es}{ed:0>2}")
        }
        ('g', Value::Float(_) | Value::Int(_)) => go_float(v.float()),
        ('q', Value::Str(s)) => serde_json::Value::String(s.clone()).to_string(),
        ('x', Value::Int(i)) => format!("{i:x}"),
        ('X', Value::Int(i)) => format!("{i:X}"),
        ('x', Value::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
        ('t' | 'v', Value::Bool(b)) => b.to_string(),
        ('s' | 'v', other) => other.print(),
        (verb, other) => format!("%!{verb}({}={})", other.kind(), other.print()),
    }
}
