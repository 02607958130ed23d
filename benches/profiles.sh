#!/usr/bin/env bash
# A candidate build profile against `dist` (fat LTO in one unit, what the Dockerfile ships and
# `release` is), measured in one run on this machine:
#   - a build from nothing of each, wall and CPU time, each in its own target directory so
#     neither reuses the other's dependencies;
#   - GET /v1/check and its ceiling GET /healthz against each binary on the same data, one
#     worker pinned to core 0, wrk on core 1, the two binaries alternating RUNS times.
# Usage: benches/profiles.sh   (env: CANDIDATE=thin ENTRIES=100000 DURATION=8 RUNS=5 CONNS=50)
set -euo pipefail
cd "$(dirname "$0")/.."

ENTRIES=${ENTRIES:-100000}
DURATION=${DURATION:-8}
RUNS=${RUNS:-5}
CONNS=${CONNS:-50}
CANDIDATE=${CANDIDATE:-thin}
ADMIN=bench-admin-token-0123456789abcdef
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ok() { for _ in $(seq 1 600); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

declare -A build
for profile in "$CANDIDATE" dist; do
    start=$(date +%s.%N)
    /usr/bin/time -f "%U %S" -o "$work/time-$profile" \
        env CARGO_TARGET_DIR="$work/target-$profile" cargo build --locked --quiet --profile "$profile" --bin siteban --example gen_entries
    end=$(date +%s.%N)
    build[$profile]="$(python3 -c "print(f'{$end - $start:.0f}')") $(awk '{printf "%.0f", $1 + $2}' "$work/time-$profile")"
done

"$work/target-dist/dist/examples/gen_entries" "$ENTRIES" > "$work/entries.ndjson"
. benches/check_queries.sh
write_check_queries "$work"
SITEBAN__STORE__PATH="$work/data" SITEBAN__LOG__LEVEL=warn "$work/target-dist/dist/siteban" import "$work/entries.ndjson"

port=$(free_port)
serve() { # profile
    SITEBAN__STORE__PATH="$work/data" SITEBAN__SERVER__LISTEN="127.0.0.1:$port" SITEBAN__SERVER__WORKERS=1 \
    SITEBAN__AUTH__ADMIN_TOKEN=$ADMIN SITEBAN__LOG__LEVEL=warn \
    taskset -c 0 "$work/target-$1/$1/siteban" serve &
    pid=$!
    wait_ok "http://127.0.0.1:$port/readyz"
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }
rps() { # url script
    taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$2" "$1" | awk '/Requests\/sec/ {printf "%.0f", $2}'
}

serve dist
# One auditor key, made once and kept in the shared store for both binaries.
export TOKEN=$(curl -fs -X POST "http://127.0.0.1:$port/v1/keys" -H "Authorization: Bearer $ADMIN" \
    -H 'Content-Type: application/json' -d '{"name":"load","role":"auditor"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
curl -fs "http://127.0.0.1:$port/v1/check?domain=a.example.cn" -H "Authorization: Bearer $TOKEN" | grep -q '"listed"' \
    || { echo "the load token does not work" >&2; exit 1; }
stop

declare -A results
for run in $(seq 1 "$RUNS"); do
    for profile in "$CANDIDATE" dist; do
        serve "$profile"
        results[$profile-ceiling]+="$(rps "http://127.0.0.1:$port/healthz" "$work/healthz.lua") "
        results[$profile-check]+="$(rps "http://127.0.0.1:$port/v1/check" "$work/check.lua") "
        stop
    done
done

python3 - "$CANDIDATE" "${build[$CANDIDATE]}" "${build[dist]}" "${results[$CANDIDATE-ceiling]}" "${results[$CANDIDATE-check]}" \
    "${results[dist-ceiling]}" "${results[dist-check]}" <<'PY'
import statistics, sys
name = sys.argv[1]
rb, db = (tuple(map(int, a.split())) for a in sys.argv[2:4])
rc, rk, dc, dk = ([int(x) for x in a.split()] for a in sys.argv[4:8])
m = statistics.median
print("| profile | build wall s | build CPU s | GET /healthz req/s (median) | GET /v1/check req/s (median) | check runs |")
print("| --- | --- | --- | --- | --- | --- |")
print(f"| {name} | {rb[0]} | {rb[1]} | {m(rc):.0f} | {m(rk):.0f} | {rk} |")
print(f"| dist | {db[0]} | {db[1]} | {m(dc):.0f} | {m(dk):.0f} | {dk} |")
print(f"\nbuild wall time {name} / dist: {rb[0] / db[0]:.2f}; check throughput {name} / dist: "
      f"median of paired runs {m(r / d for r, d in zip(rk, dk)):.3f}")
PY
