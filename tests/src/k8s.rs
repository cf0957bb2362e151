//! A Kubernetes API server stand-in: a test fixture, not a cluster.
//!
//! It serves the few read paths log collection and `kubectl get pods` /
//! `kubectl logs` use, in the real shapes (`NamespaceList`, `PodList` with
//! `limit`/`continue`, `Pod`, a `Table` for kubectl, `Status` errors), from
//! pods a test makes and changes: append log lines (several may share a
//! timestamp), restart a container, make one wait, delete a pod. `pods/log`
//! follows the API server and kubelet (see /work/notes/k8s.md, §3):
//! `sinceTime` is truncated to whole seconds and lines at or after it come
//! back; `limitBytes` cuts mid-line; `previous=true` reads the last
//! terminated instance; a waiting container is a 400, a deleted pod a 404.
//! `follow` is not streamed: the body ends with what the container has.
//!
//! Two listeners share the state: HTTPS (a CA and a leaf for `127.0.0.1` /
//! `localhost` made per run; kubectl sends its token only over TLS) and
//! plain HTTP, which is what the test host's outbound HTTP speaks (as
//! `kubectl proxy` would serve a cluster). `/version` is public, as on real
//! clusters; everything else needs [`K8sServer::TOKEN`] (401 otherwise), and
//! [`K8sServer::FORBIDDEN_TOKEN`] authenticates but may read nothing (403).

use anyhow::{Context, Result};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// One log line: when the container wrote it (ns since the epoch) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub ts: u64,
    pub text: String,
}

#[derive(Debug, Clone)]
enum State {
    Running,
    Waiting(String),
}

#[derive(Debug, Clone)]
struct Container {
    name: String,
    state: State,
    restarts: u32,
    current: Vec<Line>,
    /// The last terminated instance's lines, if the kubelet keeps one.
    previous: Option<Vec<Line>>,
}

#[derive(Debug, Clone)]
struct Pod {
    namespace: String,
    name: String,
    uid: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    node: String,
    containers: Vec<Container>,
}

#[derive(Default)]
struct Cluster {
    namespaces: Vec<String>,
    /// By (namespace, name): listed in that order, as the API server does.
    pods: BTreeMap<(String, String), Pod>,
    /// Every request: `METHOD path?query`, in order.
    requests: Vec<String>,
    next_uid: u64,
}

/// What a new pod looks like; [`PodSpec::new`] then the builders.
#[derive(Debug, Clone, Default)]
pub struct PodSpec {
    pub containers: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub node: String,
}

impl PodSpec {
    /// A pod on `node-1` with these containers, all running.
    pub fn new(containers: &[&str]) -> PodSpec {
        PodSpec {
            containers: containers.iter().map(|c| c.to_string()).collect(),
            node: "node-1".into(),
            ..PodSpec::default()
        }
    }
    pub fn label(mut self, k: &str, v: &str) -> PodSpec {
        self.labels.insert(k.into(), v.into());
        self
    }
    pub fn annotation(mut self, k: &str, v: &str) -> PodSpec {
        self.annotations.insert(k.into(), v.into());
        self
    }
}

/// The running stand-in; stops when dropped.
pub struct K8sServer {
    state: Arc<Mutex<Cluster>>,
    https: SocketAddr,
    http: SocketAddr,
    ca_pem: String,
    _runtime: tokio::runtime::Runtime,
}

/// Nanoseconds since the epoch, now.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// `2024-01-02T03:04:05.120000000Z`: the kubelet's fixed nine digits.
pub fn rfc3339_fixed(ns: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z"
    );
    t.format(&f).unwrap_or_default()
}

impl K8sServer {
    /// The service account token that may read everything.
    pub const TOKEN: &'static str = "stand-in-reader-token";
    /// A token that authenticates but is granted nothing (403s).
    pub const FORBIDDEN_TOKEN: &'static str = "stand-in-forbidden-token";

