//! `docs/openapi.json`, the OpenAPI 3.1 document of every row, which the
//! `index` component serves at `GET /openapi.json`.

use super::{families, openapi_path, spellings};
use serde_json::{Map, Value, json};
use spin_logs::routes::{Body, Endpoint, Kind, Param};

/// What each problem status means, for `components/responses`.
const REASONS: &[(u16, &str)] = &[
    (400, "Bad input"),
    (401, "No or refused credentials (WWW-Authenticate says how)"),
    (403, "Missing permission"),
    (404, "Nothing there"),
    (406, "Unacceptable Accept"),
    (409, "Conflict"),
    (410, "Gone (expired)"),
    (413, "Too large"),
    (415, "Unsupported media type"),
    (416, "Range not satisfiable"),
    (422, "Idempotency key reused with another body"),
    (429, "Rate limited (Retry-After)"),
    (501, "Not configured"),
    (503, "Unavailable or contended; retry after Retry-After"),
];

pub fn render() -> String {
    let mut paths = Map::new();
    for family in families() {
        for endpoint in family.endpoints() {
            for (path, alias) in spellings(family, endpoint.path) {
                let mut op = operation(endpoint, family.component());
                if alias {
                    op["summary"] = format!("{} (alias)", endpoint.summary).into();
                }
                let method = endpoint.verb.as_str().to_ascii_lowercase();
                let entry = paths
                    .entry(openapi_path(&path))
                    .or_insert_with(|| json!({}));
                entry[method] = op;
            }
        }
    }
    let doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "spin-logs",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A logging API on Spin: the DC/OS Logging API v2 and what Scalingo, \
                            dotnet-monitor, MongoDB, a Kubernetes logs API and Loki add. \
                            Written from the route tables by tools/gen; see docs/routes.md.",
        },
        "servers": [{"url": "http://127.0.0.1:3000"}],
        "security": [{"bearer": []}, {"dcosToken": []}, {"apiKey": []}, {"digest": []}, {"urlToken": []}],
        "paths": paths,
        "components": components(),
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

fn operation(e: &Endpoint, tag: &str) -> Value {
    let mut parameters: Vec<Value> = e
        .path
        .split('/')
        .filter_map(|s| match s {
            "..." => Some("path"),
            s => s.strip_prefix(':'),
        })
        .map(|name| {
            json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
        })
        .collect();
    parameters.extend(e.params.iter().map(parameter));
    let mut responses = Map::new();
    // A row that always refuses (Loki's WebSocket tail) has only its problem.
    if e.status < 400 {
        let mut ok = json!({"description": e.summary});
        if let Some(content) = content(&e.response) {
            ok["content"] = content;
        }
        responses.insert(e.status.to_string(), ok);
    }
    for code in errors(e) {
        let reference = format!("#/components/responses/{code}");
        responses.insert(code.to_string(), json!({"$ref": reference}));
    }
    let mut op = json!({
        "summary": e.summary,
        "tags": [tag],
        "parameters": parameters,
        "responses": responses,
    });
    if let Some(content) = content(&e.request) {
        op["requestBody"] = json!({"required": true, "content": content});
    }
    if e.rule.public {
        op["security"] = json!([]);
    } else {
        let mut needs: Vec<&str> = e.rule.any_of.to_vec();
        needs.push(spin_logs::routes::SUPERUSER);
        op["x-permissions"] = json!(needs);
    }
    op
}

/// The problems a row may answer: the gate's, bad input, a missing name,
/// a body's, and the row's own.
fn errors(e: &Endpoint) -> Vec<u16> {
    let named = e.path.contains(':') || e.path.contains("...");
    let mut codes = Vec::new();
    if !(e.rule.public && e.params.is_empty() && !named) {
        codes.push(400);
    }
    if !e.rule.public {
        codes.extend([401, 403, 429]);
    }
    if named {
        codes.push(404);
    }
    if !e.request.media.is_empty() {
        codes.extend([413, 415]);
    }
    codes.extend(e.errors);
    if e.status >= 400 {
        codes.push(e.status);
    }
    codes.sort_unstable();
    codes.dedup();
    codes
}

fn parameter(p: &Param) -> Value {
    let schema = match p.kind {
        Kind::Text => json!({"type": "string"}),
        Kind::Integer => json!({"type": "integer"}),
        Kind::Boolean => json!({"type": "boolean"}),
        Kind::OneOf(values) => json!({"enum": values}),
    };
    json!({
        "name": p.name,
        "in": if p.header { "header" } else { "query" },
        "required": p.required,
        "description": p.doc,
        "schema": schema,
    })
}

/// A body's `content`, if it has one.
fn content(body: &Body) -> Option<Value> {
    if body.media.is_empty() {
        return None;
    }
    let schema = match body.schema {
        Some(name) => json!({"$ref": format!("#/components/schemas/{name}")}),
        None if body.media.ends_with("json") => json!({"type": "object"}),
        None if body.media.starts_with("text/") || body.media.contains("ndjson") => {
            json!({"type": "string"})
        }
        None => json!({"type": "string", "format": "binary"}),
    };
    Some(json!({ body.media: {"schema": schema} }))
}

fn components() -> Value {
    let problem = json!({
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "parameter": {"type": "string", "description": "the query parameter, header or path segment at fault"},
            "errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}},
                       "description": "ValidationProblemDetails (dotnet-monitor routes)"}
        },
        "additionalProperties": true
    });
    let mut schemas = spin_logs::api::schemas::components();
    schemas.insert("Problem".to_owned(), problem);
    let responses: Map<String, Value> = REASONS
        .iter()
        .map(|(code, why)| {
            let content = json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
            (code.to_string(), json!({"description": why, "content": content}))
        })
        .collect();
    json!({
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (HS256, RS256, ES256)"},
            "dcosToken": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "token=<jwt>, as DC/OS sends it"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "ApiKey <key> or MonitorApiKey <key>"},
            "digest": {"type": "http", "scheme": "digest", "description": "RFC 7616, qop=auth, SHA-256 or MD5: API key pairs"},
            "urlToken": {"type": "apiKey", "in": "query", "name": "token", "description": "a URL token from POST /system/v1/logs/v2/tokens"},
        },
        "schemas": schemas,
        "responses": responses,
    })
}

/// Every schema a row names, for the test that none is missing.
#[cfg(test)]
fn named_schemas() -> Vec<&'static str> {
    let mut out = Vec::new();
    for family in families() {
        for e in family.endpoints() {
            out.extend(e.request.schema);
            out.extend(e.response.schema);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_a_row_names_is_defined() {
        let schemas = spin_logs::api::schemas::components();
        for name in named_schemas() {
            assert!(schemas.contains_key(name), "{name}: no JsonSchema for it");
        }
    }
}
