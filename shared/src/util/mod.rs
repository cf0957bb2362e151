//! The bottom layer: clocks, ids and digests that every other layer uses and
//! that know nothing of storage or HTTP.

pub mod clock;
pub mod ids;
pub mod sha256;
