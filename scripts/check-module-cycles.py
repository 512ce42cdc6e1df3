#!/usr/bin/env python3
"""Fails when modules of a crate import each other, directly or round a longer loop.

Reads every `use crate::...` (and `crate::...` paths in code) under each `src/` given
(default: gateway/src), resolves each to the file of the deepest module it names, and looks
for cycles among files. Two modules that import each other usually mean one lifecycle split
between them (see docs/ARCHITECTURE.md).

Usage: scripts/check-module-cycles.py [crate/src ...]
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# `crate::a::b` anywhere: in `use` lines, brace groups and paths written out in code.
CRATE_PATH = re.compile(r"\bcrate((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE_GROUP = re.compile(
    r"\buse\s+crate::(?:([A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)::)?\{([^;]*)\}\s*;",
    re.S)


def module_file(src, parts):
    """The file of the deepest module in `parts` that exists under `src`, or None."""
    for end in range(len(parts), 0, -1):
        base = os.path.join(src, *parts[:end])
        for candidate in (base + ".rs", os.path.join(base, "mod.rs")):
            if os.path.isfile(candidate):
                return candidate
    return None


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def edges_of(src, path):
    text = strip_comments(open(path, encoding="utf-8").read())
    # Stop at the unit tests: they may use anything.
    text = text.split("#[cfg(test)]", 1)[0]
    targets = set()
    for match in USE_GROUP.finditer(text):
        prefix = match.group(1).split("::") if match.group(1) else []
        for item in re.split(r"[,\s]+", match.group(2)):
            item = item.strip().split(" as ")[0].strip("{}")
            parts = prefix + [p for p in item.split("::") if p and p != "self"]
            target = module_file(src, parts)
            if target:
                targets.add(target)
    for match in CRATE_PATH.finditer(USE_GROUP.sub("", text)):
        target = module_file(src, match.group(1).strip(":").split("::"))
        if target:
            targets.add(target)
    targets.discard(path)
    return targets


def find_cycle(graph):
    """One cycle as a list of nodes, or None."""
    state = {}
    stack = []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def main():
    sources = sys.argv[1:] or ["gateway/src"]
    failed = False
    for src in sources:
        src = os.path.join(ROOT, src)
        graph = {}
        for directory, _, files in os.walk(src):
            for name in files:
                if name.endswith(".rs"):
                    path = os.path.join(directory, name)
                    graph[path] = edges_of(src, path)
        cycle = find_cycle(graph)
        if cycle:
            failed = True
            names = " -> ".join(os.path.relpath(p, ROOT) for p in cycle)
            print(f"import cycle: {names}", file=sys.stderr)
        else:
            print(f"no import cycles in {os.path.relpath(src, ROOT)} ({len(graph)} files)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
