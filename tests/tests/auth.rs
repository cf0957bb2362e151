//! End-to-end: authentication, the permission map, URL tokens and rate
//! limits, through the test host against the real components.
//!
//! For every route family: 401 without credentials (with `WWW-Authenticate`
//! and a problem body), 403 with the wrong permission, success with the right
//! one, and the superuser reaching all. Then the ways a credential can be
//! wrong (expired, not yet valid, wrongly signed, another algorithm's key),
//! RS256/ES256/API keys/DC/OS `token=`, URL tokens across the redirect chain
//! and after they expire, CORS preflights, and 429s under a concurrent burst.

mod common;

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use spin_logs_tests::{HostOptions, TestHost};
use std::time::Duration;

/// A cheap read that answers 200 (the journal has an entry) to system-logs.
const PROBE: &str = "/system/v1/logs/v2/component";
const INGEST_TASKS: &str = "/system/v1/logs/v2/ingest/tasks";
const FOLLOW: &str = "/system/v1/logs/v2/follow";

/// A host with short follows (they end by themselves, so a whole SSE body
/// can be read) and `extra` variables; tasks `web.1` (agent-a) and `pod.1`
/// (a pod task on agent-b), both of app `demo`, with a line each, and one
/// journal entry.
fn auth_host(extra: &[(&str, &str)]) -> TestHost {
    let mut variables = vec![
        ("tail_budget_ms".to_owned(), "300".to_owned()),
        ("keepalive_ms".to_owned(), "100".to_owned()),
    ];
    variables.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let host = host_with(HostOptions {
        variables,
        ..Default::default()
    });
    register(&host, "web.1", "agent-a", false);
    register(&host, "pod.1", "agent-b", true);
    assert_eq!(append(&host, "web.1", "stdout", b"web line\n").status, 200);
    assert_eq!(append(&host, "pod.1", "stdout", b"pod line\n").status, 200);
    let r = send(
        &host,
        "POST",
        "/system/v1/logs/v2/ingest/component",
        Some("application/x-ndjson"),
        br#"{"MESSAGE":"hello","_SYSTEMD_UNIT":"x.service"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    host
}

fn web() -> serde_json::Value {
    json!({"id": "web.1", "agent_id": "agent-a", "framework_id": "fw-1",
           "container_id": "web.1-container", "pod": false})
}

fn pod() -> serde_json::Value {
    json!({"id": "pod.1", "agent_id": "agent-b", "framework_id": "fw-1",
           "executor_id": "pod-executor", "container_id": "pod.1-container", "pod": true})
}

/// The agent route of `task` without the file: `.../runs/{c}[/tasks/{t}]`.
fn run_path(task: &serde_json::Value) -> String {
    let p = file_path(task, "x");
    p[..p.len() - 2].to_owned()
}

/// One request of a route family, and what it needs.
struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    /// A permission that passes.
    right: &'static str,
    /// A permission that does not.
    wrong: &'static str,
    /// The status a permitted caller gets.
    ok: u16,
}

