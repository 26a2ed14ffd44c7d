#!/usr/bin/env python3
"""Fails when modules of one crate depend on each other in a circle.

For every crate under crates/*/src, this reads the module tree (from lib.rs or main.rs
through `mod x;` declarations and inline `mod x { ... }` blocks) and every path a module
names: `use` trees and inline paths starting with `crate::`, `super::`, `self::` or a
module name a `use` brought in. A reference from anywhere inside module `a` to anywhere
inside a module `b` that is neither `a`'s ancestor nor its descendant is an edge between
the two children of their nearest common ancestor that contain them, so `routes/cache.rs`
naming `crate::routes::batch::X` is the edge cache -> batch under `routes`. A parent
naming its children, or a child naming its parent's items (`super::Thing`), is not an
edge: that is how layers are meant to look.

Every strongly connected component of more than one module is reported with the lines
that make each of its edges; the exit status is 1 if there is any.

It is a tokenizer, not a Rust parser: comments and string literals are skipped (so
`#[serde(with = "...")]` paths are not seen), macro bodies are read as ordinary tokens,
`$crate::` paths are skipped, and `#[cfg(test)] mod name { ... }` blocks are left out,
since test code naming its siblings does not shape the library's layers.

    python3 scripts/check-module-cycles.py              # the repository's crates
    python3 scripts/check-module-cycles.py --root DIR   # the crates under DIR/crates
    python3 scripts/check-module-cycles.py --self-test  # the detector on a made-up tree
"""

from __future__ import annotations

import argparse
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path

# ---------------------------------------------------------------------------------------
# Tokens


@dataclass(frozen=True)
class Tok:
    kind: str  # "id", "str", "punct", "num"
    text: str
    line: int


RAW_STRING_PREFIXES = ("r", "br", "cr")
STRING_PREFIXES = ("b", "c")


def _is_id_start(ch: str) -> bool:
    return ch == "_" or ch.isalpha()


