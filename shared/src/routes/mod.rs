//! Every route the app serves, as data: one module per route family, each
//! the one place that says everything about its routes.
//!
//! A family is what one component serves (spin.toml's `[component.<name>]`).
//! Its module holds its typed routes (an enum the handler in `api/` matches
//! on, every parameter decoded and validated) and a [`Family`] table: its
//! spin.toml routes, the variables its code reads, and one [`Row`] per method
//! and path template with the permission [`Rule`], the rate class, a summary
//! and the request and response bodies. Everything else reads the tables:
//!
//! - [`Family::find`] parses a request (the table *is* the parser, so no
//!   route can be served that the table does not list), and the auth gate
//!   takes the rule from the row that matched;
//! - `GET /` (`api::index`) lists the rows of [`ALL`];
//! - `tools/gen` writes spin.toml's routes and components, the OpenAPI
//!   document, `docs/routes.md` and `deploy/` from them, and a test fails when
//!   a committed file differs from what it would write.
//!
//! | family | component | routes |
//! |---|---|---|
//! | [`ingest`] | `ingest` | task metadata, file and journal appends, Loki push |
//! | [`discovery`] | `discovery` | `/system/v1/logs/v2/task/{task}/...`: redirects to the agent route |
//! | [`dump`] | `dump` | component logs and sandbox files |
//! | [`browse`] | `browse` | `.../files/browse` |
//! | [`archive`] | `archive` | file downloads, sandbox `.tar.gz`, log collection jobs |
//! | [`tail`] | `tail` | follows, Scalingo app logs, dotnet-monitor captures |
//! | [`token`] | `token` | URL tokens |
//! | [`retention`] | `retention` | archive policies and runs, the archive catalog |
//! | [`query`] | `query` | Kubernetes search and listings, Loki's read API |
//! | [`clusters`] | `clusters` | clusters, collection configuration, metrics, health |
//! | [`collect`] | `collect` | collection jobs: pulls from clusters' API servers |
//! | [`ui`] | `ui` | the web viewer's files |
//! | [`index`] | `index` | `/`, `/openapi.json`, and every path outside the families (404) |
//!
//! A path that a family's spin.toml routes cover but none of its rows
//! matches, or whose parameters do not validate, is refused (404 or 400) for
//! everyone but `dcos:superuser`, who gets the precise answer; a method the
//! path does not take is a 405 under the path's own rule. A path outside
//! every spin.toml route of the family is [`Lookup::Unrouted`]: the index's
//! public 404.

pub mod archive;
pub mod browse;
pub mod clusters;
pub mod collect;
pub mod discovery;
pub mod dump;
pub mod index;
pub mod ingest;
pub mod query;
pub mod retention;
pub mod tail;
pub mod token;
pub mod ui;

pub use crate::config::Class;
use crate::config::vars;
use crate::web::path::{AgentPath, Params, Path, capture, header_safe, shape_matches};
use crate::web::problem::Problem;
use http::Method;

/// Reaches every route.
pub const SUPERUSER: &str = "dcos:superuser";
/// `/system/v1/logs/v2/...` reads (DC/OS), and the non-DC/OS read routes.
pub const SYSTEM_LOGS: &str = "dcos:adminrouter:ops:system-logs";
/// `/system/v1/agent/{agent_id}/logs/v2/...` (DC/OS).
pub const AGENT: &str = "dcos:adminrouter:system:agent";
/// The write path: `/system/v1/logs/v2/ingest/...`.
pub const INGEST: &str = "spin-logs:ingest";
/// Log-collection jobs: `/api/v1/groups/...`.
pub const JOBS: &str = "spin-logs:jobs";
/// Retention: archive policies and runs (`/k8s/v1/archive/...`).
pub const ARCHIVE: &str = "spin-logs:archive";

