#!/usr/bin/env bash
# The transparency log's cost, in one run on this machine (embedded store, rate limits off):
#   - listings per second with the log against a BASE build without it (default the commit
#     before the log), each a fresh node loaded by wrk posting unique names at CONNS
#     connections; runs alternate between the two builds;
#   - how long after a listing's 201 the signed checkpoint covers it (SAMPLES listings one
#     after another, each awaited: p50, p99);
#   - GET of a full hash tile (8 KiB) against the HTTP ceiling of the same server for an
#     answer of that size: the rate at which it sends a static body with nothing computed.
#     Its nearest static body is the console's stylesheet (5.9 KiB, compiled in); a smaller
#     body goes faster, so tile / stylesheet is a lower bound of tile / ceiling. GET /healthz,
#     the empty answer, is measured beside them.
# The server runs with one worker pinned to core 0, wrk and the probes on core 1. Medians of
# RUNS runs.
# Usage: benches/tlog.sh   (env: PROFILE=thin BASE=08b16b5 DURATION=10 RUNS=3 CONNS=16
#        SAMPLES=200)
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-dist}
BASE=${BASE:-08b16b5}
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
CONNS=${CONNS:-16}
SAMPLES=${SAMPLES:-200}
ADMIN=bench-admin-token-0123456789abcdef

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --profile "$PROFILE" --quiet --bin siteban
# The baseline: the same profile built from BASE in a worktree of its own.
base_tree=${BASE_TREE:-target/tlog-base-src}
if [ ! -d "$base_tree" ]; then git worktree add -q "$base_tree" "$BASE"; fi
(cd "$base_tree" && git checkout -q "$BASE" && CARGO_TARGET_DIR="$OLDPWD/target/tlog-base" cargo build --profile "$PROFILE" --quiet --bin siteban)
declare -A bin=([log]="$PWD/target/$PROFILE/siteban" [base]="$PWD/target/tlog-base/$PROFILE/siteban")
# Each build reads the settings files of its own tree.
declare -A home=([log]="$PWD" [base]="$(cd "$base_tree" && pwd)")

