//! `line_format` and `label_format` templates: the part of Go's
//! `text/template` Loki's documentation and Grafana's users write, with
//! Loki's functions.
//!
//! Loki runs these with Go's engine, so a query copied from its docs or from
//! Grafana uses actions (`{{ .label }}`, pipes `{{ .a | lower }}`, calls
//! `{{ printf "%-10s" .a }}`), `if`/`else if`/`else`, `range` over
//! `fromJson`, variables (`$q := ...`, `$q.field`), comments and the `{{-`
//! `-}}` trim markers. A template is parsed once per query; running it on
//! an entry allocates only the output. What is not here (`define`,
//! `template`, `block`, `with`'s `else with`) is refused at parse time with
//! the position of the action, never silently misread.
//!
//! | module | job |
//! |---|---|
//! | `lex` | an action's text into tokens |
//! | `parse` | tokens into the tree below |
//! | `eval` | the tree run on one entry's labels, line and time |
//! | `funcs` | Loki's functions (its own, sprig's and Go's builtins) |
//! | `value` | the values a template computes with, printed as Go prints them |
//! | `gotime` | Go's reference-time layouts (`2006-01-02`), in UTC |

mod eval;
mod funcs;
mod gotime;
mod lex;
mod parse;
mod value;

pub(crate) use eval::Entry;
pub(crate) use value::Value;

/// The longest string a template may build, and the most it may write for
/// one entry: a runaway `range`, `repeat` or `replace` stops here with an
/// error rather than asking the component for more memory than it has.
const MAX_OUTPUT: usize = 1 << 20;

/// The error for a value that would pass [`MAX_OUTPUT`].
fn too_long(what: &str) -> String {
    format!("{what}: the result would exceed 1 MiB")
}

/// A parsed template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    nodes: Vec<Node>,
    /// `{{ .name }}` and nothing else: the value is copied without running
    /// the engine (the common `line_format "{{.msg}}"`).
    simple: Option<String>,
}

/// A piece of a template.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    If {
        branches: Vec<(Pipe, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    Range {
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

/// `$a, $b := cmd | cmd`: commands whose output feeds the next one's last
/// argument, and the variables it declares (or assigns, with `=`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Pipe {
    pub vars: Vec<String>,
    pub cmds: Vec<Vec<Arg>>,
}

/// An operand of a command.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// `.a.b`: a label (the data is the labels), then fields of its value.
    Field(Vec<String>),
    /// `.`: the data itself.
    Dot,
    /// `$x.a`: a variable, then fields.
    Var(String, Vec<String>),
    Lit(Value),
    /// A function name.
    Func(String),
    /// `( pipe )`, then fields.
    Sub(Box<Pipe>, Vec<String>),
}

/// Why a template does not parse: the byte offset in the template, and a message.
pub(crate) type TemplateError = (usize, String);

impl Template {
    /// Parses `src`; `what` names the stage in messages (`line_format`).
    pub(crate) fn parse(src: &str) -> Result<Template, TemplateError> {
        let nodes = parse::parse(src)?;
        let simple = match nodes.as_slice() {
            [Node::Action(p)] if p.vars.is_empty() && p.cmds.len() == 1 => {
                match p.cmds[0].as_slice() {
                    [Arg::Field(f)] if f.len() == 1 => Some(f[0].clone()),
                    _ => None,
                }
            }
            _ => None,
        };
        Ok(Template { nodes, simple })
    }

    /// Runs the template on one entry; an error is what Loki marks the
    /// entry with (`__error__=TemplateFormatErr`, the line unchanged).
    pub(crate) fn render(&self, entry: &Entry) -> Result<String, String> {
        if let Some(name) = &self.simple {
            return Ok(entry.labels.get(name).cloned().unwrap_or_default());
        }
        let mut out = String::new();
        eval::run(&self.nodes, entry, &mut out)?;
        Ok(out)
    }

    /// The label names the template reads (`.name`), for the docs' and
    /// the engine's hints.
    #[cfg(test)]
    pub(crate) fn is_simple(&self) -> bool {
        self.simple.is_some()
    }
}

#[cfg(test)]
mod tests;
