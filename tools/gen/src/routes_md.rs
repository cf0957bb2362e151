//! `docs/routes.md`: every route, by family, with what it needs.

use super::{families, openapi_path, spellings};
use spin_logs::routes::{Class, Rule};
use std::fmt::Write;

const HEADER: &str = "# Routes

Every route spin-logs serves, by route family: one family is one component
(one WASI 0.2 component in `spin.toml`), so each scales on its own. Written by
`cargo run -p spin-logs-gen` from the route tables in `shared/src/routes/`
(edit those; a test fails when this file is stale). `HEAD` works wherever
`GET` does. *Needs* is the permission (any one of them; `dcos:superuser`
always works) and the rate class; see [auth.md](auth.md). The same routes,
with their parameters and bodies, are in [openapi.json](openapi.json), which
the app serves at `GET /openapi.json`.
";

pub fn render() -> String {
    let mut out = String::from(HEADER);
    for family in families() {
        let _ = writeln!(out, "\n## `{}`: {}\n", family.component(), family.summary());
        out.push_str("| Method | Path | Needs | What it does |\n|---|---|---|---|\n");
        for e in family.endpoints() {
            for (path, alias) in spellings(family, e.path) {
                let what = if alias {
                    format!("{} (alias)", e.summary)
                } else {
                    e.summary.to_owned()
                };
                let _ = writeln!(
                    out,
                    "| `{}` | `{}` | {} | {} |",
                    e.verb.as_str(),
                    openapi_path(&path),
                    needs(&e.rule),
                    what.replace('|', "\\|")
                );
            }
        }
    }
    out
}

fn needs(rule: &Rule) -> String {
    if rule.public {
        return "public".to_owned();
    }
    let class = match rule.class {
        Class::Standard => "standard",
        Class::Heavy => "heavy",
        Class::Ingest => "ingest",
        Class::Loki => "loki",
    };
    let perms: Vec<String> = rule.any_of.iter().map(|p| format!("`{p}`")).collect();
    let who = if perms.is_empty() {
        "`dcos:superuser`".to_owned()
    } else {
        perms.join(" or ")
    };
    format!("{who}, {class}")
}