work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ok() { for _ in $(seq 1 600); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

start() { # build (log or base): a fresh node; sets pid, port, AGENCY, AUDITOR
    rm -rf "$work/data"
    port=$(free_port)
    (cd "${home[$1]}" && exec env SITEBAN__STORE__PATH="$work/data" SITEBAN__SERVER__LISTEN="127.0.0.1:$port" \
        SITEBAN__SERVER__WORKERS=1 SITEBAN__AUTH__ADMIN_TOKEN=$ADMIN SITEBAN__LOG__LEVEL=warn \
        SITEBAN__LOCATE__ON_LISTING=false taskset -c 0 "${bin[$1]}" serve --config config/unlimited.toml) &
    pid=$!
    wait_ok "http://127.0.0.1:$port/readyz"
    for role in agency auditor; do
        token=$(curl -fs -X POST "http://127.0.0.1:$port/v1/keys" -H "Authorization: Bearer $ADMIN" \
            -H 'Content-Type: application/json' -d "{\"name\":\"$role\",\"role\":\"$role\"}" \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
        declare -g "${role^^}=$token"
    done
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""; }

cat > "$work/list.lua" <<'LUA'
local n = 0
local id = tostring(math.random(1, 1e9))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
request = function()
    n = n + 1
    local body = '{"domain":"b' .. id .. '-' .. n .. '.example.cn","scope":"subtree",' ..
        '"category":"counterfeit_goods","reason":"benchmark",' ..
        '"decision":{"number":"京市监处罚〔2024〕' .. n .. '号","authority":"北京市市场监督管理局","date":"2024-05-01"}}'
    return wrk.format(nil, nil, nil, body)
end
LUA
cat > "$work/auth.lua" <<'LUA'
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
LUA

run_wrk() { # url script conns → "requests/s non2xx"
    local out
    out=$(taskset -c 1 wrk -t1 -c"$3" -d"${DURATION}s" -s "$2" "$1")
    python3 -c '
import re, sys
text = sys.stdin.read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
print(f"{rps:.0f} {bad.group(1) if bad else 0}")' <<< "$out"
}

declare -A results
for run in $(seq 1 "$RUNS"); do
    for which in base log; do
        start "$which"
        results[$which]+="$(TOKEN=$AGENCY run_wrk "http://127.0.0.1:$port/v1/entries" "$work/list.lua" "$CONNS");"
        stop
    done
done

# Checkpoint latency and tile serving, on the build with the log.
start log
latency=$(taskset -c 1 python3 - "$port" "$AGENCY" "$AUDITOR" "$SAMPLES" <<'PY'
import http.client, json, statistics, sys, time
port, agency, auditor, samples = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
conn = http.client.HTTPConnection("127.0.0.1", int(port))
def call(method, path, token, body=None):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response, response.read()
waits = []
for n in range(samples):
    body = json.dumps({"domain": f"cp{n}.example.cn", "scope": "subtree", "category": "counterfeit_goods",
                       "reason": "benchmark", "decision": {"number": f"京市监处罚〔2024〕{n}号",
                       "authority": "北京市市场监督管理局", "date": "2024-05-01"}})
    response, answer = call("POST", "/v1/entries", agency, body)
    assert response.status == 201, answer
    seq = json.loads(answer)["seq"]
    start = time.monotonic()
    while True:
        response, _ = call("GET", "/v1/log/checkpoint", auditor)
        if int(response.getheader("X-Log-Size")) >= seq:
            break
        time.sleep(0.001)
    waits.append((time.monotonic() - start) * 1000)
waits.sort()
print(f"{statistics.median(waits):.1f} {waits[int(len(waits) * 0.99) - 1]:.1f} {waits[-1]:.1f}")
PY
)
# A full tile exists once 256 events are logged; list more if the probes left fewer.
for n in $(seq 1 300); do
    curl -fs -o /dev/null -X POST "http://127.0.0.1:$port/v1/entries" -H "Authorization: Bearer $AGENCY" \
        -H 'Content-Type: application/json' \
        -d "{\"domain\":\"t$n.example.cn\",\"scope\":\"subtree\",\"category\":\"counterfeit_goods\",\"reason\":\"benchmark\",\"decision\":{\"number\":\"京市监处罚〔2024〕$n号\",\"authority\":\"北京市市场监督管理局\",\"date\":\"2024-05-01\"}}"
done
sleep 2
curl -fs -o /dev/null "http://127.0.0.1:$port/v1/log/tile/0/000" -H "Authorization: Bearer $AUDITOR" \
    || { echo "no full tile to serve" >&2; exit 1; }
for run in $(seq 1 "$RUNS"); do
    results[ceiling]+="$(TOKEN=$AUDITOR run_wrk "http://127.0.0.1:$port/healthz" "$work/auth.lua" 50);"
    results[tile]+="$(TOKEN=$AUDITOR run_wrk "http://127.0.0.1:$port/v1/log/tile/0/000" "$work/auth.lua" 50);"
    results[static]+="$(TOKEN=$AUDITOR run_wrk "http://127.0.0.1:$port/console/static/console.css" "$work/auth.lua" 50);"
done
stop

python3 - "$latency" "${results[base]}" "${results[log]}" "${results[ceiling]}" "${results[tile]}" "${results[static]}" <<'PY'
import statistics, sys
p50, p99, worst = sys.argv[1].split()
def runs(s):
    return [tuple(map(float, r.split())) for r in s.split(";") if r]
base, log, ceiling, tile, static = (runs(s) for s in sys.argv[2:7])
for name, rs in [("base", base), ("log", log), ("ceiling", ceiling), ("tile", tile), ("static", static)]:
    assert all(r[1] == 0 for r in rs), f"{name}: answers other than 2xx: {rs}"
med = lambda rs: statistics.median(r[0] for r in rs)
print(f"| measurement | median | runs |")
print(f"| --- | --- | --- |")
print(f"| listings/s, without the log ({len(base)} runs) | {med(base):.0f} | {[int(r[0]) for r in base]} |")
print(f"| listings/s, with the log | {med(log):.0f} | {[int(r[0]) for r in log]} |")
print(f"| GET /v1/log/tile/0/000 (8 KiB) | {med(tile):.0f} | {[int(r[0]) for r in tile]} |")
print(f"| GET /console/static/console.css (5.9 KiB, static) | {med(static):.0f} | {[int(r[0]) for r in static]} |")
print(f"| GET /healthz (empty answer) | {med(ceiling):.0f} | {[int(r[0]) for r in ceiling]} |")
paired = lambda a, b: statistics.median(x[0] / y[0] for x, y in zip(a, b))
print(f"\nlistings with the log / without: {med(log) / med(base):.2f}")
print(f"tile / static body (a lower bound of tile / ceiling): median of paired runs {paired(tile, static):.2f}")
print(f"tile / empty answer: median of paired runs {paired(tile, ceiling):.2f}")
print(f"static body / empty answer: median of paired runs {paired(static, ceiling):.2f}")
print(f"checkpoint covering a listing after its 201: p50 {p50} ms, p99 {p99} ms, max {worst} ms")
PY
