//! Signed, expiring URL tokens (`?token=...`), like Scalingo's authenticated
//! log URLs: a link that reads one task's or one app's logs for a few
//! minutes, for clients that cannot send headers (a browser `EventSource`,
//! `curl` in a pasted command).
//!
//! ```text
//! u1.<base64url(payload)>.<base64url(first 16 bytes of HMAC-SHA256(key, context || payload))>
//! payload = "t:<expiry unix seconds>:<task id>"  or  "a:<expiry>:<app>"
//! ```
//! Compact and URL-safe as is (no escaping needed). The key is the
//! `url_token_secret` variable, or else one derived from `auth_hs256_secret`
//! under a label of its own, so neither kind of token can stand in for the
//! other. Tokens are not revocable: they are short-lived instead.

use crate::util::crypto::{ct_eq, hmac_sha256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

/// The token kind (see `model::position` for the shape every token shares).
const KIND: &str = "u1";
/// Bytes of the MAC kept: 128 bits.
const MAC_BYTES: usize = 16;
/// Domain separation for the MAC input and the derived key.
const CONTEXT: &[u8] = b"spin-logs url token v1\0";
const DERIVE_LABEL: &[u8] = b"spin-logs url token key v1";

/// What a URL token lets its holder read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every read route of one task (by exact id).
    Task(String),
    /// `/apps/{app}/logs`.
    App(String),
    /// One log-collection job's archive, `{group}/{job}`: its download only,
    /// for a link a browser saves to disk (a link sends no header).
    JobDownload(String),
}

/// Why a URL token was refused; either way a 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlTokenError {
    /// Malformed or not signed with this deployment's key.
    Invalid,
    /// Genuine, but its expiry has passed.
    Expired,
}

/// The signing key: the dedicated secret, or one derived from the HS256 secret.
pub fn key(url_secret: Option<&str>, hs256_secret: Option<&str>) -> Option<Vec<u8>> {
    if let Some(s) = url_secret {
        return Some(s.as_bytes().to_vec());
    }
    let hs = hs256_secret?;
    Some(hmac_sha256(hs.as_bytes(), DERIVE_LABEL).to_vec())
}

/// The MAC of `payload`, truncated to [`MAC_BYTES`].
fn mac(key: &[u8], payload: &[u8]) -> [u8; MAC_BYTES] {
    let full = hmac_sha256(key, &[CONTEXT, payload].concat());
    let mut tag = [0; MAC_BYTES];
    tag.copy_from_slice(&full[..MAC_BYTES]);
    tag
}

/// A token for `scope` that expires at `expires` (Unix seconds).
pub fn mint(key: &[u8], scope: &Scope, expires: u64) -> String {
    let payload = match scope {
        Scope::Task(id) => format!("t:{expires}:{id}"),
        Scope::App(app) => format!("a:{expires}:{app}"),
        Scope::JobDownload(job) => format!("j:{expires}:{job}"),
    };
    let tag = mac(key, payload.as_bytes());
    crate::model::position::join(KIND, &B64.encode(payload.as_bytes()), &B64.encode(tag))
}

/// Whether `token` is a URL token at all (rather than, say, a JWT).
pub fn looks_like(token: &str) -> bool {
    token.starts_with(KIND) && token[KIND.len()..].starts_with('.')
}

/// The scope and expiry of a genuine, unexpired token at `now`.
pub fn verify(key: &[u8], token: &str, now: u64) -> Result<(Scope, u64), UrlTokenError> {
    let invalid = UrlTokenError::Invalid;
    let (payload, tag) = crate::model::position::split(KIND, token).ok_or(invalid.clone())?;
    let payload = B64.decode(payload).map_err(|_| invalid.clone())?;
    let tag = B64.decode(tag).map_err(|_| invalid.clone())?;
    if !ct_eq(&mac(key, &payload), &tag) {
        return Err(invalid);
    }
    // Genuine from here on: the fields are ours.
    let payload = String::from_utf8(payload).map_err(|_| invalid.clone())?;
    let mut parts = payload.splitn(3, ':');
    let (kind, expires, id) = match (parts.next(), parts.next(), parts.next()) {
        (Some(k), Some(e), Some(id)) => (k, e, id.to_owned()),
        _ => return Err(invalid),
    };
    let expires: u64 = expires.parse().map_err(|_| invalid.clone())?;
    let scope = match kind {
        "t" => Scope::Task(id),
        "a" => Scope::App(id),
        "j" => Scope::JobDownload(id),
        _ => return Err(invalid),
    };
    if now >= expires {
        return Err(UrlTokenError::Expired);
    }
    Ok((scope, expires))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_expires() {
        let k = key(Some("url secret"), None).unwrap();
        let t = mint(&k, &Scope::Task("web.1:x".into()), 1_000);
        assert!(looks_like(&t));
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        );
        assert!(t.len() < 80, "{t}");
        assert_eq!(
            verify(&k, &t, 999),
            Ok((Scope::Task("web.1:x".into()), 1_000))
        );
        assert_eq!(verify(&k, &t, 1_000), Err(UrlTokenError::Expired));
        let a = mint(&k, &Scope::App("shop".into()), 1_000);
        assert_eq!(verify(&k, &a, 0).unwrap().0, Scope::App("shop".into()));
        let j = mint(&k, &Scope::JobDownload("g/j".into()), 1_000);
        assert_eq!(
            verify(&k, &j, 0).unwrap().0,
            Scope::JobDownload("g/j".into())
        );
    }

    #[test]
    fn refuses_forgeries() {
        let k = key(None, Some("an hs256 secret of enough length")).unwrap();
        let other = key(Some("an hs256 secret of enough length"), None).unwrap();
        assert_ne!(k, other, "the derived key is not the HS256 secret itself");
        let t = mint(&k, &Scope::Task("a".into()), 1_000);
        assert_eq!(verify(&other, &t, 0), Err(UrlTokenError::Invalid));
        // Same MAC, another payload: a longer expiry or another task.
        let (_, tag) = t.rsplit_once('.').unwrap();
        for payload in ["t:9999:a", "t:1000:b", "a:1000:a"] {
            let forged = format!("u1.{}.{tag}", B64.encode(payload));
            assert_eq!(
                verify(&k, &forged, 0),
                Err(UrlTokenError::Invalid),
                "{payload}"
            );
        }
        for junk in ["", "u1.", "u1..", "u1.x.y", "v1.abc.def", &t[..t.len() - 1]] {
            assert_eq!(verify(&k, junk, 0), Err(UrlTokenError::Invalid), "{junk}");
        }
        assert!(key(None, None).is_none());
    }
}
