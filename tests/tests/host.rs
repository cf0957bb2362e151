//! Tests of the test host itself: routing and `spin-*` headers as Spin does
//! them, variable resolution, the SQLite key-value semantics, and the whole
//! path through the real components.

mod common;

use spin_logs_tests::kv::{KvStores, SwapError};
use spin_logs_tests::manifest::{
    HttpRoute, Manifest, StoreLocation, VariableError, Variables, key_value_stores, repo_root,
};
use spin_logs_tests::routes::{Router, spin_headers};
use spin_logs_tests::{HostOptions, TestHost};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn router(routes: &[(&str, &str)]) -> Router {
    let routes: Vec<HttpRoute> = routes
        .iter()
        .map(|(route, component)| HttpRoute {
            route: route.to_string(),
            component: component.to_string(),
        })
        .collect();
    Router::build(&routes).expect("router")
}

fn component_for(r: &Router, path: &str) -> Option<String> {
    r.route(path).map(|m| m.component)
}

// ---------------------------------------------------------------- routing

#[test]
fn exact_routes_match_only_themselves() {
    let r = router(&[("/foo", "foo"), ("/foo/bar", "foobar")]);
    assert_eq!(component_for(&r, "/foo").as_deref(), Some("foo"));
    assert_eq!(component_for(&r, "/foo/bar").as_deref(), Some("foobar"));
    assert_eq!(component_for(&r, "/foo/baz"), None);
    assert_eq!(component_for(&r, "/fo"), None);
    assert_eq!(component_for(&r, "/"), None);
}

#[test]
fn params_capture_one_segment() {
    let r = router(&[("/apps/:app/logs", "tail")]);
    let m = r.route("/apps/my-app/logs").expect("match");
    assert_eq!(m.component, "tail");
    assert_eq!(m.params, vec![("app".to_owned(), "my-app".to_owned())]);
    assert_eq!(m.path_info, "");
    assert!(r.route("/apps/a/b/logs").is_none());
    // routefinder quirks Spin inherits: an empty segment is a valid (empty)
    // capture, a trailing slash is ignored, and nothing is percent-decoded.
    let m = r.route("/apps//logs").expect("empty param matches");
    assert_eq!(m.params, vec![("app".to_owned(), String::new())]);
    assert_eq!(component_for(&r, "/apps/a/logs/").as_deref(), Some("tail"));
    let m = r.route("/apps/a%2Fb/logs").expect("match");
    assert_eq!(m.params, vec![("app".to_owned(), "a%2Fb".to_owned())]);
}

#[test]
fn trailing_wildcard_matches_prefix_itself_and_keeps_slashes() {
    let r = router(&[("/test/...", "comp")]);
    for (path, info) in [
        ("/test", ""),
        ("/test/", "/"),
        ("/test/hello", "/hello"),
        ("/test/hello/", "/hello/"),
        ("/test/a/b/c", "/a/b/c"),
    ] {
        let m = r
            .route(path)
            .unwrap_or_else(|| panic!("{path} should match"));
        assert_eq!(m.path_info, info, "path info of {path}");
    }
    assert!(r.route("/testing").is_none());
    assert!(r.route("/").is_none());

    let all = router(&[("/...", "all")]);
    assert_eq!(component_for(&all, "/").as_deref(), Some("all"));
    assert_eq!(all.route("/1/2/3").expect("match").path_info, "/1/2/3");
}

