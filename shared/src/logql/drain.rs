//! Log patterns by the Drain algorithm, with Loki's parameters (its
//! `pkg/pattern/drain`), so `/loki/api/v1/patterns` groups lines the way
//! Logs Drilldown's Patterns tab expects.
//!
//! A line is split into tokens (punctuation-separated text, logfmt pairs,
//! or a JSON line's message field); lines of fewer than 4 or more than 80
//! tokens are skipped. A prefix tree keyed by the token count, then by the
//! leading tokens (a token with a digit, or one past 15 children, goes to
//! the `<_>` wildcard child), leads to candidate clusters; the most similar
//! (equal tokens over all tokens, at least 0.3; ties to the one with more
//! wildcards) absorbs the line, its differing tokens becoming `<_>`.
//! At most 300 clusters are kept, the least recently matched evicted.
//! Each cluster counts its lines per 10-second bucket.

use std::collections::{BTreeMap, HashMap};

const DEPTH: usize = 30;
const MAX_NODE_DEPTH: usize = DEPTH - 2;
const SIM_TH: f64 = 0.3;
const MAX_CHILDREN: usize = 15;
/// The wildcard a pattern shows where its lines differ (Loki's).
pub const PARAM: &str = "<_>";
const MAX_CLUSTERS: usize = 300;
const MAX_LINE: usize = 3000;
/// Lines are counted per bucket of this many ns.
pub const SAMPLE_NS: i64 = 10_000_000_000;
/// The fields a JSON line's message is taken from, in order.
const JSON_FIELDS: [&str; 6] = ["log", "message", "msg", "msg_", "_msg", "content"];

/// How a stream's lines are tokenized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The message field's text (`msg`, `message`, ...), split as
    /// punctuated text; a pattern is `<_>text<_>`. A line without one is
    /// skipped.
    Json,
    /// Each `key=value` pair is two tokens; a time or trace id's value is
    /// always `<_>`.
    Logfmt,
    /// Text split at spaces and punctuation.
    Punctuation,
}

/// Loki's `DetectLogFormat`: `{...}` is JSON; `k=v k2="v 2"` logfmt.
pub fn detect_format(line: &str) -> Format {
    let t = line.trim();
    if t.starts_with('{') && t.ends_with('}') {
        return Format::Json;
    }
    if is_logfmt(t) {
        return Format::Logfmt;
    }
    Format::Punctuation
}

/// `^(\w+?=([^"]\S*?|".+?") )*?(\w+?=([^"]\S*?|".+?"))+$`, by hand.
fn is_logfmt(line: &str) -> bool {
    let mut rest = line;
    let mut pairs = 0;
    while !rest.is_empty() {
        let key = rest.find('=').map(|i| &rest[..i]);
        let Some(key) =
            key.filter(|k| !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_'))
        else {
            return false;
        };
        rest = &rest[key.len() + 1..];
        if let Some(q) = rest.strip_prefix('"') {
            let Some(end) = q.find('"').filter(|&e| e > 0) else {
                return false;
            };
            rest = &q[end + 1..];
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            if end == 0 {
                return false;
            }
            rest = &rest[end..];
        }
        pairs += 1;
        match rest.strip_prefix(' ') {
            Some(r) if !r.is_empty() => rest = r,
            Some(_) => return false,
            None if rest.is_empty() => {}
            None => return false,
        }
    }
    pairs > 0
}

/// A line's tokens, and how to join them back.
#[derive(Debug, Clone, PartialEq)]
struct Tokens {
    tokens: Vec<String>,
    /// Punctuation: the tokens followed by a space.
    spaces_after: Vec<usize>,
}

fn punctuation(line: &str) -> Option<Tokens> {
    if line.len() > MAX_LINE {
        return None;
    }
    let mut tokens = Vec::new();
    let mut spaces_after = Vec::new();
    let mut start = 0;
    for (i, c) in line.char_indices() {
        if tokens.len() >= 127 {
            break;
        }
        if c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/') {
            continue;
        }
        if c == ' ' || c == '=' || is_punct(c) {
            if i > start {
                tokens.push(line[start..i].to_owned());
            }
            if c == ' ' {
                spaces_after.push(tokens.len().wrapping_sub(1));
            } else {
                tokens.push(c.to_string());
            }
            start = i + c.len_utf8();
        }
    }
    if start < line.len() {
        tokens.push(line[start..].to_owned());
    }
    Some(Tokens {
        tokens,
        spaces_after,
    })
}

