//! Every route the app serves, as one typed value per request.
//!
//! Spin picks the component (spin.toml); inside it, [`Route::parse`] turns the
//! method-independent full path into a [`Route`] with every parameter
//! percent-decoded and validated, once. The auth gate asks `auth::policy::rule`
//! for that value's rule and the handler matches on the same
//! value, so the two can never disagree about which route a path is, and no
//! handler decodes a path again. The full path is parsed rather than Spin's
//! `spin-path-info`, so a route means the same on every host.
//!
//! A path inside a route family that is no route, or whose parameters do
//! not validate, is a [`Problem`] (404 or 400): the gate keeps it for the
//! superuser, whose request then gets that answer. A path outside every
//! family is [`Route::Unrouted`], the index component's public 404.

use super::problem::Problem;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

/// The longest id or file name accepted (a common file-system limit).
pub const MAX_NAME_BYTES: usize = 255;

/// Path segments, as a client sends them, that no route accepts as an id or
/// name: traversals, separators, control bytes, bytes that are not UTF-8.
/// The one table of them: the unit tests here and the end-to-end suite
/// (`tests/tests/hostile.rs`) both put each in every name position of every
/// route (with one longer than [`MAX_NAME_BYTES`] besides).
#[cfg(any(test, feature = "fuzzing"))]
pub const HOSTILE_SEGMENTS: [&str; 12] = [
    "..",
    ".",
    "%2e%2e",
    "%2E%2e",
    "..%2f..%2fetc",
    "a%2Fb",
    "%2Fetc%2Fpasswd",
    "a%5Cb",
    "a\\b",
    "a%00b",
    "%ff",
    "a%0Ab",
];

/// Splits `path` after `prefix` into percent-decoded segments. `None` if the
/// path does not start with `prefix` on a segment boundary.
pub fn segments_after(path: &str, prefix: &str) -> Option<Result<Vec<String>, Problem>> {
    let rest = path.strip_prefix(prefix)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    Some(
        rest.split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_decode_str(s)
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| Problem::bad_request("a path segment is not valid UTF-8"))
            })
            .collect(),
    )
}

/// A Loki label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn valid_label(name: &str) -> bool {
    let mut b = name.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// A MongoDB group (project) id: 24 hexadecimal digits, an ObjectId.
fn validate_group(group: &str) -> Result<(), Problem> {
    if group.len() == 24 && group.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(());
    }
    Err(Problem::bad_param(
        "group_id",
        format!(
            "{:?} is not a group id: 24 hexadecimal digits, like 5f0c8a2be4b0a1d2c3e4f5a6",
            header_safe(group)
        ),
    ))
}

/// Checks a task id, file name or similar for use as one path component:
/// not empty, at most 255 bytes, no `/`, `\`, NUL or other control
/// characters, and not `.` or `..`.
pub fn validate_name(what: &str, name: &str) -> Result<(), Problem> {
    let bad = |why: &str| Problem::bad_param(what, format!("invalid {what} {name:?}: {why}"));
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(Problem::bad_param(
            what,
            format!("invalid {what}: longer than {MAX_NAME_BYTES} bytes"),
        ));
    }
    if name == "." || name == ".." {
        return Err(bad("relative path components are not names"));
    }
    if name.contains(['/', '\\']) {
        return Err(bad("it contains a path separator"));
    }
    if name.chars().any(char::is_control) {
        return Err(bad("it contains a control character"));
    }
    Ok(())
}

/// A request's path or query as it may be echoed in a `Location` or `Link`
/// header: hosts pass raw UTF-8 in URIs through, but header values are
/// ASCII, so non-ASCII (and control) bytes are percent-encoded. Decoding
/// gives the same text back, so the target is unchanged.
pub fn header_safe(raw: &str) -> String {
    utf8_percent_encode(raw, CONTROLS).to_string()
}

/// Characters escaped in one path segment of a `Location`.
pub const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Appends `segments` to `path`, each percent-encoded as one path segment.
pub fn push(path: &mut String, segments: &[&str]) {
    for s in segments {
        path.push('/');
        path.extend(utf8_percent_encode(s, SEGMENT));
    }
}

/// Where a task's sandbox is on the agent routes:
/// `/system/v1/agent/{agent}/logs/v2/task/frameworks/{fw}/executors/{ex}/runs/{container}[/tasks/{task}]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPath {
    pub agent_id: String,
    pub framework_id: String,
    pub executor_id: String,
    pub container_id: String,
    /// Present for pod tasks.
    pub task_id: Option<String>,
}

