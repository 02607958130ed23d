#!/usr/bin/env bash
# Edge mirrors at scale: one registry node (embedded store, ENTRIES entries imported, one
# worker) and MIRRORS `siteban mirror` processes (one worker each) following it over HTTP on
# this machine. Measures:
#  1. the fan-out: examples/mirror_fanout.rs lists LISTINGS names on the registry, one after
#     another, and times each from its `201` to the last mirror answering it as listed
#     (p50, p99, max; target p99 at most 1 s);
#  2. the registry's cost per connected mirror: resident memory before the mirrors connect and
#     with all of them long-polling (idle), CPU while idle and per listing (from
#     /proc/<pid>/stat), and from those the node count for 10,000 mirrors;
#  3. a mirror's check throughput against the registry node's, in the same run: the other
#     mirrors stopped, each server pinned to core 0, wrk (4 connections, one thread) on core 1,
#     RUNS alternating rounds of DURATION seconds, medians compared (target at least 0.9x).
# PAUSE_MS sets the mirrors' mirror.pause_ms (default 250): the listings here come one at a
# time, each after every mirror has the one before, so each waits out that pause; 0 shows the
# propagation itself.
# Usage: benches/mirror.sh   (env: MIRRORS=100 LISTINGS=200 ENTRIES=100000 RUNS=3 DURATION=8
#                             PAUSE_MS=250 PROFILE=dist)
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-dist}
MIRRORS=${MIRRORS:-100}
LISTINGS=${LISTINGS:-200}
ENTRIES=${ENTRIES:-100000}
RUNS=${RUNS:-3}
DURATION=${DURATION:-8}
PAUSE_MS=${PAUSE_MS:-250}
ADMIN=bench-admin-token-0123456789abcdef
CLIENT_TOKEN=bench-mirror-client-token-0123456789
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

cargo build --profile "$PROFILE" --quiet --bin siteban --example gen_entries --example mirror_fanout
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# User plus system CPU time of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

target/$PROFILE/examples/gen_entries "$ENTRIES" > "$work/entries.ndjson"
SITEBAN__STORE__PATH="$work/registry" SITEBAN__AUTH__ADMIN_TOKEN=$ADMIN SITEBAN__LOG__LEVEL=warn \
    target/$PROFILE/siteban import --no-locate "$work/entries.ndjson" 2>/dev/null
rport=$(free_port)
registry="http://127.0.0.1:$rport"
SITEBAN__STORE__PATH="$work/registry" SITEBAN__AUTH__ADMIN_TOKEN=$ADMIN SITEBAN__LOG__LEVEL=info \
    SITEBAN__SERVER__LISTEN="127.0.0.1:$rport" SITEBAN__SERVER__WORKERS=1 \
    SITEBAN__LOCATE__ON_LISTING=false SITEBAN__LIMITS__MAX_LONG_POLLS=10000 \
    target/$PROFILE/siteban serve --config config/unlimited.toml 2> "$work/registry.log" &
rpid=$!
pids+=("$rpid")
until curl -fs "$registry/readyz" >/dev/null 2>&1; do sleep 0.1; done
# Measure after the one-time backfills of a store filled by `siteban import`.
for _ in $(seq 600); do
    grep -q "documents named by older records indexed" "$work/registry.log" 2>/dev/null && break
    sleep 0.5
done
sleep 2
key() {
    curl -s --json "$1" -H "Authorization: Bearer $ADMIN" "$registry/v1/$2" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("token") or d["id"])'
}
agency=$(key '{"name": "bench agency", "role": "agency"}' keys)
provider=$(key '{"name": "bench dns", "kind": "dns"}' providers)
upstream_token=$(key "{\"name\": \"bench mirror\", \"role\": \"dns_provider\", \"provider_id\": \"$provider\"}" keys)
printf %s "$upstream_token" > "$work/upstream-token"
# The mirrors' own key, for the fan-out client and wrk.
{ cat config/unlimited.toml
  printf '\n[[mirror.keys]]\nname = "bench"\nrole = "access_provider"\ntoken_sha256 = "%s"\n' \
      "$(printf %s "$CLIENT_TOKEN" | sha256sum | cut -d' ' -f1)"; } > "$work/mirror.toml"

