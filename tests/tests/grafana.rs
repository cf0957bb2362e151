//! The requests Grafana's Loki data source, Grafana's Logs Drilldown app
//! and logcli send, replayed against the real components with their
//! parameters and headers (issue 28), and the response shapes they parse.
//! Where each request comes from:
//!
//! - grafana/grafana `pkg/tsdb/loki/api.go` (`makeDataRequest`): query_range
//!   with `step=<N>ms`, integer ns `start`/`end`, `X-Query-Tags: Source=...`,
//!   `X-Loki-Response-Encoding-Flags: categorize-labels`; `readLokiError`
//!   shows an error body's `message`.
//! - grafana/grafana `pkg/promlib/converter/prom.go`: the strict stream
//!   parser (`encodingFlags` before `result`, 3-tuples only when flagged).
//! - grafana/grafana `public/app/plugins/datasource/loki/LanguageProvider.ts`
//!   and `datasource.ts`: labels, label values, series, index/stats,
//!   detected_labels, detected_fields, detected_field values; the logs
//!   volume query of `datasource.test.ts` (`sum by (level, detected_level)
//!   (count_over_time({...} | drop __error__[$__auto]))`).
//! - grafana/logs-drilldown `src/services/datasource.ts` (`getVolume`,
//!   `getDetectedLabels`, `getDetectedFields`, `getPatterns`, drilldown
//!   config) and `src/Components/ServiceSelectionScene/`: ISO `start`/`end`,
//!   `index/volume?query={service_name=~`.+`}&limit=5000`, `patterns` with
//!   `step=<interval>`, `X-Query-Tags: Source=grafana-lokiexplore-app`.
//! - grafana/loki `pkg/logcli/query/query.go` (`DoQuery`): paging backward
//!   with `end = last + 1ns`, forward with `start = last`.

mod common;

use common::*;
use serde_json::{Value, json};
use spin_logs_tests::{TestHost, enc};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};

const LOKI: &str = "/loki/api/v1";
const SEC: u64 = 1_000_000_000;
const MIN: u64 = 60 * SEC;

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// `2024-05-01T10:00:00.000Z`, as JavaScript's `toISOString` writes it
/// (what Drilldown sends).
fn iso(ns: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)).unwrap();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// The data source's credentials plus what Grafana adds to every request.
fn grafana(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, String)> {
    let mut h = vec![
        ("authorization", bearer(&[SYSTEM_LOGS])),
        ("user-agent", "Grafana/12.1.0".to_owned()),
    ];
    h.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    h
}

