#!/usr/bin/env bash
# Ten million entries on one lookup node, against 100,000 in the same run. One Redis of the
# script's own holds both sets (database 1: BIG entries, database 0: SMALL), filled by
# examples/load_active.rs with the names of benches/data.rs. Then, per set, a fresh
# `siteban serve` (one worker, pinned to core 0) is started; the script measures the time to
# /readyz 200, the index load the node logs and its RSS; then GET /v1/check with wrk (pinned
# to core 1; half the names listed, drawn from the whole set), alternating between the two
# nodes RUNS times; then the time to transfer /v1/snapshot (JSON and text) and /v1/rpz from
# the big node with curl, and the node's peak RSS. Medians are reported.
# Usage: benches/scale.sh   (env: BIG=10000000 SMALL=100000 RUNS=3 DURATION=8 CONNS=50)
set -euo pipefail
cd "$(dirname "$0")/.."
# The optimised build the Dockerfile ships (fat LTO); PROFILE=release measures the faster-building one.
PROFILE=${PROFILE:-dist}

BIG=${BIG:-10000000}
SMALL=${SMALL:-100000}
RUNS=${RUNS:-3}
DURATION=${DURATION:-8}
CONNS=${CONNS:-50}
ADMIN=bench-admin-token-0123456789abcdef
for tool in wrk redis-server curl; do
    command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$tool"; }
done

cargo build --profile "$PROFILE" --quiet --bin siteban --example load_active
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }
median() { python3 -c 'import statistics,sys; print(statistics.median(map(float, sys.argv[1:])))' "$@"; }

rport=$(free_port)
taskset -c 1 redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
    --logfile "$work/redis.log" &
pids+=($!)
until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.05; done
mkdir -p "$work/small" "$work/big"
target/$PROFILE/examples/load_active "redis://127.0.0.1:$rport/0" "$SMALL" "$work/small"
target/$PROFILE/examples/load_active "redis://127.0.0.1:$rport/1" "$BIG" "$work/big"
echo "redis used_memory: $(redis-cli -p "$rport" info memory | awk -F: '/^used_memory_human/ {print $2}' | tr -d '\r')"

