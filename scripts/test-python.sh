#!/usr/bin/env bash
# The Python package's tests: a fresh virtual environment, `pip install ./crates/hoard-py`
# (maturin from PyPI builds the extension), mypy --strict on the typed surface, then pytest
# on the package's tests and the FastAPI examples. Prints one closing line,
# `python: N passed, M failed`, for scripts/test to count.
#
#   scripts/test-python.sh            # needs target/debug/hoard (scripts/test builds it)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }

venv=${HOARD_PY_VENV:-target/py-venv}
# Absolute once, so the pytest steps below, which cd into test folders, find the same venv
# whether HOARD_PY_VENV was given relative to the checkout or as an absolute path.
venv=$(realpath -m "$venv")
python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
  say "creating $venv"
  "$python" -m venv "$venv"
fi
# With local models, so hoard.SemanticCache's tests run the real
# all-MiniLM-L6-v2; a plain `pip install ./crates/hoard-py` leaves them out (README).
say "pip install ./crates/hoard-py[test] with local models (a release build of the extension)"
started=$(date +%s)
"$venv/bin/pip" install --quiet --upgrade pip
MATURIN_PEP517_ARGS="--features semantic-local" "$venv/bin/pip" install --quiet "./crates/hoard-py[test]"
say "package built and installed in $(( $(date +%s) - started )) s"
HOARD_MINILM_DIR=${HOARD_MINILM_DIR:-$(scripts/fetch-minilm.sh)}
export HOARD_MINILM_DIR

say "mypy --strict: the package, a typed use of it, the examples"
"$venv/bin/mypy" --strict crates/hoard-py/python/hoard crates/hoard-py/tests/typed_use.py
for app in examples/python/*/app.py; do "$venv/bin/mypy" --strict "$app"; done

[ -x target/debug/hoard ] || cargo build -p hoard-cli --locked
export HOARD_BIN=${HOARD_BIN:-$PWD/target/debug/hoard}

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
say "pytest: crates/hoard-py/tests"
(cd crates/hoard-py/tests && "$venv/bin/python" -m pytest -q -p no:cacheprovider) 2>&1 | tee "$log" || status=1
if [ -d examples/python ]; then
  say "pytest: examples/python"
  (cd examples/python && "$venv/bin/python" -m pytest -q -p no:cacheprovider) 2>&1 | tee -a "$log" || status=1
fi
awk '/ (passed|failed)/ && / in [0-9.]+s/ {
       for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1); if ($i ~ /^errors?/) f += $(i-1) } }
     END { printf "python: %d passed, %d failed\n", p, f }' "$log"
exit $status
