#!/usr/bin/env bash
# Serving speed beside nginx, on loopback with wrk, in one run:
#  - cached `large` previews: Stockroom (from its store's mapping, with ETag, Surrogate-Key
#    and the access log) against nginx serving the very same bytes as static files with
#    sendfile (and its access log, buffered);
#  - originals of 5–20 MB (the full corpus's large photos): Stockroom's signed download
#    links against nginx serving the same files.
# Rounds alternate which server goes first; the medians of req/s, p50 and p99 (and MB/s
# for originals) are printed with the ratios. Both servers get every CPU; wrk shares them.
#
#   tools/serve-bench.sh [SECONDS] [ROUNDS] [CONNECTIONS]   (defaults 10, 5, 64)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
rounds=${2:-5}
connections=${3:-64}
source tools/build-deps.sh
install_missing wrk nginx curl
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -f corpus/full/manifest.jsonl ] || corpus/fetch-full.sh
cargo build --release -q -p stockroom
bin=$PWD/target/release/stockroom

work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

echo "ingesting the corpus and the full corpus's 5–20 MB photos ..." >&2
"$bin" ingest --data "$work/data" --manifest corpus/manifest.jsonl >"$work/photos.jsonl" 2>/dev/null
mapfile -t big < <(find corpus/full -type f \( -name '*.jpg' -o -name '*.png' -o -name '*.webp' \) \
  -size +5M -size -20M | sort)
"$bin" ingest --data "$work/data" "${big[@]}" >"$work/big.jsonl" 2>/dev/null || true

"$bin" serve --data "$work/data" --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/serve.out" ] && break; sleep 0.1; done
ours=http://$(sed -E 's/.*"listening":"([^"]+)".*/\1/' "$work/serve.out" | head -1)

ids() { sed -nE 's/.*"status":"stored","id":"([0-9a-f]+)".*/\1/p' "$1"; }
preview_paths=()
for id in $(ids "$work/photos.jsonl"); do
  path=/v1/previews/$id/large.jpg
  mkdir -p "$work/www/v1/previews/$id"
  curl -sf -o "$work/www$path" "$ours$path" # renders it, and gives nginx the same bytes
  preview_paths+=("$path")
done
download_paths=() static_paths=()
for id in $(ids "$work/big.jsonl"); do
  url=$(curl -sf -X POST "$ours/v1/assets/$id/licenses" | sed -E 's/.*"download_url":"([^"]+)".*/\1/')
  mkdir -p "$work/www/originals"
  curl -sf -o "$work/www/originals/$id" "$ours$url"
  download_paths+=("$url")
  static_paths+=("/originals/$id")
done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/nginx.conf" <<EOF
worker_processes $(nproc);
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  access_log $work/nginx-access.log combined buffer=64k;
  types { image/jpeg jpg; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$port;
    root $work/www;
    location /v1/previews/ {
      add_header Cache-Control "public, max-age=31536000, immutable";
    }
  }
}
EOF
chmod -R a+rX "$work" # nginx's workers run as www-data
"$nginx_bin" -c "$work/nginx.conf" -p "$work"
theirs=http://127.0.0.1:$port
# Both must answer the same bytes, or the comparison means nothing.
check() { # ours-path, nginx-path
  cmp -s <(curl -sf "$ours$1") <(curl -sf "$theirs$2") || { echo "nginx and stockroom differ on $1" >&2; exit 1; }
}
check "${preview_paths[0]}" "${preview_paths[0]}"
check "${download_paths[0]}" "${static_paths[0]}"

script() { # file, paths...
  local file=$1; shift
  { echo "local paths = {"; printf '  "%s",\n' "$@"; echo "}"
    echo 'local i = 0'
    echo 'request = function() i = i % #paths + 1; return wrk.format("GET", paths[i]) end'; } >"$file"
}
script "$work/ours-previews.lua" "${preview_paths[@]}"
script "$work/nginx-previews.lua" "${preview_paths[@]}"
script "$work/ours-originals.lua" "${download_paths[@]}"
script "$work/nginx-originals.lua" "${static_paths[@]}"

# One wrk run → "req/s p50_ms p99_ms MB/s".
measure() { # url, script, connections
  wrk -t2 -c"$3" -d"${seconds}s" --latency -s "$2" "$1" | awk '
    function ms(v) { if (v ~ /us$/) return v * 0.001; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    function mb(v) { if (v ~ /GB$/) return v * 1024; if (v ~ /MB$/) return v + 0; if (v ~ /KB$/) return v / 1024; return v / 1048576 }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
    /^Requests\/sec:/ { rps = $2 } /^Transfer\/sec:/ { rate = mb($2) }
    END { printf "%s %s %s %s\n", rps, p50, p99, rate }'
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

compare() { # label, connections, ours-script, nginx-script
  local label=$1 conns=$2 a=() b=() r
  for r in $(seq "$rounds"); do
    if [ $((r % 2)) = 1 ]; then
      a+=("$(measure "$ours" "$3" "$conns")"); b+=("$(measure "$theirs" "$4" "$conns")")
    else
      b+=("$(measure "$theirs" "$4" "$conns")"); a+=("$(measure "$ours" "$3" "$conns")")
    fi
  done
  local col ours_med=() nginx_med=()
  for col in 1 2 3 4; do
    ours_med+=("$(printf '%s\n' "${a[@]}" | cut -d' ' -f$col | median)")
    nginx_med+=("$(printf '%s\n' "${b[@]}" | cut -d' ' -f$col | median)")
  done
  awk -v l="$label" -v c="$conns" -v o="${ours_med[*]}" -v n="${nginx_med[*]}" 'BEGIN {
    split(o, x, " "); split(n, y, " ")
    printf "%-9s c=%-3d stockroom %9.0f req/s p50 %6.2f ms p99 %6.2f ms %7.0f MB/s | nginx %9.0f req/s p50 %6.2f ms p99 %6.2f ms %7.0f MB/s | req/s %.2fx  p99 %.2fx  MB/s %.2fx\n",
      l, c, x[1], x[2], x[3], x[4], y[1], y[2], y[3], y[4], x[1] / y[1], x[3] / y[3], x[4] / y[4] }'
}

echo "wrk -t2 -d${seconds}s, $rounds rounds alternating, medians; $(nproc) CPUs shared by both servers and wrk" >&2
echo "previews: ${#preview_paths[@]} large previews ($(du -sh "$work/www/v1" | cut -f1)); originals: ${#download_paths[@]} files ($(du -sh "$work/www/originals" | cut -f1))" >&2
compare previews "$connections" "$work/ours-previews.lua" "$work/nginx-previews.lua"
compare originals 8 "$work/ours-originals.lua" "$work/nginx-originals.lua"
