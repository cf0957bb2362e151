//! Labelled streams read back: the Kubernetes logs API's Log Retrieval
//! endpoints (logs by filters, search, LogQL, listings, a live tail) and
//! Loki's read API, for Grafana and `logcli`.

use super::{BASE, Body, Class, Endpoint, Family, JSON, Kind, Param, Row, Rule, SYSTEM_LOGS, Verb};
use crate::config::vars;

/// Loki's HTTP API, so its shippers, Grafana and `logcli` work unchanged.
pub const LOKI: &str = "/loki/api/v1";

/// A `query` route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// `GET /k8s/v1/`: logs by filters in the query string.
    K8sLogs,
    /// The same filters as a JSON body, and more.
    Search,
    /// A LogQL query.
    SearchLogql,
    /// `GET /k8s/v1/namespaces`: namespaces with counts and first/last
    /// times, from the index (as the other listings).
    Namespaces,
    /// `GET /k8s/v1/pods`: one namespace's pods.
    Pods,
    /// `GET /k8s/v1/containers`: one pod's containers.
    Containers,
    /// A live tail of a LogQL selector (SSE).
    Tail,
    /// Loki's read API (parameters in the query string or a form body).
    Loki(Loki),
}

/// A route of Loki's read API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loki {
    /// `query_range`: a LogQL query over a range: log lines, or a metric
    /// matrix.
    QueryRange,
    /// `query`: a LogQL query at one instant.
    Query,
    /// `labels` (and the older `label`): label names.
    Labels,
    /// `label/{name}/values`: the values of the label named.
    LabelValues(String),
    /// `series`: the label sets of the streams `match[]` selects.
    Series,
    /// Loki's WebSocket tail, which cannot exist on Spin: a 400 pointing to SSE.
    Tail,
    /// Streams, chunks, bytes and entries of a selector, from the index.
    IndexStats,
    /// Bytes per series or label, from the index (one instant, or a range).
    IndexVolume,
    /// The same per step: a matrix.
    IndexVolumeRange,
    /// What Logs Drilldown offers to filter by.
    DetectedLabels,
    /// Fields of a sample of the newest lines (structured metadata,
    /// `json`, `logfmt`), with their types.
    DetectedFields,
    /// One detected field's values, by name, in that sample.
    DetectedFieldValues(String),
    /// Patterns of the lines (Drain).
    Patterns,
    /// The limits Logs Drilldown reads first.
    DrilldownLimits,
}

const READ: Rule = Rule::needs(&[SYSTEM_LOGS], Class::Standard);
/// Searches and LogQL (log or metric) scan, so they are heavy (the
/// Kubernetes seed's 10/min); listings and the filtered GET read the index
/// or one page.
const SCAN: Rule = Rule::needs(&[SYSTEM_LOGS], Class::Heavy);
/// Loki's read API, every route of it: a Grafana data source's requests,
/// which one Explore run or Logs Drilldown screen sends by the dozen and
/// every user of the data source sends with one key (docs/auth.md).
const LOKI_READ: Rule = Rule::needs(&[SYSTEM_LOGS], Class::Loki);
const LOKI_JSON: Body = JSON;
const FORM: Body = Body::media("application/x-www-form-urlencoded");

/// The filters of `GET /k8s/v1/`.
const FILTERS: &[Param] = &[
    Param::query("cluster", "the cluster label"),
    Param::query("namespace", "the namespace label"),
    Param::query("pod", "the pod label"),
    Param::query("container", "the container label"),
    Param::query("node", "the node label"),
    Param::query("app", "the app label"),
    Param::query("stream", "the stream label (stdout, stderr)"),
    Param::query("task", "the task label"),
    Param::query("file", "the file label"),
    Param::query(
        "labels",
        "more labels: {app=\"web\",tier=~\"f.*\"} or app=web,tier=front",
    ),
    Param::query(
        "start",
        "ns since the epoch, seconds (with a fraction) or RFC 3339; default: all kept time",
    ),
    Param::query("end", "the same forms; default now"),
    Param::query("since", "a duration before end (5m, 1h30m, 2d)"),
    Param::query("contains", "a substring every line has (repeatable)"),
    Param::query("regex", "a regex every line matches (repeatable)"),
    Param::query("case_insensitive", "contains and regex ignore case").of(Kind::Boolean),
    Param::query(
        "level",
        "detected levels, comma-separated: trace, debug, info, warn, error, critical, unknown",
    ),
    Param::query("limit", "entries a page (1 to 5000; default 100)").of(Kind::Integer),
    Param::query(
        "direction",
        "newest first (backward, the default) or oldest first",
    )
    .of(Kind::OneOf(&["backward", "forward"])),
    Param::query(
        "cursor",
        "next_cursor of the previous page: resumes exactly after its last entry",
    ),
    Param::query(
        "budget_ms",
        "scan at most this long (capped by query_budget_ms)",
    )
    .of(Kind::Integer),
];

