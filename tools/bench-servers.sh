# Sourced by tools/guard-bench.sh and tools/redis-guard-bench.sh: servers of one build on
# copies of a data directory, pinned to the last CPU while wrk gets the others, and keyed
# preview requests measured by wrk. Expects $bin, $connections and $seconds (and $key
# before `measure`); sets $work, a temporary directory removed on exit with every server.

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

cpus=$(nproc)
server_pin=() client_pin=()
if [ "$cpus" -ge 2 ]; then
  server_pin=(taskset -c "$((cpus - 1))")
  client_pin=(taskset -c "0-$((cpus - 2))")
fi

start() { # name: serves $work/<name> with $work/<name>.toml; not in a subshell, so that
          # the cleanup sees its pid
  "${server_pin[@]}" "$bin" serve --data "$work/$1" --config "$work/$1.toml" --listen 127.0.0.1:0 \
    >"$work/$1.out" 2>"$work/$1.err" &
  pids+=($!)
  server_pid[$1]=$!
  for _ in $(seq 100); do [ -s "$work/$1.out" ] && break; sleep 0.1; done
}
declare -A server_pid=()

cpu_ticks() { # pid: CPU time used so far (user + system), in clock ticks
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}
url() { echo "http://$(sed -E 's/.*"listening":"([^"]+)".*/\1/' "$work/$1.out" | head -1)"; }

ids() { sed -nE 's/.*"status":"stored","id":"([0-9a-f]+)".*/\1/p' "$1"; }

preview_requests() { # url...: the large previews of $work/photos.jsonl's assets, drawn
                     # once on each server, in $paths and cycled by $work/previews.lua
  paths=()
  for id in $(ids "$work/photos.jsonl"); do
    paths+=("/v1/previews/$id/large.jpg")
    for url in "$@"; do curl -sf -o /dev/null "$url/v1/previews/$id/large.jpg"; done
  done
  { echo "local paths = {"; printf '  "%s",\n' "${paths[@]}"; echo "}"
    echo 'local i = 0'
    echo 'request = function() i = i % #paths + 1; return wrk.format("GET", paths[i]) end'; } >"$work/previews.lua"
}

measure() { # url → "req/s p50_ms p99_ms non2xx"
  "${client_pin[@]}" wrk -t2 -c"$connections" -d"${seconds}s" --latency -H "Authorization: Bearer $key" \
    -s "$work/previews.lua" "$1" | awk '
    function ms(v) { if (v ~ /us$/) return v * 0.001; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) }
    /^Requests\/sec:/ { rps = $2 } /Non-2xx/ { bad = $NF }
    END { printf "%s %s %s %d\n", rps, p50, p99, bad }'
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
col() { printf '%s\n' "$@" | cut -d' ' -f"$col" | median; } # with $col set: that column's median
