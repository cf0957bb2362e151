//! A template run on one entry: its labels are the data (`.name`), its
//! line and time are `__line__` and `__timestamp__`; a missing label is
//! the empty string (Loki's `missingkey=zero`).

use super::{Arg, MAX_OUTPUT, Node, Pipe, Value, funcs, too_long};
use crate::logql::Labels;

/// What a template reads: one entry.
pub(crate) struct Entry<'a> {
    pub labels: &'a Labels,
    pub line: &'a str,
    /// Nanoseconds since the epoch.
    pub ts: i64,
}

/// The most steps one run may take, a step being a node run (text, action
/// or block) or a loop turn: a template of nested `range`s over large
/// counts would otherwise spin for as long as the host lets it, writing
/// nothing. Far more than a line's template needs.
const MAX_STEPS: u32 = 100_000;

/// The error for a run past [`MAX_STEPS`].
fn too_many_steps() -> String {
    format!("template takes more than {MAX_STEPS} steps")
}

/// What `.` is: the entry's labels, or a value a `range`/`with` set.
#[derive(Clone)]
enum Dot {
    Root,
    Val(Value),
}

struct State<'a, 'e> {
    entry: &'a Entry<'e>,
    vars: Vec<(String, Value)>,
    /// Steps taken so far (see [`MAX_STEPS`]).
    steps: u32,
}

pub(super) fn run(nodes: &[Node], entry: &Entry, out: &mut String) -> Result<(), String> {
    let mut s = State {
        entry,
        vars: Vec::new(),
        steps: 0,
    };
    s.nodes(nodes, &Dot::Root, out)
}

impl State<'_, '_> {
    /// Counts one step, or errs once a run has taken [`MAX_STEPS`].
    fn step(&mut self) -> Result<(), String> {
        self.steps += 1;
        match self.steps > MAX_STEPS {
            true => Err(too_many_steps()),
            false => Ok(()),
        }
    }

    fn nodes(&mut self, nodes: &[Node], dot: &Dot, out: &mut String) -> Result<(), String> {
        for n in nodes {
            self.node(n, dot, out)?;
            if out.len() > MAX_OUTPUT {
                return Err(too_long("template output"));
            }
        }
        Ok(())
    }