const RANGE: &[Param] = &[
    Param::query("query", "LogQL").required(),
    Param::query(
        "start",
        "ns, seconds or RFC 3339; default: an hour before end (inclusive)",
    ),
    Param::query("end", "default: now (exclusive, as Loki's)"),
    Param::query("since", "a duration before end"),
    Param::query("limit", "entries (default 100)").of(Kind::Integer),
    Param::query("direction", "backward (default) or forward")
        .of(Kind::OneOf(&["backward", "forward"])),
    Param::query(
        "step",
        "a metric query's resolution: a duration (14000ms) or float seconds",
    ),
    Param::query(
        "interval",
        "a log query's minimum spacing between entries (not the step)",
    ),
    Param::header(
        "X-Loki-Response-Encoding-Flags",
        "categorize-labels: values as [ts, line, {structuredMetadata, parsed}]",
    ),
];

const INSTANT: &[Param] = &[
    Param::query("query", "LogQL").required(),
    Param::query("time", "the instant; default now"),
];

const LABELS: &[Param] = &[
    Param::query("query", "a stream selector"),
    Param::query("start", "since"),
    Param::query("end", "until"),
];

const STATS: &[Param] = &[
    Param::query("query", "a stream selector").required(),
    Param::query("start", "default: an hour before end"),
    Param::query("end", "default: now (exclusive)"),
];

const VOLUME: &[Param] = &[
    Param::query("query", "a stream selector").required(),
    Param::query("start", "default: an hour before end"),
    Param::query("end", "default: now (exclusive)"),
    Param::query("limit", "series (default 100)").of(Kind::Integer),
    Param::query("targetLabels", "labels to aggregate by, comma-separated"),
    Param::query("aggregateBy", "series (default) or labels")
        .of(Kind::OneOf(&["series", "labels"])),
    Param::query("step", "volume_range's bucket: a duration or seconds"),
];

const DETECTED: &[Param] = &[
    Param::query(
        "query",
        "a LogQL log query (may be empty for detected_labels)",
    ),
    Param::query("start", "default: an hour before end"),
    Param::query("end", "default: now (exclusive)"),
    Param::query("since", "a duration before end"),
    Param::query("line_limit", "lines sampled (default 100, at most 5000)").of(Kind::Integer),
    Param::query("limit", "fields or values (default 1000)").of(Kind::Integer),
];

const PATTERNS: &[Param] = &[
    Param::query("query", "a LogQL log query").required(),
    Param::query("start", "default: an hour before end"),
    Param::query("end", "default: now (exclusive)"),
    Param::query("step", "the samples' bucket: a duration or seconds"),
];

const SERIES: &[Param] = &[
    Param::query("match[]", "a stream selector (repeatable)").required(),
    Param::query("start", "since"),
    Param::query("end", "until"),
];

const fn loki(
    verb: Verb,
    path: &'static str,
    rule: Rule,
    summary: &'static str,
    params: &'static [Param],
) -> Endpoint {
    let e = Endpoint::new(verb, path, rule, summary)
        .answers(200, LOKI_JSON)
        .params(params);
    match verb {
        Verb::Post => e.takes(FORM),
        _ => e,
    }
}

