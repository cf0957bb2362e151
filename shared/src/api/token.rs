//! Minting URL tokens (`token` component), for links that must work without
//! headers: a browser's `EventSource`, a URL pasted into a ticket.
//!
//! ```text
//! POST /system/v1/logs/v2/tokens   {"task": "<task id>", "ttl": 120}
//! POST /system/v1/logs/v2/tokens   {"app": "<app>"}
//! 201 {"token": "u1....", "expires_at": "...", "expires_in": 120,
//!      "task": "<task id>", "url": "/system/v1/logs/v2/task/<task id>?token=u1...."}
//! ```
//! The caller is authenticated and authorized by the gate (it needs
//! `dcos:adminrouter:ops:system-logs`). The token reads (GET/HEAD) that one
//! task's routes, or that app's `/apps/{app}/logs`, until it expires: `ttl`
//! seconds, 300 by default, at most `url_token_max_ttl_s`. See
//! [`crate::auth::urltoken`] for the format.

use crate::auth::urltoken::{self, Scope};
use crate::env::Env;
use crate::model::sandbox::Sandboxes;
use crate::routes::token::{FAMILY, Token};
use crate::web::message::{Request, Response};
use crate::web::path::{SEGMENT, validate_name};
use crate::web::problem::Problem;
use http::{Method, StatusCode, header};
use percent_encoding::utf8_percent_encode;
use serde::Deserialize;

pub use crate::routes::token::PATH;

/// Lifetime when the request names none (capped by `url_token_max_ttl_s`).
pub const DEFAULT_TTL_S: u64 = 300;

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MintRequest {
    task: Option<String>,
    app: Option<String>,
    ttl: Option<u64>,
}

/// The `token` component.
pub const API: super::Api<Token> = super::Api {
    family: &FAMILY,
    handle,
};

fn handle(route: Token, req: &Request, env: &Env) -> Result<Response, Problem> {
    match route {
        Token::Mint => mint_route(req, env),
        Token::AppLogsUrl { app } => app_logs_url(&app, req, env),
    }
}

fn url_key(env: &Env) -> Result<Vec<u8>, Problem> {
    env.config.auth().url_token_key()?.ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_IMPLEMENTED,
            "Not Implemented",
            "URL tokens are not configured on this server: set url_token_secret or auth_hs256_secret",
        )
    })
}

/// Where the client reached us, for absolute URLs: Spin's `spin-full-url`
/// (scheme and authority), else `Host` over plain HTTP.
fn origin(req: &Request) -> String {
    if let Some(full) = req.header("spin-full-url")
        && let Some((scheme, rest)) = full.split_once("://")
    {
        let authority = rest.split(['/', '?']).next().unwrap_or(rest);
        return format!("{scheme}://{authority}");
    }
    match req.header(header::HOST) {
        Some(host) => format!("http://{host}"),
        None => String::new(),
    }
}

/// Scalingo's "Application#logs": `{"app": {...}, "logs_url": ".../apps/{app}/logs?token=..."}`,
/// so a Scalingo client's two-step flow (ask for the URL, then GET it) works.
fn app_logs_url(app: &str, req: &Request, env: &Env) -> Result<Response, Problem> {
    if !matches!(req.method, Method::GET | Method::HEAD) {
        return Err(Problem::method_not_allowed("GET, HEAD"));
    }
    let key = url_key(env)?;
    let tasks = Sandboxes::new(env.store.clone()).labelled("app", app)?;
    if tasks.is_empty() {
        return Err(Problem::not_found(format!(
            "no app {app:?}: no task is labelled app={app:?}"
        )));
    }
    let ttl = DEFAULT_TTL_S.min(env.config.url_token_max_ttl_s()?);
    let now = crate::util::clock::now_micros() / 1_000_000;
    let token = urltoken::mint(&key, &Scope::App(app.to_owned()), now + ttl);
    let path = format!("/apps/{}/logs", utf8_percent_encode(app, SEGMENT));
    let containers: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
    let doc = serde_json::json!({
        "app": {"id": app, "name": app, "containers": containers},
        "logs_url": format!("{}{path}?token={token}", origin(req)),
        "expires_at": crate::read::format::rfc3339((now + ttl) * 1_000_000),
    });
    Ok(Response::json(StatusCode::OK, &doc).header(header::CACHE_CONTROL, "no-store"))
}

fn mint_route(req: &Request, env: &Env) -> Result<Response, Problem> {
    if req.method != Method::POST {
        return Err(Problem::method_not_allowed("POST"));
    }
    // {"task": "<id>"} or {"app": "<name>"}, optionally with "ttl".
    let body: MintRequest = req.json("token request")?;
    let key = url_key(env)?;
    let ttl = checked_ttl(env, body.ttl)?;
    let (scope, url) = match (body.task, body.app) {
        (Some(task), None) => {
            validate_name("task", &task)?;
            if Sandboxes::new(env.store.clone()).task(&task)?.is_none() {
                return Err(Problem::not_found(format!("no task has the id {task:?}")));
            }
            let url = format!(
                "/system/v1/logs/v2/task/{}",
                utf8_percent_encode(&task, SEGMENT)
            );
            (Scope::Task(task), url)
        }
        (None, Some(app)) => {
            validate_name("app", &app)?;
            // As for a task: a token for nothing that exists is a 404.
            if Sandboxes::new(env.store.clone())
                .labelled("app", &app)?
                .is_empty()
            {
                return Err(Problem::not_found(format!(
                    "no task is labelled app={app:?}"
                )));
            }
            let url = format!("/apps/{}/logs", utf8_percent_encode(&app, SEGMENT));
            (Scope::App(app), url)
        }
        _ => {
            return Err(Problem::bad_request(
                "name exactly one of \"task\" (a task id) or \"app\"",
            ));
        }
    };
    Ok(issue(&key, scope, ttl, &url))
}

