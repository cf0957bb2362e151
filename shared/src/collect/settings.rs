//! Collection configuration: per cluster and namespace (`*` for all), which
//! pods and containers are collected, with what extra labels, from where and
//! how much per step. One record governs both paths: pulls follow it, and a
//! Loki push of a disabled namespace is dropped and counted ([`admit_push`]).
//!
//! ```text
//! k8s/configs   {"clusters": [registered ids], "configs": [...]}, one record
//! ```
//! One key, so a push reads one value to learn both what is disabled and
//! which cluster labels name registered clusters (what its metrics count
//! under). Records are versioned: an update names the version it replaces,
//! and a stale one is a 409.

use crate::env::Env;
use crate::logql::Labels;
use crate::store::kv::{Update, update};
use crate::store::metrics;
use crate::util::clock::now_micros;
use crate::web::problem::Problem;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const KEY: &str = "k8s/configs";
/// Configurations one deployment holds.
pub const MAX_CONFIGS: usize = 1000;
/// The annotation a pod opts out with (`"false"`), unless a configuration
/// names another.
pub const OPT_OUT: &str = "spin-logs.io/collect";
/// Bytes one container may give per step, by default and at most.
pub const DEFAULT_BUDGET: u64 = 256 * 1024;
/// The largest `budget_bytes` a configuration may set.
pub const MAX_BUDGET: u64 = 8 * 1024 * 1024;

/// Where a new target starts.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum StartAt {
    /// Now: only what the container logs from here on.
    #[default]
    End,
    /// Everything the kubelet still has.
    Beginning,
}

/// One configuration.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Config {
    /// Unique among configurations; what `?id=` names.
    pub id: String,
    /// The cluster it governs.
    pub cluster_id: String,
    /// A namespace, or `*` for every namespace without its own.
    pub namespace: String,
    /// Disabled: no job pulls the namespace and pushes for it are dropped.
    pub enabled: bool,
    /// Which pods jobs list, when a job names no selector of its own;
    /// empty: all.
    #[serde(default)]
    pub label_selector: String,
    /// As `label_selector`, for fields (`spec.nodeName=n1`).
    #[serde(default)]
    pub field_selector: String,
    /// Pod-name globs to collect (see [`glob`]); empty: every pod.
    #[serde(default)]
    pub include_pods: Vec<String>,
    /// Pod-name globs never to collect; they win over `include_pods`.
    #[serde(default)]
    pub exclude_pods: Vec<String>,
    /// Container-name globs to collect; empty: every container.
    #[serde(default)]
    pub include_containers: Vec<String>,
    /// Container-name globs never to collect; they win over
    /// `include_containers`.
    #[serde(default)]
    pub exclude_containers: Vec<String>,
    /// A pod with this annotation set to `"false"` is not collected
    /// ([`OPT_OUT`] by default).
    pub opt_out_annotation: String,
    /// Labels added to every stream collected (at most 5; never `cluster`,
    /// `namespace`, `pod`, `container` or `node`).
    #[serde(default)]
    pub extra_labels: BTreeMap<String, String>,
    /// Where a continuous job starts reading a container it finds.
    pub start_at: StartAt,
    /// Bytes one container may give per step, 1,024 to [`MAX_BUDGET`].
    pub budget_bytes: u64,
    /// Bumped by every update; an update naming another is a 409.
    pub version: u64,
    /// When it was created, µs since the epoch.
    pub created: u64,
    /// When it last changed, µs since the epoch.
    pub updated: u64,
}

