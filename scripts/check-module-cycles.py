#!/usr/bin/env python3
"""Fails when the top-level modules (src/*.rs, src/*/) of the client, of the sandbox crate
(crates/sandbox/src) or of the tests' support crate (crates/test-support/src), depend on each
other in a cycle, or when clap is seen past the door.

A module depends on another when any of its files names `crate::OTHER` (or, in a file of the
crate's root directory, where `super` is the crate, `super::OTHER`). Cycles make the house
hard to change (issue 10); .ci/run runs this so a new one is caught when it is written.

The door (issue 25): only the command line's own files (`DOOR`) use clap or `crate::cli`; the
commands turn their `*Args` into plain options, so the modules that do the work never see a
parser type, and a flag's definition can change without touching them.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SOURCES = [
    os.path.join(ROOT, "src"),
    os.path.join(ROOT, "crates", "sandbox", "src"),
    os.path.join(ROOT, "crates", "test-support", "src"),
]


# The files that may use clap and `crate::cli`: the definitions, the entry point, the commands.
DOOR = ("cli.rs", "lib.rs", "main.rs", "commands" + os.sep)

# `crate::cli`, `super::cli`, `cli::X` in a grouped import; `clap::`, `clap_complete::`, `use clap`.
PAST_THE_DOOR = re.compile(r"\bcli::|\bcrate::cli\b|\bclap(?:_[a-z]+)?::|\buse\s+clap")

def modules(src):
    found = {}
    for name in os.listdir(src):
        path = os.path.join(src, name)
        if name.endswith(".rs") and name not in ("lib.rs", "main.rs"):
            found[name[:-3]] = [path]
        elif os.path.isdir(path):
            found[name] = [
                os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith(".rs")
            ]
    return found


def dependencies(src, mods):
    deps = {m: set() for m in mods}
    for m, files in mods.items():
        for path in files:
            at_root = os.path.dirname(os.path.abspath(path)) == os.path.abspath(src)
            pattern = r"(?:crate|super)::([a-z_][a-z0-9_]*)" if at_root else r"crate::([a-z_][a-z0-9_]*)"
            with open(path, encoding="utf-8") as f:
                for other in re.findall(pattern, f.read()):
                    if other in mods and other != m:
                        deps[m].add(other)
    return deps


def door_violations():
    """One line per use of clap or `crate::cli` outside the door (comment lines aside)."""
    found = []
    for d, _, fs in os.walk(SOURCES[0]):
        for f in sorted(fs):
            path = os.path.join(d, f)
            rel = os.path.relpath(path, SOURCES[0])
            if not f.endswith(".rs") or rel.startswith(DOOR):
                continue
            with open(path, encoding="utf-8") as text:
                for number, line in enumerate(text, 1):
                    if line.lstrip().startswith("//"):
                        continue
                    if PAST_THE_DOOR.search(line):
                        found.append((rel, number, line.strip()))
    return [
        f"src/{rel}:{number}: clap past the door (`{code}`): only src/cli.rs, src/lib.rs and "
        "src/commands/ use clap or crate::cli; take plain options instead"
        for rel, number, code in sorted(found)
    ]


def cycles(deps):
    state, found = {}, []

    def visit(m, stack):
        state[m] = "open"
        stack.append(m)
        for d in sorted(deps[m]):
            if state.get(d) == "open":
                found.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d, stack)
        stack.pop()
        state[m] = "done"

    for m in sorted(deps):
        if m not in state:
            visit(m, [])
    return found


if __name__ == "__main__":
    found = [c for src in SOURCES for c in cycles(dependencies(src, modules(src)))]
    for cycle in found:
        print("module cycle: " + " -> ".join(cycle), file=sys.stderr)
    door = door_violations()
    for line in door:
        print(line, file=sys.stderr)
    sys.exit(1 if found or door else 0)
