#!/usr/bin/env bash
# HTTP load benchmark with wrk, all figures from one run on this machine:
#   - GET /healthz (the ceiling of the HTTP stack) against GET /v1/check, same server;
#   - POST /v1/check with 10,000-name batches (names per second);
#   - the naive design (examples/naive_check.rs: one Redis round trip per check).
# The server runs with one worker pinned to core 0, wrk pinned to core 1. Each measurement is
# repeated RUNS times, alternating, and the median is reported.
# Usage: benches/load.sh   (env: ENTRIES=100000 DURATION=10 RUNS=3 CONNS=50; DELIVER=false
# measures a lookup node that leaves notice delivery to other nodes)
set -euo pipefail
cd "$(dirname "$0")/.."
# The optimised build the Dockerfile ships (fat LTO); PROFILE=release measures the faster-building one.
PROFILE=${PROFILE:-dist}

ENTRIES=${ENTRIES:-100000}
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
CONNS=${CONNS:-50}
ADMIN=bench-admin-token-0123456789abcdef

for tool in wrk redis-server; do
    command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq "${tool/redis-server/redis-server}"; }
done

cargo build --profile "$PROFILE" --quiet --bin siteban --example gen_entries --example naive_check
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ok() { for _ in $(seq 1 600); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

target/$PROFILE/examples/gen_entries "$ENTRIES" > "$work/entries.ndjson"
. benches/check_queries.sh
write_check_queries "$work"
cat > "$work/batch.lua" <<LUA
local f = io.open("$work/batch.json"); local body = f:read("*a"); f:close()
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
LUA

# siteban on the embedded store, loaded by the import command.
SITEBAN__STORE__PATH="$work/data" SITEBAN__LOG__LEVEL=warn target/$PROFILE/siteban import "$work/entries.ndjson"
port=$(free_port)
SITEBAN__STORE__PATH="$work/data" SITEBAN__SERVER__LISTEN="127.0.0.1:$port" SITEBAN__SERVER__WORKERS=1 \
SITEBAN__AUTH__ADMIN_TOKEN=$ADMIN SITEBAN__LOG__LEVEL=warn SITEBAN__NOTICES__DELIVER="${DELIVER:-true}" \
taskset -c 0 target/$PROFILE/siteban serve --config config/unlimited.toml &
pids+=($!)
wait_ok "http://127.0.0.1:$port/readyz"
# The checks come from an access provider's key, bound to its provider as keys of that role are.
provider=$(curl -fs -X POST "http://127.0.0.1:$port/v1/providers" -H "Authorization: Bearer $ADMIN" \
    -H 'Content-Type: application/json' -d '{"name":"load","kind":"access"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
export TOKEN=$(curl -fs -X POST "http://127.0.0.1:$port/v1/keys" -H "Authorization: Bearer $ADMIN" \
    -H 'Content-Type: application/json' -d "{\"name\":\"load\",\"role\":\"access_provider\",\"provider_id\":\"$provider\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
# A wrong token would make every request a fast 401: check one answer first.
curl -fs "http://127.0.0.1:$port/v1/check?domain=a.example.cn" -H "Authorization: Bearer $TOKEN" | grep -q '"listed"' \
    || { echo "the load token does not work" >&2; exit 1; }
rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/${pids[0]}/status")

run_wrk() { # name url [script] [conns]
    local out
    out=$(taskset -c 1 wrk -t1 -c"${4:-$CONNS}" -d"${DURATION}s" --latency ${3:+-s "$3"} "$2")
    echo "$out" > "$work/wrk-$1-$RANDOM.txt"
    python3 -c '
import re, sys
text = sys.stdin.read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
m = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
print(f"{rps:.0f} {p99:.3f}")' <<< "$out"
}

declare -A results
# Phase 1: ceiling and check alternate, so drift on the machine hits both alike.
for run in $(seq 1 "$RUNS"); do
    results[ceiling]+="$(run_wrk ceiling "http://127.0.0.1:$port/healthz" "$work/healthz.lua");"
    results[check]+="$(run_wrk check "http://127.0.0.1:$port/v1/check" "$work/check.lua");"
done
for run in $(seq 1 "$RUNS"); do
    results[batch]+="$(run_wrk batch "http://127.0.0.1:$port/v1/check" "$work/batch.lua" 4);"
done
kill "${pids[0]}"

# The naive design: its own Redis, loaded with the same entries, same HTTP stack.
rport=$(free_port); nport=$(free_port)
taskset -c 0 redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --logfile "$work/redis.log" &
pids+=($!)
sleep 0.3
taskset -c 0 target/$PROFILE/examples/naive_check "redis://127.0.0.1:$rport/0" "$nport" "$work/entries.ndjson" &
pids+=($!)
wait_ok "http://127.0.0.1:$nport/healthz"

for run in $(seq 1 "$RUNS"); do
    results[naive]+="$(run_wrk naive "http://127.0.0.1:$nport/v1/check" "$work/check.lua");"
done

python3 - "$ENTRIES" "$rss_kib" "${results[ceiling]}" "${results[check]}" "${results[batch]}" "${results[naive]}" <<'PY'
import statistics, sys
entries, rss = int(sys.argv[1]), int(sys.argv[2])
def parse(s):
    runs = [tuple(map(float, r.split())) for r in s.split(";") if r]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs), [int(r[0]) for r in runs]
ceiling, check, batch, naive = (parse(s) for s in sys.argv[3:7])
print(f"\n{entries} entries, server RSS {rss/1024:.0f} MiB; medians of {len(ceiling[2])} runs")
print("| measurement | requests/s (median) | p99 ms | runs |")
print("| --- | --- | --- | --- |")
print(f"| GET /healthz (ceiling) | {ceiling[0]:.0f} | {ceiling[1]:.3f} | {ceiling[2]} |")
print(f"| GET /v1/check | {check[0]:.0f} | {check[1]:.3f} | {check[2]} |")
print(f"| POST /v1/check, 10,000 names | {batch[0]:.1f} ({batch[0]*10000:.0f} names/s) | {batch[1]:.3f} | {batch[2]} |")
print(f"| naive: one Redis read per check | {naive[0]:.0f} | {naive[1]:.3f} | {naive[2]} |")
paired = statistics.median(c / h for c, h in zip(check[2], ceiling[2]))
print(f"\ncheck / ceiling: median of paired runs {paired:.2f}; check / naive = {check[0]/naive[0]:.2f}")
PY
