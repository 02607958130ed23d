#!/usr/bin/env bash
# Many nodes on one store: three `siteban serve` processes (one worker each) share one Redis
# (AOF, appendfsync everysec) or, with STORE=cluster, a three-primary Redis Cluster;
# examples/propagation.rs writes WRITES entries, each on the next node in turn, and measures
# the time until every node answers each as listed (p50/p90/p99/max).
# Usage: benches/propagation.sh   (env: WRITES=1000 STORE=redis|cluster)
set -euo pipefail
cd "$(dirname "$0")/.."
# The optimised build the Dockerfile ships (fat LTO); PROFILE=release measures the faster-building one.
PROFILE=${PROFILE:-dist}

WRITES=${WRITES:-1000}
STORE=${STORE:-redis}
ADMIN=bench-admin-token-0123456789abcdef
cargo build --profile "$PROFILE" --quiet --bin siteban --example propagation
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

store_env=()
if [ "$STORE" = cluster ]; then
    seeds=() addrs=()
    for i in 1 2 3; do
        p=$(free_port); mkdir -p "$work/r$i"
        redis-server --port "$p" --bind 127.0.0.1 --dir "$work/r$i" --logfile "$work/r$i/redis.log" \
            --cluster-enabled yes --appendonly yes --appendfsync everysec --save "" &
        pids+=($!)
        until redis-cli -p "$p" ping >/dev/null 2>&1; do sleep 0.05; done
        seeds+=("redis://127.0.0.1:$p") addrs+=("127.0.0.1:$p")
    done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
    until redis-cli -p "${addrs[0]#*:}" cluster info | grep -q cluster_state:ok; do sleep 0.1; done
    store_env=(SITEBAN__STORE__REDIS_CLUSTER="$(IFS=,; echo "${seeds[*]}")")
else
    rport=$(free_port)
    redis-server --port "$rport" --bind 127.0.0.1 --dir "$work" --logfile "$work/redis.log" \
        --appendonly yes --appendfsync everysec --save "" &
    pids+=($!)
    until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.05; done
    store_env=(SITEBAN__STORE__REDIS_URL="redis://127.0.0.1:$rport/0")
fi

urls=()
for i in 1 2 3; do
    port=$(free_port)
    env "${store_env[@]}" SITEBAN__STORE__BACKEND=redis SITEBAN__STORE__PATH="$work/data$i" \
        SITEBAN__AUTH__ADMIN_TOKEN=$ADMIN SITEBAN__SERVER__LISTEN="127.0.0.1:$port" \
        SITEBAN__SERVER__WORKERS=1 SITEBAN__LOCATE__ON_LISTING=false SITEBAN__LOG__LEVEL=warn \
        target/$PROFILE/siteban serve --config config/unlimited.toml 2> "$work/node$i.log" &
    pids+=($!)
    until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do sleep 0.05; done
    urls+=("http://127.0.0.1:$port")
done
echo "store: $STORE; three nodes: ${urls[*]}"
target/$PROFILE/examples/propagation "$WRITES" "$ADMIN" "${urls[@]}"
