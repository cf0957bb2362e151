//! JSON Web Tokens: `Authorization: token=<jwt>` (DC/OS) or `Bearer <jwt>`.
//!
//! A JWS compact token is verified here with the RustCrypto primitives
//! (`hmac`, `rsa` PKCS#1 v1.5, `p256` ECDSA), for exactly three algorithms:
//! HS256, RS256 and ES256. A JWT crate's provider table links every algorithm
//! it knows (and signing) into every component, about 750 KiB each; this is
//! the verifying half only. The tests sign with `jsonwebtoken`, so the two
//! implementations are checked against each other.
//!
//! The key is chosen by the token's `alg`, and only among keys the deployment
//! configured, each used for its own algorithm only: a public key is never
//! taken for an HMAC secret, `none` is never accepted, nor is a header with
//! `crit` extensions. Claims read: `uid` (DC/OS) or else `sub` as the user id,
//! `permissions` (array of strings), `exp` (required), `nbf` (optional),
//! with [`LEEWAY_SECS`] of clock skew either way.

use super::Settings;
use crate::util::crypto::{ct_eq, hmac_sha256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 60;

/// Longest token looked at; real ones are a few hundred bytes.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Smallest RSA modulus accepted for RS256.
const MIN_RSA_BITS: usize = 2048;

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The user id: the `uid` claim (DC/OS), else `sub`.
    pub uid: String,
    /// The `permissions` claim (none if absent), matched against routes' rules.
    pub permissions: Vec<String>,
}

/// Why a token was refused. Clients learn only expired / not yet valid /
/// invalid; which check failed inside "invalid" is for the server log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// Past `exp` (beyond [`LEEWAY_SECS`]).
    Expired,
    /// Before `nbf` (beyond [`LEEWAY_SECS`]).
    NotYetValid,
    /// Malformed, wrongly signed, or lacking a required claim; the text says
    /// which, for the server log.
    Invalid(String),
    /// A configured key does not parse: the deployment's fault, not the caller's.
    BadKey(String),
}