/// The agent id of an [`Route::AgentLocal`]'s inner route, before the
/// handler looks it up: a segment no real id equals (ids cannot hold `/`,
/// and this one holds a NUL).
pub const AGENT_UNKNOWN: &str = "\0agent";

/// The DC/OS prefixes, and this app's own under them.
pub const LOGS_V2: &str = "/system/v1/logs/v2";
pub const AGENT: &str = "/system/v1/agent";
pub const INGEST: &str = "/system/v1/logs/v2/ingest";
pub const DISCOVERY: &str = "/system/v1/logs/v2/task";
pub const COMPONENT: &str = "/system/v1/logs/v2/component";
/// Follow routes mirror the read routes under this prefix:
/// `/system/v1/logs/v2/follow/system/v1/logs/v2/component/...` and
/// `/system/v1/logs/v2/follow/system/v1/agent/...`.
pub const FOLLOW: &str = "/system/v1/logs/v2/follow";
pub const TOKENS: &str = "/system/v1/logs/v2/tokens";
/// The web viewer's files.
pub const UI: &str = "/ui";
/// MongoDB's log-collection-job routes, as its API documents them.
pub const JOBS: &str = "/api/public/v1.0/groups";
/// The same routes under spin-logs' first prefix, kept as an alias.
pub const JOBS_ALIAS: &str = "/api/v1/groups";
pub const APPS: &str = "/apps";
/// Scalingo's main API, where "Application#logs" gives an app's logs URL.
pub const SCALINGO_API: &str = "/v1/apps";
/// The Kubernetes logs API's base path (`../shared/seeds/k8s-logs-api.txt`).
pub const K8S: &str = "/k8s/v1";
pub const CAPTURE: &str = "/logs";
/// Grafana Loki's HTTP API, so its shippers, Grafana and `logcli` work unchanged.
pub const LOKI: &str = "/loki/api/v1";

/// A log a read route names: what `dump` reads and `tail` follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadTarget {
    /// `/component[/{unit}]`: journal entries, of one unit if named.
    Journal { unit: Option<String> },
    /// `.../runs/{c}[/tasks/{t}]/{file}`: a sandbox file.
    File { run: AgentPath, file: String },
}

/// What a discovery route asks for, once the task is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discover {
    Read(String),
    Download(String),
    Browse,
    Archive,
}

/// One log collection job route below `/api/v1/groups/{group}/logCollectionJobs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobRoute {
    /// The collection: create (POST) or list (GET).
    All,
    /// One job: poll, extend, delete.
    One(String),
    /// `{job}/retry`.
    Retry(String),
    /// `{job}/download`.
    Download(String),
    /// `{job}/token`: a URL token for the job's download.
    Token(String),
}

/// One retention route below [`K8S`]: the seed's Archive Management and S3
/// Storage endpoints. Which policy, run or object is in the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionRoute {
    /// `archive/policies`: list, create, update, delete.
    Policies,
    /// `archive/start`: start or advance a run.
    Start,
    /// `archive/jobs`: the runs.
    Jobs,
    /// `s3/metadata`: archive objects by labels and time.
    S3Metadata,
    /// `s3/content`: one object's lines.
    S3Content,
    /// `s3/stats`: objects, bytes and ratio by namespace.
    S3Stats,
    /// `storage/info`: backends, buckets, hot and archived bytes.
    StorageInfo,
}

/// One route of the Kubernetes logs API's Log Retrieval endpoints, below [`K8S`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum K8sRoute {
    /// `GET /k8s/v1/`: logs by filters in the query string.
    Logs,
    /// `POST /k8s/v1/search`: the same filters as a JSON body, and more.
    Search,
    /// `POST /k8s/v1/search/logql`: a LogQL query.
    SearchLogql,
    /// `GET /k8s/v1/namespaces`, `/pods`, `/containers`: listings from the index.
    Namespaces,
    Pods,
    Containers,
    /// `GET /k8s/v1/tail?query=`: a live tail of a LogQL selector (SSE).
    Tail,
}

/// One route of Loki's HTTP API below [`LOKI`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LokiRoute {
    /// `POST /loki/api/v1/push`.
    Push,
    QueryRange,
    Query,
    /// `/labels` (and Loki's older `/label`).
    Labels,
    /// `/label/{name}/values`.
    LabelValues(String),
    Series,
    /// `/tail`: Loki's WebSocket tail, which cannot exist on Spin.
    Tail,
}

