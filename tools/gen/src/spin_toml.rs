//! `spin.toml`: the variables, then each family's trigger routes and its
//! component, which gets exactly the variables its family reads.

use super::{families, stores, wrap};
use spin_logs::config::vars;
use std::fmt::Write;

const HEADER: &str = r#"# Written by `cargo run -p spin-logs-gen` from the route tables
# (shared/src/routes/) and the variables (shared/src/config.rs): edit those,
# not this file; a test fails when it is stale.
spin_manifest_version = 2

[application]
name = "spin-logs"
version = "0.1.0"
description = "A Logging API (DC/OS Logging API v2 and friends) as serverless WebAssembly functions."

# Settings; override with SPIN_VARIABLE_<NAME> or a runtime config. Sizes are
# bytes, durations milliseconds unless the name says otherwise. Each
# component is given only the ones its route family reads.
[variables]
"#;

const ROUTES: &str = r#"
# ---------------------------------------------------------------------------
# Routes. One component per route family, so each scales on its own; Spin
# sends a request to the most specific route that matches it.
# ---------------------------------------------------------------------------
"#;

const COMPONENTS: &str = r#"
# ---------------------------------------------------------------------------
# Components. A family that keeps logs or checks credentials sees the one
# "default" store: metadata, indexes, rate limits and (unless blob_store =
# "s3") log bytes in chunks under "blob/" keys.
# ---------------------------------------------------------------------------
"#;

pub fn render() -> String {
    let mut out = String::from(HEADER);
    for v in vars::ALL {
        out.push_str(&wrap(v.doc, "# ", 100));
        let secret = if v.secret { ", secret = true" } else { "" };
        let _ = writeln!(out, "{} = {{ default = {:?}{secret} }}", v.name, v.default);
    }
    out.push_str(ROUTES);
    for family in families() {
        let _ = writeln!(out, "\n# {}: {}", family.component(), family.summary());
        for (i, route) in family.spin_routes().iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let _ = writeln!(
                out,
                "[[trigger.http]]\nroute = {route:?}\ncomponent = {:?}",
                family.component()
            );
        }
    }
    out.push_str(COMPONENTS);
    for family in families() {
        let name = family.component();
        let _ = writeln!(out, "\n[component.{name}]");
        let profile = family.profile().name();
        let _ = writeln!(
            out,
            "source = \"target/wasm32-wasip2/{profile}/{name}.wasm\""
        );
        if family.opens_store() {
            out.push_str("key_value_stores = [\"default\"]\n");
        }
        if stores(family) {
            // The S3 endpoint, and for the family that pulls from clusters
            // their API servers (an empty variable grants nothing).
            if family.variables().contains(&"k8s_allowed_hosts") {
                out.push_str(
                    "allowed_outbound_hosts = [\"{{ s3_endpoint }}\", \"{{ k8s_allowed_hosts }}\"]\n",
                );
            } else {
                out.push_str("allowed_outbound_hosts = [\"{{ s3_endpoint }}\"]\n");
            }
        }
        let _ = writeln!(out, "[component.{name}.variables]");
        for var in family.variables() {
            let _ = writeln!(out, "{var} = \"{{{{ {var} }}}}\"");
        }
        let _ = writeln!(out, "[component.{name}.build]");
        let _ = writeln!(
            out,
            "command = \"cargo build --target wasm32-wasip2 --profile {profile} -p {name}\""
        );
        let _ = writeln!(
            out,
            "watch = [\"components/{name}/**/*\", \"shared/src/**/*.rs\", \"Cargo.toml\"]"
        );
    }
    out
}
