//! Label filters: `| status >= 400 and (dur > 1s or size < 1KB)`,
//! `| level =~ "err.*"`, `| addr = ip("10.0.0.0/8")`.
//!
//! As Loki's: a label that is absent fails a numeric, duration, bytes or IP
//! comparison; one whose value does not convert passes, marked
//! `__error__=LabelFilterErr` (unless an error is already there), so a
//! metric query over it fails loudly instead of quietly miscounting.

use super::ip::IpMatch;
use super::parsers::ERROR_LABEL;
use super::{Labels, Matcher};
use std::borrow::Cow;

const LABEL_FILTER_ERROR: &str = "LabelFilterErr";

/// A comparison of a label filter on numbers, durations or sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    pub(crate) fn apply<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
        }
    }
}

/// `| a="x" and (b > 10 or c < 1s)`.
#[derive(Debug, Clone)]
pub(crate) enum LabelFilter {
    And(Box<LabelFilter>, Box<LabelFilter>),
    Or(Box<LabelFilter>, Box<LabelFilter>),
    Str(Matcher),
    Number {
        name: String,
        op: CmpOp,
        value: f64,
    },
    Duration {
        name: String,
        op: CmpOp,
        ns: i64,
    },
    Bytes {
        name: String,
        op: CmpOp,
        bytes: u64,
    },
    Ip {
        name: String,
        negate: bool,
        ip: IpMatch,
    },
}

impl LabelFilter {
    /// Whether applying it can change the labels (mark an `__error__`).
    pub(crate) fn may_mark(&self) -> bool {
        match self {
            LabelFilter::And(a, b) | LabelFilter::Or(a, b) => a.may_mark() || b.may_mark(),
            LabelFilter::Str(_) | LabelFilter::Ip { .. } => false,
            _ => true,
        }
    }

    /// Whether the entry with `lbs` passes; may mark it with `__error__`.
    pub(crate) fn apply(&self, lbs: &mut Cow<Labels>) -> bool {
        match self {
            LabelFilter::And(a, b) => a.apply(lbs) && b.apply(lbs),
            LabelFilter::Or(a, b) => a.apply(lbs) || b.apply(lbs),
            LabelFilter::Str(m) => m.matches(lbs.get(&m.name).map(String::as_str)),
            LabelFilter::Number { name, op, value } => compare(lbs, name, |v| {
                v.parse::<f64>().ok().map(|v| op.apply(v, *value))
            }),
            LabelFilter::Duration { name, op, ns } => compare(lbs, name, |v| {
                super::duration::parse_duration(v, false).map(|v| op.apply(v, *ns))
            }),
            LabelFilter::Bytes { name, op, bytes } => compare(lbs, name, |v| {
                super::duration::parse_bytes(v).map(|v| op.apply(v, *bytes))
            }),
            LabelFilter::Ip { name, negate, ip } => {
                if lbs.contains_key(ERROR_LABEL) {
                    return true;
                }
                match lbs.get(name) {
                    Some(v) => ip.in_text(v) != *negate,
                    None => false,
                }
            }
        }
    }
}

/// Compares label `name` by `test` (`None`: its value does not convert).
fn compare(lbs: &mut Cow<Labels>, name: &str, test: impl Fn(&str) -> Option<bool>) -> bool {
    let Some(v) = lbs.get(name) else {
        return false;
    };
    match test(v) {
        Some(pass) => pass,
        None => {
            if !lbs.contains_key(ERROR_LABEL) {
                lbs.to_mut()
                    .insert(ERROR_LABEL.into(), LABEL_FILTER_ERROR.into());
            }
            true
        }
    }
}
