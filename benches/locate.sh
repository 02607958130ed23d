#!/usr/bin/env bash
# Listing speed with locating in the background: LISTINGS listings at CONCURRENCY clients
# against a fresh `siteban serve` (embedded store, the PROFILE build) whose upstream resolver is
# (a) not asked (locating off), (b) answering after 1 ms, (c) black-holed while the listings are
# posted and recovering after; for each, listings per second and listing latency, and for (b)
# and (c) the time from the last listing (the black hole's end) until every entry is located and
# both providers of every entry have received their webhook. The example `locate_load` starts
# the DNS server, the relay and the node; with two or more cores the node is pinned to CPU 1 and
# the load to CPU 0. RUNS runs of the three modes, interleaved; medians reported. With
# NO_WEBHOOKS=1 the providers have no webhook (they would pull their notices), and the drain
# ends when every notice is written: what locating costs without the pushes it leads to.
# Usage: benches/locate.sh   (env: LISTINGS=10000 CONCURRENCY=16 RUNS=3 QPS=500 PROFILE=dist
#        NO_WEBHOOKS=)
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-dist}
LISTINGS=${LISTINGS:-10000}
CONCURRENCY=${CONCURRENCY:-16}
RUNS=${RUNS:-3}
QPS=${QPS:-500}

cargo build --profile "$PROFILE" --quiet --bin siteban --example locate_load
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pin=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    export SERVER_CPU=1
    pin=(taskset -c 0)
fi
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for run in $(seq 1 "$RUNS"); do
    for mode in off answer blackhole; do
        "${pin[@]}" target/$PROFILE/examples/locate_load "target/$PROFILE/siteban" "$mode" \
            "$LISTINGS" "$CONCURRENCY" "$QPS" | tee -a "$work/$mode.txt"
    done
done
base=$(grep -o 'listings_per_s=[0-9.]*' "$work/off.txt" | cut -d= -f2 | median || true)
for mode in off answer blackhole; do
    for field in listings_per_s p50_ms p99_ms max_ms drain_s; do
        value=$(grep -o "$field=[0-9.]*" "$work/$mode.txt" | cut -d= -f2 | median || true)
        if [ -n "$value" ]; then printf '%s median %s=%s\n' "$mode" "$field" "$value"; fi
    done
    rate=$(grep -o 'listings_per_s=[0-9.]*' "$work/$mode.txt" | cut -d= -f2 | median || true)
    printf '%s ratio to off=%s\n' "$mode" "$(python3 -c "print(round($rate / $base, 2))")"
done
