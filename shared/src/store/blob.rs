//! Blob storage: immutable byte objects addressed by key.
//!
//! Log bytes live here, metadata and indexes in the key-value store. The
//! embedded default, [`KvBlobStore`], keeps an object as chunks of at most
//! [`CHUNK_SIZE`] (hosted KV stores cap values near 1 MB) plus a small
//! manifest, under keys of their own (`blob/...`) in the same `default` store
//! as the metadata: plain `spin up` knows no other store label, and one store
//! means one runtime-config entry. For logs that outgrow a key-value store,
//! [`super::s3::S3BlobStore`] keeps each object in an S3 bucket instead.

use super::kv::{Kv, KvError, KvResult};
use serde::{Deserialize, Serialize};

/// Largest chunk written to the key-value store.
pub const CHUNK_SIZE: usize = 512 * 1024;

/// Where log bytes live: write-once objects by key, read whole or by range.
/// Implemented by [`KvBlobStore`] (the embedded default), `S3BlobStore` and [`LazyBlobs`].
pub trait BlobStore {
    /// Stores `data` under `key`. Objects are written once: callers use fresh keys.
    fn put(&self, key: &str, data: &[u8]) -> KvResult<()>;
    /// The whole object, or `None` if absent.
    fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>>;
    /// Bytes `start..end` of the object (clamped to its size), reading only the
    /// chunks that overlap the range.
    fn get_range(&self, key: &str, start: u64, end: u64) -> KvResult<Option<Vec<u8>>>;
    /// Removes the object; an absent one is no error.
    fn delete(&self, key: &str) -> KvResult<()>;

    /// Stores several new objects, in one round trip where the backend allows.
    /// Not atomic as a whole: for objects nobody references until a later commit.
    fn put_many(&self, objects: &[(String, &[u8])]) -> KvResult<()> {
        objects.iter().try_for_each(|(k, v)| self.put(k, v))
    }
}

/// A blob store built at its first use: a request that reads no log bytes
/// (a 401, a listing, an index read) neither opens nor configures one.
pub struct LazyBlobs {
    open: Box<dyn Fn() -> KvResult<Box<dyn BlobStore>>>,
    store: std::cell::OnceCell<Box<dyn BlobStore>>,
}

impl LazyBlobs {
    /// A store that calls `open` on its first use; a failure to open is that
    /// use's error, and the next use tries again.
    pub fn new(open: impl Fn() -> KvResult<Box<dyn BlobStore>> + 'static) -> Self {
        LazyBlobs {
            open: Box::new(open),
            store: std::cell::OnceCell::new(),
        }
    }

    fn store(&self) -> KvResult<&dyn BlobStore> {
        if let Some(store) = self.store.get() {
            return Ok(store.as_ref());
        }
        let store = (self.open)()?;
        Ok(self.store.get_or_init(|| store).as_ref())
    }
}