    fn node(&mut self, node: &Node, dot: &Dot, out: &mut String) -> Result<(), String> {
        self.step()?;
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => {
                let v = self.pipe(p, dot)?;
                if p.vars.is_empty() {
                    out.push_str(&v.print());
                }
            }
            Node::If {
                branches,
                otherwise,
            } => {
                let mark = self.vars.len();
                let mut taken = None;
                for (cond, body) in branches {
                    if self.pipe(cond, dot)?.truthy() {
                        taken = Some(body);
                        break;
                    }
                }
                self.nodes(taken.unwrap_or(otherwise), dot, out)?;
                self.vars.truncate(mark);
            }
            Node::With {
                pipe,
                body,
                otherwise,
            } => {
                let mark = self.vars.len();
                let v = self.pipe(pipe, dot)?;
                if v.truthy() {
                    self.nodes(body, &Dot::Val(v), out)?;
                } else {
                    self.nodes(otherwise, dot, out)?;
                }
                self.vars.truncate(mark);
            }
            Node::Range {
                pipe,
                body,
                otherwise,
            } => self.range(pipe, body, otherwise, dot, out)?,
        }
        Ok(())
    }

    fn range(
        &mut self,
        pipe: &Pipe,
        body: &[Node],
        otherwise: &[Node],
        dot: &Dot,
        out: &mut String,
    ) -> Result<(), String> {
        let plain = Pipe {
            vars: vec![],
            cmds: pipe.cmds.clone(),
        };
        let items: Vec<(Value, Value)> = match self.pipe(&plain, dot)? {
            Value::List(l) => l
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v))
                .collect(),
            Value::Map(m) => m.into_iter().map(|(k, v)| (Value::Str(k), v)).collect(),
            // More turns than steps left: refused before the list is built.
            Value::Int(n) if n > i64::from(MAX_STEPS.saturating_sub(self.steps)) => {
                return Err(too_many_steps());
            }
            Value::Int(n) => (0..n.max(0))
                .map(|i| (Value::Int(i), Value::Int(i)))
                .collect(),
            Value::Nil => vec![],
            other => return Err(format!("range can't iterate over {}", other.print())),
        };
        if items.is_empty() {
            return self.nodes(otherwise, dot, out);
        }
        for (k, v) in items {
            self.step()?;
            let mark = self.vars.len();
            match pipe.vars.as_slice() {
                [] => {}
                [one] => self.vars.push((one.clone(), v.clone())),
                [key, val, ..] => {
                    self.vars.push((key.clone(), k));
                    self.vars.push((val.clone(), v.clone()));
                }
            }
            self.nodes(body, &Dot::Val(v), out)?;
            self.vars.truncate(mark);
            if out.len() > MAX_OUTPUT {
                return Err(too_long("template output"));
            }
        }
        Ok(())
    }

    fn pipe(&mut self, p: &Pipe, dot: &Dot) -> Result<Value, String> {
        let mut last: Option<Value> = None;
        for cmd in &p.cmds {
            last = Some(self.command(cmd, last, dot)?);
        }
        let v = last.unwrap_or(Value::Nil);
        for name in &p.vars {
            match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = v.clone(),
                None => self.vars.push((name.clone(), v.clone())),
            }
        }
        Ok(v)
    }

    fn command(&mut self, args: &[Arg], piped: Option<Value>, dot: &Dot) -> Result<Value, String> {
        let Some(first) = args.first() else {
            return Err("empty command".into());
        };
        if let Arg::Func(name) = first {
            let mut vals = Vec::with_capacity(args.len());
            for a in &args[1..] {
                vals.push(self.arg(a, dot)?);
            }
            vals.extend(piped);
            return self.call(name, vals);
        }
        if args.len() > 1 || piped.is_some() {
            return Err(format!(
                "can't give argument to non-function {}",
                describe(first)
            ));
        }
        self.arg(first, dot)
    }

    /// Calls function `name`; `and`/`or` evaluate lazily in Go, but their
    /// operands here have no side effects, so evaluating all is the same.
    fn call(&self, name: &str, args: Vec<Value>) -> Result<Value, String> {
        match name {
            "__line__" => Ok(Value::Str(self.entry.line.to_owned())),
            "__timestamp__" => Ok(Value::Time(self.entry.ts)),
            _ => match funcs::call(name, args)? {
                Value::Str(s) if s.len() > MAX_OUTPUT => Err(too_long(name)),
                v => Ok(v),
            },
        }
    }

    fn arg(&mut self, a: &Arg, dot: &Dot) -> Result<Value, String> {
        match a {
            Arg::Lit(v) => Ok(v.clone()),
            Arg::Dot => Ok(self.dot_value(dot)),
            Arg::Field(chain) => {
                let first = match dot {
                    Dot::Root => Value::Str(
                        self.entry
                            .labels
                            .get(&chain[0])
                            .cloned()
                            .unwrap_or_default(),
                    ),
                    Dot::Val(v) => v.field(&chain[0])?,
                };
                fields(first, &chain[1..])
            }
            Arg::Var(name, chain) => {
                let v = if name == "$" {
                    self.dot_value(&Dot::Root)
                } else {
                    self.vars
                        .iter()
                        .rev()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                        .ok_or_else(|| format!("undefined variable: {name}"))?
                };
                fields(v, chain)
            }
            Arg::Func(name) => self.call(name, vec![]),
            Arg::Sub(p, chain) => {
                let v = self.pipe(p, dot)?;
                fields(v, chain)
            }
        }
    }

    fn dot_value(&self, dot: &Dot) -> Value {
        match dot {
            Dot::Root => Value::Map(crate::util::sort::collect(
                self.entry
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::Str(v.clone()))),
            )),
            Dot::Val(v) => v.clone(),
        }
    }
}

fn fields(mut v: Value, chain: &[String]) -> Result<Value, String> {
    for f in chain {
        v = v.field(f)?;
    }
    Ok(v)
}

fn describe(a: &Arg) -> String {
    match a {
        Arg::Field(f) => format!(".{}", f.join(".")),
        Arg::Var(v, _) => v.clone(),
        Arg::Lit(v) => v.print(),
        _ => "operand".into(),
    }
}
