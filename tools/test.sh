#!/usr/bin/env bash
# The test command: installs what the build needs (cmake and nasm, for the bundled
# libjpeg-turbo) if it is missing, then runs every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v nasm >/dev/null || need+=(nasm)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "tools/test.sh: install ${need[*]} first (sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
fi
exec cargo test --workspace "$@"
