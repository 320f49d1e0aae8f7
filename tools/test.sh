#!/usr/bin/env bash
# The test command: installs what the build needs (cmake and nasm, for the bundled
# libjpeg-turbo) and what the tests run beside the server (Debian's varnish, the caching
# proxy of tests/server.rs) if missing, then runs every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/build-deps.sh
if ! command -v varnishd >/dev/null && ! [ -x /usr/sbin/varnishd ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq varnish >/dev/null
  else
    echo "varnish is not installed: the caching-proxy test will be skipped (sudo apt-get install varnish)" >&2
  fi
fi
exec cargo test --workspace "$@"
