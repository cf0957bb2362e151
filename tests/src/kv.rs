//! Key-value stores with the semantics of Spin's backends, as plain Rust so
//! the semantics can be tested without a guest.
//!
//! **SQLite** (`key-value-spin`): one table `spin_key_value(store, key, value)`
//! per database file, keyed by `(store label, key)`, exactly Spin's schema, so
//! a state dir written by this host can be inspected (or reused) with `spin
//! up`. Each file has one connection behind a mutex; all instances of all
//! components share it, which makes every single operation atomic with
//! respect to the others, as in Spin.
//!
//! **Redis** (`key-value-redis`, read from spinframework/spin): the same
//! commands through the same client crate, quirks included, so a test on this
//! host sees what the app would see under Spin:
//! - store names are ignored: every label configured with one URL is one keyspace;
//! - `increment` is `INCRBY`, so counters are ASCII decimal, not 8-byte LE;
//! - `get-many` sends `KEYS <key>...` (not `MGET`), `set-many` is `MSET`;
//! - a compare-and-swap opens its own connection, `current` is `WATCH` + `GET`,
//!   and `swap` runs `MULTI`/`SET`/`EXEC` (its reply parsed as `()`, which an
//!   aborted `EXEC`'s nil passes) followed by `UNWATCH <key>`; any error of
//!   either is `cas-failed`.

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::manifest::StoreLocation;

/// Errors of `wasi:keyvalue/store`, as Spin reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    NoSuchStore,
    AccessDenied,
    Other(String),
}

impl From<rusqlite::Error> for KvError {
    fn from(e: rusqlite::Error) -> Self {
        KvError::Other(format!("{e:?}"))
    }
}

impl From<redis::RedisError> for KvError {
    fn from(e: redis::RedisError) -> Self {
        KvError::Other(format!("{e:?}"))
    }
}

pub type KvResult<T> = Result<T, KvError>;

/// Outcome of a failed `swap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwapError {
    /// The value changed since `current()` (or the key appeared/disappeared).
    CasFailed,
    Store(KvError),
}

/// Every label the app may open, each backed by a database file or a Redis server.
#[derive(Clone)]
pub struct KvStores {
    labels: HashMap<String, Backend>,
    cas_insert_overwrites: bool,
    /// What to do to each call, for the fault-injection tests.
    pub faults: Option<Faults>,
}

/// One key-value call a guest makes, as a fault plan sees it.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// The component making it.
    pub component: &'a str,
    /// `get`, `set`, `delete`, `exists`, `get-many`, `set-many`,
    /// `delete-many`, `increment`, `cas-new`, `cas-current` or `swap`.
    pub op: &'a str,
    /// The key (the first key of a batch).
    pub key: &'a str,
}

/// What happens to a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// It runs.
    None,
    /// It fails with `error::other(message)`, as a backend error does.
    Fail(String),
    /// It runs after this pause.
    Stall(Duration),
    /// It never returns: the instance waits until its time budget
    /// (`HostOptions::request_timeout`) kills it, as Spin kills an instance
    /// at its limit, and as a Redis outage looks to a guest under Spin (its
    /// client has no timeout): nothing after this call happens.
    Hang,
    /// It runs, and then never returns: the instance dies just after it.
    HangAfter,
}

/// A fault plan: called for every key-value call of every instance.
#[derive(Clone)]
pub struct Faults(pub Arc<dyn Fn(&Call) -> Fault + Send + Sync>);

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Faults(..)")
    }
}

#[derive(Clone)]
enum Backend {
    Sqlite(Arc<Db>),
    Redis(Arc<RedisDb>),
}

/// One Redis URL: a shared connection for plain commands (Spin's shared
/// `ConnectionManager`) and the client to open a connection per CAS.
struct RedisDb {
    client: redis::Client,
    shared: Mutex<Option<redis::Connection>>,
}

impl RedisDb {
    fn open(url: &str) -> Result<RedisDb> {
        Ok(RedisDb {
            client: redis::Client::open(url).with_context(|| format!("redis url {url}"))?,
            shared: Mutex::new(None),
        })
    }

