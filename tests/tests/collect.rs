//! Collection from Kubernetes clusters, end to end: the real `collect`
//! component on the test host pulls pods' logs from the API server stand-in
//! (`spin_logs_tests::k8s`), which the real `kubectl` and the official
//! Python client read first, so it is known to speak the API they speak.

mod common;

#[allow(unused_imports)]
use common::*;
use serde_json::{Value, json};
use spin_logs_tests::k8s::{K8sServer, PodSpec, now_ns};
use std::process::Command;

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