fn cases() -> Vec<Case> {
    let case = |name, method, path: String, right, wrong, ok| Case {
        name,
        method,
        path,
        content_type: None,
        body: Vec::new(),
        right,
        wrong,
        ok,
    };
    let with_body = |mut c: Case, ct, body: &[u8]| {
        c.content_type = Some(ct);
        c.body = body.to_vec();
        c
    };
    let stdout = file_path(&web(), "stdout");
    vec![
        with_body(
            case(
                "ingest: register",
                "PUT",
                format!("{INGEST_TASKS}/web.1"),
                INGEST_PERM,
                SYSTEM_LOGS,
                200,
            ),
            "application/json",
            json!({"name": "web.1-name", "agent_id": "agent-a", "framework_id": "fw-1",
                   "container_id": "web.1-container", "labels": {"app": "demo"}})
            .to_string()
            .as_bytes(),
        ),
        with_body(
            case(
                "ingest: append",
                "POST",
                format!("{INGEST_TASKS}/web.1/files/stdout"),
                INGEST_PERM,
                NO_PERMISSION,
                200,
            ),
            "text/plain",
            b"more\n",
        ),
        with_body(
            case(
                "ingest: journal",
                "POST",
                "/system/v1/logs/v2/ingest/component".into(),
                INGEST_PERM,
                AGENT,
                200,
            ),
            "application/x-ndjson",
            br#"{"MESSAGE":"m"}"#,
        ),
        case(
            "ingest: read metadata",
            "GET",
            format!("{INGEST_TASKS}/web.1"),
            SYSTEM_LOGS,
            AGENT,
            200,
        ),
        case(
            "ingest: read metadata (shipper)",
            "GET",
            format!("{INGEST_TASKS}/web.1"),
            INGEST_PERM,
            JOBS,
            200,
        ),
        case(
            "discovery",
            "GET",
            "/system/v1/logs/v2/task/web.1".into(),
            SYSTEM_LOGS,
            AGENT,
            303,
        ),
        case(
            "discovery: browse",
            "GET",
            "/system/v1/logs/v2/task/web.1/browse".into(),
            SYSTEM_LOGS,
            INGEST_PERM,
            303,
        ),
        case(
            "component dump",
            "GET",
            "/system/v1/logs/v2/component".into(),
            SYSTEM_LOGS,
            AGENT,
            200,
        ),
        case(
            "component dump: unit",
            "GET",
            "/system/v1/logs/v2/component/x".into(),
            SYSTEM_LOGS,
            INGEST_PERM,
            200,
        ),
        case("agent dump", "GET", stdout.clone(), AGENT, SYSTEM_LOGS, 200),
        case(
            "agent dump: pod",
            "GET",
            file_path(&pod(), "stdout"),
            AGENT,
            SYSTEM_LOGS,
            200,
        ),
        case(
            "browse",
            "GET",
            format!("{}/files/browse", run_path(&web())),
            AGENT,
            SYSTEM_LOGS,
            200,
        ),
        case(
            "download",
            "GET",
            format!("{stdout}/download"),
            AGENT,
            SYSTEM_LOGS,
            200,
        ),
        case(
            "follow: agent file (agent)",
            "GET",
            format!("{FOLLOW}{stdout}"),
            AGENT,
            INGEST_PERM,
            200,
        ),
        case(
            "follow: agent file (system-logs)",
            "GET",
            format!("{FOLLOW}{stdout}"),
            SYSTEM_LOGS,
            JOBS,
            200,
        ),
        case(
            "follow: component",
            "GET",
            format!("{FOLLOW}/system/v1/logs/v2/component"),
            SYSTEM_LOGS,
            AGENT,
            200,
        ),
        case(
            "scalingo app logs",
            "GET",
            "/apps/demo/logs?n=5".into(),
            SYSTEM_LOGS,
            AGENT,
            200,
        ),
        case(
            "dotnet logs",
            "GET",
            "/logs?durationSeconds=0".into(),
            SYSTEM_LOGS,
            INGEST_PERM,
            204,
        ),
        with_body(
            case(
                "token mint",
                "POST",
                "/system/v1/logs/v2/tokens".into(),
                SYSTEM_LOGS,
                AGENT,
                201,
            ),
            "application/json",
            br#"{"task":"web.1","ttl":60}"#,
        ),
    ]
}

fn call(host: &TestHost, c: &Case, auth: Option<&str>) -> Reply {
    send_as(host, c.method, &c.path, auth, &[], c.content_type, &c.body)
}

#[test]
fn every_route_needs_credentials_and_its_permission() {
    let host = auth_host(&[]);
    for c in cases() {
        let route = Route {
            method: c.method,
            path: &c.path,
            content_type: c.content_type,
            body: &c.body,
        };
        assert_guarded(&host, &route, c.right, c.wrong, c.ok);
    }
}

#[test]
fn unknown_paths_are_for_the_superuser_only() {
    let host = auth_host(&[]);
    // Routed to a component (the tail's /follow/... wildcard), known to no line
    // of the permission map.
    let path = format!("{FOLLOW}/somewhere/else");
    let r = get_as(
        &host,
        &path,
        Some(&bearer(&[SYSTEM_LOGS, AGENT, INGEST_PERM, JOBS])),
    );
    let p = r.problem(403);
    assert_eq!(p["required_permissions"], json!([SUPERUSER]));
    assert_eq!(get_as(&host, &path, Some(&superuser())).status, 404);
    unauthorized(&get_as(&host, &path, None));
}