/// What a client sends.
#[derive(Deserialize, Debug, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct ConfigSpec {
    /// A cluster id (a DNS label).
    pub cluster_id: String,
    /// A namespace (a DNS label), or `*` for every namespace without its own.
    pub namespace: String,
    /// Defaults to true.
    pub enabled: Option<bool>,
    /// Which pods jobs list, up to 1,024 visible ASCII characters; none:
    /// all.
    pub label_selector: Option<String>,
    /// As `label_selector`.
    pub field_selector: Option<String>,
    /// Globs of pods collected; empty: all. Each of the four glob lists
    /// holds up to 100 globs of 1 to 253 characters.
    #[serde(default)]
    pub include_pods: Vec<String>,
    /// Globs of pods never collected.
    #[serde(default)]
    pub exclude_pods: Vec<String>,
    /// Globs of containers collected; empty: all.
    #[serde(default)]
    pub include_containers: Vec<String>,
    /// Globs of containers never collected.
    #[serde(default)]
    pub exclude_containers: Vec<String>,
    /// 1 to 317 characters; defaults to [`OPT_OUT`].
    pub opt_out_annotation: Option<String>,
    /// Up to 5 labels with Loki names and values of 1 to 256 characters.
    #[serde(default)]
    pub extra_labels: BTreeMap<String, String>,
    /// Defaults to [`StartAt::End`].
    pub start_at: Option<StartAt>,
    /// Defaults to [`DEFAULT_BUDGET`]; 1,024 to [`MAX_BUDGET`].
    pub budget_bytes: Option<u64>,
    /// On update: the version replaced (or `?version=`).
    pub version: Option<u64>,
}

/// The stored record.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct Settings {
    /// The registered clusters' ids, sorted: which `cluster` labels of a
    /// push count under their own name.
    #[serde(default)]
    pub clusters: Vec<String>,
    /// Every configuration, at most [`MAX_CONFIGS`].
    #[serde(default)]
    pub configs: Vec<Config>,
}

fn bad(field: &str, detail: impl Into<String>) -> Problem {
    Problem::bad_param(field, detail)
}

/// A selector as the API server takes one: visible ASCII, bounded.
fn check_selector(field: &str, s: &str) -> Result<(), Problem> {
    if s.len() > 1024 || !s.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(bad(
            field,
            format!("{field} is up to 1024 visible ASCII characters"),
        ));
    }
    Ok(())
}

fn check_globs(field: &str, globs: &[String]) -> Result<(), Problem> {
    if globs.len() > 100 || globs.iter().any(|g| g.is_empty() || g.len() > 253) {
        return Err(bad(
            field,
            format!("{field}: up to 100 globs of 1 to 253 characters"),
        ));
    }
    Ok(())
}

impl ConfigSpec {
    /// The record, checked (`id`, `version` and times supplied by the caller).
    pub fn into_config(self, id: String, version: u64, created: u64) -> Result<Config, Problem> {
        if !valid_name(&self.cluster_id) {
            return Err(bad("cluster_id", "cluster_id names a registered cluster"));
        }
        if self.namespace != "*" && !valid_name(&self.namespace) {
            return Err(bad("namespace", "a namespace is a DNS label, or * for all"));
        }
        let (ls, fs) = (
            self.label_selector.unwrap_or_default(),
            self.field_selector.unwrap_or_default(),
        );
        check_selector("label_selector", &ls)?;
        check_selector("field_selector", &fs)?;
        for (f, g) in [
            ("include_pods", &self.include_pods),
            ("exclude_pods", &self.exclude_pods),
            ("include_containers", &self.include_containers),
            ("exclude_containers", &self.exclude_containers),
        ] {
            check_globs(f, g)?;
        }
        check_labels(&self.extra_labels)?;
        let budget = self.budget_bytes.unwrap_or(DEFAULT_BUDGET);
        if !(1024..=MAX_BUDGET).contains(&budget) {
            return Err(bad(
                "budget_bytes",
                format!("budget_bytes is 1024 to {MAX_BUDGET}"),
            ));
        }
        let annotation = self
            .opt_out_annotation
            .unwrap_or_else(|| OPT_OUT.to_owned());
        if annotation.is_empty() || annotation.len() > 317 {
            return Err(bad(
                "opt_out_annotation",
                "an annotation name is 1 to 317 characters",
            ));
        }
        Ok(Config {
            id,
            cluster_id: self.cluster_id,
            namespace: self.namespace,
            enabled: self.enabled.unwrap_or(true),
            label_selector: ls,
            field_selector: fs,
            include_pods: self.include_pods,
            exclude_pods: self.exclude_pods,
            include_containers: self.include_containers,
            exclude_containers: self.exclude_containers,
            opt_out_annotation: annotation,
            extra_labels: self.extra_labels,
            start_at: self.start_at.unwrap_or_default(),
            budget_bytes: budget,
            version,
            created,
            updated: now_micros(),
        })
    }
}

