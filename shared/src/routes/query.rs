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
    /// Listings from the index.
    Namespaces,
    Pods,
    Containers,
    /// A live tail of a LogQL selector (SSE).
    Tail,
    /// Loki's read API (parameters in the query string or a form body).
    Loki(Loki),
}

/// A route of Loki's read API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loki {
    QueryRange,
    Query,
    Labels,
    LabelValues(String),
    Series,
    /// Loki's WebSocket tail, which cannot exist on Spin: a 400 pointing to SSE.
    Tail,
}

const READ: Rule = Rule::needs(&[SYSTEM_LOGS], Class::Standard);
/// Searches and LogQL (log or metric) scan, so they are heavy (the
/// Kubernetes seed's 10/min); listings, the filtered GET and Loki's label
/// look-ups read the index or one page.
const SCAN: Rule = Rule::needs(&[SYSTEM_LOGS], Class::Heavy);
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
    Param::query("start", "default: an hour before end"),
    Param::query("end", "default: now"),
    Param::query("since", "a duration before end"),
    Param::query("limit", "entries (default 100)").of(Kind::Integer),
    Param::query("direction", "backward (default) or forward")
        .of(Kind::OneOf(&["backward", "forward"])),
    Param::query("step", "a metric query's resolution: a duration or seconds"),
    Param::query("interval", "the interval of a log query's entries"),
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
    ],
    aliases: &[],
    variables: &[BASE[0], BASE[1], BASE[2], vars::READS, vars::FOLLOW, vars::QUERY],
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
            endpoint: loki(Verb::Get, "/loki/api/v1/query_range", SCAN, "Loki: a LogQL query over a range (streams or a matrix)", RANGE),
            make: |_| Ok(Query::Loki(Loki::QueryRange)),
        },
        Row {
            endpoint: loki(Verb::Post, "/loki/api/v1/query_range", SCAN, "Loki: query_range with a form body", RANGE),
            make: |_| Ok(Query::Loki(Loki::QueryRange)),
        },
        Row {
            endpoint: loki(Verb::Get, "/loki/api/v1/query", SCAN, "Loki: a LogQL query at one instant", INSTANT),
            make: |_| Ok(Query::Loki(Loki::Query)),
        },
        Row {
            endpoint: loki(Verb::Post, "/loki/api/v1/query", SCAN, "Loki: query with a form body", INSTANT),
            make: |_| Ok(Query::Loki(Loki::Query)),
        },
        Row {
            endpoint: loki(Verb::Get, "/loki/api/v1/labels", READ, "Loki: label names", LABELS),
            make: |_| Ok(Query::Loki(Loki::Labels)),
        },
        Row {
            endpoint: loki(Verb::Post, "/loki/api/v1/labels", READ, "Loki: label names, with a form body", LABELS),
            make: |_| Ok(Query::Loki(Loki::Labels)),
        },
        Row {
            endpoint: loki(Verb::Get, "/loki/api/v1/label", READ, "Loki: label names (the older spelling)", LABELS),
            make: |_| Ok(Query::Loki(Loki::Labels)),
        },
        Row {
            endpoint: loki(Verb::Post, "/loki/api/v1/label", READ, "Loki: label names (the older spelling), with a form body", LABELS),
            make: |_| Ok(Query::Loki(Loki::Labels)),
        },
        Row {
            endpoint: loki(Verb::Get, "/loki/api/v1/label/:name/values", READ, "Loki: one label's values", LABELS),
            make: |p| Ok(Query::Loki(Loki::LabelValues(p.get("name")?))),
        },
        Row {
            endpoint: loki(Verb::Post, "/loki/api/v1/label/:name/values", READ, "Loki: one label's values, with a form body", LABELS),
            make: |p| Ok(Query::Loki(Loki::LabelValues(p.get("name")?))),
        },
        Row {
            endpoint: loki(Verb::Get, "/loki/api/v1/series", READ, "Loki: the streams a selector matches", SERIES),
            make: |_| Ok(Query::Loki(Loki::Series)),
        },
        Row {
            endpoint: loki(Verb::Post, "/loki/api/v1/series", READ, "Loki: series, with a form body", SERIES),
            make: |_| Ok(Query::Loki(Loki::Series)),
        },
        Row {
            endpoint: Endpoint::new(
                Verb::Get,
                "/loki/api/v1/tail",
                READ,
                "Loki's WebSocket tail: a 400 pointing to GET /k8s/v1/tail (SSE)",
            )
            .answers(400, Body::media("application/problem+json")),
            make: |_| Ok(Query::Loki(Loki::Tail)),
        },
    ],
};