def _is_id_char(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


def tokenize(src: str) -> list[Tok]:
    """Rust source to tokens without comments, lifetimes or whitespace.

    String and char literals become one "str" token each, so paths written inside them
    are never read as references (a plain string's token keeps its text, for `#[path]`).
    """
    toks: list[Tok] = []
    i, n, line = 0, len(src), 1

    def skip_quoted(j: int, quote: str) -> int:
        """Index just past the closing quote of a literal whose body starts at j."""
        nonlocal line
        while j < n:
            ch = src[j]
            if ch == "\\":
                if j + 1 < n and src[j + 1] == "\n":
                    line += 1
                j += 2
                continue
            if ch == "\n":
                line += 1
            if ch == quote:
                return j + 1
            j += 1
        return n

    def skip_raw(j: int, hashes: int) -> int:
        """Index just past `"###` closing a raw string whose body starts at j."""
        nonlocal line
        close = '"' + "#" * hashes
        end = src.find(close, j)
        end = n if end < 0 else end + len(close)
        line += src.count("\n", j, end)
        return end

    while i < n:
        ch = src[i]
        if ch == "\n":
            line += 1
            i += 1
        elif ch.isspace():
            i += 1
        elif src.startswith("//", i):
            end = src.find("\n", i)
            i = n if end < 0 else end
        elif src.startswith("/*", i):
            # Rust block comments nest.
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    if src[j] == "\n":
                        line += 1
                    j += 1
            i = j
        elif ch == '"':
            start, body = line, i + 1
            i = skip_quoted(body, '"')
            toks.append(Tok("str", src[body : i - 1], start))
        elif ch == "'":
            # A char literal ('x', '\n', '\u{1F600}') or a lifetime/label ('a, 'static).
            if i + 1 < n and src[i + 1] == "\\":
                i = skip_quoted(i + 1, "'")
                toks.append(Tok("str", "", line))
            elif i + 2 < n and src[i + 2] == "'":
                toks.append(Tok("str", "", line))
                i += 3
            else:
                j = i + 1
                while j < n and _is_id_char(src[j]):
                    j += 1
                i = j
        elif _is_id_start(ch):
            j = i + 1
            while j < n and _is_id_char(src[j]):
                j += 1
            word = src[i:j]
            if word in RAW_STRING_PREFIXES and j < n and src[j] in '#"':
                k = j
                while k < n and src[k] == "#":
                    k += 1
                if k < n and src[k] == '"':
                    start = line
                    i = skip_raw(k + 1, k - j)
                    toks.append(Tok("str", "", start))
                    continue
                if word == "r" and k == j + 1 and k < n and _is_id_start(src[k]):
                    # A raw identifier: r#type.
                    m = k + 1
                    while m < n and _is_id_char(src[m]):
                        m += 1
                    toks.append(Tok("id", src[k:m], line))
                    i = m
                    continue
            if word in STRING_PREFIXES and j < n and src[j] in "\"'":
                start = line
                i = skip_quoted(j + 1, src[j])
                toks.append(Tok("str", "", start))
                continue
            toks.append(Tok("id", word, line))
            i = j
        elif ch.isdigit():
            j = i + 1
            while j < n and (
                _is_id_char(src[j]) or (src[j] == "." and j + 1 < n and src[j + 1].isdigit())
            ):
                j += 1
            toks.append(Tok("num", src[i:j], line))
            i = j
        elif src.startswith("::", i):
            toks.append(Tok("punct", "::", line))
            i += 2
        else:
            toks.append(Tok("punct", ch, line))
            i += 1
    return toks


# ---------------------------------------------------------------------------------------
# Modules and references

ModPath = tuple[str, ...]


@dataclass
class UsePath:
    segments: list[str]
    alias: str | None  # the name the use binds, None for globs and `_`
    line: int


@dataclass
class Reference:
    module: ModPath  # the module whose code names the path
    segments: list[str]
    file: Path
    line: int


@dataclass
class Crate:
    name: str
    root_file: Path
    # module path -> file that holds its code (an inline module: its parent's file)
    modules: dict[ModPath, Path] = field(default_factory=dict)
    children: dict[ModPath, set[str]] = field(default_factory=dict)
    # per module: name bound by a `use` -> the path it names
    aliases: dict[ModPath, dict[str, list[str]]] = field(default_factory=dict)
    # per module: the paths of its glob imports (`use super::*` -> ["super"])
    globs: dict[ModPath, list[list[str]]] = field(default_factory=dict)
    refs: list[Reference] = field(default_factory=list)
    # module path -> lines of its file, for quoting evidence
    lines: dict[Path, list[str]] = field(default_factory=dict)

    def add_module(self, path: ModPath, file: Path) -> None:
        self.modules[path] = file
        self.children.setdefault(path, set())
        self.aliases.setdefault(path, {})
        if path:
            self.children.setdefault(path[:-1], set()).add(path[-1])


def parse_use_tree(toks: list[Tok], i: int, prefix: list[str]) -> tuple[list[UsePath], int]:
    """One use tree starting at toks[i]; returns its leaf paths and the index after it."""
    out: list[UsePath] = []
    segs = list(prefix)
    line = toks[i].line if i < len(toks) else 0
    if i < len(toks) and toks[i].text == "::":  # `use ::std::x` (extern prelude)
        i += 1
    while i < len(toks):
        t = toks[i]
        if t.text == "$" and i + 1 < len(toks) and toks[i + 1].kind == "id":
            segs.append("$" + toks[i + 1].text)
            line = toks[i + 1].line
            i += 2
        elif t.kind == "id" and t.text != "as":
            segs.append(t.text)
            line = t.line
            i += 1
        elif t.text == "{":
            i += 1
            while i < len(toks) and toks[i].text != "}":
                if toks[i].text == ",":
                    i += 1
                    continue
                sub, i = parse_use_tree(toks, i, segs)
                out.extend(sub)
            return out, i + 1
        elif t.text == "*":
            out.append(UsePath(segs + ["*"], None, t.line))
            return out, i + 1
        else:
            break
        if i < len(toks) and toks[i].text == "::":
            i += 1
            continue
        break
    alias: str | None = segs[-1] if segs else None
    if segs and segs[-1] == "self":  # `use a::b::{self}` binds b
        segs = segs[:-1]
        alias = segs[-1] if segs else None
    if i < len(toks) and toks[i].text == "as" and i + 1 < len(toks):
        alias = toks[i + 1].text
        line = toks[i + 1].line
        i += 2
        if alias == "_":
            alias = None
    if segs:
        out.append(UsePath(segs, alias, line))
    return out, i


def _attr_is_cfg_test(attr: list[Tok]) -> bool:
    words = [t.text for t in attr if t.kind == "id"]
    return bool(words) and words[0] == "cfg" and "test" in words and "not" not in words


def _attr_path(attr: list[Tok]) -> str | None:
    """The file named by a `#[path = "..."]` attribute."""
    if [(t.kind, t.text) for t in attr[:2]] == [("id", "path"), ("punct", "=")] and len(attr) == 3:
        return attr[2].text if attr[2].kind == "str" else None
    return None


def scan_file(crate: Crate, module: ModPath, file: Path, mod_rs: bool) -> None:
    """Reads one module file: its child modules (recursively), uses and inline paths."""
    raw = file.read_text(encoding="utf-8")
    crate.lines[file] = raw.splitlines()
    crate.add_module(module, file)
    toks = tokenize(raw)
    # The directory that child module files of `module` live in.
    child_dir = file.parent if mod_rs else file.parent / file.stem

    # Stack of (module path, its child directory, brace depth at which its block closes).
    scopes: list[tuple[ModPath, Path, int]] = [(module, child_dir, -1)]
    depth = 0
    attrs: list[list[Tok]] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        scope, scope_dir, _ = scopes[-1]
        if t.text == "#" and i + 1 < len(toks) and toks[i + 1].text in ("[", "!"):
            j = i + 1
            if toks[j].text == "!":
                j += 1
            if j < len(toks) and toks[j].text == "[":
                level, k = 0, j
                while k < len(toks):
                    if toks[k].text == "[":
                        level += 1
                    elif toks[k].text == "]":
                        level -= 1
                        if level == 0:
                            break
                    k += 1
                if toks[i + 1].text != "!":  # inner attributes belong to the enclosing item
                    attrs.append(toks[j + 1 : k])
                i = k + 1
                continue
        if t.text == "{":
            depth += 1
            i += 1
            attrs = []
            continue
        if t.text == "}":
            depth -= 1
            if len(scopes) > 1 and depth == scopes[-1][2]:
                scopes.pop()
            i += 1
            attrs = []
            continue
        # `pub`, `pub(crate)`, `pub(in path)` before an item.
        j = i
        if t.text == "pub":
            j += 1
            if j < len(toks) and toks[j].text == "(":
                while j < len(toks) and toks[j].text != ")":
                    j += 1
                j += 1
        if j + 2 < len(toks) and toks[j].text == "mod" and toks[j + 1].kind == "id":
            name = toks[j + 1].text
            after = toks[j + 2].text
            cfg_test = any(_attr_is_cfg_test(a) for a in attrs)
            path_attr = next((p for a in attrs if (p := _attr_path(a)) is not None), None)
            attrs = []
            if after == ";":
                if path_attr is not None:
                    base = file.parent if len(scopes) == 1 else scope_dir
                    target = (base / path_attr).resolve()
                    candidates = [(target, target.name == "mod.rs")]
                else:
                    candidates = [
                        (scope_dir / f"{name}.rs", False),
                        (scope_dir / name / "mod.rs", True),
                    ]
                found = next(((p, m) for p, m in candidates if p.is_file()), None)
                if found is None:
                    print(f"warning: {file}: `mod {name};` has no file", file=sys.stderr)
                else:
                    scan_file(crate, scope + (name,), found[0], found[1])
                i = j + 3
                continue
            if after == "{":
                if cfg_test:
                    # Skip the whole test block.
                    level, k = 0, j + 2
                    while k < len(toks):
                        if toks[k].text == "{":
                            level += 1
                        elif toks[k].text == "}":
                            level -= 1
                            if level == 0:
                                break
                        k += 1
                    i = k + 1
                    continue
                inner = scope + (name,)
                crate.add_module(inner, file)
                scopes.append((inner, scope_dir / name, depth))
                depth += 1
                i = j + 3
                continue
        if j < len(toks) and toks[j].text == "use":
            k = j + 1
            uses: list[UsePath] = []
            while k < len(toks) and toks[k].text != ";":
                sub, k2 = parse_use_tree(toks, k, [])
                uses.extend(sub)
                k = k2 if k2 > k else k + 1
            for u in uses:
                if u.alias is not None:
                    crate.aliases[scope].setdefault(u.alias, u.segments)
                elif u.segments[-1] == "*":
                    crate.globs.setdefault(scope, []).append(u.segments[:-1])
                crate.refs.append(Reference(scope, u.segments, file, u.line))
            attrs = []
            i = k + 1
            continue
        # Attributes belong to the next item; anything but a `mod` or `use` uses them up.
        attrs = []
        # Inline paths: `crate::a::b`, `super::a`, `self::a`, `alias::x` not preceded by `::`.
        if (
            t.kind == "id"
            and i + 1 < len(toks)
            and toks[i + 1].text == "::"
            and (i == 0 or toks[i - 1].text not in ("::", "$"))
        ):
            segs = [t.text]
            k = i + 1
            while k + 1 < len(toks) and toks[k].text == "::" and toks[k + 1].kind == "id":
                segs.append(toks[k + 1].text)
                k += 2
            crate.refs.append(Reference(scope, segs, file, t.line))
            i = k
            continue
        i += 1


def resolve(
    crate: Crate, module: ModPath, segs: list[str], depth: int = 0
) -> tuple[ModPath, bool] | None:
    """The deepest module of this crate that a path names, and whether the whole path is
    that module (rather than an item in it); None if the path is not into this crate."""
    if not segs or depth > 8:
        return None
    head, i = segs[0], 1
    if head == "crate":
        base: ModPath = ()
    elif head in ("super", "self"):
        base, i = module, 0
        while i < len(segs) and segs[i] in ("super", "self"):
            if segs[i] == "super":
                if not base:
                    return None
                base = base[:-1]
            i += 1
    elif head in crate.children.get(module, ()):
        base = module + (head,)
    elif head in crate.aliases.get(module, {}):
        # A name a `use` brought in counts when that use named a whole module.
        named = resolve(crate, module, crate.aliases[module][head], depth + 1)
        if named is None or not named[1]:
            return None
        base = named[0]
    else:
        # A module name a glob import (`use super::*`) brought in.
        for glob in crate.globs.get(module, []):
            named = resolve(crate, module, glob, depth + 1)
            if named is not None and named[1] and head in crate.children.get(named[0], ()):
                base = named[0] + (head,)
                break
        else:
            return None
    while i < len(segs) and segs[i] in crate.children.get(base, ()):
        base = base + (segs[i],)
        i += 1
    return base, i == len(segs)


def load_crate(src_dir: Path) -> Crate | None:
    for root_name in ("lib.rs", "main.rs"):
        root = src_dir / root_name
        if root.is_file():
            crate = Crate(src_dir.parent.name, root)
            scan_file(crate, (), root, True)
            return crate
    return None


# ---------------------------------------------------------------------------------------
# Graph


@dataclass
class Edge:
    evidence: list[tuple[Path, int]] = field(default_factory=list)


def sibling_edges(crate: Crate) -> dict[ModPath, dict[tuple[str, str], Edge]]:
    """parent module -> (child a, child b) -> where code inside a names code inside b."""
    out: dict[ModPath, dict[tuple[str, str], Edge]] = {}
    for ref in crate.refs:
        resolved = resolve(crate, ref.module, ref.segments)
        if resolved is None:
            continue
        a, b = ref.module, resolved[0]
        common = 0
        while common < len(a) and common < len(b) and a[common] == b[common]:
            common += 1
        if common == len(a) or common == len(b):
            continue  # one contains the other: parent -> child or child -> ancestor
        parent = a[:common]
        edge = out.setdefault(parent, {}).setdefault((a[common], b[common]), Edge())
        if (ref.file, ref.line) not in edge.evidence:
            edge.evidence.append((ref.file, ref.line))
    return out


def strongly_connected(nodes: list[str], edges: set[tuple[str, str]]) -> list[list[str]]:
    """Tarjan's algorithm; components in discovery order, each sorted."""
    succ: dict[str, list[str]] = {v: [] for v in nodes}
    for a, b in sorted(edges):
        succ.setdefault(a, []).append(b)
        succ.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            comps.append(sorted(comp))

    for v in sorted(succ):
        if v not in index:
            visit(v)
    return comps


@dataclass
class Cycle:
    crate: str
    parent: ModPath
    members: list[str]
    edges: dict[tuple[str, str], Edge]


def find_cycles(crate: Crate) -> list[Cycle]:
    cycles = []
    for parent, edges in sorted(sibling_edges(crate).items()):
        nodes = sorted(crate.children.get(parent, ()))
        for comp in strongly_connected(nodes, set(edges)):
            if len(comp) > 1:
                members = set(comp)
                inside = {
                    (a, b): edge
                    for (a, b), edge in sorted(edges.items())
                    if a in members and b in members
                }
                cycles.append(Cycle(crate.name, parent, comp, inside))
    return cycles


def _module_name(path: ModPath) -> str:
    return "crate" + "".join("::" + p for p in path)


def report(crate: Crate, cycle: Cycle, root: Path) -> str:
    def rel(p: Path) -> str:
        try:
            return str(p.resolve().relative_to(root.resolve()))
        except ValueError:
            return str(p)

    out = [
        f"{cycle.crate}: a cycle among the children of {_module_name(cycle.parent)}: "
        + ", ".join(cycle.members)
    ]
    for (a, b), edge in cycle.edges.items():
        out.append(f"  {a} -> {b}")
        for file, line in edge.evidence:
            text = crate.lines.get(file, [""] * line)[line - 1].strip()
            out.append(f"    {rel(file)}:{line}: {text}")
    return "\n".join(out)


def check(root: Path, out=sys.stdout) -> list[Cycle]:
    found: list[Cycle] = []
    for src_dir in sorted((root / "crates").glob("*/src")):
        crate = load_crate(src_dir)
        if crate is None:
            continue
        for cycle in find_cycles(crate):
            print(report(crate, cycle, root), file=out)
            found.append(cycle)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        # The made-up tree and its expectations live beside this file.
        test = runpy.run_path(str(Path(__file__).with_name("check-module-cycles-selftest.py")))
        return test["self_test"]()
    cycles = check(args.root)
    if cycles:
        print(f"{len(cycles)} module cycle(s): make each dependency go one way", file=sys.stderr)
        return 1
    print("module cycles: none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
