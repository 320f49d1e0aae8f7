#!/usr/bin/env bash
# Originals in Garage beside the local blob store (issue 21): upload p50/p99 and download
# MB/s, same files, same run, alternating rounds. Garage runs on loopback on this machine,
# so the figures are the S3 protocol's and Garage's cost, not a network's.
#
#   tools/originals-bench.sh [ROUNDS]   (default 3; fetches corpus/full if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
source tools/build-deps.sh
[ -f corpus/full/manifest.jsonl ] || corpus/fetch-full.sh
if ! command -v garage >/dev/null && ! [ -x "$HOME/.cargo/bin/garage" ]; then
  cargo install garage --locked --quiet --no-default-features --features bundled-libs,sqlite
fi
cargo build --release -q -p stockroom-originals-bench
target/release/stockroom-originals-bench --rounds "$rounds" corpus/full