    /// Starts both listeners on free loopback ports, with namespace `default`.
    pub fn start() -> Result<K8sServer> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (ca_pem, tls) = tls_config()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("k8s-stand-in")
            .enable_all()
            .build()?;
        let state = Arc::new(Mutex::new(Cluster {
            namespaces: vec!["default".into()],
            ..Cluster::default()
        }));
        let bind = || -> Result<std::net::TcpListener> {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.set_nonblocking(true)?;
            Ok(l)
        };
        let (tls_listener, plain_listener) = (bind()?, bind()?);
        let (https, http) = (tls_listener.local_addr()?, plain_listener.local_addr()?);
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        {
            let _guard = runtime.enter();
            let tls_listener = tokio::net::TcpListener::from_std(tls_listener)?;
            let plain_listener = tokio::net::TcpListener::from_std(plain_listener)?;
            let s = state.clone();
            runtime.spawn(async move {
                while let Ok((tcp, _)) = tls_listener.accept().await {
                    let (s, acceptor) = (s.clone(), acceptor.clone());
                    tokio::spawn(async move {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            serve(TokioIo::new(stream), s).await;
                        }
                    });
                }
            });
            let s = state.clone();
            runtime.spawn(async move {
                while let Ok((tcp, _)) = plain_listener.accept().await {
                    tokio::spawn(serve(TokioIo::new(tcp), s.clone()));
                }
            });
        }
        Ok(K8sServer {
            state,
            https,
            http,
            ca_pem,
            _runtime: runtime,
        })
    }

    /// `https://127.0.0.1:<port>`: what kubectl and the Python client use.
    pub fn https_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.https.port())
    }

    /// `http://127.0.0.1:<port>`: the same API in plain HTTP.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http.port())
    }

    /// The CA that signed the HTTPS listener's certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A kubeconfig in `dir` for the HTTPS listener with [`Self::TOKEN`].
    pub fn kubeconfig(&self, dir: &Path) -> Result<PathBuf> {
        use base64_lite::encode;
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: stand-in\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: reader\n  user:\n    token: {}\ncontexts:\n- name: stand-in\n  context: {{cluster: stand-in, user: reader, namespace: default}}\ncurrent-context: stand-in\n",
            self.https_url(),
            encode(self.ca_pem.as_bytes()),
            Self::TOKEN
        );
        std::fs::write(&path, text).context("writing the kubeconfig")?;
        Ok(path)
    }

    fn lock(&self) -> MutexGuard<'_, Cluster> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with_container<T>(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        f: impl FnOnce(&mut Container) -> T,
    ) -> T {
        let mut s = self.lock();
        let p = s
            .pods
            .get_mut(&(ns.to_owned(), pod.to_owned()))
            .unwrap_or_else(|| panic!("no pod {ns}/{pod}"));
        let c = p
            .containers
            .iter_mut()
            .find(|c| c.name == container)
            .unwrap_or_else(|| panic!("no container {container} in {ns}/{pod}"));
        f(c)
    }

    /// Makes namespace `ns` exist (pods make theirs too).
    pub fn add_namespace(&self, ns: &str) {
        let mut s = self.lock();
        if !s.namespaces.iter().any(|n| n == ns) {
            s.namespaces.push(ns.to_owned());
            s.namespaces.sort();
        }
    }

    /// Adds (or replaces) pod `ns/name`, its containers running and empty.
    pub fn add_pod(&self, ns: &str, name: &str, spec: PodSpec) {
        self.add_namespace(ns);
        let mut s = self.lock();
        s.next_uid += 1;
        let pod = Pod {
            namespace: ns.into(),
            name: name.into(),
            uid: format!("00000000-0000-4000-8000-{:012}", s.next_uid),
            labels: spec.labels,
            annotations: spec.annotations,
            node: spec.node,
            containers: spec
                .containers
                .into_iter()
                .map(|name| Container {
                    name,
                    state: State::Running,
                    restarts: 0,
                    current: Vec::new(),
                    previous: None,
                })
                .collect(),
        };
        s.pods.insert((ns.into(), name.into()), pod);
    }

    /// Appends lines to the running instance of a container; timestamps
    /// must not go backwards, and may repeat.
    pub fn append(&self, ns: &str, pod: &str, container: &str, lines: &[(u64, &str)]) {
        self.with_container(ns, pod, container, |c| {
            for (ts, text) in lines {
                assert!(
                    c.current.last().is_none_or(|l| l.ts <= *ts),
                    "log time goes forward"
                );
                c.current.push(Line {
                    ts: *ts,
                    text: text.to_string(),
                });
            }
        })
    }

    /// The container restarts: its running instance becomes the previous
    /// one (the kubelet keeps one), and a new, empty instance runs.
    pub fn restart(&self, ns: &str, pod: &str, container: &str) {
        self.with_container(ns, pod, container, |c| {
            c.previous = Some(std::mem::take(&mut c.current));
            c.restarts += 1;
            c.state = State::Running;
        })
    }

    /// The container waits to start (`ContainerCreating`, `CrashLoopBackOff`).
    pub fn set_waiting(&self, ns: &str, pod: &str, container: &str, reason: &str) {
        self.with_container(ns, pod, container, |c| {
            c.state = State::Waiting(reason.to_owned())
        })
    }

    /// The pod is deleted: listings drop it, its routes are 404s.
    pub fn delete_pod(&self, ns: &str, pod: &str) {
        self.lock().pods.remove(&(ns.to_owned(), pod.to_owned()));
    }

    /// Every line a container has logged, previous instances first.
    pub fn lines(&self, ns: &str, pod: &str, container: &str) -> Vec<Line> {
        self.with_container(ns, pod, container, |c| {
            let mut all = c.previous.clone().unwrap_or_default();
            all.extend(c.current.iter().cloned());
            all
        })
    }

    /// Every request served so far (`GET /path?query`), oldest first.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }
}

