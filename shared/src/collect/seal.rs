//! Cluster tokens at rest: sealed with a key that is not in the key-value
//! store, so a copy of the store (a Redis dump, a backup, anyone who can run
//! `GET`) does not reveal them.
//!
//! The key is a Spin variable (`k8s_token_key`, a secret; or derived from
//! `auth_hs256_secret`), which lives in the deployment's secret store, not
//! in the data. The construction is encrypt-then-MAC over HMAC-SHA-256 (the
//! only primitive already linked): a keystream of `HMAC(k_enc, nonce || i)`
//! blocks (HMAC as a PRF in counter mode) XORed with the token, then
//! `HMAC(k_mac, aad || nonce || ciphertext)` as the tag, with independent
//! keys derived from the secret, a random 16-byte nonce per seal, and the
//! cluster's id as associated data, so a sealed token copied onto another
//! cluster's record does not open. A token sealed under another key says
//! so (its key id differs) rather than decrypting to garbage.

use crate::util::crypto::{ct_eq, hex, hex_decode, hmac_sha256};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;

const VERSION: &str = "v1";

/// Why a sealed token does not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealError {
    /// Sealed under another key (the key was changed): set the token again.
    OtherKey,
    /// Not a sealed token, or altered.
    Corrupt,
}

fn subkey(secret: &str, purpose: &str) -> [u8; 32] {
    hmac_sha256(
        secret.as_bytes(),
        format!("spin-logs k8s token {purpose}").as_bytes(),
    )
}

/// The key's public name: which key sealed a token, without revealing it.
fn key_id(secret: &str) -> String {
    hex(&subkey(secret, "id")[..6])
}

fn keystream_xor(key: &[u8; 32], nonce: &[u8], data: &mut [u8]) {
    for (i, chunk) in data.chunks_mut(32).enumerate() {
        let mut input = nonce.to_vec();
        input.extend_from_slice(&(i as u64).to_be_bytes());
        let block = hmac_sha256(key, &input);
        for (b, k) in chunk.iter_mut().zip(block) {
            *b ^= k;
        }
    }
}

fn tag(secret: &str, aad: &str, nonce: &[u8], ct: &[u8]) -> [u8; 32] {
    let mut input = (aad.len() as u64).to_be_bytes().to_vec();
    input.extend_from_slice(aad.as_bytes());
    input.extend_from_slice(nonce);
    input.extend_from_slice(ct);
    hmac_sha256(&subkey(secret, "mac"), &input)
}

/// `plain` sealed under `secret`, bound to `aad`:
/// `v1.<key id>.<nonce hex>.<ciphertext base64>.<tag hex>`.
pub fn seal(secret: &str, aad: &str, plain: &str) -> Result<String, getrandom::Error> {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce)?;
    let mut ct = plain.as_bytes().to_vec();
    keystream_xor(&subkey(secret, "enc"), &nonce, &mut ct);
    let t = tag(secret, aad, &nonce, &ct);
    Ok(format!(
        "{VERSION}.{}.{}.{}.{}",
        key_id(secret),
        hex(&nonce),
        B64.encode(&ct),
        hex(&t)
    ))
}

/// The token `sealed` holds, if `secret` sealed it for `aad`.
pub fn open(secret: &str, aad: &str, sealed: &str) -> Result<String, SealError> {
    let parts: Vec<&str> = sealed.split('.').collect();
    let [VERSION, id, nonce, ct, t] = parts.as_slice() else {
        return Err(SealError::Corrupt);
    };
    if *id != key_id(secret) {
        return Err(SealError::OtherKey);
    }
    let nonce = hex_decode(nonce).ok_or(SealError::Corrupt)?;
    let mut ct = B64.decode(ct).map_err(|_| SealError::Corrupt)?;
    let t = hex_decode(t).ok_or(SealError::Corrupt)?;
    if !ct_eq(&tag(secret, aad, &nonce, &ct), &t) {
        return Err(SealError::Corrupt);
    }
    keystream_xor(&subkey(secret, "enc"), &nonce, &mut ct);
    String::from_utf8(ct).map_err(|_| SealError::Corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "a test key of thirty-two bytes or more";

    #[test]
    fn a_sealed_token_opens_only_with_its_key_and_cluster() {
        let token = "eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9.a-long-service-account-token-".repeat(5);
        let sealed = seal(KEY, "prod", &token).unwrap();
        assert!(!sealed.contains("service-account"), "{sealed}");
        assert_ne!(
            sealed,
            seal(KEY, "prod", &token).unwrap(),
            "a fresh nonce each time"
        );
        assert_eq!(open(KEY, "prod", &sealed).unwrap(), token);
        assert_eq!(open(KEY, "staging", &sealed), Err(SealError::Corrupt));
        assert_eq!(
            open("another key, also long enough", "prod", &sealed),
            Err(SealError::OtherKey)
        );
        let mut altered = sealed.clone().into_bytes();
        let at = altered.len() - 70;
        altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            open(KEY, "prod", &String::from_utf8(altered).unwrap()),
            Err(SealError::Corrupt)
        );
        assert_eq!(open(KEY, "prod", "plain"), Err(SealError::Corrupt));
    }
}
