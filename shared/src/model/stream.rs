//! Labelled streams: Kubernetes (and Loki) logs, one append-only keyed
//! [`Log`] per label set, plus the postings that find streams by label
//! without listing keys.
//!
//! ```text
//! streams/m/<id>              the stream's labels and first timestamp (written once)
//! streams/s/<id>/...          its entries: a keyed log (store::log), key = timestamp
//! streams/p/<name>/<digest>   postings: the ids of the streams with name=value
//! streams/v/<name>            the values `name` has taken, sorted
//! streams/names               every label name, sorted
//! streams/all                 every stream id, sorted (a query with no
//!                             label matcher, such as `GET /k8s/v1/`)
//! ```
//!
//! `id` is a digest of the canonical label set, so every writer names a
//! stream the same way without asking anyone. A stream is registered
//! (metadata, then postings) before its first entry is committed, so a reader
//! that finds an entry always finds its stream, and a crash in between leaves
//! at worst an empty stream in the index. A new stream costs a handful of
//! compare-and-swaps once; an append to a known one costs what any log
//! append does (one blob write, one head swap).
//!
//! **Entries** are one line each: `<ts ns>\t<line>[\t<metadata JSON>]`, the
//! line with `\\`, `\n`, `\r` and `\t` escaped, so a literal search can scan
//! stored bytes with `memmem` and decode only the lines that hit. The key of
//! an entry is its timestamp. Entries may arrive out of order as Loki 3
//! takes them: up to [`WINDOW_NS`] behind the stream's newest entry (older
//! ones are dropped, the rest of their push stored), the log's head
//! checking it in the same swap that commits the bytes. Each segment and
//! page records the bounds of its timestamps (`store::log`'s contract),
//! which is what turns a time range into a seek whatever the arrival order.

use crate::logql::Labels;
use crate::store::Store;
use crate::store::error::{StoreError, StoreResult};
use crate::store::kv::{Update, update};
use crate::store::log::{Keys, Log, Snapshot};
use crate::util::ids::digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::rc::Rc;

/// Lost races tolerated on an index key before giving up.
const INDEX_ATTEMPTS: u32 = 100;

/// What the index keeps of a stream: its labels and when it began.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StreamMeta {
    /// The full label set, which the id digests.
    pub labels: Labels,
    /// Timestamp (ns) of the first entry ever pushed: a lower bound of every
    /// entry's, which lets a query skip streams that began after its range.
    pub first: u64,
    /// A DC/OS task file indexed as a stream: its log's prefix. Its lines
    /// are plain text, each timed by the commit of the append that wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_log: Option<String>,
}

impl StreamMeta {
    /// The log holding this stream's lines.
    pub fn log(&self, store: Rc<Store>, id: &str) -> Log {
        match &self.file_log {
            Some(prefix) => Log::new(store, prefix.clone()),
            None => log(store, id),
        }
    }
}

/// One stream, by id.
pub struct Stream {
    /// [`stream_id`] of its labels.
    pub id: String,
    /// Its labels, first timestamp and where its lines are.
    pub meta: StreamMeta,
}

/// The canonical text of a label set, Loki's `{a="1", b="2"}` (sorted,
/// Go-quoted): what the id digests and what responses show.
pub fn canonical(labels: &Labels) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(k);
        out.push('=');
        out.push_str(&serde_json::Value::String(v.clone()).to_string());
    }
    out.push('}');
    out
}

/// A stream's id: a digest of its [`canonical`] labels, the same for every
/// writer, so none has to ask which stream a label set is.
pub fn stream_id(labels: &Labels) -> String {
    digest(canonical(labels).as_bytes())
}

/// The keyed log of a pushed stream's entries (`streams/s/<id>`); a task
/// file's lines are elsewhere ([`StreamMeta::log`]).
pub fn log(store: Rc<Store>, id: &str) -> Log {
    Log::new(store, format!("streams/s/{id}"))
}

fn meta_key(id: &str) -> String {
    format!("streams/m/{id}")
}

fn postings_key(name: &str, value: &str) -> String {
    format!("streams/p/{name}/{}", digest(value.as_bytes()))
}

fn values_key(name: &str) -> String {
    format!("streams/v/{name}")
}

const NAMES_KEY: &str = "streams/names";
const ALL_KEY: &str = "streams/all";

fn read_list(store: &Store, key: &str) -> StoreResult<Vec<String>> {
    match store.meta.get(key)? {
        None => Ok(Vec::new()),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::internal(format!("index {key}: {e}"))),
    }
}