/// The methods a row names; `HEAD` is answered wherever `GET` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `GET`, and `HEAD` with it.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl Verb {
    /// The method's name as HTTP and spin.toml spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
        }
    }

    /// Whether a request with `method` is this row's.
    pub fn admits(self, method: &Method) -> bool {
        method.as_str() == self.as_str() || (self == Verb::Get && *method == Method::HEAD)
    }
}

/// What a route asks of a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Any one of these grants the route; `dcos:superuser` always does.
    /// Empty: the superuser only.
    pub any_of: &'static [&'static str],
    /// The rate class its requests are counted in.
    pub class: Class,
    /// What a URL token must cover to read the route.
    pub token: TokenTarget,
    /// Answered without credentials: the index, the viewer's files and the
    /// "no route here" answer, which say only what the README says.
    pub public: bool,
}

/// Which parameters of a route name what a URL token must cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTarget {
    /// No URL token reads this route.
    None,
    /// `:task`, a discovery query, which the token must name exactly (a name
    /// or partial id could resolve to another task).
    Task,
    /// The task whichever runs at the agent path (resolved in storage).
    Agent,
    /// `:app`.
    App,
    /// `:group_id/:job_id`'s download.
    JobDownload,
}

impl Rule {
    /// Needs one of `any_of` (or the superuser), counted in `class`.
    pub const fn needs(any_of: &'static [&'static str], class: Class) -> Rule {
        Rule {
            any_of,
            class,
            token: TokenTarget::None,
            public: false,
        }
    }

    /// The same, and readable with a URL token for `token`.
    pub const fn token(self, token: TokenTarget) -> Rule {
        Rule { token, ..self }
    }

    /// Answered to anyone, without credentials.
    pub const PUBLIC: Rule = Rule {
        any_of: &[],
        class: Class::Standard,
        token: TokenTarget::None,
        public: true,
    };

    /// The superuser only: what a path that is no route of its family gets.
    pub const CLOSED: Rule = Rule::needs(&[], Class::Standard);
}

/// The task or app a request is about, as far as its path says: what a URL
/// token's scope is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A discovery route's `{task}`.
    TaskQuery(String),
    /// An agent route: the task is whichever runs there.
    Agent(Box<AgentPath>),
    /// `/apps/{app}/logs`.
    App(String),
    /// A job's `.../{job}/download`, as `{group}/{job}`.
    JobDownload(String),
}

impl Subject {
    fn of(target: TokenTarget, p: &Params) -> Result<Option<Subject>, Problem> {
        Ok(Some(match target {
            TokenTarget::None => return Ok(None),
            TokenTarget::Task => Subject::TaskQuery(p.get("task")?),
            TokenTarget::Agent => Subject::Agent(Box::new(AgentPath::from_params(p)?)),
            TokenTarget::App => Subject::App(p.get("app")?),
            TokenTarget::JobDownload => {
                Subject::JobDownload(format!("{}/{}", p.get("group_id")?, p.get("job_id")?))
            }
        }))
    }
}

/// A request or response body, for the docs: its media type and, for JSON,
/// the name of its schema (a type deriving `JsonSchema` under the `schema`
/// feature; `tools/gen` knows each by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Body {
    /// The media type (`Content-Type`); empty for no body.
    pub media: &'static str,
    /// The JSON schema's type name, when the body is JSON with a schema.
    pub schema: Option<&'static str>,
}

/// A JSON answer whose schema is written out only in the docs' prose.
pub const JSON: Body = Body::media("application/json");

impl Body {
    /// No body (a 204, a bodiless request).
    pub const NONE: Body = Body::media("");
    /// A body of `media`, with no schema.
    pub const fn media(media: &'static str) -> Body {
        Body {
            media,
            schema: None,
        }
    }
    /// A JSON body whose schema is the type named `schema`.
    pub const fn json(schema: &'static str) -> Body {
        Body {
            media: "application/json",
            schema: Some(schema),
        }
    }
}

/// A query parameter or request header a route reads, for the docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// The query parameter's or header's name, as the request spells it.
    pub name: &'static str,
    /// One line for the docs: what it does, its form.
    pub doc: &'static str,
    /// The values it takes.
    pub kind: Kind,
    /// Whether the route refuses a request without it.
    pub required: bool,
    /// A request header rather than a query parameter.
    pub header: bool,
}