#[test]
fn precedence_follows_spin() {
    // Exact beats wildcard; the longest wildcard prefix wins regardless of
    // manifest order; a literal segment beats a parameter at the first
    // position where the routes differ.
    let r = router(&[
        ("/...", "root"),
        ("/one/two/three/...", "three"),
        ("/one/...", "one"),
        ("/one/two/...", "two"),
        ("/one", "one-exact"),
        ("/users/:id", "user"),
        ("/users/me", "me"),
        ("/users/:id/...", "user-rest"),
        ("/a/:x/c", "param-first"),
        ("/a/b/:y", "literal-first"),
    ]);
    assert_eq!(component_for(&r, "/one").as_deref(), Some("one-exact"));
    assert_eq!(component_for(&r, "/one/x").as_deref(), Some("one"));
    assert_eq!(component_for(&r, "/one/two/x").as_deref(), Some("two"));
    assert_eq!(
        component_for(&r, "/one/two/three/four").as_deref(),
        Some("three")
    );
    assert_eq!(component_for(&r, "/elsewhere").as_deref(), Some("root"));
    assert_eq!(component_for(&r, "/users/me").as_deref(), Some("me"));
    assert_eq!(component_for(&r, "/users/42").as_deref(), Some("user"));
    assert_eq!(
        component_for(&r, "/users/42/posts").as_deref(),
        Some("user-rest")
    );
    assert_eq!(
        component_for(&r, "/a/b/c").as_deref(),
        Some("literal-first")
    );
    assert_eq!(component_for(&r, "/a/z/c").as_deref(), Some("param-first"));
}

#[test]
fn duplicate_routes_last_one_wins() {
    let r = router(&[("/foo", "first"), ("/foo", "second")]);
    assert_eq!(component_for(&r, "/foo").as_deref(), Some("second"));
}

#[test]
fn routes_of_our_manifest_resolve_as_spin_would() {
    let manifest = Manifest::load(&repo_root()).expect("spin.toml");
    let r = Router::build(&manifest.routes).expect("router");
    let run = "/system/v1/agent/A1/logs/v2/task/frameworks/F1/executors/E1/runs/C1";
    let base = [
        ("agent_id", "A1"),
        ("framework_id", "F1"),
        ("executor_id", "E1"),
        ("container_id", "C1"),
    ];
    // (path suffix, component, params beyond the four of every run route)
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
    let cases: &[Case] = &[
        ("/stdout", "dump", &[("filename", "stdout")]),
        (
            "/tasks/T1/stdout",
            "dump",
            &[("task_id", "T1"), ("filename", "stdout")],
        ),
        ("/files/browse", "browse", &[]),
        ("/tasks/T1/files/browse", "browse", &[("task_id", "T1")]),
        ("/stdout/download", "archive", &[("filename", "stdout")]),
        ("/files/download", "archive", &[("filename", "files")]),
        ("/tasks/download", "archive", &[("filename", "tasks")]),
        (
            "/tasks/T1/stderr/download",
            "archive",
            &[("task_id", "T1"), ("filename", "stderr")],
        ),
        (
            "/tasks/T1/files/download",
            "archive",
            &[("task_id", "T1"), ("filename", "files")],
        ),
    ];
    for (suffix, component, extra) in cases {
        let path = format!("{run}{suffix}");
        let m = r
            .route(&path)
            .unwrap_or_else(|| panic!("{path} should match"));
        assert_eq!(m.component, *component, "component for {path}");
        let mut want: Vec<(String, String)> = base
            .iter()
            .chain(extra.iter())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        want.sort();
        let mut got = m.params.clone();
        got.sort();
        assert_eq!(got, want, "params for {path}");
    }
    // What no family's route matches goes to the catch-all.
    for unrouted in [
        run.to_owned(),
        format!("{run}/tasks/T1"),
        format!("{run}/a/b/c/d/e/f"),
        "/system/v1/agent/A1/logs/v2/task".to_owned(),
        "/nowhere".to_owned(),
        "/loki/api/v1/other".to_owned(),
    ] {
        assert_eq!(
            component_for(&r, &unrouted).as_deref(),
            Some("index"),
            "{unrouted}"
        );
    }
    // Below /k8s/v1, what retention does not route is the query family's.
    for path in [
        "/k8s/v1/storage/other",
        "/k8s/v1/pods",
        "/k8s/v1",
        "/k8s/v1/",
    ] {
        assert_eq!(component_for(&r, path).as_deref(), Some("query"), "{path}");
    }
    assert_eq!(
        component_for(&r, "/loki/api/v1/push").as_deref(),
        Some("ingest")
    );
    assert_eq!(
        component_for(&r, "/loki/api/v1/label/app/values").as_deref(),
        Some("query")
    );

    let m = r
        .route("/system/v1/logs/v2/task/T1/file/stdout/browse")
        .expect("discovery");
    assert_eq!(m.component, "discovery");
    assert_eq!(m.path_info, "/T1/file/stdout/browse");
    assert_eq!(
        component_for(&r, "/system/v1/logs/v2/task").as_deref(),
        Some("discovery")
    );
    assert_eq!(
        component_for(&r, "/system/v1/logs/v2/component/dcos-mesos-master").as_deref(),
        Some("dump")
    );
    assert_eq!(
        component_for(&r, "/system/v1/logs/v2/ingest/tasks/x").as_deref(),
        Some("ingest")
    );
    assert_eq!(component_for(&r, "/apps/web/logs").as_deref(), Some("tail"));
    assert_eq!(component_for(&r, "/logs").as_deref(), Some("tail"));
}

