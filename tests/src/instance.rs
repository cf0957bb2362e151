//! Per-instance store data and the Spin host interfaces beyond WASI:
//! `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2` (over [`crate::kv`]) and
//! `fermyon:spin/variables@2.0.0`, with Spin's access rules and error values;
//! outbound HTTP is [`crate::outbound`].

use std::collections::HashSet;
use std::sync::Arc;

use wasmtime::StoreLimits;
use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::kv::{self, KvError, KvStores, SwapError};
use crate::manifest::{VariableError, Variables};

wasmtime::component::bindgen!({
    path: "wit",
    world: "host",
    imports: { default: async },
    with: {
        "wasi:keyvalue/store.bucket": crate::kv::Bucket,
        "wasi:keyvalue/atomics.cas": crate::kv::Cas,
    },
});

use fermyon::spin::variables;
use wasi::keyvalue::{atomics, batch, store};

/// What every component instance sees; one per request.
pub struct InstanceState {
    component: Arc<str>,
    allowed_stores: Arc<HashSet<String>>,
    kv: Arc<KvStores>,
    vars: Arc<Variables>,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: crate::outbound::Outbound,
    table: ResourceTable,
    pub(crate) limits: StoreLimits,
}

impl InstanceState {
    pub(crate) fn new(
        component: Arc<str>,
        allowed_stores: Arc<HashSet<String>>,
        kv: Arc<KvStores>,
        vars: Arc<Variables>,
        outbound: Arc<crate::outbound::AllowedHosts>,
        stderr: Option<wasmtime_wasi::p2::pipe::MemoryOutputPipe>,
        limits: StoreLimits,
    ) -> Self {
        // Like `spin up`: no args, no environment, no preopened dirs; guest
        // output goes to the host's stdout and stderr (or, for tests that
        // read the app's log, stderr into a buffer shared by all instances).
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stdout();
        match stderr {
            Some(pipe) => wasi.stderr(pipe),
            None => wasi.inherit_stderr(),
        };
        InstanceState {
            component,
            allowed_stores,
            kv,
            vars,
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: crate::outbound::Outbound(outbound),
            table: ResourceTable::new(),
            limits,
        }
    }
}

/// Adds the non-WASI interfaces to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<InstanceState>) -> wasmtime::Result<()> {
    Host_::add_to_linker::<_, HasSelf<InstanceState>>(linker, |s| s)
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

fn to_wit(e: KvError) -> store::Error {
    match e {
        KvError::NoSuchStore => store::Error::NoSuchStore,
        KvError::AccessDenied => store::Error::AccessDenied,
        KvError::Other(m) => store::Error::Other(m),
    }
}

/// Store calls block. Like Spin's SQLite backend (`crates/key-value-spin`),
/// run them in place on the worker thread (`block_in_place` hands the
/// worker's other tasks to another thread) rather than hopping to the
/// blocking pool and back for every call: that hop was most of the host's
/// CPU for idle followers' polls.
/// The fault plan (if any) and the component it applies to; owned, so no
/// borrow of the instance lives across an await.
struct Faults(Option<kv::Faults>, Arc<str>);

impl Faults {
    /// Applies the plan to one call (see [`kv::Fault`]): an error to return
    /// instead, a pause, a hang; `Ok(true)`: run it, then hang ([`after`]).
    async fn check(self, op: &str, key: &str) -> Result<bool, store::Error> {
        let Some(plan) = &self.0 else {
            return Ok(false);
        };
        let call = kv::Call {
            component: &self.1,
            op,
            key,
        };
        let fault = (plan.0)(&call);
        match fault {
            kv::Fault::None => Ok(false),
            kv::Fault::Fail(message) => Err(store::Error::Other(message)),
            kv::Fault::Stall(pause) => {
                tokio::time::sleep(pause).await;
                Ok(false)
            }
            kv::Fault::Hang => std::future::pending().await,
            kv::Fault::HangAfter => Ok(true),
        }
    }
}

/// `result`, unless the fault plan said to hang after the call (the
/// instance then dies just after it, at its time budget).
async fn after<R>(hang: bool, result: Result<R, store::Error>) -> Result<R, store::Error> {
    if hang {
        std::future::pending::<()>().await;
    }
    result
}

async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> kv::KvResult<R> + Send + 'static,
) -> Result<R, store::Error> {
    tokio::task::block_in_place(f).map_err(to_wit)
}

impl InstanceState {
    /// The host's fault plan for this instance's calls.
    fn faults(&self) -> Faults {
        Faults(self.kv.faults.clone(), self.component.clone())
    }

    fn bucket(&self, r: &Resource<kv::Bucket>) -> Result<kv::Bucket, store::Error> {
        self.table
            .get(r)
            .cloned()
            .map_err(|e| store::Error::Other(format!("invalid bucket handle: {e}")))
    }