fn tls_config() -> Result<(String, rustls::ServerConfig)> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "spin-logs stand-in CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    leaf.distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der())
        .map_err(|e| anyhow::anyhow!("leaf key: {e}"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(vec![leaf_cert.der().clone()], key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((ca_cert.pem(), config))
}

async fn serve<I>(io: I, state: Arc<Mutex<Cluster>>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let state = state.clone();
        async move {
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            Ok::<_, std::convert::Infallible>(route(&mut s, &req))
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

type Reply = Response<Full<Bytes>>;

fn json_reply(code: StatusCode, v: &Value) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = code;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        "application/json".parse().unwrap(),
    );
    r
}

/// A `Status` error, as the API server writes one.
fn status(code: u16, reason: &str, message: &str, details: Value) -> Reply {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_reply(
        code,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "details": details, "code": code.as_u16()}),
    )
}

fn not_found_path() -> Reply {
    status(
        404,
        "NotFound",
        "the server could not find the requested resource",
        json!({}),
    )
}

/// apimachinery's booleans: absent, `false` or `0` (any case) are false;
/// anything else, the empty string too, is true.
fn boolean(q: &BTreeMap<String, String>, k: &str) -> bool {
    q.get(k)
        .is_some_and(|v| !v.eq_ignore_ascii_case("false") && v != "0")
}

fn query(req: &Request<Incoming>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for pair in req.uri().query().unwrap_or("").split('&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(percent_decode(k, true), percent_decode(v, true));
    }
    out
}

