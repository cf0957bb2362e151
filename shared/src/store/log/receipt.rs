//! Idempotency receipts: what makes a retried append (same key, same body) a
//! no-op, whatever happened to the first attempt, on every backend.
//!
//! A receipt lives at `<prefix>/r/<hash of the key>` and goes through two
//! states. It is written **pending** before the append commits, naming when
//! the attempt began, and **done** (with where the bytes landed) after. The
//! commit itself (a compare-and-swap of the head) also lists it in the
//! head's `recent` receipts. Three rules make every crash safe:
//!
//! 1. *A receipt leaves `recent` only once its done copy is stored*: the
//!    commit that pushes it out writes it first (idempotently: the same
//!    bytes whoever writes them). So an append that committed is always
//!    findable, in `recent` or as a done receipt, even if its own request
//!    died between the commit and writing the receipt.
//! 2. *An attempt commits only within its commit window
//!    ([`IN_FLIGHT_US`](super::IN_FLIGHT_US), or another set by
//!    [`IdempotencyKey::in_flight`]) of its pending receipt*, and a pending
//!    receipt is taken over by a retry only after twice that. So a receipt
//!    that is pending, not in `recent` and older than that names an attempt
//!    that is dead and never committed; a younger one may still commit, and
//!    its retry is told to come back (409 with `Retry-After`), never allowed
//!    to append twice.
//! 3. *Receipts are remembered for a time* (the `ttl_s` given to
//!    [`IdempotencyKey::new`], the `idempotency_ttl_s` setting): each one
//!    pushed out of `recent` is numbered in a per-log ledger
//!    (`<prefix>/rs/<n>`), and later commits sweep the ledger's expired
//!    entries, deleting their receipts. A retry after that time is a new
//!    append.

use super::Log;
use super::head::{Appended, Head, IdempotencyKey, Outcome};
use crate::store::error::{StoreError, StoreResult};
use crate::store::kv::{Update, ensure_exists, update};
use crate::util::clock::now_micros;
use serde::{Deserialize, Serialize};

/// One idempotent append, as stored.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Receipt {
    pub(super) key: String,
    pub(super) body: String,
    /// Where the bytes landed; `None` while the attempt is pending.
    #[serde(default)]
    pub(super) done: Option<Appended>,
    /// When the attempt that owns it began, µs since the epoch (0: a receipt
    /// written before receipts had times, which is done).
    #[serde(default)]
    pub(super) time: u64,
}

/// A ledger entry: the receipt pushed out of `recent` as the `n`th, and when
/// it was made.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Entry {
    key: String,
    time: u64,
}

/// What a retry's key says about the append.
pub(super) enum Claim {
    /// This request owns the attempt: its pending receipt began at `time`.
    Ours { time: u64 },
    /// The same key and body were appended: answer with this.
    Replay(Appended),
}

/// Ledger entries swept by one commit, at most: enough to keep up with one
/// new entry per commit, little enough for any commit.
const SWEEP_PER_COMMIT: u64 = 2;

/// The bytes a placeholder receipt holds while its creator writes it.
const PLACEHOLDER: &[u8] = b"{}";

impl Log {
    pub(super) fn receipt_key(&self, key_digest: &str) -> String {
        format!("{}/r/{key_digest}", self.prefix)
    }

    fn ledger_key(&self, n: u64) -> String {
        format!("{}/rs/{n}", self.prefix)
    }