#[derive(Deserialize)]
struct JoseHeader {
    alg: String,
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawClaims {
    uid: Option<String>,
    sub: Option<String>,
    #[serde(default)]
    permissions: Vec<String>,
    exp: Option<f64>,
    nbf: Option<f64>,
}

/// A key variable that does not read (too short, not given): the server's fault.
fn bad_key(e: crate::config::ConfigError) -> JwtError {
    JwtError::BadKey(e.0)
}

fn invalid(why: impl Into<String>) -> JwtError {
    JwtError::Invalid(why.into())
}

fn decode_part(part: &str) -> Result<Vec<u8>, JwtError> {
    B64.decode(part)
        .map_err(|_| invalid("a part is not base64url"))
}

/// Verifies `token` with the keys in `settings` at `now` (Unix seconds).
pub fn verify(token: &str, settings: &Settings, now: u64) -> Result<Claims, JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(invalid("token too long"));
    }
    let mut parts = token.split('.');
    let (Some(head), Some(body), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("not three dot-separated parts"));
    };
    let header: JoseHeader =
        serde_json::from_slice(&decode_part(head)?).map_err(|e| invalid(format!("header: {e}")))?;
    if header.crit.is_some() {
        return Err(invalid("critical header extensions are not supported"));
    }
    let signed = &token.as_bytes()[..head.len() + 1 + body.len()];
    let sig = decode_part(sig)?;
    let no_key = || invalid(format!("no key configured for {}", header.alg));
    match header.alg.as_str() {
        "HS256" => {
            let secret = settings
                .hs256_secret()
                .map_err(bad_key)?
                .ok_or_else(no_key)?;
            if !ct_eq(&hmac_sha256(secret.as_bytes(), signed), &sig) {
                return Err(invalid("bad HS256 signature"));
            }
        }
        "RS256" => {
            use rsa::pkcs8::DecodePublicKey;
            use rsa::signature::Verifier;
            use rsa::traits::PublicKeyParts;
            let pem = settings
                .rs256_public_key()
                .map_err(bad_key)?
                .ok_or_else(no_key)?;
            let key = rsa::RsaPublicKey::from_public_key_pem(pem)
                .or_else(|_| {
                    use rsa::pkcs1::DecodeRsaPublicKey;
                    rsa::RsaPublicKey::from_pkcs1_pem(pem)
                })
                .map_err(|e| JwtError::BadKey(format!("auth_rs256_public_key: {e}")))?;
            if key.size() * 8 < MIN_RSA_BITS {
                return Err(JwtError::BadKey(format!(
                    "auth_rs256_public_key: shorter than {MIN_RSA_BITS} bits"
                )));
            }
            let sig = rsa::pkcs1v15::Signature::try_from(sig.as_slice())
                .map_err(|_| invalid("malformed RS256 signature"))?;
            rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key)
                .verify(signed, &sig)
                .map_err(|_| invalid("bad RS256 signature"))?;
        }
        "ES256" => {
            use p256::ecdsa::signature::Verifier;
            use p256::pkcs8::DecodePublicKey;
            let pem = settings
                .es256_public_key()
                .map_err(bad_key)?
                .ok_or_else(no_key)?;
            let key = p256::ecdsa::VerifyingKey::from_public_key_pem(pem)
                .map_err(|e| JwtError::BadKey(format!("auth_es256_public_key: {e}")))?;
            // JWS carries R || S, 32 bytes each (RFC 7518, section 3.4).
            let sig = p256::ecdsa::Signature::from_slice(&sig)
                .map_err(|_| invalid("malformed ES256 signature"))?;
            key.verify(signed, &sig)
                .map_err(|_| invalid("bad ES256 signature"))?;
        }
        other => return Err(invalid(format!("algorithm {other:?} is not accepted"))),
    }

    let raw: RawClaims =
        serde_json::from_slice(&decode_part(body)?).map_err(|e| invalid(format!("claims: {e}")))?;
    let now = now as f64;
    let exp = raw.exp.ok_or_else(|| invalid("no exp claim"))?;
    if now > exp + LEEWAY_SECS as f64 {
        return Err(JwtError::Expired);
    }
    if raw.nbf.is_some_and(|nbf| now + (LEEWAY_SECS as f64) < nbf) {
        return Err(JwtError::NotYetValid);
    }
    let uid = raw
        .uid
        .or(raw.sub)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| invalid("no uid or sub claim"))?;
    Ok(Claims {
        uid,
        permissions: raw.permissions,
    })
}

#[derive(Serialize)]
struct DevClaims<'a> {
    uid: &'a str,
    permissions: &'a [String],
    iat: u64,
    exp: u64,
}