    /// A CAS handle whose `current()` has already been read, as Spin hands
    /// back with `cas-failed`.
    async fn fresh_cas(
        &mut self,
        bucket: kv::Bucket,
        key: String,
    ) -> Result<Resource<kv::Cas>, store::Error> {
        let cas = blocking(move || {
            let mut cas = bucket.cas(&key);
            cas.current()?;
            Ok(cas)
        })
        .await?;
        self.table
            .push(cas)
            .map_err(|e| store::Error::Other(e.to_string()))
    }
}

impl store::Host for InstanceState {
    async fn open(&mut self, identifier: String) -> Result<Resource<kv::Bucket>, store::Error> {
        // Spin: labels not granted by `key_value_stores` are access-denied,
        // whether or not the store exists.
        if !self.allowed_stores.contains(&identifier) {
            return Err(store::Error::AccessDenied);
        }
        let bucket = self.kv.bucket(&identifier).map_err(to_wit)?;
        self.table
            .push(bucket)
            .map_err(|e| store::Error::Other(e.to_string()))
    }
}

impl store::HostBucket for InstanceState {
    async fn get(
        &mut self,
        b: Resource<kv::Bucket>,
        key: String,
    ) -> Result<Option<Vec<u8>>, store::Error> {
        let hang = self.faults().check("get", &key).await?;
        let bucket = self.bucket(&b)?;
        after(hang, blocking(move || bucket.get(&key)).await).await
    }

    async fn set(
        &mut self,
        b: Resource<kv::Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), store::Error> {
        let hang = self.faults().check("set", &key).await?;
        let bucket = self.bucket(&b)?;
        after(hang, blocking(move || bucket.set(&key, &value)).await).await
    }

    async fn delete(&mut self, b: Resource<kv::Bucket>, key: String) -> Result<(), store::Error> {
        let hang = self.faults().check("delete", &key).await?;
        let bucket = self.bucket(&b)?;
        after(hang, blocking(move || bucket.delete(&key)).await).await
    }

    async fn exists(&mut self, b: Resource<kv::Bucket>, key: String) -> Result<bool, store::Error> {
        let hang = self.faults().check("exists", &key).await?;
        let bucket = self.bucket(&b)?;
        after(hang, blocking(move || bucket.exists(&key)).await).await
    }

    async fn list_keys(
        &mut self,
        b: Resource<kv::Bucket>,
        cursor: Option<String>,
    ) -> Result<store::KeyResponse, store::Error> {
        if cursor.is_some() {
            return Err(store::Error::Other(
                "list_keys: cursor not supported".to_owned(),
            ));
        }
        let bucket = self.bucket(&b)?;
        let keys = blocking(move || bucket.keys()).await?;
        Ok(store::KeyResponse { keys, cursor: None })
    }

    async fn drop(&mut self, b: Resource<kv::Bucket>) -> wasmtime::Result<()> {
        self.table.delete(b)?;
        Ok(())
    }
}

impl batch::Host for InstanceState {
    async fn get_many(
        &mut self,
        b: Resource<kv::Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, store::Error> {
        let hang = self
            .faults()
            .check("get-many", keys.first().map_or("", String::as_str))
            .await?;
        let bucket = self.bucket(&b)?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        after(hang, blocking(move || bucket.get_many(&keys)).await).await
    }

    async fn set_many(
        &mut self,
        b: Resource<kv::Bucket>,
        items: Vec<(String, Vec<u8>)>,
    ) -> Result<(), store::Error> {
        let hang = self
            .faults()
            .check("set-many", items.first().map_or("", |(k, _)| k.as_str()))
            .await?;
        let bucket = self.bucket(&b)?;
        if items.is_empty() {
            return Ok(());
        }
        after(hang, blocking(move || bucket.set_many(&items)).await).await
    }

    async fn delete_many(
        &mut self,
        b: Resource<kv::Bucket>,
        keys: Vec<String>,
    ) -> Result<(), store::Error> {
        let hang = self
            .faults()
            .check("delete-many", keys.first().map_or("", String::as_str))
            .await?;
        let bucket = self.bucket(&b)?;
        if keys.is_empty() {
            return Ok(());
        }
        after(hang, blocking(move || bucket.delete_many(&keys)).await).await
    }
}

impl atomics::Host for InstanceState {
    async fn increment(
        &mut self,
        b: Resource<kv::Bucket>,
        key: String,
        delta: i64,
    ) -> Result<i64, store::Error> {
        let hang = self.faults().check("increment", &key).await?;
        let bucket = self.bucket(&b)?;
        after(hang, blocking(move || bucket.increment(&key, delta)).await).await
    }