/// Every route of the app, with its decoded and validated parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `ingest`: `PUT|GET .../ingest/tasks/{task_id}`.
    TaskMeta { task_id: String },
    /// `ingest`: `POST .../ingest/tasks/{task_id}/files/{file}`.
    AppendFile { task_id: String, file: String },
    /// `ingest`: `POST .../ingest/component`.
    AppendJournal,
    /// `discovery`: `/system/v1/logs/v2/task/{task}[/file/{f}][/browse|/download|/archive]`.
    Discover { task: String, target: Discover },
    /// `discovery`: an agent route in the agent's own spelling, as the DC/OS
    /// seed lists them: `/system/v1/logs/v2/task/frameworks/...`, without the
    /// `/system/v1/agent/{agent_id}` the master adds. `inner` is the same
    /// route with the agent id left as [`AGENT_UNKNOWN`]; the handler finds
    /// the task's agent and redirects to the proxied spelling.
    AgentLocal { inner: Box<Route>, tail: String },
    /// `dump`: a component log or a sandbox file.
    Read(ReadTarget),
    /// `browse`: `.../files/browse`.
    Browse { run: AgentPath },
    /// `archive`: `.../{file}/download`.
    Download { run: AgentPath, file: String },
    /// `archive`: `.../files/archive`.
    SandboxArchive { run: AgentPath },
    /// `archive`: log collection jobs of `group`.
    Jobs { group: String, job: JobRoute },
    /// `tail`: `/system/v1/logs/v2/follow/<read route>`.
    Follow(ReadTarget),
    /// `tail`: `/apps/{app}/logs`, Scalingo-style.
    AppLogs { app: String },
    /// `tail`: `/logs`, dotnet-monitor-style capture.
    Capture,
    /// `tail`: `/logs/{pid}` or `/logs/{uid}`: the capture of one process.
    CaptureProcess(Process),
    /// `token`: `POST /system/v1/logs/v2/tokens`.
    MintToken,
    /// `token`: `GET /v1/apps/{app}/logs`, Scalingo's "Application#logs":
    /// the app's logs URL with a fresh URL token.
    AppLogsUrl { app: String },
    /// `retention`: `/k8s/v1/{archive,s3,storage}/...`.
    Retention(RetentionRoute),
    /// `query`: `/k8s/v1/`, `/k8s/v1/search[/logql]`, the listings.
    K8s(K8sRoute),
    /// `query` (reads) and `ingest` (`push`): `/loki/api/v1/...`.
    Loki(LokiRoute),
    /// `ui`: `/ui/{asset}`, the web viewer's files; `asset` is empty for
    /// `/ui/` (the page) and `None` for `/ui`, which redirects to `/ui/`.
    Ui { asset: Option<String> },
    /// `index`: `/`, what the API is and where its routes are.
    Index,
    /// `index`: `/openapi.json`, the OpenAPI 3.1 document of every route.
    OpenApi,
    /// `index`: a path outside every route family (spin.toml's catch-all).
    Unrouted,
}

