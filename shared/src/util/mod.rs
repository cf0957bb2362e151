//! The bottom layer: clocks, ids, digests and the crypto primitives that
//! every other layer uses and that know nothing of storage or HTTP.

pub mod clock;
pub mod crypto;
pub mod ids;
pub mod sha256;
pub mod sort;
