//! The key-value contract the storage layer is written against.
//!
//! Two implementations: Spin's key-value stores inside components
//! (`SpinKv` in the Spin glue) and [`MemoryKv`] for native tests. The contract is
//! Spin's, including its weak spots: no transactions and no prefix scans. The one
//! atomic primitive is compare-and-swap on a single key (WASI key-value
//! `atomics.cas`, which Spin implements for SQLite, Redis and its cloud stores);
//! every multi-writer structure commits through it.

use super::error::StoreError;
use std::collections::HashMap;
use std::sync::Mutex;

pub use super::error::KvError;

/// A key-value operation's result.
pub type KvResult<T> = Result<T, KvError>;

/// A pending compare-and-swap: the value seen when it was opened, and a commit
/// that succeeds only if the key still holds exactly that value.
pub trait Cas {
    /// The value when the swap was opened; `None` if the key was absent.
    fn current(&self) -> Option<&[u8]>;
    /// `Ok(false)`: someone else wrote the key first; read again and retry.
    fn swap(self: Box<Self>, value: &[u8]) -> KvResult<bool>;
}

/// The key-value contract: what `SpinKv` and [`MemoryKv`] provide and the
/// storage layer builds on. Keys are strings, values bytes, no prefix scans.
pub trait Kv {
    /// The value at `key`, or `None` if absent.
    fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>>;
    /// Writes `value` at `key`, unconditionally (no race check: use [`update`] for shared keys).
    fn set(&self, key: &str, value: &[u8]) -> KvResult<()>;
    /// Removes `key`; an absent key is no error.
    fn delete(&self, key: &str) -> KvResult<()>;
    /// Opens a compare-and-swap on `key` (reads its current value).
    fn cas(&self, key: &str) -> KvResult<Box<dyn Cas + '_>>;
    /// Atomically adds `delta` to the counter at `key` (absent counts as 0)
    /// and returns the new value. Counters are 8-byte little-endian, as Spin
    /// stores them; only ever use it on keys nothing else writes.
    fn increment(&self, key: &str, delta: i64) -> KvResult<i64>;

    /// Values for `keys`, in the same order. One round trip where the store allows.
    fn get_many(&self, keys: &[String]) -> KvResult<Vec<Option<Vec<u8>>>> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    /// Writes several keys in one round trip where the store allows. Not atomic as
    /// a whole: callers only use it for keys nobody can see until a later commit.
    fn set_many(&self, items: &[(String, Vec<u8>)]) -> KvResult<()> {
        items.iter().try_for_each(|(k, v)| self.set(k, v))
    }

    /// Removes several keys, in one round trip where the store allows; not atomic as a whole.
    fn delete_many(&self, keys: &[String]) -> KvResult<()> {
        keys.iter().try_for_each(|k| self.delete(k))
    }
}

/// Read-modify-write on one key with retries on contention.
///
/// `f` sees the current value and returns the new value and a result, or
/// `Update::Keep` to stop without writing; its error type is the caller's
/// (a handler refuses with a `Problem`, the store itself with a
/// [`StoreError`]), so storage never decides what a refusal means. Retries
/// back off with jitter; after `attempts` lost races it gives up with
/// [`StoreError::Contended`].
///
/// **What the swap says is not trusted.** Spin's Redis backend ends every
/// swap with `UNWATCH <key>`, which Redis refuses, so a swap that wrote
/// reports `cas-failed`; and it parses `EXEC` so that an aborted one (nil)
/// would pass for success. So after every swap the key is read back: it
/// holds exactly what `f` wrote, or the write is treated as lost and `f`
/// runs again on what is there. A write that won and was overwritten before
/// the read-back looks lost too, so `f` must recognise its own effect in a
/// value (a list that already holds its id, a log whose head already lists
/// its segment) and return `Keep`. On SQLite, whose swap is exact, this costs
/// one read per write.
///
/// With `empty: Some(..)` the key is first created holding `empty` (see
/// [`ensure_exists`]), so the compare-and-swap never starts from "absent":
/// Spin's SQLite backend performs a swap on an absent key as an upsert, which
/// would let two first writers overwrite each other. `f` then never sees `None`.
pub fn update<T, E: From<StoreError>>(
    kv: &dyn Kv,
    key: &str,
    empty: Option<&[u8]>,
    attempts: u32,
    mut f: impl FnMut(Option<&[u8]>) -> Result<Update<T>, E>,
) -> Result<T, E> {
    let kv_err = |e: KvError| E::from(StoreError::Kv(e));
    for attempt in 0..attempts {
        let cas = kv.cas(key).map_err(kv_err)?;
        if let (None, Some(empty)) = (cas.current(), empty) {
            drop(cas);
            ensure_exists(kv, key, empty).map_err(kv_err)?;
            continue;
        }
        match f(cas.current())? {
            Update::Keep(t) => return Ok(t),
            Update::Write(value, t) => {
                // The result is only a hint (see above); the stored value decides.
                let _claimed = cas.swap(&value).map_err(kv_err)?;
                if kv.get(key).map_err(kv_err)?.as_deref() == Some(value.as_slice()) {
                    return Ok(t);
                }
            }
        }
        crate::util::clock::backoff(attempt);
    }
    Err(E::from(StoreError::Contended))
}