    /// Whether `idem` was used within its time with another body: what
    /// [`Log::claim`] would refuse as [`AppendError::KeyReused`], read
    /// without writing, so that a push of many streams refuses before it
    /// stores any of them.
    pub fn key_reused(&self, idem: &IdempotencyKey) -> StoreResult<bool> {
        let stored = self.store.meta.get(&self.receipt_key(&idem.key))?;
        let Some(bytes) = stored.filter(|b| *b != PLACEHOLDER) else {
            return Ok(false);
        };
        let prior: Receipt = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::internal(format!("receipt: {e}")))?;
        let live = prior.time == 0 || now_micros() < prior.time.saturating_add(idem.ttl_us);
        Ok(live && prior.body != idem.body)
    }

    /// Claims `idem` for this request, or says what happened to it before:
    /// the rules in the module docs. `head` is the log's head as read now.
    pub(super) fn claim(
        &self,
        idem: &IdempotencyKey,
        head: Option<&Head>,
    ) -> Result<Claim, AppendError> {
        let key = self.receipt_key(&idem.key);
        ensure_exists(self.store.meta.as_ref(), &key, PLACEHOLDER)?;
        update::<_, AppendError>(self.store.meta.as_ref(), &key, None, 20, |current| {
            // The attempt begins when its receipt is written, not before a
            // wait for a dead creator (`ensure_exists`).
            let now = now_micros();
            let prior = current
                .filter(|b| *b != PLACEHOLDER)
                .map(serde_json::from_slice::<Receipt>)
                .transpose()
                .map_err(|e| StoreError::internal(format!("receipt: {e}")))?
                .filter(|r| r.time == 0 || now < r.time.saturating_add(idem.ttl_us));
            let Some(prior) = prior else {
                return Ok(Update::Write(
                    pending(idem, now)?,
                    Claim::Ours { time: now },
                ));
            };
            if prior.body != idem.body {
                return Err(AppendError::KeyReused);
            }
            if let Some(done) = prior.done {
                return Ok(Update::Keep(Claim::Replay(done)));
            }
            if let Some(r) = head.and_then(|h| idem.recent_in(h, now))
                && let Some(done) = r.done
            {
                return Ok(Update::Keep(Claim::Replay(done)));
            }
            let dead_at = prior.time.saturating_add(2 * idem.in_flight_us);
            if now < dead_at {
                let secs = (dead_at - now).div_ceil(1_000_000);
                return Err(AppendError::InProgress {
                    retry_after_s: u32::try_from(secs).unwrap_or(u32::MAX).max(1),
                });
            }
            // Its attempt is dead and never committed (rule 2): take over.
            Ok(Update::Write(
                pending(idem, now)?,
                Claim::Ours { time: now },
            ))
        })
    }

    /// Marks the receipt of a committed append done (rule 1 may have done it).
    pub(super) fn settle(
        &self,
        idem: &IdempotencyKey,
        time: u64,
        done: Appended,
    ) -> StoreResult<()> {
        let receipt = Receipt {
            key: idem.key.clone(),
            body: idem.body.clone(),
            done: Some(done),
            time,
        };
        let bytes = serde_json::to_vec(&receipt).map_err(StoreError::internal)?;
        Ok(self.store.meta.set(&self.receipt_key(&idem.key), &bytes)?)
    }

    /// Keeps `head.recent` at `limit` receipts: each pushed out is stored
    /// done and numbered in the ledger first (rule 1), and expired ledger
    /// entries are swept (rule 3). Every write is the same whichever racing
    /// commit makes it, so a commit that loses its swap wrote nothing wrong.
    pub(super) fn drain_receipts(
        &self,
        head: &mut Head,
        limit: usize,
        ttl_us: u64,
        now: u64,
    ) -> StoreResult<()> {
        let excess = head.recent.len().saturating_sub(limit);
        for r in head.recent.drain(..excess).collect::<Vec<_>>() {
            let bytes = serde_json::to_vec(&r).map_err(StoreError::internal)?;
            self.store.meta.set(&self.receipt_key(&r.key), &bytes)?;
            let entry = Entry {
                key: r.key.clone(),
                time: r.time,
            };
            let n = head.receipts_numbered;
            let bytes = serde_json::to_vec(&entry).map_err(StoreError::internal)?;
            self.store.meta.set(&self.ledger_key(n), &bytes)?;
            head.receipts_numbered = n + 1;
        }
        self.sweep(head, ttl_us, now)
    }

    /// Deletes the receipts of up to [`SWEEP_PER_COMMIT`] expired ledger
    /// entries, oldest first.
    fn sweep(&self, head: &mut Head, ttl_us: u64, now: u64) -> StoreResult<()> {
        for _ in 0..SWEEP_PER_COMMIT {
            let n = head.receipts_swept;
            if n >= head.receipts_numbered {
                break;
            }
            let entry: Option<Entry> = match self.store.meta.get(&self.ledger_key(n))? {
                Some(b) => serde_json::from_slice(&b).ok(),
                None => None,
            };
            if let Some(e) = &entry {
                if now < e.time.saturating_add(ttl_us) {
                    break;
                }
                self.forget(e)?;
            }
            self.store.meta.delete(&self.ledger_key(n))?;
            head.receipts_swept = n + 1;
        }
        Ok(())
    }

    /// Deletes an expired receipt, unless its key was used again since.
    fn forget(&self, e: &Entry) -> StoreResult<()> {
        let key = self.receipt_key(&e.key);
        let current: Option<Receipt> = match self.store.meta.get(&key)? {
            Some(b) => serde_json::from_slice(&b).ok(),
            None => None,
        };
        if current.is_none_or(|r| r.time <= e.time) {
            self.store
                .meta
                .delete_many(&[key.clone(), format!("{key}#born")])?;
        }
        Ok(())
    }
}

impl IdempotencyKey {
    /// This key's receipt in `head`'s recent ones, unless it has expired.
    pub(super) fn recent_in<'h>(&self, head: &'h Head, now: u64) -> Option<&'h Receipt> {
        head.recent
            .iter()
            .find(|r| r.key == self.key && now < r.time.saturating_add(self.ttl_us))
    }
}

fn pending(idem: &IdempotencyKey, now: u64) -> StoreResult<Vec<u8>> {
    let r = Receipt {
        key: idem.key.clone(),
        body: idem.body.clone(),
        done: None,
        time: now,
    };
    serde_json::to_vec(&r).map_err(StoreError::internal)
}

/// What a replay answers: the first attempt's placement, if the body is the same.
pub(super) fn replay(receipt: &Receipt, idem: &IdempotencyKey) -> Result<Outcome, AppendError> {
    if receipt.body != idem.body {
        return Err(AppendError::KeyReused);
    }
    match receipt.done {
        Some(done) => Ok(Outcome::Replayed(done)),
        None => Err(StoreError::internal("a pending receipt in a committed head").into()),
    }
}

/// Why an append stored nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendError {
    /// The store failed or held something unreadable (a 5xx); with an
    /// idempotency key a retry is safe: it replays, waits or appends.
    Store(StoreError),
    /// The idempotency key was used before with a different body: the client
    /// reused a key, so neither body can be assumed to be the one meant.
    KeyReused,
    /// An attempt with this key may still be committing: retry after this
    /// long, when it has either committed (and the retry replays it) or can
    /// no longer commit (and the retry appends).
    InProgress {
        /// Seconds to wait (at least 1), for the `Retry-After` header.
        retry_after_s: u32,
    },
    /// No longer returned: a keyed append now stores what is within its
    /// window and says below which key it dropped lines
    /// ([`super::Appended::behind`]). Kept while callers still match on it.
    OutOfOrder {
        /// The greatest key the log held.
        last: u64,
    },
}

impl From<StoreError> for AppendError {
    fn from(e: StoreError) -> Self {
        AppendError::Store(e)
    }
}

impl From<crate::store::kv::KvError> for AppendError {
    fn from(e: crate::store::kv::KvError) -> Self {
        AppendError::Store(e.into())
    }
}
