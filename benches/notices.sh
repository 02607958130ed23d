#!/usr/bin/env bash
# Notice delivery speed: 1,000 listings, each naming a provider with a webhook, against a
# fresh `siteban serve` (the `dist` build) on each store; for each listing, the time from its 201 to the
# signed webhook reaching the receiver. RUNS runs per store; medians of each figure reported.
# Usage: benches/notices.sh   (env: LISTINGS=1000 CONCURRENCY=4 RUNS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
# The optimised build the Dockerfile ships (fat LTO); PROFILE=release measures the faster-building one.
PROFILE=${PROFILE:-dist}

LISTINGS=${LISTINGS:-1000}
CONCURRENCY=${CONCURRENCY:-4}
RUNS=${RUNS:-3}
ADMIN=bench-admin-token-0123456789abcdef
command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }

cargo build --profile "$PROFILE" --quiet --bin siteban --example notice_latency
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_ready() {
    for _ in $(seq 1 200); do
        curl -fs "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "siteban did not become ready" >&2; return 1
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run_store() {
    local store=$1 results=$work/$1.txt
    : >"$results"
    for run in $(seq 1 "$RUNS"); do
        local port dir=$work/$store-$run
        port=$(free_port)
        mkdir -p "$dir"
        local env=(SITEBAN__SERVER__LISTEN="127.0.0.1:$port" SITEBAN__AUTH__ADMIN_TOKEN=$ADMIN
                   SITEBAN__STORE__PATH="$dir" SITEBAN__LOCATE__ON_LISTING=false SITEBAN__LOG__LEVEL=warn)
        if [ "$store" = redis ]; then
            local rport
            rport=$(free_port)
            redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly yes \
                --appendfsync everysec --dir "$dir" --logfile "$dir/redis.log" &
            pids+=($!)
            sleep 0.3
            env+=(SITEBAN__STORE__BACKEND=redis SITEBAN__STORE__REDIS_URL="redis://127.0.0.1:$rport/0")
        fi
        env "${env[@]}" target/$PROFILE/siteban serve --config config/unlimited.toml 2>"$dir/siteban.log" &
        local pid=$!
        pids+=($pid)
        wait_ready "$port"
        target/$PROFILE/examples/notice_latency "http://127.0.0.1:$port" "$ADMIN" "$LISTINGS" "$CONCURRENCY" | tee -a "$results"
        kill "$pid"
    done
    for field in listings_per_s p50_ms p90_ms p99_ms max_ms; do
        printf '%s median %s=%s\n' "$store" "$field" \
            "$(grep -o "$field=[0-9.]*" "$results" | cut -d= -f2 | median)"
    done
}

run_store embedded
run_store redis