#[test]
fn spin_headers_match_spins_default_headers() {
    let client = "127.0.0.1:8777".parse().expect("addr");
    let r = router(&[("/foo/...", "DUMMY")]);
    let m = r.route("/foo/bar").expect("match");
    let h = spin_headers(
        &m,
        "fermyon.dev",
        "/foo/bar?key1=value1&key2=value2",
        client,
    );
    let get = |k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(
        get("spin-full-url"),
        Some("http://fermyon.dev/foo/bar?key1=value1&key2=value2")
    );
    assert_eq!(get("spin-path-info"), Some("/bar"));
    assert_eq!(get("spin-matched-route"), Some("/foo/..."));
    assert_eq!(get("spin-base-path"), Some("/"));
    assert_eq!(get("spin-raw-component-route"), Some("/foo/..."));
    assert_eq!(get("spin-component-route"), Some("/foo"));
    assert_eq!(get("spin-client-addr"), Some("127.0.0.1:8777"));
    assert_eq!(h.len(), 7);

    let r = router(&[("/foo/:userid/...", "DUMMY"), ("/a/:agent_id", "A")]);
    let m = r.route("/foo/42/bar").expect("match");
    let h = spin_headers(&m, "fermyon.dev", "/foo/42/bar", client);
    let get = |k: &str| h.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("spin-path-match-userid"), Some("42"));
    assert_eq!(get("spin-component-route"), Some("/foo/:userid"));
    assert_eq!(get("spin-path-info"), Some("/bar"));

    let m = r.route("/a/x1").expect("match");
    let h = spin_headers(&m, "h", "/a/x1", client);
    assert!(h.contains(&("spin-path-match-agent-id".to_owned(), "x1".to_owned())));
}

// ---------------------------------------------------------------- variables

const VAR_MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
size = { default = "10" }
name = { default = "x" }
secret = { required = true }
[[trigger.http]]
route = "/..."
component = "c"
[component.c]
source = "c.wasm"
[component.c.variables]
size = "{{ size }}"
label = "pre-{{name}}-{{ size }}-post"
token = "{{ secret }}"
[component.d]
source = "d.wasm"
"#;

#[test]
fn variables_resolve_like_spin() {
    let m = Manifest::parse(std::path::Path::new("/r"), VAR_MANIFEST).expect("manifest");
    let env = |k: &str| match k {
        "SPIN_VARIABLE_SECRET" => Some("s3".to_owned()),
        "SPIN_VARIABLE_NAME" => Some("from-env".to_owned()),
        _ => None,
    };
    let v = Variables::resolve(&m, &[("size".into(), "99".into())], env).expect("resolve");
    assert_eq!(v.get("c", "size").as_deref(), Ok("99"));
    assert_eq!(v.get("c", "label").as_deref(), Ok("pre-from-env-99-post"));
    assert_eq!(v.get("c", "token").as_deref(), Ok("s3"));
    assert!(matches!(
        v.get("c", "nope"),
        Err(VariableError::Undefined(_))
    ));
    // Declared at app level but not granted to the component.
    assert!(matches!(
        v.get("d", "size"),
        Err(VariableError::Undefined(_))
    ));
    for bad in ["", "Size", "1a", "_a", "a_", "a__b", "a-b", "a.b"] {
        assert!(
            matches!(v.get("c", bad), Err(VariableError::InvalidName(_))),
            "{bad:?} should be an invalid name"
        );
    }

    let defaults = Variables::resolve(&m, &[], |k| {
        (k == "SPIN_VARIABLE_SECRET").then(|| "s".to_owned())
    })
    .expect("resolve");
    assert_eq!(defaults.get("c", "label").as_deref(), Ok("pre-x-10-post"));

    let missing = Variables::resolve(&m, &[], |_| None);
    assert!(
        missing.is_err(),
        "a required variable without a value must fail startup"
    );
    let typo = Variables::resolve(&m, &[("sise".into(), "1".into())], env);
    assert!(typo.is_err(), "overriding an undeclared variable must fail");
}