/// Adds `items` to the sorted list at `key` in one swap; the ones that were
/// not there (nothing is written when none is new).
fn add_to_list(store: &Store, key: &str, items: &[&str]) -> StoreResult<Vec<String>> {
    update::<_, StoreError>(
        store.meta.as_ref(),
        key,
        Some(b"[]"),
        INDEX_ATTEMPTS,
        |current| {
            let mut list: Vec<String> = match current {
                Some(bytes) => serde_json::from_slice(bytes)
                    .map_err(|e| StoreError::internal(format!("index {key}: {e}")))?,
                None => Vec::new(),
            };
            let mut added = Vec::new();
            for item in items {
                if let Err(at) = list.binary_search_by(|x| x.as_str().cmp(item)) {
                    list.insert(at, (*item).to_owned());
                    added.push((*item).to_owned());
                }
            }
            if added.is_empty() {
                return Ok(Update::Keep(added));
            }
            let bytes = serde_json::to_vec(&list).map_err(StoreError::internal)?;
            Ok(Update::Write(bytes, added))
        },
    )
}

/// The stream with these labels, registering it (metadata, postings, label
/// values) if this is its first push. Idempotent and safe to race: every
/// step either finds its effect already there or adds it once.
pub fn register(store: &Store, labels: &Labels, first_ts: u64) -> StoreResult<String> {
    register_as(store, labels, first_ts, None)
}

/// A task file as a stream, so one search covers task files and pushed
/// streams alike: the task's labels (names made Loki-safe) plus `task` and
/// `file`, as they are when the file gets its first line.
pub fn register_file(
    store: &Store,
    task_id: &str,
    task_labels: &std::collections::BTreeMap<String, String>,
    file: &str,
    log_prefix: &str,
    first_ts: u64,
) -> StoreResult<String> {
    let mut labels: Labels = task_labels
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (label_name(k), v.clone()))
        .collect();
    labels.insert("task".into(), task_id.to_owned());
    labels.insert("file".into(), file.to_owned());
    register_as(store, &labels, first_ts, Some(log_prefix.to_owned()))
}

/// `app.kubernetes.io/name` -> `app_kubernetes_io_name`: what Loki's
/// label-name rule allows.
fn label_name(name: &str) -> String {
    let mut out = label_chars(name);
    if out.is_empty() || out.as_bytes()[0].is_ascii_digit() {
        out.insert(0, '_');
    }
    out
}

/// `name` with every character outside `[a-zA-Z0-9_]` replaced by `_`: the
/// part of turning a name into a label name that every source shares
/// (each adds its own rule for an empty name or a leading digit).
pub fn label_chars(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn register_as(
    store: &Store,
    labels: &Labels,
    first_ts: u64,
    file_log: Option<String>,
) -> StoreResult<String> {
    let ids = register_many(store, &[(labels.clone(), first_ts, file_log)])?;
    ids.into_iter()
        .next()
        .ok_or_else(|| StoreError::internal("registered no stream"))
}

/// Registers every stream of one push at once (ids in the same order): a
/// push that starts a hundred pods' streams swaps each shared index key
/// (`cluster=...`, `namespace=...`, the label values, `streams/all`) once,
/// not once per stream.
pub fn register_many(
    store: &Store,
    streams: &[(Labels, u64, Option<String>)],
) -> StoreResult<Vec<String>> {
    let mut ids = Vec::with_capacity(streams.len());
    let mut fresh: Vec<(String, &Labels)> = Vec::new();
    for (labels, first, file_log) in streams {
        let id = stream_id(labels);
        let key = meta_key(&id);
        if store.meta.get(&key)?.is_none() {
            let meta = StreamMeta {
                labels: labels.clone(),
                first: *first,
                file_log: file_log.clone(),
            };
            let bytes = serde_json::to_vec(&meta).map_err(StoreError::internal)?;
            crate::store::kv::ensure_exists(store.meta.as_ref(), &key, &bytes)?;
            fresh.push((id.clone(), labels));
        }
        ids.push(id);
    }
    let mut postings: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for (id, labels) in &fresh {
        for (name, value) in labels.iter() {
            postings
                .entry((name.as_str(), value.as_str()))
                .or_default()
                .push(id.as_str());
        }
    }
    let mut values: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for ((name, value), of) in &postings {
        if !add_to_list(store, &postings_key(name, value), of)?.is_empty() {
            values.entry(name).or_default().push(value);
        }
    }
    let mut names = Vec::new();
    for (name, vs) in &values {
        if !add_to_list(store, &values_key(name), vs)?.is_empty() {
            names.push(*name);
        }
    }
    if !names.is_empty() {
        add_to_list(store, NAMES_KEY, &names)?;
    }
    if !fresh.is_empty() {
        let all: Vec<&str> = fresh.iter().map(|(id, _)| id.as_str()).collect();
        add_to_list(store, ALL_KEY, &all)?;
    }
    Ok(ids)
}

/// What the index keeps of stream `id`; `None` if no such stream was ever
/// registered.
pub fn meta(store: &Store, id: &str) -> StoreResult<Option<StreamMeta>> {
    match store.meta.get(&meta_key(id))? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::internal(format!("stream {id}: {e}"))),
    }
}

