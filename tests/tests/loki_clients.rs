//! Real clients from the package registries push to the real components
//! over HTTP, as they would push to Loki 3 (issue 28), and every record is
//! read back through `query_range`, with its labels, structured metadata and
//! `detected_level` as Loki maps them:
//!
//! - `python-logging-loki` (PyPI), whose only authentication is Basic: an API
//!   key as the password, the key's uid as the user;
//! - `loki-logger-handler` (PyPI): gzip-compressed JSON pushes with
//!   structured metadata, and stream fields Loki ignores;
//! - `pino-loki` (npm) with `batching: false`: every line its own push, all
//!   sent at once, so they reach a stream out of order;
//! - the OpenTelemetry Python SDK's OTLP/HTTP exporter to `/otlp/v1/logs`.
//!
//! Versions are pinned; the packages are installed under `target/` on first
//! use (PyPI and the npm registry must be reachable then).

mod common;

use common::*;
use serde_json::{Value, json};
use spin_logs_tests::{TestHost, enc};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const PYTHON_CLIENTS: &[&str] = &[
    "python-logging-loki==0.3.1",
    "loki-logger-handler==1.1.2",
    "opentelemetry-sdk==1.45.2",
    "opentelemetry-exporter-otlp-proto-http==1.45.2",
];
const NODE_CLIENTS: &[&str] = &["pino@10.4.0", "pino-loki@3.0.0"];

/// The API key shippers hold, for uid `shipper`, with the ingest permission.
const KEY: &str = "slk_loki-clients-test-key-0123456789abcdef";

fn shipper_host() -> TestHost {
    let keys = json!([{"sha256": spin_logs::auth::apikey::hash(KEY), "uid": "shipper",
                       "permissions": [INGEST_PERM]}]);
    host_with(spin_logs_tests::HostOptions {
        variables: vec![("auth_api_keys".into(), keys.to_string())],
        ..Default::default()
    })
}

fn python() -> std::path::PathBuf {
    spin_logs_tests::services::python_venv("loki-clients", PYTHON_CLIENTS)
        .expect("a Python with the Loki clients from PyPI")
}

/// Runs `script` with `interpreter` (args after it: `args`), asserts it
/// succeeded, and returns the JSON its last stdout line prints.
fn run(interpreter: &Path, dir: Option<&Path>, script: &str, args: &[&str]) -> Value {
    let mut cmd = Command::new(interpreter);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let ext = if interpreter.ends_with("node") {
        "mjs"
    } else {
        "py"
    };
    let file = tempfile::Builder::new()
        .suffix(&format!(".{ext}"))
        .tempfile_in(dir.unwrap_or(&std::env::temp_dir()))
        .expect("a script file");
    std::fs::write(file.path(), script).expect("script written");
    let out = cmd
        .arg(file.path())
        .args(args)
        .output()
        .expect("client runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "client failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("client's report is not JSON ({e}):\n{stdout}\n{stderr}"))
}

/// Every entry of `query` over the last hour, oldest first: (labels the
/// stream has, line, structured metadata) as Grafana reads them, asking
/// with `categorize-labels` when `categorized`.
fn read_back(host: &TestHost, query: &str, categorized: bool) -> Vec<(Value, String, Value)> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let path = format!(
        "/loki/api/v1/query_range?query={}&start={}&end={}&limit=1000&direction=forward&step=15000ms",
        enc(query),
        now - 3_600_000_000_000,
        now + 60_000_000_000
    );
    let mut headers = vec![("authorization", bearer(&[SYSTEM_LOGS]))];
    if categorized {
        headers.push((
            "x-loki-response-encoding-flags",
            "categorize-labels".to_owned(),
        ));
    }
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = get_with(host, &path, &headers);
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"]["resultType"], "streams");
    if categorized {
        assert_eq!(body["data"]["encodingFlags"], json!(["categorize-labels"]));
    }
    let mut out = Vec::new();
    for s in body["data"]["result"].as_array().expect("result") {
        for v in s["values"].as_array().expect("values") {
            let tuple = v.as_array().expect("a tuple");
            assert_eq!(tuple.len(), if categorized { 3 } else { 2 }, "{v}");
            let ts: u64 = tuple[0].as_str().expect("ns string").parse().expect("ns");
            out.push((
                ts,
                s["stream"].clone(),
                tuple[1].as_str().expect("line").to_owned(),
                tuple.get(2).cloned().unwrap_or(Value::Null),
            ));
        }
    }
    out.sort_by_key(|e| e.0);
    out.into_iter().map(|(_, s, l, m)| (s, l, m)).collect()
}

