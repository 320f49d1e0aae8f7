#!/usr/bin/env bash
# Recall of the duplicate detector per transformation at >= 99.99% precision, beside plain
# PDQ and pHash on the same queries: every photo of the full corpus, transformed 40 ways,
# looked up among the corpus plus distractors (grid tiles and WINDOWS pyramid windows per
# photo). See tools/dupes-eval/src/main.rs for the method. Takes a few minutes on 2 cores.
#
#   tools/dupes-eval.sh [WINDOWS] [--misses]
set -euo pipefail
cd "$(dirname "$0")/.."
windows=${1:-4000}
shift || true
source tools/build-deps.sh
[ -f corpus/full/manifest.jsonl ] || corpus/fetch-full.sh
cargo build --release -q -p stockroom-dupes-eval
target/release/stockroom-dupes-eval --windows "$windows" "$@" corpus/full
