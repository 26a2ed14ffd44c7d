#!/usr/bin/env python3
"""The self-test of check-module-cycles.py: a made-up tree of two crates with two known
cycles and several references that must not count, checked by the detector
(`python3 scripts/check-module-cycles.py --self-test` runs it)."""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path


def _checker():
    path = Path(__file__).with_name("check-module-cycles.py")
    spec = importlib.util.spec_from_file_location("check_module_cycles", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up by name while the file runs.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


SELF_TEST_TREE = {
    # A cycle at the top level: a -> b (a `use` group) and b -> a (an inline super:: path).
    "crates/alpha/src/lib.rs": """
        //! `crate::c::x` in a doc comment is no reference.
        mod a;
        mod b;
        pub mod c;
        mod d;
        pub use crate::c::Thing; // the root naming a child: no edge
    """,
    "crates/alpha/src/a.rs": """
        use crate::{b::Beta, c};
        pub struct Alpha;
    """,
    "crates/alpha/src/b.rs": """
        pub struct Beta;
        pub fn make() -> super::a::Alpha { super::a::Alpha }
    """,
    # c -> d only: d names c in a comment, a string, a raw string, a test block and a
    # `$crate` macro path, none of which counts.
    "crates/alpha/src/c.rs": """
        use crate::d::Delta;
        pub struct Thing(Delta);
    """,
    "crates/alpha/src/d.rs": """
        pub struct Delta; // crate::c::Thing
        const DOC: &str = "crate::c::Thing";
        const RAW: &str = r#"super::c::Thing "quoted""#;
        const CH: char = '"';
        fn lifetime<'a>(x: &'a str) -> &'a str { x }
        macro_rules! m { () => { $crate::c::Thing } }
        /* block /* nested crate::c */ comment */
        #[cfg(test)]
        mod tests {
            use crate::c::Thing;
        }
    """,
    # A nested cycle under routes: x -> y through an alias, y -> x through crate::routes.
    # x's own child and its parent's items are not edges; neither is z -> y alone.
    "crates/beta/src/main.rs": """
        mod routes;
        fn main() { routes::x::run(); }
    """,
    "crates/beta/src/routes/mod.rs": """
        pub mod x;
        pub mod y;
        pub mod z;
        pub struct Shared;
    """,
    "crates/beta/src/routes/x.rs": """
        mod inner;
        use super::y;
        use super::Shared;
        pub fn run() { y::help(); inner::go(); }
    """,
    "crates/beta/src/routes/x/inner.rs": """
        pub fn go() { let _ = super::super::Shared; }
    """,
    "crates/beta/src/routes/y.rs": """
        pub fn help() { crate::routes::x::run() }
    """,
    "crates/beta/src/routes/z.rs": """
        pub fn other() { super::y::help() }
    """,
}


def self_test() -> int:
    check = _checker().check
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rel, text in SELF_TEST_TREE.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(line[8:] for line in text.splitlines()) + "\n")
        with open(os.devnull, "w") as devnull:
            cycles = check(root, devnull)
        got = {(c.crate, c.parent, tuple(c.members)) for c in cycles}
        want = {("alpha", (), ("a", "b")), ("beta", ("routes",), ("x", "y"))}
        assert got == want, f"self-test: expected cycles {sorted(want)}, found {sorted(got)}"
        alpha = next(c for c in cycles if c.crate == "alpha")
        lines = {(a, b): [ln for _, ln in e.evidence] for (a, b), e in alpha.edges.items()}
        # b.rs line 3 names super::a twice; the line is reported once.
        assert lines == {("a", "b"): [2], ("b", "a"): [3]}, f"self-test: alpha edges {lines}"

        # Breaking one edge of each cycle leaves no cycle.
        (root / "crates/alpha/src/b.rs").write_text("pub struct Beta;\n")
        (root / "crates/beta/src/routes/y.rs").write_text("pub fn help() {}\n")
        with open(os.devnull, "w") as devnull:
            left = check(root, devnull)
        assert not left, f"self-test: cycles left after breaking them: {left}"
    print("module cycles self-test: ok")
    return 0



if __name__ == "__main__":
    raise SystemExit(self_test())
