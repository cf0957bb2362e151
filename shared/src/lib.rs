//! spin-logs: the library every spin-logs component is built from.
//!
//! Layers, bottom up. Each module imports only from layers below it (a test,
//! `tests/layers.rs`, reads every `use crate::` and holds the code to this):
//!
//! 1. [`util`]: clocks, ids, digests.
//! 2. [`logql`]: the query language: parser, log pipeline, metric evaluation;
//!    pure functions over labels and lines, errors of its own.
//! 3. [`store`]: key-value, blobs, and the append-only indexed [`store::log`]
//!    task files and the journal are made of; errors of its own, no HTTP.
//! 4. [`config`]: every setting, from Spin variables.
//! 5. [`web`]: problems, requests and responses, the query string, paths and
//!    their parameters, and the bounds checked first.
//! 6. [`routes`]: every route as data, one table per route family: the
//!    parser, the permission rules, and what the docs are written from.
//! 7. [`env`](mod@env): the stores and settings a request works with.
//! 8. [`model`]: tasks and their sandboxes, journal entries, positions.
//! 9. [`read`]: read parameters, formats, the reader, the follow engine,
//!    follower leases, ranged downloads, tar.gz and redaction.
//! 10. [`auth`]: the gate: authentication, authorization by the route's rule, rate limits.
//! 11. [`jobs`]: log collection jobs: their records, lifecycle and collection.
//! 12. [`retention`]: archive policies, their stepped runs, the archive catalog.
//! 13. [`collect`]: Kubernetes clusters, collection configuration, pulls
//!     from API servers in stepped jobs, metrics and health.
//! 14. [`api`]: one handler per route family: call the layers below, render.
//! 15. [`spin`]: the glue to WASI HTTP, Spin key-value and variables.

// Every public item says what it is for: a newcomer reads the layers from
// their docs (`cargo doc -p spin-logs --open`); `cargo clippy -- -D warnings`
// turns a missing one into an error.
#![warn(missing_docs)]

pub mod util;

pub mod logql;

pub mod store;

pub mod config;

pub mod web;

pub mod routes;

pub mod env;

pub mod model;

pub mod read;

pub mod auth;

pub mod jobs;

pub mod retention;

pub mod collect;

pub mod api;

pub mod spin;

/// Entry points for the fuzz targets and their regression tests; compiled
/// only with the `fuzzing` feature, so no product build carries them.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
