#!/usr/bin/env python3
"""Checks the shape every module crate shares (README, "Inside a module"):

- no import cycle between the files of a crate (a file "uses" another when it names an
  item through `crate::…`, `super::…` or a `mod` path of its own; `mod x;` lines,
  re-exports and `#[cfg(test)]` code do not count). lib.rs is the entry point that
  wires the files together, and the module's handle type it defines (`Shop`, `Partner`)
  may be named by any file, so uses of lib.rs itself are not edges;
- no source file longer than LIMIT lines, not counting its `#[cfg(test)]` unit tests;
- every module crate has lib.rs, domain.rs (or domain/), entities.rs, migration.rs, http.rs.

Usage: .ci/module-graph.py [crates dir]   (exit 1 and a list of findings on failure)
"""
import os
import re
import sys

LIMIT = 600
# Every crate is a module crate except the foundation, the binary and the test kit.
NOT_MODULES = {"kernel", "infra", "server", "testkit", "web"}  # web: pages over the modules, not a module
LAYOUT = ["lib.rs", "domain", "entities.rs", "migration.rs", "http.rs"]
PATH = re.compile(r"\b(crate|super|self)((?:::\w+)+)")
GROUP = re.compile(r"\b(crate|super|self)::((?:\w+::)*)\{([^}]*)\}", re.S)


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("lib", "mod"):
        rel = rel[:-1]
    return tuple(rel)


def without_tests(text):
    """A file up to its `#[cfg(test)]` unit tests (which Rust keeps at the end)."""
    cut = text.find("#[cfg(test)]")
    return text if cut < 0 else text[:cut]


def code_of(path):
    text = without_tests(open(path).read())
    text = re.sub(r"//[^\n]*", "", text)
    return "\n".join(l for l in text.splitlines() if not re.match(r"\s*(pub(\(\w+\))?\s+)?mod \w+;", l))


def resolve(current, anchor, segments, modules, reexports):
    target = {"crate": (), "self": current, "super": current[:-1]}[anchor]
    for seg in segments:
        if target + (seg,) in modules:
            target = target + (seg,)
        else:
            # an item a parent re-exports (`pub use child::Item`) belongs to the child
            return reexports.get((target, seg), target)
    return target


def crate_graph(src):
    files = {}
    for root, _, names in os.walk(src):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(root, n)
                files[module_of(src, p)] = p
    modules = set(files)
    reexports = {}
    for m, p in files.items():
        for prefix, group, single in re.findall(
            r"pub use (?:self::)?((?:\w+::)+)(?:\{([^}]*)\}|(\w+))", open(p).read()
        ):
            segs = [x for x in prefix.split("::") if x]
            child = m
            for seg in segs:
                if child + (seg,) in modules:
                    child = child + (seg,)
            if child == m:
                continue
            for item in (group.split(",") if group else [single]):
                item = item.strip().split(" as ")[-1].strip()
                if item:
                    reexports[(m, item)] = child
    edges = {m: set() for m in modules}
    for m, p in files.items():
        is_dir = os.path.basename(p) in ("lib.rs", "mod.rs")
        code = re.sub(r"pub use [^;]*;", "", code_of(p))
        refs = []
        for anchor, prefix, items in GROUP.findall(code):
            for item in items.split(","):
                item = item.strip().split(" as ")[0]
                if item:
                    refs.append((anchor, [s for s in prefix.split("::") if s] + item.split("::")))
        for anchor, rest in PATH.findall(code):
            refs.append((anchor, [s for s in rest.split("::") if s]))
        # a bare `child::item` path in a directory module (lib.rs / mod.rs) names its child
        if is_dir:
            for seg in re.findall(r"(?<![:\w])(\w+)::", code):
                if m + (seg,) in modules:
                    refs.append(("self", [seg]))
        for anchor, segs in refs:
            t = resolve(m, anchor, segs, modules, reexports)
            if t != m and t != ():
                edges[m].add(t)
    return files, edges


def cycles(edges):
    found, state, stack = [], {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for t in sorted(edges[n]):
            if state.get(t) == 1:
                found.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n)
    return found


def name(m):
    return "::".join(m) or "lib"


def main():
    crates = sys.argv[1] if len(sys.argv) > 1 else "crates"
    problems = []
    for c in sorted(os.listdir(crates)):
        src = os.path.join(crates, c, "src")
        if not os.path.isdir(src):
            continue
        files, edges = crate_graph(src)
        for cyc in cycles(edges):
            problems.append(f"{c}: import cycle {' -> '.join(map(name, cyc))}")
        for m, p in files.items():
            n = without_tests(open(p).read()).count("\n")
            if n > LIMIT:
                problems.append(f"{p}: {n} lines (split it: at most {LIMIT})")
        if c not in NOT_MODULES:
            for want in LAYOUT:
                if not (os.path.exists(os.path.join(src, want)) or os.path.exists(os.path.join(src, want + ".rs"))):
                    problems.append(f"{c}: no src/{want}{'' if want.endswith('.rs') else '.rs'}")
    for p in problems:
        print(p)
    if problems:
        sys.exit(1)
    print(f"module shape: ok ({crates})")


if __name__ == "__main__":
    main()
