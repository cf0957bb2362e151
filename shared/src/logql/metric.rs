//! Metric expressions: what a metric query is made of, checked as Loki
//! checks them when it parses one.

use super::label_filter::LabelFilter;
use super::{Labels, LogQuery};
use regex_lite::Regex;

/// A metric expression.
#[derive(Debug, Clone)]
pub enum MetricExpr {
    /// A range aggregation over a log query: the leaves, which read entries.
    Range(Box<RangeExpr>),
    /// `op [by|without (...)] (inner)`: series combined across labels at
    /// each step.
    Vector {
        /// The aggregation (`sum`, `topk(k, ...)`, ...).
        op: VectorOp,
        /// `by`/`without`; `None`: every series into one group.
        grouping: Option<Grouping>,
        /// The expression aggregated.
        inner: Box<MetricExpr>,
    },
    /// `lhs op rhs`: arithmetic, comparison or set operation, matching
    /// series by labels (or with a scalar on either side).
    Binary {
        /// The operator.
        op: BinOp,
        /// Left operand.
        lhs: Box<MetricExpr>,
        /// Right operand.
        rhs: Box<MetricExpr>,
        /// `bool`, `on`/`ignoring`, `group_left`/`group_right`.
        modifier: BinModifier,
    },
    /// A number: a scalar.
    Scalar(f64),
    /// `vector(1)`: one series without labels, at every step.
    VectorOf(f64),
    /// `label_replace(inner, dst, replacement, src, regex)`.
    LabelReplace {
        /// The expression whose series are relabelled.
        inner: Box<MetricExpr>,
        /// The label written.
        dst: String,
        /// The new value, with `$1`/`${name}` for the regex's groups.
        replacement: String,
        /// The label the regex is matched against (absent: `""`).
        src: String,
        /// Anchored at both ends.
        regex: Regex,
    },
}

impl MetricExpr {
    /// Its range aggregations, left to right.
    pub fn ranges(&self) -> Vec<&RangeExpr> {
        let mut out = Vec::new();
        self.collect_ranges(&mut out);
        out
    }

    fn collect_ranges<'a>(&'a self, out: &mut Vec<&'a RangeExpr>) {
        match self {
            MetricExpr::Range(r) => out.push(r),
            MetricExpr::Vector { inner, .. } | MetricExpr::LabelReplace { inner, .. } => {
                inner.collect_ranges(out)
            }
            MetricExpr::Binary { lhs, rhs, .. } => {
                lhs.collect_ranges(out);
                rhs.collect_ranges(out);
            }
            MetricExpr::Scalar(_) | MetricExpr::VectorOf(_) => {}
        }
    }

    /// Whether it evaluates to a scalar (no series at all).
    pub fn is_scalar(&self) -> bool {
        match self {
            MetricExpr::Scalar(_) => true,
            MetricExpr::Binary { lhs, rhs, .. } => lhs.is_scalar() && rhs.is_scalar(),
            _ => false,
        }
    }
}

/// `func([param,] {selector} | pipeline [| unwrap x] [range] [offset d]) [by (...)]`.
#[derive(Debug, Clone)]
pub struct RangeExpr {
    /// The aggregation applied to each window.
    pub func: RangeFunc,
    /// The window's length (`[5m]`), in nanoseconds.
    pub range_ns: i64,
    /// `offset 5m`: the windows end this long before each step.
    pub offset_ns: i64,
    /// The log query whose entries fill the windows.
    pub query: LogQuery,
    /// The label whose values are aggregated; `None`: entries are counted
    /// (or their bytes).
    pub unwrap: Option<Unwrap>,
    /// `by`/`without` on the range aggregation itself (unwrapped ones).
    pub grouping: Option<Grouping>,
    /// `quantile_over_time`'s φ.
    pub param: Option<f64>,
}

/// `| unwrap [conv(]label[)] [| label filters]`.
#[derive(Debug, Clone)]
pub struct Unwrap {
    /// The label whose value is each entry's sample.
    pub label: String,
    /// How its text becomes a number; a failure marks the sample with
    /// `__error__`.
    pub conv: Conv,
    /// Label filters after the unwrap (`| __error__=""`).
    pub(crate) post: Vec<LabelFilter>,
}