mirrors=() mpids=()
start_mirror() {
    local port
    port=$(free_port)
    SITEBAN__MIRROR__UPSTREAM="$registry" SITEBAN__MIRROR__TOKEN_FILE="$work/upstream-token" \
        SITEBAN__STORE__PATH="$work/mirror$1" SITEBAN__SERVER__LISTEN="127.0.0.1:$port" \
        SITEBAN__SERVER__WORKERS=1 SITEBAN__LOG__LEVEL=warn SITEBAN__MIRROR__SAVE_SECONDS="${2:-30}" \
        SITEBAN__MIRROR__PAUSE_MS="$PAUSE_MS" \
        target/$PROFILE/siteban mirror --config "$work/mirror.toml" 2> "$work/mirror$1.log" &
    mpids+=($!)
    pids+=($!)
    mirrors+=("http://127.0.0.1:$port")
}
# The first mirror alone loads the registry's snapshot and saves its local copy; the others
# start from that copy (as mirrors restarting do), so that what they add to the registry is
# what a connected, long-polling mirror costs, not the transient buffers of a snapshot sent.
start_mirror 1 1
until [ -s "$work/mirror1/mirror-copy.json" ]; do sleep 0.2; done
for i in $(seq 2 "$MIRRORS"); do mkdir -p "$work/mirror$i"; cp "$work/mirror1/mirror-copy.json" "$work/mirror$i/"; done
sleep 3
rss_before=$(rss_kib "$rpid")
started=$(date +%s.%N)
for i in $(seq 2 "$MIRRORS"); do start_mirror "$i"; done
for m in "${mirrors[@]}"; do
    until curl -fs "$m/readyz" >/dev/null 2>&1; do sleep 0.1; done
done
echo "$((MIRRORS - 1)) more mirrors of a registry with $ENTRIES entries, from the local copy, ready in $(python3 -c "import time; print(round(time.time() - $started, 1))") s"
sleep 5
rss_after=$(rss_kib "$rpid")
mirror_rss=$(rss_kib "${mpids[0]}")
idle_before=$(cpu_ticks "$rpid")
sleep 20
idle_after=$(cpu_ticks "$rpid")

busy_before=$(cpu_ticks "$rpid")
target/$PROFILE/examples/mirror_fanout "$LISTINGS" "$registry" "$agency" "$CLIENT_TOKEN" "${mirrors[@]}"
busy_after=$(cpu_ticks "$rpid")

python3 - "$MIRRORS" "$LISTINGS" "$TICK" "$rss_before" "$rss_after" "$idle_before" "$idle_after" \
    "$busy_before" "$busy_after" "$mirror_rss" <<'PY'
import sys
m, n, tick, rss0, rss1, i0, i1, b0, b1, mrss = map(float, sys.argv[1:])
per_mirror_kib = (rss1 - rss0) / (m - 1)
idle_cpu = (i1 - i0) / tick / 20          # CPU seconds per second, all mirrors, idle
per_listing_ms = (b1 - b0) / tick / n * 1000
per_listing_per_mirror_us = per_listing_ms * 1000 / m
print(f"registry resident memory: {rss0/1024:.1f} MiB with one mirror, {rss1/1024:.1f} MiB with {m:.0f} long-polling: {per_mirror_kib:.1f} KiB per mirror")
print(f"registry CPU while {m:.0f} mirrors wait: {idle_cpu*100:.2f} % of a core; per listing sent to all of them: {per_listing_ms:.1f} ms ({per_listing_per_mirror_us:.0f} us per mirror, the listing itself included)")
print(f"one mirror's resident memory: {mrss/1024:.1f} MiB")
mirrors = 10_000
mem_gib = per_mirror_kib * mirrors / 1024 / 1024
cpu_per_listing_s = per_listing_per_mirror_us * mirrors / 1e6
print(f"for {mirrors} mirrors: {mem_gib:.2f} GiB of long-poll state and {cpu_per_listing_s:.2f} core-seconds per listing in all")
PY

# A mirror's check throughput against the registry node's, in the same run.
for i in $(seq 2 "$MIRRORS"); do kill "${mpids[$((i - 1))]}" 2>/dev/null || true; done
mpid=${mpids[0]}
mirror=${mirrors[0]}
# An ASCII name (wrk takes no Unicode in a URL).
domain=$(python3 -c 'import json,sys
for line in open(sys.argv[1]):
    d = json.loads(line)["domain"]
    if d.isascii():
        print(d); break' "$work/entries.ndjson")
reader=$(key '{"name": "bench reader", "role": "auditor"}' keys)
sleep 2
taskset -cp 0 "$rpid" >/dev/null
taskset -cp 0 "$mpid" >/dev/null
rate() { taskset -c 1 wrk -t1 -c4 -d"${DURATION}s" -H "Authorization: Bearer $2" "$1/v1/check?domain=$domain" |
         awk '/Requests\/sec/ {print $2}'; }
rate "$registry" "$reader" >/dev/null
rate "$mirror" "$CLIENT_TOKEN" >/dev/null
reg=() mir=()
for _ in $(seq "$RUNS"); do
    reg+=("$(rate "$registry" "$reader")")
    mir+=("$(rate "$mirror" "$CLIENT_TOKEN")")
done
python3 - "${reg[*]}" "${mir[*]}" <<'PY'
import statistics, sys
reg = [float(x) for x in sys.argv[1].split()]
mir = [float(x) for x in sys.argv[2].split()]
r, m = statistics.median(reg), statistics.median(mir)
print(f"checks/s, median of {len(reg)}: registry node {r:.0f}, mirror {m:.0f}: {m / r:.2f}x (runs: registry {reg}, mirror {mir})")
PY