impl BlobStore for LazyBlobs {
    fn put(&self, key: &str, data: &[u8]) -> KvResult<()> {
        self.store()?.put(key, data)
    }
    fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        self.store()?.get(key)
    }
    fn get_range(&self, key: &str, start: u64, end: u64) -> KvResult<Option<Vec<u8>>> {
        self.store()?.get_range(key, start, end)
    }
    fn delete(&self, key: &str) -> KvResult<()> {
        self.store()?.delete(key)
    }
    fn put_many(&self, objects: &[(String, &[u8])]) -> KvResult<()> {
        self.store()?.put_many(objects)
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Manifest {
    size: u64,
    chunks: u32,
}

/// What `blob/<key>` holds: the object, or the manifest of its chunks.
enum Head {
    Inline(Vec<u8>),
    Chunked(Manifest),
}

/// Namespace of the embedded blobs in the shared key-value store.
const PREFIX: &str = "blob/";

/// Last byte of a `blob/<key>` value that holds the object itself (a
/// manifest is JSON, so it ends with `}`). Last, not first: dropping it is
/// a truncation, where a leading marker cost every read a copy of the
/// whole object.
const INLINE: u8 = 0;

/// The embedded default: an object smaller than a chunk as one `blob/<key>`
/// value (its bytes, then [`INLINE`]), a larger one as `blob/<key>#<i>`
/// chunk keys plus a `blob/<key>` manifest. Inline saves a key-value get
/// on every read of it and a write on every put: on Spin's SQLite store
/// each operation costs the host about 35 us of CPU (docs/performance.md),
/// and a small read's segment is one chunk.
pub struct KvBlobStore {
    kv: Box<dyn Kv>,
    chunk_size: usize,
}

impl KvBlobStore {
    /// Blobs as chunks of [`CHUNK_SIZE`] in `kv`.
    pub fn new(kv: Box<dyn Kv>) -> Self {
        Self::with_chunk_size(kv, CHUNK_SIZE)
    }

    /// Small chunk sizes let tests cross chunk boundaries with little data.
    pub fn with_chunk_size(kv: Box<dyn Kv>, chunk_size: usize) -> Self {
        Self {
            kv,
            chunk_size: chunk_size.max(1),
        }
    }

    fn chunk_key(key: &str, i: u64) -> String {
        format!("{PREFIX}{key}#{i}")
    }

    fn manifest_key(key: &str) -> String {
        format!("{PREFIX}{key}")
    }

    fn head(&self, key: &str) -> KvResult<Option<Head>> {
        match self.kv.get(&Self::manifest_key(key))? {
            None => Ok(None),
            Some(mut bytes) if bytes.last() == Some(&INLINE) => {
                bytes.pop();
                Ok(Some(Head::Inline(bytes)))
            }
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(|m| Some(Head::Chunked(m)))
                .map_err(|e| KvError::new(format!("blob manifest {key}: {e}"))),
        }
    }

    fn read_chunks(&self, key: &str, first: u64, last: u64) -> KvResult<Vec<u8>> {
        let keys: Vec<String> = (first..=last).map(|i| Self::chunk_key(key, i)).collect();
        let mut out = Vec::new();
        for (k, chunk) in keys.iter().zip(self.kv.get_many(&keys)?) {
            out.extend_from_slice(
                &chunk.ok_or_else(|| KvError::new(format!("missing chunk {k}")))?,
            );
        }
        Ok(out)
    }
}

impl KvBlobStore {
    /// The entries of one object: its inline value if it is smaller than a
    /// chunk, else its chunk entries and then its manifest entry.
    fn entries(&self, key: &str, data: &[u8], out: &mut Vec<(String, Vec<u8>)>) -> KvResult<()> {
        if data.len() < self.chunk_size {
            let mut value = Vec::with_capacity(data.len() + 1);
            value.extend_from_slice(data);
            value.push(INLINE);
            out.push((Self::manifest_key(key), value));
            return Ok(());
        }
        let before = out.len();
        out.extend(
            data.chunks(self.chunk_size)
                .enumerate()
                .map(|(i, c)| (Self::chunk_key(key, i as u64), c.to_vec())),
        );
        let manifest = Manifest {
            size: data.len() as u64,
            chunks: (out.len() - before) as u32,
        };
        let manifest = serde_json::to_vec(&manifest).map_err(|e| KvError::new(e.to_string()))?;
        out.push((Self::manifest_key(key), manifest));
        Ok(())
    }
}

impl BlobStore for KvBlobStore {
    fn put(&self, key: &str, data: &[u8]) -> KvResult<()> {
        let mut entries = Vec::new();
        self.entries(key, data, &mut entries)?;
        let manifest = entries.pop();
        // Chunks before the manifest: a reader that finds the manifest finds the bytes.
        self.kv.set_many(&entries)?;
        match manifest {
            Some((k, v)) => self.kv.set(&k, &v),
            None => Ok(()),
        }
    }

    fn put_many(&self, objects: &[(String, &[u8])]) -> KvResult<()> {
        let mut entries = Vec::new();
        for (key, data) in objects {
            self.entries(key, data, &mut entries)?;
        }
        self.kv.set_many(&entries)
    }

    fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        match self.head(key)? {
            None => Ok(None),
            Some(Head::Inline(bytes)) => Ok(Some(bytes)),
            Some(Head::Chunked(m)) if m.chunks == 0 => Ok(Some(Vec::new())),
            Some(Head::Chunked(m)) => self.read_chunks(key, 0, m.chunks as u64 - 1).map(Some),
        }
    }

    fn get_range(&self, key: &str, start: u64, end: u64) -> KvResult<Option<Vec<u8>>> {
        let m = match self.head(key)? {
            None => return Ok(None),
            Some(Head::Inline(bytes)) => {
                // In u64 until bounded by the length: usize is 32 bits in wasm.
                let end = end.min(bytes.len() as u64);
                let start = start.min(end);
                return Ok(Some(bytes[start as usize..end as usize].to_vec()));
            }
            Some(Head::Chunked(m)) => m,
        };
        let end = end.min(m.size);
        if start >= end {
            return Ok(Some(Vec::new()));
        }
        let cs = self.chunk_size as u64;
        let (first, last) = (start / cs, (end - 1) / cs);
        let bytes = self.read_chunks(key, first, last)?;
        let from = (start - first * cs) as usize;
        let to = (end - first * cs) as usize;
        Ok(Some(bytes[from..to.min(bytes.len())].to_vec()))
    }

    fn delete(&self, key: &str) -> KvResult<()> {
        let m = match self.head(key)? {
            Some(Head::Chunked(m)) => m,
            Some(Head::Inline(_)) => return self.kv.delete(&Self::manifest_key(key)),
            None => {
                // A put cut short writes chunks but no manifest: find them one by one.
                let mut i = 0;
                while self.kv.get(&Self::chunk_key(key, i))?.is_some() {
                    self.kv.delete(&Self::chunk_key(key, i))?;
                    i += 1;
                }
                return Ok(());
            }
        };
        // Manifest first: a half-deleted blob is invisible rather than corrupt.
        self.kv.delete(&Self::manifest_key(key))?;
        let keys: Vec<String> = (0..m.chunks as u64)
            .map(|i| Self::chunk_key(key, i))
            .collect();
        self.kv.delete_many(&keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::kv::MemoryKv;

    fn store(chunk: usize) -> KvBlobStore {
        KvBlobStore::with_chunk_size(Box::new(MemoryKv::new()), chunk)
    }

    #[test]
    fn round_trips_across_chunks() {
        let s = store(4);
        let data = b"0123456789abcdef0";
        s.put("o", data).unwrap();
        assert_eq!(s.get("o").unwrap().unwrap(), data);
        assert_eq!(s.get_range("o", 3, 9).unwrap().unwrap(), b"345678");
        assert_eq!(s.get_range("o", 15, 99).unwrap().unwrap(), b"f0");
        assert_eq!(s.get_range("o", 17, 20).unwrap().unwrap(), b"");
        assert_eq!(s.get("missing").unwrap(), None);
    }

    #[test]
    fn chunks_never_exceed_the_limit() {
        let kv = std::sync::Arc::new(MemoryKv::new());
        let s = KvBlobStore::new(Box::new(kv.clone()));
        let big: Vec<u8> = (0..CHUNK_SIZE * 2 + 10).map(|i| i as u8).collect();
        s.put("big", &big).unwrap();
        assert_eq!(s.get("big").unwrap().unwrap(), big);
        assert_eq!(kv.len(), 4, "three chunks and a manifest");
        for k in kv.keys() {
            assert!(k.starts_with("blob/big"), "{k}");
            assert!(kv.get(&k).unwrap().unwrap().len() <= CHUNK_SIZE);
        }
    }

    #[test]
    fn put_many_stores_every_object() {
        let s = store(3);
        s.put_many(&[("a".into(), &b"1234567"[..]), ("b".into(), &b"xy"[..])])
            .unwrap();
        assert_eq!(s.get("a").unwrap().unwrap(), b"1234567");
        assert_eq!(s.get("b").unwrap().unwrap(), b"xy");
    }

    #[test]
    fn empty_objects_and_deletes() {
        let s = store(4);
        s.put("e", b"").unwrap();
        assert_eq!(s.get("e").unwrap().unwrap(), b"");
        s.put("d", b"12345678").unwrap();
        s.delete("d").unwrap();
        assert_eq!(s.get("d").unwrap(), None);
    }

    #[test]
    fn deleting_a_put_cut_short_removes_its_chunks() {
        let s = store(4);
        // Chunks of "x" written, manifest never: what a killed put leaves.
        s.kv.set("blob/x#0", b"1234").unwrap();
        s.kv.set("blob/x#1", b"56").unwrap();
        s.delete("x").unwrap();
        assert_eq!(s.kv.get("blob/x#0").unwrap(), None);
        assert_eq!(s.kv.get("blob/x#1").unwrap(), None);
    }

    /// An object under one chunk is one key: one get to read it, one set
    /// to write it; objects written as chunks by earlier versions still read.
    #[test]
    fn small_objects_are_one_key_and_old_chunked_ones_still_read() {
        let kv = std::sync::Arc::new(MemoryKv::new());
        let s = KvBlobStore::with_chunk_size(Box::new(kv.clone()), 8);
        s.put("small", b"1234567").unwrap();
        assert_eq!(kv.keys(), ["blob/small"]);
        assert_eq!(s.get("small").unwrap().unwrap(), b"1234567");
        assert_eq!(s.get_range("small", 2, 5).unwrap().unwrap(), b"345");
        assert_eq!(s.get_range("small", 5, 99).unwrap().unwrap(), b"67");
        assert_eq!(s.get_range("small", 9, 12).unwrap().unwrap(), b"");
        assert_eq!(
            s.get_range("small", (1 << 32) + 1, 1 << 33)
                .unwrap()
                .unwrap(),
            b""
        );
        s.put("full", b"12345678").unwrap();
        assert_eq!(
            kv.len(),
            3,
            "a whole chunk is chunked: the value stays under the limit"
        );
        s.delete("small").unwrap();
        assert_eq!(s.get("small").unwrap(), None);
        assert_eq!(kv.len(), 2);

        kv.set("blob/old#0", b"abc").unwrap();
        kv.set("blob/old", br#"{"size":3,"chunks":1}"#).unwrap();
        assert_eq!(s.get("old").unwrap().unwrap(), b"abc");
        assert_eq!(s.get_range("old", 1, 3).unwrap().unwrap(), b"bc");
        s.delete("old").unwrap();
        assert_eq!(kv.keys().len(), 2, "only \"full\" is left");
        assert!(kv.keys().iter().all(|k| k.starts_with("blob/full")));
    }
}
