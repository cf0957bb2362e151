//! HTTP Digest authentication (RFC 7616, `qop=auth`, MD5 and SHA-256) with
//! programmatic API key pairs, as MongoDB's clients use it:
//! `curl --user "{PUBLIC-KEY}:{PRIVATE-KEY}" --digest`.
//!
//! **No session.** A host keeps nothing between requests, so the nonce is a
//! signed, expiring token: `<issue time, hex>.<HMAC-SHA-256 of it and the
//! realm>`, valid for [`NONCE_TTL_S`]; an old one gets `stale=true`, which
//! tells the client to retry with the fresh nonce of the same 401 without
//! asking its user again. The price of statelessness: a captured request can
//! be replayed until its nonce expires (`nc` is not tracked), as with any
//! bearer token of that lifetime; use TLS.
//!
//! **Keys.** The deployment stores a pair's private key only as Digest's
//! `HA1 = H(public:realm:private)`, for each algorithm (variable
//! `auth_digest_keys`), so reading the configuration never yields the
//! private key. The nonce's HMAC key is derived from those entries: whoever
//! could forge a nonce already holds an HA1, which authenticates anyway.

use crate::util::crypto::{ct_eq, hex, hmac_sha256, sha256};
use md5::{Digest, Md5};

pub use crate::config::DigestKey;

/// The protection space every HA1 is computed for.
pub const REALM: &str = "spin-logs";
/// How long a nonce is accepted.
pub const NONCE_TTL_S: u64 = 300;

/// The hash a Digest exchange uses; a client picks one of the challenges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `algorithm=MD5`, for older clients without SHA-256.
    Md5,
    /// `algorithm=SHA-256`, offered first.
    Sha256,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 => hex(&Md5::digest(data.as_bytes())),
            Algorithm::Sha256 => hex(&sha256(data.as_bytes())),
        }
    }
}

/// `H(public:realm:private)`: what `auth_digest_keys` stores.
pub fn ha1(algorithm: Algorithm, public: &str, private: &str) -> String {
    algorithm.hash(&format!("{public}:{REALM}:{private}"))
}

fn nonce_key(keys: &[DigestKey]) -> [u8; 32] {
    let mut material = b"spin-logs digest nonce\0".to_vec();
    for k in keys {
        material.extend_from_slice(k.username.as_bytes());
        material.push(0);
        material.extend_from_slice(k.ha1_md5.as_bytes());
        material.extend_from_slice(k.ha1_sha256.as_bytes());
    }
    sha256(&material)
}

fn sign(keys: &[DigestKey], issued: &str) -> String {
    let mac = hmac_sha256(&nonce_key(keys), format!("{issued}:{REALM}").as_bytes());
    hex(&mac[..16])
}

fn nonce(keys: &[DigestKey], now: u64) -> String {
    let issued = format!("{now:x}");
    format!("{issued}.{}", sign(keys, &issued))
}

/// The `WWW-Authenticate` values of a 401: SHA-256 first (RFC 7616 §3.7:
/// the preferred algorithm first), then MD5 for older clients.
pub fn challenges(keys: &[DigestKey], now: u64, stale: bool) -> Vec<String> {
    let nonce = nonce(keys, now);
    let stale = if stale { ", stale=true" } else { "" };
    [Algorithm::Sha256, Algorithm::Md5]
        .iter()
        .map(|a| {
            format!(
                "Digest realm=\"{REALM}\", qop=\"auth\", algorithm={}, nonce=\"{nonce}\", opaque=\"{}\"{stale}",
                a.name(),
                &sign(keys, "opaque")[..16]
            )
        })
        .collect()
}

/// Why Digest credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A good response to an expired nonce: challenge again with `stale=true`.
    Stale,
    /// Anything else (malformed, unknown user, wrong response): a 401; the
    /// reason is for the server log, not the client.
    Invalid(&'static str),
}

/// The parameters of a `Digest` credential (RFC 7616 §3.4), quoted or not.
fn params(text: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let name = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => v.push(chars.next()?.1),
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => v.push(c),
                }
            }
            value = v;
            rest = &quoted[end?..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        out.push((name, value));
        rest = rest.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Some(out)
}