/// Least privilege, as the host enforces it: each component gets the store
/// only if its family stores or gates, outbound HTTP only to the object
/// store (and, for `collect`, the clusters), and every variable closed or
/// at its default.
#[test]
fn our_manifest_grants_every_component_its_variables_and_stores() {
    let m = Manifest::load(&repo_root()).expect("spin.toml");
    let v = Variables::resolve(&m, &[], |_| None).expect("resolve");
    assert_eq!(m.components.len(), spin_logs::routes::ALL.len());
    for family in spin_logs::routes::ALL.iter() {
        let id = family.component();
        let c = &m.components[id];
        assert_eq!(
            v.get(id, "max_body_bytes").as_deref(),
            Ok("8388608"),
            "{id}"
        );
        if family.opens_store() {
            // Only the label plain `spin up` knows: no runtime config needed.
            assert_eq!(c.key_value_stores, vec!["default"], "{id}");
            assert_eq!(
                v.get(id, "auth_hs256_secret").as_deref(),
                Ok(""),
                "{id}: closed by default"
            );
        } else {
            assert!(c.key_value_stores.is_empty(), "{id} holds no store");
            assert!(
                v.get(id, "auth_hs256_secret").is_err(),
                "{id} holds no secret"
            );
        }
        let outbound: Vec<&str> = c
            .allowed_outbound_hosts
            .iter()
            .map(String::as_str)
            .collect();
        let want: &[&str] = match id {
            "clusters" | "collect" => &["{{ s3_endpoint }}", "{{ k8s_allowed_hosts }}"],
            _ if family.variables().contains(&"blob_store") => &["{{ s3_endpoint }}"],
            _ => &[],
        };
        assert_eq!(outbound, want, "{id}: outbound HTTP");
    }
    let dir = std::path::Path::new("/state");
    let stores = key_value_stores(&repo_root().join("runtime-config.toml"), dir).expect("config");
    assert_eq!(
        stores.get("default"),
        Some(&StoreLocation::File(dir.join("sqlite_key_value.db")))
    );
    assert_eq!(stores.len(), 1);
}

/// Each component maps exactly the variables its family reads, as
/// `"{{ name }}"` (a missing mapping would silently fall back to a built-in
/// default: no auth keys, a component that refuses everything), and every
/// application variable is read by some family.
#[test]
fn every_component_maps_exactly_its_familys_variables() {
    let text = std::fs::read_to_string(repo_root().join("spin.toml")).expect("spin.toml");
    let doc: toml::Table = toml::from_str(&text).expect("spin.toml parses");
    let app = doc["variables"].as_table().expect("[variables]");
    let no_variables = toml::Table::new();
    let mut problems = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    for family in spin_logs::routes::ALL.iter() {
        let id = family.component();
        let mapped = doc["component"][id]
            .get("variables")
            .map(|v| v.as_table().expect("a table"))
            .unwrap_or(&no_variables);
        for name in family.variables() {
            used.insert(name);
            let want = format!("{{{{ {name} }}}}");
            match mapped.get(name) {
                None => problems.push(format!("{id}: missing {name}")),
                Some(v) if v.as_str() != Some(want.as_str()) => {
                    problems.push(format!("{id}: {name} = {v}, not {want:?}"))
                }
                Some(_) => {}
            }
        }
        for name in mapped
            .keys()
            .filter(|n| !family.variables().contains(&n.as_str()))
        {
            problems.push(format!("{id}: maps {name}, which its family never reads"));
        }
    }
    for name in app.keys().filter(|n| !used.contains(n.as_str())) {
        problems.push(format!("{name}: declared, read by no family"));
    }
    assert!(problems.is_empty(), "spin.toml:\n{}", problems.join("\n"));
}

