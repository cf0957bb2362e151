//! Template items into a tree: actions into pipelines, `if`/`range`/`with`
//! blocks closed by `end`, each error at the offset of its action.

use super::lex::{Item, Tok, lex};
use super::{Arg, Node, Pipe, TemplateError, Value};

/// The deepest a template may nest blocks, or parentheses in one action: the
/// parser and the evaluator recurse once a level, and a request's template
/// must not overflow the stack (the LogQL parser has its own such bound).
const MAX_DEPTH: usize = 64;

pub(super) fn parse(src: &str) -> Result<Vec<Node>, TemplateError> {
    let items = lex(src)?;
    for item in &items {
        if let Item::Action(toks, at) = item {
            check_parens(toks, *at)?;
        }
    }
    let mut p = Parser {
        items,
        i: 0,
        depth: 0,
    };
    let (nodes, end) = p.list()?;
    match end {
        Stop::Eof => Ok(nodes),
        Stop::Else(_, at) | Stop::End(at) => Err((at, "unexpected {{end}} or {{else}}".into())),
    }
}

/// What ended a list of nodes.
enum Stop {
    Eof,
    /// `{{else}}` (with the tokens after `else`, for `else if`).
    Else(Vec<Tok>, usize),
    End(usize),
}

struct Parser {
    items: Vec<Item>,
    i: usize,
    /// Blocks open around the current item.
    depth: usize,
}

