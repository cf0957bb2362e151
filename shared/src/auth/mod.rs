//! Authentication, authorization and rate limits: the gate every request of
//! every component passes before its handler runs (`crate::spin::serve`).
//!
//! A log API leaks secrets if it leaks anything, so the gate is closed by
//! default: with no key configured every request is a 401 saying how to
//! configure one, and a path that is no route of its family is for
//! `dcos:superuser` only (`crate::routes`). In order, a request is:
//! 1. a CORS preflight? answered here (it carries no credentials and reveals nothing);
//! 2. authenticated ([`jwt`], [`apikey`] (also as Basic's password), [`digest`]
//!    or [`urltoken`]), else 401 with `WWW-Authenticate`;
//! 3. authorized by its route's [`Rule`] (from the family's table), else 403
//!    naming the permission;
//! 4. counted against its caller's rate limit ([`ratelimit`]), else 429;
//!
//! all before a byte of the body is read.

pub mod apikey;
pub mod digest;
pub mod jwt;
pub mod ratelimit;
pub mod urltoken;

use crate::config::{Config, ConfigError};
use crate::model::sandbox::Sandboxes;
use crate::routes::{Rule, SUPERUSER, Subject};
use crate::store::Store;
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;
use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use ratelimit::Verdict;
use std::rc::Rc;
use urltoken::Scope;

pub use crate::config::{AuthSettings as Settings, MIN_SECRET_BYTES, URL_TOKEN_MAX_TTL_S};

impl Settings {
    /// The key URL tokens are signed with, if URL tokens are configured.
    pub fn url_token_key(&self) -> Result<Option<Vec<u8>>, ConfigError> {
        Ok(urltoken::key(
            self.url_token_secret()?,
            self.hs256_secret()?,
        ))
    }
}

/// Who passed the gate, and what they may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The rate-limit and follower-slot key: `user:<uid>`, or `ip:<address>`
    /// for URL-token holders, who have no user id.
    pub caller: String,
    /// What the credential allows, checked against each route's [`Rule`].
    pub grant: Grant,
}

/// Where a caller's rights come from: named permissions, or the one scope a
/// URL token was signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// From a JWT or an API key.
    Permissions(Vec<String>),
    /// From a URL token: reads within this scope only.
    Url(Scope),
}

/// What the gate decided for a request that may proceed.
#[derive(Debug)]
pub enum Gate {
    /// A CORS preflight: answered without running the handler.
    Preflight,
    /// Run the handler, then add these headers (the rate-limit state).
    Pass(Vec<(HeaderName, String)>),
}

impl Gate {
    /// Answers the request: the preflight, or the handler's response
    /// (`answer`) with the gate's headers.
    pub fn run(self, answer: impl FnOnce() -> Response) -> Response {
        match self {
            Gate::Preflight => preflight(),
            Gate::Pass(headers) => {
                let mut response = answer();
                for (name, value) in headers {
                    if let Ok(v) = HeaderValue::from_str(&value) {
                        response.headers.insert(name, v);
                    }
                }
                response
            }
        }
    }
}

/// The gate: see the module docs. `rule` is the request's route's (or, for
/// a path that is no route, what it falls under), `subject` what a URL token
/// must cover. On success the request carries its caller.
pub fn admit(
    req: &mut Request,
    rule: &Rule,
    subject: Option<&Subject>,
    config: &Config,
    store: &Rc<Store>,
) -> Result<Gate, Problem> {
    if req.method == Method::OPTIONS
        && req
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return Ok(Gate::Preflight);
    }
    if rule.public {
        return Ok(Gate::Pass(Vec::new()));
    }
    let now_ms = crate::util::clock::now_micros() / 1_000;
    let principal = authenticate(req, config.auth(), now_ms / 1_000)?;
    authorize(&principal, rule, subject, req, store)?;
    req.caller = Some(principal.caller.clone());

    let limit = config.rate_limit(rule.class)?;
    if limit == 0 {
        return Ok(Gate::Pass(Vec::new()));
    }
    let verdict = ratelimit::check(
        store.meta.as_ref(),
        &principal.caller,
        rule.class,
        limit,
        now_ms,
    )?;
    let headers = rate_headers(&verdict);
    match verdict.retry_after {
        None => Ok(Gate::Pass(headers)),
        Some(secs) => {
            let mut p = Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests",
                format!(
                    "at most {limit} {} requests a minute per caller; retry in {secs} s",
                    class_name(rule.class)
                ),
            )
            .with("retry_after", secs)
            .with("limit", limit);
            for (name, value) in headers {
                p = p.with_header(name, value);
            }
            Err(p)
        }
    }
}

