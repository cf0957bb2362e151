//! The parts of `spin.toml` (manifest v2) and `runtime-config.toml` the host
//! acts on, and Spin's variable resolution.
//!
//! Tests must exercise the app as `spin up` would run it, so everything here is
//! read from the real files rather than restated in Rust: routes, component
//! sources, build commands, store grants and variable templates.

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The repository root (the directory holding `spin.toml`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// A parsed `spin.toml`.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Directory the manifest was read from; relative paths resolve against it.
    pub root: PathBuf,
    pub name: String,
    /// `[variables]`: name -> default (`None` when `required = true`).
    pub variables: BTreeMap<String, Option<String>>,
    /// `[[trigger.http]]` in manifest order (private endpoints dropped).
    pub routes: Vec<HttpRoute>,
    pub components: BTreeMap<String, ComponentDef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    pub route: String,
    pub component: String,
}

#[derive(Debug, Clone)]
pub struct ComponentDef {
    /// `source`, relative to [`Manifest::root`] unless absolute.
    pub source: PathBuf,
    pub key_value_stores: Vec<String>,
    /// `allowed_outbound_hosts`, templates unresolved.
    pub allowed_outbound_hosts: Vec<String>,
    /// `[component.X.variables]`: name -> template such as `"{{ max_body_bytes }}"`.
    pub variables: BTreeMap<String, String>,
    pub build: Option<BuildDef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BuildDef {
    pub command: String,
    pub workdir: Option<PathBuf>,
}

#[derive(Deserialize)]
struct RawManifest {
    spin_manifest_version: u32,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, RawVariable>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize)]
struct RawApplication {
    name: String,
}

#[derive(Deserialize)]
struct RawVariable {
    default: Option<String>,
    #[serde(default)]
    required: bool,
}

#[derive(Deserialize, Default)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
}

#[derive(Deserialize)]
struct RawHttpTrigger {
    route: RawRoute,
    component: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Route(String),
    Private { private: bool },
}

#[derive(Deserialize)]
struct RawComponent {
    source: PathBuf,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    build: Option<BuildDef>,
}

impl Manifest {
    /// Reads `<root>/spin.toml`.
    pub fn load(root: &Path) -> Result<Manifest> {
        let path = root.join("spin.toml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Self::parse(root, &text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn parse(root: &Path, text: &str) -> Result<Manifest> {
        let raw: RawManifest = toml::from_str(text)?;
        ensure!(
            raw.spin_manifest_version == 2,
            "only spin_manifest_version = 2 is supported"
        );
        let mut variables = BTreeMap::new();
        for (name, var) in raw.variables {
            validate_name(&name).map_err(anyhow::Error::msg)?;
            ensure!(
                !(var.required && var.default.is_some()),
                "variable {name:?} is required and has a default"
            );
            variables.insert(name, var.default);
        }
        let mut routes = Vec::new();
        for t in raw.trigger.http {
            ensure!(
                raw.component.contains_key(&t.component),
                "route {:?} names unknown component {:?}",
                match &t.route {
                    RawRoute::Route(r) => r.as_str(),
                    RawRoute::Private { .. } => "<private>",
                },
                t.component
            );
            match t.route {
                RawRoute::Route(route) => routes.push(HttpRoute {
                    route,
                    component: t.component,
                }),
                RawRoute::Private { private: true } => {}
                RawRoute::Private { private: false } => {
                    bail!("route must be a string or {{ private = true }}")
                }
            }
        }
        let components = raw
            .component
            .into_iter()
            .map(|(id, c)| {
                let def = ComponentDef {
                    source: c.source,
                    key_value_stores: c.key_value_stores,
                    allowed_outbound_hosts: c.allowed_outbound_hosts,
                    variables: c.variables,
                    build: c.build,
                };
                (id, def)
            })
            .collect();
        Ok(Manifest {
            root: root.to_path_buf(),
            name: raw.application.name,
            variables,
            routes,
            components,
        })
    }

    /// The absolute path of a component's `source`.
    pub fn source_path(&self, component: &ComponentDef) -> PathBuf {
        self.root.join(&component.source)
    }
}

/// Spin's variable-name rule (`spin_expressions::Key::validate`): lowercase
/// ASCII letters, digits and single underscores, starting with a letter and
/// not ending with an underscore.
pub fn validate_name(name: &str) -> Result<(), String> {
    let reason = if name.is_empty() {
        "must not be empty"
    } else if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        "may contain only lower-case letters, numbers, and underscores"
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        "must start with a lowercase ASCII letter"
    } else if name.ends_with('_') {
        "must end with a lowercase ASCII letter or digit"
    } else if name.contains("__") {
        "must not contain multiple consecutive underscores"
    } else {
        return Ok(());
    };
    Err(format!("{name:?}: {reason}"))
}

/// Errors of `fermyon:spin/variables.get`, as Spin reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableError {
    InvalidName(String),
    Undefined(String),
}

