#!/usr/bin/env bash
# The change feed's lag (issue 22): uploads through node A at a steady rate, each timed from
# A's 201 until node B's search finds it, with the catalogue in a throwaway PostgreSQL and
# originals in Garage, all on loopback.
#
#   tools/feed-lag.sh [RATE] [UPLOADS]   (default 50 a second, 500 uploads)
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-50}
uploads=${2:-500}
source tools/build-deps.sh
if ! command -v garage >/dev/null && ! [ -x "$HOME/.cargo/bin/garage" ]; then
  cargo install garage --locked --quiet --no-default-features --features bundled-libs,sqlite
fi
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
cargo build --release -q -p stockroom -p stockroom-feed-lag
target/release/stockroom-feed-lag --rate "$rate" --uploads "$uploads" --stockroom target/release/stockroom