fn call(host: &TestHost, path: &str, headers: &[(&'static str, String)]) -> Reply {
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    get_with(host, path, &h)
}

fn ok(host: &TestHost, path: &str, headers: &[(&'static str, String)]) -> Value {
    let r = call(host, path, headers);
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.json()
}

/// Drilldown's requests: Grafana's, tagged as the app's.
fn drilldown() -> Vec<(&'static str, String)> {
    grafana(&[("x-query-tags", "Source=grafana-lokiexplore-app")])
}

fn push(host: &TestHost, streams: Value) {
    let r = send(
        host,
        "POST",
        &format!("{LOKI}/push"),
        Some("application/json"),
        json!({ "streams": streams }).to_string().as_bytes(),
    );
    assert_eq!(r.status, 204, "{}", r.text());
}

/// Service `api` (three pods, logfmt lines, every fifth an error, a
/// `trace_id` in structured metadata) and service `db` (JSON lines), over
/// the half hour before `t_end`; returns (first ns, last ns).
fn seed(host: &TestHost, t_end: u64) -> (u64, u64) {
    let t0 = t_end - 30 * MIN;
    let mut streams = Vec::new();
    for pod in 1..=3u64 {
        let values: Vec<Value> = (0..40u64)
            .map(|i| {
                let ts = t0 + i * 30 * SEC + pod;
                let line = if i % 5 == 0 {
                    format!(
                        "level=error method=POST path=/pay status=502 duration=1.{i}s pod=api-{pod}"
                    )
                } else {
                    format!(
                        "level=info method=GET path=/cart status=200 duration={i}ms pod=api-{pod}"
                    )
                };
                json!([ts.to_string(), line, {"trace_id": format!("t{pod}-{i}")}])
            })
            .collect();
        streams.push(json!({
            "stream": {"app": "api", "namespace": "shop", "pod": format!("api-{pod}")},
            "values": values,
        }));
    }
    let db: Vec<Value> = (0..20u64)
        .map(|i| {
            json!([
                (t0 + i * 90 * SEC + 7).to_string(),
                format!(
                    r#"{{"level":"warn","msg":"slow query","took":"{}ms","rows":{i}}}"#,
                    100 + i
                )
            ])
        })
        .collect();
    streams.push(json!({
        "stream": {"service_name": "db", "namespace": "shop", "pod": "db-0"},
        "values": db,
    }));
    push(host, Value::Array(streams));
    (t0 + 1, t0 + 39 * 30 * SEC + 3)
}

/// `(stream, [ts, line, meta?])` of every value of a streams answer.
fn entries(body: &Value) -> Vec<(Value, Vec<Value>)> {
    let mut out = Vec::new();
    for s in body["data"]["result"].as_array().expect("result") {
        for v in s["values"].as_array().expect("values") {
            out.push((s["stream"].clone(), v.as_array().unwrap().clone()));
        }
    }
    out
}

#[test]
fn grafana_explore_requests_get_the_shapes_grafana_parses() {
    let host = host();
    let end = now_ns();
    let (first, last) = seed(&host, end);
    let start = end - 3600 * SEC;
    let range = format!("start={start}&end={end}");

    // The logs query, as pkg/tsdb/loki/api.go sends it with the
    // lokiStructuredMetadata toggle on.
    let path = format!(
        "{LOKI}/query_range?direction=backward&end={end}&limit=1000&query={}&start={start}&step=14000ms",
        enc(r#"{app="api"} |= "status""#)
    );
    let flagged = grafana(&[
        ("x-query-tags", "Source=grafana"),
        ("x-loki-response-encoding-flags", "categorize-labels"),
    ]);
    let r = call(&host, &path, &flagged);
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    // prom.go reads the flags only if they come before `result`.
    let flags_at = text.find("\"encodingFlags\"").expect("encodingFlags");
    assert!(flags_at < text.find("\"result\"").unwrap(), "{text}");
    let body = r.json();
    assert_eq!(body["data"]["encodingFlags"], json!(["categorize-labels"]));
    let got = entries(&body);
    assert_eq!(got.len(), 120);
    for (stream, v) in &got {
        assert_eq!(v.len(), 3, "every tuple has the third element: {v:?}");
        assert!(v[0].as_str().unwrap().parse::<u64>().is_ok(), "ns string");
        // Index labels only in `stream`; metadata in the third element.
        assert_eq!(
            stream.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["app", "namespace", "pod", "service_name"]
        );
        let meta = &v[2]["structuredMetadata"];
        assert!(meta["trace_id"].as_str().unwrap().starts_with('t'));
        let level = meta["detected_level"].as_str().unwrap();
        assert!(
            v[1].as_str()
                .unwrap()
                .starts_with(&format!("level={level} "))
        );
    }
    // Newest first.
    let ts: Vec<u64> = got
        .iter()
        .map(|(_, v)| v[0].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ts.iter().max(), Some(&last));
    // A parser's labels are `parsed` in the third element.
    let parsed = ok(
        &host,
        &format!(
            "{LOKI}/query_range?query={}&{range}&limit=1&step=14000ms",
            enc(r#"{pod="api-2"} | logfmt | status >= 500"#)
        ),
        &flagged,
    );
    let (_, v) = &entries(&parsed)[0];
    assert_eq!(v[2]["parsed"]["status"], "502");
    assert_eq!(v[2]["structuredMetadata"]["detected_level"], "error");

    // Without the flag: 2-tuples, metadata merged into the stream labels.
    let plain = ok(&host, &path, &grafana(&[]));
    assert!(plain["data"].get("encodingFlags").is_none());
    let got = entries(&plain);
    assert_eq!(got.len(), 120);
    assert!(got.iter().all(|(s, v)| v.len() == 2
        && s["trace_id"].is_string()
        && s["detected_level"].is_string()));

    // The logs volume histogram (datasource.ts getSupplementaryQuery),
    // `step` in ms as api.go writes it, or float seconds as logcli does.
    let volume = |step: &str| {
        ok(
            &host,
            &format!(
                "{LOKI}/query_range?direction=backward&query={}&{range}&step={step}",
                enc(
                    r#"sum by (level, detected_level) (count_over_time({app="api"} | drop __error__[1m]))"#
                )
            ),
            &grafana(&[("x-query-tags", "Source=logvolhist")]),
        )
    };
    let hist = volume("60000ms");
    assert_eq!(hist["data"]["resultType"], "matrix");
    let mut by_level = BTreeMap::new();
    for s in hist["data"]["result"].as_array().unwrap() {
        let n: f64 = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                assert!(p[0].is_number(), "seconds as a JSON number");
                p[1].as_str().unwrap().parse::<f64>().unwrap()
            })
            .sum();
        by_level.insert(
            s["metric"]["detected_level"].as_str().unwrap().to_owned(),
            n,
        );
    }
    assert_eq!(
        by_level,
        BTreeMap::from([("error".into(), 24.0), ("info".into(), 96.0)])
    );
    assert_eq!(volume("60")["data"]["result"], hist["data"]["result"]);
    assert_eq!(volume("60.0")["data"]["result"], hist["data"]["result"]);
    assert_eq!(volume("1m")["data"]["result"], hist["data"]["result"]);

    // `interval` thins a log query's entries (Loki's semantics); on a metric
    // query it is not the step.
    let thinned = ok(
        &host,
        &format!(
            "{LOKI}/query_range?query={}&{range}&interval=60&direction=forward",
            enc(r#"{pod="api-1"}"#)
        ),
        &grafana(&[]),
    );
    let ts: Vec<u64> = entries(&thinned)
        .iter()
        .map(|(_, v)| v[0].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ts.len(), 20, "one of every two lines 30 s apart");
    assert!(ts.windows(2).all(|w| w[1] - w[0] >= 60 * SEC), "{ts:?}");
    let with_interval = ok(
        &host,
        &format!(
            "{LOKI}/query_range?query={}&{range}&step=60000ms&interval=15000ms",
            enc(
                r#"sum by (level, detected_level) (count_over_time({app="api"} | drop __error__[1m]))"#
            )
        ),
        &grafana(&[]),
    );
    assert_eq!(with_interval["data"]["result"], hist["data"]["result"]);

    // Save & test, and an instant query.
    let health = ok(
        &host,
        &format!(
            "{LOKI}/query?direction=backward&query={}&time={end}",
            enc("vector(1)+vector(1)")
        ),
        &grafana(&[]),
    );
    assert_eq!(health["data"]["resultType"], "vector");
    assert_eq!(health["data"]["result"][0]["value"][1], "2");

    // Label browser and autocomplete (LanguageProvider.ts), unwrapped from
    // `data` by metadataRequest.
    let labels = ok(&host, &format!("{LOKI}/labels?{range}"), &grafana(&[]));
    assert_eq!(
        labels["data"],
        json!(["app", "namespace", "pod", "service_name"])
    );
    let values = ok(
        &host,
        &format!(
            "{LOKI}/label/pod/values?{range}&query={}",
            enc(r#"{app="api"}"#)
        ),
        &grafana(&[]),
    );
    assert_eq!(values["data"], json!(["api-1", "api-2", "api-3"]));
    let series = ok(
        &host,
        &format!(
            "{LOKI}/series?match%5B%5D={}&{range}",
            enc(r#"{namespace="shop"}"#)
        ),
        &grafana(&[]),
    );
    assert_eq!(series["data"].as_array().unwrap().len(), 4);
    assert!(series["data"][0]["service_name"].is_string());

    // The query stats hint: no envelope, counts from the index.
    let stats = ok(
        &host,
        &format!("{LOKI}/index/stats?query={}&{range}", enc(r#"{app="api"}"#)),
        &grafana(&[]),
    );
    assert_eq!(stats["streams"], 3);
    assert_eq!(stats["entries"], 120);
    assert!(stats["bytes"].as_u64().unwrap() > 120 * 50);
    assert!(stats["chunks"].as_u64().unwrap() >= 1);
    // From the index, so an estimate where a range cuts a segment (as
    // Loki's are per chunk); a range ending where a stream starts (`end`
    // exclusive) has nothing of it.
    let before_first = ok(
        &host,
        &format!(
            "{LOKI}/index/stats?query={}&start={}&end={first}",
            enc(r#"{pod="api-1"}"#),
            first - MIN
        ),
        &grafana(&[]),
    );
    assert_eq!(before_first["entries"], 0, "{before_first}");
    assert_eq!(before_first["streams"], 0, "{before_first}");

    // Grafana probes detected_labels once, then uses the detected_* routes
    // for filters (ns times, limit 1000).
    let detected = ok(
        &host,
        &format!("{LOKI}/detected_labels?{range}"),
        &grafana(&[]),
    );
    assert!(detected["detectedLabels"].is_array(), "{detected}");
    let fields = ok(
        &host,
        &format!(
            "{LOKI}/detected_fields?{range}&limit=1000&query={}",
            enc(r#"{app="api"}"#)
        ),
        &grafana(&[]),
    );
    assert_eq!(fields["limit"], 1000);
    let values = ok(
        &host,
        &format!(
            "{LOKI}/detected_field/method/values?{range}&limit=1000&query={}",
            enc(r#"{app="api"}"#)
        ),
        &grafana(&[]),
    );
    assert_eq!(values["values"], json!(["GET", "POST"]));
}

#[test]
fn logs_drilldown_first_screen_and_service_page() {
    let host = host();
    let end = now_ns();
    seed(&host, end);
    let (from, to) = (iso(end - 3600 * SEC), iso(end + SEC));
    let range = format!("start={}&end={}", enc(&from), enc(&to));

    // 1. The app's config (IndexScene), with the headers it sends.
    let mut headers = drilldown();
    headers.push(("x-grafana-cache", "private, max-age=86400".to_owned()));
    let config = ok(&host, &format!("{LOKI}/drilldown-limits"), &headers);
    assert!(config["limits"]["retention_period"].is_string());
    assert!(config["limits"]["max_entries_limit_per_query"].is_u64());
    assert!(config["limits"]["volume_enabled"].as_bool().unwrap());
    assert_eq!(config["pattern_ingester_enabled"], true);
    assert!(config["version"].is_string());

    // 2. The tabs of label names (ServiceSelectionTabsScene).
    let detected = ok(
        &host,
        &format!("{LOKI}/detected_labels?query=&{range}"),
        &drilldown(),
    );
    let cardinality: BTreeMap<String, u64> = detected["detectedLabels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["label"].as_str().unwrap().to_owned(),
                l["cardinality"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(cardinality.get("service_name"), Some(&2), "{detected}");
    assert_eq!(cardinality.get("pod"), Some(&4), "{detected}");
    assert_eq!(
        cardinality.get("namespace"),
        Some(&1),
        "a static label is kept"
    );

    // 3. The services (getVolume): a vector of bytes per service_name.
    let volume = ok(
        &host,
        &format!(
            "{LOKI}/index/volume?query={}&limit=5000&{range}",
            enc("{service_name=~`.+`}")
        ),
        &drilldown(),
    );
    assert_eq!(volume["status"], "success");
    assert_eq!(volume["data"]["resultType"], "vector");
    let result = volume["data"]["result"].as_array().unwrap();
    let services: Vec<&str> = result
        .iter()
        .map(|r| r["metric"]["service_name"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["api", "db"], "largest first");
    let bytes: Vec<f64> = result
        .iter()
        .map(|r| r["value"][1].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(bytes[0] > bytes[1] && bytes[1] > 0.0, "{volume}");
    let stats = ok(
        &host,
        &format!(
            "{LOKI}/index/stats?query={}&{range}",
            enc(r#"{service_name="api"}"#)
        ),
        &drilldown(),
    );
    assert_eq!(stats["bytes"].as_f64().unwrap(), bytes[0]);
    // By label, and over time.
    let by_label = ok(
        &host,
        &format!(
            "{LOKI}/index/volume?query={}&aggregateBy=labels&targetLabels=pod&{range}",
            enc(r#"{namespace="shop"}"#)
        ),
        &drilldown(),
    );
    assert_eq!(by_label["data"]["result"][0]["metric"], json!({"pod": ""}));
    let over_time = ok(
        &host,
        &format!(
            "{LOKI}/index/volume_range?query={}&step=600&{range}",
            enc("{service_name=~`.+`}")
        ),
        &drilldown(),
    );
    assert_eq!(over_time["data"]["resultType"], "matrix");
    let api = &over_time["data"]["result"][0];
    assert_eq!(api["metric"]["service_name"], "api");
    let total: f64 = api["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_str().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(total, bytes[0]);

    // 4. A service card: levels over time, and its newest lines filtered by
    // level with backtick strings.
    let levels = ok(
        &host,
        &format!(
            "{LOKI}/query_range?query={}&{range}&step=60000ms",
            enc(r#"sum by (detected_level) (count_over_time({ service_name="api" } [1m]))"#)
        ),
        &drilldown(),
    );
    let names: BTreeSet<&str> = levels["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metric"]["detected_level"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["error", "info"]));
    let errors = ok(
        &host,
        &format!(
            "{LOKI}/query_range?query={}&{range}&limit=100&direction=backward",
            enc(
                "{service_name=`api` } | detected_level=`error` | json | logfmt | drop __error__, __error_details__"
            )
        ),
        &drilldown(),
    );
    assert_eq!(entries(&errors).len(), 24);

    // 5. The service page: fields, their values, patterns, label values.
    let fields = ok(
        &host,
        &format!(
            "{LOKI}/detected_fields?query={}&{range}",
            enc(r#"{service_name="api"}"#)
        ),
        &drilldown(),
    );
    let by_name: BTreeMap<&str, &Value> = fields["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["label"].as_str().unwrap(), f))
        .collect();
    assert_eq!(by_name["duration"]["type"], "duration");
    assert_eq!(by_name["duration"]["parsers"], json!(["logfmt"]));
    assert_eq!(by_name["status"]["type"], "int");
    assert_eq!(by_name["status"]["cardinality"], 2);
    assert_eq!(by_name["trace_id"]["parsers"], Value::Null, "metadata");
    assert!(
        by_name["trace_id"].get("parsers").is_some(),
        "null, not absent"
    );
    let json_fields = ok(
        &host,
        &format!(
            "{LOKI}/detected_fields?query={}&{range}",
            enc(r#"{service_name="db"}"#)
        ),
        &drilldown(),
    );
    let rows = json_fields["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["label"] == "rows")
        .expect("rows");
    assert_eq!(rows["parsers"], json!(["json"]));
    assert_eq!(rows["jsonPath"], json!(["rows"]));
    let values = ok(
        &host,
        &format!(
            "{LOKI}/detected_field/path/values?query={}&{range}",
            enc(r#"{service_name="api"}"#)
        ),
        &drilldown(),
    );
    assert_eq!(values["values"], json!(["/cart", "/pay"]));
    let patterns = ok(
        &host,
        &format!(
            "{LOKI}/patterns?query={}&{range}&step=1m",
            enc(r#"{service_name="api"}"#)
        ),
        &drilldown(),
    );
    assert_eq!(patterns["status"], "success");
    let mut counted = 0u64;
    let mut levels_seen = BTreeSet::new();
    for p in patterns["data"].as_array().unwrap() {
        assert!(p["pattern"].as_str().unwrap().contains("<_>"), "{p}");
        levels_seen.insert(p["level"].as_str().unwrap().to_owned());
        for s in p["samples"].as_array().unwrap() {
            assert!(s[0].is_u64() && s[1].is_u64(), "integer pairs: {s}");
            counted += s[1].as_u64().unwrap();
        }
    }
    assert_eq!(counted, 120, "{patterns}");
    assert_eq!(levels_seen, BTreeSet::from(["error".into(), "info".into()]));
    let pods = ok(
        &host,
        &format!(
            "{LOKI}/label/pod/values?{range}&query={}",
            enc(r#"{service_name="api"}"#)
        ),
        &drilldown(),
    );
    assert_eq!(pods["data"], json!(["api-1", "api-2", "api-3"]));
}

/// The raw status line and body of a request Grafana's live tail makes: a
/// WebSocket upgrade (no HTTP client here speaks it).
fn websocket_upgrade(host: &TestHost, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(host.addr()).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Authorization: {}\r\n\r\n",
        host.addr(),
        bearer(&[SYSTEM_LOGS])
    )
    .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // Read until the body is complete (by its length, or a chunked body's
    // last chunk) or the server closes.
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        let text = String::from_utf8_lossy(&buf);
        if let Some(at) = text.find("\r\n\r\n") {
            let head = text[..at].to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if len.is_some_and(|n| buf.len() >= at + 4 + n) || text.ends_with("\r\n0\r\n\r\n") {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return (status, body.to_owned());
    }
    // Chunked: `<hex size>\r\n<bytes>\r\n` ... `0\r\n\r\n`.
    let mut rest = body;
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&after[..n]);
        rest = &after[n + 2..];
    }
    (status, out)
}

#[test]
fn errors_carry_the_message_grafana_shows() {
    let host = host();
    // A LogQL error: Grafana's readLokiError shows `message`.
    let r = call(
        &host,
        &format!(
            "{LOKI}/query_range?query={}&step=14000ms",
            enc(r#"{app="api"} |= "#)
        ),
        &grafana(&[]),
    );
    assert_eq!(r.status, 400);
    let body = r.json();
    let message = body["message"].as_str().expect("message");
    assert!(message.starts_with("parse error at line 1"), "{body}");
    // Loki's words for a reversed range.
    let r = call(
        &host,
        &format!(
            "{LOKI}/query_range?query={}&start=20&end=10",
            enc("{a=\"b\"}")
        ),
        &grafana(&[]),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "end timestamp must not be before or equal to start time"
    );
    // Unknown paths under /loki/api/v1/ are 404s that say so.
    for path in [
        "/loki/api/v1/nope",
        "/loki/api/v1/index/nope",
        "/loki/api/v1/status/nope",
    ] {
        let r = call(&host, path, &grafana(&[]));
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert!(r.json()["message"].is_string(), "{path}: {}", r.text());
    }
    // Live tail is a WebSocket: a 400 Grafana shows, not a 5xx.
    let (status, body) = websocket_upgrade(
        &host,
        &format!(
            "{LOKI}/tail?query={}&start={}&limit=100",
            enc(r#"{app="api"}"#),
            now_ns() - 3600 * SEC
        ),
    );
    assert_eq!(status, 400, "{body}");
    let body: Value = serde_json::from_str(&body).expect("a JSON body");
    let message = body["message"].as_str().unwrap_or_else(|| panic!("{body}"));
    assert!(message.contains("WebSocket"), "{message}");
    assert!(message.contains("auto-refresh"), "{message}");
}

#[test]
fn end_is_exclusive_and_logcli_paging_repeats_nothing() {
    let host = host();
    let t0 = now_ns() - 20 * MIN;
    // 31 entries, three to a timestamp, and one alone at the end.
    let values: Vec<Value> = (0..31u64)
        .map(|i| json!([(t0 + (i / 3) * SEC).to_string(), format!("entry {i:02}")]))
        .collect();
    push(
        &host,
        json!([{"stream": {"job": "paging"}, "values": values}]),
    );
    let last = t0 + 10 * SEC;
    let q = enc(r#"{job="paging"}"#);
    let count = |start: u64, end: u64| {
        entries(&ok(
            &host,
            &format!("{LOKI}/query_range?query={q}&start={start}&end={end}&limit=1000"),
            &grafana(&[]),
        ))
        .len()
    };
    assert_eq!(count(t0, last), 30, "end is exclusive");
    assert_eq!(count(t0, last + 1), 31);
    assert_eq!(count(t0 + SEC, t0 + 2 * SEC), 3, "start is inclusive");

    // logcli's loop (pkg/logcli/query/query.go DoQuery), batch 5, both
    // directions; headers and parameters as its client.go sends them.
    for forward in [false, true] {
        let batch = 5usize;
        let (mut start, mut end) = (t0 - MIN, now_ns());
        let mut seen: Vec<(u64, String)> = Vec::new();
        let mut last_entries: Vec<(u64, String)> = Vec::new();
        let mut requests = 0;
        loop {
            requests += 1;
            assert!(requests < 50, "paging does not end");
            let bs = batch;
            let body = ok(
                &host,
                &format!(
                    "{LOKI}/query_range?query={q}&limit={bs}&start={start}&end={end}&direction={}",
                    if forward { "FORWARD" } else { "BACKWARD" }
                ),
                &[
                    ("authorization", bearer(&[SYSTEM_LOGS])),
                    ("user-agent", "loki-logcli/3.5.0".to_owned()),
                ],
            );
            let mut page: Vec<(u64, String)> = entries(&body)
                .into_iter()
                .map(|(_, v)| {
                    (
                        v[0].as_str().unwrap().parse().unwrap(),
                        v[1].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            page.sort();
            if !forward {
                page.reverse();
            }
            // logcli skips what it printed already: same time, same line.
            let fresh: Vec<(u64, String)> = page
                .iter()
                .filter(|e| !last_entries.contains(e))
                .cloned()
                .collect();
            if fresh.is_empty() {
                break;
            }
            seen.extend(fresh);
            let last_ts = seen.last().unwrap().0;
            last_entries = seen.iter().filter(|e| e.0 == last_ts).cloned().collect();
            assert!(last_entries.len() < batch, "logcli: invalid batch size");
            if forward {
                start = last_ts;
            } else {
                end = last_ts + 1;
            }
        }
        let mut lines: Vec<String> = seen.iter().map(|(_, l)| l.clone()).collect();
        if !forward {
            lines.reverse();
        }
        let want: Vec<String> = (0..31).map(|i| format!("entry {i:02}")).collect();
        let mut sorted = lines.clone();
        sorted.sort();
        // 31 lines that sort to the 31 distinct entries: each exactly once.
        assert_eq!(sorted, want, "forward={forward}: every entry once");
        // And in the direction asked for, across pages.
        let in_order = seen.windows(2).all(|w| match forward {
            true => w[0].0 <= w[1].0,
            false => w[0].0 >= w[1].0,
        });
        assert!(in_order, "forward={forward}: {seen:?}");
    }
}