fn push_url(host: &TestHost) -> String {
    host.url("/loki/api/v1/push")
}

#[test]
fn python_logging_loki_pushes_with_basic_auth() {
    let host = shipper_host();
    let python = python();
    // python-logging-loki 0.3.1 sends one JSON push per record, with Basic
    // auth as its only way to authenticate; `handleError` records a refusal.
    let script = r#"
import json, logging, sys
import logging_loki

url, user, key = sys.argv[1:4]
failures = []
def handler(user):
    h = logging_loki.LokiHandler(url=url, tags={"app": "billing", "env": "test"},
                                 auth=(user, key), version="1")
    h.handleError = lambda record: failures.append((user, str(sys.exc_info()[1])))
    return h

log = logging.getLogger("billing")
log.setLevel(logging.DEBUG)
log.propagate = False
log.addHandler(handler(user))
log.warning("invoice 17 overdue")
log.error("card for invoice 18 declined", extra={"tags": {"customer": "c-42"}})
log.info("invoice 19 paid")
log.handlers = [handler("someone-else")]
log.info("sent under the wrong user")
print(json.dumps(failures))
"#;
    let failures = run(&python, None, script, &[&push_url(&host), "shipper", KEY]);
    // Only the push under a user that is not the key's uid was refused.
    assert_eq!(failures.as_array().unwrap().len(), 1, "{failures}");
    assert_eq!(failures[0][0], "someone-else");
    assert!(
        failures[0][1].as_str().unwrap().contains("401"),
        "{failures}"
    );

    let got = read_back(&host, r#"{app="billing"}"#, true);
    let lines: Vec<&str> = got.iter().map(|(_, l, _)| l.as_str()).collect();
    assert_eq!(
        lines,
        [
            "invoice 17 overdue",
            "card for invoice 18 declined",
            "invoice 19 paid"
        ]
    );
    // The handler's tags are the stream's labels; Loki 3 adds service_name
    // (from `app`), and detected_level (from the `severity` label) as
    // structured metadata.
    let (stream, _, meta) = &got[1];
    assert_eq!(
        stream,
        &json!({"app": "billing", "customer": "c-42", "env": "test", "logger": "billing",
                "service_name": "billing", "severity": "error"})
    );
    assert_eq!(meta["structuredMetadata"]["detected_level"], "error");
    assert_eq!(got[0].2["structuredMetadata"]["detected_level"], "warn");
    assert_eq!(got[2].2["structuredMetadata"]["detected_level"], "info");
    assert!(lines.iter().all(|l| !l.contains("wrong user")));
}

#[test]
fn loki_logger_handler_pushes_gzip_json_with_structured_metadata() {
    let host = shipper_host();
    let python = python();
    // loki-logger-handler 1.1.2 buffers records and flushes them from a
    // thread as one gzip-compressed JSON push (its `_send`, which it also
    // runs at exit); each stream object also carries its own
    // `message_in_json_format` and `loki_metadata` members, which Loki
    // ignores. A failed push sets `handler.error`.
    let script = r#"
import json, logging, sys
from loki_logger_handler.loki_logger_handler import LokiLoggerHandler

url, user, key = sys.argv[1:4]
h = LokiLoggerHandler(url=url, labels={"application": "orders", "environment": "test"},
                      label_keys={}, auth=(user, key), timeout=3600, compressed=True,
                      enable_structured_loki_metadata=True,
                      loki_metadata={"region": "eu-1"}, loki_metadata_keys=["trace_id"])
log = logging.getLogger("orders")
log.setLevel(logging.DEBUG)
log.propagate = False
log.addHandler(h)
log.info("order 7 created", extra={"trace_id": "4bf92f3577b34da6", "items": 3})
log.warning("order 8 retried", extra={"trace_id": "00f067aa0ba902b7"})
log.debug("order 9 inspected")
h._send()
print(json.dumps({"error": h.error}))
"#;
    let report = run(&python, None, script, &[&push_url(&host), "shipper", KEY]);
    assert_eq!(report, json!({"error": false}));

    let got = read_back(&host, r#"{service_name="orders"}"#, true);
    assert_eq!(got.len(), 3, "{got:?}");
    let parsed: Vec<Value> = got
        .iter()
        .map(|(_, l, _)| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let messages: Vec<&str> = parsed
        .iter()
        .map(|p| p["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        ["order 7 created", "order 8 retried", "order 9 inspected"]
    );
    assert_eq!(parsed[0]["items"], 3);
    assert!(
        parsed[0].get("trace_id").is_none(),
        "moved to metadata by the handler"
    );
    for (stream, _, _) in &got {
        assert_eq!(
            stream,
            &json!({"application": "orders", "environment": "test", "service_name": "orders"})
        );
    }
    let meta = |i: usize| got[i].2["structuredMetadata"].clone();
    assert_eq!(
        meta(0),
        json!({"region": "eu-1", "trace_id": "4bf92f3577b34da6", "detected_level": "info"})
    );
    assert_eq!(meta(1)["trace_id"], "00f067aa0ba902b7");
    // detected_level from the JSON line's `level` field.
    assert_eq!(meta(1)["detected_level"], "warn");
    assert_eq!(meta(2)["detected_level"], "debug");

    // Without the categorize flag Loki merges structured metadata into the
    // stream's labels, so Grafana without it still sees them.
    let plain = read_back(&host, r#"{service_name="orders"} | trace_id!="""#, false);
    assert_eq!(plain.len(), 2);
    assert_eq!(plain[0].0["trace_id"], "4bf92f3577b34da6");
    assert_eq!(plain[0].0["detected_level"], "info");
    assert_eq!(plain[0].0["region"], "eu-1");
}

#[test]
fn pino_loki_unbatched_lines_pushed_at_once_are_all_stored() {
    let host = shipper_host();
    let dir = spin_logs_tests::npm::npm_packages("loki-clients", NODE_CLIENTS)
        .expect("pino-loki from the npm registry");
    let node = spin_logs_tests::npm::node().expect("node");
    // pino-loki 3.0.0 with `batching: false` calls `push` for every line
    // without awaiting the one before, so the 30 pushes race each other
    // into one stream. It reports a refused push on console.error; the
    // script also counts the statuses of the requests it sees go out.
    let script = r#"
import pino from "pino";
import { pinoLoki } from "pino-loki";

const [host, user, key] = process.argv.slice(2);
const statuses = [];
const inflight = [];
const realFetch = globalThis.fetch;
globalThis.fetch = (...args) => {
  const p = realFetch(...args);
  inflight.push(p.then((r) => statuses.push(r.status), (e) => statuses.push(String(e))));
  return p;
};
const errors = [];
console.error = (...args) => errors.push(args.join(" "));

const transport = pinoLoki({
  host, batching: false, basicAuth: { username: user, password: key },
  labels: { app: "pino-shop" }, structuredMetaKey: "meta",
});
const logger = pino({ level: "debug" }, transport);
for (let i = 0; i < 30; i++) {
  const meta = { request_id: `r-${i}` };
  if (i % 10 === 9) logger.error({ meta }, `line ${i}`);
  else logger.info({ meta }, `line ${i}`);
}
const deadline = Date.now() + 60000;
while (inflight.length < 30 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
await Promise.allSettled(inflight);
await new Promise((r) => setTimeout(r, 100));
process.stdout.write(JSON.stringify({ statuses, errors }) + "\n");
process.exit(0);
"#;
    let report = run(
        &node,
        Some(&dir),
        script,
        &[&format!("{}/", host.base_url()), "shipper", KEY],
    );
    let statuses = report["statuses"].as_array().expect("statuses");
    assert_eq!(statuses.len(), 30, "{report}");
    assert!(statuses.iter().all(|s| s == 204), "none refused: {report}");
    assert_eq!(report["errors"], json!([]), "{report}");

    let got = read_back(&host, r#"{app="pino-shop"}"#, true);
    let mut lines: Vec<(u64, String)> = got
        .iter()
        .map(|(_, l, _)| {
            let v: Value = serde_json::from_str(l).expect("pino's JSON line");
            let msg = v["msg"].as_str().unwrap().to_owned();
            let n = msg.trim_start_matches("line ").parse().unwrap();
            (n, msg)
        })
        .collect();
    lines.sort();
    let want: Vec<(u64, String)> = (0..30).map(|i| (i, format!("line {i}"))).collect();
    assert_eq!(lines, want, "each line exactly once");
    let mut by_level: BTreeMap<String, usize> = BTreeMap::new();
    for (stream, line, meta) in &got {
        let v: Value = serde_json::from_str(line).unwrap();
        let i: u64 = v["msg"].as_str().unwrap()[5..].parse().unwrap();
        let level = stream["level"].as_str().unwrap();
        *by_level.entry(level.to_owned()).or_default() += 1;
        assert_eq!(stream["service_name"], "pino-shop");
        assert!(stream["hostname"].is_string(), "{stream}");
        assert_eq!(meta["structuredMetadata"]["detected_level"], level);
        assert_eq!(meta["structuredMetadata"]["request_id"], format!("r-{i}"));
    }
    assert_eq!(
        by_level,
        BTreeMap::from([("error".into(), 3), ("info".into(), 27)])
    );
}

#[test]
fn opentelemetry_otlp_http_exporter_logs_are_mapped_as_loki_maps_them() {
    let host = shipper_host();
    let python = python();
    // The OpenTelemetry Python SDK's logging bridge and OTLP/HTTP exporter
    // (protobuf, gzip), as an instrumented service ships its logs.
    let script = r#"
import json, logging, sys
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

url, auth = sys.argv[1:3]
results = []
class Recording(OTLPLogExporter):
    def export(self, batch):
        result = super().export(batch)
        results.append(result.name)
        return result

resource = Resource.create({
    "service.name": "checkout", "k8s.namespace.name": "shop",
    "k8s.pod.name": "checkout-7d9f", "host.name": "node-3",
})
provider = LoggerProvider(resource=resource)
exporter = Recording(endpoint=url, headers={"Authorization": auth},
                     compression=Compression.Gzip)
provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
log = logging.getLogger("shop.checkout")
log.setLevel(logging.DEBUG)
log.propagate = False
log.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=provider))
log.warning("payment for order %s declined", 42, extra={"order_id": "42"})
log.error("gateway timeout")
log.debug("cart recalculated")
provider.shutdown()
print(json.dumps(results))
"#;
    let url = host.url("/otlp/v1/logs");
    let results = run(&python, None, script, &[&url, &format!("ApiKey {KEY}")]);
    assert_eq!(results, json!(["SUCCESS", "SUCCESS", "SUCCESS"]));
    // Basic auth too, as the Collector's basicauth extension sends it.
    let basic = format!(
        "Basic {}",
        base64_encode(format!("shipper:{KEY}").as_bytes())
    );
    let results = run(&python, None, script, &[&url, &basic]);
    assert_eq!(results, json!(["SUCCESS", "SUCCESS", "SUCCESS"]));

    let got = read_back(&host, r#"{service_name="checkout"}"#, true);
    assert_eq!(got.len(), 6, "{got:?}");
    let lines: Vec<&str> = got.iter().map(|(_, l, _)| l.as_str()).collect();
    assert_eq!(
        &lines[..3],
        [
            "payment for order 42 declined",
            "gateway timeout",
            "cart recalculated"
        ]
    );
    // Loki's default index labels among the resource attributes, `.` as `_`
    // (the SDK adds `service.instance.id`, one per run: two streams).
    let mut instances = std::collections::BTreeSet::new();
    for (stream, _, _) in &got {
        let mut stream = stream.clone();
        let instance = stream
            .as_object_mut()
            .unwrap()
            .remove("service_instance_id");
        instances.insert(instance.expect("service_instance_id").to_string());
        assert_eq!(
            stream,
            json!({"k8s_namespace_name": "shop", "k8s_pod_name": "checkout-7d9f",
                   "service_name": "checkout"})
        );
    }
    assert_eq!(instances.len(), 2, "{instances:?}");
    // The rest: structured metadata, with the severity as detected_level.
    let meta = got[0].2["structuredMetadata"].clone();
    assert_eq!(meta["host_name"], "node-3");
    assert_eq!(meta["telemetry_sdk_language"], "python");
    assert_eq!(meta["order_id"], "42");
    assert_eq!(meta["scope_name"], "shop.checkout");
    assert_eq!(meta["severity_text"], "WARN");
    assert_eq!(meta["severity_number"], "13");
    assert_eq!(meta["detected_level"], "warn");
    assert_eq!(got[1].2["structuredMetadata"]["detected_level"], "error");
    assert_eq!(got[2].2["structuredMetadata"]["detected_level"], "debug");
    // LogQL filters on structured metadata as Loki does.
    let errors = read_back(
        &host,
        r#"{service_name="checkout"} | detected_level="error""#,
        false,
    );
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].1, "gateway timeout");
}

/// Standard base64 with padding (RFC 4648), for a Basic credential.
fn base64_encode(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.len();
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= n {
                out.push(ABC[(v >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
