"""The README's Python tour runs as written (each block in a fresh interpreter)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hoard
from conftest import REPO


def python_tour_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    start = text.index("### Python: `import hoard`")
    end = text.index("\n### ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.S)


def test_the_tour_has_blocks() -> None:
    assert len(python_tour_blocks()) >= 3


@pytest.mark.parametrize("index", range(len(python_tour_blocks())))
def test_readme_python_block_runs(index: int, tmp_path: Path) -> None:
    block = python_tour_blocks()[index]
    env = dict(os.environ)
    if "SemanticCache" in block:
        # The semantic block runs the real model the other semantic tests use.
        if not hoard._hoard._LOCAL_MODELS or not os.environ.get("HOARD_MINILM_DIR"):
            pytest.skip("needs a build with local models and HOARD_MINILM_DIR")
        env["HOARD_SEMANTIC_MODEL"] = os.environ["HOARD_MINILM_DIR"]
    done = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, f"block {index} failed:\n{block}\n{done.stderr}"