/// The ids of the streams with `name=value`, sorted.
pub fn postings(store: &Store, name: &str, value: &str) -> StoreResult<Vec<String>> {
    read_list(store, &postings_key(name, value))
}

/// The values label `name` has taken, sorted.
pub fn values(store: &Store, name: &str) -> StoreResult<Vec<String>> {
    read_list(store, &values_key(name))
}

/// Every stream's id, sorted.
pub fn all(store: &Store) -> StoreResult<Vec<String>> {
    read_list(store, ALL_KEY)
}

/// Every label name, sorted.
pub fn names(store: &Store) -> StoreResult<Vec<String>> {
    read_list(store, NAMES_KEY)
}

/// One entry of a stream, as pushed.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Nanoseconds since the epoch.
    pub ts: u64,
    /// The line's text; any character, newlines and tabs included.
    pub line: String,
    /// Structured metadata: labels of the entry, not of the stream.
    pub metadata: Vec<(String, String)>,
}

/// Appends `entry` in its stored form to `out`.
pub fn encode(entry: &Entry, out: &mut Vec<u8>) {
    out.extend_from_slice(entry.ts.to_string().as_bytes());
    out.push(b'\t');
    escape_into(&entry.line, out);
    if !entry.metadata.is_empty() {
        out.push(b'\t');
        let map: serde_json::Map<String, serde_json::Value> = entry
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        out.extend_from_slice(serde_json::Value::Object(map).to_string().as_bytes());
    }
    out.push(b'\n');
}

/// The stored form of a search needle: what `memmem` looks for in raw bytes.
pub fn escape(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    escape_into(text, &mut out);
    out
}

fn escape_into(text: &str, out: &mut Vec<u8>) {
    for &b in text.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.push(b),
        }
    }
}

fn unescape(bytes: &[u8]) -> StoreResult<String> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut it = bytes.iter();
    while let Some(&b) = it.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match it.next() {
            Some(b'\\') => out.push(b'\\'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(b't') => out.push(b'\t'),
            _ => return Err(StoreError::internal("bad escape in a stream entry")),
        }
    }
    String::from_utf8(out).map_err(|_| StoreError::internal("a stream entry is not UTF-8"))
}

/// The timestamp a stored line starts with.
pub fn key_of(line: &[u8]) -> Option<u64> {
    let end = memchr::memchr(b'\t', line)?;
    std::str::from_utf8(&line[..end]).ok()?.parse().ok()
}

/// Decodes one stored line (without its newline).
pub fn decode(line: &[u8]) -> StoreResult<Entry> {
    let bad = || StoreError::internal("malformed stream entry");
    let ts = key_of(line).ok_or_else(bad)?;
    let rest = &line[memchr::memchr(b'\t', line).ok_or_else(bad)? + 1..];
    let (text, meta) = match memchr::memchr(b'\t', rest) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let metadata = match meta {
        None => Vec::new(),
        Some(json) => {
            let map: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(json).map_err(|_| bad())?;
            map.into_iter()
                .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
                .collect()
        }
    };
    Ok(Entry {
        ts,
        line: unescape(text)?,
        metadata,
    })
}

/// How far an entry may be behind its stream's newest and still be stored:
/// Loki 3's default, half of `max_chunk_age` (2 h). Older entries are
/// dropped as "entry too far behind", the rest of their push stored.
pub const WINDOW_NS: u64 = 3600 * 1_000_000_000;

/// The keys of a batch (`entries` sorted by timestamp) for a keyed append,
/// with Loki's out-of-order window; `None` for no entries.
pub fn keys(entries: &[Entry]) -> Option<Keys> {
    entries.first()?;
    Some(Keys {
        of_line: key_of,
        window: WINDOW_NS,
    })
}

