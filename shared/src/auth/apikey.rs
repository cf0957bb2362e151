//! API keys (`Authorization: ApiKey <key>`), for log shippers and scripts
//! that cannot refresh a JWT, like dotnet-monitor's `MonitorApiKey`.
//!
//! The deployment stores only the SHA-256 of each key (variable
//! `auth_api_keys`, a JSON array of `{"sha256", "uid", "permissions"}`), so
//! reading the configuration never yields a usable key. A presented key is
//! hashed and compared with every entry in constant time.

use crate::util::crypto::{ct_eq, hex, sha256};

pub use crate::config::ApiKey;

/// The lower-case hex SHA-256 of `key`: what `auth_api_keys` stores.
pub fn hash(key: &str) -> String {
    hex(&sha256(key.as_bytes()))
}

/// The entry `presented` matches. Every entry is compared, each in constant
/// time, so timing says nothing about which (or whether one) matched.
pub fn find<'a>(keys: &'a [ApiKey], presented: &str) -> Option<&'a ApiKey> {
    let h = hash(presented);
    let mut found = None;
    for k in keys {
        if ct_eq(h.as_bytes(), k.sha256.as_bytes()) {
            found = Some(k);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_api_keys as parse;

    #[test]
    fn matches_by_hash_only() {
        let json = format!(
            r#"[{{"sha256":"{}","uid":"shipper","permissions":["spin-logs:ingest"]}},
                {{"sha256":"{}","uid":"ops"}}]"#,
            hash("k1").to_uppercase(),
            hash("k2")
        );
        let keys = parse(&json).unwrap();
        assert_eq!(find(&keys, "k1").unwrap().uid, "shipper");
        assert_eq!(find(&keys, "k2").unwrap().permissions.len(), 0);
        assert!(find(&keys, "k3").is_none());
        assert!(find(&keys, "").is_none());
        assert!(!format!("{keys:?}").contains("k1"));
    }

    #[test]
    fn refuses_malformed_configuration() {
        assert_eq!(parse("  ").unwrap(), vec![]);
        assert!(parse("{}").is_err());
        assert!(parse(r#"[{"sha256":"abc","uid":"x"}]"#).is_err());
        assert!(parse(&format!(r#"[{{"sha256":"{}","uid":""}}]"#, hash("k"))).is_err());
        assert!(
            parse(&format!(
                r#"[{{"sha256":"{}","uid":"u","key":"k"}}]"#,
                hash("k")
            ))
            .is_err()
        );
    }
}
