#!/usr/bin/env bash
# What the guard costs in the hot path, and how exactly it paces:
#  1. Previews fetched with an API key (the path where the guard does the most per
#     request: key lookup, the GCRA check, the login-misuse and "seen" signals, two
#     RateLimit fields) from two servers over copies of one data directory, one with the
#     guard on, one with `[guard] enabled = false`, measured by wrk in alternating rounds:
#     medians of req/s, p50 and p99 and the ratio. The preview limit is raised out of
#     reach so that every request does the work and none is refused. A third server, a
#     second guard-on copy, is measured in the same rounds: on against on is the noise
#     floor the on/off ratio must be read against. With 2 or more CPUs the servers share
#     the last CPU and wrk gets the others, so that wrk and a server do not trade a core.
#  2. Throttled downloads of 5–20 MB originals: one member past the soft quota with 1, 2
#     and 4 downloads at once, and an anonymous network, delivered rate against the
#     configured one (the rate is shared: n streams get 1/n each).
#
#   tools/guard-bench.sh [SECONDS] [ROUNDS] [CONNECTIONS]   (defaults 10, 5, 64)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
rounds=${2:-5}
connections=${3:-64}
source tools/build-deps.sh
install_missing wrk curl
[ -f corpus/full/manifest.jsonl ] || corpus/fetch-full.sh
cargo build --release -q -p stockroom
bin=$PWD/target/release/stockroom

source tools/bench-servers.sh

throttled=4194304
anonymous=2097152
cat >"$work/on.toml" <<EOF
[guard]
throttled_bytes_per_sec = $throttled
anonymous_bytes_per_sec = $anonymous
[guard.previews]
requests = 1000000000
window_secs = 1
[quotas.registered]
soft_daily = 1
hard_daily = 1000
monthly_review = 0
EOF
printf '[guard]\nenabled = false\n' >"$work/off.toml"

echo "ingesting the corpus and the full corpus's 5–20 MB photos ..." >&2
"$bin" ingest --data "$work/on" --manifest corpus/manifest.jsonl >"$work/photos.jsonl" 2>/dev/null
mapfile -t big < <(find corpus/full -type f -name '*.jpg' -size +5M -size -20M | sort | head -4)
"$bin" ingest --data "$work/on" "${big[@]}" >"$work/big.jsonl" 2>/dev/null || true
key=$("$bin" members add --data "$work/on" --name Api --role customer --tier registered |
  sed -E 's/.*"keys":\["([^"]+)".*/\1/')
cp -a "$work/on" "$work/off"
cp -a "$work/on" "$work/control"
cp "$work/on.toml" "$work/control.toml"
start on
start off
start control
on=$(url on)
off=$(url off)
control=$(url control)

preview_requests "$on" "$off" "$control"
headers=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $key" "$on${paths[0]}")
grep -qi '^ratelimit:' <<<"$headers" || { echo "the guard-on server sent no RateLimit field" >&2; exit 1; }

echo "1. keyed previews: wrk -t2 -c$connections -d${seconds}s, $rounds rounds, the three servers in a rotating order, medians; servers ${server_pin[*]:-unpinned}, wrk ${client_pin[*]:-unpinned}" >&2
a=() b=() c=()
for r in $(seq "$rounds"); do
  case $((r % 3)) in
    1) a+=("$(measure "$on")"); b+=("$(measure "$off")"); c+=("$(measure "$control")") ;;
    2) b+=("$(measure "$off")"); c+=("$(measure "$control")"); a+=("$(measure "$on")") ;;
    0) c+=("$(measure "$control")"); a+=("$(measure "$on")"); b+=("$(measure "$off")") ;;
  esac
done
for i in "${!a[@]}"; do echo "   round $((i + 1)): on ${a[$i]} | off ${b[$i]} | on again ${c[$i]}" >&2; done
col=1; on_rps=$(col "${a[@]}"); off_rps=$(col "${b[@]}")
col=2; on_p50=$(col "${a[@]}"); off_p50=$(col "${b[@]}")
col=3; on_p99=$(col "${a[@]}"); off_p99=$(col "${b[@]}")
refused=$(printf '%s\n' "${a[@]}" | awk '{ n += $4 } END { print n + 0 }')
# Each round's servers ran back to back: the median of their ratios is the fairer figure.
round_ratios() { # two of the arrays' names → one req/s ratio per round
  local -n x=$1 y=$2
  for i in "${!x[@]}"; do echo "${x[$i]%% *} ${y[$i]%% *}"; done | awk '{ print $1 / $2 }'
}
paired=$(round_ratios a b | median)
floor=$(round_ratios a c | median)
floor_spread=$(round_ratios a c | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.3f–%.3f", lo, hi }')
awk -v a="$on_rps" -v b="$off_rps" -v c="$on_p50" -v d="$off_p50" -v e="$on_p99" -v f="$off_p99" -v n="$refused" -v r="$paired" 'BEGIN {
  printf "previews with a key: guard on %.0f req/s (p50 %.2f ms, p99 %.2f ms) | guard off %.0f req/s (p50 %.2f ms, p99 %.2f ms) | on/off %.3fx (%+.1f%%), median of the rounds\x27 ratios %.3fx (%+.1f%%), p99 %.2fx; non-2xx with the guard on: %d\n",
    a, c, e, b, d, f, a / b, (a / b - 1) * 100, r, (r - 1) * 100, e / f, n }'
awk -v r="$floor" -v s="$floor_spread" 'BEGIN { printf "noise floor: the guard-on server against its identical copy, median of the rounds\x27 ratios %.3fx (rounds %sx)\n", r, s }'

echo "2. throttled downloads: configured $throttled B/s per member (shared by its streams), $anonymous B/s per anonymous network" >&2
urls=()
for id in $(ids "$work/big.jsonl"); do
  urls+=("$(curl -sf -X POST -H "Authorization: Bearer $key" "$on/v1/assets/$id/licenses" |
    sed -E 's/.*"download_url":"([^"]+)".*/\1/')")
done
# The first licence was within the soft quota of 1; the member is past it from the second,
# and from then on every download of theirs is paced.
fetch() { # url → "bytes start end"
  curl -sf -o /dev/null -w '%{size_download} %{time_total}\n' "$on$1" | awk -v s="$(date +%s.%N)" '{ printf "%d %s %.6f\n", $1, s, s + $2 }'
}
pace_check() { # label, configured, streams
  local label=$1 configured=$2 n=$3 results
  results=$(for i in $(seq 0 $((n - 1))); do fetch "${urls[$((i % ${#urls[@]}))]}" & done; wait)
  awk -v l="$label" -v r="$configured" -v n="$n" '{ bytes += $1; if (!s || $2 < s) s = $2; if ($3 > e) e = $3; per[NR] = $1 / ($3 - $2) }
    END { total = bytes / (e - s); printf "%-22s %d stream(s): together %.0f B/s = %.3fx configured; each", l, n, total, total / r
          for (i = 1; i <= NR; i++) printf " %.3fx", per[i] / (r / n); printf " of its share\n" }' <<<"$results"
}
for n in 1 2 4; do pace_check "member past soft quota" "$throttled" "$n"; done
anon=$(curl -sf -X POST "$on/v1/assets/$(ids "$work/big.jsonl" | head -1)/licenses" |
  sed -E 's/.*"download_url":"([^"]+)".*/\1/')
urls=("$anon")
pace_check "anonymous network" "$anonymous" 1