// ---------------------------------------------------------------- key-value

fn stores(dir: &std::path::Path, overwrite: bool) -> KvStores {
    let mut locations = BTreeMap::new();
    locations.insert("default".to_owned(), StoreLocation::File(dir.join("kv.db")));
    locations.insert("other".to_owned(), StoreLocation::File(dir.join("kv.db")));
    locations.insert(
        "blobs".to_owned(),
        StoreLocation::File(dir.join("blobs.db")),
    );
    KvStores::open(&locations, overwrite).expect("open")
}

#[test]
fn cas_second_swap_on_a_changed_key_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = stores(dir.path(), false).bucket("default").expect("bucket");
    b.set("k", b"v0").expect("set");

    let mut first = b.cas("k");
    let mut second = b.cas("k");
    assert_eq!(
        first.current().expect("current").as_deref(),
        Some(&b"v0"[..])
    );
    assert_eq!(
        second.current().expect("current").as_deref(),
        Some(&b"v0"[..])
    );
    first.swap(b"v1").expect("first swap wins");
    assert_eq!(second.swap(b"v2"), Err(SwapError::CasFailed));
    assert_eq!(b.get("k").expect("get").as_deref(), Some(&b"v1"[..]));

    // A fresh handle sees the new value and succeeds.
    let mut retry = b.cas("k");
    assert_eq!(
        retry.current().expect("current").as_deref(),
        Some(&b"v1"[..])
    );
    retry.swap(b"v2").expect("retry");
    assert_eq!(b.get("k").expect("get").as_deref(), Some(&b"v2"[..]));

    // A key deleted after current() fails the swap too.
    let mut gone = b.cas("k");
    gone.current().expect("current");
    b.delete("k").expect("delete");
    assert_eq!(gone.swap(b"v3"), Err(SwapError::CasFailed));
    assert_eq!(b.get("k").expect("get"), None);
}

#[test]
fn cas_on_an_absent_key_is_insert_if_absent_unless_overwrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = stores(dir.path(), false).bucket("default").expect("bucket");
    let mut first = b.cas("new");
    let mut second = b.cas("new");
    assert_eq!(first.current().expect("current"), None);
    assert_eq!(second.current().expect("current"), None);
    first.swap(b"a").expect("first creator wins");
    assert_eq!(second.swap(b"b"), Err(SwapError::CasFailed));
    assert_eq!(b.get("new").expect("get").as_deref(), Some(&b"a"[..]));

    // Spin's SQLite backend upserts instead: both "creators" succeed.
    let dir = tempfile::tempdir().expect("tempdir");
    let b = stores(dir.path(), true).bucket("default").expect("bucket");
    let mut first = b.cas("new");
    let mut second = b.cas("new");
    first.current().expect("current");
    second.current().expect("current");
    first.swap(b"a").expect("swap");
    second.swap(b"b").expect("spin's sqlite overwrites");
    assert_eq!(b.get("new").expect("get").as_deref(), Some(&b"b"[..]));
}

