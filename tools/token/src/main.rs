//! `spin-logs-token`: development credentials for a local spin-logs.
//!
//! `spin up` with no configuration refuses every request, so a local user
//! needs a secret for the app and a token for `curl`:
//!
//! ```sh
//! export SPIN_VARIABLE_AUTH_HS256_SECRET=$(cargo run -q -p spin-logs-token -- secret)
//! TOKEN=$(cargo run -q -p spin-logs-token -- jwt --uid me --perm dcos:superuser)
//! ```
//! The tokens carry exactly the claims the gate reads (`uid`, `permissions`,
//! `exp`); they are signed by the same code the tests use.

use spin_logs::auth::digest::{self, Algorithm};
use spin_logs::auth::{MIN_SECRET_BYTES, apikey, jwt};
use std::process::ExitCode;

const USAGE: &str = "\
usage:
  spin-logs-token secret
      a new random HS256 secret (64 hex digits) for auth_hs256_secret
  spin-logs-token jwt [--uid NAME] [--perm PERMISSION]... [--ttl SECONDS] [--secret SECRET]
      an HS256 JWT; the secret comes from --secret or SPIN_VARIABLE_AUTH_HS256_SECRET;
      defaults: --uid dev, --perm dcos:superuser, --ttl 3600
  spin-logs-token apikey [--uid NAME] [--perm PERMISSION]...
      a new random API key, and the auth_api_keys entry (its hash) that accepts it
  spin-logs-token digestkey [--uid NAME] [--perm PERMISSION]...
      a new Digest key pair (curl --user PUBLIC:PRIVATE --digest), and the
      auth_digest_keys entry (its HA1s) that accepts it

permissions: dcos:superuser, dcos:adminrouter:ops:system-logs,
  dcos:adminrouter:system:agent, spin-logs:ingest, spin-logs:jobs, spin-logs:archive";

const SECRET_ENV: &str = "SPIN_VARIABLE_AUTH_HS256_SECRET";

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Secret,
    Jwt {
        uid: String,
        perms: Vec<String>,
        ttl: u64,
        secret: Option<String>,
    },
    ApiKey {
        uid: String,
        perms: Vec<String>,
    },
    DigestKey {
        uid: String,
        perms: Vec<String>,
    },
}

fn parse(args: &[String]) -> Result<Command, String> {
    let (cmd, rest) = args.split_first().ok_or("no command")?;
    let mut uid = "dev".to_owned();
    let mut perms = Vec::new();
    let mut ttl = 3600;
    let mut secret = None;
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--uid" => uid = value()?,
            "--perm" => perms.push(value()?),
            "--ttl" => {
                ttl = value()?
                    .parse()
                    .map_err(|_| "--ttl takes whole seconds".to_owned())?
            }
            "--secret" if cmd == "jwt" => secret = Some(value()?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if perms.is_empty() {
        perms.push(spin_logs::auth::policy::SUPERUSER.to_owned());
    }
    match cmd.as_str() {
        "secret" if rest.is_empty() => Ok(Command::Secret),
        "jwt" => Ok(Command::Jwt {
            uid,
            perms,
            ttl,
            secret,
        }),
        "apikey" if ttl == 3600 => Ok(Command::ApiKey { uid, perms }),
        "digestkey" if ttl == 3600 => Ok(Command::DigestKey { uid, perms }),
        other => Err(format!("unknown command or arguments for {other:?}")),
    }
}

fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| format!("no randomness: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn run(cmd: Command) -> Result<String, String> {
    match cmd {
        Command::Secret => random_hex(32),
        Command::Jwt {
            uid,
            perms,
            ttl,
            secret,
        } => {
            let secret = secret
                .or_else(|| std::env::var(SECRET_ENV).ok())
                .ok_or_else(|| format!("no secret: pass --secret or set {SECRET_ENV}"))?;
            if secret.len() < MIN_SECRET_BYTES {
                return Err(format!(
                    "the secret is shorter than {MIN_SECRET_BYTES} bytes; the app would refuse it"
                ));
            }
            jwt::sign_hs256(secret.as_bytes(), &uid, &perms, now(), ttl)
        }
        Command::ApiKey { uid, perms } => {
            let key = format!("slk_{}", random_hex(32)?);
            let entry = serde_json::json!([{
                "sha256": apikey::hash(&key),
                "uid": uid,
                "permissions": perms,
            }]);
            Ok(format!(
                "key (give it to the client; it is not stored anywhere):\n{key}\n\n\
                 auth_api_keys (merge into the JSON array of the variable):\n{entry}"
            ))
        }
        Command::DigestKey { uid, perms } => {
            // MongoDB's shape: an 8-letter public key, a UUID-like private key.
            let public = random_hex(4)?.to_ascii_uppercase();
            let private = random_hex(16)?;
            let entry = serde_json::json!([{
                "username": public,
                "ha1_md5": digest::ha1(Algorithm::Md5, &public, &private),
                "ha1_sha256": digest::ha1(Algorithm::Sha256, &public, &private),
                "uid": uid,
                "permissions": perms,
            }]);
            Ok(format!(
                "key pair (curl --user \"{public}:{private}\" --digest ...; the private key is not stored):\n\
                 {public}:{private}\n\n\
                 auth_digest_keys (merge into the JSON array of the variable):\n{entry}"
            ))
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match parse(&args).and_then(run) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("spin-logs-token: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_defaults_and_flags() {
        assert_eq!(
            parse(&args("jwt")),
            Ok(Command::Jwt {
                uid: "dev".into(),
                perms: vec!["dcos:superuser".into()],
                ttl: 3600,
                secret: None
            })
        );
        let Ok(Command::Jwt {
            uid, perms, ttl, ..
        }) = parse(&args(
            "jwt --uid me --perm spin-logs:ingest --perm spin-logs:jobs --ttl 60",
        ))
        else {
            panic!()
        };
        assert_eq!((uid.as_str(), perms.len(), ttl), ("me", 2, 60));
        assert_eq!(parse(&args("secret")), Ok(Command::Secret));
        assert!(parse(&args("secret --uid x")).is_err());
        assert!(parse(&args("apikey --secret x")).is_err());
        assert!(parse(&args("jwt --ttl")).is_err());
        assert!(parse(&args("nope")).is_err());
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn mints_what_the_gate_accepts() {
        let secret = random_hex(32).unwrap();
        let token = run(Command::Jwt {
            uid: "me".into(),
            perms: vec!["dcos:superuser".into()],
            ttl: 60,
            secret: Some(secret.clone()),
        })
        .unwrap();
        let settings = spin_logs::auth::Settings {
            hs256_secret: Some(secret),
            ..Default::default()
        };
        let claims = jwt::verify(&token, &settings, now()).unwrap();
        assert_eq!(claims.uid, "me");
        let short = Command::Jwt {
            uid: "me".into(),
            perms: vec![],
            ttl: 60,
            secret: Some("short".into()),
        };
        assert!(run(short).is_err());

        let out = run(Command::ApiKey {
            uid: "shipper".into(),
            perms: vec!["spin-logs:ingest".into()],
        })
        .unwrap();
        let key = out.lines().nth(1).unwrap();
        let entry = out.lines().last().unwrap();
        let keys = spin_logs::config::parse_api_keys(entry).unwrap();
        assert_eq!(apikey::find(&keys, key).unwrap().uid, "shipper");
    }
}
