//! A request's query string, decoded once.
//!
//! The guard checks it, the auth gate reads `token`, and each handler reads
//! its own parameters, all from this one decoding (form-urlencoded: `+` is a
//! space, `%XX` a byte). The raw text is kept for what must echo the query
//! back unchanged (`Location`, `Link`).

use percent_encoding::percent_decode;

/// A query string's pairs, decoded as a form, with the raw text beside them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    raw: String,
    pairs: Vec<(String, String)>,
    /// Whether every key and value decoded to UTF-8; where one did not, its
    /// pair holds a lossy decoding and the guard refuses the request.
    utf8: bool,
}

impl Query {
    /// Decodes `raw` (the text after `?`, without it). Never fails: a pair that
    /// is not UTF-8 is kept lossily and [`Query::is_utf8`] turns false.
    pub fn parse(raw: &str) -> Self {
        let mut utf8 = true;
        let mut decode = |s: &str| {
            let bytes: Vec<u8> = s
                .bytes()
                .map(|b| if b == b'+' { b' ' } else { b })
                .collect();
            let decoded: Vec<u8> = percent_decode(&bytes).collect();
            String::from_utf8(decoded).unwrap_or_else(|e| {
                utf8 = false;
                String::from_utf8_lossy(e.as_bytes()).into_owned()
            })
        };
        let pairs = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect();
        Self {
            raw: raw.to_owned(),
            pairs,
            utf8,
        }
    }

    /// The query as the client sent it, without `?`.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Whether there is no query at all (nothing after the `?`).
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Whether every key and value decoded to UTF-8; the guard refuses a query
    /// that did not.
    pub fn is_utf8(&self) -> bool {
        self.utf8
    }

    /// Every decoded pair, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Every value of `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> {
        self.pairs().filter(move |(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_a_form() {
        let q = Query::parse("a=1&b=x+y&c=%2B3&&d&a=%C3%A9");
        assert!(q.is_utf8());
        assert_eq!(q.all("a").collect::<Vec<_>>(), ["1", "é"]);
        assert_eq!(q.get("b"), Some("x y"));
        assert_eq!(q.get("c"), Some("+3"));
        assert_eq!(q.get("d"), Some(""));
        assert_eq!(q.get("e"), None);
        assert_eq!(q.raw(), "a=1&b=x+y&c=%2B3&&d&a=%C3%A9");
        assert!(!Query::parse("cursor=%ff").is_utf8());
        assert!(Query::parse("").is_empty());
    }
}