/// How an unwrapped label becomes a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conv {
    /// No conversion function: the text as a float.
    Float,
    /// `duration()` / `duration_seconds()`: Go durations, in seconds.
    Duration,
    /// `bytes()`: humanized byte sizes.
    Bytes,
}

impl Conv {
    /// The value of `text`, or the error Loki marks the sample with.
    pub(crate) fn apply(self, text: &str) -> Option<f64> {
        match self {
            Conv::Float => text.trim().parse::<f64>().ok(),
            Conv::Duration => {
                super::duration::parse_duration(text.trim(), false).map(|ns| ns as f64 / 1e9)
            }
            Conv::Bytes => super::duration::parse_bytes(text).map(|b| b as f64),
        }
    }
}

/// A range aggregation over the entries (or unwrapped values) of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFunc {
    /// Entries in the window.
    CountOverTime,
    /// Entries per second (unwrapped: the values' sum per second).
    Rate,
    /// Per-second rate of an unwrapped counter, resets accounted for
    /// (Prometheus' `rate`).
    RateCounter,
    /// Bytes of the lines in the window.
    BytesOverTime,
    /// Bytes of the lines per second.
    BytesRate,
    /// Sum of the unwrapped values.
    SumOverTime,
    /// Mean of the unwrapped values.
    AvgOverTime,
    /// Least unwrapped value.
    MinOverTime,
    /// Greatest unwrapped value.
    MaxOverTime,
    /// Population standard deviation of the unwrapped values.
    StddevOverTime,
    /// Population variance of the unwrapped values.
    StdvarOverTime,
    /// The φ-quantile of the unwrapped values ([`RangeExpr::param`]).
    QuantileOverTime,
    /// The window's oldest unwrapped value.
    FirstOverTime,
    /// The window's newest unwrapped value.
    LastOverTime,
    /// 1 at each step whose window holds no entry of any selected stream.
    AbsentOverTime,
}

impl RangeFunc {
    /// The function LogQL names `name` (`count_over_time`, ...), if any.
    pub fn of(name: &str) -> Option<RangeFunc> {
        use RangeFunc::*;
        Some(match name {
            "count_over_time" => CountOverTime,
            "rate" => Rate,
            "rate_counter" => RateCounter,
            "bytes_over_time" => BytesOverTime,
            "bytes_rate" => BytesRate,
            "sum_over_time" => SumOverTime,
            "avg_over_time" => AvgOverTime,
            "min_over_time" => MinOverTime,
            "max_over_time" => MaxOverTime,
            "stddev_over_time" => StddevOverTime,
            "stdvar_over_time" => StdvarOverTime,
            "quantile_over_time" => QuantileOverTime,
            "first_over_time" => FirstOverTime,
            "last_over_time" => LastOverTime,
            "absent_over_time" => AbsentOverTime,
            _ => return None,
        })
    }

    /// Loki's check of a range aggregation: which take `unwrap`, which
    /// need it, which take `by`/`without`.
    pub(crate) fn validate(self, name: &str, unwrap: bool, grouping: bool) -> Result<(), String> {
        use RangeFunc::*;
        let groups = matches!(
            self,
            AvgOverTime
                | StddevOverTime
                | StdvarOverTime
                | QuantileOverTime
                | MaxOverTime
                | MinOverTime
                | FirstOverTime
                | LastOverTime
        );
        if grouping && !groups {
            return Err(format!("grouping not allowed for {name} aggregation"));
        }
        let plain = matches!(
            self,
            BytesOverTime | BytesRate | CountOverTime | Rate | AbsentOverTime
        );
        match (
            unwrap,
            matches!(self, BytesOverTime | BytesRate | CountOverTime),
        ) {
            (true, true) => Err(format!("invalid aggregation {name} with unwrap")),
            (false, _) if !plain => Err(format!("invalid aggregation {name} without unwrap")),
            _ => Ok(()),
        }
    }
}