/// The family.
pub static FAMILY: Family<Query> = Family {
    component: "query",
    summary: "Kubernetes log search and listings, LogQL, Loki's read API",
    spin_routes: &[
        "/k8s/v1/...",
        "/loki/api/v1/query_range",
        "/loki/api/v1/query",
        "/loki/api/v1/labels",
        "/loki/api/v1/label",
        "/loki/api/v1/label/:name/values",
        "/loki/api/v1/series",
        "/loki/api/v1/tail",
        "/loki/api/v1/index/stats",
        "/loki/api/v1/index/volume",
        "/loki/api/v1/index/volume_range",
        "/loki/api/v1/detected_labels",
        "/loki/api/v1/detected_fields",
        "/loki/api/v1/detected_field/:name/values",
        "/loki/api/v1/patterns",
        "/loki/api/v1/drilldown-limits",
    ],
    aliases: &[],
    variables: &[BASE[0], BASE[1], BASE[2], vars::READS, vars::FOLLOW, vars::QUERY],
    profile: super::Profile::Release,
    rows: &[
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/k8s/v1/",
                READ,
                "logs of labelled streams by filters (cluster, namespace, pod, container, labels, time, contains, regex, level); pages with has_more/next_cursor",
            )
            .answers(200, JSON)
            .params(FILTERS),
            make: |_| Ok(Query::K8sLogs),
        },
        Row {
            endpoint: Endpoint::new(Verb::Post, "/k8s/v1/search", SCAN, "a JSON search with context lines")
                .takes(Body::json("SearchBody"))
                .answers(200, JSON),
            make: |_| Ok(Query::Search),
        },
        Row {
            endpoint: Endpoint::new(Verb::Post, "/k8s/v1/search/logql", SCAN, "a LogQL query: log lines, or a metric matrix")
                .takes(Body::json("LogqlBody"))
                .answers(200, JSON),
            make: |_| Ok(Query::SearchLogql),
        },
        Row {
            endpoint: Endpoint::new(Verb::Get, "/k8s/v1/namespaces", READ, "namespaces with counts and first/last timestamps")
                .answers(200, JSON)
                .params(&[Param::query("cluster", "one cluster's")]),
            make: |_| Ok(Query::Namespaces),
        },
        Row {
            endpoint: Endpoint::new(Verb::Get, "/k8s/v1/pods", READ, "a namespace's pods (?namespace=) with counts and times")
                .answers(200, JSON)
                .params(&[
                    Param::query("namespace", "the namespace").required(),
                    Param::query("cluster", "one cluster's"),
                ]),
            make: |_| Ok(Query::Pods),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/k8s/v1/containers",
                READ,
                "a pod's containers (?namespace=&pod=) with counts and times",
            )
            .answers(200, JSON)
            .params(&[
                Param::query("namespace", "the namespace").required(),
                Param::query("pod", "the pod").required(),
                Param::query("cluster", "one cluster's"),
            ]),
            make: |_| Ok(Query::Containers),
        },
        Row {
            // A live tail is a follow: standard, like the other follows.
            endpoint: Endpoint::new(
                Verb::Get,
                "/k8s/v1/tail",
                READ,
                "live tail of a LogQL log query (?query=; SSE, Last-Event-ID resumes exactly)",
            )
            .answers(200, Body::media("text/event-stream"))
            .params(&[
                Param::query("query", "a LogQL log query").required(),
                Param::query("start", "default now"),
                Param::query("cursor", "resume after this position"),
                Param::header("Last-Event-ID", "the id of the last event received"),
            ]),
            make: |_| Ok(Query::Tail),
        },
        Row {
            endpoint: loki(Verb::Get, "/loki/api/v1/query_range", LOKI_READ, "Loki: a LogQL query over a range (streams or a matrix)", RANGE),
            make: |_| Ok(Query::Loki(Loki::QueryRange)),
        },
        Row {
            endpoint: loki(Verb::Post, "/loki/api/v1/query_range", LOKI_READ, "Loki: query_range with a form body", RANGE),
            make: |_| Ok(Query::Loki(Loki::QueryRange)),
        },
        Row {
            endpoint: loki(Verb::Get, "/loki/api/v1/query", LOKI_READ, "Loki: a LogQL query at one instant", INSTANT),
            make: |_| Ok(Query::Loki(Loki::Query)),
        },
        Row {
            endpoint: loki(Verb::Post, "/loki/api/v1/query", LOKI_READ, "Loki: query with a form body", INSTANT),
            make: |_| Ok(Query::Loki(Loki::Query)),
        },
        Row {
            endpoint: loki(Verb::Get, "/loki/api/v1/labels", LOKI_READ, "Loki: label names", LABELS),
            make: |_| Ok(Query::Loki(Loki::Labels)),
        },
        Row {
            endpoint: loki(Verb::Post, "/loki/api/v1/labels", LOKI_READ, "Loki: label names, with a form body", LABELS),
            make: |_| Ok(Query::Loki(Loki::Labels)),
        },
        Row {
            endpoint: loki(Verb::Get, "/loki/api/v1/label", LOKI_READ, "Loki: label names (the older spelling)", LABELS),
            make: |_| Ok(Query::Loki(Loki::Labels)),
        },
        Row {
            endpoint: loki(Verb::Post, "/loki/api/v1/label", LOKI_READ, "Loki: label names (the older spelling), with a form body", LABELS),
            make: |_| Ok(Query::Loki(Loki::Labels)),
        },
        Row {
            endpoint: loki(Verb::Get, "/loki/api/v1/label/:name/values", LOKI_READ, "Loki: one label's values", LABELS),
            make: |p| Ok(Query::Loki(Loki::LabelValues(p.get("name")?))),
        },
        Row {
            endpoint: loki(Verb::Post, "/loki/api/v1/label/:name/values", LOKI_READ, "Loki: one label's values, with a form body", LABELS),
            make: |p| Ok(Query::Loki(Loki::LabelValues(p.get("name")?))),
        },
        Row {
            endpoint: loki(Verb::Get, "/loki/api/v1/series", LOKI_READ, "Loki: the streams a selector matches", SERIES),
            make: |_| Ok(Query::Loki(Loki::Series)),
        },
        Row {
            endpoint: loki(Verb::Post, "/loki/api/v1/series", LOKI_READ, "Loki: series, with a form body", SERIES),
            make: |_| Ok(Query::Loki(Loki::Series)),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/loki/api/v1/tail",
                LOKI_READ,
                "Loki's WebSocket tail: a 400 pointing to GET /k8s/v1/tail (SSE)",
            )
            .answers(400, Body::media("application/problem+json")),
            make: |_| Ok(Query::Loki(Loki::Tail)),
        },
        Row {
            endpoint: loki(Verb::Get, "/loki/api/v1/index/stats", LOKI_READ, "Loki: streams, chunks, bytes and entries of a selector, from the index", STATS),
            make: |_| Ok(Query::Loki(Loki::IndexStats)),
        },
        Row {
            endpoint: loki(Verb::Post, "/loki/api/v1/index/stats", LOKI_READ, "Loki: index/stats with a form body", STATS),
            make: |_| Ok(Query::Loki(Loki::IndexStats)),
        },
        Row {
            endpoint: loki(Verb::Get, "/loki/api/v1/index/volume", LOKI_READ, "Loki: bytes per series or label over the range, from the index (a vector)", VOLUME),
            make: |_| Ok(Query::Loki(Loki::IndexVolume)),
        },
        Row {
            endpoint: loki(Verb::Post, "/loki/api/v1/index/volume", LOKI_READ, "Loki: index/volume with a form body", VOLUME),
            make: |_| Ok(Query::Loki(Loki::IndexVolume)),
        },
        Row {
            endpoint: loki(Verb::Get, "/loki/api/v1/index/volume_range", LOKI_READ, "Loki: bytes per series or label and step, from the index (a matrix)", VOLUME),
            make: |_| Ok(Query::Loki(Loki::IndexVolumeRange)),
        },
        Row {
            endpoint: loki(Verb::Post, "/loki/api/v1/index/volume_range", LOKI_READ, "Loki: index/volume_range with a form body", VOLUME),
            make: |_| Ok(Query::Loki(Loki::IndexVolumeRange)),
        },
        Row {
            endpoint: loki(Verb::Get, "/loki/api/v1/detected_labels", LOKI_READ, "Loki: the labels worth filtering by, with their cardinality, from the index", DETECTED),
            make: |_| Ok(Query::Loki(Loki::DetectedLabels)),
        },
        Row {
            endpoint: loki(Verb::Post, "/loki/api/v1/detected_labels", LOKI_READ, "Loki: detected_labels with a form body", DETECTED),
            make: |_| Ok(Query::Loki(Loki::DetectedLabels)),
        },
        Row {
            endpoint: loki(Verb::Get, "/loki/api/v1/detected_fields", LOKI_READ, "Loki: fields of a sample of the newest lines (structured metadata, json, logfmt), typed", DETECTED),
            make: |_| Ok(Query::Loki(Loki::DetectedFields)),
        },
        Row {
            endpoint: loki(Verb::Post, "/loki/api/v1/detected_fields", LOKI_READ, "Loki: detected_fields with a form body", DETECTED),
            make: |_| Ok(Query::Loki(Loki::DetectedFields)),
        },
        Row {
            endpoint: loki(Verb::Get, "/loki/api/v1/detected_field/:name/values", LOKI_READ, "Loki: one detected field's values in a sample of the newest lines", DETECTED),
            make: |p| Ok(Query::Loki(Loki::DetectedFieldValues(p.get("name")?))),
        },
        Row {
            endpoint: loki(Verb::Post, "/loki/api/v1/detected_field/:name/values", LOKI_READ, "Loki: detected_field values with a form body", DETECTED),
            make: |p| Ok(Query::Loki(Loki::DetectedFieldValues(p.get("name")?))),
        },
        Row {
            endpoint: loki(Verb::Get, "/loki/api/v1/patterns", LOKI_READ, "Loki: patterns of a bounded sample of the range's lines (Drain), with counts per step", PATTERNS),
            make: |_| Ok(Query::Loki(Loki::Patterns)),
        },
        Row {
            endpoint: loki(Verb::Post, "/loki/api/v1/patterns", LOKI_READ, "Loki: patterns with a form body", PATTERNS),
            make: |_| Ok(Query::Loki(Loki::Patterns)),
        },
        Row {
            endpoint: loki(Verb::Get, "/loki/api/v1/drilldown-limits", LOKI_READ, "Loki: the limits and features Logs Drilldown reads on its first screen", &[]),
            make: |_| Ok(Query::Loki(Loki::DrilldownLimits)),
        },
    ],
};
