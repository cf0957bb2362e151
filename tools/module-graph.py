#!/usr/bin/env python3
"""The library's module graph, from the compiler's view, checked for layering.

`cargo modules dependencies` (cargo-modules 0.27, the last release that builds
on the pinned 1.95 toolchain) prints item-level "uses" edges; its own
`--acyclic` is item-level too, so it flags a type and its own `impl` as a
cycle. This folds every item into its module (two levels deep: `store::log`,
`api::dump`, the grain of the layers in lib.rs) and checks that no module
imports from a layer above its own and that no modules import each other
around a loop. shared/tests/layers.rs checks the same rule in `cargo test`,
from the sources.

    cargo install cargo-modules --version 0.27.0 --locked
    cargo modules dependencies -p spin-logs --lib --no-externs --no-sysroot --no-owns > /tmp/g.dot
    python3 tools/module-graph.py /tmp/g.dot
"""
import re,sys,collections
dot=open(sys.argv[1]).read()
kinds={}
for m in re.finditer(r'^\s*"([^"]+)" \[label="([^"|]*)\|',dot,re.M):
    kinds[m.group(1)]=m.group(2)
mods={n for n,k in kinds.items() if k.endswith('mod') or k=='crate'}
def module_of(n):
    parts=n.split('::')
    while '::'.join(parts) not in mods and len(parts)>1: parts.pop()
    return parts[1:3]  # drop crate name; depth 2
edges=collections.defaultdict(set)
for m in re.finditer(r'"([^"]+)" -> "([^"]+)" \[label="uses"',dot):
    a,b=module_of(m.group(1)),module_of(m.group(2))
    if not a or not b or a==b: continue
    if len(b)==1 and b[0]==a[0]: continue     # child -> its own parent
    edges['::'.join(a)].add('::'.join(b))
LAYERS=["util","store","config","web","env","model","read","auth","jobs","api","spin","fuzzing"]
up=[(a,b) for a in edges for b in edges[a] if LAYERS.index(b.split('::')[0])>LAYERS.index(a.split('::')[0])]
print("modules:",len(set(edges)|{b for v in edges.values() for b in v}),"edges:",sum(len(v) for v in edges.values()))
print("edges up the layers:",up or "none")
state={};cycle=None
def visit(n,stack):
    global cycle
    if state.get(n)==2 or cycle: return
    if state.get(n)==1:
        cycle=stack[stack.index(n):]+[n]; return
    state[n]=1; stack.append(n)
    for m in sorted(edges.get(n,())): visit(m,stack)
    stack.pop(); state[n]=2
for n in sorted(edges): visit(n,[])
print("cycles:", " -> ".join(cycle) if cycle else "none")
sys.exit(1 if up or cycle else 0)