/// `%XX` decoded; `+` is a space in a query (`plus`), itself in a path.
fn percent_decode(s: &str, plus: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn route(s: &mut Cluster, req: &Request<Incoming>) -> Reply {
    // Segments are percent-decoded (`web%2D1` is `web-1`), as Go's router does.
    let path = percent_decode(req.uri().path(), false);
    s.requests.push(match req.uri().query() {
        Some(q) => format!("{} {path}?{q}", req.method()),
        None => format!("{} {path}", req.method()),
    });
    if req.method() != http::Method::GET {
        return status(
            405,
            "MethodNotAllowed",
            "the stand-in serves reads only",
            json!({}),
        );
    }
    if path == "/version" || path == "/version/" {
        return json_reply(
            StatusCode::OK,
            &json!({"major": "1", "minor": "32", "gitVersion": "v1.32.4-stand-in",
                    "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
                    "buildDate": "2025-04-22T16:02:27Z", "goVersion": "go1.23.6",
                    "compiler": "gc", "platform": "linux/amd64"}),
        );
    }
    let token = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Discovery is open to every authenticated user (system:discovery).
    let discovery_path = matches!(path.trim_end_matches('/'), "/api" | "/apis" | "/api/v1");
    match token {
        Some(K8sServer::TOKEN) => {}
        Some(K8sServer::FORBIDDEN_TOKEN) if discovery_path => {}
        Some(K8sServer::FORBIDDEN_TOKEN) => return forbidden(&path),
        _ => return status(401, "Unauthorized", "Unauthorized", json!({})),
    }
    let q = query(req);
    let table = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"));
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api"] => json_reply(
            StatusCode::OK,
            &json!({"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}),
        ),
        ["apis"] => json_reply(
            StatusCode::OK,
            &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}),
        ),
        ["api", "v1"] => json_reply(StatusCode::OK, &discovery()),
        ["api", "v1", "namespaces"] => {
            let items: Vec<Value> = s.namespaces.iter().map(|n| namespace(n)).collect();
            list(s, "NamespaceList", items, &q)
        }
        ["api", "v1", "pods"] => pods(s, None, &q, table),
        ["api", "v1", "namespaces", ns, "pods"] => pods(s, Some(ns), &q, table),
        ["api", "v1", "namespaces", ns, "pods", name] => {
            match s.pods.get(&(ns.to_string(), name.to_string())) {
                None => pod_not_found(name),
                Some(p) if table => json_reply(StatusCode::OK, &pod_table(&[p], None)),
                Some(p) => {
                    let mut v = pod_json(p);
                    v["kind"] = json!("Pod");
                    v["apiVersion"] = json!("v1");
                    json_reply(StatusCode::OK, &v)
                }
            }
        }
        ["api", "v1", "namespaces", ns, "pods", name, "log"] => {
            match s.pods.get(&(ns.to_string(), name.to_string())) {
                None => pod_not_found(name),
                Some(p) => log(p, &q),
            }
        }
        _ => not_found_path(),
    }
}

fn forbidden(path: &str) -> Reply {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let user = "system:serviceaccount:default:nobody";
    let (message, details) = match parts.as_slice() {
        ["api", "v1", "namespaces", ns, "pods", name, rest @ ..] => {
            let resource = if rest.is_empty() { "pods" } else { "pods/log" };
            (
                format!(
                    "pods \"{name}\" is forbidden: User \"{user}\" cannot get resource \"{resource}\" in API group \"\" in the namespace \"{ns}\""
                ),
                json!({"name": name, "kind": "pods"}),
            )
        }
        ["api", "v1", "namespaces", ns, "pods"] => (
            format!(
                "pods is forbidden: User \"{user}\" cannot list resource \"pods\" in API group \"\" in the namespace \"{ns}\""
            ),
            json!({"kind": "pods"}),
        ),
        ["api", "v1", "namespaces"] => (
            format!(
                "namespaces is forbidden: User \"{user}\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"
            ),
            json!({"kind": "namespaces"}),
        ),
        _ => (
            format!("forbidden: User \"{user}\" cannot get path \"{path}\""),
            json!({}),
        ),
    };
    status(403, "Forbidden", &message, details)
}

fn pod_not_found(name: &str) -> Reply {
    status(
        404,
        "NotFound",
        &format!("pods \"{name}\" not found"),
        json!({"name": name, "kind": "pods"}),
    )
}

fn discovery() -> Value {
    json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": "namespaces", "singularName": "namespace", "namespaced": false, "kind": "Namespace",
         "verbs": ["get", "list"], "shortNames": ["ns"]},
        {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
         "verbs": ["get", "list"], "shortNames": ["po"], "categories": ["all"]},
        {"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}]})
}

const CREATED: &str = "2024-01-02T03:00:00Z";