/// Go's `unicode.IsPunct`: Unicode's punctuation categories, which leave
/// out symbols such as `$ + < > ^ | ~`.
fn is_punct(c: char) -> bool {
    if c.is_ascii() {
        return "!\"#%&'()*,-./:;?@[\\]_{}".contains(c);
    }
    matches!(c, '\u{2010}'..='\u{2027}' | '\u{3001}'..='\u{3003}' | '\u{00a1}' | '\u{00a7}' | '\u{00ab}' | '\u{00b6}' | '\u{00b7}' | '\u{00bb}' | '\u{00bf}')
}

fn logfmt(line: &str) -> Option<Tokens> {
    if line.len() > MAX_LINE {
        return None;
    }
    let mut tokens = Vec::new();
    for pair in super::parsers::Logfmt::new(line) {
        match pair {
            super::parsers::Pair::Kv(k, v) => {
                let variable = ["ts", "traceid", "time", "timestamp"]
                    .contains(&k.to_ascii_lowercase().as_str())
                    || k == "t";
                tokens.push(k.to_owned());
                tokens.push(if variable {
                    PARAM.to_owned()
                } else {
                    v.into_owned()
                });
            }
            super::parsers::Pair::Bad => return None,
        }
    }
    Some(Tokens {
        tokens,
        spaces_after: Vec::new(),
    })
}

fn json(line: &str) -> Option<Tokens> {
    let serde_json::Value::Object(map) = serde_json::from_str::<serde_json::Value>(line).ok()?
    else {
        return None;
    };
    let msg = JSON_FIELDS
        .iter()
        .find_map(|f| map.get(*f).and_then(|v| v.as_str()))?;
    punctuation(msg)
}

impl Format {
    fn tokenize(self, line: &str) -> Option<Tokens> {
        match self {
            Format::Json => json(line),
            Format::Logfmt => logfmt(line),
            Format::Punctuation => punctuation(line),
        }
    }

    fn join(self, t: &Tokens) -> String {
        let s = match self {
            Format::Logfmt => t
                .tokens
                .chunks(2)
                .map(|kv| {
                    format!(
                        "{}={}",
                        kv[0],
                        logfmt_value(kv.get(1).map_or("", String::as_str))
                    )
                })
                .collect::<Vec<_>>()
                .join(" "),
            Format::Punctuation => join_spaced(t),
            Format::Json => format!("{PARAM}{}{PARAM}", join_spaced(t)),
        };
        dedup_params(&s)
    }
}

fn join_spaced(t: &Tokens) -> String {
    let mut out = String::new();
    let mut si = 0;
    for (i, tok) in t.tokens.iter().enumerate() {
        out.push_str(tok);
        while si < t.spaces_after.len() && t.spaces_after[si] == i {
            out.push(' ');
            si += 1;
        }
    }
    out
}

/// A value as go-logfmt writes it: quoted when it holds a space, `=`, `"`
/// or a control character.
fn logfmt_value(v: &str) -> String {
    if v.chars()
        .any(|c| c == ' ' || c == '=' || c == '"' || c.is_control())
    {
        serde_json::Value::String(v.to_owned()).to_string()
    } else {
        v.to_owned()
    }
}

/// `<_><_>` runs collapsed to one `<_>`.
fn dedup_params(s: &str) -> String {
    let double = format!("{PARAM}{PARAM}");
    let mut out = s.to_owned();
    while out.contains(&double) {
        out = out.replace(&double, PARAM);
    }
    out
}

/// A cluster: its template, its lines per 10 s bucket, its last use.
#[derive(Debug, Clone)]
pub struct Cluster {
    tokens: Vec<String>,
    spaces_after: Vec<usize>,
    /// Bucket start (ns) to lines.
    pub samples: BTreeMap<i64, u64>,
    /// Lines it has absorbed in all.
    pub size: u64,
    used: u64,
}