#[test]
fn with_no_key_configured_everything_is_refused() {
    // Exactly spin.toml's defaults: no secret, no public key, no API key.
    let host = bare_host(HostOptions::default());
    for c in cases() {
        for auth in [None, Some(superuser())] {
            let r = call(&host, &c, auth.as_deref());
            let p = unauthorized(&r);
            assert!(
                p["detail"].as_str().unwrap().contains("auth_hs256_secret"),
                "{}: the problem says how to configure: {p}",
                c.name
            );
        }
    }
    // Nothing was written by the ingest cases either.
    assert_eq!(stored_rows(host.state_dir()), 0);
}

#[test]
fn bad_jwts_are_refused() {
    let host = auth_host(&[]);
    let path = PROBE;
    let now = now_secs();
    let ok = |auth: &str| get_as(&host, path, Some(auth)).status;
    let refused = |auth: &str| {
        let r = get_as(&host, path, Some(auth));
        unauthorized(&r);
        let challenge = r.header("www-authenticate").unwrap().to_owned();
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        r.json()["detail"].as_str().unwrap().to_owned()
    };
    let su = [SUPERUSER];

    // Expired an hour ago; expired 30 s ago is within the 60 s leeway.
    let expired = token_at("tester", &su, now - 7_200, 3_600);
    assert_eq!(
        refused(&format!("Bearer {expired}")),
        "the token has expired"
    );
    assert_eq!(
        ok(&format!("Bearer {}", token_at("tester", &su, now - 90, 60))),
        200
    );

    // Signed with another secret, or tampered with.
    let forged = {
        let claims = json!({"uid": "tester", "permissions": su, "exp": now + 600});
        let key = EncodingKey::from_secret(b"not the server's secret, but as long");
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
    };
    assert_eq!(
        refused(&format!("Bearer {forged}")),
        "the token is not valid"
    );
    let good = token(&su);
    let (head, sig) = good.rsplit_once('.').unwrap();
    let flipped = format!(
        "{head}.{}{}",
        if sig.starts_with('A') { "B" } else { "A" },
        &sig[1..]
    );
    refused(&format!("Bearer {flipped}"));

    // Not valid yet; no expiry; no user; unsigned.
    let hs = |claims: serde_json::Value| {
        let key = EncodingKey::from_secret(SECRET.as_bytes());
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
    };
    let early = hs(json!({"uid": "t", "permissions": su, "exp": now + 900, "nbf": now + 600}));
    assert_eq!(
        refused(&format!("Bearer {early}")),
        "the token is not valid yet"
    );
    refused(&format!(
        "Bearer {}",
        hs(json!({"uid": "t", "permissions": su}))
    ));
    refused(&format!(
        "Bearer {}",
        hs(json!({"permissions": su, "exp": now + 60}))
    ));
    let none = format!(
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
        base64_url(&json!({"uid": "t", "permissions": su, "exp": now + 60}).to_string())
    );
    refused(&format!("Bearer {none}"));
    refused("Bearer ");
    refused("Basic dXNlcjpwYXNz");

    // `sub` stands in for `uid`; DC/OS's `token=` form works like Bearer.
    let sub = hs(json!({"sub": "svc", "permissions": su, "exp": now + 60}));
    assert_eq!(ok(&format!("Bearer {sub}")), 200);
    assert_eq!(ok(&format!("token={}", token(&su))), 200);
}

