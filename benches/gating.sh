#!/usr/bin/env bash
# Gating benchmarks (issue 5): decisions with 1M results and 100k waivers in the store,
# waiver POSTs, and SSE delivery latency.
#
#   bash benches/gating.sh        (needs bench-out/store.db from benches/load.sh, wrk, python3)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench-out
W=benches/workload
BIN_SET=${BIN:-}; BIN=${BIN:-target/release/verdict}  # BIN=path: measure that binary, no build (A/B runs)
PORT=5197
[ -n "${BIN_SET:-}" ] || cargo build --release --quiet
[ -s "$OUT/store.db" ] || { echo "run benches/load.sh first (it builds bench-out/store.db)"; exit 1; }
rm -f "$OUT"/gate.db*; cp "$OUT/store.db" "$OUT/gate.db"; for x in wal shm; do [ -f "$OUT/store.db-$x" ] && cp "$OUT/store.db-$x" "$OUT/gate.db-$x"; done
serve() { $BIN serve --db "$OUT/gate.db" --listen 127.0.0.1:$PORT --auth dummy --policies $W/policies "$@" >"$OUT/gate.log" 2>&1 & SERVER=$!; sleep 1; }
stop() { kill $SERVER; wait $SERVER 2>/dev/null || true; }

echo "== 100,000 waivers loaded (lists of 500 per POST)"
serve
python3 - $PORT <<'PY'
import http.client, json, sys, random
rng = random.Random(7)
tcs = ["dist.rpmlint", "dist.depcheck", "dist.abicheck", "update.base_selinux"]
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=120)
for batch in range(200):
    body = [{"subject_type": "koji_build", "subject_identifier": f"pkg{i:05d}-1.2-{i % 7}.fc40",
             "testcase": rng.choice(tcs), "product_version": "fedora-40", "waived": rng.random() < 0.8,
             "comment": "bench"} for i in (rng.randrange(5000) for _ in range(500))]
    c.request("POST", "/api/v1.0/waivers/", json.dumps(body), {"Content-Type": "application/json", "Authorization": "Basic YmVuY2g6eA=="})
    r = c.getresponse(); r.read()
    assert r.status == 201, r.status
print("loaded")
PY
echo "== decisions (POST /api/v1.0/decision, random item, 5 required testcases)"
for c in 8 16; do
  wrk -t2 -c$c -d10s --latency -s $W/decision.lua http://127.0.0.1:$PORT/api/v1.0/decision | grep -E "Requests/sec|50%|99%|Non-2xx" | tr '\n' ' '; echo " (c$c)"
done
echo "== waiver POSTs, 32 connections"
wrk -t2 -c32 -d10s --latency -s $W/waiver.lua http://127.0.0.1:$PORT/api/v1.0/waivers/ | grep -E "Requests/sec|50%|99%|Non-2xx"
stop
echo "== SSE delivery latency (post -> subscriber), 1000 posts"
serve
python3 benches/sse_latency.py http://127.0.0.1:$PORT 1000
stop
