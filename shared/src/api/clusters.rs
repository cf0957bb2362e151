//! Cluster routes (`clusters` component), the Kubernetes logs API's Cluster
//! Management, Collection Configuration and Metrics & Monitoring endpoints
//! under `/k8s/v1`:
//!
//! ```text
//! GET|POST|PUT|DELETE /k8s/v1/clusters/configs   clusters (tokens write-only)
//! POST   /k8s/v1/clusters/refresh                probe them
//! GET    /k8s/v1/clusters/status                 what the last probe found
//! GET    /k8s/v1/clusters/{id}/metrics           one cluster's counters (JSON)
//! GET|POST|PUT|DELETE /k8s/v1/config             what is collected (versioned)
//! POST   /k8s/v1/config/bulk-update|disable|disable/cluster
//! GET    /k8s/v1/metrics | /stats | /health
//! ```
//! What they do is [`crate::collect`]; the pulls are [`super::collect`]'s.

use crate::collect::cluster::{self, ClusterSpec};
use crate::collect::report;
use crate::collect::settings::{self, Config, ConfigSpec};
use crate::env::Env;
use crate::read::format::rfc3339;
use crate::routes::clusters::{Clusters, FAMILY};
use crate::util::clock::now_micros;
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;
use http::{StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

/// The `clusters` component.
pub const API: super::Api<Clusters> = super::Api {
    family: &FAMILY,
    handle,
};

const K8S: &str = "/k8s/v1";

fn handle(route: Clusters, req: &Request, env: &Env) -> Result<Response, Problem> {
    match route {
        Clusters::ListClusters => list_clusters(req, env),
        Clusters::CreateCluster => create_cluster(req, env),
        Clusters::ReplaceCluster => replace_cluster(req, env),
        Clusters::DeleteCluster => {
            cluster::delete(env, id_param(req)?)?;
            Ok(Response::new(StatusCode::NO_CONTENT))
        }
        Clusters::Refresh => refresh(req, env),
        Clusters::ClusterStatus => cluster_status(env),
        Clusters::ClusterMetrics(id) => ok(report::cluster_json(env, &id)?),
        Clusters::ListConfigs => list_configs(req, env),
        Clusters::CreateConfig => create_config(req, env),
        Clusters::UpdateConfig => update_config(req, env),
        Clusters::DeleteConfig => delete_config(req, env),
        Clusters::BulkUpdate => bulk_update(req, env),
        Clusters::DisableNamespace => disable(req, env, false),
        Clusters::DisableCluster => disable(req, env, true),
        Clusters::Metrics => Ok(Response::new(StatusCode::OK)
            .header(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )
            .bytes(report::prometheus(env)?)),
        Clusters::Stats => ok(report::stats(env, req.query.get("cluster_id"))?),
        Clusters::Health => health(req, env),
    }
}

fn ok(v: Value) -> Result<Response, Problem> {
    Ok(Response::json(StatusCode::OK, &v))
}

fn id_param(req: &Request) -> Result<&str, Problem> {
    match req.query.get("id") {
        Some(id) if !id.is_empty() => Ok(id),
        _ => Err(Problem::bad_param("id", "name the record with ?id=")),
    }
}

fn list_clusters(req: &Request, env: &Env) -> Result<Response, Problem> {
    let allowed = env.config.k8s_allowed_hosts()?;
    if let Some(id) = req.query.get("id") {
        return ok(cluster::find(env, id)?.view(allowed.as_deref()));
    }
    let views: Vec<Value> = cluster::all(env)?
        .iter()
        .map(|c| c.view(allowed.as_deref()))
        .collect();
    ok(json!({"clusters": views, "total": views.len()}))
}

fn create_cluster(req: &Request, env: &Env) -> Result<Response, Problem> {
    let spec: ClusterSpec = req.json("cluster")?;
    let c = cluster::create(env, spec)?;
    let view = c.view(env.config.k8s_allowed_hosts()?.as_deref());
    Ok(Response::json(StatusCode::CREATED, &view).header(
        header::LOCATION,
        &format!("{K8S}/clusters/configs?id={}", c.id),
    ))
}

fn replace_cluster(req: &Request, env: &Env) -> Result<Response, Problem> {
    let id = id_param(req)?.to_owned();
    let spec: ClusterSpec = req.json("cluster")?;
    let c = cluster::replace(env, &id, spec)?;
    ok(c.view(env.config.k8s_allowed_hosts()?.as_deref()))
}

fn refresh(req: &Request, env: &Env) -> Result<Response, Problem> {
    let all = cluster::all(env)?;
    let chosen: Vec<_> = match req.query.get("id") {
        Some(id) => vec![cluster::find(env, id)?],
        None => all,
    };
    let mut out = Vec::new();
    for c in &chosen {
        out.push(status_view(&c.id, Some(cluster::refresh(env, c)?)));
    }
    ok(json!({"clusters": out}))
}

fn status_view(id: &str, s: Option<cluster::Status>) -> Value {
    match s {
        None => {
            json!({"cluster_id": id, "state": "unknown", "detail": "never refreshed: POST /k8s/v1/clusters/refresh"})
        }
        Some(s) => json!({
            "cluster_id": s.cluster_id,
            "state": s.state,
            "checked": rfc3339(s.checked),
            "latency_ms": s.latency_ms,
            "version": s.version,
            "pods_by_phase": s.pods_by_phase,
            "error": s.error,
        }),
    }
}

fn cluster_status(env: &Env) -> Result<Response, Problem> {
    let mut out = Vec::new();
    for c in cluster::all(env)? {
        out.push(status_view(&c.id, cluster::status(env, &c.id)?));
    }
    ok(json!({"clusters": out}))
}

fn config_view(c: &Config) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or_default();
    v["created"] = json!(rfc3339(c.created));
    v["updated"] = json!(rfc3339(c.updated));
    v
}

