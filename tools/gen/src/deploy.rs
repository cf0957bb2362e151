//! `deploy/`: one SpinApp per family (SpinKube's selective deployment runs
//! only the named component in each), given just the deployment variables
//! its family reads, and an Ingress that routes each trigger route to it.

use super::{families, gated, stores};
use spin_logs::routes::Described;
use std::fmt::Write;

const APPS_HEADER: &str = "# One SpinApp per route family, all from one image: SpinKube's selective
# deployment (`components:`) runs only the named component in each, so each
# family scales on its own. Written by `cargo run -p spin-logs-gen` from the
# route tables: each app is given only the variables its family reads.
# Build and push the image with
#   spin build && spin registry push ghcr.io/<you>/spin-logs:0.1.0
# then `kubectl apply -f deploy/`. The stores and the object store come from
# runtime-config-secret.yaml and s3-secret.yaml; ingress.yaml routes paths
# exactly as spin.toml does.
";

/// How a family's app scales and what one replica may use.
struct Sizing {
    /// Replicas come from hpa.yaml / keda.yaml rather than a fixed count.
    autoscaled: bool,
    cpu_limit: &'static str,
}

fn sizing(component: &str) -> Sizing {
    match component {
        // The write path scales on request rate (keda.yaml), reads on CPU
        // (hpa.yaml), follows on concurrency (keda.yaml).
        "ingest" | "dump" | "tail" => Sizing {
            autoscaled: true,
            cpu_limit: "500m",
        },
        // Scans.
        "query" => Sizing {
            autoscaled: false,
            cpu_limit: "1000m",
        },
        _ => Sizing {
            autoscaled: false,
            cpu_limit: "500m",
        },
    }
}

/// The deployment-specific variables (secrets and the S3 backend) a family
/// reads, as SpinApp `variables` entries.
fn variables(family: &dyn Described) -> String {
    let mut out = String::new();
    if stores(family) {
        out.push_str("    - name: blob_store\n      value: s3\n");
        for (var, key) in [
            ("s3_endpoint", "endpoint"),
            ("s3_bucket", "bucket"),
            ("s3_region", "region"),
            ("s3_access_key_id", "access_key_id"),
            ("s3_secret_access_key", "secret_access_key"),
        ] {
            let _ = writeln!(
                out,
                "    - name: {var}\n      valueFrom:\n        secretKeyRef: {{name: spin-logs-s3, key: {key}}}"
            );
        }
    }
    if gated(family) {
        out.push_str(
            "    - name: auth_hs256_secret\n      valueFrom:\n        secretKeyRef: {name: spin-logs-auth, key: hs256_secret}\n",
        );
    }
    out
}

pub fn spinapps() -> String {
    let mut out = String::from(APPS_HEADER);
    for family in families() {
        let name = family.component();
        let size = sizing(name);
        let scale = if size.autoscaled {
            "enableAutoscaling: true   # replicas come from hpa.yaml / keda.yaml"
        } else {
            "replicas: 1"
        };
        let _ = write!(
            out,
            "---
# {name}: {summary}
apiVersion: core.spinkube.dev/v1alpha1
kind: SpinApp
metadata:
  name: spin-logs-{name}
  labels:
    app.kubernetes.io/name: spin-logs
    app.kubernetes.io/component: {name}
spec:
  image: ghcr.io/spin-logs/spin-logs:0.1.0
  executor: containerd-shim-spin
  {scale}
  components:
    - {name}
  runtimeConfig:
    loadFromSecret: spin-logs-runtime-config
  resources:
    limits:
      cpu: {cpu}
      memory: 256Mi
    requests:
      cpu: 100m
      memory: 64Mi
",
            summary = family.summary(),
            cpu = size.cpu_limit,
        );
        let vars = variables(family);
        if !vars.is_empty() {
            out.push_str("  variables:\n");
            out.push_str(&vars);
        }
    }
    out
}

const INGRESS_HEADER: &str =
    "# Routes every path to the SpinApp that serves it, exactly as spin.toml's
# [[trigger.http]] routes do (\":name\" is one segment, \"/...\" the rest), for
# ingress-nginx with regex paths, which tries the longest path first, as Spin
# prefers the most specific route: the catch-all \"/...\" is \"^/\", the shortest,
# so it is tried last. Written by `cargo run -p spin-logs-gen` from the route
# tables.
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: spin-logs
  annotations:
    nginx.ingress.kubernetes.io/use-regex: \"true\"
    # Follows stream for up to tail_budget_ms (25 s); let them.
    nginx.ingress.kubernetes.io/proxy-read-timeout: \"60\"
    nginx.ingress.kubernetes.io/proxy-buffering: \"off\"
    nginx.ingress.kubernetes.io/proxy-body-size: \"16m\"
spec:
  ingressClassName: nginx
  rules:
    - http:
        paths:
";

pub fn ingress() -> String {
    let mut out = String::from(INGRESS_HEADER);
    for family in families() {
        for route in family.spin_routes() {
            let _ = write!(
                out,
                "          - path: '{}'
            pathType: ImplementationSpecific
            backend:
              service:
                name: spin-logs-{}
                port:
                  number: 80
",
                regex(route),
                family.component()
            );
        }
    }
    out
}

/// A trigger route as an anchored regex: `:name` one segment, `/...` the
/// rest; the catch-all `/...` is `^/`.
fn regex(route: &str) -> String {
    if route == "/..." {
        return "^/".to_owned();
    }
    let (base, wild) = match route.strip_suffix("/...") {
        Some(b) => (b, true),
        None => (route, false),
    };
    let parts: Vec<String> = base
        .split('/')
        .map(|p| {
            if p.starts_with(':') {
                "[^/]+".to_owned()
            } else {
                p.replace('.', "\\.")
            }
        })
        .collect();
    format!("^{}{}", parts.join("/"), if wild { "(/.*)?$" } else { "$" })
}
