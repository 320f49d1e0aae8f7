#!/usr/bin/env bash
# Hashing beside its peers, in the same run (1 and 2 one thread each, pinned to one CPU):
#  1. compatibility: our PDQ of the very pixels we hash vs Meta's reference (Python
#     `pdqhash`, which wraps the C++), on the bundled and the full corpus; and the PDQ
#     `stockroom hash` prints (now, and before it was computed for the file rather than
#     for the reduced decode's pixels) vs the reference on the full decode, on those and
#     on a holdout of photos nothing was tuned on (Debian's plasma-workspace-wallpapers);
#  2. speed: images/s of ours vs `pdqhash` and `imagehash.phash` (each decoding with PIL)
#     on the full corpus and the holdout, by format and in all; prints the ratios, and
#     ours now against ours before. Ours three ways: "hash"
#     as `stockroom hash` does (decode + PDQ of the whole + pHash + blake3), the peers'
#     job; "+lookup" as ingest does (PDQ of every region a lookup compares); and
#     "decode" alone, whose ratio to a peer is the ceiling hashing faster cannot pass;
#  3. the same on every CPU, unpinned: `stockroom hash` (which hashes a batch on every CPU)
#     against each peer as one process and as a pool of one process per CPU.
#
#   tools/phash-bench.sh [RUNS]     (default 5; fetches corpus/full; a venv in target/py)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
source tools/build-deps.sh
[ -f corpus/full/manifest.jsonl ] || corpus/fetch-full.sh
[ -f corpus/holdout/manifest.jsonl ] || corpus/fetch-full.sh holdout plasma-workspace-wallpapers
source tools/py-venv.sh pdqhash imagehash numpy pillow
cargo build --release -q -p stockroom-phash-bench -p stockroom
ours_bin=target/release/stockroom-phash-bench
pin=(taskset -c "$(($(nproc) - 1))")
dump=$(mktemp -d)
trap 'rm -rf "$dump"' EXIT

"$ours_bin" dump --out "$dump" corpus/photos corpus/full corpus/holdout > "$dump/hashes.jsonl"
$venv/bin/python tools/phash-bench.py compat "$dump/hashes.jsonl"
$venv/bin/python tools/phash-bench.py file "$dump/hashes.jsonl"

echo "speed, $runs runs taking turns, ${pin[*]}:"
mapfile -t files < <(find corpus/full corpus/holdout -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' -o -iname '*.webp' \) | sort)
# Ours and the peers take turns run by run, so that a slow spell of this shared machine
# falls on both.
for ((run = 1; run <= runs; run++)); do
  "${pin[@]}" "$ours_bin" speed --runs 1 "${files[@]}" > "$dump/ours.$run.json"
  "${pin[@]}" $venv/bin/python tools/phash-bench.py speed 1 "${files[@]}" > "$dump/peers.$run.json"
done
$venv/bin/python tools/phash-bench.py report "$dump"
$venv/bin/python tools/phash-bench.py all-cpus "$runs" target/release/stockroom "${files[@]}"
