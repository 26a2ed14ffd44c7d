#!/usr/bin/env bash
# The HTTP API against its own OpenAPI document: schemathesis (from PyPI, in its own venv)
# generates requests from `GET /openapi.json` of a running `hoard serve` (read, write and
# admin tokens configured, a small dataset of WAV files) and runs every check it has:
# no 5xx, only documented statuses and bodies, valid input accepted, invalid input
# refused, routes that need a token refusing requests without one. Prints one closing
# line, `api: N passed, M failed`, for scripts/test to count.
#
#   scripts/test-api.sh                 # needs target/debug/hoard (scripts/test builds it)
#   API_EXAMPLES=500 scripts/test-api.sh   # more generated cases per operation
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }

venv=$(realpath -m "${HOARD_API_VENV:-target/api-venv}")
python=${PYTHON:-python3}
# Pinned: a new schemathesis may add checks; take them on purpose, not by surprise.
schemathesis_version=4.32.5
if [ ! -x "$venv/bin/schemathesis" ] || ! "$venv/bin/schemathesis" --version | grep -q "$schemathesis_version"; then
  say "creating $venv with schemathesis $schemathesis_version"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$schemathesis_version"
fi

[ -x target/debug/hoard ] || cargo build -p hoard-cli --locked
bin=${HOARD_BIN:-$PWD/target/debug/hoard}

work=$(mktemp -d)
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/clips"
"$python" - "$work/clips" <<'EOF'
import sys, wave
for i in range(3):
    with wave.open(f"{sys.argv[1]}/clip{i}.wav", "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x01" * 1600)
EOF
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
admin=$("$python" -c 'import secrets; print(secrets.token_hex(16))')
cat >"$work/hoard.toml" <<EOF
[cache]
data_dir = "$work/data"
[server]
addr = "127.0.0.1:$port"
admin_token = "$admin"
read_tokens = ["$("$python" -c 'import secrets; print(secrets.token_hex(16))')"]
write_tokens = ["$("$python" -c 'import secrets; print(secrets.token_hex(16))')"]
[datasets.clips]
path = "$work/clips"
EOF
"$bin" serve --config "$work/hoard.toml" >"$work/serve.log" 2>&1 &
server=$!

say "schemathesis against http://127.0.0.1:$port/openapi.json (every check)"
log="$work/schemathesis.log"
status=0
# One worker: hypothesis's caches are not safe across schemathesis's worker threads.
# From the scratch folder: schemathesis keeps its example database in ./.schemathesis.
(cd "$work" && "$venv/bin/schemathesis" --no-color run "http://127.0.0.1:$port/openapi.json" \
  --wait-for-schema 30 \
  --header "Authorization: Bearer $admin" \
  --checks all \
  --max-examples "${API_EXAMPLES:-50}" \
  --workers 1 \
  --seed "${API_SEED:-20261201}") 2>&1 | tee "$log" || status=1
# "N generated, P passed" and, on failure, "F found ... unique failures".
awk -v status="$status" '
  / generated, / { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p = $(i-1); if ($i == "found") f = $(i-1) } }
  END { if (status != 0 && f == 0) f = 1; printf "api: %d passed, %d failed\n", p, f }' "$log"
exit $status