/// Creates `key` holding `empty` unless it exists, without ever overwriting a
/// value someone else wrote. An atomic counter beside the key elects exactly
/// one creator; the others wait for its write. Only if the creator vanished
/// between its election and its write (seconds of silence) does a waiter
/// create the key itself.
pub fn ensure_exists(kv: &dyn Kv, key: &str, empty: &[u8]) -> KvResult<()> {
    if kv.get(key)?.is_some() {
        return Ok(());
    }
    if kv.increment(&format!("{key}#born"), 1)? == 1 {
        return kv.set(key, empty);
    }
    for attempt in 0..40 {
        crate::util::clock::backoff(attempt.min(6));
        if kv.get(key)?.is_some() {
            return Ok(());
        }
    }
    let cas = kv.cas(key)?;
    if cas.current().is_none() {
        cas.swap(empty)?;
    }
    Ok(())
}

/// What an [`update`] closure decides.
pub enum Update<T> {
    /// Commit this value, then return `T`.
    Write(Vec<u8>, T),
    /// Leave the key as it is and return `T`.
    Keep(T),
}

/// An in-process store with Spin's semantics (value-compared CAS), for native tests.
#[derive(Default)]
pub struct MemoryKv {
    map: Mutex<HashMap<String, Vec<u8>>>,
}

impl MemoryKv {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many keys it holds, for tests that check what was (not) written.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every key, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.lock().keys().cloned().collect();
        crate::util::sort::sort(&mut keys);
        keys
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
        // A poisoned map only means another test thread panicked mid-operation;
        // the data is still a valid map.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Kv for MemoryKv {
    fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        Ok(self.lock().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        self.lock().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> KvResult<()> {
        self.lock().remove(key);
        Ok(())
    }

    fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        let mut map = self.lock();
        let current = match map.get(key) {
            None => 0,
            Some(v) => i64::from_le_bytes(
                v.as_slice()
                    .try_into()
                    .map_err(|_| KvError::new(format!("{key} is not a counter")))?,
            ),
        };
        let next = current + delta;
        map.insert(key.to_owned(), next.to_le_bytes().to_vec());
        Ok(next)
    }

    fn cas(&self, key: &str) -> KvResult<Box<dyn Cas + '_>> {
        Ok(Box::new(MemoryCas {
            kv: self,
            key: key.to_owned(),
            seen: self.lock().get(key).cloned(),
        }))
    }
}

struct MemoryCas<'a> {
    kv: &'a MemoryKv,
    key: String,
    seen: Option<Vec<u8>>,
}

impl Cas for MemoryCas<'_> {
    fn current(&self) -> Option<&[u8]> {
        self.seen.as_deref()
    }

    fn swap(self: Box<Self>, value: &[u8]) -> KvResult<bool> {
        let mut map = self.kv.lock();
        if map.get(&self.key) != self.seen.as_ref() {
            return Ok(false);
        }
        map.insert(self.key, value.to_vec());
        Ok(true)
    }
}

/// Lets several owners (a test and the store under test) share one store.
impl<T: Kv + ?Sized> Kv for std::sync::Arc<T> {
    fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        (**self).get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        (**self).set(key, value)
    }
    fn delete(&self, key: &str) -> KvResult<()> {
        (**self).delete(key)
    }
    fn cas(&self, key: &str) -> KvResult<Box<dyn Cas + '_>> {
        (**self).cas(key)
    }
    fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        (**self).increment(key, delta)
    }
    fn get_many(&self, keys: &[String]) -> KvResult<Vec<Option<Vec<u8>>>> {
        (**self).get_many(keys)
    }
    fn set_many(&self, items: &[(String, Vec<u8>)]) -> KvResult<()> {
        (**self).set_many(items)
    }
    fn delete_many(&self, keys: &[String]) -> KvResult<()> {
        (**self).delete_many(keys)
    }
}

/// A store that fails one chosen operation, as a host that kills an instance
/// mid-request leaves it: everything before that operation happened, nothing
/// after. For the crash tests of `store::log`.
#[cfg(test)]
pub(crate) mod faulty {
    use super::*;
    use std::cell::Cell;

    /// Which operation fails: `(op, key)` for each call, `op` one of `get`,
    /// `set`, `delete`, `swap`, `increment`.
    pub type Rule = Box<dyn Fn(&str, &str) -> bool>;

    pub struct Faulty {
        pub inner: std::sync::Arc<MemoryKv>,
        pub rule: Rule,
        /// Set once the rule has fired: every later call fails too.
        pub dead: Cell<bool>,
    }

    impl Faulty {
        pub fn new(inner: std::sync::Arc<MemoryKv>, rule: Rule) -> Self {
            Faulty {
                inner,
                rule,
                dead: Cell::new(false),
            }
        }

        fn check(&self, op: &str, key: &str) -> KvResult<()> {
            if self.dead.get() || (self.rule)(op, key) {
                self.dead.set(true);
                return Err(KvError::new(format!("killed at {op} {key}")));
            }
            Ok(())
        }
    }