/// Extra labels: Loki's names, no canonical label overridden.
fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), Problem> {
    const OWN: [&str; 5] = ["cluster", "namespace", "pod", "container", "node"];
    if labels.len() > 5 {
        return Err(bad("extra_labels", "at most 5 extra labels"));
    }
    for (k, v) in labels {
        if !crate::logql::valid_label_name(k) || k.starts_with("__") || OWN.contains(&k.as_str()) {
            return Err(bad(
                "extra_labels",
                format!("{k:?} is not a label name one may add"),
            ));
        }
        if v.is_empty() || v.len() > 256 {
            return Err(bad(
                "extra_labels",
                format!("the value of {k} is 1 to 256 characters"),
            ));
        }
    }
    Ok(())
}

/// `*` any run, `?` one character; nothing else is special.
///
/// The classic matcher with one backtrack point, the last `*`: a later `*`
/// can cover anything an earlier one would have, so O(pattern × name). (A
/// recursive try of every split per `*` took exponential time on a pattern
/// of many stars that fails late, and a request may set one.)
pub fn glob(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    // The last `*` seen, and where in the name its run would next end.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == n[ni] => (pi, ni) = (pi + 1, ni + 1),
            _ => match star {
                Some((sp, sn)) => {
                    star = Some((sp, sn + 1));
                    (pi, ni) = (sp + 1, sn + 1);
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

/// Included (no include list, or a match) and not excluded: exclude wins.
pub fn admitted(include: &[String], exclude: &[String], name: &str) -> bool {
    (include.is_empty() || include.iter().any(|g| glob(g, name)))
        && !exclude.iter().any(|g| glob(g, name))
}

impl Settings {
    /// What applies to `namespace` of `cluster`: its own, else the
    /// cluster's `*`, else none (collected with the defaults).
    pub fn effective(&self, cluster: &str, namespace: &str) -> Option<&Config> {
        let of = |ns: &str| {
            self.configs
                .iter()
                .find(|c| c.cluster_id == cluster && c.namespace == ns)
        };
        of(namespace).or_else(|| of("*"))
    }

    /// Whether `namespace` of `cluster` is collected.
    pub fn collects(&self, cluster: &str, namespace: &str) -> bool {
        self.effective(cluster, namespace).is_none_or(|c| c.enabled)
    }
}

/// The record.
pub fn load(env: &Env) -> Result<Settings, Problem> {
    match env.store.meta.get(KEY)? {
        None => Ok(Settings::default()),
        Some(b) => serde_json::from_slice(&b).map_err(|e| Problem::internal(format!("{KEY}: {e}"))),
    }
}

/// Changes the record in one compare-and-swap: all of `f` or none.
pub fn edit<T>(
    env: &Env,
    mut f: impl FnMut(&mut Settings) -> Result<T, Problem>,
) -> Result<T, Problem> {
    update::<_, Problem>(env.store.meta.as_ref(), KEY, Some(b"{}"), 50, |cur| {
        let mut s: Settings = match cur {
            Some(b) => {
                serde_json::from_slice(b).map_err(|e| Problem::internal(format!("{KEY}: {e}")))?
            }
            None => Settings::default(),
        };
        let out = f(&mut s)?;
        Ok(Update::Write(
            serde_json::to_vec(&s).map_err(Problem::internal)?,
            out,
        ))
    })
}

/// A DNS label, as Kubernetes names are: what ids and namespaces may be.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Keeps the registered ids in step with the clusters (see the module docs).
pub fn note_cluster(env: &Env, id: &str, present: bool) -> Result<(), Problem> {
    edit(env, |s| {
        s.clusters.retain(|c| c != id);
        if present {
            s.clusters.push(id.to_owned());
            crate::util::sort::sort(&mut s.clusters);
        }
        Ok(())
    })
}

/// A push's streams (their labels), by what the configuration says: the
/// indices of those to store, and the lines dropped (counted as refused
/// `namespace_disabled`). A push for a disabled namespace is dropped, not
/// refused: one push from a node's shipper carries every namespace on it,
/// and a 4xx would lose the enabled ones with it (shippers do not retry a
/// 4xx). The cluster label a stream's metrics are counted under is its
/// `cluster` if that names a registered cluster, else "".
pub fn admit_push(env: &Env, streams: &[(&Labels, u64)]) -> Result<PushVerdict, Problem> {
    let settings = load(env)?;
    let mut verdict = PushVerdict::default();
    for (i, (labels, lines)) in streams.iter().enumerate() {
        let cluster = labels
            .get("cluster")
            .map(String::as_str)
            .unwrap_or_default();
        let namespace = labels
            .get("namespace")
            .map(String::as_str)
            .unwrap_or_default();
        if !cluster.is_empty() && !namespace.is_empty() && !settings.collects(cluster, namespace) {
            verdict.dropped += lines;
            continue;
        }
        let known = settings.clusters.iter().any(|c| c == cluster);
        verdict.keep.push((
            i,
            if known {
                cluster.to_owned()
            } else {
                String::new()
            },
        ));
    }
    metrics::refused(
        env.store.meta.as_ref(),
        metrics::REFUSALS[0],
        verdict.dropped,
    );
    Ok(verdict)
}

/// What [`admit_push`] decided.
#[derive(Debug, Default, PartialEq)]
pub struct PushVerdict {
    /// The streams kept, each with the cluster its lines count under.
    pub keep: Vec<(usize, String)>,
    /// Lines dropped, their namespace's collection being disabled.
    pub dropped: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::labels_of;

    #[test]
    fn globs_and_exclusion_wins() {
        assert!(glob("web-*", "web-1") && glob("w?b", "web") && !glob("web-*", "api-1"));
        for (p, n, want) in [
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("*a", "baa", true),
            ("*?", "", false),
            ("a**", "a", true),
            ("*b*", "abc", true),
            ("?*?", "a", false),
        ] {
            assert_eq!(glob(p, n), want, "{p} on {n:?}");
        }
        // Many stars that fail at the end: linear, not exponential.
        let many = format!("{}!", "*".repeat(252));
        let start = std::time::Instant::now();
        assert!(!glob(&many, "a-pod-name-of-twenty"));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        assert!(admitted(&[], &[], "x"));
        assert!(!admitted(&["web-*".into()], &["web-2".into()], "web-2"));
        assert!(!admitted(&["web-*".into()], &[], "api"));
    }

    #[test]
    fn a_push_for_a_disabled_namespace_is_dropped_and_counted() {
        let env = Env::memory();
        note_cluster(&env, "prod", true).unwrap();
        let spec = ConfigSpec {
            cluster_id: "prod".into(),
            namespace: "kube-system".into(),
            enabled: Some(false),
            ..ConfigSpec::default()
        };
        let c = spec.into_config("c1".into(), 1, 0).unwrap();
        edit(&env, |s| {
            s.configs.push(c.clone());
            Ok(())
        })
        .unwrap();
        let off = labels_of(&[("cluster", "prod"), ("namespace", "kube-system")]);
        let on = labels_of(&[("cluster", "prod"), ("namespace", "shop")]);
        let other = labels_of(&[("cluster", "dev"), ("namespace", "kube-system")]);
        let v = admit_push(&env, &[(&off, 3), (&on, 2), (&other, 1)]).unwrap();
        assert_eq!(v.keep, vec![(1, "prod".into()), (2, String::new())]);
        assert_eq!(v.dropped, 3);
        let n = metrics::read(
            env.store.meta.as_ref(),
            &[metrics::refused_key("namespace_disabled")],
        );
        assert_eq!(n, vec![3]);
    }
}
