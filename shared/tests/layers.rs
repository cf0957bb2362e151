//! The layering `lib.rs` states, checked: every module imports only from its
//! own layer or the layers below it, and no two modules import each other,
//! directly or around a loop.
//!
//! It reads the sources as text (`crate::a::b` and `super::b` paths outside
//! `#[cfg(test)]` code: tests may use any layer to set up their data), so it
//! runs on stable in every `cargo test`, with no tool to install.
//! `cargo modules dependencies --acyclic` checks the same graph from the
//! compiler's view (see the README).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom up, as `lib.rs` lists them.
const LAYERS: &[&str] = &[
    "util",
    "logql",
    "store",
    "config",
    "web",
    "routes",
    "env",
    "model",
    "read",
    "auth",
    "jobs",
    "retention",
    "collect",
    "api",
    "spin",
    "fuzzing",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `api/dump.rs` -> ["api", "dump"]; `store/log/mod.rs` -> ["store", "log"].
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The code of a file before its test module, without comments (a doc
/// link to a higher layer is a pointer for the reader, not a dependency).
fn product_code(text: &str) -> String {
    let code = text.find("#[cfg(test)]").map_or(text, |i| &text[..i]);
    code.lines()
        .map(|l| l.split_once("//").map_or(l, |(before, _)| before))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules a file's code names: `crate::a::b...` as `a::b`, and
/// `super::b` resolved against the file's own module. Only the first two
/// levels count: that is the grain of the graph.
fn references(module: &[String], code: &str) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> Vec<String> {
        s.split("::")
            .map(|p| {
                p.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|p| !p.is_empty() && p.chars().next().is_some_and(|c| c.is_lowercase()))
            .take(2)
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        let path = ident(&code[i + "crate::".len()..]);
        if !path.is_empty() {
            out.insert(path);
        }
    }
    for (i, _) in code.match_indices("super::") {
        // `super` of `a::b` (file a/b.rs) is `a`; of `a` (a/mod.rs) is the root.
        let mut base: Vec<String> = module.to_vec();
        base.pop();
        let rest = ident(&code[i + "super::".len()..]);
        base.extend(rest);
        base.truncate(2);
        if !base.is_empty() {
            out.insert(base);
        }
    }
    out
}

fn layer(module: &[String]) -> usize {
    let top = module.first().map(String::as_str).unwrap_or_default();
    LAYERS
        .iter()
        .position(|l| *l == top)
        .unwrap_or_else(|| panic!("module {top:?} is in no layer: add it to lib.rs and LAYERS"))
}

fn graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for file in files {
        let mut module = module_of(&src, &file);
        if module.is_empty() {
            continue; // lib.rs only declares the layers
        }
        let text = std::fs::read_to_string(&file).expect("readable");
        let refs = references(&module, &product_code(&text));
        module.truncate(2);
        let node = graph.entry(module.clone()).or_default();
        for r in refs {
            // A module's own children and parent are its own business.
            if r != module && !(r.len() == 1 && module.first() == r.first()) {
                node.insert(r);
            }
        }
    }
    graph
}

#[test]
fn every_module_imports_only_from_layers_below_or_its_own() {
    let mut wrong = Vec::new();
    for (module, refs) in graph() {
        for r in refs {
            if layer(&r) > layer(&module) {
                wrong.push(format!("{} -> {}", module.join("::"), r.join("::")));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports up the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_module_imports_around_a_loop() {
    let graph = graph();
    // Depth-first search; a back edge is a cycle.
    fn visit(
        node: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        match state.get(node) {
            Some(2) => return None,
            Some(1) => {
                let at = stack.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle = stack[at..].to_vec();
                cycle.push(node.clone());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(node.clone(), 1);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, state, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        state.insert(node.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut state, &mut Vec::new()) {
            let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
            panic!("import cycle: {}", names.join(" -> "));
        }
    }
    assert!(
        graph.len() > 30,
        "the graph was read: {} modules",
        graph.len()
    );
}
