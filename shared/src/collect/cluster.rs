//! Registered clusters: where their API servers are, their sealed tokens and
//! CAs, and what the last refresh found.
//!
//! ```text
//! k8s/clusters        every cluster, one JSON list (compare-and-swap)
//! k8s/status/<id>     the last refresh's finding for one cluster
//! ```

use super::http::{ApiStatus, Client, Failure, Server, outbound};
use super::seal::{self, SealError};
use super::settings::{self, valid_name};
use crate::env::Env;
use crate::store::kv::{Update, update};
use crate::util::clock::now_micros;
use crate::web::problem::Problem;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Instant;

const KEY: &str = "k8s/clusters";
/// Clusters one deployment registers.
pub const MAX_CLUSTERS: usize = 100;
const MAX_TOKEN: usize = 16 * 1024;
const MAX_PEM: usize = 64 * 1024;
/// Pages of pods a refresh counts (500 a page).
const MAX_PAGES: usize = 20;

/// A cluster as stored. `token` is sealed ([`super::seal`]).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Cluster {
    /// A DNS label, unique in the deployment; names the cluster in configs,
    /// jobs and stored streams.
    pub id: String,
    /// For people: 1 to 253 characters (the id if none was given).
    pub name: String,
    /// The API server's URL, without a trailing `/` (see [`Server::parse`]).
    pub server: String,
    /// The bearer token, sealed to this cluster's id; `None`: requests go
    /// unauthenticated (e.g. through `kubectl proxy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The CA bundle to trust for it (PEM certificates only), shown to the
    /// operator to put in `[[client_tls]]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// A disabled cluster is neither probed nor pulled from.
    pub enabled: bool,
    /// Per-request timeout towards the API server, 100 to 60,000 ms.
    pub timeout_ms: u64,
    /// When it was registered, µs since the epoch.
    pub created: u64,
    /// When it was last replaced, µs since the epoch.
    pub updated: u64,
}

/// What a client sends to register or replace a cluster.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// A DNS label; generated (`c-…`) on create when absent, and must match
    /// `?id=` on replace.
    pub id: Option<String>,
    /// Defaults to the id.
    pub name: Option<String>,
    /// The API server's URL: http(s), a host, optional port and path prefix.
    pub server: String,
    /// The bearer token in clear, sealed before it is stored; absent on
    /// replace keeps the stored one.
    pub token: Option<String>,
    /// PEM `CERTIFICATE` blocks of the CA that signed the server's
    /// certificate.
    #[serde(alias = "certificate_authority")]
    pub ca_pem: Option<String>,
    /// Defaults to true.
    pub enabled: Option<bool>,
    /// Defaults to 10,000; 100 to 60,000.
    pub timeout_ms: Option<u64>,
}

/// Checks a CA bundle: one or more PEM `CERTIFICATE` blocks of DER, nothing
/// else (a private key pasted by mistake is refused, not stored).
pub fn check_pem(pem: &str) -> Result<(), String> {
    use base64::Engine as _;
    if pem.len() > MAX_PEM {
        return Err(format!("ca_pem is over {MAX_PEM} bytes"));
    }
    let mut certs = 0;
    let mut rest = pem.trim();
    while !rest.is_empty() {
        let body = rest
            .strip_prefix("-----BEGIN CERTIFICATE-----")
            .ok_or("ca_pem must be PEM CERTIFICATE blocks only")?;
        let end = body
            .find("-----END CERTIFICATE-----")
            .ok_or("a CERTIFICATE block has no END line")?;
        let b64: String = body[..end].split_whitespace().collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("a CERTIFICATE block is not base64: {e}"))?;
        if der.len() < 64 || der[0] != 0x30 {
            return Err("a CERTIFICATE block is not a DER certificate".into());
        }
        certs += 1;
        rest = body[end + "-----END CERTIFICATE-----".len()..].trim();
    }
    if certs == 0 {
        return Err("ca_pem holds no certificate".into());
    }
    Ok(())
}

fn bad(field: &str, detail: impl Into<String>) -> Problem {
    Problem::bad_param(field, detail)
}