fn namespace(name: &str) -> Value {
    json!({"metadata": {"name": name, "uid": format!("ns-{name}"), "resourceVersion": "1",
                        "creationTimestamp": CREATED,
                        "labels": {"kubernetes.io/metadata.name": name}},
           "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
}

/// A list, cut by `limit` and resumed by `continue` (an offset, opaque to
/// clients).
fn list(s: &Cluster, kind: &str, items: Vec<Value>, q: &BTreeMap<String, String>) -> Reply {
    let start: usize = match q.get("continue").map(|c| c.parse()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return status(
                400,
                "BadRequest",
                "continue key is not valid: illegal base64 data",
                json!({}),
            );
        }
    };
    let limit: usize = match q.get("limit").map(|l| l.parse::<usize>()) {
        None | Some(Ok(0)) => usize::MAX,
        Some(Ok(n)) => n,
        Some(Err(_)) => return status(400, "BadRequest", "limit: invalid value", json!({})),
    };
    let end = start.saturating_add(limit).min(items.len());
    let page: Vec<Value> = items
        .get(start.min(items.len())..end)
        .unwrap_or(&[])
        .to_vec();
    let mut metadata = json!({"resourceVersion": (s.requests.len() + 100).to_string()});
    if end < items.len() {
        metadata["continue"] = json!(end.to_string());
        metadata["remainingItemCount"] = json!(items.len() - end);
    }
    json_reply(
        StatusCode::OK,
        &json!({"kind": kind, "apiVersion": "v1", "metadata": metadata, "items": page}),
    )
}

/// `k=v,k2=v2`, `k!=v`, `k` (exists): the subset of selectors the tests use.
fn selected(labels: &BTreeMap<String, String>, selector: &str) -> bool {
    selector.split(',').filter(|t| !t.is_empty()).all(|term| {
        if let Some((k, v)) = term.split_once("!=") {
            labels.get(k.trim()).is_none_or(|x| x != v.trim())
        } else if let Some((k, v)) = term.split_once('=') {
            let v = v.trim_start_matches('=');
            labels.get(k.trim()).is_some_and(|x| x == v.trim())
        } else {
            labels.contains_key(term.trim())
        }
    })
}

fn pods(s: &Cluster, ns: Option<&str>, q: &BTreeMap<String, String>, table: bool) -> Reply {
    let labels = q.get("labelSelector").map_or("", String::as_str);
    let fields = q.get("fieldSelector").map_or("", String::as_str);
    let chosen: Vec<&Pod> = s
        .pods
        .values()
        .filter(|p| ns.is_none_or(|n| p.namespace == n))
        .filter(|p| selected(&p.labels, labels))
        .filter(|p| {
            let mut f = BTreeMap::new();
            f.insert("metadata.name".to_owned(), p.name.clone());
            f.insert("metadata.namespace".to_owned(), p.namespace.clone());
            f.insert("spec.nodeName".to_owned(), p.node.clone());
            f.insert("status.phase".to_owned(), phase(p).to_owned());
            selected(&f, fields)
        })
        .collect();
    if table {
        let start: usize = q.get("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
        let limit: usize = q
            .get("limit")
            .and_then(|l| l.parse().ok())
            .filter(|l| *l > 0)
            .unwrap_or(usize::MAX);
        let end = start.saturating_add(limit).min(chosen.len());
        let page = &chosen[start.min(end)..end];
        let next = (end < chosen.len()).then(|| end.to_string());
        return json_reply(StatusCode::OK, &pod_table(page, next));
    }
    let items = chosen.into_iter().map(pod_json).collect();
    list(s, "PodList", items, q)
}

fn phase(p: &Pod) -> &'static str {
    if p.containers
        .iter()
        .any(|c| matches!(c.state, State::Waiting(_)) && c.previous.is_none())
    {
        "Pending"
    } else {
        "Running"
    }
}

/// A pod as a list item (no kind/apiVersion, as the API server writes them).
fn pod_json(p: &Pod) -> Value {
    let statuses: Vec<Value> = p
        .containers
        .iter()
        .map(|c| {
            let state = match &c.state {
                State::Running => json!({"running": {"startedAt": CREATED}}),
                State::Waiting(reason) => json!({"waiting": {"reason": reason}}),
            };
            let last = if c.previous.is_some() {
                json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": CREATED,
                                      "finishedAt": CREATED, "containerID": format!("containerd://{}-old", c.name)}})
            } else {
                json!({})
            };
            let running = matches!(c.state, State::Running);
            json!({"name": c.name, "ready": running, "started": running, "restartCount": c.restarts,
                   "image": "busybox:1.36", "imageID": "", "state": state, "lastState": last,
                   "containerID": format!("containerd://{}-{}", c.name, c.restarts)})
        })
        .collect();
    json!({
        "metadata": {"name": p.name, "namespace": p.namespace, "uid": p.uid, "resourceVersion": "100",
                     "creationTimestamp": CREATED, "labels": p.labels, "annotations": p.annotations},
        "spec": {"nodeName": p.node, "restartPolicy": "Always",
                 "containers": p.containers.iter().map(|c| json!({"name": c.name, "image": "busybox:1.36"})).collect::<Vec<_>>()},
        "status": {"phase": phase(p), "hostIP": "192.168.1.10", "podIP": "10.0.0.5",
                   "startTime": CREATED, "qosClass": "BestEffort", "containerStatuses": statuses},
    })
}