# Starts a node on database $1; sets node_pid, node_port and prints "ready_ms load_ms rss_kib".
start_node() {
    local db=$1 log="$work/node-$1-$RANDOM.log" start
    node_port=$(free_port)
    start=$(now_ms)
    SITEBAN__STORE__BACKEND=redis SITEBAN__STORE__REDIS_URL="redis://127.0.0.1:$rport/$db" \
    SITEBAN__STORE__PATH="$work/data$db" SITEBAN__AUTH__ADMIN_TOKEN=$ADMIN SITEBAN__LOG__FORMAT=json \
    SITEBAN__SERVER__LISTEN="127.0.0.1:$node_port" SITEBAN__SERVER__WORKERS=1 \
    SITEBAN__NOTICES__DELIVER=false taskset -c 0 target/$PROFILE/siteban serve --config config/unlimited.toml 2> "$log" &
    node_pid=$!
    pids+=($node_pid)
    until curl -fs "http://127.0.0.1:$node_port/readyz" >/dev/null 2>&1; do sleep 0.05; done
    local ready=$(( $(now_ms) - start ))
    local load_ms
    load_ms=$(python3 -c 'import json,sys
for line in open(sys.argv[1]):
    try: event = json.loads(line)
    except ValueError: continue
    if event.get("fields", event).get("message") == "index loaded" or event.get("message") == "index loaded":
        print(event.get("fields", event).get("elapsed_ms", event.get("elapsed_ms")))' "$log" | tail -1)
    # CPU seconds the node and Redis spent until ready: on a shared machine the wall time
    # depends on what else runs; this does not.
    local cpu redis_cpu
    cpu=$(awk '{print ($14 + $15) / 100}' "/proc/$node_pid/stat")
    redis_cpu=$(awk '{print ($14 + $15) / 100}' "/proc/${pids[0]}/stat")
    echo "$ready $load_ms $(awk '/VmRSS/ {print $2}' "/proc/$node_pid/status")" > "$work/start-$db"
    echo "node $db ready after $ready ms: node CPU ${cpu} s, redis CPU ${redis_cpu} s since it started" >&2
}
token_for() { # port role
    local body="{\"name\":\"bench\",\"role\":\"$2\"}"
    if [ "$2" = access_provider ]; then
        local provider
        provider=$(curl -fs -X POST "http://127.0.0.1:$1/v1/providers" -H "Authorization: Bearer $ADMIN" \
            -H 'Content-Type: application/json' -d '{"name":"bench","kind":"access"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
        body="{\"name\":\"bench\",\"role\":\"$2\",\"provider_id\":\"$provider\"}"
    fi
    curl -fs -X POST "http://127.0.0.1:$1/v1/keys" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' -d "$body" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}

# Cold starts of the big set: RUNS fresh nodes; the last one stays up.
big_starts=()
for run in $(seq 1 "$RUNS"); do
    start_node 1
    big_starts+=("$(cat "$work/start-1")")
    if [ "$run" -lt "$RUNS" ]; then kill "$node_pid"; wait "$node_pid" 2>/dev/null || true; fi
done
big_pid=$node_pid big_port=$node_port
start_node 0
small_start=$(cat "$work/start-0")
small_pid=$node_pid small_port=$node_port

for size in small big; do
    port_var=${size}_port
    port=${!port_var}
    token=$(token_for "$port" access_provider)
    cat > "$work/$size.lua" <<LUA
local names = {}
for line in io.lines("$work/$size/queries.txt") do names[#names + 1] = line end
local i = 0
wrk.headers["Authorization"] = "Bearer $token"
request = function()
  i = i % #names + 1
  return wrk.format("GET", "/v1/check?domain=" .. names[i])
end
LUA
    curl -fs "http://127.0.0.1:$port/v1/check?domain=$(head -1 "$work/$size/queries.txt")" \
        -H "Authorization: Bearer $token" | grep -q '"listed":true' \
        || { echo "the first query of $size is not listed" >&2; exit 1; }
done

run_wrk() { # size
    local port_var=${1}_port
    taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$work/$1.lua" "http://127.0.0.1:${!port_var}" \
        | python3 -c '
import re, sys
text = sys.stdin.read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
m = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
unit = {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
print(f"{rps:.0f}:{float(m.group(1)) * unit:.3f}")'
}
small_runs=() big_runs=()
for run in $(seq 1 "$RUNS"); do
    small_runs+=("$(run_wrk small)")
    big_runs+=("$(run_wrk big)")
done
rss_after_checks=$(awk '/VmRSS/ {print $2}' "/proc/$big_pid/status")

auditor=$(token_for "$big_port" auditor)
transfer() { # path -> "seconds bytes"
    taskset -c 1 curl -fs -o /dev/null -w '%{time_total} %{size_download}\n' \
        -H "Authorization: Bearer $auditor" "http://127.0.0.1:$big_port$1"
}
declare -A times sizes
for path in "/v1/snapshot" "/v1/snapshot?format=text" "/v1/rpz"; do
    for _ in $(seq 1 "$RUNS"); do
        read -r t s < <(transfer "$path")
        times[$path]+="$t "; sizes[$path]=$s
    done
done
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$big_pid/status")
rss_end=$(awk '/VmRSS/ {print $2}' "/proc/$big_pid/status")

python3 - "$BIG" "$SMALL" "$small_start" "${big_starts[*]}" "${small_runs[*]}" "${big_runs[*]}" \
    "$rss_after_checks" "$hwm" "$rss_end" <<PY
import statistics, sys
big, small = int(sys.argv[1]), int(sys.argv[2])
small_start = list(map(int, sys.argv[3].split()))
vals = list(map(int, sys.argv[4].split()))
big_starts = [vals[i:i+3] for i in range(0, len(vals), 3)]
def runs(s): return [tuple(map(float, r.split(":"))) for r in s.split()]
sr, br = runs(sys.argv[5]), runs(sys.argv[6])
rss_checks, hwm, rss_end = map(int, sys.argv[7:10])
med = statistics.median
print(f"\n{big:,} entries (and {small:,} in the same run); medians of {len(br)} runs")
print("| measurement | value | runs |")
print("| --- | --- | --- |")
print(f"| start to /readyz 200, {big:,} | {med(r[0] for r in big_starts)/1000:.1f} s | {[r[0] for r in big_starts]} ms |")
print(f"| index load logged by the node, {big:,} | {med(r[1] for r in big_starts)/1000:.1f} s | {[r[1] for r in big_starts]} ms |")
print(f"| node RSS after load, {big:,} | {med(r[2] for r in big_starts)/1024:.0f} MiB | {[r[2] for r in big_starts]} KiB |")
print(f"| node RSS after the check runs | {rss_checks/1024:.0f} MiB | |")
print(f"| node RSS after load, {small:,} | {small_start[2]/1024:.0f} MiB (load {small_start[1]} ms) | |")
print(f"| GET /v1/check, {small:,} | {med(r[0] for r in sr):.0f} req/s, p99 {med(r[1] for r in sr):.2f} ms | {[int(r[0]) for r in sr]} |")
print(f"| GET /v1/check, {big:,} | {med(r[0] for r in br):.0f} req/s, p99 {med(r[1] for r in br):.2f} ms | {[int(r[0]) for r in br]} |")
ratio = med(b[0] / s[0] for s, b in zip(sr, br))
print(f"| throughput {big:,} / {small:,} (median of paired runs) | {ratio:.2f} | |")
print(f"| peak RSS (VmHWM) after the transfers below | {hwm/1024:.0f} MiB (RSS now {rss_end/1024:.0f} MiB) | |")
PY
for path in "/v1/snapshot" "/v1/snapshot?format=text" "/v1/rpz"; do
    echo "| $path, ${BIG} entries | $(median ${times[$path]}) s, $(( ${sizes[$path]} / 1048576 )) MiB | ${times[$path]}|"
done
