//! SHA-256 whose state can be saved between invocations.
//!
//! A log collection job hashes each file as it copies it, and a large file is
//! copied over several requests, each a fresh instance. `sha2`'s hasher cannot
//! be serialized, so this keeps the eight state words, the unhashed tail of the
//! last block and the length, and drives `sha2`'s own compression function;
//! only the (standard) final padding is written here.

use serde::{Deserialize, Serialize};
use sha2::digest::generic_array::GenericArray;

const INIT: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// A SHA-256 in progress that serializes (as JSON, in a job record) and resumes
/// where it stopped; `Default` is the empty message.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Sha256 {
    h: [u32; 8],
    /// Bytes not yet hashed (less than one 64-byte block).
    #[serde(with = "hex_bytes")]
    buf: Vec<u8>,
    /// Bytes fed so far.
    len: u64,
}

impl Default for Sha256 {
    fn default() -> Self {
        Self {
            h: INIT,
            buf: Vec::new(),
            len: 0,
        }
    }
}

impl Sha256 {
    /// Feeds `data`, after everything fed before.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if !self.buf.is_empty() {
            let take = (64 - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() < 64 {
                return;
            }
            let block = std::mem::take(&mut self.buf);
            sha2::compress256(&mut self.h, &[*GenericArray::from_slice(&block)]);
        }
        let whole = data.len() / 64 * 64;
        let blocks: Vec<_> = data[..whole]
            .chunks_exact(64)
            .map(|b| *GenericArray::from_slice(b))
            .collect();
        sha2::compress256(&mut self.h, &blocks);
        self.buf.extend_from_slice(&data[whole..]);
    }

    /// The digest as lowercase hex.
    pub fn hex(&self) -> String {
        let mut s = self.clone();
        let bits = s.len.wrapping_mul(8);
        let mut pad = vec![0x80u8];
        let rem = (s.buf.len() + 1) % 64;
        pad.resize(1 + if rem <= 56 { 56 - rem } else { 120 - rem }, 0);
        pad.extend_from_slice(&bits.to_be_bytes());
        s.update(&pad);
        let digest: Vec<u8> = s.h.iter().flat_map(|w| w.to_be_bytes()).collect();
        super::crypto::hex(&digest)
    }
}

mod hex_bytes {
    use crate::util::crypto::{hex, hex_decode};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() % 2 != 0 || s.len() > 128 {
            return Err(serde::de::Error::custom("bad hex length"));
        }
        hex_decode(&s).ok_or_else(|| serde::de::Error::custom("not hex"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    #[test]
    fn a_malformed_saved_state_is_refused() {
        let mut h = Sha256::default();
        h.update(b"abc");
        let mut saved = serde_json::to_value(&h).unwrap();
        assert_eq!(saved["buf"], "616263");
        for bad in ["0", "zz", "+f", "€a", &"00".repeat(65)] {
            saved["buf"] = bad.into();
            assert!(
                serde_json::from_value::<Sha256>(saved.clone()).is_err(),
                "{bad:?}"
            );
        }
        saved["buf"] = "616263".into();
        assert_eq!(serde_json::from_value::<Sha256>(saved).unwrap(), h);
    }

    #[test]
    fn matches_sha2_across_saved_states() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for cuts in [
            vec![],
            vec![1],
            vec![63, 64, 65],
            vec![55, 56, 57, 119, 120],
            vec![9_999],
        ] {
            let mut h = Sha256::default();
            let mut at = 0;
            for c in cuts.iter().copied().chain([data.len()]) {
                h.update(&data[at..c]);
                // Save and restore, as a job step does.
                h = serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
                at = c;
            }
            assert_eq!(
                h.hex(),
                format!("{:x}", sha2::Sha256::digest(&data)),
                "{cuts:?}"
            );
        }
        for n in 0..130 {
            let mut h = Sha256::default();
            h.update(&data[..n]);
            assert_eq!(
                h.hex(),
                format!("{:x}", sha2::Sha256::digest(&data[..n])),
                "{n}"
            );
        }
    }
}