/// The values a [`Param`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any string.
    Text,
    /// A decimal integer.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// One of these words.
    OneOf(&'static [&'static str]),
}

impl Param {
    /// An optional query parameter.
    pub const fn query(name: &'static str, doc: &'static str) -> Param {
        Param {
            name,
            doc,
            kind: Kind::Text,
            required: false,
            header: false,
        }
    }
    /// An optional request header.
    pub const fn header(name: &'static str, doc: &'static str) -> Param {
        Param {
            header: true,
            ..Param::query(name, doc)
        }
    }
    /// The same, required.
    pub const fn required(self) -> Param {
        Param {
            required: true,
            ..self
        }
    }
    /// The same, taking `kind`'s values.
    pub const fn of(self, kind: Kind) -> Param {
        Param { kind, ..self }
    }
}

/// One route: a method on a path template, and everything said about it.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// The method it answers (`GET` answers `HEAD` too).
    pub verb: Verb,
    /// In spin.toml's spelling: literal segments, `:name` for one segment, a
    /// final `...` for the rest.
    pub path: &'static str,
    /// Who may call it, and the rate class it is counted in.
    pub rule: Rule,
    /// One line, for the index, the OpenAPI document and `docs/routes.md`.
    pub summary: &'static str,
    /// The request body it takes; [`Body::NONE`] for none.
    pub request: Body,
    /// The success answer: its status and body.
    pub status: u16,
    /// The success answer's body.
    pub response: Body,
    /// Query parameters and headers it reads.
    pub params: &'static [Param],
    /// Error statuses beyond the ones every route of its kind has (the
    /// gate's 401/403/429, a 400 for bad input, a 404 for a name, 413/415
    /// for a body).
    pub errors: &'static [u16],
}

impl Endpoint {
    /// `verb path` with the rule, a summary and a JSON answer; refine with
    /// the methods below.
    pub const fn new(verb: Verb, path: &'static str, rule: Rule, summary: &'static str) -> Self {
        Endpoint {
            verb,
            path,
            rule,
            summary,
            request: Body::NONE,
            status: 200,
            response: Body::media("application/json"),
            params: &[],
            errors: &[],
        }
    }
    /// The same, reading `params`.
    pub const fn params(self, params: &'static [Param]) -> Self {
        Endpoint { params, ..self }
    }
    /// The same, with `errors` among its answers.
    pub const fn errors(self, errors: &'static [u16]) -> Self {
        Endpoint { errors, ..self }
    }
    /// The same, taking a `request` body.
    pub const fn takes(self, request: Body) -> Self {
        Endpoint { request, ..self }
    }
    /// The same, answering `status` with `response` on success.
    pub const fn answers(self, status: u16, response: Body) -> Self {
        Endpoint {
            status,
            response,
            ..self
        }
    }
}

/// A row of a family's table: an endpoint, and how its parameters become the
/// family's typed route.
pub struct Row<R: 'static> {
    /// The route: its method, template, rule and docs.
    pub endpoint: Endpoint,
    /// Builds the typed route from the path's parameters; an error (a
    /// parameter that does not validate) refuses the request with it.
    pub make: fn(&Params) -> Result<R, Problem>,
}

/// A route family: everything about the routes one component serves.
pub struct Family<R: 'static> {
    /// The component, as spin.toml names it.
    pub component: &'static str,
    /// One line: what the family does.
    pub summary: &'static str,
    /// Its `[[trigger.http]]` routes: what Spin sends to the component.
    pub spin_routes: &'static [&'static str],
    /// Prefixes that are another spelling of a canonical one, `(alias,
    /// canonical)`: a path under the alias is matched as under the canonical.
    pub aliases: &'static [(&'static str, &'static str)],
    /// The Spin variables its code may read, in groups (`config::vars`):
    /// spin.toml maps exactly these into the component.
    pub variables: &'static [&'static [&'static str]],
    /// The cargo profile its component is built with (spin.toml's build
    /// command and `source`).
    pub profile: Profile,
    /// One per method and path template: the table the parser, the gate and the docs read.
    pub rows: &'static [Row<R>],
}