fn base64_url(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in s.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[test]
fn rs256_and_es256_tokens_verify_with_public_keys() {
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    use rsa::pkcs1::EncodeRsaPrivateKey;

    let rng = &mut rand_core::OsRng;
    let ec = p256::SecretKey::random(rng);
    let ec_other = p256::SecretKey::random(rng);
    let rsa = rsa::RsaPrivateKey::new(rng, 2048).expect("RSA key");
    let rsa_other = rsa::RsaPrivateKey::new(rng, 2048).expect("RSA key");
    let ec_pem = ec.public_key().to_public_key_pem(LineEnding::LF).unwrap();
    let rsa_pem = rsa
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let ec_key =
        |k: &p256::SecretKey| EncodingKey::from_ec_der(k.to_pkcs8_der().unwrap().as_bytes());
    let rsa_key =
        |k: &rsa::RsaPrivateKey| EncodingKey::from_rsa_der(k.to_pkcs1_der().unwrap().as_bytes());

    // The RSA key as configured through an env file: on one line with `\n`s.
    let rsa_one_line = rsa_pem.replace('\n', "\\n");
    let host = auth_host(&[
        ("auth_es256_public_key", &ec_pem),
        ("auth_rs256_public_key", &rsa_one_line),
    ]);
    let claims = json!({"uid": "svc", "permissions": [SYSTEM_LOGS], "exp": now_secs() + 300});
    let sign =
        |alg, key: &EncodingKey| jsonwebtoken::encode(&Header::new(alg), &claims, key).unwrap();
    let status = |token: &str| get_as(&host, PROBE, Some(&format!("Bearer {token}"))).status;

    assert_eq!(status(&sign(Algorithm::ES256, &ec_key(&ec))), 200);
    assert_eq!(status(&sign(Algorithm::RS256, &rsa_key(&rsa))), 200);
    assert_eq!(status(&sign(Algorithm::ES256, &ec_key(&ec_other))), 401);
    assert_eq!(status(&sign(Algorithm::RS256, &rsa_key(&rsa_other))), 401);
    // Algorithm confusion: HS256 "signed" with the public key as the secret.
    for pem in [&ec_pem, &rsa_pem] {
        let key = EncodingKey::from_secret(pem.as_bytes());
        assert_eq!(status(&sign(Algorithm::HS256, &key)), 401);
    }
    // Other algorithms are not accepted at all.
    let es384 = format!(
        "{}.{}.AAAA",
        base64_url(r#"{"alg":"ES384","typ":"JWT"}"#),
        base64_url(&claims.to_string())
    );
    assert_eq!(status(&es384), 401);
    // The HS256 secret still works beside them.
    assert_eq!(
        get_as(&host, PROBE, Some(&bearer(&[SYSTEM_LOGS]))).status,
        200
    );
}

/// `auth_api_keys` holding `key` for uid `shipper`, with the ingest permission.
fn shipper_key_entry(key: &str) -> String {
    json!([{"sha256": spin_logs::auth::apikey::hash(key), "uid": "shipper",
            "permissions": [INGEST_PERM]}])
    .to_string()
}

#[test]
fn api_keys_are_checked_against_stored_hashes() {
    let key = "slk_a-long-random-shipper-key-for-the-tests";
    let entry = shipper_key_entry(key);
    let host = auth_host(&[("auth_api_keys", &entry)]);
    let auth = format!("ApiKey {key}");
    let r = send_as(
        &host,
        "POST",
        &format!("{INGEST_TASKS}/web.1/files/stdout"),
        Some(&auth),
        &[],
        Some("text/plain"),
        b"shipped\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // The key grants ingest, not reads.
    get_as(&host, &file_path(&web(), "stdout"), Some(&auth)).problem(403);
    // A wrong key, or the stored hash itself, is refused.
    let hash = spin_logs::auth::apikey::hash(key);
    for wrong in [
        format!("ApiKey {key}x"),
        format!("ApiKey {hash}"),
        "ApiKey ".into(),
    ] {
        let r = send_as(
            &host,
            "POST",
            &format!("{INGEST_TASKS}/web.1/files/stdout"),
            Some(&wrong),
            &[],
            Some("text/plain"),
            b"x\n",
        );
        unauthorized(&r);
    }
    let read = get(&host, &file_path(&web(), "stdout"));
    assert_eq!(read.text(), "web line\nshipped\n");
}

/// Follows redirects by hand, checking each `Location` keeps the token.
fn follow_redirects(
    host: &TestHost,
    mut path: String,
    headers: &[(&str, &str)],
    token: &str,
) -> Reply {
    for _ in 0..5 {
        let r = send_as(host, "GET", &path, None, headers, None, b"");
        if !(300..400).contains(&r.status) {
            return r;
        }
        let location = r.header("location").expect("location").to_owned();
        assert!(location.contains(&format!("token={token}")), "{location}");
        path = location;
    }
    panic!("too many redirects");
}

#[test]
fn a_url_token_reads_its_task_only_until_it_expires() {
    let host = auth_host(&[]);
    let token = url_token(&host, "web.1", 300);
    let q = format!("token={token}");

    // Discovery -> 303 -> agent read, the token carried along.
    let r = follow_redirects(
        &host,
        format!("/system/v1/logs/v2/task/web.1/file/stdout?{q}"),
        &[],
        &token,
    );
    assert_eq!((r.status, r.text().as_str()), (200, "web line\n"));
    // ... and with Accept: text/event-stream, on through the 307 to the tail.
    let sse = [("accept", "text/event-stream")];
    let r = follow_redirects(
        &host,
        format!("/system/v1/logs/v2/task/web.1?cursor=BEG&{q}"),
        &sse,
        &token,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("web line"), "{}", r.text());
    // Every read route of the task.
    let stdout = file_path(&web(), "stdout");
    for path in [
        format!("{}/files/browse", run_path(&web())),
        format!("{stdout}/download"),
        format!("{FOLLOW}{stdout}"),
        "/system/v1/logs/v2/task/web.1/browse".into(),
    ] {
        let r = get_as(&host, &format!("{path}?{q}"), None);
        assert!(
            r.status == 200 || r.status == 303,
            "{path}: {} {}",
            r.status,
            r.text()
        );
    }
    // HEAD reads too.
    let r = send_as(
        &host,
        "HEAD",
        &format!("{stdout}/download?{q}"),
        None,
        &[],
        None,
        b"",
    );
    assert_eq!(r.status, 200);

    // Not another task, nor another kind of route, nor a write.
    for path in [
        file_path(&pod(), "stdout"),
        "/system/v1/logs/v2/task/pod.1".into(),
        "/system/v1/logs/v2/task/web".into(), // a name or partial id: not the exact id
        format!("{FOLLOW}{}", file_path(&pod(), "stdout")),
        "/system/v1/logs/v2/component".into(),
        "/apps/demo/logs".into(),
        "/logs".into(),
        format!("{INGEST_TASKS}/web.1"),
    ] {
        get_as(&host, &format!("{path}?{q}"), None).problem(403);
    }
    let r = send_as(
        &host,
        "POST",
        &format!("{INGEST_TASKS}/web.1/files/stdout?{q}"),
        None,
        &[],
        Some("text/plain"),
        b"x\n",
    );
    r.problem(403);
    let r = send_as(
        &host,
        "POST",
        &format!("/system/v1/logs/v2/tokens?{q}"),
        None,
        &[],
        Some("application/json"),
        br#"{"task":"web.1"}"#,
    );
    r.problem(403);
    // A tampered token is not a token.
    let tampered = format!("{}x", &token[..token.len() - 1]);
    unauthorized(&get_as(&host, &format!("{stdout}?token={tampered}"), None));

    // A short-lived one works, then stops once expired (valid for at least
    // two whole seconds after minting: expiry is in whole seconds).
    let short = url_token(&host, "web.1", 3);
    let minted = std::time::Instant::now();
    let r = get_as(&host, &format!("{stdout}?token={short}"), None);
    assert_eq!(r.status, 200, "{}", r.text());
    std::thread::sleep(Duration::from_secs(4).saturating_sub(minted.elapsed()));
    let r = get_as(&host, &format!("{stdout}?token={short}"), None);
    let p = unauthorized(&r);
    assert_eq!(p["detail"], "the URL token has expired");
}

#[test]
fn url_tokens_for_apps_and_who_may_mint_them() {
    let host = auth_host(&[]);
    let mint = |auth: &str, body: serde_json::Value| {
        send_as(
            &host,
            "POST",
            "/system/v1/logs/v2/tokens",
            Some(auth),
            &[],
            Some("application/json"),
            body.to_string().as_bytes(),
        )
    };
    let r = mint(&bearer(&[SYSTEM_LOGS]), json!({"app": "demo"}));
    assert_eq!(r.status, 201, "{}", r.text());
    let doc = r.json();
    assert_eq!(doc["expires_in"], 300);
    let url = doc["url"].as_str().unwrap();
    let token = doc["token"].as_str().unwrap();
    let r = get_as(&host, url, None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().contains("web line") && r.text().contains("pod line"),
        "{}",
        r.text()
    );
    get_as(&host, &format!("/apps/other/logs?token={token}"), None).problem(403);
    get_as(
        &host,
        &format!("/system/v1/logs/v2/task/web.1?token={token}"),
        None,
    )
    .problem(403);

    // Minting needs system-logs; the lifetime is capped; the task must exist.
    mint(&bearer(&[AGENT, INGEST_PERM]), json!({"task": "web.1"})).problem(403);
    mint(
        &bearer(&[SYSTEM_LOGS]),
        json!({"task": "web.1", "ttl": 601}),
    )
    .problem(400);
    mint(&bearer(&[SYSTEM_LOGS]), json!({"task": "nope"})).problem(404);
}

#[test]
fn cors_preflight_is_answered_without_credentials() {
    let host = auth_host(&[]);
    let r = send_as(
        &host,
        "OPTIONS",
        &file_path(&web(), "stdout"),
        None,
        &[
            ("origin", "http://viewer.example"),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "authorization"),
        ],
        None,
        b"",
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(
        r.header("access-control-allow-headers")
            .unwrap()
            .contains("authorization")
    );
    assert!(r.body.is_empty());
    // Any other OPTIONS is a request like the rest.
    unauthorized(&send_as(
        &host,
        "OPTIONS",
        &file_path(&web(), "stdout"),
        None,
        &[],
        None,
        b"",
    ));
    // Browsers may read what a client needs from the answers.
    let r = get_as(&host, "/logs", None);
    let exposed = r.header("access-control-expose-headers").unwrap();
    for h in ["www-authenticate", "ratelimit-remaining", "retry-after"] {
        assert!(exposed.contains(h), "{exposed}");
    }
}

#[test]
fn rate_limits_count_per_caller_with_headers_and_429s() {
    let host = auth_host(&[
        ("rate_limit_standard", "100"),
        ("rate_limit_heavy", "10"),
        ("rate_limit_ingest", "20"),
    ]);
    let path = "/system/v1/logs/v2/task/web.1";
    let alice = format!(
        "Bearer {}",
        token_at("alice", &[SYSTEM_LOGS], now_secs(), 600)
    );

    let r = get_as(&host, path, Some(&alice));
    assert_eq!(r.status, 303);
    assert_eq!(r.header("ratelimit-limit"), Some("100"));
    assert_eq!(r.header("ratelimit-remaining"), Some("99"));
    assert_eq!(r.header("ratelimit-policy"), Some("100;w=60"));
    let reset: u64 = r.header("ratelimit-reset").unwrap().parse().unwrap();
    assert!((1..=60).contains(&reset), "{reset}");

    // A concurrent burst from one caller: served within a few percent of the limit.
    let replies = burst(&host, path, &alice, 8, 200);
    let served = replies.iter().filter(|r| r.status == 303).count() + 1;
    let refused: Vec<&Reply> = replies.iter().filter(|r| r.status == 429).collect();
    assert_eq!(served + refused.len(), 201, "only 303s and 429s");
    eprintln!("burst: {served} served, {} refused", refused.len());
    assert!(
        (97..=103).contains(&served),
        "served {served} of a limit of 100"
    );
    let r = refused[0];
    let p = r.problem(429);
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=120).contains(&retry), "{retry}");
    assert_eq!(p["retry_after"], retry);
    assert_eq!(r.header("ratelimit-remaining"), Some("0"));
    assert_eq!(r.header("ratelimit-limit"), Some("100"));

    // Another caller has its own quota; the same user with another token does
    // not (at most a unit or two freed since, if a window just rolled over).
    let bob = format!(
        "Bearer {}",
        token_at("bob", &[SYSTEM_LOGS], now_secs(), 600)
    );
    let r = get_as(&host, path, Some(&bob));
    assert_eq!(
        (r.status, r.header("ratelimit-remaining")),
        (303, Some("99"))
    );
    let alice_again = format!(
        "Bearer {}",
        token_at("alice", &[SYSTEM_LOGS], now_secs(), 900)
    );
    let r = get_as(&host, path, Some(&alice_again));
    let remaining: u64 = r.header("ratelimit-remaining").unwrap().parse().unwrap();
    assert!(
        r.status == 429 || remaining <= 2,
        "{} {remaining}",
        r.status
    );

    // Ingest has its own class and limit.
    let shipper = format!(
        "Bearer {}",
        token_at("shipper", &[INGEST_PERM], now_secs(), 600)
    );
    let statuses: Vec<u16> = (0..22)
        .map(|i| {
            let r = send_as(
                &host,
                "POST",
                &format!("{INGEST_TASKS}/web.1/files/stdout"),
                Some(&shipper),
                &[],
                Some("text/plain"),
                format!("{i}\n").as_bytes(),
            );
            if r.status == 200 {
                assert_eq!(r.header("ratelimit-limit"), Some("20"));
            }
            r.status
        })
        .collect();
    // 20, or 21 if a window rolled over during the run and freed a unit.
    let served = statuses.iter().filter(|s| **s == 200).count();
    assert!((20..=21).contains(&served), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    // A refused append wrote nothing.
    let r = get(&host, &file_path(&web(), "stdout"));
    assert_eq!(
        r.text().lines().count(),
        1 + served,
        "web line + served appends"
    );
}

/// Refused credentials leave their reason in the app's log, never the
/// credential itself: an expired JWT, a forged one, a wrong API key, a bad
/// URL token (issue 12, item 17).
#[test]
fn refused_credentials_are_logged_without_the_credential() {
    let key = "slk_another-long-random-key-for-logging";
    let entry = shipper_key_entry(key);
    let host = host_with(HostOptions {
        variables: vec![("auth_api_keys".into(), entry)],
        capture_guest_stderr: true,
        ..Default::default()
    });
    let expired = token_at("old", &[SUPERUSER], now_secs() - 7_200, 60);
    let forged = format!("{}x", token(&[SUPERUSER]));
    let wrong_key = format!("{key}-wrong");
    let cases = [
        (format!("Bearer {expired}"), "the token has expired"),
        (format!("Bearer {forged}"), "the token is not valid"),
        (format!("ApiKey {wrong_key}"), "the API key is not valid"),
    ];
    for (auth, reason) in &cases {
        unauthorized(&get_as(&host, PROBE, Some(auth)));
        let log = host.guest_stderr();
        assert!(
            log.contains(&format!("credentials refused: {reason}")),
            "{reason}: {log}"
        );
    }
    unauthorized(&get_as(
        &host,
        &format!("{PROBE}?token=u1.bm9wZQ.bm9wZQ"),
        None,
    ));
    let log = host.guest_stderr();
    assert!(
        log.contains("credentials refused: the URL token is not valid"),
        "{log}"
    );
    for secret in [
        expired.as_str(),
        forged.as_str(),
        wrong_key.as_str(),
        "u1.bm9wZQ",
    ] {
        assert!(!log.contains(secret), "the log holds a credential: {log}");
    }
    // Missing credentials are routine (probes, first requests): not logged.
    let before = host.guest_stderr().len();
    get_as(&host, PROBE, None).problem(401);
    assert_eq!(host.guest_stderr().len(), before);
}

/// `/` and paths outside every route family need no credentials and store
/// nothing: the index, and a 404 problem pointing to it (issue 12, item 13).
#[test]
fn the_index_and_unrouted_paths_are_public_problems() {
    let host = auth_host(&[]);
    let index = get_as(&host, "/", None);
    assert_eq!(index.status, 200, "{}", index.text());
    let families: Vec<String> = index.json()["families"]
        .as_array()
        .expect("families")
        .iter()
        .map(|f| f["family"].as_str().expect("name").to_owned())
        .collect();
    assert!(families.contains(&"ingest".to_owned()), "{families:?}");
    for path in ["/nope", "/system/v1/logs/v2/", "/system/v1/agent/a"] {
        let p = get_as(&host, path, None).problem(404);
        assert!(
            p["detail"].as_str().unwrap().contains("GET / lists"),
            "{path}: {p}"
        );
    }
    // A path inside a family stays the superuser's to explore.
    unauthorized(&get_as(&host, &format!("{FOLLOW}/somewhere/else"), None));
    assert_eq!(
        send_as(&host, "POST", "/", None, &[], None, b"").status,
        405
    );
}
