//! The key-value contract the storage layer is written against.
//!
//! Two implementations: Spin's key-value stores inside components
//! (`crate::spin::SpinKv`) and [`MemoryKv`] for native tests. The contract is
//! Spin's, including its weak spots: no transactions and no prefix scans. The one
//! atomic primitive is compare-and-swap on a single key (WASI key-value
//! `atomics.cas`, which Spin implements for SQLite, Redis and its cloud stores);
//! every multi-writer structure commits through it.

use std::collections::HashMap;
use std::sync::Mutex;

/// A storage failure. Not the client's fault: handlers turn it into a 500.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvError(pub String);

impl std::fmt::Display for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "key-value store: {}", self.0)
    }
}

impl std::error::Error for KvError {}

impl From<KvError> for crate::problem::Problem {
    fn from(e: KvError) -> Self {
        crate::problem::Problem::internal(e)
    }
}

pub type KvResult<T> = Result<T, KvError>;

/// A pending compare-and-swap: the value seen when it was opened, and a commit
/// that succeeds only if the key still holds exactly that value.
pub trait Cas {
    fn current(&self) -> Option<&[u8]>;
    /// `Ok(false)`: someone else wrote the key first; read again and retry.
    fn swap(self: Box<Self>, value: &[u8]) -> KvResult<bool>;
}

pub trait Kv {
    fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>>;
    fn set(&self, key: &str, value: &[u8]) -> KvResult<()>;
    fn delete(&self, key: &str) -> KvResult<()>;
    /// Opens a compare-and-swap on `key` (reads its current value).
    fn cas(&self, key: &str) -> KvResult<Box<dyn Cas + '_>>;

    /// Values for `keys`, in the same order. One round trip where the store allows.
    fn get_many(&self, keys: &[String]) -> KvResult<Vec<Option<Vec<u8>>>> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    /// Writes several keys in one round trip where the store allows. Not atomic as
    /// a whole: callers only use it for keys nobody can see until a later commit.
    fn set_many(&self, items: &[(String, Vec<u8>)]) -> KvResult<()> {
        items.iter().try_for_each(|(k, v)| self.set(k, v))
    }

    fn delete_many(&self, keys: &[String]) -> KvResult<()> {
        keys.iter().try_for_each(|k| self.delete(k))
    }
}

/// Read-modify-write on one key with retries on contention.
///
/// `f` sees the current value and returns the new value and a result, or
/// `Update::Keep` to stop without writing. Retries back off with jitter; after
/// `attempts` lost races it gives up with [`Contended`].
pub fn update<T>(
    kv: &dyn Kv,
    key: &str,
    attempts: u32,
    mut f: impl FnMut(Option<&[u8]>) -> Result<Update<T>, crate::problem::Problem>,
) -> Result<T, UpdateError> {
    for attempt in 0..attempts {
        let cas = kv.cas(key)?;
        match f(cas.current())? {
            Update::Keep(t) => return Ok(t),
            Update::Write(value, t) => {
                if cas.swap(&value)? {
                    return Ok(t);
                }
            }
        }
        crate::clock::backoff(attempt);
    }
    Err(UpdateError::Contended)
}

pub enum Update<T> {
    /// Commit this value, then return `T`.
    Write(Vec<u8>, T),
    /// Leave the key as it is and return `T`.
    Keep(T),
}

#[derive(Debug)]
pub enum UpdateError {
    Kv(KvError),
    Problem(crate::problem::Problem),
    /// Lost the race `attempts` times in a row.
    Contended,
}

impl From<KvError> for UpdateError {
    fn from(e: KvError) -> Self {
        UpdateError::Kv(e)
    }
}

impl From<crate::problem::Problem> for UpdateError {
    fn from(p: crate::problem::Problem) -> Self {
        UpdateError::Problem(p)
    }
}

impl From<UpdateError> for crate::problem::Problem {
    fn from(e: UpdateError) -> Self {
        match e {
            UpdateError::Kv(e) => e.into(),
            UpdateError::Problem(p) => p,
            UpdateError::Contended => crate::problem::Problem::unavailable(
                "too many concurrent writers to the same log; retry",
                1,
            ),
        }
    }
}

/// An in-process store with Spin's semantics (value-compared CAS), for native tests.
#[derive(Default)]
pub struct MemoryKv {
    map: Mutex<HashMap<String, Vec<u8>>>,
}

impl MemoryKv {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.lock().keys().cloned().collect();
        keys.sort();
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn update_retries_until_it_wins() {
        let kv = MemoryKv::new();
        let n: u32 = update(&kv, "n", 5, |cur| {
            let n = cur.map(|c| c[0]).unwrap_or(0) + 1;
            Ok(Update::Write(vec![n], n as u32))
        })
        .unwrap();
        assert_eq!(n, 1);
    }
}