/// How a component is compiled: for speed where it moves bytes in bulk,
/// for size where it does not (issue 25: every component at or under 1 MiB;
/// issue 29: ingest at 50 MB/s or more). Measured on Spin 4.1: at
/// `opt-level = "s"` ingest fell from 53.6 to 40.8 MB/s, while a small
/// read, a 401, `GET /` and a 429 cost the same CPU per request within
/// noise; `s` takes ~20% off a component's size. Most of ingest's loss was
/// the segment filter's build loop, which `s` compiled through a stack
/// array (fixed in `store::log::filter::build`), the rest zlib-rs: on the
/// test host (`BENCH_ONLY=store BENCH_STORE_MIB=64 cargo bench -p
/// spin-logs-tests --bench perf`) ingest ran 59.0 MB/s at 3, 45.1 at
/// [`Profile::Deflate`] before the filter fix, 60.9-63.2 after, 48.4-49.7
/// at plain `s`; on Spin 59.1 MB/s at `deflate`. Cargo.toml defines the
/// profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `release` (opt-level 3): full reads and search (dump, query).
    Release,
    /// `deflate` (opt-level `s`; zlib-rs, memchr, crc32fast and sha2 at
    /// 3): ingest, which compresses every segment it stores, and archive,
    /// which compresses, checksums and hashes every byte it serves. On Spin
    /// (`SPIN=... BENCH_ONLY=archive BENCH_ARCHIVE_MIB=32 cargo bench -p
    /// spin-logs-tests --bench perf`, ratios to `tar czf` in the same run) a
    /// streamed archive ran 1.87x and 1.95x at `release`, 1.90x, 1.91x and
    /// 1.88x here; a collection job 1.30x and 1.34x at `release`, 1.24x,
    /// 1.24x and 1.28x here. With zlib-rs and memchr alone at 3 it was
    /// 1.48x and 0.81x: CRC-32 and SHA-256 at `s` cost that much.
    Deflate,
    /// `small` (opt-level `s`): everything else.
    Small,
}

impl Profile {
    /// Cargo's name for it: `--profile <name>`, and the directory under
    /// `target/wasm32-wasip2/` the component is written to.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Deflate => "deflate",
            Profile::Small => "small",
        }
    }
}

/// What a request path is, to one family.
pub enum Lookup<R> {
    /// One of its routes.
    Found(Found<R>),
    /// A path its spin.toml routes cover that is refused with `problem`
    /// (no such route, a parameter that does not validate, another method),
    /// once `rule` admits the caller.
    Refused(Problem, Rule),
    /// Outside its spin.toml routes: the index's public 404.
    Unrouted,
}

/// A route found: its row, its typed value, and what a URL token must cover.
pub struct Found<R> {
    /// The row that matched.
    pub endpoint: &'static Endpoint,
    /// The typed route the handler matches on.
    pub route: R,
    /// What a URL token must cover to read it; `None` if no token reads it.
    pub subject: Option<Subject>,
    /// The parameters it was made of.
    pub params: Params,
}

impl<R> Lookup<R> {
    /// The rule the gate applies to this request.
    pub fn rule(&self) -> Rule {
        match self {
            Lookup::Found(f) => f.endpoint.rule,
            Lookup::Refused(_, rule) => *rule,
            Lookup::Unrouted => Rule::PUBLIC,
        }
    }
}

/// The public 404 of a path outside every route family.
pub fn unrouted(path: &str) -> Problem {
    let problem = Problem::not_found(format!(
        "no route at {}; GET / lists the API's routes",
        header_safe(path)
    ));
    // Grafana shows a Loki error's `message`, and raw JSON without one.
    if path.starts_with("/loki/") {
        let detail = problem.detail.clone();
        return problem.with("message", detail);
    }
    problem
}