/// What kubectl asks for (`as=Table`): its usual columns.
fn pod_table(pods: &[&Pod], next: Option<String>) -> Value {
    let col = |name: &str, priority: u8| {
        json!({"name": name, "type": "string", "format": if name == "Name" {"name"} else {""},
               "description": "", "priority": priority})
    };
    let rows: Vec<Value> = pods
        .iter()
        .map(|p| {
            let ready = p
                .containers
                .iter()
                .filter(|c| matches!(c.state, State::Running))
                .count();
            let restarts: u32 = p.containers.iter().map(|c| c.restarts).sum();
            let status = p
                .containers
                .iter()
                .rev()
                .find_map(|c| match &c.state {
                    State::Waiting(r) => Some(r.clone()),
                    State::Running => None,
                })
                .unwrap_or_else(|| phase(p).to_owned());
            json!({"cells": [p.name, format!("{ready}/{}", p.containers.len()), status,
                             restarts.to_string(), "1d", "10.0.0.5", p.node, "<none>", "<none>"],
                   "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                              "metadata": {"name": p.name, "namespace": p.namespace, "labels": p.labels,
                                           "creationTimestamp": CREATED}}})
        })
        .collect();
    let mut metadata = json!({"resourceVersion": "100"});
    if let Some(n) = next {
        metadata["continue"] = json!(n);
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
           "columnDefinitions": [col("Name", 0), col("Ready", 0), col("Status", 0), col("Restarts", 0),
                                 col("Age", 0), col("IP", 1), col("Node", 1), col("Nominated Node", 1),
                                 col("Readiness Gates", 1)],
           "rows": rows})
}

fn invalid(pod: &str, field: &str, value: &str, why: &str) -> Reply {
    status(
        422,
        "Invalid",
        &format!("PodLogOptions \"{pod}\" is invalid: {field}: Invalid value: {value}: {why}"),
        json!({"name": pod, "kind": "PodLogOptions", "causes": [{"reason": "FieldValueInvalid",
               "message": format!("Invalid value: {value}: {why}"), "field": field}]}),
    )
}

