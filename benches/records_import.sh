#!/usr/bin/env bash
# Bulk import of website recordals: RECORDALS (default 100,000) recordals as NDJSON, posted
# with curl to POST /v1/recordals/import of a fresh `siteban serve` (the `dist` build), on the embedded
# store and on a Redis of the script's own. Each run first posts the file with BAD (default 3)
# bad lines, which is refused whole (422, nothing applied), then the clean file, which is
# applied in one atomic write. RUNS (default 3) runs per store; the medians of the wall time
# (curl) and of the server's own figure (`elapsed_ms`) are reported, and for Redis how many
# commands ran longer than SLOW_US microseconds (Redis serves nobody else meanwhile).
# Usage: benches/records_import.sh   (env: RECORDALS=100000 BAD=3 RUNS=3 SLOW_US=10000)
set -euo pipefail
cd "$(dirname "$0")/.."
# The optimised build the Dockerfile ships (fat LTO); PROFILE=release measures the faster-building one.
PROFILE=${PROFILE:-dist}

RECORDALS=${RECORDALS:-100000}
BAD=${BAD:-3}
RUNS=${RUNS:-3}
SLOW_US=${SLOW_US:-10000}
ADMIN=bench-admin-token-0123456789abcdef
command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }

cargo build --profile "$PROFILE" --quiet --bin siteban --example gen_recordals
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

target/$PROFILE/examples/gen_recordals "$RECORDALS" > "$work/clean.ndjson"
target/$PROFILE/examples/gen_recordals "$RECORDALS" "$BAD" > "$work/bad.ndjson"
echo "file: $RECORDALS recordals, $(du -h "$work/clean.ndjson" | cut -f1)"

# Prints "wall_seconds server_ms" for one import of $2 into the node on port $1.
post() {
    local port=$1 file=$2 token=$3 expect=$4
    local out
    out=$(curl -s -o "$work/answer.json" -w '%{http_code} %{time_total}' \
        -H "Authorization: Bearer $token" -H 'Content-Type: application/x-ndjson' \
        --data-binary "@$file" "http://127.0.0.1:$port/v1/recordals/import")
    local status=${out%% *} wall=${out##* }
    if [ "$status" != "$expect" ]; then
        echo "expected $expect, got $status: $(head -c 500 "$work/answer.json")" >&2
        exit 1
    fi
    local ms
    ms=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("elapsed_ms", "-"))' "$work/answer.json")
    echo "$wall $ms"
}

for backend in embedded redis; do
    : > "$work/refused.txt"; : > "$work/applied.txt"; : > "$work/server.txt"; : > "$work/slow.txt"
    for run in $(seq 1 "$RUNS"); do
        rm -rf "$work/data"
        env=(SITEBAN__AUTH__ADMIN_TOKEN=$ADMIN SITEBAN__STORE__PATH="$work/data" SITEBAN__LOG__LEVEL=warn
             SITEBAN__LOCATE__ON_LISTING=false SITEBAN__RECORDS__IMPORT_MAX_RECORDS=$((RECORDALS + 1)))
        if [ "$backend" = redis ]; then
            rport=$(free_port)
            redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
                --logfile "$work/redis.log" --slowlog-log-slower-than "$SLOW_US" --slowlog-max-len 1024 &
            rpid=$!
            pids+=("$rpid")
            sleep 0.3
            env+=(SITEBAN__STORE__BACKEND=redis SITEBAN__STORE__REDIS_URL="redis://127.0.0.1:$rport/0")
        fi
        port=$(free_port)
        env "${env[@]}" SITEBAN__SERVER__LISTEN="127.0.0.1:$port" target/$PROFILE/siteban serve --config config/unlimited.toml 2> "$work/node.log" &
        npid=$!
        pids+=("$npid")
        for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
        token=$(curl -fs -X POST "http://127.0.0.1:$port/v1/keys" -H "Authorization: Bearer $ADMIN" \
            -H 'Content-Type: application/json' -d '{"name":"bench CA","role":"telecom"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
        read -r wall _ < <(post "$port" "$work/bad.ndjson" "$token" 422)
        echo "$wall" >> "$work/refused.txt"
        read -r wall ms < <(post "$port" "$work/clean.ndjson" "$token" 200)
        echo "$wall" >> "$work/applied.txt"
        echo "$ms" >> "$work/server.txt"
        kill "$npid"; wait "$npid" 2>/dev/null || true
        if [ "$backend" = redis ]; then
            redis-cli -p "$rport" SLOWLOG LEN >> "$work/slow.txt"
            kill "$rpid"; wait "$rpid" 2>/dev/null || true
        fi
    done
    echo "$backend: refused (with $BAD bad lines) $(median < "$work/refused.txt") s," \
        "applied $(median < "$work/applied.txt") s (server $(median < "$work/server.txt") ms), median of $RUNS"
    if [ "$backend" = redis ]; then
        echo "redis: commands slower than ${SLOW_US} us per run: $(paste -sd' ' "$work/slow.txt")"
    fi
done
