//! Masking of secrets and personal data in collected logs (`"redacted": true`
//! on a log collection job): bearer tokens, JWTs, `key=value` credentials,
//! e-mail addresses and IP addresses.
//!
//! Masking keeps every length: each masked byte becomes `*`. A job plans each
//! archive entry's size before it copies the bytes (a tar header comes first),
//! and copies a large file over several requests, so a mask that changed
//! lengths would need a second pass over the data. The price is that the
//! length of a secret stays visible.

use regex_lite::Regex;

/// The compiled masks ([`Redactor::default`]): built once per job, applied
/// to the bytes it archives, chunk by chunk.
pub struct Redactor {
    /// Each pattern with the capture group to mask (0: the whole match).
    patterns: Vec<(Regex, usize)>,
}

const PATTERNS: &[(&str, usize)] = &[
    // JWTs (three base64url parts, the first a JSON header).
    (
        r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
        0,
    ),
    // `Authorization: Bearer xyz`, `token=xyz`, `"password": "xyz"`, ...
    (r"(?i)\bbearer\s+([A-Za-z0-9._~+/=-]+)", 1),
    (
        r#"(?i)\b(?:token|access_token|refresh_token|api[_-]?key|apikey|secret|client_secret|password|passwd|pwd)["']?\s*[:=]\s*["']?([^\s"',;&]+)"#,
        1,
    ),
    // E-mail addresses.
    (
        r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
        0,
    ),
    // IPv4.
    (
        r"\b(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}\b",
        0,
    ),
    // IPv6: full, or compressed with `::`.
    (r"\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b", 0),
    (
        r"\b(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6}\b)?",
        0,
    ),
    (
        r"(?:^|[\s\[(=,])(::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?)\b",
        1,
    ),
];

impl Default for Redactor {
    fn default() -> Self {
        Self {
            patterns: PATTERNS
                .iter()
                // The patterns are constants covered by tests: a failure is a bug here.
                .filter_map(|(p, g)| Regex::new(p).ok().map(|r| (r, *g)))
                .collect(),
        }
    }
}

impl Redactor {
    /// Masks matches in `text` in place. Only the valid UTF-8 prefix is
    /// searched (stored logs are UTF-8; a cut multi-byte character at the end
    /// of a chunk is left as it is).
    pub fn apply(&self, text: &mut [u8]) {
        let valid = match std::str::from_utf8(text) {
            Ok(s) => s.len(),
            Err(e) => e.valid_up_to(),
        };
        for (re, group) in &self.patterns {
            let ranges: Vec<std::ops::Range<usize>> = {
                let Ok(s) = std::str::from_utf8(&text[..valid]) else {
                    return;
                };
                re.captures_iter(s)
                    .filter_map(|c| c.get(*group).map(|m| m.range()))
                    .collect()
            };
            for r in ranges {
                text[r].fill(b'*');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(s: &str) -> String {
        let mut b = s.as_bytes().to_vec();
        Redactor::default().apply(&mut b);
        assert_eq!(b.len(), s.len());
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn all_patterns_compile() {
        assert_eq!(Redactor::default().patterns.len(), PATTERNS.len());
    }

    #[test]
    fn masks_secrets_and_personal_data_keeping_lengths() {
        for (input, want) in [
            (
                "user alice@example.com logged in",
                "user ***************** logged in",
            ),
            ("from 10.1.2.3:8080 ok", "from ********:8080 ok"),
            ("peer 2001:db8::1 up", "peer *********** up"),
            ("local [::1]:80", "local [***]:80"),
            ("addr fe80:0:0:0:0:0:0:1", "addr ******************"),
            (
                "Authorization: Bearer abc.def-ghi",
                "Authorization: Bearer ***********",
            ),
            ("token=s3cr3t&x=1", "token=******&x=1"),
            (r#"{"password": "hunter2"}"#, r#"{"password": "*******"}"#),
            (
                "jwt eyJhbGciOi.eyJzdWIiOiJ4In0.sig_1 end",
                "jwt ******************************** end",
            ),
            (
                "at 12:30:45 took 3.5ms, version 1.2.3",
                "at 12:30:45 took 3.5ms, version 1.2.3",
            ),
            ("héllo 192.168.0.1", "héllo ***********"),
        ] {
            assert_eq!(redact(input), want, "{input}");
        }
    }
}