impl ClusterSpec {
    /// The record, checked; `old` is the record it replaces (its token is
    /// kept when none is sent).
    pub fn into_cluster(
        self,
        env: &Env,
        id: String,
        old: Option<&Cluster>,
    ) -> Result<Cluster, Problem> {
        if !valid_name(&id) {
            return Err(bad(
                "id",
                "a cluster id is a DNS label: a-z, 0-9 and -, at most 63",
            ));
        }
        let name = self.name.unwrap_or_else(|| id.clone());
        if name.trim().is_empty() || name.len() > 253 {
            return Err(bad("name", "a name is 1 to 253 characters"));
        }
        Server::parse(&self.server).map_err(|e| bad("server", format!("server: {e}")))?;
        if let Some(pem) = &self.ca_pem {
            check_pem(pem).map_err(|e| bad("ca_pem", e))?;
        }
        let timeout_ms = self.timeout_ms.unwrap_or(10_000);
        if !(100..=60_000).contains(&timeout_ms) {
            return Err(bad("timeout_ms", "timeout_ms is 100 to 60000"));
        }
        let token = match self.token {
            Some(t) => Some(seal_token(env, &id, &t)?),
            None => old.and_then(|o| o.token.clone()),
        };
        let now = now_micros();
        Ok(Cluster {
            id,
            name,
            server: self.server.trim().trim_end_matches('/').to_owned(),
            token,
            ca_pem: self.ca_pem,
            enabled: self.enabled.unwrap_or(true),
            timeout_ms,
            created: old.map_or(now, |o| o.created),
            updated: now,
        })
    }
}

fn seal_token(env: &Env, id: &str, token: &str) -> Result<String, Problem> {
    let token = token.trim();
    if token.is_empty() || token.len() > MAX_TOKEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad(
            "token",
            format!("a token is 1 to {MAX_TOKEN} visible ASCII characters"),
        ));
    }
    let key = secret(env)?;
    seal::seal(&key, id, token).map_err(Problem::internal)
}

fn secret(env: &Env) -> Result<String, Problem> {
    env.config.k8s_token_key()?.ok_or_else(|| {
        Problem::internal("no key seals cluster tokens: set k8s_token_key (or auth_hs256_secret)")
    })
}

impl Cluster {
    /// Its API server's address, parsed; a 500 if the stored URL no longer
    /// parses (it was checked when stored).
    pub fn server(&self) -> Result<Server, Problem> {
        Server::parse(&self.server).map_err(Problem::internal)
    }

    /// A client for its API server, the token opened.
    pub fn client(&self, env: &Env) -> Result<Client, Problem> {
        let token = match &self.token {
            None => None,
            Some(sealed) => Some(seal::open(&secret(env)?, &self.id, sealed).map_err(|e| match e {
                SealError::OtherKey => Problem::conflict(format!(
                    "cluster {:?}'s token was sealed with another key (k8s_token_key changed): PUT its token again",
                    self.id
                )),
                SealError::Corrupt => Problem::internal(format!("cluster {:?}: its sealed token is corrupt", self.id)),
            })?),
        };
        Ok(Client::new(self.server()?, token, outbound()?))
    }

    /// What a client sees: never the token, only whether one is set, and
    /// what the operator must grant for it.
    pub fn view(&self, allowed: Option<&str>) -> Value {
        let entry = self
            .server()
            .map(|s| s.outbound_entry())
            .unwrap_or_default();
        let mut spin = json!({
            "allowed_outbound_host": entry,
            "granted_by_k8s_allowed_hosts": allowed.is_some_and(|a| grants(a, &entry)),
        });
        if self.server.starts_with("https://")
            && self.ca_pem.is_some()
            && let Ok(s) = self.server()
        {
            spin["client_tls"] = Value::String(format!(
                "[[client_tls]]\ncomponent_ids = [\"collect\"]\nhosts = [\"{}\"]\nca_roots_file = \"<file holding this cluster's ca_pem>\"\n",
                s.authority
            ));
        }
        json!({
            "id": self.id,
            "name": self.name,
            "server": self.server,
            "token_set": self.token.is_some(),
            "ca_pem": self.ca_pem,
            "enabled": self.enabled,
            "timeout_ms": self.timeout_ms,
            "created": crate::read::format::rfc3339(self.created),
            "updated": crate::read::format::rfc3339(self.updated),
            "spin": spin,
        })
    }
}