fn list_configs(req: &Request, env: &Env) -> Result<Response, Problem> {
    let s = settings::load(env)?;
    let q = |k: &str| req.query.get(k);
    if let Some(id) = q("id") {
        let c = s
            .configs
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| Problem::not_found(format!("no configuration {id:?}")))?;
        return ok(config_view(c));
    }
    let views: Vec<Value> = s
        .configs
        .iter()
        .filter(|c| q("cluster_id").is_none_or(|v| v == c.cluster_id))
        .filter(|c| q("namespace").is_none_or(|v| v == c.namespace))
        .map(config_view)
        .collect();
    ok(json!({"configs": views, "total": views.len()}))
}

fn create_config(req: &Request, env: &Env) -> Result<Response, Problem> {
    let spec: ConfigSpec = req.json("collection configuration")?;
    registered(env, &spec.cluster_id)?;
    let c = spec.into_config(
        crate::util::ids::random_id()?[..16].to_owned(),
        1,
        now_micros(),
    )?;
    settings::edit(env, |s| {
        if s.configs
            .iter()
            .any(|k| k.cluster_id == c.cluster_id && k.namespace == c.namespace)
        {
            return Err(Problem::conflict(format!(
                "namespace {:?} of cluster {:?} has a configuration: PUT it",
                c.namespace, c.cluster_id
            )));
        }
        if s.configs.len() >= settings::MAX_CONFIGS {
            return Err(Problem::conflict(format!(
                "at most {} configurations",
                settings::MAX_CONFIGS
            )));
        }
        s.configs.push(c.clone());
        Ok(())
    })?;
    Ok(Response::json(StatusCode::CREATED, &config_view(&c))
        .header(header::LOCATION, &format!("{K8S}/config?id={}", c.id)))
}

fn registered(env: &Env, id: &str) -> Result<(), Problem> {
    cluster::find(env, id)
        .map(drop)
        .map_err(|_| Problem::bad_param("cluster_id", format!("no registered cluster {id:?}")))
}

/// The version an update replaces: `?version=` or the body's.
fn version_of(req: &Request, body: Option<u64>) -> Result<u64, Problem> {
    match req.query.get("version") {
        Some(v) => v
            .parse()
            .map_err(|_| Problem::bad_param("version", "version is a number")),
        None => body.ok_or_else(|| {
            Problem::bad_param(
                "version",
                "name the version replaced (?version= or \"version\")",
            )
        }),
    }
}

fn stale(id: &str, have: u64, sent: u64) -> Problem {
    Problem::conflict(format!(
        "configuration {id} is at version {have}, not {sent}: read it again"
    ))
    .with("version", have)
}

fn update_config(req: &Request, env: &Env) -> Result<Response, Problem> {
    let id = id_param(req)?.to_owned();
    let spec: ConfigSpec = req.json("collection configuration")?;
    let sent = version_of(req, spec.version)?;
    registered(env, &spec.cluster_id)?;
    let updated = settings::edit(env, |s| {
        let i = s
            .configs
            .iter()
            .position(|c| c.id == id)
            .ok_or_else(|| Problem::not_found(format!("no configuration {id:?}")))?;
        let old = &s.configs[i];
        if old.version != sent {
            return Err(stale(&id, old.version, sent));
        }
        let c = spec
            .clone()
            .into_config(id.clone(), old.version + 1, old.created)?;
        if s.configs
            .iter()
            .any(|k| k.id != id && k.cluster_id == c.cluster_id && k.namespace == c.namespace)
        {
            return Err(Problem::conflict(
                "another configuration covers that namespace",
            ));
        }
        s.configs[i] = c.clone();
        Ok(c)
    })?;
    ok(config_view(&updated))
}

