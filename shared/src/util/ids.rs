//! Short digests and random ids: key names without coordination.
//!
//! Store keys, receipts, leases and position checks all need a short, stable
//! name for some bytes, or a name nobody else will pick. They live here, at
//! the bottom, so no layer reaches sideways into the log module for them.

use super::crypto::{hex, sha256};

/// First 128 bits of SHA-256, hex: collision-free in practice, short in keys.
pub fn digest(bytes: &[u8]) -> String {
    hex(&sha256(bytes)[..16])
}

/// 128 random bits, hex: unique keys without coordination.
pub fn random_id() -> Result<String, getrandom::Error> {
    let mut buf = [0u8; 16];
    getrandom::fill(&mut buf)?;
    Ok(hex(&buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_stable_and_ids_fresh() {
        assert_eq!(digest(b"abc"), "ba7816bf8f01cfea414140de5dae2223");
        let (a, b) = (random_id().unwrap(), random_id().unwrap());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }
}
