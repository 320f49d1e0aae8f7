#!/usr/bin/env bash
# Near-duplicate queries over N PDQ hashes of real-photo content (default 10 M), one
# thread, pinned to one CPU, in the same run: Stockroom's multi-index tables, its linear
# scan, and faiss IndexBinaryFlat; each photo of the full corpus asks with its 24 query
# hashes (whole, trimmed, centre crop × all 8 rotations/flips) for everything within 31.
# Prints both figures and the ratio. The generated hashes are cached in target/dupes-bench.
#
#   tools/dupes-bench.sh [COUNT] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-10000000}
runs=${2:-5}
source tools/build-deps.sh
[ -f corpus/full/manifest.jsonl ] || corpus/fetch-full.sh
source tools/py-venv.sh faiss-cpu numpy
cargo build --release -q -p stockroom-dupes-bench
tool=target/release/stockroom-dupes-bench
work=target/dupes-bench
mkdir -p $work
hashes=$work/hashes-$count.bin
queries=$work/queries.bin
if [ ! -f "$hashes" ]; then
  echo "generating $count hashes (cached in $hashes):"
  $tool generate --count "$count" --out "$hashes" corpus/full corpus/photos
fi
$tool queries --out "$queries" corpus/full >/dev/null
pin=(taskset -c "$(($(nproc) - 1))")
ours=$("${pin[@]}" $tool search --hashes "$hashes" --queries "$queries" --runs "$runs" --threshold 31)
peer=$("${pin[@]}" $venv/bin/python tools/dupes-bench.py "$hashes" "$queries" "$runs" 31)
echo "stockroom: $ours"
echo "faiss:     $peer"
$venv/bin/python - "$ours" "$peer" <<'PY'
import json, sys
ours, peer = json.loads(sys.argv[1]), json.loads(sys.argv[2])
mih, linear, faiss = ours["mih_ms_per_photo"], ours["linear_ms_per_photo"], peer["faiss_ms_per_photo"]
print(f"{ours['hashes']} hashes, 24 queries per photo, threshold 31, median ms per photo: "
      f"multi-index {mih:.3f} | linear scan {linear:.1f} | faiss IndexBinaryFlat {faiss:.1f} | "
      f"multi-index vs faiss {faiss / mih:.0f}x")
PY
