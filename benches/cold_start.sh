#!/usr/bin/env bash
# Cold start from Redis: ENTRIES (default 1,000,000) entries are imported into a Redis of the
# script's own, then a fresh `siteban serve` is started RUNS times; each time the script
# measures the time until /readyz answers 200, the load time the node logs, and the node's
# RSS, against an empty node's RSS. Medians are reported.
# Usage: benches/cold_start.sh   (env: ENTRIES=1000000 RUNS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
# The optimised build the Dockerfile ships (fat LTO); PROFILE=release measures the faster-building one.
PROFILE=${PROFILE:-dist}

ENTRIES=${ENTRIES:-1000000}
RUNS=${RUNS:-3}
ADMIN=bench-admin-token-0123456789abcdef
command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }

cargo build --profile "$PROFILE" --quiet --bin siteban --example gen_entries
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --logfile "$work/redis.log" &
pids+=($!)
sleep 0.3
export SITEBAN__STORE__BACKEND=redis SITEBAN__STORE__REDIS_URL="redis://127.0.0.1:$rport/0"
export SITEBAN__AUTH__ADMIN_TOKEN=$ADMIN SITEBAN__STORE__PATH="$work/data" SITEBAN__LOG__FORMAT=json

# Returns "ms_to_ready load_ms rss_kib" for one fresh node.
start_node() {
    local port pid start log="$work/node-$RANDOM.log"
    port=$(free_port)
    start=$(now_ms)
    SITEBAN__SERVER__LISTEN="127.0.0.1:$port" SITEBAN__SERVER__WORKERS=1 target/$PROFILE/siteban serve --config config/unlimited.toml 2> "$log" &
    pid=$!
    until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do sleep 0.02; done
    local ready=$(( $(now_ms) - start ))
    local load_ms
    load_ms=$(python3 -c 'import json,sys
for line in open(sys.argv[1]):
    try: event = json.loads(line)
    except ValueError: continue
    if event.get("message") == "index loaded": print(event["elapsed_ms"])' "$log")
    local rss
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "$ready $load_ms $rss"
}

empty=$(start_node)
gen_start=$(now_ms)
target/$PROFILE/examples/gen_entries "$ENTRIES" > "$work/entries.ndjson"
import_start=$(now_ms)
target/$PROFILE/siteban import "$work/entries.ndjson" 2>/dev/null
import_ms=$(( $(now_ms) - import_start ))

runs=()
for _ in $(seq 1 "$RUNS"); do runs+=("$(start_node)"); done

python3 - "$ENTRIES" "$import_ms" "$empty" "${runs[@]}" <<'PY'
import statistics, sys
entries, import_ms = int(sys.argv[1]), int(sys.argv[2])
empty = list(map(int, sys.argv[3].split()))
runs = [list(map(int, r.split())) for r in sys.argv[4:]]
ready = statistics.median(r[0] for r in runs)
load = statistics.median(r[1] for r in runs)
rss = statistics.median(r[2] for r in runs)
print(f"\n{entries} entries in Redis (import took {import_ms/1000:.1f} s)")
print(f"| measurement | median | runs |")
print(f"| --- | --- | --- |")
print(f"| start to /readyz 200 | {ready/1000:.2f} s | {[r[0] for r in runs]} ms |")
print(f"| index load logged by the node | {load/1000:.2f} s | {[r[1] for r in runs]} ms |")
print(f"| node RSS | {rss/1024:.0f} MiB (empty node {empty[2]/1024:.0f} MiB) | {[r[2] for r in runs]} KiB |")
print(f"| RSS per entry | {(rss - empty[2]) * 1024 / entries:.0f} bytes | |")
PY