/// Signs an HS256 token with the claims [`verify`] reads. For the dev-token
/// CLI and the tests; the components only verify.
pub fn sign_hs256(
    secret: &[u8],
    uid: &str,
    permissions: &[String],
    now: u64,
    ttl_secs: u64,
) -> Result<String, String> {
    let claims = DevClaims {
        uid,
        permissions,
        iat: now,
        exp: now + ttl_secs,
    };
    let body = serde_json::to_vec(&claims).map_err(|e| e.to_string())?;
    let signed = format!(
        "{}.{}",
        B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        B64.encode(body)
    );
    let mac = hmac_sha256(secret, signed.as_bytes());
    Ok(format!("{signed}.{}", B64.encode(mac)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef-test";
    const NOW: u64 = 1_800_000_000;

    fn settings() -> Settings {
        Settings::with(&[("auth_hs256_secret", SECRET)])
    }

    /// A token with any header, HMAC-signed with `secret`.
    fn signed(header: &str, claims: serde_json::Value, secret: &str) -> String {
        let signed = format!("{}.{}", B64.encode(header), B64.encode(claims.to_string()));
        let mac = hmac_sha256(secret.as_bytes(), signed.as_bytes());
        format!("{signed}.{}", B64.encode(mac))
    }

    fn hs(claims: serde_json::Value, secret: &str) -> String {
        signed(r#"{"alg":"HS256"}"#, claims, secret)
    }

    #[test]
    fn reads_uid_or_sub_and_permissions() {
        let perms = vec!["dcos:superuser".to_string()];
        let t = sign_hs256(SECRET.as_bytes(), "alice", &perms, NOW, 60).unwrap();
        assert_eq!(
            verify(&t, &settings(), NOW).unwrap(),
            Claims {
                uid: "alice".into(),
                permissions: perms
            }
        );
        let t = hs(serde_json::json!({"sub": "bob", "exp": NOW + 5}), SECRET);
        let c = verify(&t, &settings(), NOW).unwrap();
        assert_eq!((c.uid.as_str(), c.permissions.len()), ("bob", 0));
    }

    #[test]
    fn checks_time_with_leeway() {
        let t = hs(serde_json::json!({"uid": "a", "exp": NOW}), SECRET);
        assert!(verify(&t, &settings(), NOW + LEEWAY_SECS).is_ok());
        assert_eq!(
            verify(&t, &settings(), NOW + LEEWAY_SECS + 1),
            Err(JwtError::Expired)
        );
        let t = hs(
            serde_json::json!({"uid": "a", "exp": NOW + 999, "nbf": NOW + 100}),
            SECRET,
        );
        assert_eq!(verify(&t, &settings(), NOW), Err(JwtError::NotYetValid));
        assert!(verify(&t, &settings(), NOW + 40).is_ok());
    }

    #[test]
    fn refuses_bad_signatures_missing_claims_and_unconfigured_algorithms() {
        let bad = |t: &str| matches!(verify(t, &settings(), NOW), Err(JwtError::Invalid(_)));
        assert!(bad(&hs(
            serde_json::json!({"uid": "a", "exp": NOW + 9}),
            "another secret of enough length!!"
        )));
        assert!(bad(&hs(serde_json::json!({"uid": "a"}), SECRET)));
        assert!(bad(&hs(serde_json::json!({"exp": NOW + 9}), SECRET)));
        assert!(bad(&hs(
            serde_json::json!({"uid": "", "exp": NOW + 9}),
            SECRET
        )));
        assert!(bad("not.a.jwt"));
        assert!(bad(""));
        // alg "none", critical extensions, extra parts, and algorithms
        // without a configured key.
        let claims = serde_json::json!({"uid": "a", "exp": NOW + 9});
        let none = format!(
            "{}.{}.",
            B64.encode(r#"{"alg":"none"}"#),
            B64.encode(claims.to_string())
        );
        assert!(bad(&none));
        assert!(bad(&signed(
            r#"{"alg":"HS256","crit":["x"]}"#,
            claims.clone(),
            SECRET
        )));
        assert!(bad(&format!("{}.x", hs(claims.clone(), SECRET))));
        assert!(bad(&signed(r#"{"alg":"RS256"}"#, claims.clone(), SECRET)));
        assert!(bad(&signed(r#"{"alg":"HS384"}"#, claims.clone(), SECRET)));
        // A token signed for HS256 with the public key's text as secret
        // (the classic algorithm confusion) has no HS256 key to match here.
        let only_es = Settings::with(&[("auth_es256_public_key", "-----BEGIN PUBLIC KEY-----")]);
        let t = hs(claims.clone(), "-----BEGIN PUBLIC KEY-----");
        assert!(matches!(
            verify(&t, &only_es, NOW),
            Err(JwtError::Invalid(_))
        ));
        // A configured key that does not parse is the server's fault.
        let t = signed(r#"{"alg":"ES256"}"#, claims, SECRET);
        assert!(matches!(
            verify(&t, &only_es, NOW),
            Err(JwtError::BadKey(_))
        ));
    }
}
