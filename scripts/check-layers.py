#!/usr/bin/env python3
"""Fails when modules of the crate import each other in a cycle.

Reads every `src/**/*.rs` (test-only items left out: `#[cfg(test)]` items may reach up to the
layer for a test's set-up), resolves `crate::…`, `super::…` and names re-exported at the crate
root to the module that holds them, and checks two levels:

- the top-level modules (`spec`, `hit`, `pipeline`, …): the graph between them must be acyclic;
- inside each folder, its files (`pipeline/worker.rs` → `pipeline/delivery.rs`, …): likewise.

Prints the top-level modules in an order where each imports only modules listed before it.
Usage: python3 scripts/check-layers.py [src-dir]
"""

import re
import sys
from collections import defaultdict
from pathlib import Path

SRC = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent.parent / "src")

PATH_RE = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE_RE = re.compile(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?use\s+([^;]+);", re.S | re.M)


def module_of(path: Path) -> list[str]:
    """`src/pipeline/worker.rs` → ["pipeline", "worker"]; `mod.rs` and `lib.rs` name their folder."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return parts


def strip_comments_and_tests(text: str) -> str:
    """Removes comments, string literals and `#[cfg(test)]`/`#[cfg(all(test …))]` items."""
    # One pass, so that a `//` inside a string and a quote inside a comment are both read right.
    lexeme = re.compile(
        r"//[^\n]*|/\*.*?\*/|b?'(?:\\.|[^'\\])'|r(#*)\".*?\"\1|\"(?:\\.|[^\"\\])*\"", re.S
    )
    text = lexeme.sub(lambda m: "" if m.group(0).startswith("/") else '""', text)
    out, i = [], 0
    test_attr = re.compile(r"#\[cfg\((?:test|all\(test[^\]]*\)|any\(test[^\]]*\))\)\]")
    while True:
        m = test_attr.search(text, i)
        if not m:
            out.append(text[i:])
            break
        out.append(text[i : m.start()])
        # Skip the item the attribute applies to: up to its `;` or its matching `}`.
        j, depth = m.end(), 0
        while j < len(text):
            c = text[j]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    j += 1
                    break
            elif c == ";" and depth == 0:
                j += 1
                break
            j += 1
        i = j
    return "".join(out)


def expand_use(tree: str) -> list[str]:
    """`a::{b, c::{d}}` → ["a::b", "a::c::d"] (enough of Rust's use-tree for this purpose)."""
    tree = re.sub(r"\s+as\s+[A-Za-z_][A-Za-z0-9_]*", "", tree)
    tree = re.sub(r"\s+", "", tree)
    depth, start, items = 0, 0, []
    brace = tree.find("{")
    if brace < 0:
        return [tree]
    prefix, inner = tree[:brace], tree[brace + 1 : tree.rfind("}")]
    for k, c in enumerate(inner + ","):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "," and depth == 0:
            part = inner[start:k]
            start = k + 1
            if part:
                items.extend(prefix + p for p in expand_use(part))
    return items


def main() -> int:
    files = sorted(SRC.rglob("*.rs"))
    modules = {tuple(module_of(f)) for f in files}
    # Names the crate root re-exports, resolved to where they live.
    root_names: dict[str, tuple[str, ...]] = {}
    lib = strip_comments_and_tests((SRC / "lib.rs").read_text())
    for m in USE_RE.finditer(lib):
        for p in expand_use(m.group(1)):
            segs = [s.split(" as ")[0] for s in p.split("::")]
            if segs[0] == "crate":
                segs = segs[1:]
            if segs and segs[0] and tuple(segs[:1]) in modules:
                root_names[segs[-1]] = tuple(segs[:-1])

    def resolve_crate(segs: list[str]) -> tuple[str, ...]:
        if segs and segs[0] in root_names:
            return root_names[segs[0]]
        return next(
            (tuple(segs[:n]) for n in range(len(segs), 0, -1) if tuple(segs[:n]) in modules), ()
        )

    top = defaultdict(set)  # top-level module → top-level modules it uses
    inner = defaultdict(set)  # (folder, file module) → sibling file modules it uses
    for f in files:
        here = tuple(module_of(f))
        if not here:
            continue  # lib.rs: the root re-exports everything
        is_mod_file = f.name == "mod.rs"
        text = strip_comments_and_tests(f.read_text())
        refs = []
        for m in USE_RE.finditer(text):
            for p in expand_use(m.group(1)):
                segs = [s.split(" as ")[0] for s in p.split("::")]
                if segs[0] in ("crate", "super", "self"):
                    refs.append((segs[0], segs[1:]))
        for m in PATH_RE.finditer(text):
            refs.append((m.group(1), m.group(2).split("::")[1:]))
        for head, segs in refs:
            if head == "self":
                target = here + tuple(segs)
                target = next(
                    (target[:n] for n in range(len(target), 0, -1) if target[:n] in modules), ()
                )
            elif head == "super":
                base = list(here[:-1])  # `here` is the module's path, mod.rs files included
                while segs and segs[0] == "super":
                    base, segs = base[:-1], segs[1:]
                path = base + segs
                target = next(
                    (tuple(path[:n]) for n in range(len(path), 0, -1) if tuple(path[:n]) in modules),
                    (),
                )
            else:
                target = resolve_crate(segs)
            if not target:
                continue
            if target[0] != here[0]:
                top[here[0]].add(target[0])
            elif len(here) >= 2 and len(target) >= 2 and target[:-1] == here[:-1] and target != here:
                # Siblings in one folder, and a file using its folder's mod.rs counts too.
                inner[tuple(here[:-1])].add((here[-1], target[-1]))
            elif len(here) >= 2 and len(target) == len(here) - 1 and target == here[:-1]:
                inner[tuple(here[:-1])].add((here[-1], "mod"))

    failed = False

    def find_cycle(graph: dict[str, set[str]]):
        state, stack = {}, []

        def visit(n):
            state[n] = 1
            stack.append(n)
            for m in sorted(graph.get(n, ())):
                if state.get(m) == 1:
                    return stack[stack.index(m) :] + [m]
                if m not in state:
                    c = visit(m)
                    if c:
                        return c
            stack.pop()
            state[n] = 2
            return None

        for n in sorted(graph):
            if n not in state:
                c = visit(n)
                if c:
                    return c
        return None

    cycle = find_cycle(top)
    if cycle:
        failed = True
        print("import cycle between top-level modules: " + " -> ".join(cycle))
    for folder, edges in sorted(inner.items()):
        g = defaultdict(set)
        for a, b in edges:
            # A folder's mod.rs declares and re-exports its files: only its code counts, so an
            # edge into `mod` from a file and out of `mod` to that file is the usual shape.
            g[a].add(b)
        g.pop("mod", None)
        c = find_cycle(g)
        if c:
            failed = True
            print(f"import cycle inside {'/'.join(folder)}/: " + " -> ".join(c))
    if failed:
        return 1
    # A layer order: each module imports only modules before it.
    order, done = [], set()
    names = sorted({m[0] for m in modules if m})
    while len(order) < len(names):
        for n in names:
            if n not in done and top.get(n, set()) <= done:
                order.append(n)
                done.add(n)
                break
    print("no import cycles; layers, bottom first:")
    for n in order:
        uses = ", ".join(sorted(top.get(n, ()))) or "-"
        print(f"  {n:<12} uses {uses}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