/// `pods/log`: the API server's checks, then the kubelet's.
fn log(p: &Pod, q: &BTreeMap<String, String>) -> Reply {
    let int = |k: &str| -> Result<Option<i64>, Box<Reply>> {
        match q.get(k) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                Box::new(status(
                    400,
                    "BadRequest",
                    &format!("{k}: invalid value {v:?}"),
                    json!({}),
                ))
            }),
        }
    };
    let (tail, limit, since_s) = match (int("tailLines"), int("limitBytes"), int("sinceSeconds")) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(r), _, _) | (_, Err(r), _) | (_, _, Err(r)) => return *r,
    };
    if let Some(t) = tail.filter(|t| *t < 0) {
        return invalid(
            &p.name,
            "tailLines",
            &t.to_string(),
            "must be greater than or equal to 0",
        );
    }
    if let Some(l) = limit.filter(|l| *l < 1) {
        return invalid(
            &p.name,
            "limitBytes",
            &l.to_string(),
            "must be greater than 0",
        );
    }
    if let Some(s) = since_s.filter(|s| *s < 1) {
        return invalid(
            &p.name,
            "sinceSeconds",
            &s.to_string(),
            "must be greater than 0",
        );
    }
    if since_s.is_some() && q.contains_key("sinceTime") {
        return invalid(
            &p.name,
            "sinceSeconds",
            "",
            "at most one of `sinceTime` or `sinceSeconds` may be specified",
        );
    }
    // sinceTime: parsed with its fraction, forwarded to the kubelet in whole
    // seconds (the fraction dropped), where lines not before it are kept.
    let since: Option<u64> = match q.get("sinceTime") {
        None => {
            since_s.map(|s| (now_ns() / 1_000_000_000).saturating_sub(s as u64) * 1_000_000_000)
        }
        Some(t) => {
            match time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339) {
                Ok(t) => Some(t.unix_timestamp().max(0) as u64 * 1_000_000_000),
                Err(_) => {
                    return status(
                        400,
                        "BadRequest",
                        &format!("parsing time {t:?} as RFC3339: invalid"),
                        json!({}),
                    );
                }
            }
        }
    };
    let names: Vec<&str> = p.containers.iter().map(|c| c.name.as_str()).collect();
    let c = match q.get("container").filter(|c| !c.is_empty()) {
        Some(name) => match p.containers.iter().find(|c| &c.name == name) {
            Some(c) => c,
            None => {
                return status(
                    400,
                    "BadRequest",
                    &format!("container {name} is not valid for pod {}", p.name),
                    json!({}),
                );
            }
        },
        None if p.containers.len() == 1 => &p.containers[0],
        None => {
            return status(
                400,
                "BadRequest",
                &format!(
                    "a container name must be specified for pod {}, choose one of: [{}]",
                    p.name,
                    names.join(" ")
                ),
                json!({}),
            );
        }
    };
    let lines: &[Line] = if boolean(q, "previous") {
        match &c.previous {
            Some(l) => l,
            None => {
                return status(
                    400,
                    "BadRequest",
                    &format!(
                        "previous terminated container \"{}\" in pod \"{}\" not found",
                        c.name, p.name
                    ),
                    json!({}),
                );
            }
        }
    } else {
        match (&c.state, &c.previous) {
            (State::Running, _) => &c.current,
            // CrashLoopBackOff: the last crashed instance is what it serves.
            (State::Waiting(_), Some(prev)) => prev,
            (State::Waiting(reason), None) => {
                return status(
                    400,
                    "BadRequest",
                    &format!(
                        "container \"{}\" in pod \"{}\" is waiting to start: {reason}",
                        c.name, p.name
                    ),
                    json!({}),
                );
            }
        }
    };
    let from = match tail {
        Some(n) => lines.len().saturating_sub(n as usize),
        None => 0,
    };
    let timestamps = boolean(q, "timestamps");
    let mut body = Vec::new();
    let mut remain = limit.map_or(u64::MAX, |l| l as u64);
    for l in &lines[from..] {
        if since.is_some_and(|s| l.ts < s) {
            continue;
        }
        let mut line = Vec::new();
        if timestamps {
            line.extend_from_slice(rfc3339_fixed(l.ts).as_bytes());
            line.push(b' ');
        }
        line.extend_from_slice(l.text.as_bytes());
        line.push(b'\n');
        // The kubelet's LimitedWriter: the last line is cut mid-way.
        let n = (line.len() as u64).min(remain) as usize;
        body.extend_from_slice(&line[..n]);
        remain -= n as u64;
        if remain == 0 {
            break;
        }
    }
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, "text/plain".parse().unwrap());
    r
}

/// Base64 for the kubeconfig (standard alphabet, padded).
mod base64_lite {
    pub fn encode(data: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_booleans_are_the_api_servers() {
        assert_eq!(
            rfc3339_fixed(1_704_164_645_120_000_000),
            "2024-01-02T03:04:05.120000000Z"
        );
        let q: BTreeMap<String, String> = [("a", "True"), ("b", ""), ("c", "FALSE"), ("d", "0")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert!(boolean(&q, "a") && boolean(&q, "b"));
        assert!(!boolean(&q, "c") && !boolean(&q, "d") && !boolean(&q, "e"));
        assert_eq!(base64_lite::encode(b"ab"), "YWI=");
        assert_eq!(
            percent_decode("2024-01-02T03%3A04%3A05Z", true),
            "2024-01-02T03:04:05Z"
        );
        assert!(selected(
            &[("app".to_owned(), "web".to_owned())].into(),
            "app=web"
        ));
        assert!(!selected(&BTreeMap::new(), "app==web"));
    }
}
