#!/usr/bin/env bash
# Sourced by the check benchmarks (load.sh, profiles.sh): from "$1/entries.ndjson", writes the
# 10,000 check queries both use (every other one a listed name's www., the rest unlisted),
# "$1/queries.txt", the same as one batch body "$1/batch.json", and the wrk scripts
# "$1/check.lua" and "$1/healthz.lua". The ceiling sends the very same requests (token, query)
# to /healthz, which ignores them. The token is read from $TOKEN when wrk runs.
write_check_queries() {
    local work=$1
    python3 - "$work" <<'PY'
import json, random, sys, urllib.parse
work = sys.argv[1]
random.seed(7)
names = [json.loads(l)["domain"] for l in open(f"{work}/entries.ndjson")]
queries = []
for i in range(10000):
    if i % 2 == 0:
        queries.append("www." + random.choice(names))
    else:
        queries.append(f"www.clean-{random.randrange(10**7)}.example.com")
open(f"{work}/queries.txt", "w").write("\n".join(urllib.parse.quote(q) for q in queries) + "\n")
open(f"{work}/batch.json", "w").write(json.dumps({"domains": queries}))
PY
    local path
    for path in /v1/check /healthz; do
        cat > "$work/$(basename "$path").lua" <<LUA
local names = {}
for line in io.lines("$work/queries.txt") do names[#names + 1] = line end
local i = 0
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
request = function()
  i = i % #names + 1
  return wrk.format("GET", "$path?domain=" .. names[i])
end
LUA
    done
}
