//! Collection from Kubernetes clusters, end to end: the real `collect`
//! component on the test host pulls pods' logs from the API server stand-in
//! (`spin_logs_tests::k8s`), which the real `kubectl` and the official
//! Python client read first, so it is known to speak the API they speak.

mod common;

use common::*;
use serde_json::{Value, json};
use spin_logs_tests::k8s::{K8sServer, PodSpec, now_ns};
use spin_logs_tests::{HostOptions, TestHost};
use std::process::Command;
use std::time::{Duration, Instant};

/// 2024-01-02T03:04:05Z in ns.
const S: u64 = 1_704_164_645_000_000_000;
const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

/// The Python client this repo checks the stand-in with.
const PYTHON_KUBERNETES: &str = "kubernetes==37.0.3";

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("the command runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The stand-in with the pods the client checks read.
fn faithful_fixture() -> K8sServer {
    let k = K8sServer::start().expect("stand-in starts");
    k.add_pod(
        "default",
        "web-1",
        PodSpec::new(&["app"]).label("app", "web"),
    );
    k.add_pod(
        "default",
        "web-2",
        PodSpec::new(&["app"]).label("app", "web"),
    );
    k.add_pod("default", "multi", PodSpec::new(&["a", "b"]));
    k.add_pod("default", "waiting", PodSpec::new(&["app"]));
    k.set_waiting("default", "waiting", "app", "ContainerCreating");
    k.add_pod("shop", "api-1", PodSpec::new(&["app"]));
    k.append(
        "default",
        "web-1",
        "app",
        &[
            (S - 500 * MS, "before the second"),
            (S, "at the second"),
            (S + 250 * MS, "shared stamp one"),
            (S + 250 * MS, "shared stamp two"),
            (S + SEC + 1, "the next second"),
        ],
    );
    k
}

#[test]
fn kubectl_reads_the_stand_in() {
    let k = faithful_fixture();
    let dir = tempfile::tempdir().unwrap();
    let config = k.kubeconfig(dir.path()).unwrap();
    let kubectl = |args: &[&str]| {
        run(Command::new("kubectl")
            .env("KUBECONFIG", &config)
            .env("HOME", dir.path())
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .args(args))
    };

    // A listing in pages of two (limit, then continue), as a Table.
    let (ok, out, err) = kubectl(&["get", "pods", "--chunk-size=2"]);
    assert!(ok, "{err}");
    let rows: Vec<&str> = out.lines().collect();
    assert!(
        rows[0].starts_with("NAME") && rows[0].contains("READY") && rows[0].contains("RESTARTS"),
        "{out}"
    );
    assert_eq!(rows.len(), 5, "{out}");
    assert!(
        out.contains("ContainerCreating") && out.contains("0/1"),
        "{out}"
    );
    let requests = k.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.contains("/pods?") && r.contains("continue=2")),
        "{requests:#?}"
    );
    // The token went over TLS with discovery first.
    for path in ["GET /api?", "GET /apis?", "GET /api/v1?"] {
        assert!(requests.iter().any(|r| r.starts_with(path)), "{path}");
    }

    // --since-time is sent in whole seconds: the lines of that second
    // before the fraction come back, as on a real cluster.
    let (ok, out, err) = kubectl(&[
        "logs",
        "web-1",
        "--timestamps",
        "--since-time=2024-01-02T03:04:05.5Z",
    ]);
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "2024-01-02T03:04:05.000000000Z at the second\n\
         2024-01-02T03:04:05.250000000Z shared stamp one\n\
         2024-01-02T03:04:05.250000000Z shared stamp two\n\
         2024-01-02T03:04:06.000000001Z the next second\n"
    );
    assert!(
        k.requests().iter().any(|r| r
            .ends_with("/log?container=app&sinceTime=2024-01-02T03%3A04%3A05Z&timestamps=true")),
        "{:#?}",
        k.requests()
    );

    // --limit-bytes cuts in the middle of a line.
    let (ok, out, _) = kubectl(&["logs", "web-1", "--timestamps", "--limit-bytes=56"]);
    assert!(ok);
    assert_eq!(
        out,
        "2024-01-02T03:04:04.500000000Z before the second\n2024-01"
    );

    // A restart: -p reads the instance before it.
    k.restart("default", "web-1", "app");
    k.append(
        "default",
        "web-1",
        "app",
        &[(S + 5 * SEC, "after the restart")],
    );
    let (ok, out, _) = kubectl(&["logs", "web-1", "-p"]);
    assert!(ok);
    assert_eq!(out.lines().count(), 5, "{out}");
    let (ok, out, _) = kubectl(&["logs", "web-1"]);
    assert!(ok);
    assert_eq!(out, "after the restart\n");
    let (ok, out, _) = kubectl(&["get", "pods", "web-1"]);
    assert!(ok);
    assert!(out.contains("Running") && out.contains(" 1 "), "{out}");

    // Errors, as kubectl prints the Status it got.
    let (ok, _, err) = kubectl(&["logs", "waiting"]);
    assert!(!ok);
    assert!(
        err.contains(
            "Error from server (BadRequest): container \"app\" in pod \"waiting\" is waiting to start: ContainerCreating"
        ),
        "{err}"
    );
    let (ok, _, err) = kubectl(&["logs", "multi", "-c", "b"]);
    assert!(ok, "{err}");
    k.delete_pod("default", "web-2");
    let (ok, _, err) = kubectl(&["get", "pod", "web-2"]);
    assert!(!ok);
    assert!(
        err.contains("Error from server (NotFound): pods \"web-2\" not found"),
        "{err}"
    );
    let (ok, _, err) = kubectl(&["--token", K8sServer::FORBIDDEN_TOKEN, "logs", "web-1"]);
    assert!(!ok);
    assert!(err.contains("Error from server (Forbidden)"), "{err}");
    let (ok, _, err) = kubectl(&["--token", "nobody", "get", "pods"]);
    assert!(!ok);
    assert!(err.contains("You must be logged in to the server"), "{err}");

    // The other namespace, and the server version kubectl reads.
    let (ok, out, _) = kubectl(&["get", "pods", "-n", "shop", "-o", "name"]);
    assert!(ok);
    assert_eq!(out, "pod/api-1\n");
    let (ok, out, _) = kubectl(&["version"]);
    assert!(ok);
    assert!(out.contains("Server Version: v1.32.4-stand-in"), "{out}");
}

const PYTHON_CHECK: &str = r#"
import json, sys
from kubernetes import client
from kubernetes.client.rest import ApiException

def api(token):
    cfg = client.Configuration()
    cfg.host = sys.argv[1]
    cfg.ssl_ca_cert = sys.argv[2]
    cfg.api_key = {"authorization": "Bearer " + token}
    return client.CoreV1Api(client.ApiClient(cfg))

v1 = api(sys.argv[3])
out = {}
out["namespaces"] = [n.metadata.name for n in v1.list_namespace().items]
names, cont, pages = [], None, 0
while True:
    kw = {"_continue": cont} if cont else {}
    page = v1.list_namespaced_pod("default", limit=2, **kw)
    pages += 1
    names += [p.metadata.name for p in page.items]
    m = page.metadata
    cont = getattr(m, "_continue", None) or getattr(m, "var_continue", None) or getattr(m, "continue_", None)
    if not cont:
        break
