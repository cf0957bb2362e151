//! What can go wrong in storage, as values that say nothing about HTTP.
//!
//! The store is used by handlers, jobs and the auth gate alike; each decides
//! what a failure means to its caller. The one conversion to a client answer
//! (`impl From<StoreError> for Problem`) lives in `web::problem`, above this
//! layer, so storage never chooses a status code.

/// A storage failure. Not the client's fault: a 503 when a retry may cure it,
/// a 500 when the deployment is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvError(pub String, pub Cause);

/// Whether a retry may cure a storage failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The backend failed or was unreachable (a connection, I/O, a timeout,
    /// S3's 5xx): a retry later may work.
    Unavailable,
    /// The deployment is wrong (a store not granted, an outbound host not
    /// allowed, an endpoint that is no URL): no retry can work.
    Misconfigured,
}

impl KvError {
    /// A backend failure a retry may cure.
    pub fn new(message: impl Into<String>) -> Self {
        KvError(message.into(), Cause::Unavailable)
    }

    /// A deployment error no retry cures.
    pub fn misconfigured(message: impl Into<String>) -> Self {
        KvError(message.into(), Cause::Misconfigured)
    }
}

impl std::fmt::Display for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "key-value store: {}", self.0)
    }
}

impl std::error::Error for KvError {}

/// What a storage operation can fail with; a handler turns it into a
/// `Problem` (`web::problem`): `Internal` a 500, `Contended` a 503, `Kv` by its [`Cause`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The backend failed (connection, I/O, a refused command).
    Kv(KvError),
    /// A stored value cannot be read back, or the store was used against its
    /// contract: data is corrupt or a caller has a bug. Never the client's fault.
    Internal(String),
    /// A compare-and-swap lost its race more times than it was allowed to:
    /// too many concurrent writers to one key. Retrying later may succeed.
    Contended,
}

/// A storage operation's result.
pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// [`StoreError::Internal`] with `detail` as its message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        StoreError::Internal(detail.to_string())
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Kv(e) => e.fmt(f),
            StoreError::Internal(why) => write!(f, "storage: {why}"),
            StoreError::Contended => f.write_str("storage: too many concurrent writers to one key"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<KvError> for StoreError {
    fn from(e: KvError) -> Self {
        StoreError::Kv(e)
    }
}

impl From<getrandom::Error> for StoreError {
    fn from(e: getrandom::Error) -> Self {
        StoreError::Internal(format!("getrandom: {e}"))
    }
}
