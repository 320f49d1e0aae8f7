#!/usr/bin/env bash
# What a change to the render path costs against an earlier revision (written for the
# watermark, default REV 6320ba9: the last with the 5×7 bitmap mark). Builds REV's
# stockroom-render-bench in a temporary worktree (same target dir, so only the changed crates
# rebuild) and this checkout's, then renders the full corpus's 1000 px previews with each on
# one pinned CPU, alternating runs; prints median seconds and the speed ratio. Flags after
# `--` go to this checkout's runs only (`-- --logo docs/logo.png --text "Example Stock"`).
#
#   tools/watermark-bench.sh [REV] [RUNS] [-- FLAGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-6320ba9}
runs=${2:-7}
shift $(($# < 2 ? $# : 2))
[ "${1:-}" = -- ] && shift
source tools/build-deps.sh
install_missing /usr/bin/time=time
[ -f corpus/full/manifest.jsonl ] || corpus/fetch-full.sh
out=$(mktemp -d)
tree=$(mktemp -d)
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || true; rm -rf "$out" "$tree"' EXIT
git worktree add --detach "$tree" "$rev" >/dev/null 2>&1
cargo build --release -q -p stockroom-render-bench --manifest-path "$tree/Cargo.toml" --target-dir target
cp target/release/stockroom-render-bench "$out/before"
cargo build --release -q -p stockroom-render-bench
cp target/release/stockroom-render-bench "$out/after"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
cpu=$(($(nproc) - 1))
before=() after=()
for _ in $(seq "$runs"); do
  before+=("$( { /usr/bin/time -f %e taskset -c $cpu "$out/before" --quality 85 corpus/full >/dev/null; } 2>&1 | tail -1)")
  after+=("$( { /usr/bin/time -f %e taskset -c $cpu "$out/after" --quality 85 "$@" corpus/full >/dev/null; } 2>&1 | tail -1)")
done
b=$(printf '%s\n' "${before[@]}" | median)
a=$(printf '%s\n' "${after[@]}" | median)
awk -v b="$b" -v a="$a" -v r="$rev" -v n="$runs" -v f="$*" 'BEGIN {
  printf "median of %d runs, one pinned CPU, corpus/full at 1000 px: %s %.2f s | this checkout%s %.2f s | speed %.3fx\n",
    n, r, b, (f == "" ? "" : " (" f ")"), a, b/a }'