#[test]
fn kv_operations_match_spin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kv = stores(dir.path(), false);
    let d = kv.bucket("default").expect("default");
    let o = kv.bucket("other").expect("other");
    let blobs = kv.bucket("blobs").expect("blobs");
    assert!(kv.bucket("missing").is_err());

    // Labels are separate namespaces, even in one file.
    d.set("k", b"d").expect("set");
    o.set("k", b"o").expect("set");
    assert_eq!(d.get("k").expect("get").as_deref(), Some(&b"d"[..]));
    assert_eq!(o.get("k").expect("get").as_deref(), Some(&b"o"[..]));
    assert_eq!(blobs.get("k").expect("get"), None);
    assert!(d.exists("k").expect("exists"));
    assert!(!blobs.exists("k").expect("exists"));

    d.set_many(&[("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())])
        .expect("set_many");
    let mut many = d
        .get_many(&["a".into(), "zz".into(), "b".into(), "a".into()])
        .expect("get_many");
    many.sort();
    assert_eq!(
        many,
        vec![
            ("a".into(), Some(b"1".to_vec())),
            ("b".into(), Some(b"2".to_vec()))
        ],
        "only existing keys, each once"
    );
    let mut keys = d.keys().expect("keys");
    keys.sort();
    assert_eq!(keys, vec!["a", "b", "k"]);
    d.delete_many(&["a".into(), "nope".into()])
        .expect("delete_many");
    assert_eq!(d.get("a").expect("get"), None);

    assert_eq!(d.increment("n", 5).expect("inc"), 5);
    assert_eq!(d.increment("n", -7).expect("inc"), -2);
    assert_eq!(
        d.get("n").expect("get"),
        Some((-2i64).to_le_bytes().to_vec())
    );
    assert!(
        d.increment("k", 1).is_err(),
        "a non-integer value cannot be incremented"
    );

    drop(kv);
    let reopened = stores(dir.path(), false).bucket("default").expect("bucket");
    assert_eq!(reopened.get("b").expect("get").as_deref(), Some(&b"2"[..]));
}

#[test]
fn kv_is_atomic_under_concurrency() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = stores(dir.path(), false).bucket("default").expect("bucket");
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    b.increment("counter", 1).expect("increment");
                    // A CAS retry loop appending one byte.
                    loop {
                        let mut cas = b.cas("log");
                        let mut value = cas.current().expect("current").unwrap_or_default();
                        value.push(b'x');
                        match cas.swap(&value) {
                            Ok(()) => break,
                            Err(SwapError::CasFailed) => continue,
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    assert_eq!(b.increment("counter", 0).expect("read"), 400);
    assert_eq!(b.get("log").expect("get").map(|v| v.len()), Some(400));
}

// ---------------------------------------------------------------- end to end

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn start(opts: HostOptions) -> TestHost {
    TestHost::start(opts).expect("host starts")
}

/// The components' shared prelude (`spin_logs::spin::serve`) reads the
/// variables, opens both stores and only then rejects a declared body larger
/// than `max_body_bytes` with a 413 problem: a response that proves the
/// whole path works without depending on what each handler does.
fn oversized_post(agent: &ureq::Agent, url: &str) -> (u16, Option<String>, String) {
    let mut resp = agent.post(url).send(&[b'x'; 100][..]).expect("POST");
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.body_mut().read_to_string().expect("body");
    (resp.status().as_u16(), content_type, body)
}

fn small_body_limit() -> HostOptions {
    HostOptions {
        variables: vec![("max_body_bytes".into(), "10".into())],
        ..HostOptions::default()
    }
}

#[test]
fn requests_reach_every_component() {
    let host = start(small_body_limit());
    let agent = agent();
    let run = "/system/v1/agent/A/logs/v2/task/frameworks/F/executors/E/runs/C";
    for path in [
        "/logs".to_owned(),
        "/apps/web/logs".to_owned(),
        "/system/v1/logs/v2/ingest/x".to_owned(),
        "/system/v1/logs/v2/task/T".to_owned(),
        "/system/v1/logs/v2/component/x".to_owned(),
        format!("{run}/stdout"),
        format!("{run}/files/browse"),
        format!("{run}/stdout/download"),
        "/system/v1/logs/v2/tokens".to_owned(),
    ] {
        let (status, content_type, body) = oversized_post(&agent, &host.url(&path));
        assert_eq!(status, 413, "{path}: {body}");
        assert_eq!(
            content_type.as_deref(),
            Some("application/problem+json"),
            "{path}"
        );
        let problem: serde_json::Value = serde_json::from_str(&body).expect("problem json");
        assert_eq!(problem["status"], 413, "{path}");
    }
}

#[test]
fn unrouted_paths_are_404_and_health_is_ok() {
    let host = start(HostOptions::default());
    let agent = agent();
    // spin.toml's catch-all sends every other path to the index component,
    // which answers a problem, without credentials; `/` is the index.
    let mut resp = agent.get(host.url("/nope")).call().expect("GET");
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap()),
        Some("application/problem+json")
    );
    let body = resp.body_mut().read_to_string().expect("body");
    assert!(body.contains("GET / lists"), "{body}");
    let mut resp = agent.get(host.url("/")).call().expect("GET");
    assert_eq!(resp.status(), 200);
    let index: serde_json::Value =
        serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("JSON");
    assert_eq!(index["name"], "spin-logs");
    // The host's own health route comes before any route, as in Spin.
    let mut resp = agent
        .get(host.url("/.well-known/spin/health"))
        .call()
        .expect("GET");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body_mut().read_to_string().expect("body"), "OK");
}

