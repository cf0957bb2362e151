#!/usr/bin/env python3
"""Writes docs/openapi.json, the OpenAPI 3.1 document of the whole API.

Run `python3 docs/openapi.py` after changing a route; tests/tests/openapi.rs
checks that every spin.toml route is in the document the app serves at
GET /openapi.json, and that the document parses.
"""
import json, os

AGENT = "/system/v1/agent/{agent_id}/logs/v2/task/frameworks/{framework_id}/executors/{executor_id}/runs/{container_id}"
POD = AGENT + "/tasks/{task_id}"
JOBS = "/api/public/v1.0/groups/{group_id}/logCollectionJobs"
JOBS_ALIAS = "/api/v1/groups/{group_id}/logCollectionJobs"

def p(name, where="query", desc="", schema=None, required=None):
    return {"name": name, "in": where, "required": where == "path" if required is None else required,
            "description": desc, "schema": schema or {"type": "string"}}

READ_Q = [p("cursor", desc="BEG, END, or a position this API gave out"), p("skip", desc="+N or -N lines", schema={"type": "integer"}),
          p("limit", desc="lines to send", schema={"type": "integer", "minimum": 0}), p("filter", desc="KEY:value (component logs; repeatable)"),
          p("stream", desc="true: 307 to the follow route", schema={"type": "boolean"})]
TEXT = {"text/plain": {"schema": {"type": "string"}}, "application/x-ndjson": {"schema": {"type": "string"}}}
SSE = {"text/event-stream": {"schema": {"type": "string"}}, "application/x-ndjson": {"schema": {"type": "string"}}}
JSON = {"application/json": {"schema": {"type": "object"}}}
GZ = {"application/gzip": {"schema": {"type": "string", "format": "binary"}}}
OCTETS = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}

def errors(*codes):
    return {str(c): {"$ref": f"#/components/responses/{c}"} for c in codes}

def op(summary, tag, params=(), ok=None, body=None, codes=(400, 401, 403, 404, 429), security=True, extra=None):
    o = {"summary": summary, "tags": [tag], "parameters": list(params), "responses": {}}
    for status, content in (ok or {"200": JSON}).items():
        o["responses"][status] = {"description": summary} | ({"content": content} if content else {})
    o["responses"].update(errors(*codes))
    if body:
        o["requestBody"] = {"required": True, "content": body}
    if not security:
        o["security"] = []
    if extra:
        o.update(extra)
    return o

def path_params(path):
    return [p(seg[1:-1], "path") for seg in path.split("/") if seg.startswith("{")]

paths = {}
def add(path, method, operation):
    operation["parameters"] = path_params(path) + operation["parameters"]
    paths.setdefault(path, {})[method] = operation

ING = "/system/v1/logs/v2/ingest"
add(ING + "/tasks/{task_id}", "put", op("Register or update a task", "ingest", ok={"201": JSON, "200": JSON}, body=JSON, codes=(400, 401, 403, 413, 415, 429)))
add(ING + "/tasks/{task_id}", "get", op("A task's metadata", "ingest"))
add(ING + "/tasks/{task_id}/files/{filename}", "post", op("Append lines to a sandbox file", "ingest",
    params=[p("Idempotency-Key", "header", "a retry with the same key is stored once", required=False)],
    body={"text/plain": {"schema": {"type": "string"}}, "application/x-ndjson": {"schema": {"type": "string"}}}, codes=(400, 401, 403, 413, 415, 422, 429, 503)))
add(ING + "/component", "post", op("Append journal entries (NDJSON, journald fields)", "ingest", body={"application/x-ndjson": {"schema": {"type": "string"}}}, codes=(400, 401, 403, 413, 415, 429, 503)))
for suffix, what in [("", "Component (journal) logs"), ("/{name}", "One component's logs")]:
    add("/system/v1/logs/v2/component" + suffix, "get", op(what, "dump", READ_Q, ok={"200": TEXT, "204": None}, codes=(400, 401, 403, 404, 406, 429)))
    add("/system/v1/logs/v2/follow/system/v1/logs/v2/component" + suffix, "get", op("Follow " + what.lower(), "tail", READ_Q + [p("Last-Event-ID", "header", required=False)], ok={"200": SSE, "204": None}))