fn class_name(class: ratelimit::Class) -> &'static str {
    match class {
        ratelimit::Class::Standard => "standard",
        ratelimit::Class::Heavy => "heavy",
        ratelimit::Class::Ingest => "ingest",
        ratelimit::Class::Loki => "loki",
    }
}

fn rate_headers(v: &Verdict) -> Vec<(HeaderName, String)> {
    let h = HeaderName::from_static;
    vec![
        (h("ratelimit-limit"), v.limit.to_string()),
        (h("ratelimit-remaining"), v.remaining.to_string()),
        (h("ratelimit-reset"), v.reset.to_string()),
        (
            h("ratelimit-policy"),
            format!("{};w={}", v.limit, ratelimit::WINDOW_MS / 1_000),
        ),
    ]
}

/// `Access-Control-*` for a browser about to send credentials or a body.
fn preflight() -> Response {
    Response::new(StatusCode::NO_CONTENT)
        .header(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            "GET, HEAD, POST, PUT, PATCH, DELETE",
        )
        .header(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "authorization, content-type, accept, last-event-id, idempotency-key, range, if-range",
        )
        .header(header::ACCESS_CONTROL_MAX_AGE, "600")
}

const REALM: &str = "Bearer realm=\"spin-logs\"";

/// 401 for a request without credentials.
fn missing(detail: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "Unauthorized", detail)
        .with_header(header::WWW_AUTHENTICATE, REALM)
}

/// 401 for credentials that were given but not accepted. The refusal is
/// logged (a stale key or a skewed clock is the operator's to fix), with the
/// reason but never the credential.
fn rejected(detail: &str) -> Problem {
    rejected_because(detail, detail)
}

/// [`rejected`] when the log may say more than the client is told.
fn rejected_because(detail: &str, why: &str) -> Problem {
    let mut p = Problem::new(StatusCode::UNAUTHORIZED, "Unauthorized", detail).with_header(
        header::WWW_AUTHENTICATE,
        format!("{REALM}, error=\"invalid_token\", error_description=\"{detail}\""),
    );
    p.internal = Some(format!("credentials refused: {why}"));
    p
}

const HOW: &str = "send Authorization: Bearer <jwt> (or token=<jwt>), Authorization: ApiKey <key> \
                   (or Basic <uid>:<key>), Digest, or a ?token= URL token";

/// Who is asking, from the `Authorization` header or else a `?token=`.
/// With Digest key pairs configured, every 401 also offers Digest.
pub fn authenticate(req: &Request, settings: &Settings, now: u64) -> Result<Principal, Problem> {
    let result = authenticate_any(req, settings, now);
    match result {
        Err(mut p)
            if p.status == StatusCode::UNAUTHORIZED && !settings.digest_keys()?.is_empty() =>
        {
            let offered = p.headers.iter().any(|(_, v)| v.starts_with("Digest "));
            if !offered {
                for c in digest::challenges(settings.digest_keys()?, now, false) {
                    p = p.with_header(header::WWW_AUTHENTICATE, c);
                }
            }
            Err(p)
        }
        other => other,
    }
}

