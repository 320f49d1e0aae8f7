#!/usr/bin/env bash
# What sharing the rate limits through Redis costs in the hot path: previews fetched with
# an API key (a GCRA decision per request) from two servers over copies of one data
# directory, one deciding in process, one deciding in Redis (`[guard] redis_url`, a
# redis-server started here on loopback), measured by wrk in alternating rounds: medians
# of req/s, p50 and p99 and the ratio (target: Redis at least 0.9x). The preview limit is
# raised out of reach so that every request is decided and none refused. The servers
# share the last CPU and wrk gets the others, as in tools/guard-bench.sh; redis-server runs
# beside wrk, not on the node's CPU, as a deployment's Redis runs on its own machine. Each
# server's CPU time per request (user + system, from /proc) is printed too: what the
# shared limits cost the node itself, whatever the machine's other loads.
#
#   tools/redis-guard-bench.sh [SECONDS] [ROUNDS] [CONNECTIONS]   (defaults 10, 5, 64)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
rounds=${2:-5}
connections=${3:-64}
source tools/build-deps.sh
install_missing wrk curl redis-server
cargo build --release -q -p stockroom
bin=$PWD/target/release/stockroom

source tools/bench-servers.sh

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${client_pin[@]}" redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$work" >/dev/null &
pids+=($!)
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done

cat >"$work/local.toml" <<EOF2
[guard.previews]
requests = 1000000000
window_secs = 1
EOF2
{ echo "[guard]"; echo "redis_url = \"redis://127.0.0.1:$port/\""; cat "$work/local.toml"; } >"$work/redis.toml"

echo "ingesting the corpus ..." >&2
"$bin" ingest --data "$work/local" --manifest corpus/manifest.jsonl >"$work/photos.jsonl" 2>/dev/null
key=$("$bin" members add --data "$work/local" --name Api --role customer --tier registered |
  sed -E 's/.*"keys":\["([^"]+)".*/\1/')
cp -a "$work/local" "$work/redis"
start local
start redis
local_url=$(url local)
redis_url=$(url redis)
curl -sf "$redis_url/metrics" | grep -q '^stockroom_guard_shared_up 1' ||
  { echo "the Redis server's guard is not shared" >&2; exit 1; }

preview_requests "$local_url" "$redis_url"

echo "keyed previews: wrk -t2 -c$connections -d${seconds}s, $rounds rounds alternating, medians; servers ${server_pin[*]:-unpinned}, wrk ${client_pin[*]:-unpinned}" >&2
ticks=$(getconf CLK_TCK)
measured() { # name url → "req/s p50_ms p99_ms non2xx cpu_us_per_request"
  local before result after
  before=$(cpu_ticks "${server_pid[$1]}")
  result=$(measure "$2")
  after=$(cpu_ticks "${server_pid[$1]}")
  echo "$result" | awk -v t="$((after - before))" -v hz="$ticks" -v s="$seconds" \
    '{ printf "%s %.1f\n", $0, t / hz * 1e6 / ($1 * s) }'
}
a=() b=()
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then
    a+=("$(measured local "$local_url")"); b+=("$(measured redis "$redis_url")")
  else
    b+=("$(measured redis "$redis_url")"); a+=("$(measured local "$local_url")")
  fi
done
for i in "${!a[@]}"; do echo "   round $((i + 1)): in process ${a[$i]} | redis ${b[$i]}" >&2; done
col=1; a_rps=$(col "${a[@]}"); b_rps=$(col "${b[@]}")
col=2; a_p50=$(col "${a[@]}"); b_p50=$(col "${b[@]}")
col=3; a_p99=$(col "${a[@]}"); b_p99=$(col "${b[@]}")
col=5; a_cpu=$(col "${a[@]}"); b_cpu=$(col "${b[@]}")
refused=$(printf '%s\n' "${a[@]}" "${b[@]}" | awk '{ n += $4 } END { print n + 0 }')
paired=$(for i in "${!a[@]}"; do echo "${b[$i]%% *} ${a[$i]%% *}"; done | awk '{ print $1 / $2 }' | median)
awk -v a="$a_rps" -v b="$b_rps" -v c="$a_p50" -v d="$b_p50" -v e="$a_p99" -v f="$b_p99" -v n="$refused" -v r="$paired" \
  -v g="$a_cpu" -v h="$b_cpu" 'BEGIN {
  printf "keyed previews: limits in process %.0f req/s (p50 %.2f ms, p99 %.2f ms, %.1f us CPU a request) | in Redis %.0f req/s (p50 %.2f ms, p99 %.2f ms, %.1f us CPU a request) | redis/in-process %.3fx, median of the rounds\x27 ratios %.3fx, p99 %.2fx, CPU a request %.2fx; non-2xx: %d\n",
    a, c, e, g, b, d, f, h, b / a, r, f / e, h / g, n }'
