#!/usr/bin/env bash
# The demo command: installs what the build needs (cmake and nasm, for the bundled
# libjpeg-turbo) if it is missing, then builds and runs `stockroom demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/build-deps.sh
exec cargo run --release -q -p stockroom -- demo "$@"
