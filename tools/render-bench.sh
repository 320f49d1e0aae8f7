#!/usr/bin/env bash
# Renders the 1000 px preview of every photo in the full corpus on one thread with
# Stockroom (watermark included) and with vipsthumbnail (VIPS_CONCURRENCY=1), same size and
# quality, alternating runs; prints median seconds, megapixels/s, peak RSS and the ratios,
# per format and overall.
#
# Both run pinned to one CPU (taskset), because VIPS_CONCURRENCY=1 limits vips's worker pool
# but not every thread it starts: unpinned, it spends ~1.3 s of CPU per second of wall time on
# the WebPs. PIN=0 runs unpinned.
#
#   tools/render-bench.sh [RUNS]        (default 5; fetches corpus/full if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
quality=85
source tools/build-deps.sh
# GNU time (not the shell keyword) measures peak RSS.
install_missing vipsthumbnail=libvips-tools /usr/bin/time=time
[ -f corpus/full/manifest.jsonl ] || corpus/fetch-full.sh
cargo build --release -q -p stockroom-render-bench
ours=target/release/stockroom-render-bench
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

pin=()
if [ "${PIN:-1}" != 0 ]; then pin=(taskset -c "$(($(nproc) - 1))"); fi

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

measure() { # label, files...
  local label=$1; shift
  local ours_s=() ours_kb=() vips_s=() vips_kb=() line
  local mp
  mp=$("$ours" --quality $quality "$@" | sed -E 's/.*"megapixels":([0-9.]+).*/\1/')
  for _ in $(seq "$runs"); do
    line=$( { /usr/bin/time -f "%e %M" "${pin[@]}" env VIPS_CONCURRENCY=1 vipsthumbnail --size 1000x1000 \
      -o "$out/%s.jpg[Q=$quality,strip]" "$@"; } 2>&1 | tail -1)
    vips_s+=("${line% *}"); vips_kb+=("${line#* }")
    line=$( { /usr/bin/time -f "%e %M" "${pin[@]}" "$ours" --quality $quality "$@" >/dev/null; } 2>&1 | tail -1)
    ours_s+=("${line% *}"); ours_kb+=("${line#* }")
  done
  local os vs ok vk
  os=$(printf '%s\n' "${ours_s[@]}" | median); vs=$(printf '%s\n' "${vips_s[@]}" | median)
  ok=$(printf '%s\n' "${ours_kb[@]}" | median); vk=$(printf '%s\n' "${vips_kb[@]}" | median)
  awk -v l="$label" -v n="$#" -v mp="$mp" -v os="$os" -v vs="$vs" -v ok="$ok" -v vk="$vk" 'BEGIN {
    printf "%-6s %3d files %7.1f MP | stockroom %6.1f MP/s %5.0f MB | vipsthumbnail %6.1f MP/s %5.0f MB | speed %.2fx  memory %.2fx\n",
      l, n, mp, mp/os, ok/1024, mp/vs, vk/1024, vs/os, ok/vk }'
}

all=$(find corpus/full -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' -o -iname '*.webp' \) | sort)
echo "median of $runs runs, ${pin[*]:-unpinned}, one thread, 1000 px, quality $quality; stockroom includes the watermark"
for kind in jpg png webp; do
  # shellcheck disable=SC2046
  measure "$kind" $(echo "$all" | grep -iE "\.${kind}(eg)?$")
done
# shellcheck disable=SC2086
measure all $all