impl Route {
    /// The route `path` (raw, percent-encoded, without the query) names.
    pub fn parse(path: &str) -> Result<Route, Problem> {
        let none = || Problem::not_found(format!("no route at {}", header_safe(path)));
        if let Some(inner) = path.strip_prefix(FOLLOW)
            && (inner.is_empty() || inner.starts_with('/'))
        {
            return match read_route(inner)? {
                Some(Route::Read(target)) => Ok(Route::Follow(target)),
                _ => Err(Problem::not_found(format!(
                    "nothing to follow at {}: follow a read route, e.g. {FOLLOW}{COMPONENT}",
                    header_safe(path)
                ))),
            };
        }
        if let Some(route) = read_route(path)? {
            return Ok(route);
        }
        if let Some(segs) = segments_after(path, INGEST) {
            let segs = segs?;
            let s: Vec<&str> = segs.iter().map(String::as_str).collect();
            return match s.as_slice() {
                ["tasks", id] => {
                    validate_name("task_id", id)?;
                    Ok(Route::TaskMeta {
                        task_id: id.to_string(),
                    })
                }
                ["tasks", id, "files", file] => {
                    validate_name("task_id", id)?;
                    validate_name("filename", file)?;
                    Ok(Route::AppendFile {
                        task_id: id.to_string(),
                        file: file.to_string(),
                    })
                }
                ["component"] => Ok(Route::AppendJournal),
                _ => Err(none()),
            };
        }
        if let Some(tail) = path
            .strip_prefix(DISCOVERY)
            .and_then(|t| t.strip_prefix("/frameworks/"))
        {
            // The agent's own spelling: the proxied one with the agent id unknown.
            let proxied = format!("{AGENT}/%00agent/logs/v2/task/frameworks/{tail}");
            return match read_route(&proxied)? {
                Some(inner) => Ok(Route::AgentLocal {
                    inner: Box::new(inner),
                    tail: format!("/frameworks/{tail}"),
                }),
                None => Err(none()),
            };
        }
        if let Some(segs) = segments_after(path, DISCOVERY) {
            let segs = segs?;
            let s: Vec<&str> = segs.iter().map(String::as_str).collect();
            let (task, target) = match s.as_slice() {
                [task] => (*task, Discover::Read("stdout".into())),
                [task, "file", file] => (*task, Discover::Read(file.to_string())),
                [task, "browse"] => (*task, Discover::Browse),
                [task, "archive"] => (*task, Discover::Archive),
                [task, "download"] => (*task, Discover::Download("stdout".into())),
                [task, "file", file, "download"] => (*task, Discover::Download(file.to_string())),
                _ => return Err(none()),
            };
            validate_name("task_id", task)?;
            if let Discover::Read(f) | Discover::Download(f) = &target {
                validate_name("filename", f)?;
            }
            return Ok(Route::Discover {
                task: task.to_owned(),
                target,
            });
        }
        if let Some(segs) = segments_after(path, JOBS).or_else(|| segments_after(path, JOBS_ALIAS))
        {
            let segs = segs?;
            let s: Vec<&str> = segs.iter().map(String::as_str).collect();
            let [group, "logCollectionJobs", rest @ ..] = s.as_slice() else {
                return Err(none());
            };
            validate_group(group)?;
            let job = match rest {
                [] => JobRoute::All,
                [id] => JobRoute::One(id.to_string()),
                [id, "retry"] => JobRoute::Retry(id.to_string()),
                [id, "download"] => JobRoute::Download(id.to_string()),
                [id, "token"] => JobRoute::Token(id.to_string()),
                _ => return Err(none()),
            };
            if let JobRoute::One(id)
            | JobRoute::Retry(id)
            | JobRoute::Download(id)
            | JobRoute::Token(id) = &job
            {
                validate_name("job_id", id)?;
            }
            return Ok(Route::Jobs {
                group: group.to_string(),
                job,
            });
        }
        if let Some(segs) = segments_after(path, APPS) {
            let segs = segs?;
            return match segs.as_slice() {
                [app, logs] if logs == "logs" => {
                    validate_name("app", app)?;
                    Ok(Route::AppLogs { app: app.clone() })
                }
                // Spin routes only `/apps/:app/logs` here; the rest is the
                // catch-all's.
                _ => Ok(Route::Unrouted),
            };
        }
        if let Some(segs) = segments_after(path, SCALINGO_API) {
            let segs = segs?;
            return match segs.as_slice() {
                [app, logs] if logs == "logs" => {
                    validate_name("app", app)?;
                    Ok(Route::AppLogsUrl { app: app.clone() })
                }
                _ => Ok(Route::Unrouted),
            };
        }
        if let Some(segs) = segments_after(path, CAPTURE) {
            return match segs?.as_slice() {
                [] if path == CAPTURE => Ok(Route::Capture),
                [one] => Process::parse(one).map(Route::CaptureProcess),
                _ => Ok(Route::Unrouted),
            };
        }
        if let Some(segs) = segments_after(path, K8S) {
            let segs = segs?;
            let s: Vec<&str> = segs.iter().map(String::as_str).collect();
            let r = match s.as_slice() {
                ["archive", "policies"] => RetentionRoute::Policies,
                ["archive", "start"] => RetentionRoute::Start,
                ["archive", "jobs"] => RetentionRoute::Jobs,
                ["s3", "metadata"] => RetentionRoute::S3Metadata,
                ["s3", "content"] => RetentionRoute::S3Content,
                ["s3", "stats"] => RetentionRoute::S3Stats,
                ["storage", "info"] => RetentionRoute::StorageInfo,
                rest => {
                    let k = match rest {
                        [] => K8sRoute::Logs,
                        ["search"] => K8sRoute::Search,
                        ["search", "logql"] => K8sRoute::SearchLogql,
                        ["namespaces"] => K8sRoute::Namespaces,
                        ["pods"] => K8sRoute::Pods,
                        ["containers"] => K8sRoute::Containers,
                        ["tail"] => K8sRoute::Tail,
                        _ => return Err(none()),
                    };
                    return Ok(Route::K8s(k));
                }
            };
            return Ok(Route::Retention(r));
        }
        if let Some(segs) = segments_after(path, LOKI) {
            let segs = segs?;
            let s: Vec<&str> = segs.iter().map(String::as_str).collect();
            let r = match s.as_slice() {
                ["push"] => LokiRoute::Push,
                ["query_range"] => LokiRoute::QueryRange,
                ["query"] => LokiRoute::Query,
                ["labels"] | ["label"] => LokiRoute::Labels,
                ["label", name, "values"] => {
                    if !valid_label(name) {
                        return Err(Problem::bad_param(
                            "name",
                            format!("{:?} is not a label name", header_safe(name)),
                        ));
                    }
                    LokiRoute::LabelValues(name.to_string())
                }
                ["series"] => LokiRoute::Series,
                ["tail"] => LokiRoute::Tail,
                _ => return Err(none()),
            };
            return Ok(Route::Loki(r));
        }
        if let Some(rest) = path.strip_prefix(UI)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            let asset = rest.strip_prefix('/').map(str::to_owned);
            return Ok(Route::Ui { asset });
        }
        match path {
            TOKENS => Ok(Route::MintToken),
            "/" => Ok(Route::Index),
            "/openapi.json" => Ok(Route::OpenApi),
            _ => Ok(Route::Unrouted),
        }
    }

    /// The component spin.toml must bind this route to.
    pub fn component(&self) -> &'static str {
        match self {
            Route::TaskMeta { .. } | Route::AppendFile { .. } | Route::AppendJournal => "ingest",
            Route::Discover { .. } | Route::AgentLocal { .. } => "discovery",
            Route::Read(_) => "dump",
            Route::Browse { .. } => "browse",
            Route::Download { .. } | Route::SandboxArchive { .. } | Route::Jobs { .. } => "archive",
            Route::Follow(_)
            | Route::AppLogs { .. }
            | Route::Capture
            | Route::CaptureProcess(_) => "tail",
            Route::MintToken | Route::AppLogsUrl { .. } => "token",
            Route::Retention(_) => "retention",
            Route::Loki(LokiRoute::Push) => "ingest",
            Route::K8s(_) | Route::Loki(_) => "query",
            Route::Ui { .. } => "ui",
            Route::Index | Route::OpenApi | Route::Unrouted => "index",
        }
    }

    /// One example path of every variant: what the spin.toml check walks.
    /// Test support: compiled for tests and the `fuzzing` feature only.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn examples() -> Vec<(&'static str, String)> {
        let run = "/system/v1/agent/A/logs/v2/task/frameworks/F/executors/E/runs/C";
        let pod = format!("{run}/tasks/T");
        let jobs = format!("{JOBS}/5f0c8a2be4b0a1d2c3e4f5a6/logCollectionJobs");
        vec![
            ("TaskMeta", format!("{INGEST}/tasks/t")),
            ("AppendFile", format!("{INGEST}/tasks/t/files/stdout")),
            ("AppendJournal", format!("{INGEST}/component")),
            ("Discover", format!("{DISCOVERY}/t/file/stderr/download")),
            (
                "AgentLocal",
                format!("{DISCOVERY}/frameworks/F/executors/E/runs/C/stdout"),
            ),
            (
                "AgentLocal",
                format!("{DISCOVERY}/frameworks/F/executors/E/runs/C/tasks/T/files/browse"),
            ),
            ("Read", COMPONENT.to_owned()),
            ("Read", format!("{COMPONENT}/unit")),
            ("Read", format!("{run}/stdout")),
            ("Read", format!("{pod}/stdout")),
            ("Browse", format!("{run}/files/browse")),
            ("Browse", format!("{pod}/files/browse")),
            ("Download", format!("{run}/stdout/download")),
            ("Download", format!("{pod}/stdout/download")),
            ("SandboxArchive", format!("{run}/files/archive")),
            ("SandboxArchive", format!("{pod}/files/archive")),
            ("Jobs", jobs.clone()),
            ("Jobs", format!("{jobs}/j/download")),
            ("Jobs", format!("{jobs}/j/token")),
            (
                "Jobs",
                format!("{JOBS_ALIAS}/5f0c8a2be4b0a1d2c3e4f5a6/logCollectionJobs"),
            ),
            ("Follow", format!("{FOLLOW}{COMPONENT}")),
            ("Follow", format!("{FOLLOW}{pod}/stdout")),
            ("AppLogs", format!("{APPS}/shop/logs")),
            ("Capture", CAPTURE.to_owned()),
            ("CaptureProcess", format!("{CAPTURE}/4242")),
            (
                "CaptureProcess",
                format!("{CAPTURE}/1d2c3b4a-5f6e-4a8b-9c0d-e1f2a3b4c5d6"),
            ),
            ("MintToken", TOKENS.to_owned()),
            ("AppLogsUrl", format!("{SCALINGO_API}/shop/logs")),
            ("Retention", format!("{K8S}/archive/policies")),
            ("Retention", format!("{K8S}/archive/start")),
            ("Retention", format!("{K8S}/archive/jobs")),
            ("Retention", format!("{K8S}/s3/metadata")),
            ("Retention", format!("{K8S}/s3/content")),
            ("Retention", format!("{K8S}/s3/stats")),
            ("Retention", format!("{K8S}/storage/info")),
            ("K8s", K8S.to_owned()),
            ("K8s", format!("{K8S}/search")),
            ("K8s", format!("{K8S}/search/logql")),
            ("K8s", format!("{K8S}/namespaces")),
            ("K8s", format!("{K8S}/pods")),
            ("K8s", format!("{K8S}/containers")),
            ("K8s", format!("{K8S}/tail")),
            ("Loki", format!("{LOKI}/push")),
            ("Loki", format!("{LOKI}/query_range")),
            ("Loki", format!("{LOKI}/query")),
            ("Loki", format!("{LOKI}/labels")),
            ("Loki", format!("{LOKI}/label")),
            ("Loki", format!("{LOKI}/label/app/values")),
            ("Loki", format!("{LOKI}/series")),
            ("Loki", format!("{LOKI}/tail")),
            ("Ui", UI.to_owned()),
            ("Ui", format!("{UI}/")),
            ("Ui", format!("{UI}/app.js")),
            ("Index", "/".to_owned()),
            ("OpenApi", "/openapi.json".to_owned()),
            ("Unrouted", "/nothing/here".to_owned()),
        ]
    }

    /// The variant's name, as `Route::examples` lists it.
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn name(&self) -> &'static str {
        match self {
            Route::TaskMeta { .. } => "TaskMeta",
            Route::AppendFile { .. } => "AppendFile",
            Route::AppendJournal => "AppendJournal",
            Route::Discover { .. } => "Discover",
            Route::AgentLocal { .. } => "AgentLocal",
            Route::Read(_) => "Read",
            Route::Browse { .. } => "Browse",
            Route::Download { .. } => "Download",
            Route::SandboxArchive { .. } => "SandboxArchive",
            Route::Jobs { .. } => "Jobs",
            Route::Follow(_) => "Follow",
            Route::AppLogs { .. } => "AppLogs",
            Route::Capture => "Capture",
            Route::CaptureProcess(_) => "CaptureProcess",
            Route::MintToken => "MintToken",
            Route::AppLogsUrl { .. } => "AppLogsUrl",
            Route::Retention(_) => "Retention",
            Route::K8s(_) => "K8s",
            Route::Loki(_) => "Loki",
            Route::Ui { .. } => "Ui",
            Route::Index => "Index",
            Route::OpenApi => "OpenApi",
            Route::Unrouted => "Unrouted",
        }
    }
}