#[derive(Default)]
struct Node {
    children: Vec<(String, usize)>,
    clusters: Vec<usize>,
}

/// One Drain instance: the lines of one stream and level.
pub struct Drain {
    format: Format,
    nodes: Vec<Node>,
    clusters: HashMap<usize, Cluster>,
    next_id: usize,
    clock: u64,
}

impl Drain {
    /// An empty instance for lines of `format` (see [`detect_format`]).
    pub fn new(format: Format) -> Drain {
        Drain {
            format,
            nodes: vec![Node::default()],
            clusters: HashMap::new(),
            next_id: 0,
            clock: 0,
        }
    }

    /// Adds a line seen at `ts_ns`.
    pub fn train(&mut self, line: &str, ts_ns: i64) {
        let Some(t) = self.format.tokenize(line) else {
            return;
        };
        if t.tokens.len() < 4 || t.tokens.len() > 80 {
            return;
        }
        self.clock += 1;
        let bucket = ts_ns.div_euclid(SAMPLE_NS) * SAMPLE_NS;
        let id = match self.search(&t.tokens) {
            Some(id) => {
                let Some(c) = self.clusters.get_mut(&id) else {
                    return;
                };
                for (a, b) in c.tokens.iter_mut().zip(&t.tokens) {
                    if a != b {
                        *a = PARAM.to_owned();
                    }
                }
                id
            }
            None => self.create(t),
        };
        if let Some(c) = self.clusters.get_mut(&id) {
            *c.samples.entry(bucket).or_default() += 1;
            c.size += 1;
            c.used = self.clock;
        }
    }

    /// The clusters as (pattern, cluster).
    pub fn patterns(&self) -> Vec<(String, &Cluster)> {
        self.clusters
            .values()
            .map(|c| {
                let t = Tokens {
                    tokens: c.tokens.clone(),
                    spaces_after: c.spaces_after.clone(),
                };
                (self.format.join(&t), c)
            })
            .collect()
    }

    fn child(&self, node: usize, key: &str) -> Option<usize> {
        self.nodes[node]
            .children
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, n)| *n)
    }

    fn add_child(&mut self, node: usize, key: &str) -> usize {
        self.nodes.push(Node::default());
        let n = self.nodes.len() - 1;
        self.nodes[node].children.push((key.to_owned(), n));
        n
    }

    fn search(&self, tokens: &[String]) -> Option<usize> {
        let mut node = self.child(0, &tokens.len().to_string())?;
        for (depth, tok) in (1..).zip(tokens) {
            if depth >= MAX_NODE_DEPTH || depth == tokens.len() {
                break;
            }
            node = self.child(node, tok).or_else(|| self.child(node, PARAM))?;
        }
        let mut best: Option<(f64, i64, usize)> = None;
        for &id in &self.nodes[node].clusters {
            let Some(c) = self.clusters.get(&id) else {
                continue;
            };
            let (sim, params) = similarity(&c.tokens, tokens);
            if best.is_none_or(|(s, p, _)| sim > s || (sim == s && params > p)) {
                best = Some((sim, params, id));
            }
        }
        best.filter(|(s, _, _)| *s >= SIM_TH).map(|(_, _, id)| id)
    }

    fn create(&mut self, t: Tokens) -> usize {
        self.next_id += 1;
        let id = self.next_id;
        let count = t.tokens.len();
        let mut node = match self.child(0, &count.to_string()) {
            Some(n) => n,
            None => self.add_child(0, &count.to_string()),
        };
        for (depth, tok) in (1..).zip(&t.tokens) {
            if depth >= MAX_NODE_DEPTH || depth >= count {
                break;
            }
            node = match self.child(node, tok) {
                Some(n) => n,
                None => self.descend_new(node, tok),
            };
        }
        let live: Vec<usize> = self.nodes[node]
            .clusters
            .iter()
            .copied()
            .filter(|c| self.clusters.contains_key(c))
            .collect();
        self.nodes[node].clusters = live;
        self.nodes[node].clusters.push(id);
        self.clusters.insert(
            id,
            Cluster {
                tokens: t.tokens,
                spaces_after: t.spaces_after,
                samples: BTreeMap::new(),
                size: 0,
                used: self.clock,
            },
        );
        self.evict();
        id
    }

    /// The child a new token goes to: its own, or the wildcard once the
    /// token has a digit or the node is full.
    fn descend_new(&mut self, node: usize, tok: &str) -> usize {
        let param = self.child(node, PARAM);
        let n = self.nodes[node].children.len();
        if tok.chars().any(char::is_numeric) {
            return param.unwrap_or_else(|| self.add_child(node, PARAM));
        }
        match param {
            Some(p) if n >= MAX_CHILDREN => p,
            Some(_) => self.add_child(node, tok),
            None if n + 1 < MAX_CHILDREN => self.add_child(node, tok),
            None if n + 1 == MAX_CHILDREN => self.add_child(node, PARAM),
            None => self.add_child(node, PARAM),
        }
    }

    fn evict(&mut self) {
        while self.clusters.len() > MAX_CLUSTERS {
            let Some(oldest) = self
                .clusters
                .iter()
                .min_by_key(|(_, c)| c.used)
                .map(|(id, _)| *id)
            else {
                return;
            };
            self.clusters.remove(&oldest);
        }
    }
}