fn delete_config(req: &Request, env: &Env) -> Result<Response, Problem> {
    let id = id_param(req)?.to_owned();
    settings::edit(env, |s| {
        let before = s.configs.len();
        s.configs.retain(|c| c.id != id);
        if s.configs.len() == before {
            return Err(Problem::not_found(format!("no configuration {id:?}")));
        }
        Ok(())
    })?;
    Ok(Response::new(StatusCode::NO_CONTENT))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Bulk {
    updates: Vec<BulkItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkItem {
    id: String,
    enabled: bool,
    version: Option<u64>,
}

fn bulk_update(req: &Request, env: &Env) -> Result<Response, Problem> {
    let bulk: Bulk = req.json("bulk update")?;
    if bulk.updates.is_empty() || bulk.updates.len() > settings::MAX_CONFIGS {
        return Err(Problem::bad_param(
            "updates",
            "updates: 1 to 1000 {id, enabled, version?}",
        ));
    }
    let changed = settings::edit(env, |s| {
        let now = now_micros();
        let mut out = Vec::new();
        for u in &bulk.updates {
            let c = s
                .configs
                .iter_mut()
                .find(|c| c.id == u.id)
                .ok_or_else(|| Problem::not_found(format!("no configuration {:?}", u.id)))?;
            if let Some(v) = u.version.filter(|v| *v != c.version) {
                return Err(stale(&u.id, c.version, v));
            }
            c.enabled = u.enabled;
            c.version += 1;
            c.updated = now;
            out.push(config_view(c));
        }
        Ok(out)
    })?;
    ok(json!({"updated": changed, "total": changed.len()}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Disable {
    cluster_id: String,
    namespace: Option<String>,
}

/// Disables one namespace (`whole`: every namespace) of a cluster, making
/// the configuration that says so if there is none.
fn disable(req: &Request, env: &Env, whole: bool) -> Result<Response, Problem> {
    let d: Disable = req.json("disable request")?;
    registered(env, &d.cluster_id)?;
    let namespace = match (whole, d.namespace) {
        (true, None) => "*".to_owned(),
        (false, Some(ns)) => ns,
        (true, Some(_)) => {
            return Err(Problem::bad_param(
                "namespace",
                "disable/cluster takes no namespace",
            ));
        }
        (false, None) => {
            return Err(Problem::bad_param(
                "namespace",
                "name the namespace to disable",
            ));
        }
    };
    let fresh = ConfigSpec {
        cluster_id: d.cluster_id.clone(),
        namespace: namespace.clone(),
        enabled: Some(false),
        ..ConfigSpec::default()
    }
    .into_config(
        crate::util::ids::random_id()?[..16].to_owned(),
        1,
        now_micros(),
    )?;
    let changed = settings::edit(env, |s| {
        let now = now_micros();
        if !s
            .configs
            .iter()
            .any(|c| c.cluster_id == d.cluster_id && c.namespace == namespace)
        {
            // The same bound as a created configuration's: every push
            // reads this record.
            if s.configs.len() >= settings::MAX_CONFIGS {
                return Err(Problem::conflict(format!(
                    "at most {} configurations",
                    settings::MAX_CONFIGS
                )));
            }
            s.configs.push(fresh.clone());
        }
        let mut out = Vec::new();
        for c in s
            .configs
            .iter_mut()
            .filter(|c| c.cluster_id == d.cluster_id && (whole || c.namespace == namespace))
        {
            if c.enabled {
                c.enabled = false;
                c.version += 1;
                c.updated = now;
            }
            out.push(config_view(c));
        }
        Ok(out)
    })?;
    ok(json!({"disabled": changed}))
}

/// Liveness (`?probe=live`) touches nothing; readiness checks storage and
/// clusters. The status is public; the checks are shown to a caller whose
/// credentials pass.
fn health(req: &Request, env: &Env) -> Result<Response, Problem> {
    if req.query.get("probe") == Some("live") {
        return ok(json!({"status": "ok"}));
    }
    if let Some(p) = req.query.get("probe").filter(|p| *p != "ready") {
        return Err(Problem::bad_param(
            "probe",
            format!("probe is live or ready, not {p:?}"),
        ));
    }
    let (status, details) = report::health(env);
    let code = if status == "down" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let authenticated = req.headers.contains_key(header::AUTHORIZATION)
        && crate::auth::authenticate(req, env.config.auth(), now_micros() / 1_000_000).is_ok();
    let body = if authenticated {
        details
    } else {
        json!({"status": status})
    };
    Ok(Response::json(code, &body))
}
