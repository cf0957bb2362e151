//! A page of hits as the Kubernetes routes answer it: each entry with its
//! times (ns as a string, and RFC 3339), its labels and level, its context
//! lines when asked; the page's `has_more`, `next_cursor` and `stats`.

use super::filters::FILTER_LABELS;
use super::params::encode_cursor;
use crate::read::search::{Hit, Page};
use serde_json::{Map, Value, json};

/// A timestamp (ns) as RFC 3339 with nanoseconds.
pub(super) fn ts_json(ts: u64) -> Value {
    json!(crate::read::format::rfc3339_ns(ts))
}

/// `page` as JSON; its cursor carries `fingerprint`, so it resumes only the
/// same query, and the start of `range`, the one the page searched, so the
/// next page starts there too. `context`: each entry says its context lines; `query`:
/// the page repeats the query it answers.
pub(super) fn page_json(
    page: &Page,
    fingerprint: &str,
    range: (u64, u64),
    context: bool,
    query: Option<&str>,
) -> Value {
    let mut o = json!({
        "logs": page.hits.iter().map(|h| hit_json(h, context)).collect::<Vec<_>>(),
        "count": page.hits.len(),
        "has_more": page.has_more,
        "stats": json!(page.stats),
    });
    if let Some(r) = &page.resume {
        o["next_cursor"] = json!(encode_cursor(r, fingerprint, range));
    }
    if let Some(q) = query {
        o["query"] = json!(q);
    }
    o
}

fn hit_json(h: &Hit, context: bool) -> Value {
    let mut o = Map::new();
    o.insert("timestamp".into(), ts_json(h.key.ts));
    o.insert("timestamp_ns".into(), json!(h.key.ts.to_string()));
    for name in FILTER_LABELS {
        if let Some(v) = h.stream_labels.get(name) {
            o.insert(name.into(), json!(v));
        }
    }
    o.insert("labels".into(), json!(*h.labels));
    o.insert("line".into(), json!(h.line));
    o.insert("level".into(), json!(h.level));
    if !h.metadata.is_empty() {
        let m: Map<String, Value> =
            crate::util::sort::collect(h.metadata.iter().map(|(k, v)| (k.clone(), json!(v))));
        o.insert("metadata".into(), Value::Object(m));
    }
    if context {
        o.insert("context_before".into(), json!(h.before));
        o.insert("context_after".into(), json!(h.after));
    }
    Value::Object(o)
}
