//! What a handler may touch: the stores and the settings, built once per
//! request by the Spin glue (directly, with in-memory stores, in native tests).

use crate::config::Config;
use crate::store::Store;
use std::rc::Rc;

pub struct Env {
    pub store: Rc<Store>,
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
