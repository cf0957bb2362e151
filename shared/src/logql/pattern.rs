//! Loki's pattern expressions: `<_> - <user> [<_>] "<method> <url> <_>"`.
//!
//! The same syntax serves the `| pattern` parser (named captures become
//! labels) and the `|>` / `!>` line filters (only `<_>`), so one matcher
//! implements both with Loki's exact rules: literals are found left to
//! right, a pattern starting with a literal must match at the line's start,
//! and a capture that runs off the end takes the rest of the line.

/// One element of a pattern.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Lit(String),
    /// A capture; `None` is `<_>`.
    Capture(Option<String>),
}

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pattern {
    nodes: Vec<Node>,
}

impl Pattern {
    /// Parses `src`; `captures` is whether named captures are allowed (the
    /// parser) or refused (the line filter).
    pub(crate) fn parse(src: &str, parser: bool) -> Result<Pattern, String> {
        let nodes = lex(src);
        let p = Pattern { nodes };
        p.validate(parser)?;
        Ok(p)
    }

    fn validate(&self, parser: bool) -> Result<(), String> {
        for w in self.nodes.windows(2) {
            if let [Node::Capture(a), Node::Capture(b)] = w {
                let show = |c: &Option<String>| format!("<{}>", c.as_deref().unwrap_or("_"));
                return Err(format!(
                    "found consecutive capture '{}{}': invalid expression",
                    show(a),
                    show(b)
                ));
            }
        }
        let names = self.names();
        if parser {
            if names.is_empty() {
                return Err("at least one capture is required".into());
            }
            for (i, n) in names.iter().enumerate() {
                if names[..i].contains(n) {
                    return Err(format!("duplicate capture name ({n}): invalid expression"));
                }
            }
        } else if let Some(n) = names.first() {
            return Err(format!("named captures are not allowed: found '<{n}>'"));
        }
        Ok(())
    }

    /// The named captures, in order.
    pub(crate) fn names(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter_map(|n| match n {
                Node::Capture(Some(name)) => Some(name.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The named captures' values in `line` (fewer than [`Self::names`]
    /// when a literal is missing: the capture before it takes the rest).
    pub(crate) fn matches<'l>(&self, line: &'l str) -> Vec<(&str, &'l str)> {
        let mut out = Vec::new();
        if line.is_empty() || self.nodes.is_empty() {
            return out;
        }
        let mut rest = line;
        let mut nodes = self.nodes.as_slice();
        if let Some(Node::Lit(l)) = nodes.first() {
            match rest.strip_prefix(l.as_str()) {
                Some(r) => rest = r,
                None => return out,
            }
            nodes = &nodes[1..];
        }
        while let Some(Node::Capture(name)) = nodes.first() {
            let Some(Node::Lit(l)) = nodes.get(1) else {
                if let Some(n) = name {
                    out.push((n.as_str(), rest));
                }
                return out;
            };
            nodes = &nodes[2..];
            let Some(i) = rest.find(l.as_str()) else {
                if let Some(n) = name {
                    out.push((n.as_str(), rest));
                }
                return out;
            };
            if let Some(n) = name {
                out.push((n.as_str(), &rest[..i]));
            }
            rest = &rest[i + l.len()..];
        }
        out
    }

    /// Whether `line` matches the pattern as a line filter (`|>`): every
    /// literal in order, no capture empty, nothing left after a final literal.
    pub(crate) fn test(&self, line: &str) -> bool {
        if line.is_empty() || self.nodes.is_empty() {
            return line.is_empty() && self.nodes.is_empty();
        }
        let mut off = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            let Node::Lit(l) = n else { continue };
            let Some(j) = line[off..].find(l.as_str()) else {
                return false;
            };
            if i != 0 && j == 0 {
                return false;
            }
            off += j + l.len();
        }
        let ends_on_capture = matches!(self.nodes.last(), Some(Node::Capture(_)));
        ends_on_capture == (off != line.len())
    }

    /// The literals, which every matching line holds.
    pub(crate) fn literals(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter_map(|n| match n {
                Node::Lit(l) => Some(l.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// `<name>` (an identifier) or `<_>` are captures; anything else is literal.
fn lex(src: &str) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::new();
    let mut lit = String::new();
    let mut rest = src;
    while !rest.is_empty() {
        if let Some((name, len)) = capture(rest) {
            if !lit.is_empty() {
                nodes.push(Node::Lit(std::mem::take(&mut lit)));
            }
            nodes.push(Node::Capture((name != "_").then(|| name.to_owned())));
            rest = &rest[len..];
            continue;
        }
        let c = rest.chars().next().unwrap_or('\0');
        lit.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !lit.is_empty() {
        nodes.push(Node::Lit(lit));
    }
    nodes
}

fn capture(s: &str) -> Option<(&str, usize)> {
    let inner = s.strip_prefix('<')?;
    let end = inner.find('>')?;
    let name = &inner[..end];
    let valid = name == "_" || crate::logql::valid_label_name(name);
    valid.then_some((name, end + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_captures() {
        let p =
            Pattern::parse(r#"<ip> - <user> [<_>] "<method> <url> <_>" <status>"#, true).unwrap();
        assert_eq!(p.names(), ["ip", "user", "method", "url", "status"]);
        let line = r#"10.0.0.1 - bob [01/Jan/2024] "GET /x HTTP/1.1" 200"#;
        assert_eq!(
            p.matches(line),
            [
                ("ip", "10.0.0.1"),
                ("user", "bob"),
                ("method", "GET"),
                ("url", "/x"),
                ("status", "200")
            ]
        );
        // A missing literal: the capture before it takes the rest.
        assert_eq!(p.matches("10.0.0.1 nothing"), [("ip", "10.0.0.1 nothing")]);
        let p = Pattern::parse("level=<level> msg", true).unwrap();
        assert!(p.matches("x level=info msg").is_empty(), "anchored literal");
        assert_eq!(p.matches("level=info msg"), [("level", "info")]);
    }

    #[test]
    fn bad_patterns() {
        assert!(Pattern::parse("<a><b>", true).is_err());
        assert!(Pattern::parse("no captures", true).is_err());
        assert!(Pattern::parse("<a> <a>", true).is_err());
        assert!(Pattern::parse("<a> x", false).is_err());
        assert!(Pattern::parse("<_> x <_>", false).is_ok());
    }

    #[test]
    fn line_filter() {
        let p = Pattern::parse(
            r#"<_> caller=http.go:194 level=debug <_> msg="POST <_>"#,
            false,
        )
        .unwrap();
        assert!(p.test(r#"ts=1 caller=http.go:194 level=debug traceID=x msg="POST /push""#));
        assert!(!p.test(r#"ts=1 caller=http.go:194 level=info traceID=x msg="POST /push""#));
        let p = Pattern::parse("<_> bar", false).unwrap();
        assert!(!p.test("foo bar baz") && p.test("foo bar"));
        let p = Pattern::parse("foo <_>", false).unwrap();
        // As Loki's: a leading literal is found, not anchored.
        assert!(p.test("foo bar baz") && p.test("xfoo bar"));
        assert!(!Pattern::parse("<_> bar <_>", false).unwrap().test(" bar "));
    }
}