/// Equal tokens over all tokens (wildcards not counted), and the wildcards.
fn similarity(template: &[String], tokens: &[String]) -> (f64, i64) {
    let (mut same, mut params) = (0usize, 0i64);
    for (a, b) in template.iter().zip(tokens) {
        if a == PARAM {
            params += 1;
        } else if a == b {
            same += 1;
        }
    }
    (same as f64 / template.len().max(1) as f64, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_detected() {
        assert_eq!(detect_format(r#"{"msg":"x"}"#), Format::Json);
        assert_eq!(detect_format(r#"level=info msg="a b" n=1"#), Format::Logfmt);
        assert_eq!(detect_format("GET /x 200 12ms"), Format::Punctuation);
    }

    #[test]
    fn similar_lines_share_a_pattern() {
        let mut d = Drain::new(Format::Punctuation);
        for i in 0..20 {
            d.train(
                &format!("user {i} logged in from host{i}.example.com"),
                i * SAMPLE_NS,
            );
            d.train(
                &format!("disk /dev/sd{} is {}% full", i % 3, 80 + i),
                i * SAMPLE_NS,
            );
        }
        let mut p: Vec<(String, u64)> =
            d.patterns().into_iter().map(|(s, c)| (s, c.size)).collect();
        p.sort();
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0], ("disk <_> is <_>% full".to_string(), 20));
        assert_eq!(p[1], ("user <_> logged in from <_>".to_string(), 20));
    }

    #[test]
    fn logfmt_and_json_lines() {
        let mut d = Drain::new(Format::Logfmt);
        for i in 0..5 {
            d.train(
                &format!(r#"ts={i} level=info msg="request done" status={}"#, 200 + i),
                0,
            );
        }
        let p = d.patterns();
        assert_eq!(p[0].0, r#"ts=<_> level=info msg="request done" status=<_>"#);
        let mut d = Drain::new(Format::Json);
        for i in 0..5 {
            d.train(
                &format!(r#"{{"msg":"took {i} ms for job a","level":"info"}}"#),
                0,
            );
        }
        assert_eq!(d.patterns()[0].0, "<_>took <_> ms for job a<_>");
    }

    #[test]
    fn short_and_long_lines_are_skipped_and_clusters_bounded() {
        let mut d = Drain::new(Format::Punctuation);
        d.train("too short", 0);
        d.train(&"w ".repeat(100), 0);
        assert!(d.patterns().is_empty());
        for i in 0..400 {
            d.train(&format!("{} alpha beta gamma", "x".repeat(i % 400 + 1)), 0);
        }
        assert!(d.patterns().len() <= MAX_CLUSTERS);
    }
}