impl<R> Family<R> {
    /// What `method` on `path` (raw, percent-encoded, no query) is to this
    /// family. Of the rows whose template matches, the most specific wins,
    /// as Spin orders routes (a literal beats a parameter beats the rest).
    pub fn find(&'static self, method: &Method, path: &str) -> Lookup<R> {
        let canonical = self.canonical(path);
        let path = Path::new(&canonical);
        let Some((params, on_path)) = self.best_rows(&path) else {
            return self.unmatched(&path);
        };
        let params = match params {
            Ok(p) => p,
            Err(problem) => return Lookup::Refused(problem, Rule::CLOSED),
        };
        let Some(row) = on_path.iter().find(|r| r.endpoint.verb.admits(method)) else {
            return Lookup::Refused(method_not_allowed(&on_path), on_path[0].endpoint.rule);
        };
        let found = (row.make)(&params).and_then(|route| {
            Ok(Found {
                endpoint: &row.endpoint,
                route,
                subject: Subject::of(row.endpoint.rule.token, &params)?,
                params,
            })
        });
        match found {
            Ok(found) => Lookup::Found(found),
            Err(problem) => Lookup::Refused(problem, Rule::CLOSED),
        }
    }

    /// The rows of the most specific template that matches `path` (one per
    /// method), with what it captured.
    #[allow(clippy::type_complexity)]
    fn best_rows(
        &'static self,
        path: &Path,
    ) -> Option<(Result<Params, Problem>, Vec<&'static Row<R>>)> {
        let mut best: Option<(Vec<u8>, Result<Params, Problem>)> = None;
        let mut on_path: Vec<&'static Row<R>> = Vec::new();
        for row in self.rows {
            let Some((rank, params)) = capture(row.endpoint.path, path) else {
                continue;
            };
            match &best {
                Some((b, _)) if *b < rank => continue,
                Some((b, _)) if *b == rank => {}
                _ => {
                    best = Some((rank, params));
                    on_path.clear();
                }
            }
            on_path.push(row);
        }
        best.map(|(_, params)| (params, on_path))
    }

    /// A path no row matches: refused if one of the family's spin.toml
    /// routes covers it (the catch-all `/...` covers nothing: it only gets
    /// what the other families do not), otherwise not the family's at all.
    fn unmatched(&self, path: &Path) -> Lookup<R> {
        let covered = self
            .spin_routes
            .iter()
            .any(|r| *r != "/..." && shape_matches(r, path));
        if !covered {
            return Lookup::Unrouted;
        }
        let problem = if path.has_undecodable() {
            Problem::bad_request("a path segment is not valid UTF-8")
        } else {
            Problem::not_found(format!("no route at {}", header_safe(path.raw())))
        };
        Lookup::Refused(problem, Rule::CLOSED)
    }

    /// `path` with an alias prefix replaced by its canonical one.
    fn canonical<'p>(&self, path: &'p str) -> std::borrow::Cow<'p, str> {
        for (alias, canonical) in self.aliases {
            if let Some(rest) = path.strip_prefix(alias)
                && (rest.is_empty() || rest.starts_with('/'))
            {
                return format!("{canonical}{rest}").into();
            }
        }
        path.into()
    }
}

/// 405, naming the methods the path takes.
fn method_not_allowed<R>(rows: &[&Row<R>]) -> Problem {
    let mut allowed: Vec<&str> = Vec::new();
    for row in rows {
        allowed.push(row.endpoint.verb.as_str());
        if row.endpoint.verb == Verb::Get {
            allowed.push("HEAD");
        }
    }
    Problem::method_not_allowed(&allowed.join(", "))
}

