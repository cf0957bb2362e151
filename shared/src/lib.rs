//! spin-logs: the library every spin-logs component is built from.
//!
//! Layers, bottom up:
//! - [`store`]: key-value and blob storage, and the append-only indexed [`store::log`]
//!   that task files and the journal are both made of;
//! - [`sandbox`] (tasks and their files) and [`journal`] (component log entries): the data model;
//! - [`route`], [`query`], [`format`], [`problem`]: reading requests and writing answers;
//! - [`ingest`], [`dump`], ...: one handler module per component, each a function
//!   from [`http::Request`] to [`http::Response`];
//! - [`auth`] and [`ratelimit`]: the gate every request passes before its handler;
//! - [`spin`]: the glue to WASI HTTP, Spin key-value and variables.

pub mod archive;
pub mod auth;
pub mod browse;
pub mod clock;
pub mod config;
pub mod discovery;
pub mod dotnet;
pub mod dump;
pub mod format;
#[doc(hidden)]
pub mod fuzzing;
pub mod guard;
pub mod http;
pub mod ingest;
pub mod jobs;
pub mod journal;
pub mod lease;
pub mod position;
pub mod problem;
pub mod query;
pub mod ratelimit;
pub mod reader;
pub mod redact;
pub mod route;
pub mod sandbox;
pub mod scalingo;
pub mod sha256;
pub mod store;
pub mod tail;
pub mod targz;
pub mod token;

use std::rc::Rc;

/// Everything a handler may touch, built once per request by the host glue
/// (`spin::serve` in a component, directly in native tests).
pub struct Env {
    pub store: Rc<store::Store>,
    pub config: config::Config,
}

impl Env {
    /// In-memory stores and default settings: what native tests use.
    pub fn memory() -> Self {
        Self {
            store: Rc::new(store::Store::memory()),
            config: config::Config::default(),
        }
    }
}

pub mod spin;