/// Every component's variables, resolved once at startup.
///
/// Spin resolves `[variables]` from providers (the `SPIN_VARIABLE_<NAME>`
/// environment provider, then defaults) and substitutes them into each
/// component's templates; with static providers resolving eagerly gives the
/// same answers and reports a missing required variable at startup, as
/// `spin up` does.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    by_component: HashMap<String, HashMap<String, String>>,
    /// The application's variables, for templates outside components'
    /// `variables` tables (`allowed_outbound_hosts`).
    app: HashMap<String, String>,
}

impl Variables {
    /// `overrides` win over `env` (called with `SPIN_VARIABLE_<UPPERCASE>`),
    /// which wins over defaults.
    pub fn resolve(
        manifest: &Manifest,
        overrides: &[(String, String)],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Variables> {
        for (name, _) in overrides {
            ensure!(
                manifest.variables.contains_key(name),
                "override for undeclared variable {name:?}"
            );
        }
        let mut app = HashMap::new();
        for (name, default) in &manifest.variables {
            let value = overrides
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .or_else(|| env(&format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase())))
                .or_else(|| default.clone())
                .with_context(|| format!("no provider resolved required variable {name:?}"))?;
            app.insert(name.clone(), value);
        }
        let mut by_component = HashMap::new();
        for (id, component) in &manifest.components {
            let mut vars = HashMap::new();
            for (key, template) in &component.variables {
                validate_name(key).map_err(anyhow::Error::msg)?;
                let value = expand(template, |var| app.get(var).cloned())
                    .with_context(|| format!("component {id:?} variable {key:?}"))?;
                vars.insert(key.clone(), value);
            }
            by_component.insert(id.clone(), vars);
        }
        Ok(Variables { by_component, app })
    }

    /// Expands a template against the application's variables, as Spin does
    /// for `allowed_outbound_hosts`.
    pub fn expand(&self, template: &str) -> Result<String> {
        expand(template, |var| self.app.get(var).cloned())
    }

    /// `fermyon:spin/variables.get` for `component`.
    pub fn get(&self, component: &str, name: &str) -> Result<String, VariableError> {
        validate_name(name).map_err(VariableError::InvalidName)?;
        self.by_component
            .get(component)
            .and_then(|vars| vars.get(name))
            .cloned()
            .ok_or_else(|| {
                VariableError::Undefined(format!("no variable for {component:?}.{name:?}"))
            })
    }
}

/// Expands a Spin template: literal text with `{{ name }}` expressions.
fn expand(template: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let (expr, after) = rest[start + 2..]
            .split_once("}}")
            .context("unmatched '{{' in template")?;
        let name = expr.trim();
        out.push_str(&lookup(name).with_context(|| format!("unknown variable {name:?}"))?);
        rest = after;
    }
    out.push_str(rest);
    Ok(out)
}

/// The `[key_value_store.<label>]` tables of a runtime config, mapped to files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    File(PathBuf),
    InMemory,
    /// `type = "redis"`: a Redis server's URL.
    Redis(String),
}

/// Reads `runtime-config.toml` (if it exists) and returns where each
/// key-value label lives. Like Spin, `default` is always defined
/// (`<state_dir>/sqlite_key_value.db`) unless the config overrides it; other
/// labels exist only if configured. Paths under `.spin/` are mapped into
/// `state_dir` so each test host gets its own files.
pub fn key_value_stores(
    runtime_config: &Path,
    state_dir: &Path,
) -> Result<BTreeMap<String, StoreLocation>> {
    #[derive(Deserialize)]
    struct RawConfig {
        #[serde(default)]
        key_value_store: BTreeMap<String, RawStore>,
    }
    #[derive(Deserialize)]
    struct RawStore {
        r#type: String,
        path: Option<PathBuf>,
        url: Option<String>,
    }

    let mut stores = BTreeMap::new();
    stores.insert(
        "default".to_owned(),
        StoreLocation::File(state_dir.join("sqlite_key_value.db")),
    );
    if !runtime_config.exists() {
        return Ok(stores);
    }
    let text = std::fs::read_to_string(runtime_config)
        .with_context(|| format!("reading {}", runtime_config.display()))?;
    let raw: RawConfig =
        toml::from_str(&text).with_context(|| format!("parsing {}", runtime_config.display()))?;
    for (label, store) in raw.key_value_store {
        if store.r#type == "redis" {
            let url = store
                .url
                .with_context(|| format!("key_value_store.{label}: type redis needs a url"))?;
            stores.insert(label, StoreLocation::Redis(url));
            continue;
        }
        ensure!(
            store.r#type == "spin",
            "key_value_store.{label}: type {:?} is not supported by the test host (only \"spin\" and \"redis\")",
            store.r#type
        );
        let location = match store.path {
            None => StoreLocation::InMemory,
            Some(p) if p.is_absolute() => StoreLocation::File(p),
            Some(p) => {
                let relative = p.strip_prefix(".spin").unwrap_or(&p);
                StoreLocation::File(state_dir.join(relative))
            }
        };
        stores.insert(label, location);
    }
    Ok(stores)
}
