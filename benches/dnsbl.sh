#!/usr/bin/env bash
# DNS speed, in one run:
#  1. DNSBL queries per second: siteban's DNSBL zone (ENTRIES entries, default 100,000, on the
#     embedded store) against NSD serving the same answers from a static zone, RUNS runs of
#     SECONDS each, alternating. Each server is pinned to core 0 with one worker, dnsperf to
#     core 1. Half the queries hit a listing (a subtree entry through a subdomain), half miss.
#  2. AXFR of AXFR_ENTRIES entries (default 1,000,000): wall time of `dig AXFR` (which also
#     parses every record), the time siteban logs for serving it, and siteban's memory before
#     and at its peak.
# Medians are reported. Needs dnsperf, nsd and dig (installed when missing).
# Usage: benches/dnsbl.sh   (env: ENTRIES=100000 AXFR_ENTRIES=1000000 RUNS=3 SECONDS_PER_RUN=8)
set -euo pipefail
cd "$(dirname "$0")/.."
# The optimised build the Dockerfile ships (fat LTO); PROFILE=release measures the faster-building one.
PROFILE=${PROFILE:-dist}

ENTRIES=${ENTRIES:-100000}
AXFR_ENTRIES=${AXFR_ENTRIES:-1000000}
RUNS=${RUNS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
ADMIN=bench-admin-token-0123456789abcdef
need=()
command -v dnsperf >/dev/null || need+=(dnsperf)
command -v nsd >/dev/null || need+=(nsd)
command -v dig >/dev/null || need+=(dnsutils)
if ((${#need[@]})); then apt-get update -qq && apt-get install -y -qq "${need[@]}"; fi

cargo build --profile "$PROFILE" --quiet --bin siteban --example gen_entries
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

# Starts siteban on an embedded store in $1 with DNS on port $2; prints its pid.
start_siteban() {
    local dir=$1 dport=$2 hport
    hport=$(free_port)
    SITEBAN__STORE__PATH="$dir" SITEBAN__AUTH__ADMIN_TOKEN=$ADMIN SITEBAN__LOG__FORMAT=json \
    SITEBAN__SERVER__LISTEN="127.0.0.1:$hport" SITEBAN__SERVER__WORKERS=1 \
    SITEBAN__DNS__LISTEN="127.0.0.1:$dport" SITEBAN__DNS__WORKERS=1 \
        taskset -c 0 target/$PROFILE/siteban serve --config config/unlimited.toml > /dev/null 2> "$dir.log" &
    local pid=$!
    until curl -fs "http://127.0.0.1:$hport/readyz" >/dev/null 2>&1; do sleep 0.05; done
    echo "$pid"
}

# ---- 1. DNSBL queries per second ----
target/$PROFILE/examples/gen_entries "$ENTRIES" > "$work/entries.ndjson"
SITEBAN__STORE__PATH="$work/dnsbl" SITEBAN__AUTH__ADMIN_TOKEN=$ADMIN \
    target/$PROFILE/siteban import "$work/entries.ndjson" 2>/dev/null
sport=$(free_port)
spid=$(start_siteban "$work/dnsbl" "$sport")
pids+=("$spid")
# The names as the index holds them (A-labels), from the snapshot.
hport=$(python3 -c 'import json,sys
for line in open(sys.argv[1]):
    try: event = json.loads(line)
    except ValueError: continue
    if event.get("message") == "siteban serving": print(event["port"])' "$work/dnsbl.log")
token=$(curl -fs -X POST "http://127.0.0.1:$hport/v1/keys" -H "Authorization: Bearer $ADMIN" \
    -H 'Content-Type: application/json' -d '{"name": "bench", "role": "auditor"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
curl -fs "http://127.0.0.1:$hport/v1/snapshot?format=text" -H "Authorization: Bearer $token" > "$work/names.txt"
python3 - "$work" <<'PY'
import sys
work = sys.argv[1]
zone = open(f"{work}/dnsbl.zone", "w")
zone.write("$ORIGIN dnsbl.siteban.\n$TTL 60\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n@ NS localhost.\n")
queries = open(f"{work}/queries.txt", "w")
for i, line in enumerate(open(f"{work}/names.txt")):
    line = line.strip()
    subtree = line.startswith("*.")
    name = line[2:] if subtree else line
    zone.write(f"{name} A 127.0.0.2\n")
    if subtree:
        zone.write(f"*.{name} A 127.0.0.2\n")
    queries.write(f"{'www.' if subtree else ''}{name}.dnsbl.siteban A\n")
    queries.write(f"clean-{i}.example.net.dnsbl.siteban A\n")
PY
cat > "$work/nsd.conf" <<CONF
server:
    port: PORT
    ip-address: 127.0.0.1
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "$work"
    database: ""
    pidfile: "$work/nsd.pid"
    logfile: "$work/nsd.log"
    xfrdfile: "$work/xfrd.state"
    zonelistfile: "$work/zone.list"
    rrl-ratelimit: 0
    verbosity: 0
remote-control:
    control-enable: no
zone:
    name: dnsbl.siteban.
    zonefile: dnsbl.zone
CONF
nport=$(free_port)
sed -i "s/PORT/$nport/" "$work/nsd.conf"
taskset -c 0 nsd -d -c "$work/nsd.conf" &
pids+=($!)
until dig +short -p "$nport" @127.0.0.1 dnsbl.siteban SOA | grep -q localhost; do sleep 0.1; done
# Both answer the same: a listed subdomain, and a clean name.
probe="$(head -1 "$work/queries.txt" | cut -d' ' -f1)"
[ "$(dig +short -p "$sport" @127.0.0.1 "$probe" A)" = "127.0.0.2" ]
[ "$(dig +short -p "$nport" @127.0.0.1 "$probe" A)" = "127.0.0.2" ]
dig -p "$sport" @127.0.0.1 clean-1.example.net.dnsbl.siteban A | grep -q NXDOMAIN
dig -p "$nport" @127.0.0.1 clean-1.example.net.dnsbl.siteban A | grep -q NXDOMAIN

qps() {
    taskset -c 1 dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries.txt" -l "$SECONDS_PER_RUN" -q 100 \
        | awk '/Queries per second/ {print $4} /Queries lost/ {lost=$3} END {}'
}
siteban_runs=(); nsd_runs=()
for _ in $(seq 1 "$RUNS"); do
    siteban_runs+=("$(qps "$sport")")
    nsd_runs+=("$(qps "$nport")")
done

# ---- 2. AXFR of a large zone ----
target/$PROFILE/examples/gen_entries "$AXFR_ENTRIES" > "$work/big.ndjson"
SITEBAN__STORE__PATH="$work/axfr" SITEBAN__AUTH__ADMIN_TOKEN=$ADMIN \
    target/$PROFILE/siteban import "$work/big.ndjson" 2>/dev/null
rm -f "$work/big.ndjson"
aport=$(free_port)
apid=$(start_siteban "$work/axfr" "$aport")
pids+=("$apid")
rss_before=$(awk '/VmRSS/ {print $2}' "/proc/$apid/status")
hwm_before=$(awk '/VmHWM/ {print $2}' "/proc/$apid/status")
axfr_runs=()
for _ in $(seq 1 "$RUNS"); do
    start=$(now_ms)
    records=$(taskset -c 1 dig +noall +answer -p "$aport" @127.0.0.1 rpz.siteban AXFR | wc -l)
    axfr_runs+=("$(( $(now_ms) - start )):$records")
done
rss_peak=$(awk '/VmHWM/ {print $2}' "/proc/$apid/status")
rss_after=$(awk '/VmRSS/ {print $2}' "/proc/$apid/status")
served=$(python3 -c 'import json,sys
for line in open(sys.argv[1]):
    try: event = json.loads(line)
    except ValueError: continue
    if event.get("message") == "zone transfer sent": print(event["elapsed_ms"])' "$work/axfr.log" | paste -sd' ')

python3 - "$ENTRIES" "$AXFR_ENTRIES" "$rss_before" "$rss_peak" "$hwm_before" "$rss_after" "$served" "${siteban_runs[*]}" "${nsd_runs[*]}" "${axfr_runs[@]}" <<'PY'
import statistics, sys
entries, axfr_entries, before, peak, hwm_before, after = map(int, sys.argv[1:7])
served = [int(x) for x in sys.argv[7].split()]
siteban = [float(x) for x in sys.argv[8].split()]
nsd = [float(x) for x in sys.argv[9].split()]
axfr = [tuple(map(int, r.split(":"))) for r in sys.argv[10:]]
s, n = statistics.median(siteban), statistics.median(nsd)
ratios = [a / b for a, b in zip(siteban, nsd)]
print(f"\nDNSBL, {entries} entries, half the queries listed (dnsperf -q 100, {len(siteban)} runs)")
print("| server | queries/s (median) | runs |")
print("| --- | --- | --- |")
print(f"| siteban DNSBL | {s:,.0f} | {', '.join(f'{x:,.0f}' for x in siteban)} |")
print(f"| NSD 4.6, static zone | {n:,.0f} | {', '.join(f'{x:,.0f}' for x in nsd)} |")
print(f"ratio siteban / NSD: {statistics.median(ratios):.2f} (paired runs: {', '.join(f'{r:.2f}' for r in ratios)})")
print(f"\nAXFR of {axfr_entries} entries ({axfr[0][1]} records)")
print(f"| measurement | median | runs |")
print("| --- | --- | --- |")
print(f"| dig AXFR wall time | {statistics.median(a[0] for a in axfr)/1000:.2f} s | {[a[0] for a in axfr]} ms |")
print(f"| siteban serving time (logged) | {statistics.median(served)/1000:.2f} s | {served} ms |")
print(f"| siteban RSS before the transfers | {before/1024:.0f} MiB (peak while loading {hwm_before/1024:.0f} MiB) | |")
print(f"| siteban peak RSS over the transfers | {peak/1024:.0f} MiB (after: {after/1024:.0f} MiB) | |")
PY
