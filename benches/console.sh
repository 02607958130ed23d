#!/usr/bin/env bash
# Console pages under load with ENTRIES (default 1,000,000) entries loaded in the embedded
# store: a signed-in agency session asks each page with wrk (CONNS connections, one server
# worker, each side pinned to its own core) for DURATION seconds; the p99 at the server comes
# from the node's own request histogram (`siteban_http_request_duration_seconds`, per route), as
# Prometheus's histogram_quantile computes it (linear within the bucket), beside wrk's p99 at
# the client, each page after a second of warm-up that is not counted. Target: every page
# at most 20 ms at the server.
# Usage: benches/console.sh   (env: ENTRIES=1000000 DURATION=8 CONNS=4 PROFILE=dist)
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-dist}
ENTRIES=${ENTRIES:-1000000}
SECONDS_EACH=${DURATION:-8}
CONNS=${CONNS:-4}
ADMIN=bench-admin-token-0123456789abcdef
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }

cargo build --profile "$PROFILE" --quiet --bin siteban --example gen_entries
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

export SITEBAN__AUTH__ADMIN_TOKEN=$ADMIN SITEBAN__STORE__PATH="$work/data" SITEBAN__LOG__LEVEL=warn
target/$PROFILE/examples/gen_entries "$ENTRIES" > "$work/entries.ndjson"
start=$(date +%s)
target/$PROFILE/siteban import "$work/entries.ndjson" 2>/dev/null
echo "imported $ENTRIES entries in $(( $(date +%s) - start )) s"
# An ASCII name for the entry page (wrk takes no Unicode in a URL).
domain=$(python3 -c 'import json,sys
for line in open(sys.argv[1]):
    d = json.loads(line)["domain"]
    if d.isascii():
        print(d); break' "$work/entries.ndjson")

port=$(free_port)
SITEBAN__SERVER__LISTEN="127.0.0.1:$port" SITEBAN__SERVER__WORKERS=1 \
    SITEBAN__LOG__LEVEL=info SITEBAN__LOG__FORMAT=json taskset -c 0 target/$PROFILE/siteban serve --config config/unlimited.toml 2> "$work/server.log" &
pid=$!
base="http://127.0.0.1:$port"
until curl -fs "$base/readyz" >/dev/null 2>&1; do sleep 0.1; done
# A store filled by `siteban import` is read whole once at the first start, to index the
# documents its entries name: measure after that, not beside it.
for _ in $(seq 600); do
    grep -q "documents named by older records indexed" "$work/server.log" && break
    sleep 0.5
done

token=$(curl -s --json '{"name": "北京市市场监督管理局", "role": "agency", "province": "11"}' \
    -H "Authorization: Bearer $ADMIN" "$base/v1/keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
jar="$work/cookies"
csrf=$(curl -s -c "$jar" "$base/console/sign-in" | grep -o 'name="csrf" value="[^"]*"' | sed 's/.*value="//;s/"$//')
curl -s -b "$jar" -c "$jar" "$base/console/sign-in" --data-urlencode "csrf=$csrf" \
    --data-urlencode "token=$token" -o /dev/null
session=$(awk '$6 == "siteban_session" {print $7}' "$jar")
[ -n "$session" ] || { echo "could not sign in" >&2; exit 1; }

pages=(/console/ /console/entries "/console/entries/$domain" /console/entries/new /console/review
       /console/cases /console/cases/new /console/inbox "/lookup?domain=$domain")
echo "| page | requests/s | p99 at the server (ms) | p99 at the client (ms) |"
echo "| --- | --- | --- | --- |"
for page in "${pages[@]}"; do
    # A second to warm up, not counted: the histogram is read before and after the run.
    taskset -c 1 wrk -t1 -c"$CONNS" -d1s -H "Cookie: siteban_session=$session" "$base$page" >/dev/null
    curl -s "$base/metrics" > "$work/before"
    out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECONDS_EACH}s" --latency \
        -H "Cookie: siteban_session=$session" -H "Accept-Language: zh-CN" "$base$page")
    rps=$(awk '/Requests\/sec/ {print $2}' <<< "$out")
    if grep -q "Non-2xx" <<< "$out"; then echo "$page: $(grep Non-2xx <<< "$out")" >&2; fi
    client=$(awk '$1 == "99%" {print $2}' <<< "$out")
    curl -s "$base/metrics" > "$work/metrics"
    route=$(python3 - "$page" <<'PY'
import sys
page = sys.argv[1].split("?")[0]
parts = page.split("/")
if page.startswith("/console/entries/") and parts[3] not in ("new",):
    page = "/console/entries/{domain}"
print(page)
PY
)
    server=$(python3 - "$route" "$work/before" "$work/metrics" <<'PY'
import re, sys
route = sys.argv[1]
def read(path):
    counts = {}
    # A route's own braces (`{domain}`) sit inside the label set: match the line whole.
    for m in re.finditer(r'^siteban_http_request_duration_seconds_bucket\{(.*)\} (\d+)$', open(path).read(), re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels.get("route") == route:
            le = labels["le"]
            counts[float("inf") if le == "+Inf" else float(le)] = int(m.group(2))
    return counts
before, after = read(sys.argv[2]), read(sys.argv[3])
buckets = sorted((le, n - before.get(le, 0)) for le, n in after.items())
if not buckets:
    sys.exit(f"no histogram for route {route}")
total = buckets[-1][1]
rank = 0.99 * total
lower, below = 0.0, 0
for bound, count in buckets:
    if count >= rank:
        within = (rank - below) / max(count - below, 1)
        print(f"{(lower + (bound - lower) * within) * 1000:.2f} (bucket ≤ {bound * 1000:g})")
        break
    lower, below = bound, count
PY
)
    echo "| \`$page\` | $rps | $server | $client |"
done