out["pods"], out["pages"] = names, pages
out["web"] = [p.metadata.name for p in v1.list_namespaced_pod("default", label_selector="app=web").items]
pod = v1.read_namespaced_pod("web-1", "default")
out["node"] = pod.spec.node_name
out["restarts"] = pod.status.container_statuses[0].restart_count
out["log"] = v1.read_namespaced_pod_log("web-1", "default", container="app", timestamps=True)
out["tail"] = v1.read_namespaced_pod_log("web-1", "default", tail_lines=2)
out["limited"] = v1.read_namespaced_pod_log("web-1", "default", timestamps=True, limit_bytes=40, _preload_content=False).data.decode()
out["previous"] = v1.read_namespaced_pod_log("web-1", "default", previous=True)
ac = v1.api_client
req = ac.param_serialize(method="GET", resource_path="/api/v1/namespaces/{namespace}/pods/{name}/log",
    path_params={"namespace": "default", "name": "web-1"},
    query_params=[("container", "app"), ("timestamps", True), ("previous", True), ("sinceTime", "2024-01-02T03:04:05.9Z")],
    header_params={"Accept": "text/plain"}, auth_settings=["BearerToken"])
resp = ac.call_api(*req)
resp.read()
out["since"] = resp.data.decode()

def error(f):
    try:
        f()
        return None
    except ApiException as e:
        body = json.loads(e.body)
        return [e.status, body["kind"], body["reason"], body["message"]]

out["multi"] = error(lambda: v1.read_namespaced_pod_log("multi", "default"))
out["waiting"] = error(lambda: v1.read_namespaced_pod_log("waiting", "default"))
out["gone"] = error(lambda: v1.read_namespaced_pod_log("gone", "default"))
out["no_previous"] = error(lambda: v1.read_namespaced_pod_log("web-2", "default", previous=True))
out["invalid"] = error(lambda: v1.read_namespaced_pod_log("web-2", "default", limit_bytes=0))
out["unauthorized"] = error(lambda: api("nobody").list_namespace())
out["forbidden"] = error(lambda: api(sys.argv[4]).list_namespaced_pod("default"))
print(json.dumps(out))
"#;

#[test]
fn the_python_client_reads_the_stand_in() {
    let python = spin_logs_tests::services::python_venv("k8s", &[PYTHON_KUBERNETES])
        .expect("a Python with the Kubernetes client");
    let k = faithful_fixture();
    k.restart("default", "web-1", "app");
    k.append(
        "default",
        "web-1",
        "app",
        &[(S + 5 * SEC, "after the restart")],
    );
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, k.ca_pem()).unwrap();
    let (ok, out, err) = run(Command::new(python)
        .arg("-c")
        .arg(PYTHON_CHECK)
        .arg(k.https_url())
        .arg(&ca)
        .arg(K8sServer::TOKEN)
        .arg(K8sServer::FORBIDDEN_TOKEN));
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).expect(&out);
    assert_eq!(v["namespaces"], json!(["default", "shop"]));
    assert_eq!(v["pods"], json!(["multi", "waiting", "web-1", "web-2"]));
    assert_eq!(v["pages"], 2);
    assert_eq!(v["web"], json!(["web-1", "web-2"]));
    assert_eq!(
        (v["node"].as_str(), v["restarts"].as_u64()),
        (Some("node-1"), Some(1))
    );
    assert_eq!(
        v["log"],
        "2024-01-02T03:04:10.000000000Z after the restart\n"
    );
    assert_eq!(v["tail"], "after the restart\n");
    assert_eq!(v["limited"], "2024-01-02T03:04:10.000000000Z after the");
    assert_eq!(
        v["previous"],
        "before the second\nat the second\nshared stamp one\nshared stamp two\nthe next second\n"
    );
    assert_eq!(
        v["since"],
        "2024-01-02T03:04:05.000000000Z at the second\n\
         2024-01-02T03:04:05.250000000Z shared stamp one\n\
         2024-01-02T03:04:05.250000000Z shared stamp two\n\
         2024-01-02T03:04:06.000000001Z the next second\n"
    );
    assert_eq!(
        v["multi"],
        json!([
            400,
            "Status",
            "BadRequest",
            "a container name must be specified for pod multi, choose one of: [a b]"
        ])
    );
    assert_eq!(
        v["waiting"],
        json!([
            400,
            "Status",
            "BadRequest",
            "container \"app\" in pod \"waiting\" is waiting to start: ContainerCreating"
        ])
    );
    assert_eq!(
        v["gone"],
        json!([404, "Status", "NotFound", "pods \"gone\" not found"])
    );
    assert_eq!(
        v["no_previous"],
        json!([
            400,
            "Status",
            "BadRequest",
            "previous terminated container \"app\" in pod \"web-2\" not found"
        ])
    );
    assert_eq!(v["invalid"][0], 422);
    assert_eq!(
        v["unauthorized"],
        json!([401, "Status", "Unauthorized", "Unauthorized"])
    );
    assert_eq!(v["forbidden"][0], 403);
    assert_eq!(v["forbidden"][2], "Forbidden");
}

// ------------------------------------------------------------ end to end

/// A host whose `clusters` and `collect` components may reach any loopback
/// port over plain HTTP (`k8s_allowed_hosts`), so `localhost` is a host they
/// may not reach.
/// Steps are short so a test sees many.
fn host_for_clusters() -> TestHost {
    host_with(HostOptions {
        variables: vec![
            ("k8s_allowed_hosts".into(), "*://127.0.0.1:*".into()),
            ("job_step_ms".into(), "2000".into()),
        ],
        ..HostOptions::default()
    })
}

fn put(host: &TestHost, path: &str, body: &Value) -> Reply {
    send(
        host,
        "PUT",
        path,
        Some("application/json"),
        body.to_string().as_bytes(),
    )
}

