#!/usr/bin/env bash
# Decisions with 1,000 quarantine rules loaded against none: two copies of the 1M-result
# store, one holding 1,000 rules (990 that match no bench testcase — literal names and
# prefix globs — and MATCHING (default 10) globs over real ones, so release lookups run
# too), served in turn
# (A: none, B: 1,000), `decision.lua` at 8 connections for SECS each, ROUNDS rounds.
#
#   bash benches/quarantine.sh [BIN] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/verdict}; ROUNDS=${2:-3}
OUT=bench-out; W=benches/workload; PORT=5199; SECS=${SECS:-10}; N=1000000
mkdir -p "$OUT"
[ -s "$OUT/results-$N.jsonl" ] || python3 $W/gen_jsonl.py "$N" > "$OUT/results-$N.jsonl"
[ -s "$OUT/insight-$N.db" ] || "$BIN" submit --db "$OUT/insight-$N.db" "$OUT/results-$N.jsonl" >/dev/null
serve() { # $1 store; starts the server, waits for it
  "$BIN" serve --db "$1" --listen 127.0.0.1:$PORT --auth dummy --policies $W/policies >"$OUT/q-serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do curl -sf http://127.0.0.1:$PORT/api/v2.0/healthcheck >/dev/null && break; sleep 0.1; done
}
rm -f "$OUT"/q-none.db* "$OUT"/q-rules.db*
cp "$OUT/insight-$N.db" "$OUT/q-none.db"; cp "$OUT/insight-$N.db" "$OUT/q-rules.db"
serve "$OUT/q-rules.db"
python3 - "$PORT" <<'PY'
import base64, json, sys, urllib.request
port = sys.argv[1]
import os
real = ["dist.rpm*", "dist.abicheck", "update.*", "compose.install_default", "fedora-ci.koji-build.tier0.*",
        "osci.brew-build.rpmdeplint.functional", "dist.python-versions", "dist.upgradepath", "compose.base_*", "dist.depcheck"]
real = real[:int(os.environ.get("MATCHING", "10"))]
rules = [{"testcase": t, "reason": "bench"} for t in real]
rules += [{"testcase": f"team{i % 50}.suite{i}.*" if i % 2 else f"other.test.{i}", "reason": "bench"} for i in range(1000 - len(real))]
auth = "Basic " + base64.b64encode(b"bench:").decode()
for body in rules:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/verdict/v1/quarantines", json.dumps(body).encode(),
                                 {"Content-Type": "application/json", "Authorization": auth})
    urllib.request.urlopen(req).read()
PY
kill $pid; wait $pid 2>/dev/null || true
rate() { wrk -t2 -c8 -d${SECS}s -s $W/decision.lua http://127.0.0.1:$PORT/api/v1.0/decision | awk '/Requests\/sec/{print $2}'; }
results=$(for r in $(seq 1 "$ROUNDS"); do
  for side in none rules; do
    serve "$OUT/q-$side.db"; echo "$side $(rate)"; kill $pid; wait $pid 2>/dev/null || true
  done
done | tee /dev/stderr)
echo "$results" | python3 -c '
import sys, statistics
v = {"none": [], "rules": []}
for line in sys.stdin:
    k, x = line.split(); v[k].append(float(x))
a, b = statistics.median(v["none"]), statistics.median(v["rules"])
ratios = statistics.median([y / x for x, y in zip(v["none"], v["rules"])])
print("decisions/s: none %.0f, 1000 rules %.0f, ratio of medians %.3f, median of round ratios %.3f" % (a, b, b / a, ratios))
'