/// Errs when an action nests parentheses deeper than [`MAX_DEPTH`].
fn check_parens(toks: &[Tok], at: usize) -> Result<(), TemplateError> {
    let mut depth = 0usize;
    for t in toks {
        match t {
            Tok::LParen => depth += 1,
            Tok::RParen => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_DEPTH {
            return Err((at, format!("parentheses nested deeper than {MAX_DEPTH}")));
        }
    }
    Ok(())
}

impl Parser {
    /// Nodes up to the end of the template, an `else` or an `end`.
    fn list(&mut self) -> Result<(Vec<Node>, Stop), TemplateError> {
        let mut nodes = Vec::new();
        while let Some(item) = self.items.get(self.i).cloned() {
            self.i += 1;
            let (toks, at) = match item {
                Item::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Item::Action(toks, at) => (toks, at),
            };
            match toks.first() {
                Some(Tok::Ident(w)) if w == "end" => return Ok((nodes, Stop::End(at))),
                Some(Tok::Ident(w)) if w == "else" => {
                    return Ok((nodes, Stop::Else(toks[1..].to_vec(), at)));
                }
                Some(Tok::Ident(w)) if w == "if" => {
                    nodes.push(self.nested(at, |p| p.if_block(&toks[1..], at))?)
                }
                Some(Tok::Ident(w)) if w == "range" || w == "with" => {
                    let range = w == "range";
                    nodes.push(self.nested(at, |p| p.block(range, &toks[1..], at))?)
                }
                Some(Tok::Ident(w))
                    if matches!(
                        w.as_str(),
                        "define" | "template" | "block" | "break" | "continue"
                    ) =>
                {
                    return Err((
                        at,
                        format!("{{{{{w}}}}} is not supported in a LogQL template"),
                    ));
                }
                _ => nodes.push(Node::Action(pipe(&toks, at)?)),
            }
        }
        Ok((nodes, Stop::Eof))
    }

    /// `block` parsed one block deeper, or an error past [`MAX_DEPTH`].
    fn nested(
        &mut self,
        at: usize,
        block: impl FnOnce(&mut Self) -> Result<Node, TemplateError>,
    ) -> Result<Node, TemplateError> {
        if self.depth >= MAX_DEPTH {
            return Err((at, format!("blocks nested deeper than {MAX_DEPTH}")));
        }
        self.depth += 1;
        let node = block(self);
        self.depth -= 1;
        node
    }

    fn if_block(&mut self, cond: &[Tok], at: usize) -> Result<Node, TemplateError> {
        let mut branches = vec![];
        let mut cond = pipe(cond, at)?;
        loop {
            let (body, end) = self.list()?;
            branches.push((cond, body));
            match end {
                Stop::End(_) => {
                    return Ok(Node::If {
                        branches,
                        otherwise: vec![],
                    });
                }
                Stop::Else(rest, at) if rest.first() == Some(&Tok::Ident("if".into())) => {
                    cond = pipe(&rest[1..], at)?;
                }
                Stop::Else(rest, at) if rest.is_empty() => {
                    let otherwise = self.until_end(at)?;
                    return Ok(Node::If {
                        branches,
                        otherwise,
                    });
                }
                Stop::Else(_, at) => return Err((at, "unexpected tokens after else".into())),
                Stop::Eof => return Err((at, "unexpected EOF: {{if}} without {{end}}".into())),
            }
        }
    }

    /// `range` or `with`: a body, an optional `else`, then `end`.
    fn block(&mut self, range: bool, head: &[Tok], at: usize) -> Result<Node, TemplateError> {
        let pipe = pipe(head, at)?;
        let (body, end) = self.list()?;
        let otherwise = match end {
            Stop::End(_) => vec![],
            Stop::Else(rest, at) if rest.is_empty() => self.until_end(at)?,
            Stop::Else(_, at) => {
                return Err((at, "only a plain {{else}} may follow range or with".into()));
            }
            Stop::Eof => return Err((at, "unexpected EOF: block without {{end}}".into())),
        };
        Ok(if range {
            Node::Range {
                pipe,
                body,
                otherwise,
            }
        } else {
            Node::With {
                pipe,
                body,
                otherwise,
            }
        })
    }

    fn until_end(&mut self, at: usize) -> Result<Vec<Node>, TemplateError> {
        match self.list()? {
            (nodes, Stop::End(_)) => Ok(nodes),
            (_, Stop::Else(_, at)) => Err((at, "expected {{end}}; found {{else}}".into())),
            (_, Stop::Eof) => Err((at, "unexpected EOF: {{else}} without {{end}}".into())),
        }
    }
}

/// An action's tokens as a pipeline: `$a, $b := cmd | cmd`.
fn pipe(toks: &[Tok], at: usize) -> Result<Pipe, TemplateError> {
    let mut vars = Vec::new();
    let mut rest = toks;
    if let Some(n) = toks
        .iter()
        .position(|t| matches!(t, Tok::Declare | Tok::Assign))
    {
        let names = &toks[..n];
        let all_vars = names
            .iter()
            .all(|t| matches!(t, Tok::Var(_, f) if f.is_empty()) || *t == Tok::Comma);
        if all_vars && !names.is_empty() {
            vars = names
                .iter()
                .filter_map(|t| match t {
                    Tok::Var(v, _) => Some(v.clone()),
                    _ => None,
                })
                .collect();
            rest = &toks[n + 1..];
        }
    }
    let mut cmds = Vec::new();
    let mut i = 0;
    loop {
        let (cmd, next) = command(rest, i, at)?;
        if cmd.is_empty() {
            return Err((at, "missing value for command".into()));
        }
        cmds.push(cmd);
        match rest.get(next) {
            None => break,
            Some(Tok::Pipe) => i = next + 1,
            Some(t) => return Err((at, format!("unexpected {t:?} in operand"))),
        }
    }
    Ok(Pipe { vars, cmds })
}

/// The operands of one command from `i`, up to a `|`, a `)` or the end.
fn command(toks: &[Tok], mut i: usize, at: usize) -> Result<(Vec<Arg>, usize), TemplateError> {
    let mut args = Vec::new();
    while let Some(t) = toks.get(i) {
        let arg = match t {
            Tok::Pipe | Tok::RParen => break,
            Tok::LParen => {
                let close =
                    matching(toks, i).ok_or_else(|| (at, "unclosed left paren".to_owned()))?;
                let inner = pipe(&toks[i + 1..close], at)?;
                i = close;
                let fields = match toks.get(i + 1) {
                    Some(Tok::Field(f)) if !f.is_empty() => {
                        i += 1;
                        f.clone()
                    }
                    _ => vec![],
                };
                Arg::Sub(Box::new(inner), fields)
            }
            Tok::Field(f) if f.is_empty() => Arg::Dot,
            Tok::Field(f) => Arg::Field(f.clone()),
            Tok::Var(v, f) => Arg::Var(v.clone(), f.clone()),
            Tok::Str(s) => Arg::Lit(Value::Str(s.clone())),
            Tok::Char(c) => Arg::Lit(Value::Int(*c as i64)),
            Tok::Number(n) => {
                Arg::Lit(number(n).ok_or_else(|| (at, format!("bad number syntax: {n:?}")))?)
            }
            Tok::Ident(w) => match w.as_str() {
                "true" => Arg::Lit(Value::Bool(true)),
                "false" => Arg::Lit(Value::Bool(false)),
                "nil" => Arg::Lit(Value::Nil),
                _ => Arg::Func(w.clone()),
            },
            other => return Err((at, format!("unexpected {other:?} in operand"))),
        };
        args.push(arg);
        i += 1;
    }
    Ok((args, i))
}

/// The `)` closing the `(` at `open`.
fn matching(toks: &[Tok], open: usize) -> Option<usize> {
    let mut depth = 0;
    for (i, t) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::LParen => depth += 1,
            Tok::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// A Go number constant: an integer (decimal, hex, octal) or a float.
fn number(n: &str) -> Option<Value> {
    let clean: String = n.chars().filter(|&c| c != '_').collect();
    let (neg, digits) = match clean.strip_prefix('-') {
        Some(d) => (true, d.to_owned()),
        None => (false, clean.trim_start_matches('+').to_owned()),
    };
    let int = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(h, 16).ok()
    } else if digits.len() > 1
        && digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        i64::from_str_radix(&digits[1..], 8).ok()
    } else {
        digits.parse::<i64>().ok()
    };
    match int {
        Some(i) => Some(Value::Int(if neg { -i } else { i })),
        None => clean.parse::<f64>().ok().map(Value::Float),
    }
}
