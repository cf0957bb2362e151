//! Checking the positions clients send back (`cursor=`, `Last-Event-ID`).
//!
//! Positions are not secrets and are not signed: a task file's position is a
//! public byte offset (DC/OS: "for task logs it would be an offset"), and the
//! other tokens only add a check that catches typos, truncation and edits.
//! What keeps a forged position harmless is that it is always resolved inside
//! the log the route already names, and must be one of that log's positions:
//! at most its size and at the start of a line. Anything else is a 400, so a
//! position can neither reach another log nor start a read mid-line.

use crate::store::log::Snapshot;
use crate::util::ids::digest;
use crate::web::problem::Problem;
use http::StatusCode;

/// A non-negative decimal integer: ASCII digits only (no sign, no spaces).
pub fn decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// [`decimal`], spelled the one way `u64::to_string` spells it (no leading
/// zeros), so an opaque token decodes only from the text that encodes it.
pub fn canonical_decimal(s: &str) -> Option<u64> {
    decimal(s).filter(|n| n.to_string() == s)
}

/// A short check over `payload` in `domain` (8 hex digits): binds a token to
/// what issued it and catches edits. Not a signature: anyone can compute it.
pub fn check(domain: &str, payload: &str) -> String {
    digest(format!("{domain}:{payload}").as_bytes())[..8].to_owned()
}

/// Every opaque token the API hands out has one shape,
/// `<kind>.<payload>.<seal>`: journal cursors (`j`), Scalingo stream ids
/// (`s`), dotnet capture ids (`d`) and URL tokens (`u1`, sealed by a MAC in
/// `auth::urltoken`). This is its one encoder and splitter.
pub fn join(kind: &str, payload: &str, seal: &str) -> String {
    format!("{kind}.{payload}.{seal}")
}

/// The payload and seal of a `kind` token; `None` for any other text. The
/// seal is after the last dot, so a payload may hold dots; a seal never does.
pub fn split<'a>(kind: &str, token: &'a str) -> Option<(&'a str, &'a str)> {
    token
        .strip_prefix(kind)?
        .strip_prefix('.')?
        .rsplit_once('.')
}

/// A token sealed with [`check`] in `domain`.
pub fn seal(kind: &str, domain: &str, payload: &str) -> String {
    join(kind, payload, &check(domain, payload))
}

/// The payload of a token [`seal`] made for `kind` in `domain`; `None` when
/// the token is of another kind, for another domain, or edited.
pub fn open<'a>(kind: &str, domain: &str, token: &'a str) -> Option<&'a str> {
    let (payload, seal) = split(kind, token)?;
    (seal == check(domain, payload)).then_some(payload)
}

/// Requires `offset` to be a position of a log that is at `snap` (`None`: the
/// log does not exist yet, so only 0 is): a 400 naming `param` otherwise.
pub fn require(snap: Option<&Snapshot>, offset: u64, param: &str) -> Result<(), Problem> {
    let found = match snap {
        Some(snap) => on_boundary(snap, offset),
        None if offset == 0 => Ok(()),
        None => Err(Problem::bad_request(format!(
            "position {offset} is past the end of this log (0 bytes)"
        ))),
    };
    found.map_err(|p| match p.status {
        StatusCode::BAD_REQUEST => Problem::bad_param(param, p.detail),
        _ => p, // a storage failure stays a 500
    })
}

/// Whether `offset` is a position of `snap`: at most its size and at the start
/// of a line (its size counts: it is where the next line will start).
pub fn on_boundary(snap: &Snapshot, offset: u64) -> Result<(), Problem> {
    if offset > snap.size() {
        return Err(Problem::bad_request(format!(
            "position {offset} is past the end of this log ({} bytes)",
            snap.size()
        )));
    }
    // A position retention has expired was a line start when it was given
    // out; a read from it starts at the first line still kept.
    if offset < snap.retained() {
        return Ok(());
    }
    if snap.line_start(snap.line_at(offset)?)? != offset {
        return Err(Problem::bad_request(format!(
            "position {offset} is not at the start of a line"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::log::Log;
    use std::rc::Rc;

    #[test]
    fn tokens_open_only_for_their_kind_and_domain() {
        let t = seal("d", "dom", "12.0");
        assert!(t.starts_with("d.12.0."), "{t}");
        assert_eq!(open("d", "dom", &t), Some("12.0"));
        assert_eq!(open("d", "other", &t), None);
        assert_eq!(open("j", "dom", &t), None);
        assert_eq!(open("d", "dom", &t.replace("12", "13")), None);
        assert_eq!(open("d", "dom", "d12.0.x"), None);
        assert_eq!(split("u1", "u1.abc.def"), Some(("abc", "def")));
    }

    #[test]
    fn decimals_are_digits_only() {
        assert_eq!(decimal("0"), Some(0));
        assert_eq!(decimal("007"), Some(7));
        assert_eq!(decimal("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1e3",
            "18446744073709551616",
            "١",
        ] {
            assert_eq!(decimal(bad), None, "{bad:?}");
        }
        assert_eq!(canonical_decimal("007"), None);
        assert_eq!(canonical_decimal("70"), Some(70));
    }

    #[test]
    fn boundaries_are_line_starts_up_to_the_size() {
        let log = Log::new(Rc::new(Store::memory()), "f");
        log.append(b"ab\ncd\n", None).unwrap();
        let snap = log.snapshot().unwrap().unwrap();
        for ok in [0, 3, 6] {
            on_boundary(&snap, ok).unwrap();
        }
        for bad in [1, 2, 4, 5, 7, u64::MAX] {
            assert!(on_boundary(&snap, bad).is_err(), "{bad}");
            let p = require(Some(&snap), bad, "cursor").unwrap_err();
            assert_eq!(p.extra["parameter"], "cursor");
        }
        require(None, 0, "cursor").unwrap();
        assert_eq!(
            require(None, 1, "Last-Event-ID").unwrap_err().extra["parameter"],
            "Last-Event-ID"
        );
    }

    #[test]
    fn positions_retention_expired_stay_positions() {
        let log = Log::new(Rc::new(Store::memory()), "f");
        for i in 0..(crate::store::log::PAGE_SEGMENTS * 2 + 1) {
            log.append(format!("line {i}\n").as_bytes(), None).unwrap();
        }
        log.expire_pages(1).unwrap();
        let snap = log.snapshot().unwrap().unwrap();
        let kept = snap.retained();
        assert!(kept > 0);
        require(Some(&snap), 3, "cursor").unwrap(); // given out once, expired since
        require(Some(&snap), kept, "cursor").unwrap();
        assert!(require(Some(&snap), kept + 1, "cursor").is_err());
    }
}
