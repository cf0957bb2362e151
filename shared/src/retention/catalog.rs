//! The catalog of archive objects: what `/s3/metadata`, `/s3/content` and
//! `/s3/stats` read, without listing the bucket or scanning any log.
//!
//! ```text
//! archive/catalog#seq     counter: the next object id
//! archive/catalog/top     highest chunk number ever used
//! archive/catalog/<n>     entries with ids n*CHUNK .. (n+1)*CHUNK, a JSON list
//! ```
//!
//! Each archive object's key carries its id (`archive/<id>-<random>.gz`), so
//! expiry, which finds objects through a log's pages, finds their entries too.

use super::policy::Compression;
use crate::store::Store;
use crate::store::kv::{Update, update};
use crate::web::problem::Problem;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const SEQ: &str = "archive/catalog#seq";
const TOP: &str = "archive/catalog/top";
/// Entries per chunk: a few hundred bytes each keeps a chunk far below 1 MB.
const CHUNK: u64 = 256;
/// What every archive object's key starts with (`archive/<id>-<random>.gz`).
pub const OBJECT_PREFIX: &str = "archive/";

/// One archive object: one sealed page of one log.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Entry {
    /// The object's id, from the catalog's counter ([`allocate`]); also in its key.
    pub id: u64,
    /// Key in the blob store (the bucket, with `s3_prefix`, on S3).
    pub object: String,
    /// The policy whose run wrote it.
    pub policy_id: String,
    /// The run that wrote it.
    pub run_id: String,
    /// `task` or `journal`.
    pub source: String,
    /// The task whose file the log is, for `source` `task`.
    pub task_id: Option<String>,
    /// The file's name in the task's sandbox, for `source` `task`.
    pub file: Option<String>,
    /// The task's labels when archived (namespace, pod, app, ...), for filtering.
    pub labels: BTreeMap<String, String>,
    /// The log the page belongs to (its key prefix) and the page's number.
    pub log: String,
    /// The page's number in that log.
    pub page: usize,
    /// Byte range and lines of the log the object holds.
    pub offset: u64,
    /// End of the byte range, exclusive.
    pub end: u64,
    /// Newlines in the log before the page: the line number of its first line, from 0.
    pub first_line: u64,
    /// Lines the object holds.
    pub lines: u64,
    /// Commit times of its first and last bytes, microseconds.
    pub first_time: u64,
    /// Commit time of its last bytes, µs.
    pub last_time: u64,
    /// Uncompressed bytes.
    pub bytes: u64,
    /// Bytes of the object as stored (compressed, unless the policy says `none`).
    pub stored_bytes: u64,
    /// How the object is compressed.
    pub compression: Compression,
    /// When it was written, µs since the epoch.
    pub archived: u64,
    /// When retention deleted it.
    #[serde(default)]
    pub deleted: Option<u64>,
}

impl Entry {
    /// The task's `namespace` label; empty for the journal and unlabelled tasks.
    pub fn namespace(&self) -> &str {
        self.labels.get("namespace").map_or("", String::as_str)
    }
}

fn chunk_key(n: u64) -> String {
    format!("archive/catalog/{n}")
}

/// A fresh object id and the key its object is written under.
pub fn allocate(store: &Store, random: &str) -> Result<(u64, String), Problem> {
    let id = store.meta.increment(SEQ, 1)? as u64 - 1;
    Ok((id, format!("{OBJECT_PREFIX}{id}-{random}.gz")))
}

/// The id in an archive object's key; `None` for any other blob.
pub fn id_of(object: &str) -> Option<u64> {
    let rest = object.strip_prefix(OBJECT_PREFIX)?;
    rest.split_once('-')?.0.parse().ok()
}

fn parse(bytes: &[u8]) -> Result<Vec<Entry>, Problem> {
    serde_json::from_slice(bytes).map_err(|e| Problem::internal(format!("archive catalog: {e}")))
}

/// Lists `entry` (idempotent: an id already listed is left as it is), and
/// raises the top chunk number if its chunk is new.
pub fn add(store: &Store, entry: &Entry) -> Result<(), Problem> {
    let chunk = entry.id / CHUNK;
    update::<_, Problem>(store.meta.as_ref(), TOP, Some(b"0"), 50, |cur| {
        let top: u64 = cur
            .and_then(|b| std::str::from_utf8(b).ok()?.parse().ok())
            .unwrap_or(0);
        if top >= chunk {
            return Ok(Update::Keep(()));
        }
        Ok(Update::Write(chunk.to_string().into_bytes(), ()))
    })?;
    update::<_, Problem>(
        store.meta.as_ref(),
        &chunk_key(chunk),
        Some(b"[]"),
        50,
        |cur| {
            let mut list = cur.map(parse).transpose()?.unwrap_or_default();
            if list.iter().any(|e| e.id == entry.id) {
                return Ok(Update::Keep(()));
            }
            list.push(entry.clone());
            crate::util::sort::sort_by_key(&mut list, |e| e.id);
            Ok(Update::Write(
                serde_json::to_vec(&list).map_err(Problem::internal)?,
                (),
            ))
        },
    )
}

/// Marks the entries of these objects deleted (objects that are not archive
/// objects are skipped). Returns the entries it marked.
pub fn mark_deleted(store: &Store, objects: &[String], now: u64) -> Result<Vec<Entry>, Problem> {
    let mut by_chunk: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for id in objects.iter().filter_map(|o| id_of(o)) {
        by_chunk.entry(id / CHUNK).or_default().push(id);
    }
    let mut marked = Vec::new();
    for (chunk, ids) in by_chunk {
        let done = update::<_, Problem>(store.meta.as_ref(), &chunk_key(chunk), None, 50, |cur| {
            let Some(bytes) = cur else {
                return Ok(Update::Keep(Vec::new()));
            };
            let mut list = parse(bytes)?;
            let mut now_marked = Vec::new();
            for e in list
                .iter_mut()
                .filter(|e| ids.contains(&e.id) && e.deleted.is_none())
            {
                e.deleted = Some(now);
                now_marked.push(e.clone());
            }
            if now_marked.is_empty() {
                return Ok(Update::Keep(now_marked));
            }
            Ok(Update::Write(
                serde_json::to_vec(&list).map_err(Problem::internal)?,
                now_marked,
            ))
        })?;
        marked.extend(done);
    }
    Ok(marked)
}

/// Every entry, by id. Reads `top / CHUNK + 1` keys, in batches.
pub fn all(store: &Store) -> Result<Vec<Entry>, Problem> {
    let top: u64 = match store.meta.get(TOP)? {
        None => return Ok(Vec::new()),
        Some(b) => std::str::from_utf8(&b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Problem::internal("archive catalog top is not a number"))?,
    };
    let keys: Vec<String> = (0..=top).map(chunk_key).collect();
    let mut out = Vec::new();
    for batch in keys.chunks(16) {
        for bytes in store.meta.get_many(batch)?.into_iter().flatten() {
            out.extend(parse(&bytes)?);
        }
    }
    Ok(out)
}

/// Entry `id`, deleted or not; `None` if no entry has that id.
pub fn get(store: &Store, id: u64) -> Result<Option<Entry>, Problem> {
    match store.meta.get(&chunk_key(id / CHUNK))? {
        None => Ok(None),
        Some(bytes) => Ok(parse(&bytes)?.into_iter().find(|e| e.id == id)),
    }
}