DISC = "/system/v1/logs/v2/task/{task}"
for suffix, what in [("", "a task's stdout"), ("/file/{file}", "a task's file"), ("/browse", "a task's sandbox listing"),
                     ("/download", "a task's stdout as a download"), ("/file/{file}/download", "a task's file as a download"), ("/archive", "a task's sandbox as .tar.gz")]:
    add(DISC + suffix, "get", op("Redirect (303) to the agent route of " + what, "discovery", ok={"303": None}, codes=(400, 401, 403, 404, 409, 429)))
LOCAL = "/system/v1/logs/v2/task/frameworks/{framework_id}/executors/{executor_id}/runs/{container_id}"
for base in (LOCAL, LOCAL + "/tasks/{task_id}"):
    for tail, what in [("/{file}", "a file"), ("/{file}/download", "a file's download"), ("/files/browse", "the sandbox listing"), ("/files/archive", "the sandbox archive")]:
        add(base + tail, "get", op("The agent's own spelling of " + what + ": 307 to the proxied agent route", "discovery", ok={"307": None}))
for base in (AGENT, POD):
    add(base + "/{file}", "get", op("Read a sandbox file", "dump", READ_Q, ok={"200": TEXT, "204": None}, codes=(400, 401, 403, 404, 406, 429)))
    add("/system/v1/logs/v2/follow" + base + "/{file}", "get", op("Follow a sandbox file", "tail", READ_Q + [p("Last-Event-ID", "header", required=False)], ok={"200": SSE, "204": None}))
    add(base + "/files/browse", "get", op("List the sandbox", "browse", ok={"200": JSON}))
    add(base + "/{file}/download", "get", op("Download a sandbox file (Range, If-Range, ETag)", "archive",
        [p("Range", "header", required=False)], ok={"200": OCTETS, "206": OCTETS, "304": None}, codes=(400, 401, 403, 404, 416, 429)))
    add(base + "/files/archive", "get", op("The sandbox as a streamed .tar.gz", "archive", ok={"200": GZ}, codes=(400, 401, 403, 404, 413, 429)))
for base, note in [(JOBS, ""), (JOBS_ALIAS, " (alias)")]:
    add(base, "post", op("Create a log collection job" + note, "archive", ok={"201": JSON}, body=JSON, codes=(400, 401, 403, 415, 429)))
    add(base, "get", op("List log collection jobs" + note, "archive", [p("pageNum", schema={"type": "integer"}), p("itemsPerPage", schema={"type": "integer"})]))
    add(base + "/{job_id}", "get", op("One job (advances it by one step)" + note, "archive"))
    add(base + "/{job_id}", "patch", op("Extend a job's expirationDate" + note, "archive", body=JSON))
    add(base + "/{job_id}", "delete", op("Delete a job and its archive" + note, "archive", ok={"204": None}))
    add(base + "/{job_id}/retry", "put", op("Collect failed files again" + note, "archive"))
    add(base + "/{job_id}/download", "get", op("Download the job's .tar.gz (Range)" + note, "archive",
        [p("Range", "header", required=False), p("token", desc="a URL token from .../{job_id}/token")], ok={"200": GZ, "206": GZ}, codes=(400, 401, 403, 404, 409, 410, 416, 429)))
    add(base + "/{job_id}/token", "post", op("A URL token for the job's download: {token, url, expires_in}" + note, "archive",
        ok={"201": JSON}, codes=(400, 401, 403, 404, 429)))
add("/apps/{app}/logs", "get", op("Scalingo-style app logs: dump or stream", "tail",
    [p("n", schema={"type": "integer"}), p("filter"), p("stream", schema={"type": "boolean"}), p("token", desc="a URL token")], ok={"200": TEXT | SSE, "204": None}))
add("/v1/apps/{app}/logs", "get", op("Scalingo's Application#logs: the app's logs_url", "token"))
CAPTURE_Q = [p("level", schema={"enum": ["Trace", "Debug", "Information", "Warning", "Error", "Critical"]}),
             p("durationSeconds", schema={"type": "integer", "minimum": -1, "maximum": 2147483647})]