/// The process a dotnet-monitor capture is about, as `/logs/{pid}` or
/// `/logs/{uid}` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Process {
    /// An operating-system process id: journald's `_PID`.
    Pid(u32),
    /// A runtime instance id, as 32 lower-case hex digits (the form journald
    /// writes `_SYSTEMD_INVOCATION_ID` in).
    Uid(String),
}

impl Process {
    /// An integer is a pid; a GUID (any case, with or without dashes or
    /// braces) a uid; anything else a 400.
    pub fn parse(segment: &str) -> Result<Process, Problem> {
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            return segment.parse().map(Process::Pid).map_err(|_| {
                Problem::bad_param("pid", format!("{segment:?} is not a process id"))
            });
        }
        Process::guid(segment).map(Process::Uid).ok_or_else(|| {
            Problem::bad_param(
                "pid",
                format!(
                    "{:?} is neither a process id (an integer) nor a runtime instance id (a GUID)",
                    header_safe(segment)
                ),
            )
        })
    }

    /// `s` as 32 lower-case hex digits, if it is a GUID in one of .NET's
    /// textual forms (`N`, `D`, `B`).
    pub fn guid(s: &str) -> Option<String> {
        let s = s
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .unwrap_or(s);
        let hex: String = match s.len() {
            32 => s.to_owned(),
            36 => {
                let dashes = [8, 13, 18, 23];
                let ok = s
                    .char_indices()
                    .all(|(i, c)| dashes.contains(&i) == (c == '-'));
                if !ok {
                    return None;
                }
                s.replace('-', "")
            }
            _ => return None,
        };
        hex.bytes()
            .all(|b| b.is_ascii_hexdigit())
            .then(|| hex.to_ascii_lowercase())
    }
}

