//! What a handler may touch: the stores and the settings, built once per
//! request by the Spin glue (directly, with in-memory stores, in native tests).

use crate::config::Config;
use crate::store::Store;
use std::rc::Rc;

/// The stores and settings one request works with.
pub struct Env {
    /// Key-value metadata, blobs and logs, shared with what the handler builds on them.
    pub store: Rc<Store>,
    /// The deployment's settings, each read on first use.
    pub config: Config,
}

impl Env {
    /// In-memory stores and default settings: what native tests use.
    pub fn memory() -> Self {
        Self {
            store: Rc::new(Store::memory()),
            config: Config::default(),
        }
    }
}