add("/logs", "get", op("dotnet-monitor capture of the default process", "tail", CAPTURE_Q, ok={"200": SSE, "204": None}))
add("/logs/{process}", "get", op("dotnet-monitor capture of one process: a pid or a runtime-instance GUID", "tail", CAPTURE_Q, ok={"200": SSE, "204": None}))
add("/system/v1/logs/v2/tokens", "post", op("Mint a URL token for a task or an app", "token", ok={"201": JSON}, body=JSON, codes=(400, 401, 403, 404, 415, 429, 501)))
K = "/k8s/v1"
add(K + "/archive/policies", "get", op("Archive policies (or one: ?id=)", "retention", [p("id")]))
add(K + "/archive/policies", "post", op("Create an archive policy", "retention", ok={"201": JSON}, body=JSON, codes=(400, 401, 403, 409, 415, 429)))
add(K + "/archive/policies", "put", op("Replace an archive policy", "retention", [p("id", required=True)], body=JSON, codes=(400, 401, 403, 404, 409, 415, 429)))
add(K + "/archive/policies", "delete", op("Delete an archive policy", "retention", [p("id", required=True)], ok={"204": None}))
add(K + "/archive/start", "post", op("Start or advance archive runs (one step)", "retention", ok={"200": JSON, "202": JSON}, body=JSON, codes=(400, 401, 403, 404, 409, 415, 429)))
add(K + "/archive/jobs", "get", op("Archive runs (or one: ?id=)", "retention", [p("id"), p("policy_id"), p("status", schema={"enum": ["RUNNING", "DRAINING", "DONE"]})]))
add(K + "/s3/metadata", "get", op("Archive objects by labels, task, policy and time", "retention",
    [p("labels", desc="k=v,k2=v2"), p("namespace"), p("task_id"), p("file"), p("policy_id"), p("source"), p("since", schema={"type": "string", "format": "date-time"}),
     p("until", schema={"type": "string", "format": "date-time"}), p("limit", schema={"type": "integer", "minimum": 1, "maximum": 1000}), p("cursor"), p("include_deleted", schema={"type": "boolean"})]))
add(K + "/s3/content", "get", op("One archive object's lines, or its stored .gz", "retention", [p("id", required=True), p("format", schema={"enum": ["gzip"]}), p("Range", "header", required=False)],
    ok={"200": TEXT | GZ, "206": TEXT | GZ}, codes=(400, 401, 403, 404, 410, 416, 429)))
add(K + "/s3/stats", "get", op("Archive objects, bytes and ratio by namespace", "retention"))
add(K + "/storage/info", "get", op("Backends, bucket, hot and archived bytes", "retention"))
K8S_FILTERS = [p(n, desc=f"the {n} label") for n in ("cluster", "namespace", "pod", "container", "node", "app", "stream", "task", "file")] + [
    p("labels", desc='more labels: {app="web",tier=~"f.*"} or app=web,tier=front'),
    p("start", desc="ns since the epoch, seconds (with a fraction) or RFC 3339; default: all kept time"), p("end", desc="same forms; default now"),
    p("since", desc="a duration before end (5m, 1h30m, 2d)"), p("contains", desc="a substring every line has (repeatable)"),
    p("regex", desc="a regex every line matches (repeatable)"), p("case_insensitive", schema={"type": "boolean"}),
    p("level", desc="detected levels, comma-separated: trace, debug, info, warn, error, critical, unknown"),
    p("limit", schema={"type": "integer", "minimum": 1, "maximum": 5000, "default": 100}),
    p("direction", schema={"enum": ["backward", "forward"], "default": "backward"}),
    p("cursor", desc="next_cursor of the previous page: resumes exactly after its last entry"),
    p("budget_ms", desc="scan at most this long (capped by query_budget_ms)", schema={"type": "integer", "minimum": 0})]
add(K + "/", "get", op("Logs of labelled streams by filters: {logs, count, has_more, next_cursor, stats}", "query", K8S_FILTERS))
add(K + "/search", "post", op("The same as a JSON body, plus patterns, case_insensitive, context_before/context_after", "query", body=JSON, codes=(400, 401, 403, 415, 429)))
add(K + "/search/logql", "post", op("A LogQL query ({query, start, end, since, limit, direction, cursor, step}): log lines, or a metric matrix", "query", body=JSON, codes=(400, 401, 403, 415, 429)))
add(K + "/tail", "get", op("Live tail of a LogQL log query as Server-Sent Events: one event per batch, id = cursor", "query",
    [p("query", required=True, desc="a LogQL log query"), p("start", desc="default now"), p("cursor"), p("Last-Event-ID", "header", required=False)],
    ok={"200": {"text/event-stream": {"schema": {"type": "string"}}}}, codes=(400, 401, 403, 429)))