/// A vector aggregation across series at each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorOp {
    /// Sum of each group's values.
    Sum,
    /// Number of series in each group.
    Count,
    /// Mean of each group's values.
    Avg,
    /// Least value of each group.
    Min,
    /// Greatest value of each group.
    Max,
    /// Population standard deviation of each group's values.
    Stddev,
    /// Population variance of each group's values.
    Stdvar,
    /// The `k` series of each group with the greatest values, labels kept.
    Topk(usize),
    /// The `k` series of each group with the least values, labels kept.
    Bottomk(usize),
    /// Every series, by ascending value.
    Sort,
    /// Every series, by descending value.
    SortDesc,
}

impl VectorOp {
    /// The operation named `name`; `topk`/`bottomk` with a placeholder `k`.
    pub fn of(name: &str) -> Option<VectorOp> {
        use VectorOp::*;
        Some(match name {
            "sum" => Sum,
            "count" => Count,
            "avg" => Avg,
            "min" => Min,
            "max" => Max,
            "stddev" => Stddev,
            "stdvar" => Stdvar,
            "topk" => Topk(0),
            "bottomk" => Bottomk(0),
            "sort" => Sort,
            "sort_desc" => SortDesc,
            _ => return None,
        })
    }
}

/// `by (a, b)` or `without (a)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    /// `without`: group by every label but these; else `by`: only these.
    pub without: bool,
    /// The labels named.
    pub labels: Vec<String>,
}

impl Grouping {
    /// The labels of the group a series with `labels` falls into.
    pub(crate) fn key(&self, labels: &Labels) -> Labels {
        crate::util::sort::collect(
            labels
                .iter()
                .filter(|(k, _)| self.labels.iter().any(|l| l == *k) != self.without)
                .map(|(k, v)| (k.clone(), v.clone())),
        )
    }
}

/// A binary operator, from the loosest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `or`: the left series, and the right ones matching none of them.
    Or,
    /// `and`: the left series that match a right one.
    And,
    /// `unless`: the left series that match no right one.
    Unless,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/` (by zero: infinity or NaN, as in Prometheus).
    Div,
    /// `%`.
    Mod,
    /// `^`, which binds tightest.
    Pow,
}

impl BinOp {
    /// Precedence, higher binds tighter (Loki's yacc table).
    pub(crate) fn precedence(self) -> u8 {
        use BinOp::*;
        match self {
            Or => 1,
            And | Unless => 2,
            Eq | Ne | Gt | Ge | Lt | Le => 3,
            Add | Sub => 4,
            Mul | Div | Mod => 5,
            Pow => 6,
        }
    }

    pub(crate) fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Ge | BinOp::Lt | BinOp::Le
        )
    }

    pub(crate) fn is_set(self) -> bool {
        matches!(self, BinOp::Or | BinOp::And | BinOp::Unless)
    }

    /// The arithmetic or comparison of two samples; a comparison gives
    /// 1/0 (`bool`) or whether the left sample is kept.
    pub(crate) fn apply(self, a: f64, b: f64) -> f64 {
        use BinOp::*;
        let t = |c: bool| if c { 1.0 } else { 0.0 };
        match self {
            Add => a + b,
            Sub => a - b,
            Mul => a * b,
            Div => a / b,
            Mod => a % b,
            Pow => a.powf(b),
            Eq => t(a == b),
            Ne => t(a != b),
            Gt => t(a > b),
            Ge => t(a >= b),
            Lt => t(a < b),
            Le => t(a <= b),
            Or | And | Unless => a,
        }
    }
}

/// Many-to-one matching: which side may have several series per match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Card {
    /// Neither: each series matches at most one on the other side.
    #[default]
    OneToOne,
    /// `group_left`.
    ManyToOne,
    /// `group_right`.
    OneToMany,
}

/// `bool`, `on (...)`/`ignoring (...)` and `group_left/right (...)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinModifier {
    /// `bool`: a comparison gives 1 or 0 instead of keeping or dropping
    /// the left sample.
    pub return_bool: bool,
    /// `on` (true) or `ignoring` (false) with its labels; `None`: neither.
    pub on: Option<(bool, Vec<String>)>,
    /// Which side may match several series.
    pub card: Card,
    /// `group_left (a, b)`: labels of the "one" side copied over.
    pub include: Vec<String>,
}
