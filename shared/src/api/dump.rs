//! The read path (`dump` component): task files and component (journal) logs.
//!
//! ```text
//! GET /system/v1/logs/v2/component                 every journal entry
//! GET /system/v1/logs/v2/component/{name}          entries of unit {name} or {name}.service
//! GET /system/v1/agent/{agent}/logs/v2/task/frameworks/{fw}/executors/{ex}/runs/{container}/{file}
//! GET /system/v1/agent/{agent}/logs/v2/task/frameworks/{fw}/executors/{ex}/runs/{container}/tasks/{task}/{file}
//! ```
//! Parameters `limit`, `skip`, `cursor`, `filter` and the three formats are
//! the DC/OS Logging API v2's; see [`crate::read::reader`] for how they resolve.
//! A request to follow (`Accept: text/event-stream` or `stream=true`) is
//! redirected (307) to the same path under the `tail` component's prefix.

use crate::env::Env;
use crate::read::format::Format;
use crate::read::params::ReadParams;
use crate::read::reader::{Read, Source};
use crate::read::target::{Opened, last_event_id, open, wants_follow};
use crate::routes::dump::{Dump, FAMILY};
use crate::routes::tail::FOLLOW;
use crate::store::log::Snapshot;
use crate::web::message::{Request, Response};
use crate::web::problem::Problem;

pub use crate::routes::dump::COMPONENT;

/// The `dump` component.
pub const API: super::Api<Dump> = super::Api {
    family: &FAMILY,
    handle,
};

fn handle(target: Dump, req: &Request, env: &Env) -> Result<Response, Problem> {
    let params = ReadParams::parse(&req.query)?;
    let format = Format::negotiate(req.header(http::header::ACCEPT))?;
    let opened = open(&target, &params, env)?;
    if wants_follow(req, format) {
        // Following is the tail component's job; EventSource follows a 307.
        let mut location = format!("{FOLLOW}{}", req.path);
        if !req.query.is_empty() {
            location = format!("{location}?{}", req.query.raw());
        }
        let location = crate::web::path::header_safe(&location);
        return Ok(Response::new(http::StatusCode::TEMPORARY_REDIRECT)
            .header(http::header::LOCATION, &location)
            .header(http::header::CACHE_CONTROL, "no-cache"));
    }
    let last_event_id = last_event_id(req, format);
    match opened {
        Opened::File(source, _, None) => {
            let file = source.fields.get("FILE").and_then(|f| f.as_str());
            Err(Problem::not_found(format!(
                "the task has no file {:?} (yet: follow it to wait for its first line)",
                file.unwrap_or_default()
            )))
        }
        Opened::File(source, _, snapshot) => {
            read(req, env, source, snapshot, params, format, last_event_id)
        }
        Opened::Journal(source, _, snapshot) => {
            read(req, env, source, snapshot, params, format, last_event_id)
        }
    }
}

