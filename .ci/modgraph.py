#!/usr/bin/env python3
"""The hand-written module graph of `src/`, drawn from the code's own imports.

Each top-level module of the crate (`src/NAME.rs` or `src/NAME/`) is a node; an edge A -> B means
some file of A names `crate::B` (in a `use`, a path, or a doc link's target is NOT counted: only
code outside comments). Prints the edges and the strongly connected components with more than
one module (the cycles). With `--check`, exits 1 if any cycle is not in ALLOWED.

The generated code (`generated`) and the `client`/`retry` pair form the one cycle the generator
forces: progenitor's `Client` holds our `client::Inner`, and its hook calls into `retry`.
"""
import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
# Cycles the generated code forces: the generated Client names client::Inner and the hook in
# retry; client builds the generated Client; retry's hook reads the client's state.
ALLOWED = [{"client", "generated", "retry"}]
SKIP = {"testing", "lib"}
GENERATED_EDGES = {
    "generated": {"client", "decode", "open_enum", "retry", "summary", "types"},
    "types": {"lenient", "open_enum", "redact"},
}


def module_of(path):
    rel = os.path.relpath(path, SRC)
    head = rel.split(os.sep)[0]
    return head[:-3] if head.endswith(".rs") else head


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def graph():
    edges = {}
    for root, _, files in os.walk(SRC):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(root, name)
            src_mod = module_of(path)
            if src_mod in SKIP:
                continue
            code = strip_comments(open(path, encoding="utf-8").read())
            # Drop unit-test modules: a test may reach anywhere.
            code = code.split("#[cfg(test)]")[0]
            targets = set(re.findall(r"crate::([a-z_][a-z0-9_]*)", code))
            # `use crate::{a, b::c}` groups.
            for group in re.findall(r"crate::\{([^}]*)\}", code):
                targets |= set(re.findall(r"(?:^|,)\s*([a-z_][a-z0-9_]*)", group))
            # The generated files live in $OUT_DIR; their edges, read off them once (grep
            # `crate::` in codegen.rs and types.rs), are written here. `generated` also needs
            # `retry`, whose `impl ClientHooks for Client` every generated call goes through.
            targets |= GENERATED_EDGES.get(src_mod, set())
            # `crate::Client`, `crate::builder`, `crate::ResponseValue` are re-exports of the
            # generated module.
            if src_mod != "generated" and (
                re.search(r"crate::(Client|builder|ResponseValue)\b", code)
                or re.search(r"crate::\{[^}]*\b(Client|builder|ResponseValue)\b", code)
            ):
                targets.add("generated")
            edges.setdefault(src_mod, set())
            for t in targets:
                if os.path.exists(os.path.join(SRC, t + ".rs")) or os.path.isdir(os.path.join(SRC, t)):
                    if t != src_mod and t not in SKIP:
                        edges[src_mod].add(t)
    # Names re-exported at the crate root (Client, types, builder) live in `generated`.
    for m, ts in edges.items():
        pass
    return edges


def sccs(edges):
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            out.append(comp)

    for v in list(edges):
        if v not in index:
            visit(v)
    return [c for c in out if len(c) > 1]


def main():
    edges = graph()
    for m in sorted(edges):
        print(f"{m:14} -> {', '.join(sorted(edges[m])) or '(nothing)'}")
    cycles = sccs(edges)
    bad = [c for c in cycles if c not in ALLOWED]
    if "--layers" in sys.argv:
        print_layers(edges, cycles)
    for c in cycles:
        tag = "allowed (forced by the generated code)" if c in ALLOWED else "CYCLE"
        print(f"{tag}: {' <-> '.join(sorted(c))}")
    if "--check" in sys.argv and bad:
        print("module cycles beyond the allowed ones: see the README's architecture section", file=sys.stderr)
        sys.exit(1)


def print_layers(edges, cycles):
    """Each module's layer: 0 for one that depends on nothing of ours, else one more than the
    highest layer it depends on (a cycle counts as one node)."""
    comp = {m: frozenset([m]) for m in edges}
    for c in cycles:
        for m in c:
            comp[m] = frozenset(c)
    level = {}

    def lv(c):
        if c in level:
            return level[c]
        level[c] = 0  # guards against a cycle not folded (cannot happen after SCCs)
        deps = {comp[t] for m in c for t in edges.get(m, ()) if comp.get(t, frozenset([t])) != c}
        level[c] = 1 + max((lv(d) for d in deps), default=-1)
        return level[c]

    by_level = {}
    for c in set(comp.values()):
        by_level.setdefault(lv(c), []).append(" <-> ".join(sorted(c)))
    for n in sorted(by_level):
        print(f"layer {n}: {', '.join(sorted(by_level[n]))}")


if __name__ == "__main__":
    main()
