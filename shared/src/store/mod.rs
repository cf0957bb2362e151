//! Storage: metadata and indexes in key-value, log bytes in a blob store.

pub mod blob;
pub mod kv;
pub mod log;

use blob::{BlobStore, KvBlobStore};
use kv::{Kv, MemoryKv};

/// The two stores every handler works with.
pub struct Store {
    /// Metadata, indexes, log heads: small values, compare-and-swap commits.
    pub meta: Box<dyn Kv>,
    /// Log bytes, written once and never changed.
    pub blobs: Box<dyn BlobStore>,
}

impl Store {
    /// `meta` is the `default` store, `blobs` the store chunked log bytes go to.
    pub fn new(meta: Box<dyn Kv>, blobs: Box<dyn Kv>) -> Self {
        Self {
            meta,
            blobs: Box::new(KvBlobStore::new(blobs)),
        }
    }

    /// Both stores in memory: what native tests use.
    pub fn memory() -> Self {
        Self::new(Box::new(MemoryKv::new()), Box::new(MemoryKv::new()))
    }
}