/// A family as the docs and the index see it, whatever its route type.
pub trait Described: Sync {
    /// The component, as spin.toml names it ([`Family::component`]).
    fn component(&self) -> &'static str;
    /// One line: what the family does ([`Family::summary`]).
    fn summary(&self) -> &'static str;
    /// Its `[[trigger.http]]` routes ([`Family::spin_routes`]).
    fn spin_routes(&self) -> &'static [&'static str];
    /// Alias prefixes and their canonical ones ([`Family::aliases`]).
    fn aliases(&self) -> &'static [(&'static str, &'static str)];
    /// The variables it reads, every group flattened, in order.
    fn variables(&self) -> Vec<&'static str>;
    /// How its component is compiled ([`Family::profile`]).
    fn profile(&self) -> Profile;
    /// Every endpoint of its table, in table order.
    fn endpoints(&self) -> Vec<&'static Endpoint>;
    /// What this family makes of `method` on `path`, without its typed
    /// route: `None` if the path is not the family's.
    fn resolve(&'static self, method: &Method, path: &str) -> Option<Resolved>;
    /// Whether its component is granted the key-value store: it stores
    /// (reads the blob settings) or gates a route (rate limits live there).
    /// spin.toml grants `key_value_stores` by this; the glue counts a
    /// request's metrics only where it holds (Spin refuses the others with
    /// "access denied").
    fn opens_store(&self) -> bool {
        self.variables().contains(&"blob_store") || self.endpoints().iter().any(|e| !e.rule.public)
    }
}

/// A request as the gate sees it: the family that answers it, the rule it
/// passes, what a URL token must cover, and the problem it gets if it is no
/// route (a 404, 400 or 405).
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The component of the family that answers it.
    pub component: &'static str,
    /// The rule the gate applies: the route's own (the path's, for a 405),
    /// [`Rule::CLOSED`] for a path that is no route, [`Rule::PUBLIC`] for one
    /// no family covers.
    pub rule: Rule,
    /// What a URL token must cover; `None` if no token reads it.
    pub subject: Option<Subject>,
    /// Why it is refused (404, 400, 405); `None` for a route.
    pub problem: Option<Problem>,
    /// The parameters of the route found.
    pub params: Option<Params>,
}

/// What the app makes of `method` on `path`, across every family: a family
/// that has the route wins over one that only covers the path (a route
/// family's wildcard over another's routes, as `/k8s/v1/...` over
/// retention's), and a path no family covers is the index's public 404.
/// For tests and the fuzz targets; a component looks only at its own family.
pub fn resolve(method: &Method, path: &str) -> Resolved {
    let all: Vec<Resolved> = ALL.iter().filter_map(|f| f.resolve(method, path)).collect();
    let found = all.iter().find(|r| r.problem.is_none());
    // A family that knows the path's shape (a 400 for a bad name) speaks
    // before one that only owns the prefix (a 404): Spin, too, hands the
    // request to the longest route that matches.
    let shaped = || {
        all.iter().find(|r| {
            r.problem
                .as_ref()
                .is_some_and(|p| p.status != http::StatusCode::NOT_FOUND)
        })
    };
    found
        .or_else(shaped)
        .or(all.first())
        .cloned()
        .unwrap_or_else(|| Resolved {
            component: index::FAMILY.component,
            rule: Rule::PUBLIC,
            subject: None,
            problem: Some(unrouted(path)),
            params: None,
        })
}

impl<R> Described for Family<R> {
    fn component(&self) -> &'static str {
        self.component
    }
    fn summary(&self) -> &'static str {
        self.summary
    }
    fn spin_routes(&self) -> &'static [&'static str] {
        self.spin_routes
    }
    fn aliases(&self) -> &'static [(&'static str, &'static str)] {
        self.aliases
    }
    fn variables(&self) -> Vec<&'static str> {
        self.variables
            .iter()
            .flat_map(|g| g.iter().copied())
            .collect()
    }
    fn profile(&self) -> Profile {
        self.profile
    }
    fn endpoints(&self) -> Vec<&'static Endpoint> {
        self.rows.iter().map(|r| &r.endpoint).collect()
    }
    fn resolve(&'static self, method: &Method, path: &str) -> Option<Resolved> {
        let (rule, subject, problem, params) = match self.find(method, path) {
            Lookup::Found(f) => (f.endpoint.rule, f.subject, None, Some(f.params)),
            Lookup::Refused(p, rule) => (rule, None, Some(p), None),
            Lookup::Unrouted => return None,
        };
        Some(Resolved {
            component: self.component,
            rule,
            subject,
            problem,
            params,
        })
    }
}