/// Whether an `allowed_outbound_hosts` entry (`k8s_allowed_hosts`) grants
/// `entry` (`scheme://host:port`), with Spin's `*` for a host or a port.
pub fn grants(allowed: &str, entry: &str) -> bool {
    let split = |e: &str| -> Option<(String, String, String)> {
        let (scheme, rest) = e.trim().trim_end_matches('/').split_once("://")?;
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.to_owned()),
            None => (
                rest.to_owned(),
                if scheme == "https" { "443" } else { "80" }.to_owned(),
            ),
        };
        Some((scheme.to_owned(), host.to_ascii_lowercase(), port))
    };
    let (Some(a), Some(e)) = (split(allowed), split(entry)) else {
        return false;
    };
    (a.0 == "*" || a.0 == e.0) && (a.1 == "*" || a.1 == e.1) && (a.2 == "*" || a.2 == e.2)
}

/// Every cluster.
pub fn all(env: &Env) -> Result<Vec<Cluster>, Problem> {
    match env.store.meta.get(KEY)? {
        None => Ok(Vec::new()),
        Some(b) => serde_json::from_slice(&b).map_err(|e| Problem::internal(format!("{KEY}: {e}"))),
    }
}

/// One cluster, or a 404.
pub fn find(env: &Env, id: &str) -> Result<Cluster, Problem> {
    all(env)?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| Problem::not_found(format!("no cluster {id:?}")))
}

/// Changes the list in one compare-and-swap; `f` refuses with a problem
/// and stores nothing.
pub fn edit<T>(
    env: &Env,
    mut f: impl FnMut(&mut Vec<Cluster>) -> Result<T, Problem>,
) -> Result<T, Problem> {
    update::<_, Problem>(env.store.meta.as_ref(), KEY, Some(b"[]"), 50, |cur| {
        let mut list: Vec<Cluster> = match cur {
            Some(b) => {
                serde_json::from_slice(b).map_err(|e| Problem::internal(format!("{KEY}: {e}")))?
            }
            None => Vec::new(),
        };
        let out = f(&mut list)?;
        Ok(Update::Write(
            serde_json::to_vec(&list).map_err(Problem::internal)?,
            out,
        ))
    })
}

/// Registers a new cluster (409 if its id is taken).
pub fn create(env: &Env, spec: ClusterSpec) -> Result<Cluster, Problem> {
    let id = match &spec.id {
        Some(id) => id.clone(),
        None => format!("c-{}", &crate::util::ids::random_id()?[..10]).to_ascii_lowercase(),
    };
    let cluster = spec.into_cluster(env, id, None)?;
    // Refused before the id is noted in the settings (which every push
    // reads): a refused create must leave nothing behind. The edit below
    // checks again, against a create racing this one.
    room_for(&all(env)?, &cluster.id)?;
    settings::note_cluster(env, &cluster.id, true)?;
    edit(env, |list| {
        room_for(list, &cluster.id)?;
        list.push(cluster.clone());
        Ok(())
    })?;
    Ok(cluster)
}

/// A 409 when `id` is taken or the list is full.
fn room_for(list: &[Cluster], id: &str) -> Result<(), Problem> {
    if list.iter().any(|c| c.id == id) {
        return Err(Problem::conflict(format!("a cluster {id:?} exists")));
    }
    if list.len() >= MAX_CLUSTERS {
        return Err(Problem::conflict(format!(
            "at most {MAX_CLUSTERS} clusters"
        )));
    }
    Ok(())
}

/// Replaces cluster `id` (its token kept unless a new one is sent).
pub fn replace(env: &Env, id: &str, spec: ClusterSpec) -> Result<Cluster, Problem> {
    if spec.id.as_deref().is_some_and(|s| s != id) {
        return Err(bad("id", "the body's id differs from ?id="));
    }
    let old = find(env, id)?;
    let cluster = spec.into_cluster(env, id.to_owned(), Some(&old))?;
    edit(env, |list| {
        let slot = list
            .iter_mut()
            .find(|c| c.id == cluster.id)
            .ok_or_else(|| Problem::not_found(format!("no cluster {:?}", cluster.id)))?;
        *slot = cluster.clone();
        Ok(())
    })?;
    Ok(cluster)
}