/// `ttl` as asked (or the default), within `url_token_max_ttl_s`.
fn checked_ttl(env: &Env, asked: Option<u64>) -> Result<u64, Problem> {
    let max = env.config.url_token_max_ttl_s()?;
    let ttl = asked.unwrap_or(DEFAULT_TTL_S.min(max));
    if ttl == 0 || ttl > max {
        return Err(Problem::bad_param(
            "ttl",
            format!("ttl must be from 1 to {max} seconds"),
        ));
    }
    Ok(ttl)
}

/// The 201 that carries a fresh token for `scope`, and `url` with it.
fn issue(key: &[u8], scope: Scope, ttl: u64, url: &str) -> Response {
    let now = crate::util::clock::now_micros() / 1_000_000;
    let expires = now + ttl;
    let token = urltoken::mint(key, &scope, expires);
    let mut doc = serde_json::json!({
        "token": token,
        "expires_at": crate::read::format::rfc3339(expires * 1_000_000),
        "expires_in": ttl,
        "url": format!("{url}?token={token}"),
    });
    match scope {
        Scope::Task(t) => doc["task"] = t.into(),
        Scope::App(a) => doc["app"] = a.into(),
        Scope::JobDownload(j) => doc["job"] = j.into(),
    }
    Response::json(StatusCode::CREATED, &doc).header(header::CACHE_CONTROL, "no-store")
}

/// `POST .../logCollectionJobs/{job}/token` (`{"ttl": N}` or no body): a
/// URL token for that job's download, so a browser can save the archive
/// through a plain link, streaming to disk. The gate has checked the jobs
/// permission (the route is a jobs route); the token reads nothing else.
pub fn job_download(
    req: &Request,
    env: &Env,
    job: &str,
    download: &str,
) -> Result<Response, Problem> {
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct Body {
        ttl: Option<u64>,
    }
    let body: Body = req.json_or_default("token request (empty, or {\"ttl\": <seconds>})")?;
    let ttl = checked_ttl(env, body.ttl)?;
    let key = url_key(env)?;
    Ok(issue(
        &key,
        Scope::JobDownload(job.to_owned()),
        ttl,
        download,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::Value;

    fn env() -> Env {
        let env = Env {
            config: Config::with(&[("auth_hs256_secret", "0123456789abcdef0123456789abcdef")]),
            ..Env::memory()
        };
        let req = Request::new(
            Method::PUT,
            &format!("{}/tasks/web.1", crate::api::ingest::PREFIX),
        )
        .with_header("content-type", "application/json")
        .with_body(
            r#"{"name":"web","agent_id":"A","framework_id":"F","container_id":"C","labels":{"app":"my shop"}}"#,
        );
        let r = crate::api::ingest::API.call(req, &env);
        assert!(r.status.is_success(), "{:?}", r.into_bytes());
        env
    }

    fn mint(env: &Env, body: &str) -> (u16, Value) {
        let r = API.call(Request::new(Method::POST, PATH).with_body(body), env);
        let status = r.status.as_u16();
        (
            status,
            serde_json::from_slice(&r.into_bytes().unwrap()).unwrap(),
        )
    }

    #[test]
    fn mints_for_an_existing_task_or_app() {
        let env = env();
        let (status, doc) = mint(&env, r#"{"task":"web.1","ttl":60}"#);
        assert_eq!(status, 201, "{doc}");
        assert_eq!(doc["expires_in"], 60);
        let token = doc["token"].as_str().unwrap();
        assert_eq!(
            doc["url"],
            format!("/system/v1/logs/v2/task/web.1?token={token}")
        );
        let key = env.config.auth().url_token_key().unwrap().unwrap();
        let (scope, _) = urltoken::verify(&key, token, 0).unwrap();
        assert_eq!(scope, Scope::Task("web.1".into()));
        let (status, doc) = mint(&env, r#"{"app":"my shop"}"#);
        assert_eq!((status, &doc["expires_in"]), (201, &Value::from(300)));
        assert!(
            doc["url"]
                .as_str()
                .unwrap()
                .starts_with("/apps/my%20shop/logs?token=u1.")
        );
    }

    #[test]
    fn refuses_bad_requests() {
        let env = env();
        for (body, status) in [
            (r#"{"task":"nope"}"#, 404),
            (r#"{"app":"nope"}"#, 404),
            (r#"{"task":"web.1","app":"a"}"#, 400),
            ("{}", 400),
            (r#"{"task":"web.1","ttl":0}"#, 400),
            (r#"{"task":"web.1","ttl":601}"#, 400),
            (r#"{"task":"../x"}"#, 400),
            (r#"{"task":"web.1","scope":"all"}"#, 400),
            ("not json", 400),
        ] {
            assert_eq!(mint(&env, body).0, status, "{body}");
        }
        let r = API.call(Request::new(Method::GET, PATH), &env);
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
        let closed = Env::memory();
        assert_eq!(mint(&closed, r#"{"app":"a"}"#).0, 501);
    }
}
