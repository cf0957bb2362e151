//! `deploy/` (SpinKube manifests) agrees with spin.toml: every component is
//! deployed by exactly one SpinApp, every route reaches it through the
//! Ingress, and every secret, variable and scaler a manifest names exists.

use serde_yaml_ng::Value;
use spin_logs_tests::manifest::{Manifest, repo_root};
use spin_logs_tests::routes::Router;
use std::collections::{BTreeMap, BTreeSet};

/// Every document of every `deploy/*.yaml`, with its file name.
fn documents() -> Vec<(String, Value)> {
    let dir = repo_root().join("deploy");
    let mut docs = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("deploy/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifests in deploy/");
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read");
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let value = Value::deserialize(doc).unwrap_or_else(|e| panic!("{name}: {e}"));
            if value.is_null() {
                continue;
            }
            for field in ["apiVersion", "kind"] {
                assert!(
                    value[field].is_string(),
                    "{name}: a document without {field}"
                );
            }
            assert!(value["metadata"]["name"].is_string(), "{name}: unnamed");
            docs.push((name.clone(), value));
        }
    }
    docs
}

use serde::Deserialize;

fn of_kind<'a>(docs: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    docs.iter()
        .filter(|(_, d)| d["kind"] == kind)
        .map(|(_, d)| d)
        .collect()
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().expect("name")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A spin.toml route as an anchored regex: `:name` one segment, `/...` the
/// rest; the catch-all `/...` is `^/`, the shortest path, which ingress-nginx
/// (longest first) tries last.
fn route_regex(route: &str) -> String {
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
                // `regex::escape` also escapes `-`, which needs none outside
                // a class; the generator writes it bare.
                regex::escape(p).replace("\\-", "-")
            }
        })
        .collect();
    format!("^{}{}", parts.join("/"), if wild { "(/.*)?$" } else { "$" })
}

/// A path the route matches: each `:name` filled in, `/...` given two segments.
fn example_path(route: &str) -> String {
    let (base, wild) = match route.strip_suffix("/...") {
        Some(b) => (b, true),
        None => (route, false),
    };
    let filled: Vec<String> = base
        .split('/')
        .map(|p| match p.strip_prefix(':') {
            Some(n) => format!("{n}-1"),
            None => p.to_owned(),
        })
        .collect();
    format!("{}{}", filled.join("/"), if wild { "/a/b" } else { "" })
}

#[test]
fn every_component_is_deployed_by_exactly_one_spinapp() {
    let manifest = Manifest::load(&repo_root()).expect("spin.toml");
    let docs = documents();
    let apps = of_kind(&docs, "SpinApp");
    let mut deployed: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut images = BTreeSet::new();
    for app in &apps {
        assert_eq!(
            app["apiVersion"],
            "core.spinkube.dev/v1alpha1",
            "{}",
            name(app)
        );
        images.insert(app["spec"]["image"].as_str().expect("image").to_owned());
        let components = strings(&app["spec"]["components"]);
        assert!(
            !components.is_empty(),
            "{}: deploys every component",
            name(app)
        );
        for c in components {
            assert!(
                manifest.components.contains_key(&c),
                "{}: unknown component {c}",
                name(app)
            );
            deployed.entry(c).or_default().push(name(app));
        }
    }
    assert_eq!(images.len(), 1, "one image for every SpinApp: {images:?}");
    for id in manifest.components.keys() {
        assert_eq!(
            deployed.get(id).map(Vec::len),
            Some(1),
            "component {id} is deployed by {:?}",
            deployed.get(id)
        );
    }
}