/// The component log and agent task routes (`None`: neither family).
fn read_route(path: &str) -> Result<Option<Route>, Problem> {
    if let Some(segs) = segments_after(path, COMPONENT) {
        let unit = match segs?.as_slice() {
            [] => None,
            [name] => {
                validate_name("component", name)?;
                Some(name.clone())
            }
            _ => return Err(Problem::not_found("no such component route")),
        };
        return Ok(Some(Route::Read(ReadTarget::Journal { unit })));
    }
    let Some((run, rest)) = agent_path(path)? else {
        return Ok(None);
    };
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    Ok(Some(match rest.as_slice() {
        ["files", "browse"] => Route::Browse { run },
        ["files", "archive"] => Route::SandboxArchive { run },
        [file, "download"] => Route::Download {
            run,
            file: file.to_string(),
        },
        [file] => Route::Read(ReadTarget::File {
            run,
            file: file.to_string(),
        }),
        _ => {
            return Err(Problem::not_found(format!(
                "no agent route at {}",
                header_safe(path)
            )));
        }
    }))
}

/// An agent task route: where the sandbox is, and the segments after it
/// (each a valid name). `None`: not an agent task route.
fn agent_path(path: &str) -> Result<Option<(AgentPath, Vec<String>)>, Problem> {
    let Some(segs) = segments_after(path, AGENT) else {
        return Ok(None);
    };
    let segs = segs?;
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let (agent, fw, ex, container, rest) = match s.as_slice() {
        [
            agent,
            "logs",
            "v2",
            "task",
            "frameworks",
            fw,
            "executors",
            ex,
            "runs",
            c,
            rest @ ..,
        ] => (*agent, *fw, *ex, *c, rest),
        _ => return Ok(None),
    };
    let (task_id, rest) = match rest {
        ["tasks", task, rest @ ..] if !rest.is_empty() => (Some(task.to_string()), rest),
        _ => (None, rest),
    };
    for (what, v) in [
        ("agent_id", agent),
        ("framework_id", fw),
        ("executor_id", ex),
        ("container_id", container),
    ] {
        // The agent's own spelling has no agent id (see `Route::AgentLocal`).
        if !(what == "agent_id" && v == AGENT_UNKNOWN) {
            validate_name(what, v)?;
        }
    }
    if let Some(t) = &task_id {
        validate_name("task_id", t)?;
    }
    for r in rest {
        validate_name("filename", r)?;
    }
    let run = AgentPath {
        agent_id: agent.into(),
        framework_id: fw.into(),
        executor_id: ex.into(),
        container_id: container.into(),
        task_id,
    };
    Ok(Some((run, rest.iter().map(|s| s.to_string()).collect())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_segments_and_respects_boundaries() {
        let segs = segments_after("/a/b/x%20y/z", "/a/b").unwrap().unwrap();
        assert_eq!(segs, vec!["x y", "z"]);
        assert!(segments_after("/a/bc", "/a/b").is_none());
        assert!(segments_after("/a/b/%ff", "/a/b").unwrap().is_err());
    }

    #[test]
    fn echoed_uris_are_ascii() {
        assert_eq!(header_safe("/a/é?x=ü&y=%20"), "/a/%C3%A9?x=%C3%BC&y=%20");
        assert_eq!(header_safe("/plain?q=1"), "/plain?q=1");
    }

    #[test]
    fn rejects_hostile_names() {
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0b", &"x".repeat(256)] {
            assert!(validate_name("file", bad).is_err(), "{bad:?}");
        }
        validate_name("file", "stdout.log-1").unwrap();
        validate_name("file", &"x".repeat(255)).unwrap();
    }

    #[test]
    fn parses_standalone_and_pod_agent_paths() {
        let base = "/system/v1/agent/A/logs/v2/task/frameworks/F/executors/E/runs/C";
        let Ok(Route::Read(ReadTarget::File { run, file })) =
            Route::parse(&format!("{base}/stdout"))
        else {
            panic!()
        };
        assert_eq!((run.task_id, file.as_str()), (None, "stdout"));
        let Ok(Route::Download { run, file }) =
            Route::parse(&format!("{base}/tasks/T/stderr/download"))
        else {
            panic!()
        };
        assert_eq!(
            (run.task_id.as_deref(), file.as_str()),
            (Some("T"), "stderr")
        );
        // A file named "tasks" is downloadable too.
        let Ok(Route::Download { run, file }) = Route::parse(&format!("{base}/tasks/download"))
        else {
            panic!()
        };
        assert_eq!((run.task_id, file.as_str()), (None, "tasks"));
        let bad = Route::parse(&format!("{base}/%2e%2e/stdout")).unwrap_err();
        assert_eq!(bad.status, http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn every_example_parses_to_its_variant() {
        for (name, path) in Route::examples() {
            let route = Route::parse(&path).unwrap_or_else(|p| panic!("{path}: {p}"));
            assert_eq!(route.name(), name, "{path}");
        }
    }

    #[test]
    fn every_name_of_every_route_refuses_every_hostile_segment() {
        // The sample values the examples put where ids and names go.
        const NAMES: [&str; 12] = [
            "t", "A", "F", "E", "C", "T", "stdout", "stderr", "unit", "g", "j", "shop",
        ];
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        let hostile: Vec<&str> = HOSTILE_SEGMENTS.iter().copied().chain([&*long]).collect();
        let mut tried = 0;
        for (name, path) in Route::examples() {
            let segs: Vec<&str> = path.split('/').collect();
            for (i, seg) in segs.iter().enumerate() {
                if !NAMES.contains(seg) {
                    continue;
                }
                for bad in &hostile {
                    let mut s = segs.clone();
                    s[i] = bad;
                    let p = s.join("/");
                    let refused = Route::parse(&p).expect_err(&p);
                    assert_eq!(refused.status, http::StatusCode::BAD_REQUEST, "{name}: {p}");
                    tried += 1;
                }
            }
        }
        assert!(tried > 400, "{tried}");
    }

    #[test]
    fn decodes_parameters_and_refuses_the_rest() {
        assert_eq!(
            Route::parse("/apps/a%20b/logs"),
            Ok(Route::AppLogs { app: "a b".into() })
        );
        assert_eq!(
            Route::parse("/system/v1/logs/v2/follow/system/v1/logs/v2/component/x"),
            Ok(Route::Follow(ReadTarget::Journal {
                unit: Some("x".into())
            }))
        );
        assert_eq!(Route::parse("/"), Ok(Route::Index));
        // Outside every family: what spin.toml's catch-all receives.
        for path in [
            "/logs/",
            "/system/v1/logs/v2",
            "/system/v1/logs/v2/tokens/x",
            "/system/v1/logs/v2/ingestx",
            "/apps/shop",
            "/system/v1/agent/A/metrics/v0",
        ] {
            assert_eq!(Route::parse(path), Ok(Route::Unrouted), "{path}");
        }
        for (path, status) in [
            (
                "/system/v1/logs/v2/follow/system/v1/logs/v2/ingest/tasks/t",
                404,
            ),
            ("/system/v1/logs/v2/ingest/%ff", 400),
            ("/system/v1/logs/v2/ingest/tasks/..", 400),
            ("/apps/%2e%2e/logs", 400),
            (
                "/api/v1/groups/5f0c8a2be4b0a1d2c3e4f5a6/logCollectionJobs/j/x",
                404,
            ),
            (
                "/api/public/v1.0/groups/5f0c8a2be4b0a1d2c3e4f5a6/logCollectionJobs/j/x",
                404,
            ),
            ("/api/v1/groups/5f0c8a2be4b0a1d2c3e4f5a6/other", 404),
            ("/api/public/v1.0/groups/g/logCollectionJobs", 400),
            (
                "/api/v1/groups/5F0C8A2BE4B0A1D2C3E4F5A/logCollectionJobs",
                400,
            ),
        ] {
            let p = Route::parse(path).unwrap_err();
            assert_eq!(p.status.as_u16(), status, "{path}");
        }
    }

    #[test]
    fn a_capture_names_a_pid_or_a_guid() {
        assert_eq!(
            Route::parse("/logs/4242"),
            Ok(Route::CaptureProcess(Process::Pid(4242)))
        );
        let uid = Process::Uid("1d2c3b4a5f6e4a8b9c0de1f2a3b4c5d6".into());
        for form in [
            "1d2c3b4a-5f6e-4a8b-9c0d-e1f2a3b4c5d6",
            "1D2C3B4A5F6E4A8B9C0DE1F2A3B4C5D6",
            "{1d2c3b4a-5f6e-4a8b-9c0d-e1f2a3b4c5d6}",
        ] {
            assert_eq!(
                Route::parse(&format!("/logs/{}", form.replace(['{', '}'], ""))).ok(),
                Some(Route::CaptureProcess(uid.clone())),
                "{form}"
            );
            assert_eq!(
                Process::guid(form).as_deref(),
                Some("1d2c3b4a5f6e4a8b9c0de1f2a3b4c5d6")
            );
        }
        for bad in [
            "abc",
            "12a",
            "99999999999",
            "1d2c3b4a-5f6e4a8b-9c0d-e1f2a3b4c5d6x",
            "-1",
        ] {
            let p = Route::parse(&format!("/logs/{bad}")).unwrap_err();
            assert_eq!(
                (p.status.as_u16(), p.extra["parameter"].as_str()),
                (400, Some("pid")),
                "{bad}"
            );
        }
        assert_eq!(Route::parse("/logs/1/2"), Ok(Route::Unrouted));
    }
}
