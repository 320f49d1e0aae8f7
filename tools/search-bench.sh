#!/usr/bin/env bash
# Keyword search over COUNT synthetic assets: stockroom's index beside PostgreSQL
# full-text search (GIN) and SQLite FTS5, one workload, one run. Installs Debian's
# postgresql if it is missing, makes the records with stockroom-synth (kept in
# target/search-bench for the next run), starts PostgreSQL on a temporary data directory
# and stops it at the end.
#
#   tools/search-bench.sh [COUNT] [QUERIES]      (default 1000000 assets, 2000 queries)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-1000000}
queries=${2:-2000}
work=target/search-bench

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

cargo build --release -q -p stockroom-synth -p stockroom-search-bench
records=$work/records-$count
if [ ! -s "$records/records.jsonl" ]; then
  target/release/stockroom-synth --count "$count" --images 0 --out "$records"
fi

# PostgreSQL will not run as root: as root, run it as the postgres user.
pgdata=$(mktemp -d /tmp/stockroom-pg.XXXXXX)
as_pg=()
if [ "$(id -u)" = 0 ]; then
  chown postgres "$pgdata"
  as_pg=(runuser -u postgres --)
fi
"${as_pg[@]}" "$pgbin/initdb" -D "$pgdata/data" -A trust -U postgres >/dev/null
# Memory for caching and index builds; JIT off (it slows short queries); durability off
# for the load (queries do not write).
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdata/data" -l "$pgdata/log" -w start -o \
  "-k $pgdata -c listen_addresses='' -c shared_buffers=2GB -c effective_cache_size=8GB -c work_mem=64MB -c maintenance_work_mem=1GB -c jit=off -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null
trap '"${as_pg[@]}" "$pgbin/pg_ctl" -D "$pgdata/data" -m fast stop >/dev/null; rm -rf "$pgdata"' EXIT

"$pgbin/postgres" --version
# Every match counted, as the peers count them: the comparison stays like for like (by
# default, broad searches by relevance estimate their totals; run stockroom-search-bench
# with --only-ours for that).
target/release/stockroom-search-bench --records "$records/records.jsonl" --work "$work/engines" \
  --queries "$queries" --postgres "host=$pgdata user=postgres dbname=postgres" --exact-totals