#[test]
fn variables_reach_the_guest() {
    let agent = agent();
    let default = start(HostOptions::default());
    let (status, _, body) = oversized_post(&agent, &default.url("/system/v1/logs/v2/ingest/x"));
    assert_ne!(
        status, 413,
        "100 bytes are within the default limit: {body}"
    );

    let small = start(small_body_limit());
    let (status, _, _) = oversized_post(&agent, &small.url("/system/v1/logs/v2/ingest/x"));
    assert_eq!(status, 413, "max_body_bytes=10 must reject 100 bytes");

    let broken = start(HostOptions {
        variables: vec![("max_body_bytes".into(), "abc".into())],
        ..HostOptions::default()
    });
    let (status, content_type, body) = oversized_post(&agent, &broken.url("/logs"));
    assert_eq!(
        status, 500,
        "a malformed variable is a deployment error: {body}"
    );
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
}

#[test]
fn many_concurrent_requests() {
    let host = start(small_body_limit());
    let url = host.url("/system/v1/logs/v2/ingest/x");
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let agent = agent();
                (0..4)
                    .map(|_| oversized_post(&agent, &url).0)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let statuses: Vec<u16> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect();
    assert_eq!(statuses.len(), 64);
    assert!(statuses.iter().all(|s| *s == 413), "{statuses:?}");
}

/// Sends raw bytes and returns everything read until the server closes or
/// `wait` passes.
fn raw_exchange(host: &TestHost, request: &[u8], wait: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut stream = std::net::TcpStream::connect(host.addr()).expect("connect");
    stream.set_read_timeout(Some(wait)).expect("timeout");
    stream.write_all(request).expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn request_timeout_drops_the_instance() {
    let host = start(HostOptions {
        request_timeout: Some(Duration::from_millis(300)),
        variables: common::test_variables(),
        ..HostOptions::default()
    });
    // An authenticated guest reads the body before answering; it never
    // arrives in full.
    let request = format!(
        "POST /logs HTTP/1.1\r\nhost: t\r\nauthorization: {}\r\ncontent-length: 100\r\n\r\n0123456789",
        common::superuser()
    );
    let (response, elapsed) = raw_exchange(&host, request.as_bytes(), Duration::from_secs(10));
    assert!(response.starts_with("HTTP/1.1 500"), "{response}");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

#[test]
fn max_response_bytes_cuts_the_body() {
    let path = "/system/v1/logs/v2/ingest/x";
    let full = {
        let host = start(small_body_limit());
        oversized_post(&agent(), &host.url(path)).2
    };
    assert!(full.len() > 10, "{full}");

    let host = start(HostOptions {
        max_response_bytes: Some(10),
        ..small_body_limit()
    });
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-length: 100\r\n\r\n{}",
        "x".repeat(100)
    );
    let (response, _) = raw_exchange(&host, request.as_bytes(), Duration::from_secs(10));
    let (head, body) = response.split_once("\r\n\r\n").expect("a response head");
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    // Whatever the framing, exactly the first 10 payload bytes arrive and the
    // response is incomplete.
    let payload: String = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        assert!(
            !body.ends_with("0\r\n\r\n"),
            "a cut chunked body must not end cleanly"
        );
        body.split("\r\n").skip(1).step_by(2).collect()
    } else {
        body.to_owned()
    };
    assert_eq!(payload, full[..10], "exactly the first 10 bytes");
}