/// Registers cluster `id` at `server` with `token`.
fn add_cluster(host: &TestHost, id: &str, server: &str, token: &str) -> Value {
    let r = post(
        host,
        "/k8s/v1/clusters/configs",
        &json!({"id": id, "server": server, "token": token, "timeout_ms": 2000}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

fn refresh(host: &TestHost, id: &str) -> Value {
    let r = post(
        host,
        &format!("/k8s/v1/clusters/refresh?id={id}"),
        &json!({}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["clusters"][0].clone()
}

/// Every key and value in the host's stores, as text.
fn store_dump(host: &TestHost) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(host.state_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "db") {
            let conn = rusqlite::Connection::open(&path).unwrap();
            let mut q = conn
                .prepare("SELECT key, value FROM spin_key_value")
                .unwrap();
            let rows = q
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .unwrap();
            for row in rows {
                let (k, v) = row.unwrap();
                out.push_str(&k);
                out.push(' ');
                out.push_str(&String::from_utf8_lossy(&v));
                out.push('\n');
            }
        }
    }
    out
}

#[test]
fn clusters_are_registered_probed_and_their_tokens_never_shown() {
    let k = K8sServer::start().unwrap();
    k.add_pod("shop", "web-1", PodSpec::new(&["app"]));
    k.add_pod("shop", "web-2", PodSpec::new(&["app"]));
    k.add_pod("shop", "new-1", PodSpec::new(&["app"]));
    k.set_waiting("shop", "new-1", "app", "ContainerCreating");
    let host = host_for_clusters();

    // Registered: the token is write-only.
    let view = add_cluster(&host, "prod", &k.http_url(), K8sServer::TOKEN);
    assert_eq!(view["token_set"], true);
    assert!(view.get("token").is_none(), "{view}");
    assert_eq!(view["spin"]["allowed_outbound_host"], k.http_url());
    assert_eq!(view["spin"]["granted_by_k8s_allowed_hosts"], true);
    let listed = get(&host, "/k8s/v1/clusters/configs");
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json()["total"], 1);
    let one = get(&host, "/k8s/v1/clusters/configs?id=prod");
    assert_eq!(one.json()["token_set"], true);
    for text in [
        view.to_string(),
        listed.text(),
        one.text(),
        store_dump(&host),
    ] {
        assert!(!text.contains(K8sServer::TOKEN), "the token leaks: {text}");
    }

    // Never refreshed, then connected: version, latency, pods by phase.
    let status = get(&host, "/k8s/v1/clusters/status").json();
    assert_eq!(status["clusters"][0]["state"], "unknown");
    let s = refresh(&host, "prod");
    assert_eq!(s["state"], "connected", "{s}");
    assert_eq!(s["version"], "v1.32.4-stand-in");
    assert_eq!(s["pods_by_phase"], json!({"Pending": 1, "Running": 2}));
    assert!(s["error"].is_null());
    assert!(
        k.requests()
            .iter()
            .any(|r| r == "GET /api/v1/namespaces?limit=1"),
        "{:#?}",
        k.requests()
    );
    let status = get(&host, "/k8s/v1/clusters/status").json();
    assert_eq!(status["clusters"][0]["state"], "connected");

    // A PUT without a token keeps the stored one.
    let r = put(
        &host,
        "/k8s/v1/clusters/configs?id=prod",
        &json!({"server": k.http_url(), "name": "Production"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["token_set"], true);
    assert_eq!(refresh(&host, "prod")["state"], "connected");

    // Each way a cluster can fail, as the last refresh found it.
    add_cluster(&host, "bad-token", &k.http_url(), "not-a-token");
    let s = refresh(&host, "bad-token");
    assert_eq!(s["state"], "unauthorized", "{s}");
    assert_eq!(
        s["error"],
        json!({"code": 401, "reason": "Unauthorized", "message": "Unauthorized"})
    );
    add_cluster(
        &host,
        "no-rights",
        &k.http_url(),
        K8sServer::FORBIDDEN_TOKEN,
    );
    let s = refresh(&host, "no-rights");
    assert_eq!(s["state"], "unauthorized", "{s}");
    assert_eq!(s["error"]["code"], 403);
    assert!(
        s["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot list resource \"namespaces\""),
        "{s}"
    );
    let port = spin_logs_tests::services::free_port().unwrap();
    add_cluster(&host, "gone", &format!("http://127.0.0.1:{port}"), "t");
    let s = refresh(&host, "gone");
    assert_eq!(s["state"], "unreachable", "{s}");
    // A host the deployment does not grant: named, and what to add.
    let elsewhere = k.http_url().replace("127.0.0.1", "localhost");
    let view = add_cluster(&host, "elsewhere", &elsewhere, "t");
    assert_eq!(view["spin"]["granted_by_k8s_allowed_hosts"], false);
    let s = refresh(&host, "elsewhere");
    assert_eq!(s["state"], "not_allowed", "{s}");
    assert_eq!(s["error"]["reason"], "NotAllowed");
    let r = post(
        &host,
        "/k8s/v1/collect/bulk",
        &json!({"cluster_id": "elsewhere", "namespace": "shop"}),
    );
    let p = r.problem(409);
    assert_eq!(p["title"], "Cluster Host Not Allowed");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("allowed_outbound_hosts"),
        "{p}"
    );
    let jobs = get(&host, "/k8s/v1/collect/jobs").json();
    assert_eq!(jobs["total"], 0, "a refused job is not kept: {jobs}");
    // HTTPS: the test host, like Spin without a [[client_tls]] for it,
    // cannot verify the cluster's CA.
    let r = post(
        &host,
        "/k8s/v1/clusters/configs",
        &json!({"id": "tls", "server": k.https_url(), "token": K8sServer::TOKEN, "ca_pem": k.ca_pem()}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let client_tls = r.json()["spin"]["client_tls"].as_str().unwrap().to_owned();
    assert!(client_tls.contains("[[client_tls]]"), "{client_tls}");
    assert!(
        client_tls.contains(&format!(
            "hosts = [\"127.0.0.1:{}\"]",
            k.https_url().rsplit(':').next().unwrap()
        )),
        "{client_tls}"
    );
    let s = refresh(&host, "tls");
    assert_eq!(s["state"], "tls_error", "{s}");
    // A disabled cluster is not probed.
    let r = put(
        &host,
        "/k8s/v1/clusters/configs?id=gone",
        &json!({"server": format!("http://127.0.0.1:{port}"), "enabled": false}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(refresh(&host, "gone")["state"], "disabled");
    // Refreshing them all reports them all.
    let all = post(&host, "/k8s/v1/clusters/refresh", &json!({})).json();
    let states: Vec<(String, String)> = all["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["cluster_id"].as_str().unwrap().to_owned(),
                c["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(states.len(), 6, "{states:?}");
    assert!(states.contains(&("prod".into(), "connected".into())));

    // Forgotten: the record, its token and its status.
    let r = send(
        &host,
        "DELETE",
        "/k8s/v1/clusters/configs?id=bad-token",
        None,
        b"",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    get(&host, "/k8s/v1/clusters/configs?id=bad-token").problem(404);
    assert!(!store_dump(&host).contains("k8s/status/bad-token"));
}

/// Every line of a container as the query routes give it back, oldest
/// first, following `next_cursor`.
fn stored_lines(host: &TestHost, ns: &str, pod: &str, container: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!(
            "/k8s/v1/?cluster=prod&namespace={ns}&pod={pod}&container={container}&direction=forward&limit=5000"
        );
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = get(host, &path);
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        for e in v["logs"].as_array().unwrap() {
            out.push(e["line"].as_str().unwrap().to_owned());
        }
        match v["next_cursor"].as_str() {
            Some(c) if v["has_more"] == true => cursor = Some(c.to_owned()),
            _ => return out,
        }
    }
}

/// `n` lines from `first`, three to a timestamp (one instant, as a burst of
/// writes in the same nanosecond gets on a busy node), 137 ms apart, of
/// varied lengths so a 1 KiB budget cuts them anywhere.
fn burst_lines(tag: &str, first: u64, n: usize) -> Vec<(u64, String)> {
    (0..n)
        .map(|i| {
            (
                first + (i / 3) as u64 * 137 * MS,
                format!("{tag} {i:04} {}", "x".repeat(i * 7 % 61)),
            )
        })
        .collect()
}

fn append(k: &K8sServer, ns: &str, pod: &str, c: &str, lines: &[(u64, String)]) {
    let borrowed: Vec<(u64, &str)> = lines.iter().map(|(t, l)| (*t, l.as_str())).collect();
    k.append(ns, pod, c, &borrowed);
}

fn texts(lines: &[(u64, String)]) -> Vec<String> {
    lines.iter().map(|(_, l)| l.clone()).collect()
}

/// Polls job `id` (each GET advances it a step) until it is done.
fn until_done(host: &TestHost, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = get(host, &format!("/k8s/v1/collect/jobs/{id}"));
        assert_eq!(r.status, 200, "{}", r.text());
        let job = r.json();
        if job["status"] != "running" {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} never ends: {job:#}");
    }
}

/// POSTs a job (`/k8s/v1/collect...`) that must be created: its id.
fn start_job(host: &TestHost, path: &str, body: &Value) -> String {
    let r = post(host, path, body);
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_str().unwrap().to_owned()
}

/// Starts a one-time collection of `shop/web-1` on cluster `prod`: its job id.
fn collect_web_1(host: &TestHost) -> String {
    start_job(
        host,
        "/k8s/v1/collect",
        &json!({"cluster_id": "prod", "namespace": "shop", "pods": ["web-1"]}),
    )
}

fn target<'a>(job: &'a Value, pod: &str, container: &str) -> &'a Value {
    job["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["pod"] == pod && t["container"] == container)
        .unwrap_or_else(|| panic!("no target {pod}/{container}: {job:#}"))
}

#[test]
fn one_time_bulk_and_continuous_collections_store_every_line_once_in_order() {
    let k = K8sServer::start().unwrap();
    let web = || PodSpec::new(&["app"]).label("app", "web");
    k.add_pod("shop", "web-1", web());
    k.add_pod("shop", "web-2", web().label("tier", "front"));
    k.add_pod("shop", "cart-1", PodSpec::new(&["app", "sidecar"]));
    k.add_pod(
        "shop",
        "quiet-1",
        PodSpec::new(&["app"]).annotation("spin-logs.io/collect", "false"),
    );
    k.add_pod("shop", "batch-1", PodSpec::new(&["app"]));
    k.add_pod("kube-system", "dns-1", PodSpec::new(&["dns"]));
    let t0 = now_ns() - 300 * SEC;
    let mut expected: std::collections::BTreeMap<&str, Vec<(u64, String)>> = Default::default();
    for (pod, c, key) in [
        ("web-1", "app", "web-1"),
        ("web-2", "app", "web-2"),
        ("cart-1", "app", "cart-1"),
        ("cart-1", "sidecar", "cart-1/sidecar"),
        ("quiet-1", "app", "quiet-1"),
        ("batch-1", "app", "batch-1"),
    ] {
        let lines = burst_lines(key, t0, 60);
        append(&k, "shop", pod, c, &lines);
        expected.insert(key, lines);
    }
    append(
        &k,
        "kube-system",
        "dns-1",
        "dns",
        &burst_lines("dns", t0, 10),
    );

    let host = host_for_clusters();
    add_cluster(&host, "prod", &k.http_url(), K8sServer::TOKEN);
    let config = post(
        &host,
        "/k8s/v1/config",
        &json!({"cluster_id": "prod", "namespace": "shop", "exclude_pods": ["batch-*"],
                "exclude_containers": ["side*"], "budget_bytes": 1024, "start_at": "beginning",
                "extra_labels": {"team": "payments"}}),
    );
    assert_eq!(config.status, 201, "{}", config.text());
    let r = post(
        &host,
        "/k8s/v1/config/disable",
        &json!({"cluster_id": "prod", "namespace": "kube-system"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // One-time: one pod, pulled 1 KiB a step, cut mid-line each time.
    let id = collect_web_1(&host);
    let job = until_done(&host, &id);
    assert_eq!(job["status"], "done", "{job:#}");
    assert_eq!(job["progress"]["targets"], 1);
    assert_eq!(target(&job, "web-1", "app")["lines"], 60);
    assert_eq!(
        stored_lines(&host, "shop", "web-1", "app"),
        texts(&expected["web-1"])
    );
    let pulls: Vec<String> = k
        .requests()
        .into_iter()
        .filter(|r| r.contains("/pods/web-1/log?"))
        .collect();
    assert!(
        pulls.len() >= 4,
        "a 1 KiB budget takes several pulls: {pulls:#?}"
    );
    assert!(pulls[0].contains("limitBytes=1024"), "{pulls:#?}");
    assert!(
        pulls
            .iter()
            .all(|p| p.contains("limitBytes=") && p.contains("timestamps=true"))
    );
    assert!(
        pulls.iter().skip(1).any(|p| p.contains("sinceTime=")),
        "{pulls:#?}"
    );
    // The stream carries the pod's labels and the configuration's.
    let r = get(&host, "/k8s/v1/?cluster=prod&pod=web-1&limit=1").json();
    let labels = &r["logs"][0]["labels"];
    assert_eq!(
        (&labels["team"], &labels["app"], &labels["node"]),
        (&json!("payments"), &json!("web"), &json!("node-1")),
        "{r:#}"
    );

    // Bulk over the whole cluster: what the configuration admits, and
    // web-1 (already pulled) only after what it holds.
    let job = until_done(
        &host,
        &start_job(
            &host,
            "/k8s/v1/collect/bulk",
            &json!({"cluster_id": "prod"}),
        ),
    );
    assert_eq!(job["status"], "done", "{job:#}");
    let mut followed: Vec<String> = job["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}/{}",
                t["pod"].as_str().unwrap(),
                t["container"].as_str().unwrap()
            )
        })
        .collect();
    followed.sort();
    assert_eq!(
        followed,
        ["cart-1/app", "web-1/app", "web-2/app"],
        "{job:#}"
    );
    assert_eq!(target(&job, "web-1", "app")["lines"], 0);
    for (pod, key) in [("web-1", "web-1"), ("web-2", "web-2"), ("cart-1", "cart-1")] {
        assert_eq!(
            stored_lines(&host, "shop", pod, "app"),
            texts(&expected[key]),
            "{pod}"
        );
    }
    for (ns, pod, c) in [
        ("shop", "cart-1", "sidecar"),
        ("shop", "quiet-1", "app"),
        ("shop", "batch-1", "app"),
        ("kube-system", "dns-1", "dns"),
    ] {
        assert!(
            stored_lines(&host, ns, pod, c).is_empty(),
            "{ns}/{pod}/{c} is not collected"
        );
    }
    assert!(
        !k.requests()
            .iter()
            .any(|r| r.contains("/namespaces/kube-system/pods/dns-1/log")),
        "a disabled namespace is not pulled"
    );
    // Nor can a job name it.
    let r = post(
        &host,
        "/k8s/v1/collect/bulk",
        &json!({"cluster_id": "prod", "namespace": "kube-system"}),
    );
    r.problem(409);

    // Continuous: from where the streams end, while the pods keep logging,
    // restart, and come and go.
    let cid = start_job(
        &host,
        "/k8s/v1/collect/continuous",
        &json!({"cluster_id": "prod", "namespace": "shop"}),
    );
    let step = |host: &TestHost| {
        let r = post(host, "/k8s/v1/collect/step", &json!({}));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    };
    let catch_up =
        |host: &TestHost, expected: &std::collections::BTreeMap<&str, Vec<(u64, String)>>| {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                step(host);
                let done = ["web-1", "web-2", "cart-1"].iter().all(|p| {
                    expected
                        .get(p)
                        .is_none_or(|want| stored_lines(host, "shop", p, "app").len() >= want.len())
                });
                if done {
                    return;
                }
                assert!(Instant::now() < deadline, "never caught up");
            }
        };
    let mut now = now_ns() - 60 * SEC;
    for round in 0..4 {
        for pod in ["web-1", "web-2", "cart-1"] {
            let lines = burst_lines(&format!("{pod} r{round}"), now, 30);
            append(&k, "shop", pod, "app", &lines);
            expected.get_mut(pod).unwrap().extend(lines);
        }
        now += 5 * SEC;
        match round {
            // web-1 restarts with lines not yet pulled: they come from
            // the previous instance, before the new one's.
            1 => {
                k.restart("shop", "web-1", "app");
                let lines = burst_lines("web-1 after restart", now, 20);
                append(&k, "shop", "web-1", "app", &lines);
                expected.get_mut("web-1").unwrap().extend(lines);
            }
            // web-2 restarts twice between two steps: the kubelet keeps
            // the last instance only; a gap is recorded.
            2 => {
                catch_up(&host, &expected);
                k.restart("shop", "web-2", "app");
                let lines = burst_lines("web-2 short-lived", now, 5);
                append(&k, "shop", "web-2", "app", &lines);
                expected.get_mut("web-2").unwrap().extend(lines);
                k.restart("shop", "web-2", "app");
                now += SEC;
            }
            _ => {}
        }
        now += 5 * SEC;
        catch_up(&host, &expected);
    }
    for pod in ["web-1", "web-2", "cart-1"] {
        assert_eq!(
            stored_lines(&host, "shop", pod, "app"),
            texts(&expected[pod]),
            "{pod}"
        );
    }
    // A new pod is found and read from its beginning; a deleted one is gone;
    // a waiting one waits.
    let fresh = burst_lines("web-3", now, 12);
    k.add_pod("shop", "web-3", web());
    append(&k, "shop", "web-3", "app", &fresh);
    k.add_pod("shop", "init-1", web());
    k.set_waiting("shop", "init-1", "app", "ContainerCreating");
    k.delete_pod("shop", "cart-1");
    step(&host);
    let job = get(&host, &format!("/k8s/v1/collect/jobs/{cid}")).json();
    assert_eq!(stored_lines(&host, "shop", "web-3", "app"), texts(&fresh));
    assert_eq!(target(&job, "cart-1", "app")["state"], "gone", "{job:#}");
    let waiting = target(&job, "init-1", "app");
    assert_eq!(waiting["state"], "waiting", "{job:#}");
    assert_eq!(waiting["error"]["code"], 400);
    assert_eq!(target(&job, "web-2", "app")["gaps"], 1, "{job:#}");
    assert_eq!(job["stats"]["gaps"], 1);
    assert!(
        k.requests()
            .iter()
            .any(|r| r.contains("/pods/web-1/log?") && r.contains("previous=true")),
        "the restarted container was drained from its previous instance"
    );

    // Stopped, what it pulled stays; then forgotten.
    let r = send(
        &host,
        "DELETE",
        &format!("/k8s/v1/collect/jobs/{cid}"),
        None,
        b"",
    );
    r.problem(409);
    let r = post(
        &host,
        &format!("/k8s/v1/collect/jobs/{cid}/stop"),
        &json!({}),
    );
    assert_eq!(r.json()["status"], "stopped");
    let r = send(
        &host,
        "DELETE",
        &format!("/k8s/v1/collect/jobs/{cid}"),
        None,
        b"",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(stored_lines(&host, "shop", "web-3", "app").len(), 12);
    let jobs = get(&host, "/k8s/v1/collect/jobs?status=done").json();
    assert_eq!(jobs["total"], 2, "{jobs:#}");
}

/// Sends `method path` with a JSON (or raw) body and asserts a 4xx problem
/// that stored nothing.
fn refused(host: &TestHost, method: &str, path: &str, body: &str, status: u16) -> Value {
    let before = stored_rows(host.state_dir());
    let ct = (!body.is_empty()).then_some("application/json");
    let r = send(host, method, path, ct, body.as_bytes());
    let p = r.problem(status);
    assert_eq!(
        stored_rows(host.state_dir()),
        before,
        "{method} {path} {body}: stored something"
    );
    p
}

#[test]
fn every_route_refuses_bad_input_with_a_problem_and_stores_nothing() {
    let k = K8sServer::start().unwrap();
    k.add_pod("shop", "web-1", PodSpec::new(&["app"]));
    let host = host_for_clusters();
    add_cluster(&host, "prod", &k.http_url(), K8sServer::TOKEN);
    let cfg = post(
        &host,
        "/k8s/v1/config",
        &json!({"cluster_id": "prod", "namespace": "shop"}),
    )
    .json();
    let cfg_id = cfg["id"].as_str().unwrap().to_owned();
    let running = start_job(
        &host,
        "/k8s/v1/collect/continuous",
        &json!({"cluster_id": "prod", "namespace": "shop"}),
    );
    let pem_key =
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----";

    let clusters = "/k8s/v1/clusters/configs";
    for (body, field) in [
        ("not json", None),
        (
            r#"{"id": "x", "server": "http://127.0.0.1:1", "colour": "red"}"#,
            None,
        ),
        (
            r#"{"id": "Prod", "server": "http://127.0.0.1:1"}"#,
            Some("id"),
        ),
        (
            r#"{"id": "x", "server": "ftp://127.0.0.1:1"}"#,
            Some("server"),
        ),
        (
            r#"{"id": "x", "server": "https://u:p@k.example"}"#,
            Some("server"),
        ),
        (r#"{"id": "x", "server": "not a url"}"#, Some("server")),
        (
            r#"{"id": "x", "server": "http://127.0.0.1:1", "timeout_ms": 5}"#,
            Some("timeout_ms"),
        ),
        (
            r#"{"id": "x", "server": "http://127.0.0.1:1", "token": "two words"}"#,
            Some("token"),
        ),
        (
            r#"{"id": "x", "server": "http://127.0.0.1:1", "token": ""}"#,
            Some("token"),
        ),
    ] {
        let p = refused(&host, "POST", clusters, body, 400);
        if let Some(f) = field {
            assert_eq!(p["parameter"], f, "{body}: {p}");
        }
    }
    let body = json!({"id": "x", "server": "https://k.example", "ca_pem": pem_key}).to_string();
    assert_eq!(
        refused(&host, "POST", clusters, &body, 400)["parameter"],
        "ca_pem"
    );
    let body = json!({"id": "prod", "server": k.http_url()}).to_string();
    refused(&host, "POST", clusters, &body, 409);
    let body = json!({"server": k.http_url()}).to_string();
    refused(&host, "PUT", clusters, &body, 400);
    refused(&host, "PUT", "/k8s/v1/clusters/configs?id=nope", &body, 404);
    let other = json!({"id": "other", "server": k.http_url()}).to_string();
    refused(
        &host,
        "PUT",
        "/k8s/v1/clusters/configs?id=prod",
        &other,
        400,
    );
    refused(&host, "DELETE", clusters, "", 400);
    refused(&host, "DELETE", "/k8s/v1/clusters/configs?id=nope", "", 404);
    refused(&host, "GET", "/k8s/v1/clusters/configs?id=nope", "", 404);
    refused(&host, "POST", "/k8s/v1/clusters/refresh?id=nope", "", 404);
    refused(&host, "GET", "/k8s/v1/clusters/nope/metrics", "", 404);

    let configs = "/k8s/v1/config";
    for (body, status) in [
        (json!({"cluster_id": "nope", "namespace": "a"}), 400),
        (json!({"cluster_id": "prod", "namespace": "Shop"}), 400),
        (
            json!({"cluster_id": "prod", "namespace": "a", "include_pods": [""]}),
            400,
        ),
        (
            json!({"cluster_id": "prod", "namespace": "a", "extra_labels": {"cluster": "x"}}),
            400,
        ),
        (
            json!({"cluster_id": "prod", "namespace": "a", "extra_labels": {"__x": "x"}}),
            400,
        ),
        (
            json!({"cluster_id": "prod", "namespace": "a", "budget_bytes": 10}),
            400,
        ),
        (
            json!({"cluster_id": "prod", "namespace": "a", "start_at": "middle"}),
            400,
        ),
        (
            json!({"cluster_id": "prod", "namespace": "a", "label_selector": "a=\u{7}"}),
            400,
        ),
        (
            json!({"cluster_id": "prod", "namespace": "a", "surprise": 1}),
            400,
        ),
        (json!({"cluster_id": "prod", "namespace": "shop"}), 409),
    ] {
        refused(&host, "POST", configs, &body.to_string(), status);
    }
    let update = json!({"cluster_id": "prod", "namespace": "shop", "enabled": false});
    refused(&host, "PUT", configs, &update.to_string(), 400);
    let path = format!("{configs}?id={cfg_id}");
    refused(&host, "PUT", &path, &update.to_string(), 400); // no version
    let stale = refused(
        &host,
        "PUT",
        &format!("{path}&version=7"),
        &update.to_string(),
        409,
    );
    assert_eq!(stale["version"], 1);
    refused(
        &host,
        "PUT",
        &format!("{path}&version=x"),
        &update.to_string(),
        400,
    );
    refused(
        &host,
        "PUT",
        &format!("{configs}?id=nope&version=1"),
        &update.to_string(),
        404,
    );
    refused(&host, "DELETE", configs, "", 400);
    refused(&host, "DELETE", &format!("{configs}?id=nope"), "", 404);
    refused(&host, "GET", &format!("{configs}?id=nope"), "", 404);
    let bulk = "/k8s/v1/config/bulk-update";
    refused(&host, "POST", bulk, r#"{"updates": []}"#, 400);
    // All or none: the first would apply, the second is stale.
    let body = json!({"updates": [{"id": cfg_id, "enabled": false},
                                  {"id": cfg_id, "enabled": true, "version": 1}]});
    refused(&host, "POST", bulk, &body.to_string(), 409);
    let body = json!({"updates": [{"id": "nope", "enabled": false}]});
    refused(&host, "POST", bulk, &body.to_string(), 404);
    assert_eq!(get(&host, &path).json()["version"], 1, "nothing changed");
    refused(
        &host,
        "POST",
        "/k8s/v1/config/disable",
        r#"{"cluster_id": "prod"}"#,
        400,
    );
    refused(
        &host,
        "POST",
        "/k8s/v1/config/disable",
        r#"{"cluster_id": "nope", "namespace": "a"}"#,
        400,
    );
    refused(
        &host,
        "POST",
        "/k8s/v1/config/disable/cluster",
        r#"{"cluster_id": "prod", "namespace": "a"}"#,
        400,
    );

    for (path, body, status) in [
        (
            "/k8s/v1/collect",
            json!({"cluster_id": "prod", "namespace": "shop"}),
            400,
        ),
        (
            "/k8s/v1/collect",
            json!({"cluster_id": "prod", "pods": ["web-1"]}),
            400,
        ),
        (
            "/k8s/v1/collect",
            json!({"cluster_id": "prod", "namespace": "shop", "pods": ["Web_1"]}),
            400,
        ),
        (
            "/k8s/v1/collect",
            json!({"cluster_id": "prod", "namespace": "shop", "pods": ["web-1"], "since": "yesterday"}),
            400,
        ),
        (
            "/k8s/v1/collect",
            json!({"cluster_id": "prod", "namespace": "shop", "pods": ["web-1"],
                                   "since": "2024-01-02T00:00:00Z", "until": "2024-01-01T00:00:00Z"}),
            400,
        ),
        (
            "/k8s/v1/collect",
            json!({"cluster_id": "nope", "namespace": "shop", "pods": ["web-1"]}),
            404,
        ),
        (
            "/k8s/v1/collect/bulk",
            json!({"cluster_id": "prod", "namespace": "Shop"}),
            400,
        ),
        (
            "/k8s/v1/collect/bulk",
            json!({"cluster_id": "prod", "depth": 3}),
            400,
        ),
        (
            "/k8s/v1/collect/continuous",
            json!({"cluster_id": "prod", "until": "2024-01-01T00:00:00Z"}),
            400,
        ),
    ] {
        refused(&host, "POST", path, &body.to_string(), status);
    }
    refused(
        &host,
        "GET",
        "/k8s/v1/collect/jobs?status=sleeping",
        "",
        400,
    );
    refused(&host, "GET", "/k8s/v1/collect/jobs/nope", "", 404);
    refused(&host, "POST", "/k8s/v1/collect/jobs/nope/stop", "", 404);
    refused(&host, "DELETE", "/k8s/v1/collect/jobs/nope", "", 404);
    let r = send(
        &host,
        "DELETE",
        &format!("/k8s/v1/collect/jobs/{running}"),
        None,
        b"",
    );
    r.problem(409);
    refused(&host, "GET", "/k8s/v1/health?probe=deep", "", 400);
    // Without credentials: a 401 problem, except the public health.
    for (method, path) in [
        ("GET", clusters),
        ("POST", "/k8s/v1/collect/step"),
        ("GET", "/k8s/v1/metrics"),
    ] {
        unauthorized(&send_as(&host, method, path, None, &[], None, b""));
    }
    assert_eq!(get_as(&host, "/k8s/v1/health", None).status, 200);
}

#[test]
fn health_is_live_without_dependencies_and_503_only_when_storage_is_down() {
    use spin_logs_tests::kv::{Fault, Faults};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let k = K8sServer::start().unwrap();
    let down = Arc::new(AtomicBool::new(false));
    let switch = down.clone();
    let mut variables = vec![("k8s_allowed_hosts".into(), "*://127.0.0.1:*".into())];
    variables.extend(test_variables());
    let host = host_with(HostOptions {
        variables,
        kv_faults: Some(Faults(Arc::new(move |call| {
            if switch.load(Ordering::SeqCst)
                && call.component == "clusters"
                && call.op != "increment"
            {
                Fault::Fail("the store is down".into())
            } else {
                Fault::None
            }
        }))),
        ..HostOptions::default()
    });
    let health = |auth: Option<&str>, q: &str| {
        let r = get_as(&host, &format!("/k8s/v1/health{q}"), auth);
        (r.status, r.json())
    };
    let (code, v) = health(None, "");
    assert_eq!((code, v), (200, json!({"status": "ok"})));
    let (code, v) = health(Some(&superuser()), "");
    assert_eq!(code, 200);
    assert_eq!(v["checks"]["kv"]["status"], "ok", "{v}");
    assert!(v["checks"]["kv"]["latency_ms"].is_number());

    // A cluster that does not answer degrades readiness; it stays a 200.
    let port = spin_logs_tests::services::free_port().unwrap();
    add_cluster(&host, "gone", &format!("http://127.0.0.1:{port}"), "t");
    assert_eq!(refresh(&host, "gone")["state"], "unreachable");
    let (code, v) = health(Some(&superuser()), "");
    assert_eq!((code, &v["status"]), (200, &json!("degraded")), "{v}");
    assert_eq!(v["clusters"]["gone"], "unreachable");
    drop(k);

    // Storage down: readiness is a 503, liveness is not.
    down.store(true, Ordering::SeqCst);
    let (code, v) = health(None, "");
    assert_eq!((code, v), (503, json!({"status": "down"})));
    let (code, v) = health(None, "?probe=live");
    assert_eq!((code, v), (200, json!({"status": "ok"})));
    down.store(false, Ordering::SeqCst);
    assert_eq!(health(None, "?probe=ready").0, 200);
}

#[test]
fn metrics_pass_promtool_and_a_prometheus_server_scrapes_them() {
    use spin_logs_tests::services::{debian_binary, free_port};
    let promtool = debian_binary("promtool", "prometheus").unwrap();
    let prometheus = debian_binary("prometheus", "prometheus").unwrap();
    let k = K8sServer::start().unwrap();
    k.add_pod("shop", "web-1", PodSpec::new(&["app"]));
    let lines = burst_lines("web-1", now_ns() - 60 * SEC, 20);
    append(&k, "shop", "web-1", "app", &lines);
    let host = host_for_clusters();
    add_cluster(&host, "prod", &k.http_url(), K8sServer::TOKEN);
    assert_eq!(refresh(&host, "prod")["state"], "connected");
    assert_eq!(until_done(&host, &collect_web_1(&host))["status"], "done");

    // A Loki push for a disabled namespace: dropped (204, as shippers must
    // not retry it, and the push's enabled streams are kept) and counted.
    let r = post(
        &host,
        "/k8s/v1/config/disable",
        &json!({"cluster_id": "prod", "namespace": "kube-system"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let ts = (now_ns() - SEC).to_string();
    let push = json!({"streams": [
        {"stream": {"cluster": "prod", "namespace": "kube-system", "pod": "dns-1", "container": "dns"},
         "values": [[ts, "a"], [ts, "b"], [ts, "c"]]},
        {"stream": {"cluster": "prod", "namespace": "shop", "pod": "pushed-1", "container": "app"},
         "values": [[ts, "kept"]]}]});
    let r = post(&host, "/loki/api/v1/push", &push);
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(stored_lines(&host, "kube-system", "dns-1", "dns").is_empty());
    assert_eq!(stored_lines(&host, "shop", "pushed-1", "app"), ["kept"]);

    let scraper = bearer(&["spin-logs:metrics"]);
    let r = get_as(&host, "/k8s/v1/metrics", Some(&scraper));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        r.header("content-type")
    );
    let text = r.text();
    for sample in [
        "spin_logs_lines_received_total{source=\"pull\",cluster=\"prod\"} 20",
        "spin_logs_lines_received_total{source=\"push\",cluster=\"prod\"} 1",
        "spin_logs_lines_refused_total{reason=\"namespace_disabled\"} 3",
        "spin_logs_cluster_up{cluster=\"prod\"} 1",
        "spin_logs_collect_jobs{state=\"done\"} 1",
    ] {
        assert!(text.lines().any(|l| l == sample), "{sample} in:\n{text}");
    }
    assert!(
        text.contains("spin_logs_request_duration_seconds_bucket{family=\"collect\",le=\"+Inf\"}")
    );
    let mut check = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The JSON views say the same.
    let stats = get_as(&host, "/k8s/v1/stats", Some(&scraper)).json();
    assert_eq!(stats["lines_refused"]["namespace_disabled"], 3, "{stats:#}");
    assert_eq!(
        stats["streams"]["namespaces"]["shop"]["pods"]["web-1"]["lines"], 20,
        "{stats:#}"
    );
    let c = get_as(&host, "/k8s/v1/clusters/prod/metrics", Some(&scraper)).json();
    assert_eq!(
        (&c["up"], &c["lines_received"]["pull"]),
        (&json!(true), &json!(20)),
        "{c:#}"
    );

    // A real Prometheus scrapes it with the scrape token.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n- job_name: spin-logs\n  metrics_path: /k8s/v1/metrics\n  authorization:\n    credentials: {}\n  static_configs:\n  - targets: ['{}']\n",
            scraper.trim_start_matches("Bearer "),
            host.addr()
        ),
    )
    .unwrap();
    let port = free_port().unwrap();
    let mut server = Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let query = |q: &str| -> Option<Value> {
        let url = format!("http://127.0.0.1:{port}/api/v1/query?query={q}");
        let mut r = client().get(&url).call().ok()?;
        let v: Value = serde_json::from_slice(&r.body_mut().read_to_vec().ok()?).ok()?;
        v["data"]["result"].get(0).map(|s| s["value"][1].clone())
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let pulled = loop {
        if let Some(v) =
            query("spin_logs_lines_received_total%7Bsource%3D%22pull%22%2Ccluster%3D%22prod%22%7D")
        {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped the app"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let up = query("up%7Bjob%3D%22spin-logs%22%7D");
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(pulled, "20");
    assert_eq!(up, Some(json!("1")));
}

#[test]
fn the_cronjob_steps_continuous_jobs_with_a_defined_credential() {
    use serde_yaml_ng::Value as Yaml;
    let root = spin_logs_tests::repo_root();
    let docs = |file: &str| -> Vec<Yaml> {
        let text = std::fs::read_to_string(root.join("deploy").join(file)).unwrap();
        serde_yaml_ng::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect()
    };
    let ours = docs("cronjob-collect.yaml");
    let kind = |k: &'static str| ours.iter().filter(move |d| d["kind"] == k);
    let job = kind("CronJob").next().expect("a CronJob");
    assert_eq!(job["spec"]["concurrencyPolicy"], "Forbid");
    let container = &job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(args.windows(2).any(|w| w == ["-X", "POST"]), "{args:?}");
    let url = args.last().unwrap();
    let (service, path) = url
        .strip_prefix("http://")
        .and_then(|r| r.split_once('/'))
        .expect("http://service/path");
    let route = spin_logs::routes::resolve(&http::Method::POST, &format!("/{path}"));
    assert_eq!(
        (route.component, route.problem),
        ("collect", None),
        "{path}"
    );
    assert_eq!(path, "k8s/v1/collect/step");
    let apps = docs("spinapps.yaml");
    assert!(
        apps.iter()
            .any(|d| d["kind"] == "SpinApp" && d["metadata"]["name"] == service),
        "{service} is no SpinApp"
    );
    let secret = container["env"][0]["valueFrom"]["secretKeyRef"]["name"]
        .as_str()
        .unwrap();
    assert!(
        kind("Secret").any(|s| s["metadata"]["name"] == secret),
        "{secret} is defined beside the CronJob"
    );
}

/// The cluster list (100) and the configurations (1000) are bounded, and a
/// create refused at the bound leaves nothing behind: not in the settings
/// record that every push reads either.
#[test]
fn full_lists_refuse_more_and_keep_no_trace_of_it() {
    let host = host_for_clusters();
    for i in 0..100 {
        add_cluster(&host, &format!("c{i}"), "http://127.0.0.1:1", "t");
    }
    let over = json!({"id": "one-too-many", "server": "http://127.0.0.1:1"});
    refused(
        &host,
        "POST",
        "/k8s/v1/clusters/configs",
        &over.to_string(),
        409,
    );
    assert!(!store_dump(&host).contains("one-too-many"));
    for i in 0..1000 {
        let cfg = json!({"cluster_id": "c0", "namespace": format!("ns-{i}")});
        assert_eq!(post(&host, "/k8s/v1/config", &cfg).status, 201);
    }
    for (path, ns) in [
        ("/k8s/v1/config", "made"),
        ("/k8s/v1/config/disable", "off"),
    ] {
        let body = json!({"cluster_id": "c0", "namespace": ns}).to_string();
        refused(&host, "POST", path, &body, 409);
        assert!(!store_dump(&host).contains(&format!("\"{ns}\"")), "{path}");
    }
}

#[test]
fn configurations_are_versioned_bulk_updated_and_disabled() {
    let host = host_for_clusters();
    let k = K8sServer::start().unwrap();
    add_cluster(&host, "prod", &k.http_url(), K8sServer::TOKEN);
    let mk = |ns: &str| {
        let r = post(
            &host,
            "/k8s/v1/config",
            &json!({"cluster_id": "prod", "namespace": ns, "include_pods": ["web-*"]}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        assert!(r.header("location").is_some());
        r.json()
    };
    let shop = mk("shop");
    let all = mk("*");
    assert_eq!(
        (
            &shop["version"],
            &shop["enabled"],
            &shop["start_at"],
            &shop["budget_bytes"]
        ),
        (&json!(1), &json!(true), &json!("end"), &json!(262144))
    );
    let id = shop["id"].as_str().unwrap();
    let r = put(
        &host,
        &format!("/k8s/v1/config?id={id}"),
        &json!({"cluster_id": "prod", "namespace": "shop", "version": 1, "exclude_pods": ["web-9"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["version"], 2);
    assert_eq!(r.json()["exclude_pods"], json!(["web-9"]));
    let listed = get(&host, "/k8s/v1/config?cluster_id=prod&namespace=shop").json();
    assert_eq!(listed["total"], 1);
    let r = post(
        &host,
        "/k8s/v1/config/bulk-update",
        &json!({"updates": [{"id": id, "enabled": false, "version": 2},
                            {"id": all["id"], "enabled": false}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["total"], 2);
    assert_eq!(
        get(&host, &format!("/k8s/v1/config?id={id}")).json()["enabled"],
        false
    );
    // Disabling a namespace with no configuration makes one; the cluster's
    // switch turns every one off.
    let r = post(
        &host,
        "/k8s/v1/config/disable",
        &json!({"cluster_id": "prod", "namespace": "batch"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["disabled"][0]["namespace"], "batch");
    let r = post(
        &host,
        "/k8s/v1/config/disable/cluster",
        &json!({"cluster_id": "prod"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["disabled"].as_array().unwrap().len(), 3);
    let r = send(
        &host,
        "DELETE",
        &format!("/k8s/v1/config?id={id}"),
        None,
        b"",
    );
    assert_eq!(r.status, 204);
    assert_eq!(get(&host, "/k8s/v1/config").json()["total"], 2);
}

#[test]
fn a_step_killed_between_its_append_and_its_cursor_resumes_exactly() {
    use spin_logs_tests::kv::{Fault, Faults};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let k = K8sServer::start().unwrap();
    k.add_pod("shop", "web-1", PodSpec::new(&["app"]));
    let lines = burst_lines("web-1", now_ns() - 120 * SEC, 60);
    append(&k, "shop", "web-1", "app", &lines);
    // The collect component's second commit of a stream's head: the lines
    // are stored, and the instance dies before the job's cursor moves.
    let commits = Arc::new(AtomicUsize::new(0));
    let seen = commits.clone();
    let mut variables = test_variables();
    variables.extend([
        ("k8s_allowed_hosts".to_owned(), "*://127.0.0.1:*".to_owned()),
        ("job_step_ms".to_owned(), "500".to_owned()),
    ]);
    let host = host_with(HostOptions {
        variables,
        request_timeout: Some(Duration::from_secs(3)),
        kv_faults: Some(Faults(Arc::new(move |call| {
            if call.component == "collect"
                && call.op == "swap"
                && call.key.starts_with("streams/s/")
                && call.key.ends_with("/head")
                && seen.fetch_add(1, Ordering::SeqCst) == 1
            {
                Fault::HangAfter
            } else {
                Fault::None
            }
        }))),
        ..HostOptions::default()
    });
    add_cluster(&host, "prod", &k.http_url(), K8sServer::TOKEN);
    let r = post(
        &host,
        "/k8s/v1/config",
        &json!({"cluster_id": "prod", "namespace": "shop", "budget_bytes": 1024}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = collect_web_1(&host);
    // The step that dies: the host kills it at its budget.
    let r = get(&host, &format!("/k8s/v1/collect/jobs/{id}"));
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(commits.load(Ordering::SeqCst) >= 2);
    // Its lease runs out (job_step_ms + 5 s); then steps resume.
    std::thread::sleep(Duration::from_millis(5600));
    let job = until_done(&host, &id);
    assert_eq!(job["status"], "done", "{job:#}");
    assert_eq!(stored_lines(&host, "shop", "web-1", "app"), texts(&lines));
    // The killed step's lines are stored but were never counted: the cursor
    // was read back from the stream, not pulled again.
    let counted = target(&job, "web-1", "app")["lines"].as_u64().unwrap();
    assert!(counted < 60, "{job:#}");
}
