#!/usr/bin/env bash
# Licences recorded per second with durability on, under concurrency: the catalogue's
# group commit beside one transaction per licence, on SQLite and on PostgreSQL, in the same
# run, on the disk of DIR (default: target/ledger-bench, i.e. the disk a data dir would use
# here). PostgreSQL is a throwaway server started here (Debian's postgresql, fsync and
# synchronous_commit on, as shipped), stopped at the end.
#
#   tools/ledger-bench.sh [RUNS] [DIR]      (default 3 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
dir=${2:-target/ledger-bench}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

pgbin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [ ! -x "$pgbin/initdb" ]; then
    echo "no PostgreSQL server (initdb): apt-get install postgresql, or set PG_BIN" >&2
    exit 1
fi
# PostgreSQL refuses to run as root: as root, run it as the postgres user.
as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
    else
        "$@"
    fi
}
pg="$dir/postgres"
rm -rf "$pg"
mkdir -p "$pg"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$pg"
as_postgres "$pgbin/initdb" -D "$pg/data" -U postgres --auth=trust --no-locale -E UTF8 >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_postgres "$pgbin/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $pg -c max_connections=200" start >/dev/null
trap 'as_postgres "$pgbin/pg_ctl" -D "$pg/data" -m fast -w stop >/dev/null; rm -rf "$pg"' EXIT

cargo build --release -q -p stockroom-ledger-bench
target/release/stockroom-ledger-bench --runs "$runs" --dir "$dir" \
    --postgres "postgres://postgres@127.0.0.1:$port/postgres"