#[test]
fn secrets_variables_and_scalers_exist() {
    let manifest = Manifest::load(&repo_root()).expect("spin.toml");
    let docs = documents();
    let secrets: BTreeMap<&str, &Value> = of_kind(&docs, "Secret")
        .into_iter()
        .map(|s| (name(s), &s["stringData"]))
        .collect();
    let apps = of_kind(&docs, "SpinApp");
    for app in &apps {
        let spec = &app["spec"];
        let config = spec["runtimeConfig"]["loadFromSecret"]
            .as_str()
            .expect("runtime config");
        let text = secrets[config]["runtime-config.toml"]
            .as_str()
            .expect("runtime-config.toml in the secret");
        let parsed: toml::Table = toml::from_str(text).expect("runtime config parses");
        assert!(
            parsed["key_value_store"].get("default").is_some(),
            "the runtime config defines the default store"
        );
        // An app is given only the variables its component reads (the
        // viewer and the index read no secret and no store).
        let component = strings(&spec["components"])[0].clone();
        let given = &manifest.components[&component].variables;
        let vars = spec["variables"].as_sequence().cloned().unwrap_or_default();
        for var in &vars {
            let var_name = var["name"].as_str().expect("name");
            assert!(
                manifest.variables.contains_key(var_name),
                "undeclared variable {var_name}"
            );
            assert!(
                given.contains_key(var_name),
                "{}: sets {var_name}, which spin.toml does not give {component}",
                name(app)
            );
            if let Some(r) = var["valueFrom"]["secretKeyRef"].as_mapping() {
                let secret = r[&Value::from("name")].as_str().expect("secret name");
                let key = r[&Value::from("key")].as_str().expect("secret key");
                assert!(
                    secrets.get(secret).is_some_and(|s| s[key].is_string()),
                    "{}: {var_name} names {secret}.{key}, which no Secret has",
                    name(app)
                );
            }
        }
    }
    // Each scaler targets an autoscaled SpinApp's deployment, and each
    // autoscaled SpinApp has a scaler.
    let autoscaled: BTreeSet<&str> = apps
        .iter()
        .filter(|a| a["spec"]["enableAutoscaling"] == true)
        .map(|a| name(a))
        .collect();
    let mut targets = BTreeSet::new();
    for kind in ["HorizontalPodAutoscaler", "ScaledObject"] {
        for s in of_kind(&docs, kind) {
            let target = s["spec"]["scaleTargetRef"]["name"]
                .as_str()
                .expect("target");
            assert!(
                autoscaled.contains(target),
                "{kind} {} targets {target}",
                name(s)
            );
            assert!(targets.insert(target), "{target} has two scalers");
        }
    }
    assert_eq!(targets, autoscaled);
}

#[test]
fn the_ingress_routes_every_path_as_spin_does() {
    let manifest = Manifest::load(&repo_root()).expect("spin.toml");
    let docs = documents();
    let apps = of_kind(&docs, "SpinApp");
    let service_of = |component: &str| {
        apps.iter()
            .find(|a| {
                strings(&a["spec"]["components"])
                    .iter()
                    .any(|c| c == component)
            })
            .map(|a| name(a).to_owned())
            .expect("deployed")
    };
    let ingress = of_kind(&docs, "Ingress");
    assert_eq!(ingress.len(), 1);
    let paths: Vec<(regex::Regex, String)> = ingress[0]["spec"]["rules"][0]["http"]["paths"]
        .as_sequence()
        .expect("paths")
        .iter()
        .map(|p| {
            let re = p["path"].as_str().expect("path");
            let service = p["backend"]["service"]["name"].as_str().expect("service");
            (regex::Regex::new(re).expect("a regex"), service.to_owned())
        })
        .collect();
    let router = Router::build(&manifest.routes).expect("router");
    for route in &manifest.routes {
        let want = route_regex(&route.route);
        assert!(
            paths.iter().any(|(re, _)| re.as_str() == want),
            "no ingress path {want} for {}",
            route.route
        );
        // A path of this route reaches, through the Ingress, the service
        // deploying the component Spin would run for it. ingress-nginx tries
        // regex paths longest first, so the longest match is the one taken.
        let path = example_path(&route.route);
        let spin = router.route(&path).expect("spin routes it").component;
        let taken = paths
            .iter()
            .filter(|(re, _)| re.is_match(&path))
            .max_by_key(|(re, _)| re.as_str().len())
            .map(|(_, s)| s.clone());
        assert_eq!(taken, Some(service_of(&spin)), "{path}");
    }
    assert_eq!(
        paths.len(),
        manifest.routes.len(),
        "no path beyond spin.toml's"
    );
}

#[test]
fn a_cronjob_drives_archive_runs_with_a_defined_credential() {
    let docs = documents();
    let secrets: BTreeSet<&str> = of_kind(&docs, "Secret").into_iter().map(name).collect();
    let services: BTreeSet<&str> = of_kind(&docs, "SpinApp").into_iter().map(name).collect();
    // deploy/cronjob-collect.yaml's is checked by tests/tests/collect.rs.
    let jobs: Vec<_> = of_kind(&docs, "CronJob")
        .into_iter()
        .filter(|j| name(j) == "spin-logs-archive")
        .collect();
    assert_eq!(jobs.len(), 1);
    let container = &jobs[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    let args = strings(&container["args"]);
    let url = args.last().expect("a URL");
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (service, path) = rest.split_once('/').expect("service/path");
    assert!(services.contains(service), "{service} is no SpinApp");
    assert_eq!(path, "k8s/v1/archive/start");
    let route = spin_logs::routes::resolve(&http::Method::POST, &format!("/{path}"));
    assert_eq!((route.component, route.problem), ("retention", None));
    assert_eq!(format!("spin-logs-{}", route.component), service);
    assert!(args.windows(2).any(|w| w == ["-X", "POST"]), "{args:?}");
    let secret = container["env"][0]["valueFrom"]["secretKeyRef"]["name"]
        .as_str()
        .expect("secret");
    assert!(secrets.contains(secret), "{secret} is no Secret");
}