fn authenticate_any(req: &Request, settings: &Settings, now: u64) -> Result<Principal, Problem> {
    if !settings.configured()? {
        return Err(missing(
            "authentication is not configured on this server, so every request is refused: \
             set the variable auth_hs256_secret (or auth_rs256_public_key, auth_es256_public_key, \
             auth_api_keys); see docs/auth.md",
        ));
    }
    let mut values = req.headers.get_all(header::AUTHORIZATION).iter();
    let (first, second) = (values.next(), values.next());
    if second.is_some() {
        return Err(rejected("more than one Authorization header"));
    }
    if let Some(value) = first {
        let value = value
            .to_str()
            .map_err(|_| rejected("the Authorization header is not ASCII"))?
            .trim();
        let (scheme, sep, rest) = match value.find([' ', '=']) {
            Some(i) => (&value[..i], &value[i..=i], value[i + 1..].trim()),
            None => (value, "", ""),
        };
        return match (scheme.to_ascii_lowercase().as_str(), sep) {
            ("bearer", " ") => from_jwt(rest, settings, now),
            // DC/OS: `Authorization: token=<jwt>`.
            ("token", "=") => from_jwt(rest, settings, now),
            ("digest", " ") => from_digest(rest, req, settings, now),
            // dotnet-monitor's sample header spells the same key `MonitorApiKey`.
            ("apikey" | "monitorapikey", " ") => match apikey::find(settings.api_keys()?, rest) {
                Some(k) => Ok(Principal {
                    caller: format!("user:{}", k.uid),
                    grant: Grant::Permissions(k.permissions.clone()),
                }),
                None => Err(rejected("the API key is not valid")),
            },
            ("basic", " ") => from_basic(rest, settings),
            _ => Err(rejected(
                "unsupported Authorization scheme; use Bearer, token=, ApiKey, MonitorApiKey, Basic or Digest",
            )),
        };
    }
    let mut tokens = req.query.all("token");
    match (tokens.next(), tokens.next()) {
        (None, _) => Err(missing(&format!("credentials are required: {HOW}"))),
        (Some(_), Some(_)) => Err(rejected("more than one token parameter")),
        (Some(token), None) => from_url_token(token, req, settings, now),
    }
}

/// `Authorization: Basic base64(<uid>:<api key>)`, what Grafana Cloud-style
/// shippers send (Promtail's and Alloy's `basic_auth`, Fluent Bit's
/// `http_user`/`http_passwd`, Vector's `auth.strategy = "basic"`): the
/// password is an API key, and the user must be that key's uid, so a key
/// pasted under the wrong name is refused rather than guessed at.
fn from_basic(credentials: &str, settings: &Settings) -> Result<Principal, Problem> {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials)
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    let Some((user, key)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
        return Err(rejected(
            "the Basic credentials are not base64 of user:password",
        ));
    };
    match apikey::find(settings.api_keys()?, key) {
        Some(k) if k.uid == user => Ok(Principal {
            caller: format!("user:{}", k.uid),
            grant: Grant::Permissions(k.permissions.clone()),
        }),
        Some(_) => Err(rejected_because(
            "the Basic credentials are not valid",
            "Basic: the user is not the API key's uid",
        )),
        None => Err(rejected("the Basic credentials are not valid")),
    }
}

fn from_digest(
    credentials: &str,
    req: &Request,
    settings: &Settings,
    now: u64,
) -> Result<Principal, Problem> {
    let mut uri = req.path.clone();
    if !req.query.is_empty() {
        uri.push('?');
        uri.push_str(req.query.raw());
    }
    let keys = settings.digest_keys()?;
    match digest::verify(credentials, req.method.as_str(), &uri, keys, now) {
        Ok(k) => Ok(Principal {
            caller: format!("user:{}", k.uid),
            grant: Grant::Permissions(k.permissions.clone()),
        }),
        Err(digest::Refusal::Stale) => {
            let mut p = Problem::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "the Digest nonce expired; answer the fresh challenge",
            );
            for c in digest::challenges(keys, now, true) {
                p = p.with_header(header::WWW_AUTHENTICATE, c);
            }
            Err(p)
        }
        Err(digest::Refusal::Invalid(why)) => Err(rejected_because(
            "the Digest credentials are not valid",
            why,
        )),
    }
}

fn from_jwt(token: &str, settings: &Settings, now: u64) -> Result<Principal, Problem> {
    match jwt::verify(token, settings, now) {
        Ok(claims) => Ok(Principal {
            caller: format!("user:{}", claims.uid),
            grant: Grant::Permissions(claims.permissions),
        }),
        Err(jwt::JwtError::Expired) => Err(rejected("the token has expired")),
        Err(jwt::JwtError::NotYetValid) => Err(rejected("the token is not valid yet")),
        Err(jwt::JwtError::Invalid(why)) => Err(rejected_because(
            "the token is not valid",
            &format!("the token is not valid: {why}"),
        )),
        Err(jwt::JwtError::BadKey(why)) => Err(Problem::internal(why)),
    }
}

fn from_url_token(
    token: &str,
    req: &Request,
    settings: &Settings,
    now: u64,
) -> Result<Principal, Problem> {
    let key = settings
        .url_token_key()?
        .filter(|_| urltoken::looks_like(token));
    let Some(key) = key else {
        return Err(rejected("the URL token is not valid"));
    };
    match urltoken::verify(&key, token, now) {
        Ok((scope, _)) => Ok(Principal {
            caller: format!("ip:{}", req.client_ip()),
            grant: Grant::Url(scope),
        }),
        Err(urltoken::UrlTokenError::Expired) => Err(rejected("the URL token has expired")),
        Err(urltoken::UrlTokenError::Invalid) => Err(rejected("the URL token is not valid")),
    }
}