    struct FaultyCas<'a> {
        inner: Box<dyn Cas + 'a>,
        kv: &'a Faulty,
        key: String,
    }

    impl Cas for FaultyCas<'_> {
        fn current(&self) -> Option<&[u8]> {
            self.inner.current()
        }
        fn swap(self: Box<Self>, value: &[u8]) -> KvResult<bool> {
            self.kv.check("swap", &self.key)?;
            self.inner.swap(value)
        }
    }

    impl Kv for Faulty {
        fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
            self.check("get", key)?;
            self.inner.get(key)
        }
        fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
            self.check("set", key)?;
            self.inner.set(key, value)
        }
        fn delete(&self, key: &str) -> KvResult<()> {
            self.check("delete", key)?;
            self.inner.delete(key)
        }
        fn cas(&self, key: &str) -> KvResult<Box<dyn Cas + '_>> {
            self.check("get", key)?;
            Ok(Box::new(FaultyCas {
                inner: self.inner.cas(key)?,
                kv: self,
                key: key.to_owned(),
            }))
        }
        fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
            self.check("increment", key)?;
            self.inner.increment(key, delta)
        }
    }
}

/// Test doubles for the backends' quirks.
#[cfg(test)]
pub(crate) mod misreporting {
    use super::*;
    use std::cell::Cell;

    /// A store whose compare-and-swap misreports, as Spin's Redis backend
    /// does: a swap that wrote says it did not. `rival`, if set, runs once
    /// right after the first successful write, before the writer can look:
    /// a write that won and was overwritten at once.
    pub struct Misreporting {
        pub inner: std::sync::Arc<MemoryKv>,
        pub rival: Cell<Option<Box<dyn FnOnce()>>>,
    }

    struct MisreportingCas<'a> {
        inner: Box<dyn Cas + 'a>,
        kv: &'a Misreporting,
    }

    impl Cas for MisreportingCas<'_> {
        fn current(&self) -> Option<&[u8]> {
            self.inner.current()
        }
        fn swap(self: Box<Self>, value: &[u8]) -> KvResult<bool> {
            let wrote = self.inner.swap(value)?;
            if wrote && let Some(rival) = self.kv.rival.take() {
                rival();
            }
            Ok(false)
        }
    }

    impl Kv for Misreporting {
        fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
            self.inner.get(key)
        }
        fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
            self.inner.set(key, value)
        }
        fn delete(&self, key: &str) -> KvResult<()> {
            self.inner.delete(key)
        }
        fn cas(&self, key: &str) -> KvResult<Box<dyn Cas + '_>> {
            Ok(Box::new(MisreportingCas {
                inner: self.inner.cas(key)?,
                kv: self,
            }))
        }
        fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
            self.inner.increment(key, delta)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_never_overwrites_and_elects_one_creator() {
        let kv = MemoryKv::new();
        ensure_exists(&kv, "k", b"[]").unwrap();
        kv.set("k", b"[1]").unwrap();
        ensure_exists(&kv, "k", b"[]").unwrap();
        assert_eq!(kv.get("k").unwrap().as_deref(), Some(&b"[1]"[..]));
        let seen: u32 = update::<_, StoreError>(&kv, "fresh", Some(b"0"), 5, |cur| {
            assert!(cur.is_some(), "created before the closure runs");
            Ok(Update::Keep(7))
        })
        .unwrap();
        assert_eq!(seen, 7);
        assert_eq!(kv.increment("fresh#born", 0).unwrap(), 1);
    }

    #[test]
    fn cas_fails_after_a_concurrent_write() {
        let kv = MemoryKv::new();
        let a = kv.cas("k").unwrap();
        let b = kv.cas("k").unwrap();
        assert!(a.swap(b"1").unwrap());
        assert!(!b.swap(b"2").unwrap());
        assert_eq!(kv.get("k").unwrap().as_deref(), Some(&b"1"[..]));
    }

    #[test]
    fn a_swap_that_wrote_but_says_it_did_not_counts_once() {
        use misreporting::Misreporting;
        let kv = Misreporting {
            inner: std::sync::Arc::new(MemoryKv::new()),
            rival: std::cell::Cell::new(None),
        };
        kv.set("n", b"0").unwrap();
        for _ in 0..3 {
            update::<_, StoreError>(&kv, "n", None, 10, |cur| {
                let n: u32 = std::str::from_utf8(cur.unwrap_or(b"0"))
                    .unwrap()
                    .parse()
                    .unwrap();
                Ok(Update::Write((n + 1).to_string().into_bytes(), ()))
            })
            .unwrap();
        }
        assert_eq!(kv.get("n").unwrap().as_deref(), Some(&b"3"[..]));
    }

    #[test]
    fn update_retries_until_it_wins() {
        let kv = MemoryKv::new();
        let n: u32 = update::<_, StoreError>(&kv, "n", None, 5, |cur| {
            let n = cur.map(|c| c[0]).unwrap_or(0) + 1;
            Ok(Update::Write(vec![n], n as u32))
        })
        .unwrap();
        assert_eq!(n, 1);
    }
}
