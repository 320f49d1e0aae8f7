#!/usr/bin/env bash
# The API fuzzer (issue 24): schemathesis, from PyPI, against the running server's own
# /openapi.json, once without a key and once with a key of each role (customer, author,
# moderator, admin), on a data directory holding the bundled corpus. It fails on any 5xx
# and on any answer the document does not describe (status, content type, headers, body
# schema), and on data the document forbids being accepted or data it allows being
# refused.
#
#   tools/api-fuzz.sh [SECONDS_PER_ROLE] [SEED]   (defaults 30, 20261205)
#
# One worker: CPython 3.11's compile() is not safe from two threads at once (hypothesis
# compiles lambdas' sources; "AST constructor recursion depth mismatch").
# The seed is printed; the same seed and binary give the same requests. The fair-use guard
# is off so that the budget goes to the API rather than to 429s (the guard has tests of its
# own). Each role's log is kept in target/api-fuzz/. STOCKROOM_BIN picks the binary (default: target/debug/stockroom, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
seed=${2:-20261205}
source tools/py-venv.sh schemathesis
bin=${STOCKROOM_BIN:-$PWD/target/debug/stockroom}
[ -x "$bin" ] || cargo build -q -p stockroom
schemathesis=$PWD/$venv/bin/schemathesis

work=$(mktemp -d)
logs=$PWD/target/api-fuzz
rm -rf "$logs" && mkdir -p "$logs"
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  cp "$work"/*.log "$work/serve.err" "$logs/" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/stockroom.toml" <<TOML
data = "$work/data"
[guard]
enabled = false
TOML
"$bin" --config "$work/stockroom.toml" ingest --manifest corpus/manifest.jsonl >/dev/null 2>&1
key_of() { # role tier
  "$bin" --config "$work/stockroom.toml" members add --name "Fuzz $1" --role "$1" --tier "$2" |
    sed -E 's/.*"keys":\["([^"]+)".*/\1/'
}
declare -A keys=(
  [customer]=$(key_of customer unlimited)
  [author]=$(key_of author registered)
  [moderator]=$(key_of moderator registered)
  [admin]=$(key_of admin registered)
)
"$bin" --config "$work/stockroom.toml" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/serve.out" ] && break; sleep 0.1; done
url=http://$(sed -E 's/.*"listening":"([^"]+)".*/\1/' "$work/serve.out" | head -1)

echo "schemathesis $("$schemathesis" --version | awk '{print $NF}') against $url, seed $seed, ${seconds}s per role" >&2
failed=()
for role in anonymous customer author moderator admin; do
  auth=()
  [ "$role" = anonymous ] || auth=(-H "Authorization: Bearer ${keys[$role]}")
  echo "== $role" >&2
  if ! "$schemathesis" --config-file tools/schemathesis.toml run "$url/openapi.json" "${auth[@]}" \
      --checks all --exclude-checks ignored_auth,object_level_authorization \
      --seed "$seed" --max-time "$seconds" --generation-database none \
      --generation-with-security-parameters false \
      --workers 1 --no-color --output-truncate true \
      --report junit --report-dir "$work/report-$role" >"$work/$role.log" 2>&1; then
    failed+=("$role")
    tail -n 80 "$work/$role.log" >&2
  else
    grep -E "^(Test cases|API Operations|Checks|No issues)" -A0 "$work/$role.log" | head -5 >&2 || true
  fi
done
if grep -q "panicked" "$work/serve.err"; then
  echo "the server panicked:" >&2
  grep -A5 panicked "$work/serve.err" >&2
  failed+=(server)
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "api-fuzz: failures as ${failed[*]} (seed $seed)" >&2
  exit 1
fi
echo "api-fuzz: no failures in 5 roles × ${seconds}s (seed $seed)" >&2
