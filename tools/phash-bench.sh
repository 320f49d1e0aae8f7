#!/usr/bin/env bash
# Hashing beside its peers, one thread each, pinned to one CPU, in the same run:
#  1. compatibility: our PDQ of the very pixels we hash vs Meta's reference (Python
#     `pdqhash`, which wraps the C++), on the bundled and the full corpus;
#  2. speed: images/s of ours vs `pdqhash` and `imagehash.phash` (each decoding with PIL),
#     on the full corpus's JPEGs and on all of it; prints the ratios. Ours two ways: "hash"
#     as `stockroom hash` does (decode + PDQ whole/trimmed/centre + pHash + blake3), the
#     peers' job; "+lookup" as ingest does, with the nine inset PDQs a lookup adds.
#
#   tools/phash-bench.sh [RUNS]     (default 5; fetches corpus/full; a venv in target/py)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
source tools/build-deps.sh
[ -f corpus/full/manifest.jsonl ] || corpus/fetch-full.sh
source tools/py-venv.sh pdqhash imagehash numpy pillow
cargo build --release -q -p stockroom-phash-bench
ours_bin=target/release/stockroom-phash-bench
pin=(taskset -c "$(($(nproc) - 1))")
dump=$(mktemp -d)
trap 'rm -rf "$dump"' EXIT

"$ours_bin" dump --out "$dump" corpus/photos corpus/full > "$dump/hashes.jsonl"
$venv/bin/python tools/phash-bench.py compat "$dump/hashes.jsonl"

compare() { # label, files...
  local label=$1; shift
  local ours peers
  ours=$("${pin[@]}" "$ours_bin" speed --runs "$runs" "$@")
  peers=$("${pin[@]}" $venv/bin/python tools/phash-bench.py speed "$runs" "$@")
  $venv/bin/python - "$label" "$#" "$ours" "$peers" <<'PY'
import json, sys
label, n, ours, peers = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
pdq, ih = peers["pdqhash_images_per_second"], peers["imagehash_images_per_second"]
for way, key in (("hash", "images_per_second"), ("+lookup", "lookup_images_per_second")):
    rate = ours[key]
    print(f"{label:5} {n:3} files | stockroom {way:8} {rate:6.1f} img/s | pdqhash {pdq:5.2f} img/s ({rate / pdq:4.1f}x) | imagehash.phash {ih:5.2f} img/s ({rate / ih:4.1f}x)")
PY
}
echo "speed, median of $runs runs, ${pin[*]}:"
all=$(find corpus/full -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' -o -iname '*.webp' \) | sort)
# shellcheck disable=SC2046
compare jpeg $(echo "$all" | grep -iE '\.jpe?g$')
# shellcheck disable=SC2086
compare all $all
