//! Clusters and what is collected from them (the Kubernetes logs API's
//! Cluster Management, Collection Configuration and Metrics & Monitoring
//! endpoints, under `/k8s/v1`): clusters and their tokens, what is collected
//! in which namespace, metrics and health. The pulls themselves are
//! [`super::collect`]'s, a component of their own: they are long, heavy and
//! write logs, where these routes are small reads and edits of records.

use super::{BASE, Body, Class, Endpoint, Family, JSON, Kind, Param, Row, Rule, SYSTEM_LOGS, Verb};
use crate::config::vars;

/// Registers clusters, sets what is collected, starts and stops pulls.
pub const CLUSTERS: &str = "spin-logs:clusters";
/// Scrapes `/metrics` and reads `/stats` (a Prometheus server's token).
pub const METRICS: &str = "spin-logs:metrics";

/// A `clusters` route. Which record is named is in the query or the body,
/// except a cluster's metrics, which name it in the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clusters {
    /// `GET /k8s/v1/clusters/configs`: registered clusters, or one (`?id=`);
    /// tokens never shown.
    ListClusters,
    /// `POST /k8s/v1/clusters/configs`: register a cluster (409 if its id is
    /// taken).
    CreateCluster,
    /// `PUT /k8s/v1/clusters/configs?id=`: replace a cluster; no token keeps
    /// the stored one.
    ReplaceCluster,
    /// `DELETE /k8s/v1/clusters/configs?id=`: forget a cluster, its token and
    /// status.
    DeleteCluster,
    /// `POST /k8s/v1/clusters/refresh`: probe each enabled cluster (or one)
    /// and store what was found.
    Refresh,
    /// `GET /k8s/v1/clusters/status`: what the last refresh found.
    ClusterStatus,
    /// `GET /k8s/v1/clusters/{cluster_id}/metrics`: one cluster's collection
    /// counters as JSON.
    ClusterMetrics(String),
    /// `GET /k8s/v1/config`: collection configurations, filtered by the
    /// query.
    ListConfigs,
    /// `POST /k8s/v1/config`: what to collect in a cluster's namespace.
    CreateConfig,
    /// `PUT /k8s/v1/config?id=`: update a configuration, naming the version
    /// it replaces (stale: 409).
    UpdateConfig,
    /// `DELETE /k8s/v1/config?id=`.
    DeleteConfig,
    /// `POST /k8s/v1/config/bulk-update`: enable or disable several
    /// configurations, all or none.
    BulkUpdate,
    /// `POST /k8s/v1/config/disable`: stop collecting one namespace of a
    /// cluster.
    DisableNamespace,
    /// `POST /k8s/v1/config/disable/cluster`: stop collecting every namespace
    /// of a cluster.
    DisableCluster,
    /// `GET /k8s/v1/metrics`: the counters in Prometheus' text format.
    Metrics,
    /// `GET /k8s/v1/stats`: the same counters as JSON, by namespace and pod.
    Stats,
    /// `GET /k8s/v1/health`: ok, degraded or down; public, with details for
    /// authenticated callers.
    Health,
}

/// Reads of cluster records and jobs (the `collect` family's too).
pub(super) const READ: Rule = Rule::needs(&[CLUSTERS, SYSTEM_LOGS], Class::Standard);
/// Edits of cluster records and jobs (the `collect` family's too).
pub(super) const WRITE: Rule = Rule::needs(&[CLUSTERS], Class::Standard);
/// A refresh probes every cluster's API server.
const PROBE: Rule = Rule::needs(&[CLUSTERS], Class::Heavy);
const SCRAPE: Rule = Rule::needs(&[METRICS, CLUSTERS, SYSTEM_LOGS], Class::Standard);
const ID_REQUIRED: &[Param] = &[Param::query("id", "the record").required()];
const VERSIONED: &[Param] = &[
    Param::query("id", "the record").required(),
    Param::query(
        "version",
        "the version replaced (or the body's \"version\"); stale: 409",
    )
    .of(Kind::Integer),
];

/// The family.
pub static FAMILY: Family<Clusters> = Family {
    component: "clusters",
    summary: "clusters, collection configuration, metrics and health",
    spin_routes: &[
        "/k8s/v1/clusters/...",
        "/k8s/v1/config/...",
        "/k8s/v1/metrics",
        "/k8s/v1/stats",
        "/k8s/v1/health",
    ],
    aliases: &[],
    variables: &[BASE[0], BASE[1], BASE[2], vars::K8S],
    profile: super::Profile::Small,
    rows: ROWS,
};