/// Where a stream's entries with `from <= ts <= to` lie: a byte range of
/// line boundaries that holds them all (and, when entries came late or
/// share a segment with the range's edges, others the reader skips), found
/// from the log's index without reading entries.
pub fn seek(snapshot: &Snapshot, from: u64, to: u64) -> StoreResult<(u64, u64)> {
    let start = snapshot.key_start(from)?;
    let end = snapshot.key_end(to)?;
    Ok((start, end.max(start)))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::logql::labels_of as labels;

    #[test]
    fn entries_round_trip_through_their_stored_form() {
        let e = Entry {
            ts: 1_700_000_000_123_456_789,
            line: "a\tb\\c\nd\re".into(),
            metadata: vec![("trace_id".into(), "abc".into())],
        };
        let mut out = Vec::new();
        encode(&e, &mut out);
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
        assert_eq!(decode(&out[..out.len() - 1]).unwrap(), e);
        assert_eq!(key_of(&out), Some(e.ts));
    }

    #[test]
    fn registering_twice_indexes_once() {
        let store = Store::memory();
        let l = labels(&[("namespace", "shop"), ("pod", "web-1")]);
        let a = register(&store, &l, 5).unwrap();
        let b = register(&store, &l, 9).unwrap();
        assert_eq!(a, b);
        assert_eq!(postings(&store, "pod", "web-1").unwrap(), vec![a.clone()]);
        assert_eq!(values(&store, "namespace").unwrap(), vec!["shop"]);
        assert_eq!(names(&store).unwrap(), vec!["namespace", "pod"]);
        assert_eq!(meta(&store, &a).unwrap().unwrap().first, 5);
        assert_eq!(canonical(&l), r#"{namespace="shop", pod="web-1"}"#);
    }

    fn append(log: &Log, ts: &[u64]) -> crate::store::log::Appended {
        let entries: Vec<Entry> = ts
            .iter()
            .map(|t| Entry {
                ts: *t,
                line: format!("entry {t}"),
                metadata: vec![],
            })
            .collect();
        let mut bytes = Vec::new();
        entries.iter().for_each(|e| encode(e, &mut bytes));
        *log.append_keyed(&bytes, None, keys(&entries))
            .unwrap()
            .appended()
    }

    fn read(snap: &Rc<Snapshot>, (from, to): (u64, u64)) -> Vec<u64> {
        snap.clone()
            .lines_in(from, to)
            .map(|l| key_of(&l.unwrap().text).unwrap())
            .collect()
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn a_time_range_seeks_and_entries_too_far_behind_are_dropped() {
        let store = Rc::new(Store::memory());
        let log = log(store, "x");
        // 300 appends, one per second: more than two sealed pages.
        for i in 0..300u64 {
            append(&log, &[i * S]);
        }
        let snap = Rc::new(log.snapshot().unwrap().unwrap());
        let got = read(&snap, seek(&snap, 200 * S, 210 * S).unwrap());
        assert!(got.contains(&(200 * S)) && got.contains(&(210 * S)));
        assert!(got.len() <= 13, "a seek, not a scan: {}", got.len());
        // An hour past the newest: the window moves on, and an entry more
        // than an hour behind it is dropped while its batch-mates are kept.
        let newest = 299 * S + WINDOW_NS + 10 * S;
        append(&log, &[newest]);
        let done = append(&log, &[5, newest - WINDOW_NS, newest - 1]);
        assert_eq!(done.behind, Some(newest - WINDOW_NS));
        assert_eq!(done.lines, 2, "the two within the window are stored");
        let all = append(&log, &[6]);
        assert_eq!((all.lines, all.bytes), (0, 0));
        assert_eq!(all.behind, Some(newest - WINDOW_NS));
    }

    #[test]
    fn late_entries_are_found_by_their_time_and_ranges_stay_seeks() {
        let store = Rc::new(Store::memory());
        let log = log(store, "x");
        // Each second an entry, and every 10th append a late one a minute
        // behind: the pattern of concurrent single-line pushers.
        let mut stored = Vec::new();
        for i in 100..500u64 {
            let ts = if i % 10 == 5 { (i - 60) * S + 1 } else { i * S };
            append(&log, &[ts]);
            stored.push(ts);
        }
        let snap = Rc::new(log.snapshot().unwrap().unwrap());
        assert!(snap.head().pages.len() >= 3);
        for (from, to) in [(100, 110), (250, 260), (440, 441), (0, 1000), (480, 499)] {
            let (from, to) = (from * S, to * S);
            let range = seek(&snap, from, to).unwrap();
            let got: Vec<u64> = read(&snap, range)
                .into_iter()
                .filter(|t| (from..=to).contains(t))
                .collect();
            let want: Vec<u64> = stored
                .iter()
                .copied()
                .filter(|t| (from..=to).contains(t))
                .collect();
            assert_eq!(got, want, "{from}..{to}");
            let span = (range.1 - range.0) / 30;
            assert!(
                span < (to - from) / S + 90,
                "a seek: {span} lines for {from}..{to}"
            );
        }
        assert_eq!(snap.least_key(), stored.iter().min().copied());
        assert_eq!(snap.head().last_key, Some(499 * S));
    }
}
