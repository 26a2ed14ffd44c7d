#!/usr/bin/env bash
# hoard-bench's `python` suite with its environment: a virtual environment holding hoard's
# Python package and its Python peers, a release build of hoard-bench, then the suite, which
# rewrites the `python` section of BENCHMARKS.md. Needs python3 (3.10+), redis-server, and a
# Rust toolchain (pip builds ./crates/hoard-py with maturin unless HOARD_WHEEL is given).
#
#   scripts/bench-python.sh                                  # venv in target/bench-venv
#   HOARD_WHEEL=path/to/hoard-*.whl scripts/bench-python.sh  # install that wheel instead
#   BENCH_VENV=/tmp/bench-venv scripts/bench-python.sh --rounds 7   # more hoard-bench flags
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }

venv=${BENCH_VENV:-target/bench-venv}
python=${PYTHON:-python3}
# The peers, from PyPI; their versions go into the section.
peers=(moka-py cachebox theine cachetools cashews aiocache redis dogpile.cache)

if ! command -v redis-server >/dev/null; then
  echo "redis-server is not installed (apt-get install redis-server redis-tools)" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  say "creating $venv"
  "$python" -m venv "$venv"
fi
say "pip install ${peers[*]}"
"$venv/bin/pip" install --quiet "${peers[@]}"
# --force-reinstall: a rebuilt hoard of the same version number must replace the old one.
if [ -n "${HOARD_WHEEL:-}" ]; then
  say "pip install $HOARD_WHEEL"
  "$venv/bin/pip" install --quiet --force-reinstall --no-deps "$HOARD_WHEEL"
else
  say "pip install ./crates/hoard-py (a release build of the extension)"
  "$venv/bin/pip" install --quiet --force-reinstall --no-deps ./crates/hoard-py
fi

say "hoard-bench --suites python"
cargo run --release --locked -p hoard-bench -- \
  --suites python --python "$venv/bin/python" --write BENCHMARKS.md "$@"
