#!/usr/bin/env bash
# The fair-use traffic simulator: a catalogue of synthetic photos, a real `stockroom
# serve` with the default guard and quotas, members of each population made through the
# CLI, then tools/guard-sim.py drives them all at once over HTTP for SECONDS and prints
# per-population outcomes and the detectors' precision and recall.
#
#   tools/guard-sim.sh [SECONDS] [ORDINARY]      (defaults 180 s, 300 ordinary members)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-180}
ordinary=${2:-300}
source tools/build-deps.sh
install_missing python3
cargo build --release -q -p stockroom -p stockroom-synth
bin=$PWD/target/release/stockroom

work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

echo "making and ingesting 600 synthetic photos ..." >&2
target/release/stockroom-synth --count 600 --images 600 --max-side 640 --out "$work/synth" >/dev/null
"$bin" ingest --data "$work/data" --manifest "$work/synth/manifest.jsonl" >/dev/null 2>&1

echo "making members ..." >&2
: >"$work/members.jsonl"
add() { # LABEL TIER SEATS
  "$bin" members add --data "$work/data" --name "$1" --role customer --tier "$2" --seats "$3" |
    sed "s/^{/{\"label\":\"$1\",/" >>"$work/members.jsonl"
}
for _ in $(seq "$ordinary"); do add ordinary registered 1; done
for _ in $(seq 20); do add agency unlimited 1; done
for _ in $(seq 10); do add team unlimited 5; done
for style in bulk scripted sweeper walker; do
  for _ in $(seq 10); do add "$style" unlimited 1; done
done
for _ in $(seq 20); do add shared registered 1; done
for style in leaver finisher; do
  for _ in $(seq 10); do add "$style" unlimited 1; done
done
moderator=$("$bin" members add --data "$work/data" --name Mo --role moderator --tier registered |
  sed -E 's/.*"keys":\["([^"]+)".*/\1/')
admin=$("$bin" members add --data "$work/data" --name Ada --role admin --tier registered |
  sed -E 's/.*"keys":\["([^"]+)".*/\1/')
# Leavers and finishers: memberships that end two days from now.
ends=$(($(date +%s) + 2 * 86400))
grep -E '"label":"(leaver|finisher)"' "$work/members.jsonl" |
  sed -E 's/.*"id":"([^"]+)".*/\1/' | while read -r id; do
  "$bin" members set "$id" --data "$work/data" --key "$admin" --ends "$ends" --reason sim >/dev/null
done
# The simulation compresses days into minutes: the ending signal's share of the daily
# limit is scaled to a run of a few minutes (a leaver's ~30 licences), the rest is default.
cat >"$work/config.toml" <<'TOML'
[guard.stockpiling]
ending_share = 0.05
TOML
echo "serving with guard.stockpiling.ending_share = 0.05 (default 0.25): days are minutes here" >&2

"$bin" --config "$work/config.toml" serve --data "$work/data" --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/serve.out" ] && break; sleep 0.1; done
url=http://$(sed -E 's/.*"listening":"([^"]+)".*/\1/' "$work/serve.out" | head -1)

# What the populations know: free assets (a scraper's list), authors with their portfolio
# sizes, the catalogue's words.
python3 - "$url" "$work" "$moderator" <<'EOF'
import json, sys, urllib.request
url, work, moderator = sys.argv[1:]
def get(path):
    return json.load(urllib.request.urlopen(url + path))
free, page = [], 1
while True:
    results = get(f"/v1/search?collection=free&per_page=100&page={page}")["results"]
    if not results:
        break
    free += [r["id"] for r in results]
    page += 1
authors = sorted(get("/v1/search?per_page=1&facets=author")["facets"]["author"].items(),
                 key=lambda item: -item[1])
words = sorted({w for line in open(f"{work}/synth/manifest.jsonl")
                for w in json.loads(line)["keywords"]})
members = [json.loads(line) for line in open(f"{work}/members.jsonl")]
json.dump({"members": members, "moderator": moderator, "free": free, "authors": authors,
           "words": words, "anonymous": 40}, open(f"{work}/setup.json", "w"))
print(f"{len(free)} free assets, {len(authors)} authors "
      f"({sum(1 for _, n in authors if n >= 15)} with 15 or more), {len(members)} members",
      file=sys.stderr)
EOF

python3 tools/guard-sim.py --url "$url" --setup "$work/setup.json" --seconds "$seconds"
echo
echo "server: $(grep -c . "$work/serve.err" || true) log lines;" \
  "$(curl -s "$url/metrics" | grep -E '^stockroom_(rate_limited|quota_refusals|member_flags|throttled_streams)_total' | tr '\n' ' ')"
