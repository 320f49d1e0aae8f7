#!/usr/bin/env bash
# The test command: installs what the build needs (cmake and nasm, for the bundled
# libjpeg-turbo) and what the tests run beside the server (Debian's varnish, the caching
# proxy of tests/server.rs; Chromium and chromedriver for tests/console.rs; PostgreSQL's
# server, which the catalogue tests and the cluster suite start in temporary directories;
# redis-server; Garage and HAProxy for tests/cluster.rs) if missing, then runs every test in
# the workspace, the cluster suite, and then the API fuzzer (tools/api-fuzz.sh: schemathesis against the server, 30 s for each of five
# roles, a fixed seed; set API_FUZZ_SECONDS=0 to skip it while iterating).
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
# The moderation console's browser test drives Debian's Chromium through chromedriver.
if ! [ -x /usr/bin/chromium ] || ! [ -x /usr/bin/chromedriver ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "chromium is not installed: the console's browser test will be skipped (sudo apt-get install chromium chromium-driver)" >&2
  fi
fi
# PostgreSQL: every catalogue test runs on it too (crates/catalog/tests/terms.rs), against a
# throwaway cluster the tests make with its initdb (tests/common or the catalogue's
# tests/support/postgres.rs); the package's own cluster is not used.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "PostgreSQL is not installed: the catalogue's tests on it will fail (sudo apt-get install postgresql)" >&2
  fi
fi
# Redis: the shared rate limits' tests (crates/redis/tests, tests/cluster.rs) start their own
# redis-server on a free port.
if ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "redis-server is not installed: the shared rate-limit tests will fail (sudo apt-get install redis-server)" >&2
  fi
fi
# HAProxy: the load balancer in front of the cluster suite's three nodes.
if ! command -v haproxy >/dev/null && ! [ -x /usr/sbin/haproxy ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
  else
    echo "haproxy is not installed: the cluster suite's load-balancer tests will fail (sudo apt-get install haproxy)" >&2
  fi
fi
# Garage, the S3 server of the cluster suite (tests/cluster.rs): built from crates.io once
# per machine and reused; with only the SQLite metadata engine (no LMDB, K2V or metrics,
# which the tests do not use), a smaller build than the default.
if ! command -v garage >/dev/null && ! [ -x "$HOME/.cargo/bin/garage" ]; then
  echo "installing garage (once per machine, ~7.5 minutes on 2 cores)" >&2
  cargo install garage --locked --quiet --no-default-features --features bundled-libs,sqlite
fi
cargo test --workspace "$@"
# The cluster suite: real Garage, PostgreSQL, Redis and HAProxy on loopback, started by the
# tests themselves, and three stockroom nodes.
cargo test -p stockroom --test cluster "$@" -- --ignored
seconds=${API_FUZZ_SECONDS:-30}
if [ "$seconds" -gt 0 ]; then
  STOCKROOM_BIN=$PWD/target/debug/stockroom tools/api-fuzz.sh "$seconds"
fi
