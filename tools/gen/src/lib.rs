//! Every file that describes the routes, written from the route tables
//! (`spin_logs::routes`) and the variable table (`spin_logs::config::vars`):
//!
//! | file | what of the tables |
//! |---|---|
//! | `spin.toml` | the variables, each family's trigger routes, and its component with exactly its variables |
//! | `docs/index.json` | what `GET /` answers: each family, its summary and its routes |
//! | `docs/openapi.json` | every row: path, method, parameters, bodies (schemas from `JsonSchema`), answers, security |
//! | `docs/routes.md` | every row, by family, with its permission and rate class |
//! | `deploy/spinapps.yaml` | one SpinApp per family, given the deployment variables it reads |
//! | `deploy/ingress.yaml` | each trigger route as a regex path to its family's service |
//!
//! `cargo run -p spin-logs-gen` writes them; `tests/tests/generated.rs` fails
//! when a committed one differs from what this would write, so a table and
//! the files cannot drift apart.

mod deploy;
mod index_json;
mod openapi;
mod routes_md;
mod spin_toml;

use spin_logs::routes::{ALL, Described};
use std::path::PathBuf;

/// One generated file: where it goes, under the repository root, and its text.
pub struct File {
    pub path: &'static str,
    pub text: String,
}

/// Every generated file.
pub fn files() -> Vec<File> {
    vec![
        File {
            path: "spin.toml",
            text: spin_toml::render(),
        },
        File {
            path: "docs/index.json",
            text: index_json::render(),
        },
        File {
            path: "docs/openapi.json",
            text: openapi::render(),
        },
        File {
            path: "docs/routes.md",
            text: routes_md::render(),
        },
        File {
            path: "deploy/spinapps.yaml",
            text: deploy::spinapps(),
        },
        File {
            path: "deploy/ingress.yaml",
            text: deploy::ingress(),
        },
    ]
}

/// The repository root (the directory holding `spin.toml`).
pub fn repo_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .nth(2)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The families, as `Described`.
fn families() -> impl Iterator<Item = &'static dyn Described> {
    ALL.iter().copied()
}

/// Whether a family reads log storage (its component needs the store and,
/// for S3, the outbound host).
fn stores(family: &dyn Described) -> bool {
    family.variables().contains(&"blob_store")
}

/// Whether a family has routes behind the gate (its component needs the
/// store for rate limits, and the auth secrets).
fn gated(family: &dyn Described) -> bool {
    family.endpoints().iter().any(|e| !e.rule.public)
}

/// A spin.toml template in OpenAPI's spelling: `:name` as `{name}`, a final
/// `...` as `{path}`.
fn openapi_path(template: &str) -> String {
    template
        .split('/')
        .map(|s| {
            if let Some(name) = s.strip_prefix(':') {
                format!("{{{name}}}")
            } else if s == "..." {
                "{path}".to_owned()
            } else {
                s.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every row's path under each prefix it answers on: its own, then each of
/// the family's aliases.
fn spellings(family: &dyn Described, path: &'static str) -> Vec<(String, bool)> {
    let mut out = vec![(path.to_owned(), false)];
    for (alias, canonical) in family.aliases() {
        if let Some(rest) = path.strip_prefix(canonical) {
            out.push((format!("{alias}{rest}"), true));
        }
    }
    out
}

/// `text` as comment lines of at most `width` columns, each starting `lead`.
fn wrap(text: &str, lead: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::from(lead);
    for word in text.split_whitespace() {
        if line.len() > lead.len() && line.len() + 1 + word.len() > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = String::from(lead);
        }
        if line.len() > lead.len() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if line.len() > lead.len() {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_spelled_for_openapi() {
        assert_eq!(openapi_path("/a/:b/c/..."), "/a/{b}/c/{path}");
        assert_eq!(wrap("one two three", "# ", 9), "# one two\n# three\n");
        assert_eq!(wrap("one two three", "# ", 8), "# one\n# two\n# three\n");
    }
}