/// Forgets cluster `id`, its token and its status.
pub fn delete(env: &Env, id: &str) -> Result<(), Problem> {
    edit(env, |list| {
        let before = list.len();
        list.retain(|c| c.id != id);
        if list.len() == before {
            return Err(Problem::not_found(format!("no cluster {id:?}")));
        }
        Ok(())
    })?;
    env.store.meta.delete(&status_key(id))?;
    settings::note_cluster(env, id, false)
}

/// What the last refresh found about a cluster.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Status {
    /// The cluster probed.
    pub cluster_id: String,
    /// connected, degraded, unreachable, unauthorized, tls_error,
    /// not_allowed or disabled.
    pub state: String,
    /// When the probe ran, µs since the epoch.
    pub checked: u64,
    /// How long `/version` took to answer, ms (0 if it did not).
    pub latency_ms: u64,
    /// The server's `gitVersion`, once `/version` answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Pods counted per phase (`Running`, `Pending`, …), over at most 20
    /// pages of 500 pods.
    #[serde(default)]
    pub pods_by_phase: BTreeMap<String, u64>,
    /// Why the probe stopped short of connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiStatus>,
}

/// Where cluster `id`'s [`Status`] is stored.
pub fn status_key(id: &str) -> String {
    format!("k8s/status/{id}")
}

/// The stored status of `id`, if a refresh ran.
pub fn status(env: &Env, id: &str) -> Result<Option<Status>, Problem> {
    match env.store.meta.get(&status_key(id))? {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(Problem::internal),
    }
}

/// Probes `cluster` and stores what it found.
pub fn refresh(env: &Env, cluster: &Cluster) -> Result<Status, Problem> {
    let started = Instant::now();
    let mut s = Status {
        cluster_id: cluster.id.clone(),
        state: "disabled".into(),
        checked: now_micros(),
        latency_ms: 0,
        version: None,
        pods_by_phase: BTreeMap::new(),
        error: None,
    };
    if cluster.enabled {
        let client = cluster.client(env)?;
        if let Err(f) = probe(&client, &mut s, started) {
            s.state = f.state().into();
            s.error = Some(f.status());
        }
    }
    let bytes = serde_json::to_vec(&s).map_err(Problem::internal)?;
    env.store.meta.set(&status_key(&cluster.id), &bytes)?;
    Ok(s)
}

/// `/version` (reachable; public on real clusters), then one namespace
/// (the token works), then pods by phase, page by page.
fn probe(client: &Client, s: &mut Status, started: Instant) -> Result<(), Failure> {
    #[derive(Deserialize)]
    struct Version {
        #[serde(rename = "gitVersion", default)]
        git_version: String,
    }
    let v: Version = client.get_json("/version")?;
    s.latency_ms = started.elapsed().as_millis() as u64;
    s.version = Some(v.git_version);
    let _: Value = client.get_json("/api/v1/namespaces?limit=1")?;
    s.state = "degraded".into();
    let mut next: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut path = "/api/v1/pods?limit=500".to_owned();
        if let Some(c) = &next {
            path.push_str(&format!("&continue={}", super::pull::query_escape(c)));
        }
        let list: super::pull::PodList = client.get_json(&path)?;
        for pod in &list.items {
            *s.pods_by_phase.entry(pod.phase().to_owned()).or_default() += 1;
        }
        next = list.metadata.continue_token.filter(|c| !c.is_empty());
        if next.is_none() {
            break;
        }
    }
    s.state = "connected".into();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_pems_and_grants() {
        assert!(
            valid_name("prod-eu-1") && !valid_name("Prod") && !valid_name("-a") && !valid_name("")
        );
        assert!(check_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----").is_err());
        assert!(check_pem("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----").is_err());
        assert!(check_pem("").is_err());
        assert!(grants("https://*:6443", "https://10.0.0.1:6443"));
        assert!(grants("https://k.example", "https://k.example:443"));
        assert!(!grants("https://k.example", "http://k.example:80"));
        assert!(grants("*://*:*", "http://127.0.0.1:8001"));
    }
}