fn read<S: Source + 'static>(
    req: &Request,
    env: &Env,
    source: S,
    snapshot: Option<Snapshot>,
    params: ReadParams,
    format: Format,
    last_event_id: Option<String>,
) -> Result<Response, Problem> {
    let Some(snapshot) = snapshot else {
        crate::read::reader::start_position_empty(&source, &params, last_event_id.as_deref())?;
        return Ok(Response::new(http::StatusCode::NO_CONTENT)
            .header(http::header::CACHE_CONTROL, "no-cache"));
    };
    Read {
        source,
        snapshot: std::rc::Rc::new(snapshot),
        params,
        last_event_id,
        format,
        budget: env.config.max_response_bytes()?,
        path: &req.path,
        query: &req.query,
    }
    .respond()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;
    use http::StatusCode;
    use serde_json::Value;

    const FILE: &str = "/system/v1/agent/A/logs/v2/task/frameworks/F/executors/t1/runs/C/stdout";

    fn env(budget: u64) -> Env {
        let env = Env {
            config: crate::config::Config::with(&[("max_response_bytes", &(budget).to_string())]),
            ..Env::memory()
        };
        let ingest = |method, path: &str, body: &[u8]| {
            let req = Request::new(method, &format!("{}{path}", crate::api::ingest::PREFIX))
                .with_body(body);
            let r = crate::api::ingest::API.call(req, &env);
            assert!(r.status.is_success(), "{path}: {:?}", r.into_bytes());
        };
        ingest(
            Method::PUT,
            "/tasks/t1",
            br#"{"name":"web","agent_id":"A","framework_id":"F","container_id":"C"}"#,
        );
        let lines: String = (0..100).map(|i| format!("{i:04}\n")).collect();
        ingest(Method::POST, "/tasks/t1/files/stdout", lines.as_bytes());
        let entries: String = (0..30)
            .map(|i| {
                let unit = ["a.service", "b", "c.service"][i % 3];
                let key = if i % 2 == 0 { "UNIT" } else { "_SYSTEMD_UNIT" };
                format!("{{\"MESSAGE\":\"m{i}\",\"{key}\":\"{unit}\",\"__REALTIME_TIMESTAMP\":\"{}\"}}\n", 1_500_000_000_000_000u64 + i as u64 * 1_000_000)
            })
            .collect();
        ingest(Method::POST, "/component", entries.as_bytes());
        env
    }

    fn get(
        env: &Env,
        path: &str,
        accept: Option<&str>,
        last_event_id: Option<&str>,
    ) -> (StatusCode, http::HeaderMap, String) {
        let mut req = Request::new(Method::GET, path);
        if let Some(a) = accept {
            req = req.with_header("accept", a);
        }
        if let Some(id) = last_event_id {
            req = req.with_header("last-event-id", id);
        }
        let r = API.call(req, env);
        let (status, headers) = (r.status, r.headers.clone());
        (
            status,
            headers,
            String::from_utf8(r.into_bytes().unwrap()).unwrap(),
        )
    }

    fn lines(from: usize, to: usize) -> String {
        (from..to).map(|i| format!("{i:04}\n")).collect()
    }

    #[test]
    fn file_reads_honour_cursor_skip_and_limit() {
        let env = env(u64::MAX);
        let text = |q: &str| get(&env, &format!("{FILE}?{q}"), None, None).2;
        assert_eq!(text(""), lines(0, 100));
        assert_eq!(text("cursor=END&skip=-10"), lines(90, 100));
        assert_eq!(text("skip=-10"), lines(90, 100));
        assert_eq!(text("skip=3&limit=2"), lines(3, 5));
        assert_eq!(text("cursor=25&limit=1"), lines(5, 6));
        assert_eq!(text("cursor=BEG&skip=-5&limit=1"), lines(0, 1));
        let (status, headers, _) = get(&env, &format!("{FILE}?cursor=END"), None, None);
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(headers["cache-control"], "no-cache");
        for bad in [
            "cursor=501",
            "cursor=26",
            "cursor=%2B25",
            "cursor=abc",
            "limit=x",
            "skip=--1",
            "filter=A:b",
        ] {
            let (status, _, body) = get(&env, &format!("{FILE}?{bad}"), None, None);
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        }
        assert_eq!(
            get(&env, FILE, Some("image/png"), None).0,
            StatusCode::NOT_ACCEPTABLE
        );
    }

    #[test]
    fn file_entries_as_ndjson_and_sse() {
        let env = env(u64::MAX);
        let (status, headers, body) = get(
            &env,
            &format!("{FILE}?limit=2"),
            Some("application/json"),
            None,
        );
        assert_eq!(
            (status, &headers["content-type"]),
            (StatusCode::OK, &"application/x-ndjson".parse().unwrap())
        );
        let entries: Vec<Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1]["fields"]["MESSAGE"], "0001");
        assert_eq!(entries[1]["fields"]["FILE"], "stdout");
        assert_eq!(entries[1]["fields"]["EXECUTOR_ID"], "t1");
        assert_eq!(
            (entries[1]["offset"].as_u64(), entries[1]["cursor"].as_str()),
            (Some(5), Some("10"))
        );

        // Following is the tail's job: SSE and stream=true redirect there.
        for (q, accept) in [
            ("?limit=3", Some("text/event-stream")),
            ("?stream=true", None),
        ] {
            let (status, headers, _) = get(&env, &format!("{FILE}{q}"), accept, None);
            assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
            assert_eq!(headers["location"], format!("{}{FILE}{q}", FOLLOW).as_str());
        }

        // The follow replays from Last-Event-ID, then ends with a resume event.
        let env = Env {
            config: crate::config::Config::with(&[("tail_budget_ms", &(100).to_string())]),
            ..env
        };
        let req = Request::new(Method::GET, &format!("{}{FILE}", FOLLOW))
            .with_header("accept", "text/event-stream")
            .with_header("last-event-id", "490");
        let sse =
            String::from_utf8(crate::api::tail::API.call(req, &env).into_bytes().unwrap()).unwrap();
        assert!(sse.starts_with("retry: "), "{sse}");
        assert!(sse.contains("id: 495\ndata: {"), "{sse}");
        assert!(sse.contains("\"MESSAGE\":\"0099\""));
        assert!(!sse.contains("\"MESSAGE\":\"0097\""), "{sse}");
        assert!(
            sse.ends_with("id: 500\nevent: resume\ndata: {\"cursor\":\"500\"}\n\n"),
            "{sse}"
        );
    }

    #[test]
    fn paging_past_the_budget_loses_and_repeats_nothing() {
        for accept in [None, Some("application/json")] {
            let env = env(64);
            let mut cursor = "BEG".to_string();
            let mut seen = Vec::new();
            for _ in 0..200 {
                let (status, headers, body) =
                    get(&env, &format!("{FILE}?cursor={cursor}"), accept, None);
                assert_eq!(status, StatusCode::OK);
                for line in body
                    .lines()
                    .filter(|l| !l.is_empty() && !l.starts_with("id:") && !l.starts_with("retry:"))
                {
                    let msg = match accept {
                        None => line.to_string(),
                        _ => {
                            let json = line.strip_prefix("data: ").unwrap_or(line);
                            serde_json::from_str::<Value>(json).unwrap()["fields"]["MESSAGE"]
                                .as_str()
                                .unwrap()
                                .to_string()
                        }
                    };
                    seen.push(msg);
                }
                match headers.get("x-next-cursor") {
                    Some(next) => {
                        assert!(headers["link"].to_str().unwrap().contains("rel=\"next\""));
                        cursor = next.to_str().unwrap().to_string();
                    }
                    None => break,
                }
            }
            let want: Vec<String> = (0..100).map(|i| format!("{i:04}")).collect();
            assert_eq!(seen, want, "{accept:?}");
        }
    }

    #[test]
    fn component_logs_by_unit_filter_and_cursor() {
        let env = env(u64::MAX);
        let (status, _, all) = get(&env, COMPONENT, None, None);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(all.lines().count(), 30);
        assert_eq!(all.lines().next(), Some("2017-07-14 02:40:00: m0"));
        // Unit a matches UNIT=a.service and _SYSTEMD_UNIT=a.service: entries 0, 3, 6, ...
        let (_, _, a) = get(&env, &format!("{COMPONENT}/a"), None, None);
        assert_eq!(a.lines().count(), 10);
        let (_, _, b) = get(&env, &format!("{COMPONENT}/b?skip=-2"), None, None);
        assert_eq!(
            b.lines().map(|l| &l[21..]).collect::<Vec<_>>(),
            ["m25", "m28"]
        );
        let (_, _, f) = get(
            &env,
            &format!("{COMPONENT}?filter=_systemd_unit:c.service&limit=1"),
            Some("application/json"),
            None,
        );
        let entry: Value = serde_json::from_str(f.trim()).unwrap();
        assert_eq!(entry["fields"]["MESSAGE"], "m5");
        assert_eq!(entry["realtime_timestamp"], 1_500_000_005_000_000u64);
        assert!(entry["fields"].get("__REALTIME_TIMESTAMP").is_none());
        let cursor = entry["cursor"].as_str().unwrap();
        let (_, _, next) = get(
            &env,
            &format!("{COMPONENT}?filter=_SYSTEMD_UNIT:c.service&limit=1&cursor={cursor}"),
            None,
            None,
        );
        assert!(next.ends_with(": m11\n"), "{next}");
        let (status, _, _) = get(
            &env,
            &format!("{COMPONENT}?cursor=j.5.deadbeef"),
            None,
            None,
        );
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _, _) = get(&env, &format!("{COMPONENT}/nothing-here"), None, None);
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _, _) = get(&env, &format!("{COMPONENT}?filter=nocolon"), None, None);
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}
