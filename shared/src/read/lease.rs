//! Follower slots: a per-caller count of concurrent follows, kept as leases
//! that expire on their own.
//!
//! A follow takes a slot for its time budget. One that runs its whole budget
//! (the common case: it ends with a resume event and the client reconnects)
//! lets the slot lapse ([`Lease::lapse`]) instead of writing it back: the
//! slot expires as the invocation ends, so the reconnect finds it free and a
//! follow costs one write transaction per invocation, not two. A follow that
//! ends early gives its slot back ([`Lease::release`]). A lease dropped
//! unreleased (the client went away mid-stream) tries a few times to give the
//! slot back (a reconnecting client's own acquire races it on the same
//! record); if that fails, or the instance dies first, the slot simply
//! expires, so no caller is left stuck at 429 by
//! followers that no longer exist.

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

/// Lost races tolerated when giving a slot back, from [`Lease::release`]
/// or `Drop`. The slot's expiry covers the rest.
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
                expires: now.saturating_add(ttl_micros),
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

    /// Lets the slot expire by itself (module docs): no write.
    pub fn lapse(mut self) {
        self.released = true;
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
            self.give_back(RELEASE_ATTEMPTS);
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

    #[test]
    fn a_lapsed_slot_costs_no_write_and_is_free_once_its_time_is_up() {
        let store = Rc::new(Store::memory());
        let ttl = 1_000_000;
        let lease = acquire(store.clone(), "me", 1, ttl, 0)
            .unwrap()
            .ok()
            .unwrap();
        let key = format!("lease/{}", digest(b"me"));
        let held = store.meta.get(&key).unwrap();
        lease.lapse();
        assert_eq!(store.meta.get(&key).unwrap(), held, "lapsing wrote nothing");
        // The reconnect, once the budget is spent, gets the slot.
        assert!(
            acquire(store.clone(), "me", 1, ttl, ttl - 1)
                .unwrap()
                .is_err()
        );
        assert!(acquire(store.clone(), "me", 1, ttl, ttl).unwrap().is_ok());
    }
}