    /// Runs `f` on the shared connection, reconnecting after an error. While
    /// the server cannot be reached the call blocks, retrying, as a call
    /// through Spin's `ConnectionManager` does (it has no response timeout:
    /// under Spin every request hangs while Redis is down, and the host's
    /// time budget, if any, is what ends it).
    fn with<R>(&self, f: impl Fn(&mut redis::Connection) -> redis::RedisResult<R>) -> KvResult<R> {
        let mut slot = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let conn = match slot.as_mut() {
                Some(conn) => conn,
                None => slot.insert(connect_blocking(&self.client)),
            };
            match f(conn) {
                Err(e) if e.is_io_error() || e.is_connection_dropped() => {
                    *slot = None;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => {
                    *slot = None;
                    return Err(e.into());
                }
                Ok(r) => return Ok(r),
            }
        }
    }
}

/// A connection to `client`'s server, waiting for as long as it is down.
fn connect_blocking(client: &redis::Client) -> redis::Connection {
    loop {
        match client.get_connection() {
            Ok(conn) => return conn,
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

struct Db {
    conn: Mutex<Connection>,
}

impl Db {
    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (statements
        // are atomic), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl KvStores {
    /// Opens (creating if needed) the database of every label. Labels sharing
    /// a file share a connection. See [`Cas::swap`] for `cas_insert_overwrites`.
    pub fn open(
        locations: &BTreeMap<String, StoreLocation>,
        cas_insert_overwrites: bool,
    ) -> Result<KvStores> {
        let mut files: HashMap<PathBuf, Arc<Db>> = HashMap::new();
        let mut labels = HashMap::new();
        for (label, location) in locations {
            let db = match location {
                StoreLocation::InMemory => Backend::Sqlite(Arc::new(Db::open_in_memory()?)),
                StoreLocation::File(path) => Backend::Sqlite(match files.get(path) {
                    Some(db) => db.clone(),
                    None => {
                        let db = Arc::new(Db::open_file(path)?);
                        files.insert(path.clone(), db.clone());
                        db
                    }
                }),
                // Like Spin, each configured label gets its own client even
                // for the same URL; the server's keyspace is what they share.
                StoreLocation::Redis(url) => Backend::Redis(Arc::new(RedisDb::open(url)?)),
            };
            labels.insert(label.clone(), db);
        }
        Ok(KvStores {
            labels,
            cas_insert_overwrites,
            faults: None,
        })
    }

    pub fn is_defined(&self, label: &str) -> bool {
        self.labels.contains_key(label)
    }

    /// Opens a bucket without any access check (the caller enforces grants).
    pub fn bucket(&self, label: &str) -> KvResult<Bucket> {
        let backend = self.labels.get(label).ok_or(KvError::NoSuchStore)?;
        Ok(Bucket {
            backend: backend.clone(),
            name: label.to_owned(),
            cas_insert_overwrites: self.cas_insert_overwrites,
        })
    }
}

impl Db {
    fn open_file(path: &PathBuf) -> Result<Db> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        Self::init(conn)
    }

    fn open_in_memory() -> Result<Db> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Db> {
        // Two hosts may share a state dir (e.g. a restart test); wait rather
        // than fail when the other holds the write lock.
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key   TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            )",
            [],
        )?;
        Ok(Db {
            conn: Mutex::new(conn),
        })
    }
}

/// Writers take the write lock up front. With one connection per file this
/// changes nothing; when two hosts share a state dir it turns a would-be
/// lock-upgrade failure (`SQLITE_BUSY` despite the busy timeout) into a wait.
const IMMEDIATE: TransactionBehavior = TransactionBehavior::Immediate;

const SELECT: &str = "SELECT value FROM spin_key_value WHERE store=?1 AND key=?2";
const UPSERT: &str = "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
     ON CONFLICT(store, key) DO UPDATE SET value=?3";

/// An open store (`wasi:keyvalue/store.bucket`).
#[derive(Clone)]
pub struct Bucket {
    backend: Backend,
    name: String,
    cas_insert_overwrites: bool,
}

impl Bucket {
    pub fn label(&self) -> &str {
        &self.name
    }

    fn redis(&self) -> Option<&RedisDb> {
        match &self.backend {
            Backend::Redis(r) => Some(r),
            Backend::Sqlite(_) => None,
        }
    }

    fn db(&self) -> &Db {
        match &self.backend {
            Backend::Sqlite(db) => db,
            Backend::Redis(_) => unreachable!("a Redis bucket has no SQLite database"),
        }
    }

    pub fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        if let Some(r) = self.redis() {
            return r.with(|c| redis::cmd("GET").arg(key).query(c));
        }
        let conn = self.db().lock();
        Ok(conn
            .prepare_cached(SELECT)?
            .query_row(params![self.name, key], |r| r.get(0))
            .optional()?)
    }

    pub fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        if let Some(r) = self.redis() {
            return r.with(|c| redis::cmd("SET").arg(key).arg(value).query(c));
        }
        let conn = self.db().lock();
        conn.prepare_cached(UPSERT)?
            .execute(params![self.name, key, value])?;
        Ok(())
    }

    pub fn delete(&self, key: &str) -> KvResult<()> {
        if let Some(r) = self.redis() {
            return r.with(|c| redis::cmd("DEL").arg(key).query(c));
        }
        let conn = self.db().lock();
        conn.prepare_cached("DELETE FROM spin_key_value WHERE store=?1 AND key=?2")?
            .execute(params![self.name, key])?;
        Ok(())
    }

    pub fn exists(&self, key: &str) -> KvResult<bool> {
        if let Some(r) = self.redis() {
            return r.with(|c| redis::cmd("EXISTS").arg(key).query(c));
        }
        let conn = self.db().lock();
        Ok(conn
            .prepare_cached("SELECT 1 FROM spin_key_value WHERE store=?1 AND key=?2 LIMIT 1")?
            .exists(params![self.name, key])?)
    }

    pub fn keys(&self) -> KvResult<Vec<String>> {
        if let Some(r) = self.redis() {
            return r.with(|c| redis::cmd("KEYS").arg("*").query(c));
        }
        let conn = self.db().lock();
        let mut stmt = conn.prepare_cached("SELECT key FROM spin_key_value WHERE store=?1")?;
        let keys = stmt
            .query_map(params![self.name], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(keys)
    }

    /// Like Spin: only keys that exist are returned (each once), in no
    /// promised order.
    pub fn get_many(&self, keys: &[String]) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        if let Some(r) = self.redis() {
            // Spin's backend: `connection.keys(keys)`, i.e. KEYS with the keys as patterns.
            return r.with(|c| redis::cmd("KEYS").arg(keys).query(c));
        }
        let conn = self.db().lock();
        let mut stmt = conn.prepare_cached(SELECT)?;
        let mut seen = std::collections::HashSet::new();
        let mut found = Vec::new();
        for key in keys {
            if !seen.insert(key.as_str()) {
                continue;
            }
            if let Some(v) = stmt
                .query_row(params![self.name, key], |r| r.get::<_, Vec<u8>>(0))
                .optional()?
            {
                found.push((key.clone(), Some(v)));
            }
        }
        Ok(found)
    }

    /// One transaction, as in Spin.
    pub fn set_many(&self, items: &[(String, Vec<u8>)]) -> KvResult<()> {
        if let Some(r) = self.redis() {
            return r.with(|c| redis::cmd("MSET").arg(items).query(c));
        }
        let mut conn = self.db().lock();
        let tx = conn.transaction_with_behavior(IMMEDIATE)?;
        for (k, v) in items {
            tx.prepare_cached(UPSERT)?
                .execute(params![self.name, k, v])?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn delete_many(&self, keys: &[String]) -> KvResult<()> {
        if let Some(r) = self.redis() {
            return r.with(|c| redis::cmd("DEL").arg(keys).query(c));
        }
        let mut conn = self.db().lock();
        let tx = conn.transaction_with_behavior(IMMEDIATE)?;
        for k in keys {
            tx.prepare_cached("DELETE FROM spin_key_value WHERE store=?1 AND key=?2")?
                .execute(params![self.name, k])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Adds `delta` to the i64 (little-endian) at `key`, absent counting as 0.
    pub fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        if let Some(r) = self.redis() {
            return r.with(|c| redis::cmd("INCRBY").arg(key).arg(delta).query(c));
        }
        let mut conn = self.db().lock();
        let tx = conn.transaction_with_behavior(IMMEDIATE)?;
        let old: Option<Vec<u8>> = tx
            .prepare_cached(SELECT)?
            .query_row(params![self.name, key], |r| r.get(0))
            .optional()?;
        let old = match old {
            None => 0,
            Some(bytes) => i64::from_le_bytes(bytes.try_into().map_err(|_| {
                KvError::Other(format!("value of {key:?} is not an 8-byte integer"))
            })?),
        };
        let new = old
            .checked_add(delta)
            .ok_or_else(|| KvError::Other("increment overflows i64".to_owned()))?;
        tx.prepare_cached(UPSERT)?
            .execute(params![self.name, key, new.to_le_bytes()])?;
        tx.commit()?;
        Ok(new)
    }

    /// Starts a compare-and-swap on `key` (`atomics.cas.new`).
    pub fn cas(&self, key: &str) -> Cas {
        Cas {
            bucket: self.clone(),
            key: key.to_owned(),
            seen: None,
            conn: Arc::new(Mutex::new(None)),
        }
    }
}

/// A compare-and-swap handle (`wasi:keyvalue/atomics.cas`). Clones share the
/// handle's own Redis connection, on which `WATCH` lives.
#[derive(Clone)]
pub struct Cas {
    bucket: Bucket,
    key: String,
    seen: Option<Vec<u8>>,
    conn: Arc<Mutex<Option<redis::Connection>>>,
}

impl Cas {
    pub fn bucket(&self) -> &Bucket {
        &self.bucket
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Reads the value and remembers it as the expected old value. On Redis:
    /// `WATCH key` then `GET key`, on the handle's own connection.
    pub fn current(&mut self) -> KvResult<Option<Vec<u8>>> {
        let value = match self.bucket.redis() {
            Some(r) => {
                let mut slot = self.conn.lock().unwrap_or_else(|p| p.into_inner());
                let conn = match slot.as_mut() {
                    Some(conn) => conn,
                    None => slot.insert(connect_blocking(&r.client)),
                };
                redis::cmd("WATCH").arg(&self.key).exec(conn)?;
                redis::cmd("GET").arg(&self.key).query(conn)?
            }
            None => self.bucket.get(&self.key)?,
        };
        self.remember(value.clone());
        Ok(value)
    }

    /// Records a value read elsewhere (off-thread) as what `current()` saw.
    pub fn remember(&mut self, value: Option<Vec<u8>>) {
        self.seen = value;
    }

    /// Writes `value` if the key still holds what `current()` saw
    /// (`UPDATE ... WHERE value = old`). If `current()` saw no value (or was
    /// never called) the write is an insert: by default it only succeeds if
    /// the key is still absent, the contract Spin documents for `Cas::swap`
    /// and its Redis backend honours. Spin's SQLite backend instead upserts
    /// (a concurrent creator is silently overwritten); pass
    /// `cas_insert_overwrites = true` to [`KvStores::open`] to reproduce that.
    pub fn swap(self, value: &[u8]) -> Result<(), SwapError> {
        if self.bucket.redis().is_some() {
            return self.redis_swap(value);
        }
        let name = &self.bucket.name;
        let mut conn = self.bucket.db().lock();
        let changed = match &self.seen {
            Some(old) => conn
                .prepare_cached(
                    "UPDATE spin_key_value SET value=?4 WHERE store=?1 AND key=?2 AND value=?3",
                )
                .and_then(|mut s| s.execute(params![name, self.key, old, value])),
            None => {
                let sql = if self.bucket.cas_insert_overwrites {
                    UPSERT
                } else {
                    "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT(store, key) DO NOTHING"
                };
                conn.transaction_with_behavior(IMMEDIATE).and_then(|tx| {
                    let n = tx
                        .prepare_cached(sql)?
                        .execute(params![name, self.key, value])?;
                    tx.commit()?;
                    Ok(n)
                })
            }
        }
        .map_err(|e| SwapError::Store(e.into()))?;
        if changed == 1 {
            Ok(())
        } else {
            Err(SwapError::CasFailed)
        }
    }
}

impl Cas {
    /// Spin's Redis `swap`, step for step: a `MULTI`/`SET`/`EXEC` pipeline
    /// whose reply is parsed as `()` (an `EXEC` aborted by the `WATCH` replies
    /// nil, which `()` accepts), then `UNWATCH <key>`. Any error of either is
    /// `cas-failed`. (Without a prior `current`, Spin's connection has no
    /// `WATCH`, and the `SET` simply happens.)
    fn redis_swap(self, value: &[u8]) -> Result<(), SwapError> {
        let mut slot = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            let r = self
                .bucket
                .redis()
                .ok_or_else(|| SwapError::Store(KvError::Other("not redis".into())))?;
            *slot = Some(connect_blocking(&r.client));
        }
        let conn = slot
            .as_mut()
            .ok_or_else(|| SwapError::Store(KvError::Other("no connection".into())))?;
        let res: redis::RedisResult<()> = redis::pipe().atomic().set(&self.key, value).query(conn);
        redis::cmd("UNWATCH")
            .arg(&self.key)
            .exec(conn)
            .map_err(|_| SwapError::CasFailed)?;
        res.map_err(|_| SwapError::CasFailed)
    }
}
