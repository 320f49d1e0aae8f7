#!/usr/bin/env bash
# Peak memory of the server with large PNGs (issue 24, item 1): six concurrent uploads of
# 10,900 × 10,900 16-bit RGBA PNGs (half of them interlaced), then six concurrent first
# requests for their large previews, anonymous. Prints the server's peak RSS (VmHWM) for
# each phase; the target is at most 600 MB. The figures before the fix, from the issue:
# 5.5 GB for the uploads, 3.0 GB for the previews.
#
#   tools/decode-memory.sh [COUNT] [SIDE]   (defaults 6, 10900)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-6}
side=${2:-10900}
source tools/build-deps.sh
install_missing curl
cargo build --release -q -p stockroom
bin=$PWD/target/release/stockroom

work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

python3 tools/decode-memory.py "$work/png" "$count" "$side"
key=$("$bin" members add --data "$work/data" --name "Deep Author" --role author --tier registered |
  sed -E 's/.*"keys":\["([^"]+)".*/\1/')
"$bin" serve --data "$work/data" --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/serve.out" ] && break; sleep 0.1; done
url=http://$(sed -E 's/.*"listening":"([^"]+)".*/\1/' "$work/serve.out" | head -1)

rss() { awk '/^VmRSS/ {print $2}' "/proc/$server_pid/status"; }
peak_mb() { awk '/^VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$server_pid/status"; }
reset_peak() { echo 5 >"/proc/$server_pid/clear_refs"; }

echo "server at rest: $(( $(rss) / 1024 )) MB RSS" >&2
reset_peak
start=$(date +%s.%N)
for png in "$work"/png/*.png; do
  curl -s -o "$png.json" -w '%{http_code} %{time_total}s\n' -X POST \
    -H "Authorization: Bearer $key" --data-binary "@$png" \
    "$url/v1/assets?title=Deep%20$(basename "$png" .png)&keywords=deep,test" &
done
wait_curls() { for job in $(jobs -p); do [ "$job" = "$server_pid" ] || wait "$job"; done; }
wait_curls >"$work/uploads.txt"
upload_peak=$(peak_mb)
upload_seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')
cat "$work/uploads.txt" >&2
ids=$(sed -nE 's/.*"id":"([0-9a-f]+)".*/\1/p' "$work"/png/*.json)
[ "$(echo "$ids" | wc -w)" = "$count" ] || { echo "not every upload was admitted:" >&2; cat "$work"/png/*.json >&2; exit 1; }

reset_peak
for id in $ids; do
  curl -s -o /dev/null -w '%{http_code} %{time_total}s\n' "$url/v1/previews/$id/large.jpg" &
done
wait_curls >"$work/previews.txt"
preview_peak=$(peak_mb)
cat "$work/previews.txt" >&2
grep -qv '^200' "$work/previews.txt" && { echo "a preview failed" >&2; exit 1; }

printf 'six concurrent uploads of %s×%s 16-bit RGBA PNGs: peak RSS %s MB (%.1f s for all)\n' \
  "$side" "$side" "$upload_peak" "$upload_seconds"
printf 'six concurrent first previews of them: peak RSS %s MB\n' "$preview_peak"
