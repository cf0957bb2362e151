//! Query-string parameters of the read routes (DC/OS Logging API v2):
//! `limit`, `skip`, `cursor`, `filter`. Parsing is separate from resolving, so
//! every route reports a bad parameter the same way: 400, naming it.

use crate::web::problem::Problem;
use crate::web::query::Query;

/// Where a read starts, before `skip` moves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// `cursor=BEG`: the start of the log (position 0).
    Beg,
    /// `cursor=END`: just after the last entry, where a follow waits.
    End,
    /// A position token as the client sent it; each log kind decodes its own.
    At(String),
}

/// A read route's query as given: syntax checked, nothing resolved against
/// a log yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadParams {
    /// Lines to send; `None` for no limit (`limit=0` or absent).
    pub limit: Option<u64>,
    /// Lines to move from the cursor, negative for backwards.
    pub skip: i64,
    /// `None` when the client gave no cursor.
    pub cursor: Option<Cursor>,
    /// `filter=KEY:value`, keys upper-cased; all must hold.
    pub filters: Vec<(String, String)>,
}

impl ReadParams {
    /// Reads `limit`, `skip`, `cursor` and `filter` from `query`, ignoring
    /// any other parameter (as DC/OS does); a malformed one is a 400 naming it.
    pub fn parse(query: &Query) -> Result<Self, Problem> {
        let mut p = ReadParams {
            limit: None,
            skip: 0,
            cursor: None,
            filters: Vec::new(),
        };
        for (key, value) in query.pairs() {
            match key {
                "limit" => {
                    let n: u64 = value.trim().parse().map_err(|_| {
                        Problem::bad_param(
                            "limit",
                            format!("limit must be a non-negative integer, not {value:?}"),
                        )
                    })?;
                    p.limit = (n > 0).then_some(n);
                }
                "skip" => {
                    // `skip=+10` as typed arrives as " 10": form decoding reads + as a space.
                    p.skip = value.trim().parse().map_err(|_| {
                        Problem::bad_param(
                            "skip",
                            format!("skip must be an integer like +10 or -10, not {value:?}"),
                        )
                    })?;
                }
                "cursor" => {
                    p.cursor = Some(match value {
                        "BEG" => Cursor::Beg,
                        "END" => Cursor::End,
                        "" => return Err(Problem::bad_param("cursor", "cursor is empty")),
                        other => Cursor::At(other.to_owned()),
                    });
                }
                "filter" => {
                    let (k, v) = value.split_once(':').ok_or_else(|| {
                        Problem::bad_param(
                            "filter",
                            format!("filter must be KEY:value, not {value:?}"),
                        )
                    })?;
                    if k.is_empty() {
                        return Err(Problem::bad_param("filter", "filter key is empty"));
                    }
                    p.filters.push((k.to_ascii_uppercase(), v.to_owned()));
                }
                _ => {} // unknown parameters are ignored, as DC/OS does
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<ReadParams, Problem> {
        ReadParams::parse(&Query::parse(q))
    }

    #[test]
    fn parses_dcos_parameters() {
        let p = parse("cursor=END&skip=-10&limit=5&filter=_systemd_unit:a.service&filter=X:y:z")
            .unwrap();
        assert_eq!(p.cursor, Some(Cursor::End));
        assert_eq!((p.skip, p.limit), (-10, Some(5)));
        assert_eq!(p.filters[0], ("_SYSTEMD_UNIT".into(), "a.service".into()));
        assert_eq!(p.filters[1], ("X".into(), "y:z".into()));
        assert_eq!(parse("skip=%2B3&limit=0").unwrap().skip, 3);
        assert_eq!(parse("skip=+3").unwrap().skip, 3);
        assert_eq!(parse("limit=0").unwrap().limit, None);
    }

    #[test]
    fn names_the_bad_parameter() {
        for (q, name) in [
            ("limit=x", "limit"),
            ("limit=-1", "limit"),
            ("skip=1.5", "skip"),
            ("skip=99999999999999999999", "skip"),
            ("cursor=", "cursor"),
            ("filter=nocolon", "filter"),
        ] {
            let e = parse(q).unwrap_err();
            assert_eq!(e.extra["parameter"], name, "{q}");
        }
    }
}
