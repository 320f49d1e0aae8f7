#!/usr/bin/env bash
# Licences recorded per second with durability on, under concurrency: the catalogue's
# group commit beside one SQLite transaction per licence, in the same run, on the disk of
# DIR (default: target/ledger-bench, i.e. the disk a data dir would use here).
#
#   tools/ledger-bench.sh [RUNS] [DIR]      (default 3 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
dir=${2:-target/ledger-bench}
mkdir -p "$dir"
cargo build --release -q -p stockroom-ledger-bench
target/release/stockroom-ledger-bench --runs "$runs" --dir "$dir"