#[test]
fn memory_limit_applies_per_instance() {
    let agent = agent();
    let tiny = start(HostOptions {
        max_memory_bytes: Some(64 * 1024),
        ..small_body_limit()
    });
    let (status, _, body) = oversized_post(&agent, &tiny.url("/logs"));
    assert_eq!(status, 500, "a guest cannot even start in 64 KiB");
    assert_eq!(body, "", "the host's own 500 has no body");

    let roomy = start(HostOptions {
        max_memory_bytes: Some(64 * 1024 * 1024),
        ..small_body_limit()
    });
    assert_eq!(oversized_post(&agent, &roomy.url("/logs")).0, 413);
}

#[test]
fn state_dir_is_used_and_temp_dirs_are_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = start(HostOptions {
        state_dir: Some(dir.path().to_path_buf()),
        ..small_body_limit()
    });
    assert_eq!(host.state_dir(), dir.path());
    assert_eq!(oversized_post(&agent(), &host.url("/logs")).0, 413);
    assert!(dir.path().join("sqlite_key_value.db").exists());
    drop(host);

    let temp = start(HostOptions::default());
    let path = temp.state_dir().to_path_buf();
    assert!(path.exists());
    drop(temp);
    assert!(!path.exists(), "the temp state dir is removed on drop");
}

/// spin.toml and the route tables agree, both ways: every example of every
/// row of every family is routed by Spin's rules to the family's component,
/// every `[[trigger.http]]` route is reached by some example, and an exact
/// trigger route, with sample values, is a route of its own component.
#[test]
fn spin_toml_routes_and_the_route_tables_agree() {
    use spin_logs::routes::{example, examples, resolve};
    let manifest = Manifest::load(&spin_logs_tests::repo_root()).expect("spin.toml");
    let router = Router::build(&manifest.routes).expect("router");
    let mut reached = std::collections::BTreeSet::new();
    for (component, verb, path) in examples() {
        let m = router
            .route(&path)
            .unwrap_or_else(|| panic!("spin.toml routes {verb:?} {path} nowhere"));
        assert_eq!(
            m.component, component,
            "{path} is served by {component}, but spin.toml sends it to {}",
            m.component
        );
        reached.insert(m.raw_route);
    }
    for trigger in &manifest.routes {
        assert!(
            reached.contains(&trigger.route),
            "no row reaches spin.toml's {} ({}): add one to its family's table",
            trigger.route,
            trigger.component
        );
        if trigger.route.ends_with("/...") {
            continue;
        }
        let path = example(&trigger.route);
        let r = resolve(&http::Method::GET, &path);
        assert_eq!(r.component, trigger.component, "{path}");
    }
}

/// Plain `spin up` (no `--runtime-config-file`) knows only the `default`
/// store; the app needs no other, so it starts and works (issue 12, item 19).
#[test]
fn the_app_works_with_no_runtime_config_at_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = common::host_with(HostOptions {
        runtime_config: Some(dir.path().join("no-such-runtime-config.toml")),
        state_dir: Some(dir.path().join("state")),
        ..HostOptions::default()
    });
    let task = common::register(&host, "plain.1", "agent-1", false);
    assert_eq!(
        common::append(&host, "plain.1", "stdout", b"plain spin up\n").status,
        200
    );
    let read = common::get(&host, &common::file_path(&task, "stdout"));
    assert_eq!(read.text(), "plain spin up\n");
    assert!(dir.path().join("state/sqlite_key_value.db").exists());
}