add(K + "/namespaces", "get", op("Namespaces with pods, streams, entries, bytes, first and last timestamps", "query", [p("cluster")]))
add(K + "/pods", "get", op("Pods of a namespace with their containers and counts", "query", [p("namespace", required=True), p("cluster")]))
add(K + "/containers", "get", op("Containers of a pod with their outputs and counts", "query", [p("namespace", required=True), p("pod", required=True), p("cluster")]))
L = "/loki/api/v1"
LOKI_RANGE = [p("query", required=True, desc="LogQL"), p("start", desc="default: an hour before end"), p("end"), p("since"),
              p("limit", schema={"type": "integer", "default": 100}), p("direction", schema={"enum": ["backward", "forward"]}), p("step"), p("interval")]
add(L + "/push", "post", op("Loki push: snappy protobuf (push.proto) or JSON, gzip too", "ingest", ok={"204": None},
    body={"application/x-protobuf": {"schema": {"type": "string", "format": "binary"}}} | JSON, codes=(400, 401, 403, 413, 415, 422, 429, 503)))
add(L + "/query_range", "get", op("Loki range query: streams or matrix", "query", LOKI_RANGE))
add(L + "/query", "get", op("Loki instant query (metric queries): vector", "query", [p("query", required=True), p("time")]))
add(L + "/labels", "get", op("Label names", "query", [p("query", desc="a stream selector"), p("start"), p("end")]))
add(L + "/label", "get", op("Label names (Loki's older spelling of /labels)", "query", [p("query", desc="a stream selector"), p("start"), p("end")]))
add(L + "/label/{name}/values", "get", op("Values of a label", "query", [p("query", desc="a stream selector"), p("start"), p("end")]))
add(L + "/series", "get", op("Label sets of the streams that match", "query", [p("match[]", required=True, desc="stream selector (repeatable)"), p("start"), p("end")]))
add(L + "/tail", "get", op("Loki's WebSocket tail: always a 400 that points to SSE", "query", codes=(400, 401, 403)))
add("/ui/{asset}", "get", op("The web viewer: its page (/ui/) and files, with ETag, gzip and Cache-Control", "ui",
    [p("v", desc="the file's hash: the answer may then be cached for good")], ok={"200": {"description": "the file", "content": {"text/html": {}}}, "304": {"description": "not modified"}},
    security=False, codes=(404,)))
add("/", "get", op("What this API is, and its route families", "index", security=False, codes=()))
add("/openapi.json", "get", op("This document", "index", security=False, codes=()))

problem = {"type": "object", "required": ["type", "title", "status", "detail"], "properties": {
    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"},
    "parameter": {"type": "string", "description": "the query parameter, header or path segment at fault"},
    "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}, "description": "ValidationProblemDetails (dotnet-monitor routes)"}},
    "additionalProperties": True}
reasons = {400: "Bad input", 401: "No or refused credentials (WWW-Authenticate says how)", 403: "Missing permission", 404: "Nothing there",
           406: "Unacceptable Accept", 409: "Conflict", 410: "Gone (expired)", 413: "Too large", 415: "Unsupported media type", 416: "Range not satisfiable",
           422: "Idempotency key reused with another body", 429: "Rate limited (Retry-After)", 501: "Not configured", 503: "Contended; retry"}
doc = {
    "openapi": "3.1.0",
    "info": {"title": "spin-logs", "version": "0.1.0", "description": "A logging API on Spin: the DC/OS Logging API v2 and what Scalingo, dotnet-monitor, MongoDB and a Kubernetes logs API add. See README.md."},
    "servers": [{"url": "http://127.0.0.1:3000"}],
    "security": [{"bearer": []}, {"dcosToken": []}, {"apiKey": []}, {"digest": []}, {"urlToken": []}],
    "paths": paths,
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (HS256, RS256, ES256)"},
            "dcosToken": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "token=<jwt>, as DC/OS sends it"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "ApiKey <key> or MonitorApiKey <key>"},
            "digest": {"type": "http", "scheme": "digest", "description": "RFC 7616, qop=auth, SHA-256 or MD5: API key pairs"},
            "urlToken": {"type": "apiKey", "in": "query", "name": "token", "description": "a URL token from POST /system/v1/logs/v2/tokens"},
        },
        "schemas": {"Problem": problem},
        "responses": {str(c): {"description": d, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}} for c, d in reasons.items()},
    },
}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "openapi.json")
with open(out, "w") as f:
    json.dump(doc, f, indent=1)
    f.write("\n")
print(f"wrote {out}: {len(paths)} paths")
