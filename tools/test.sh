#!/usr/bin/env bash
# The test command: installs what the build needs (cmake and nasm, for the bundled
# libjpeg-turbo) if it is missing, then runs every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/build-deps.sh
exec cargo test --workspace "$@"