/// Checks `Authorization: Digest <credentials>` of a `method` request for
/// `uri` (the request-target as sent: path and query).
pub fn verify<'a>(
    credentials: &str,
    method: &str,
    uri: &str,
    keys: &'a [DigestKey],
    now: u64,
) -> Result<&'a DigestKey, Refusal> {
    let bad = Refusal::Invalid;
    let params = params(credentials).ok_or(bad("malformed Digest credentials"))?;
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let need = |name: &'static str| get(name).ok_or(bad("a Digest parameter is missing"));
    let algorithm = match get("algorithm").map(str::to_ascii_uppercase).as_deref() {
        None | Some("MD5") => Algorithm::Md5,
        Some("SHA-256") => Algorithm::Sha256,
        Some(_) => return Err(bad("unsupported Digest algorithm: use SHA-256 or MD5")),
    };
    if need("realm")? != REALM {
        return Err(bad("wrong Digest realm"));
    }
    if need("qop")? != "auth" {
        return Err(bad("Digest qop must be auth"));
    }
    if need("uri")? != uri {
        return Err(bad("the Digest uri is not this request's"));
    }
    let username = need("username")?;
    let key = keys
        .iter()
        .find(|k| k.username == username)
        .ok_or(bad("unknown Digest user"))?;
    let nonce = need("nonce")?;
    let (issued, mac) = nonce.split_once('.').ok_or(bad("not a nonce of ours"))?;
    let expected = sign(keys, issued);
    if !ct_eq(mac.as_bytes(), expected.as_bytes()) {
        return Err(bad("not a nonce of ours"));
    }
    let issued = u64::from_str_radix(issued, 16).map_err(|_| bad("not a nonce of ours"))?;
    let ha1 = match algorithm {
        Algorithm::Md5 => &key.ha1_md5,
        Algorithm::Sha256 => &key.ha1_sha256,
    };
    if ha1.is_empty() {
        return Err(bad("this key pair has no HA1 for that algorithm"));
    }
    let ha2 = algorithm.hash(&format!("{method}:{uri}"));
    let (nc, cnonce) = (need("nc")?, need("cnonce")?);
    let response = algorithm.hash(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    if !ct_eq(
        response.as_bytes(),
        need("response")?.to_ascii_lowercase().as_bytes(),
    ) {
        return Err(bad("wrong Digest response"));
    }
    if now > issued + NONCE_TTL_S || issued > now + 60 {
        return Err(Refusal::Stale);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DigestKey {
        DigestKey {
            username: "ABCDEFGH".into(),
            ha1_md5: ha1(Algorithm::Md5, "ABCDEFGH", "private-key"),
            ha1_sha256: ha1(Algorithm::Sha256, "ABCDEFGH", "private-key"),
            uid: "ops".into(),
            permissions: vec![],
        }
    }

    /// What a client computes from a challenge.
    fn answer(a: Algorithm, nonce: &str, uri: &str, private: &str) -> String {
        let ha1 = ha1(a, "ABCDEFGH", private);
        let ha2 = a.hash(&format!("GET:{uri}"));
        let response = a.hash(&format!("{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}"));
        format!(
            "username=\"ABCDEFGH\", realm=\"spin-logs\", nonce=\"{nonce}\", uri=\"{uri}\", \
             algorithm={}, response=\"{response}\", qop=auth, nc=00000001, cnonce=\"c0ffee\"",
            a.name()
        )
    }

    #[test]
    fn rfc_7616_responses_verify_and_everything_else_does_not() {
        let keys = [key()];
        let now = 1_700_000_000;
        let challenge = &challenges(&keys, now, false)[0];
        let nonce = challenge
            .split("nonce=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let uri = "/api/public/v1.0/groups/5f0c8a2be4b0a1d2c3e4f5a6/logCollectionJobs";
        for a in [Algorithm::Md5, Algorithm::Sha256] {
            let good = answer(a, nonce, uri, "private-key");
            assert_eq!(
                verify(&good, "GET", uri, &keys, now + 10).unwrap().uid,
                "ops"
            );
            assert_eq!(
                verify(&good, "GET", uri, &keys, now + NONCE_TTL_S + 1),
                Err(Refusal::Stale)
            );
            assert!(
                verify(&good, "POST", uri, &keys, now).is_err(),
                "method is signed"
            );
            assert!(
                verify(&good, "GET", "/other", &keys, now).is_err(),
                "uri is checked"
            );
            let wrong = answer(a, nonce, uri, "guess");
            assert!(matches!(
                verify(&wrong, "GET", uri, &keys, now),
                Err(Refusal::Invalid(_))
            ));
            let forged = answer(a, "1.00000000000000000000000000000000", uri, "private-key");
            assert!(matches!(
                verify(&forged, "GET", uri, &keys, now),
                Err(Refusal::Invalid(_))
            ));
        }
        assert!(verify("garbage", "GET", uri, &keys, now).is_err());
        assert!(challenges(&keys, now, true)[1].ends_with("stale=true"));
    }

    #[test]
    fn parameters_parse_quoted_and_bare() {
        let p = params(r#"username="a\"b", nc=00000001 , qop=auth,uri="/x?y=1,2""#).unwrap();
        assert_eq!(p[0], ("username".into(), "a\"b".into()));
        assert_eq!(p[1], ("nc".into(), "00000001".into()));
        assert_eq!(p[2], ("qop".into(), "auth".into()));
        assert_eq!(p[3], ("uri".into(), "/x?y=1,2".into()));
    }
}
