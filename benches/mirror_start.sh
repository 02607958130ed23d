#!/usr/bin/env bash
# A mirror restarted while its registry is down serves from its local copy: a registry with
# ENTRIES entries (default 1,000,000) and one mirror that loads it and saves its copy; then both
# stop, and the mirror alone is started again RUNS times. Each start is timed from the process's
# launch to the first check answering a listed name as listed (the registry unreachable
# throughout). Target: at most 3 s for 1,000,000 entries. Prints each run and the median.
# Usage: benches/mirror_start.sh   (env: ENTRIES=1000000 RUNS=5 PROFILE=dist)
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-dist}
ENTRIES=${ENTRIES:-1000000}
RUNS=${RUNS:-5}
ADMIN=bench-admin-token-0123456789abcdef
CLIENT_TOKEN=bench-mirror-client-token-0123456789

cargo build --profile "$PROFILE" --quiet --bin siteban --example gen_entries
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

target/$PROFILE/examples/gen_entries "$ENTRIES" > "$work/entries.ndjson"
domain=$(python3 -c 'import json,sys
for line in open(sys.argv[1]):
    d = json.loads(line)["domain"]
    if d.isascii():
        print(d); break' "$work/entries.ndjson")
SITEBAN__STORE__PATH="$work/registry" SITEBAN__AUTH__ADMIN_TOKEN=$ADMIN SITEBAN__LOG__LEVEL=warn \
    target/$PROFILE/siteban import --no-locate "$work/entries.ndjson" 2>/dev/null
rport=$(free_port)
registry="http://127.0.0.1:$rport"
SITEBAN__STORE__PATH="$work/registry" SITEBAN__AUTH__ADMIN_TOKEN=$ADMIN SITEBAN__LOG__LEVEL=warn \
    SITEBAN__SERVER__LISTEN="127.0.0.1:$rport" SITEBAN__LOCATE__ON_LISTING=false \
    target/$PROFILE/siteban serve --config config/unlimited.toml 2> "$work/registry.log" &
rpid=$!
pids+=("$rpid")
until curl -fs "$registry/readyz" >/dev/null 2>&1; do sleep 0.1; done
token=$(curl -s --json '{"name": "bench mirror", "role": "auditor"}' -H "Authorization: Bearer $ADMIN" \
    "$registry/v1/keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
printf %s "$token" > "$work/upstream-token"
{ cat config/unlimited.toml
  printf '\n[[mirror.keys]]\nname = "bench"\nrole = "access_provider"\ntoken_sha256 = "%s"\n' \
      "$(printf %s "$CLIENT_TOKEN" | sha256sum | cut -d' ' -f1)"; } > "$work/mirror.toml"

mport=$(free_port)
mirror="http://127.0.0.1:$mport"
start_mirror() {
    SITEBAN__MIRROR__UPSTREAM="$registry" SITEBAN__MIRROR__TOKEN_FILE="$work/upstream-token" \
        SITEBAN__STORE__PATH="$work/mirror" SITEBAN__SERVER__LISTEN="127.0.0.1:$mport" \
        SITEBAN__LOG__LEVEL=info target/$PROFILE/siteban mirror --config "$work/mirror.toml" \
        2>> "$work/mirror.log" &
    mpid=$!
    pids+=("$mpid")
}
listed() { curl -fs -H "Authorization: Bearer $CLIENT_TOKEN" "$mirror/v1/check?domain=$domain" 2>/dev/null | grep -q '"listed":true'; }
start_mirror
until listed; do sleep 0.2; done
# Stopped with SIGTERM, the mirror writes its copy before it exits.
kill "$mpid"; wait "$mpid" 2>/dev/null || true
ls -l "$work/mirror/mirror-copy.json" | awk '{printf "local copy: %.0f MB\n", $5 / 1e6}'
kill "$rpid"; wait "$rpid" 2>/dev/null || true

times=()
for _ in $(seq "$RUNS"); do
    t0=$(date +%s.%N)
    start_mirror
    until listed; do sleep 0.02; done
    t1=$(date +%s.%N)
    times+=("$(python3 -c "print(round($t1 - $t0, 2))")")
    kill "$mpid"; wait "$mpid" 2>/dev/null || true
done
python3 - "$ENTRIES" "${times[*]}" <<'PY'
import statistics, sys
n, runs = int(sys.argv[1]), [float(x) for x in sys.argv[2].split()]
print(f"a mirror of {n} entries, registry down: launch to first check answered listed, median {statistics.median(runs):.2f} s (runs: {runs})")
PY
