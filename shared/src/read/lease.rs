//! Follower slots: a per-caller count of concurrent follows, kept as leases
//! that expire on their own.
//!
//! A follow takes a slot for its time budget plus a grace period and gives it
//! back when it ends ([`Lease::release`]). A lease dropped unreleased (the
//! client went away mid-stream) tries once to give the slot back, without
//! retrying inside `Drop`; if that fails, or the instance dies first, the slot
//! simply expires, so no caller is left stuck at 429 by followers that no
//! longer exist.

use crate::store::kv::{Update, update};
use crate::store::{Store, StoreError};
use crate::util::ids::{digest, random_id};
use crate::web::problem::Problem;
use serde::{Deserialize, Serialize};
use std::rc::Rc;

const ATTEMPTS: u32 = 100;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Slot {
    id: String,
    /// Microseconds since the epoch.
    expires: u64,
}

/// A held slot.
pub struct Lease {
    store: Rc<Store>,
    key: String,
    id: String,
    released: bool,
}

/// Lost races tolerated when giving a slot back: one from `Drop`, a few
/// from [`Lease::release`]. The slot's expiry covers the rest.
const RELEASE_ATTEMPTS: u32 = 5;

/// Takes one of `max` slots for `caller` for `ttl_micros`, or says how many
/// seconds until the first slot frees up.
pub fn acquire(
    store: Rc<Store>,
    caller: &str,
    max: u64,
    ttl_micros: u64,
    now: u64,
) -> Result<Result<Lease, u64>, Problem> {
    let key = format!("lease/{}", digest(caller.as_bytes()));
    let id = random_id()?;
    let outcome =
        update::<_, StoreError>(store.meta.as_ref(), &key, Some(b"[]"), ATTEMPTS, |cur| {
            let mut slots: Vec<Slot> = match cur {
                Some(b) => serde_json::from_slice(b).map_err(StoreError::internal)?,
                None => Vec::new(),
            };
            if slots.iter().any(|s| s.id == id) {
                return Ok(Update::Keep(Ok(()))); // our own write, read back late
            }
            slots.retain(|s| s.expires > now);
            if slots.len() as u64 >= max {
                let first_free = slots.iter().map(|s| s.expires).min().unwrap_or(now);
                return Ok(Update::Keep(Err(first_free
                    .saturating_sub(now)
                    .div_ceil(1_000_000)
                    .max(1))));
            }
            slots.push(Slot {
                id: id.clone(),
                expires: now + ttl_micros,
            });
            let bytes = serde_json::to_vec(&slots).map_err(StoreError::internal)?;
            Ok(Update::Write(bytes, Ok(())))
        })?;
    Ok(outcome.map(|()| Lease {
        store,
        key,
        id,
        released: false,
    }))
}

impl Lease {
    /// Gives the slot back now: the follow is over.
    pub fn release(mut self) {
        self.give_back(RELEASE_ATTEMPTS);
    }

    fn give_back(&mut self, attempts: u32) {
        self.released = true;
        let result =
            update::<_, Problem>(self.store.meta.as_ref(), &self.key, None, attempts, |cur| {
                let mut slots: Vec<Slot> = match cur {
                    Some(b) => serde_json::from_slice(b).map_err(StoreError::internal)?,
                    None => return Ok(Update::Keep(())),
                };
                slots.retain(|s| s.id != self.id);
                let bytes = serde_json::to_vec(&slots).map_err(StoreError::internal)?;
                Ok(Update::Write(bytes, ()))
            });
        if let Err(e) = result {
            // The slot expires by itself; nothing else to do.
            eprintln!("releasing follower slot: {e}");
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.released {
            self.give_back(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_released_and_expire() {
        let store = Rc::new(Store::memory());
        let a = acquire(store.clone(), "me", 2, 10_000_000, 0)
            .unwrap()
            .ok()
            .unwrap();
        let _b = acquire(store.clone(), "me", 2, 10_000_000, 1)
            .unwrap()
            .ok()
            .unwrap();
        assert_eq!(
            acquire(store.clone(), "me", 2, 10_000_000, 2)
                .unwrap()
                .err(),
            Some(10)
        );
        assert!(
            acquire(store.clone(), "you", 2, 10_000_000, 2)
                .unwrap()
                .is_ok()
        );
        a.release();
        let _c = acquire(store.clone(), "me", 2, 10_000_000, 3)
            .unwrap()
            .ok()
            .unwrap();
        // Nobody releases: after the TTL the slots are free anyway.
        std::mem::forget(_c);
        assert!(
            acquire(store.clone(), "me", 2, 10_000_000, 20_000_000)
                .unwrap()
                .is_ok()
        );
    }
}