/// Every family, in spin.toml's order (the catch-all `index` last).
pub static ALL: [&dyn Described; 13] = [
    &ingest::FAMILY,
    &discovery::FAMILY,
    &dump::FAMILY,
    &browse::FAMILY,
    &archive::FAMILY,
    &retention::FAMILY,
    &query::FAMILY,
    &clusters::FAMILY,
    &collect::FAMILY,
    &tail::FAMILY,
    &token::FAMILY,
    &ui::FAMILY,
    &index::FAMILY,
];

/// Every family's component, in [`ALL`]'s order, read from the tables'
/// fields rather than through [`Described`]: a caller that needs only the
/// names (the metrics report) then links no family's parser. Through the
/// trait object it linked all twelve `resolve`s, ~70 KB of the `collect`
/// component (`twiggy top` on its core module).
pub static COMPONENTS: [&str; 13] = [
    ingest::FAMILY.component,
    discovery::FAMILY.component,
    dump::FAMILY.component,
    browse::FAMILY.component,
    archive::FAMILY.component,
    retention::FAMILY.component,
    query::FAMILY.component,
    clusters::FAMILY.component,
    collect::FAMILY.component,
    tail::FAMILY.component,
    token::FAMILY.component,
    ui::FAMILY.component,
    index::FAMILY.component,
];

/// What every family that stores or reads logs behind the gate reads:
/// the request bounds, the gate's keys and limits, and where bytes live.
pub const BASE: [&[&str]; 3] = [vars::GUARD, vars::GATE, vars::STORAGE];

/// One concrete request of every row of every family: its component, its
/// method and its path, with a sample value in every parameter (the values
/// [`SAMPLE_NAMES`] lists where any name goes). What the spin.toml, OpenAPI
/// and hostile-input checks walk.
#[cfg(any(test, feature = "fuzzing"))]
pub fn examples() -> Vec<(&'static str, Verb, String)> {
    let mut out = Vec::new();
    for family in ALL {
        for endpoint in family.endpoints() {
            out.push((family.component(), endpoint.verb, example(endpoint.path)));
        }
        for (alias, canonical) in family.aliases() {
            for endpoint in family.endpoints() {
                if let Some(rest) = endpoint.path.strip_prefix(canonical) {
                    out.push((
                        family.component(),
                        endpoint.verb,
                        example(&format!("{alias}{rest}")),
                    ));
                }
            }
        }
    }
    out
}

/// The sample value of each parameter in [`examples`] that takes any name.
#[cfg(any(test, feature = "fuzzing"))]
pub const SAMPLE_NAMES: [&str; 11] = [
    "t", "A", "F", "E", "C", "T", "stdout", "unit", "j", "shop", "x1",
];

/// `template` with a sample value in each parameter.
#[cfg(any(test, feature = "fuzzing"))]
pub fn example(template: &str) -> String {
    let segments: Vec<&str> = template
        .split('/')
        .map(|seg| match seg {
            ":task" => "t",
            ":agent_id" => "A",
            ":framework_id" => "F",
            ":executor_id" => "E",
            ":container_id" => "C",
            ":task_id" => "T",
            ":filename" => "stdout",
            ":component" => "unit",
            ":job_id" => "j",
            ":app" => "shop",
            ":group_id" => "5f0c8a2be4b0a1d2c3e4f5a6",
            ":process" => "4242",
            ":name" => "app",
            "..." => "app.js",
            s if s.starts_with(':') => "x1",
            s => s,
        })
        .collect();
    segments.join("/")
}

#[cfg(test)]
mod tests;