const ROWS: &[Row<Clusters>] = &[
    Row {
        endpoint: Endpoint::new(Verb::Get, "/k8s/v1/clusters/configs", READ, "registered clusters (?id= for one); tokens are never shown (token_set)")
            .answers(200, JSON)
            .params(&[Param::query("id", "one cluster")]),
        make: |_| Ok(Clusters::ListClusters),
    },
    Row {
        endpoint: Endpoint::new(Verb::Post, "/k8s/v1/clusters/configs", WRITE, "register a cluster: id, name, API server URL, bearer token (write-only), CA PEM, enabled, timeout")
            .takes(JSON)
            .answers(201, JSON)
            .errors(&[409]),
        make: |_| Ok(Clusters::CreateCluster),
    },
    Row {
        endpoint: Endpoint::new(Verb::Put, "/k8s/v1/clusters/configs", WRITE, "replace a cluster (?id=); no token keeps the stored one")
            .takes(JSON)
            .answers(200, JSON)
            .params(ID_REQUIRED),
        make: |_| Ok(Clusters::ReplaceCluster),
    },
    Row {
        endpoint: Endpoint::new(Verb::Delete, "/k8s/v1/clusters/configs", WRITE, "forget a cluster (?id=), its token and status")
            .answers(204, Body::NONE)
            .params(ID_REQUIRED),
        make: |_| Ok(Clusters::DeleteCluster),
    },
    Row {
        endpoint: Endpoint::new(Verb::Post, "/k8s/v1/clusters/refresh", PROBE, "probe each enabled cluster (?id= for one): version, token, pods by phase")
            .answers(200, JSON)
            .params(&[Param::query("id", "one cluster")]),
        make: |_| Ok(Clusters::Refresh),
    },
    Row {
        endpoint: Endpoint::new(Verb::Get, "/k8s/v1/clusters/status", READ, "what the last refresh found: connected, degraded, unreachable, unauthorized, tls_error, not_allowed or disabled")
            .answers(200, JSON),
        make: |_| Ok(Clusters::ClusterStatus),
    },
    Row {
        endpoint: Endpoint::new(Verb::Get, "/k8s/v1/clusters/:cluster_id/metrics", SCRAPE, "one cluster's collection metrics as JSON")
            .answers(200, JSON),
        make: |p| Ok(Clusters::ClusterMetrics(p.get("cluster_id")?)),
    },
    Row {
        endpoint: Endpoint::new(Verb::Get, "/k8s/v1/config", READ, "collection configurations (?id=, ?cluster_id=, ?namespace=)")
            .answers(200, JSON)
            .params(&[
                Param::query("id", "one configuration"),
                Param::query("cluster_id", "one cluster's"),
                Param::query("namespace", "one namespace's"),
            ]),
        make: |_| Ok(Clusters::ListConfigs),
    },
    Row {
        endpoint: Endpoint::new(Verb::Post, "/k8s/v1/config", WRITE, "what to collect in a cluster's namespace (* for all): selectors, globs, labels, start, budget")
            .takes(JSON)
            .answers(201, JSON)
            .errors(&[409]),
        make: |_| Ok(Clusters::CreateConfig),
    },
    Row {
        endpoint: Endpoint::new(Verb::Put, "/k8s/v1/config", WRITE, "update a configuration (?id=), naming the version it replaces")
            .takes(JSON)
            .answers(200, JSON)
            .params(VERSIONED)
            .errors(&[409]),
        make: |_| Ok(Clusters::UpdateConfig),
    },
    Row {
        endpoint: Endpoint::new(Verb::Delete, "/k8s/v1/config", WRITE, "delete a configuration (?id=)")
            .answers(204, Body::NONE)
            .params(ID_REQUIRED),
        make: |_| Ok(Clusters::DeleteConfig),
    },
    Row {
        endpoint: Endpoint::new(Verb::Post, "/k8s/v1/config/bulk-update", WRITE, "enable or disable several configurations at once, all or none")
            .takes(JSON)
            .answers(200, JSON)
            .errors(&[409]),
        make: |_| Ok(Clusters::BulkUpdate),
    },
    Row {
        endpoint: Endpoint::new(Verb::Post, "/k8s/v1/config/disable", WRITE, "stop collecting one namespace of a cluster (pulls and pushes)")
            .takes(JSON)
            .answers(200, JSON),
        make: |_| Ok(Clusters::DisableNamespace),
    },
    Row {
        endpoint: Endpoint::new(Verb::Post, "/k8s/v1/config/disable/cluster", WRITE, "stop collecting every namespace of a cluster")
            .takes(JSON)
            .answers(200, JSON),
        make: |_| Ok(Clusters::DisableCluster),
    },
    Row {
        endpoint: Endpoint::new(Verb::Get, "/k8s/v1/metrics", SCRAPE, "Prometheus text exposition: counters kept incrementally, cheap to scrape")
            .answers(200, Body::media("text/plain; version=0.0.4")),
        make: |_| Ok(Clusters::Metrics),
    },
    Row {
        endpoint: Endpoint::new(Verb::Get, "/k8s/v1/stats", SCRAPE, "the same counters as JSON, with totals by namespace and pod and first/last timestamps")
            .answers(200, JSON)
            .params(&[Param::query("cluster_id", "one cluster's namespaces and pods")]),
        make: |_| Ok(Clusters::Stats),
    },
    Row {
        endpoint: Endpoint::new(Verb::Get, "/k8s/v1/health", Rule::PUBLIC, "ok, degraded or down (503 only when storage is down); details for authenticated callers")
            .answers(200, JSON)
            .params(&[Param::query("probe", "live: liveness only, no dependency").of(Kind::OneOf(&["live", "ready"]))])
            .errors(&[503]),
        make: |_| Ok(Clusters::Health),
    },
];
