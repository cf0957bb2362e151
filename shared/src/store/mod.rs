//! Storage: metadata and indexes in key-value, log bytes in a blob store.
//!
//! The layer above the utilities and below everything else. It speaks bytes,
//! keys and [`StoreError`]s, never HTTP: what a failure means to a client is
//! decided by whoever called it.

pub mod blob;
pub mod error;
pub mod kv;
pub mod log;
pub mod metrics;
pub mod s3;
pub mod sigv4;

pub use error::{StoreError, StoreResult};

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
    /// `meta` holds the metadata, `blobs` (a key-value store: the same one, or
    /// in tests another) the log bytes in chunks.
    pub fn new(meta: Box<dyn Kv>, blobs: Box<dyn Kv>) -> Self {
        Self::with_blobs(meta, Box::new(KvBlobStore::new(blobs)))
    }

    /// Metadata in `meta`, log bytes in any blob backend (S3, say).
    pub fn with_blobs(meta: Box<dyn Kv>, blobs: Box<dyn BlobStore>) -> Self {
        Self { meta, blobs }
    }

    /// Both stores in memory: what native tests use.
    pub fn memory() -> Self {
        Self::new(Box::new(MemoryKv::new()), Box::new(MemoryKv::new()))
    }
}