/// Whether `principal` may make this request: 403 naming what is missing.
pub fn authorize(
    principal: &Principal,
    rule: &Rule,
    subject: Option<&Subject>,
    req: &Request,
    store: &Rc<Store>,
) -> Result<(), Problem> {
    match &principal.grant {
        Grant::Permissions(perms) => {
            let has = |p: &str| perms.iter().any(|q| q == p);
            if has(SUPERUSER) || rule.any_of.iter().any(|p| has(p)) {
                return Ok(());
            }
            let needed: Vec<&str> = rule.any_of.iter().copied().chain([SUPERUSER]).collect();
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                format!("this route needs the permission {}", needed.join(" or ")),
            )
            .with("required_permissions", needed))
        }
        Grant::Url(scope) => {
            let read = matches!(req.method, Method::GET | Method::HEAD);
            if read && covers(scope, subject, store)? {
                return Ok(());
            }
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "this URL token grants reading one task's or app's logs (or one job's archive), and not this request",
            ))
        }
    }
}

/// Whether a URL token's scope covers a route's target.
fn covers(scope: &Scope, target: Option<&Subject>, store: &Rc<Store>) -> Result<bool, Problem> {
    Ok(match (scope, target) {
        (Scope::Task(id), Some(Subject::TaskQuery(q))) => q == id,
        (Scope::Task(id), Some(Subject::Agent(path))) => Sandboxes::new(store.clone())
            .task_for_route(path)?
            .is_some_and(|t| &t.id == id),
        (Scope::App(app), Some(Subject::App(a))) => a == app,
        (Scope::JobDownload(job), Some(Subject::JobDownload(j))) => j == job,
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes as policy;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn config() -> Config {
        let keys = serde_json::json!([{
            "sha256": apikey::hash("the-key"),
            "uid": "shipper",
            "permissions": [policy::INGEST],
        }])
        .to_string();
        Config::with(&[
            ("auth_hs256_secret", SECRET),
            ("auth_api_keys", &keys),
            ("rate_limit_standard", "2"),
        ])
    }

    /// The gate of `req`, with the rule and subject of its route.
    fn admit_req(req: &mut Request, config: &Config, store: &Rc<Store>) -> Result<Gate, Problem> {
        let r = crate::routes::resolve(&req.method, &req.path);
        admit(req, &r.rule, r.subject.as_ref(), config, store)
    }

    fn jwt(perms: &[&str]) -> String {
        let perms: Vec<String> = perms.iter().map(|p| p.to_string()).collect();
        let now = crate::util::clock::now_micros() / 1_000_000;
        jwt::sign_hs256(SECRET.as_bytes(), "alice", &perms, now, 60).unwrap()
    }

    fn admit_with(
        config: &Config,
        method: Method,
        path: &str,
        auth: Option<&str>,
    ) -> Result<Gate, Problem> {
        let store = Rc::new(Store::memory());
        let mut req = Request::new(method, path);
        if let Some(a) = auth {
            req = req.with_header("authorization", a);
        }
        admit_req(&mut req, config, &store)
    }

    fn status(r: Result<Gate, Problem>) -> u16 {
        match r {
            Ok(_) => 200,
            Err(p) => p.status.as_u16(),
        }
    }

    #[test]
    fn closed_without_configuration() {
        let p = admit_with(&Config::default(), Method::GET, "/logs", None).unwrap_err();
        assert_eq!(p.status, StatusCode::UNAUTHORIZED);
        assert!(p.detail.contains("auth_hs256_secret"), "{}", p.detail);
        assert_eq!(p.headers[0].0, header::WWW_AUTHENTICATE);
        // Even with what would be a valid token elsewhere.
        let t = format!("Bearer {}", jwt(&[SUPERUSER]));
        assert_eq!(
            status(admit_with(
                &Config::default(),
                Method::GET,
                "/logs",
                Some(&t)
            )),
            401
        );
    }

    #[test]
    fn schemes_and_permissions() {
        let c = config();
        let get = |path: &str, auth: Option<&str>| status(admit_with(&c, Method::GET, path, auth));
        assert_eq!(get("/logs", None), 401);
        let logs = jwt(&[policy::SYSTEM_LOGS]);
        assert_eq!(get("/logs", Some(&format!("Bearer {logs}"))), 200);
        assert_eq!(get("/logs", Some(&format!("token={logs}"))), 200);
        assert_eq!(get("/logs", Some(&format!("bearer  {logs}"))), 200);
        assert_eq!(get("/logs", Some(&format!("Basic {logs}"))), 401);
        assert_eq!(get("/logs", Some(&format!("tokenx {logs}"))), 401);
        let unknown = "/system/v1/logs/v2/follow/nope";
        assert_eq!(get(unknown, Some(&format!("Bearer {logs}"))), 403);
        let su = jwt(&[SUPERUSER]);
        assert_eq!(get(unknown, Some(&format!("Bearer {su}"))), 200);
        // Outside every family: public, whoever asks.
        assert_eq!(get("/nope", None), 200);
        assert_eq!(get("/nope", Some("Basic x")), 200);
        assert_eq!(get("/logs", Some("ApiKey the-key")), 403);
        assert_eq!(
            get("/logs", Some("MonitorApiKey the-key")),
            403,
            "the same key"
        );
        assert_eq!(
            status(admit_with(
                &c,
                Method::POST,
                "/system/v1/logs/v2/ingest/component",
                Some("ApiKey the-key")
            )),
            200
        );
        assert_eq!(get("/logs", Some("ApiKey wrong")), 401);
        let basic = |user_key: &str| {
            use base64::Engine;
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(user_key)
            )
        };
        let push = |auth: &str| {
            status(admit_with(
                &c,
                Method::POST,
                "/loki/api/v1/push",
                Some(auth),
            ))
        };
        assert_eq!(push(&basic("shipper:the-key")), 200, "uid and key");
        assert_eq!(get("/logs", Some(&basic("shipper:the-key"))), 403);
        assert_eq!(push(&basic("someone:the-key")), 401, "not the key's uid");
        assert_eq!(push(&basic(":the-key")), 401);
        assert_eq!(push(&basic("shipper:wrong")), 401);
        assert_eq!(push(&basic("shipper")), 401, "no colon");
        assert_eq!(push("Basic %%%"), 401);
        assert_eq!(
            push(&format!("basic  {}", &basic("shipper:the-key")[6..])),
            200,
            "the scheme is case-insensitive"
        );
        assert_eq!(get("/logs", Some("MonitorApiKey wrong")), 401);
        let p = admit_with(
            &c,
            Method::GET,
            "/logs",
            Some(&format!("Bearer {}", jwt(&[policy::INGEST]))),
        )
        .unwrap_err();
        assert_eq!(
            p.extra["required_permissions"],
            serde_json::json!([policy::SYSTEM_LOGS, SUPERUSER])
        );
    }

    #[test]
    fn rate_limit_headers_and_429() {
        let c = config();
        let store = Rc::new(Store::memory());
        let auth = format!("Bearer {}", jwt(&[SUPERUSER]));
        let call = || {
            let mut req = Request::new(Method::GET, "/logs").with_header("authorization", &auth);
            admit_req(&mut req, &c, &store)
        };
        let Ok(Gate::Pass(h)) = call() else { panic!() };
        assert!(
            h.iter()
                .any(|(n, v)| n == "ratelimit-remaining" && v == "1"),
            "{h:?}"
        );
        assert!(call().is_ok());
        let p = call().unwrap_err();
        assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(p.extra["retry_after"].as_u64().unwrap() >= 1);
        assert!(
            p.headers
                .iter()
                .any(|(n, v)| n == "ratelimit-remaining" && v == "0")
        );
    }

    #[test]
    fn url_tokens_read_their_scope_only() {
        let c = config();
        let key = c.auth().url_token_key().unwrap().unwrap();
        let now = crate::util::clock::now_micros() / 1_000_000;
        let t = urltoken::mint(&key, &Scope::App("shop".into()), now + 60);
        let get = |method: Method, path: &str| status(admit_with(&c, method, path, None));
        assert_eq!(
            get(Method::GET, &format!("/apps/shop/logs?n=5&token={t}")),
            200
        );
        assert_eq!(
            get(Method::HEAD, &format!("/apps/shop/logs?token={t}")),
            200
        );
        assert_eq!(
            get(Method::POST, &format!("/apps/shop/logs?token={t}")),
            403
        );
        assert_eq!(
            get(Method::GET, &format!("/apps/other/logs?token={t}")),
            403
        );
        assert_eq!(get(Method::GET, &format!("/logs?token={t}")), 403);
        let task = urltoken::mint(&key, &Scope::Task("web.1".into()), now + 60);
        assert_eq!(
            get(
                Method::GET,
                &format!("/system/v1/logs/v2/task/web.1?token={task}")
            ),
            200
        );
        assert_eq!(
            get(
                Method::GET,
                &format!("/system/v1/logs/v2/task/web?token={task}")
            ),
            403
        );
        // No such task at this agent route (nothing registered): not covered.
        assert_eq!(
            get(
                Method::GET,
                &format!(
                    "/system/v1/agent/A/logs/v2/task/frameworks/F/executors/web.1/runs/C/stdout?token={task}"
                )
            ),
            403
        );
        let old = urltoken::mint(&key, &Scope::Task("web.1".into()), now - 1);
        assert_eq!(
            get(
                Method::GET,
                &format!("/system/v1/logs/v2/task/web.1?token={old}")
            ),
            401
        );
        assert_eq!(
            get(
                Method::GET,
                "/system/v1/logs/v2/task/web.1?token=u1.abc.def"
            ),
            401
        );
        let two = format!("/system/v1/logs/v2/task/web.1?token={task}&token={task}");
        assert_eq!(get(Method::GET, &two), 401);
    }

    #[test]
    fn preflight_passes_without_credentials() {
        let store = Rc::new(Store::memory());
        let mut req = Request::new(Method::OPTIONS, "/logs")
            .with_header("access-control-request-method", "GET");
        let gate = admit_req(&mut req, &Config::default(), &store);
        let Ok(gate @ Gate::Preflight) = gate else {
            panic!("{gate:?}")
        };
        // Every method a route answers, PATCH (extending a job) included.
        let answer = gate.run(|| unreachable!("a preflight runs no handler"));
        let allowed = answer.headers["access-control-allow-methods"]
            .to_str()
            .unwrap();
        for m in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] {
            assert!(allowed.contains(m), "{allowed}");
        }
        let mut plain = Request::new(Method::OPTIONS, "/logs");
        assert!(admit_req(&mut plain, &config(), &store).is_err());
    }

    #[test]
    fn settings_refuse_weak_secrets_and_hide_values() {
        assert!(
            Config::with(&[("auth_hs256_secret", "short")])
                .auth()
                .hs256_secret()
                .is_err()
        );
        let c = Config::with(&[
            ("auth_hs256_secret", SECRET),
            ("auth_rs256_public_key", "  "),
        ]);
        let s = c.auth();
        assert!(s.configured().unwrap() && s.rs256_public_key().unwrap().is_none());
        assert_eq!(c.url_token_max_ttl_s().unwrap(), URL_TOKEN_MAX_TTL_S);
        assert!(!format!("{s:?}").contains(SECRET));
    }

    /// Every variable read is a host call: the gate reads the key the
    /// credential needs and the route's rate class, and a 401 the key that
    /// says auth is configured and the Digest keys its challenge needs.
    #[test]
    fn the_gate_reads_only_the_variables_it_needs() {
        let names = Rc::new(std::cell::RefCell::new(Vec::new()));
        let seen = names.clone();
        let c = Config::from_lookup(move |name| {
            seen.borrow_mut().push(name.to_owned());
            (name == "auth_hs256_secret").then(|| SECRET.to_owned())
        });
        let read = "/system/v1/agent/A/logs/v2/task/frameworks/F/executors/E/runs/R/stdout";
        let bearer = format!("Bearer {}", jwt(&[SUPERUSER]));
        admit_with(&c, Method::GET, read, Some(&bearer)).unwrap();
        assert_eq!(
            *names.borrow(),
            ["auth_hs256_secret", "rate_limit_standard"]
        );

        names.borrow_mut().clear();
        let c2 = Config::from_lookup({
            let seen = names.clone();
            move |name| {
                seen.borrow_mut().push(name.to_owned());
                (name == "auth_hs256_secret").then(|| SECRET.to_owned())
            }
        });
        assert_eq!(status(admit_with(&c2, Method::GET, read, None)), 401);
        assert_eq!(*names.borrow(), ["auth_hs256_secret", "auth_digest_keys"]);
    }
}
