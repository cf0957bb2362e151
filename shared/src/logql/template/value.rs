//! The values a template computes with, and how Go prints them.
//!
//! Go's templates are dynamically typed over Go values; the functions Loki
//! offers take strings, integers, floats, booleans, times, and the maps and
//! lists `fromJson` makes. Conversions follow `spf13/cast`, which sprig's
//! arithmetic uses (a label is a string, `add .a 1` still adds).

use super::gotime;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Nil,
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Nanoseconds since the epoch, UTC.
    Time(i64),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// As Go's `fmt` prints it with `%v` (what an action outputs).
    pub(crate) fn print(&self) -> String {
        match self {
            Value::Nil => "<no value>".into(),
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => go_float(*f),
            Value::Bool(b) => b.to_string(),
            Value::Time(t) => gotime::go_string(*t),
            Value::List(l) => {
                let items: Vec<String> = l.iter().map(Value::print).collect();
                format!("[{}]", items.join(" "))
            }
            Value::Map(m) => {
                let items: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{k}:{}", v.print()))
                    .collect();
                format!("map[{}]", items.join(" "))
            }
        }
    }

    /// Go's truth: the zero value of its kind is false.
    pub(crate) fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Str(s) => !s.is_empty(),
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Bool(b) => *b,
            Value::Time(_) => true,
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
        }
    }

    /// `cast.ToString`.
    pub(crate) fn string(&self) -> String {
        match self {
            Value::Nil => String::new(),
            other => other.print(),
        }
    }

    /// `cast.ToInt64`: strings parse (decimal, or a float truncated), floats
    /// truncate, booleans are 0 or 1; anything else is 0.
    pub(crate) fn int(&self) -> i64 {
        match self {
            Value::Int(i) => *i,
            Value::Float(f) => *f as i64,
            Value::Bool(b) => *b as i64,
            Value::Str(s) => {
                let s = s.trim();
                s.parse::<i64>()
                    .ok()
                    .or_else(|| s.parse::<f64>().ok().map(|f| f as i64))
                    .unwrap_or(0)
            }
            Value::Time(t) => *t,
            _ => 0,
        }
    }

    /// `cast.ToFloat64`.
    pub(crate) fn float(&self) -> f64 {
        match self {
            Value::Int(i) => *i as f64,
            Value::Float(f) => *f,
            Value::Bool(b) => *b as i64 as f64,
            Value::Str(s) => s.trim().parse::<f64>().unwrap_or(0.0),
            _ => 0.0,
        }
    }

    /// A field of a map value (`$q.query`); anything else has none.
    pub(crate) fn field(&self, name: &str) -> Result<Value, String> {
        match self {
            Value::Map(m) => Ok(m.get(name).cloned().unwrap_or(Value::Nil)),
            Value::Nil => Ok(Value::Nil),
            other => Err(format!(
                "can't evaluate field {name} in type {}",
                other.kind()
            )),
        }
    }

    /// Go's name for the value's type, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Str(_) => "string",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Bool(_) => "bool",
            Value::Time(_) => "time.Time",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
        }
    }

    /// A JSON document as `fromJson` returns it.
    pub(crate) fn from_json(v: serde_json::Value) -> Value {
        use serde_json::Value as J;
        match v {
            J::Null => Value::Nil,
            J::Bool(b) => Value::Bool(b),
            J::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
            J::String(s) => Value::Str(s),
            J::Array(a) => Value::List(a.into_iter().map(Value::from_json).collect()),
            J::Object(o) => Value::Map(crate::util::sort::collect(
                o.into_iter().map(|(k, v)| (k, Value::from_json(v))),
            )),
        }
    }
}

/// A float as Go's `%v` prints it: the shortest form that round-trips,
/// with an exponent past 1e21 or below 1e-4.
pub(crate) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        let s = format!("{f:e}");
        // Rust writes 1e21 / 1.5e-5; Go writes 1e+21 / 1.5e-05.
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mant}e{sign}{digits:0>2}");
    }
    format!("{f}")
}