    async fn swap(
        &mut self,
        c: Resource<kv::Cas>,
        value: Vec<u8>,
    ) -> Result<(), atomics::CasError> {
        let cas = self
            .table
            .delete(c)
            .map_err(|e| atomics::CasError::StoreError(store::Error::Other(e.to_string())))?;
        let (bucket, key) = (cas.bucket().clone(), cas.key().to_owned());
        let hang = self
            .faults()
            .check("swap", &key)
            .await
            .map_err(atomics::CasError::StoreError)?;
        let outcome = tokio::task::spawn_blocking(move || cas.swap(&value))
            .await
            .map_err(|e| atomics::CasError::StoreError(store::Error::Other(e.to_string())))?;
        if hang {
            std::future::pending::<()>().await;
        }
        match outcome {
            Ok(()) => Ok(()),
            Err(SwapError::Store(e)) => Err(atomics::CasError::StoreError(to_wit(e))),
            Err(SwapError::CasFailed) => {
                let fresh = self
                    .fresh_cas(bucket, key)
                    .await
                    .map_err(atomics::CasError::StoreError)?;
                Err(atomics::CasError::CasFailed(fresh))
            }
        }
    }
}

impl atomics::HostCas for InstanceState {
    async fn new(
        &mut self,
        b: Resource<kv::Bucket>,
        key: String,
    ) -> Result<Resource<kv::Cas>, store::Error> {
        if self.faults().check("cas-new", &key).await? {
            std::future::pending::<()>().await;
        }
        let bucket = self.bucket(&b)?;
        self.table
            .push(bucket.cas(&key))
            .map_err(|e| store::Error::Other(e.to_string()))
    }

    async fn current(&mut self, c: Resource<kv::Cas>) -> Result<Option<Vec<u8>>, store::Error> {
        let cas = self
            .table
            .get(&c)
            .map_err(|e| store::Error::Other(format!("invalid cas handle: {e}")))?;
        // A clone shares the handle's own connection (Redis `WATCH` lives there).
        let mut cas = cas.clone();
        let value = blocking(move || cas.current()).await?;
        self.table
            .get_mut(&c)
            .map_err(|e| store::Error::Other(e.to_string()))?
            .remember(value.clone());
        Ok(value)
    }

    async fn drop(&mut self, c: Resource<kv::Cas>) -> wasmtime::Result<()> {
        self.table.delete(c)?;
        Ok(())
    }
}

impl variables::Host for InstanceState {
    async fn get(&mut self, name: String) -> Result<String, variables::Error> {
        self.vars.get(&self.component, &name).map_err(|e| match e {
            VariableError::InvalidName(m) => variables::Error::InvalidName(m),
            VariableError::Undefined(m) => variables::Error::Undefined(m),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::StoreLocation;
    use std::collections::BTreeMap;

    fn state(granted: &[&str]) -> InstanceState {
        let mut locations = BTreeMap::new();
        locations.insert("default".to_owned(), StoreLocation::InMemory);
        locations.insert("other".to_owned(), StoreLocation::InMemory);
        let kv = KvStores::open(&locations, false).expect("stores");
        InstanceState::new(
            "c".into(),
            Arc::new(granted.iter().map(|s| s.to_string()).collect()),
            Arc::new(kv),
            Arc::new(Variables::default()),
            Arc::default(),
            None,
            StoreLimits::default(),
        )
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn only_granted_labels_open() {
        let mut s = state(&["default"]);
        assert!(store::Host::open(&mut s, "default".into()).await.is_ok());
        // Defined but not granted, and not defined at all: both access-denied.
        for label in ["other", "nope"] {
            assert!(matches!(
                store::Host::open(&mut s, label.into()).await,
                Err(store::Error::AccessDenied)
            ));
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn failed_swap_hands_back_a_current_handle() {
        let mut s = state(&["default"]);
        let b = store::Host::open(&mut s, "default".into())
            .await
            .expect("open");
        let borrow = || Resource::<kv::Bucket>::new_borrow(b.rep());
        store::HostBucket::set(&mut s, borrow(), "k".into(), b"v0".to_vec())
            .await
            .expect("set");

        let stale = atomics::HostCas::new(&mut s, borrow(), "k".into())
            .await
            .expect("cas");
        let seen = atomics::HostCas::current(&mut s, Resource::new_borrow(stale.rep())).await;
        assert_eq!(seen.expect("current").as_deref(), Some(&b"v0"[..]));
        store::HostBucket::set(&mut s, borrow(), "k".into(), b"v1".to_vec())
            .await
            .expect("set");

        let Err(atomics::CasError::CasFailed(fresh)) =
            atomics::Host::swap(&mut s, stale, b"lost".to_vec()).await
        else {
            panic!("the swap must fail: the value changed");
        };
        // The new handle already knows the current value, so it can swap.
        atomics::Host::swap(&mut s, fresh, b"v2".to_vec())
            .await
            .expect("retry with the handed-back handle");
        let now = store::HostBucket::get(&mut s, borrow(), "k".into()).await;
        assert_eq!(now.expect("get").as_deref(), Some(&b"v2"[..]));

        let n = atomics::Host::increment(&mut s, borrow(), "n".into(), 3).await;
        assert_eq!(n.expect("increment"), 3);
    }
}
