//! Credentials made on the laptop: signing secrets, dev JWTs, API keys and
//! Digest key pairs (what `tools/token` did), and `dev`, the first run.
//!
//! `spin up` with no configuration refuses every request, so a newcomer
//! needs a secret for the app and a token for the client. `dev` keeps the
//! secret under `.spin/` (where `spin up` keeps its own state, ignored by
//! git) so every later run prints a token the same app accepts.
//! Everything is signed by the library the app verifies with.

use crate::error::{CliError, CliResult};
use spin_logs::auth::digest::{self, Algorithm};
use spin_logs::auth::{MIN_SECRET_BYTES, apikey, jwt};
use std::path::Path;

pub const SECRET_ENV: &str = "SPIN_VARIABLE_AUTH_HS256_SECRET";

/// `dev`'s secret, under the project's `.spin/`.
pub const DEV_SECRET_FILE: &str = "spin-logs-dev-secret";

pub fn random_hex(bytes: usize) -> CliResult<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| CliError::Local(format!("no randomness: {e}")))?;
    Ok(spin_logs::util::crypto::hex(&buf))
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An HS256 JWT the app's gate accepts.
pub fn jwt(secret: &str, uid: &str, perms: &[String], ttl: u64) -> CliResult<String> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(CliError::Usage(format!(
            "the secret is shorter than {MIN_SECRET_BYTES} bytes; the app would refuse it"
        )));
    }
    jwt::sign_hs256(secret.as_bytes(), uid, perms, now(), ttl).map_err(CliError::Local)
}

/// A new API key and the `auth_api_keys` entry (its hash) that accepts it.
pub fn api_key(uid: &str, perms: &[String]) -> CliResult<(String, serde_json::Value)> {
    let key = format!("slk_{}", random_hex(32)?);
    let entry = serde_json::json!([{
        "sha256": apikey::hash(&key),
        "uid": uid,
        "permissions": perms,
    }]);
    Ok((key, entry))
}

/// A new Digest key pair (MongoDB's shape: an 8-letter public key, a
/// UUID-like private key) and the `auth_digest_keys` entry (its HA1s).
pub fn digest_key(uid: &str, perms: &[String]) -> CliResult<(String, String, serde_json::Value)> {
    let public = random_hex(4)?.to_ascii_uppercase();
    let private = random_hex(16)?;
    let entry = serde_json::json!([{
        "username": public,
        "ha1_md5": digest::ha1(Algorithm::Md5, &public, &private),
        "ha1_sha256": digest::ha1(Algorithm::Sha256, &public, &private),
        "uid": uid,
        "permissions": perms,
    }]);
    Ok((public, private, entry))
}

/// The dev secret in `state_dir`, made (owner-only) on the first run.
pub fn dev_secret(state_dir: &Path) -> CliResult<(String, bool)> {
    let path = state_dir.join(DEV_SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= MIN_SECRET_BYTES => return Ok((s.trim().to_owned(), false)),
        Ok(_) => {
            return Err(CliError::Local(format!(
                "{} holds no usable secret; delete it to make a new one",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(CliError::local(path.display(), e)),
    }
    std::fs::create_dir_all(state_dir).map_err(|e| CliError::local(state_dir.display(), e))?;
    let secret = random_hex(32)?;
    write_private(&path, secret.as_bytes()).map_err(|e| CliError::local(path.display(), e))?;
    Ok((secret, true))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mints_what_the_gate_accepts() {
        let secret = random_hex(32).unwrap();
        let token = jwt(&secret, "me", &["dcos:superuser".into()], 60).unwrap();
        let settings = spin_logs::auth::Settings::with(&[("auth_hs256_secret", &secret)]);
        assert_eq!(jwt::verify(&token, &settings, now()).unwrap().uid, "me");
        assert!(jwt("short", "me", &[], 60).is_err());

        let (key, entry) = api_key("shipper", &["spin-logs:ingest".into()]).unwrap();
        let keys = spin_logs::config::parse_api_keys(&entry.to_string()).unwrap();
        assert_eq!(apikey::find(&keys, &key).unwrap().uid, "shipper");
    }

    #[test]
    fn the_dev_secret_is_made_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("spin-logs-cli-{}", random_hex(8).unwrap()));
        let (first, made) = dev_secret(&dir).unwrap();
        assert!(made);
        let (again, made) = dev_secret(&dir).unwrap();
        assert_eq!((again.as_str(), made), (first.as_str(), false));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(DEV_SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
