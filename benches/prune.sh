#!/usr/bin/env bash
# Prune with proof at scale: an N-result store (default 1,000,000; results spread over the
# 100 days before 2026-01-01, submitted in time order) loses the 90% submitted before
# 2025-12-22 to `verdict prune` while a server on the same file serves reads (wrk, CONNS
# connections, default 4; results of an item). Prints the prune's wall time, the file size before and
# after, the reads' latency during the prune, and `verify`.
#
#   bash benches/prune.sh BIN [N]
#
# Needs wrk and python3. The store is made once (bench-out/prune-N.db) and copied per run.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?BIN}; N=${2:-1000000}; CONNS=${CONNS:-4}
OUT=bench-out; W=benches/workload; PORT=5196
mkdir -p "$OUT"
echo "== machine"; nproc; grep -m1 "model name" /proc/cpuinfo || true; uptime
[ -s "$OUT/dated-$N.jsonl" ] || BENCH_DAYS=100 python3 $W/gen_jsonl.py "$N" > "$OUT/dated-$N.jsonl"
if [ ! -s "$OUT/prune-$N.db" ]; then
  rm -f "$OUT"/prune-$N.db*
  "$BIN" submit --db "$OUT/prune-$N.db" "$OUT/dated-$N.jsonl"
fi
rm -f "$OUT"/prune-run.db*; cp "$OUT/prune-$N.db" "$OUT/prune-run.db"
before=$(stat -c %s "$OUT/prune-run.db")
"$BIN" serve --db "$OUT/prune-run.db" --listen 127.0.0.1:$PORT >"$OUT/prune-serve.log" 2>&1 & server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do curl -sf http://127.0.0.1:$PORT/api/v2.0/healthcheck >/dev/null && break; sleep 0.1; done
BENCH_QUERY=item wrk -t1 -c$CONNS -d600s --latency -s $W/get_query.lua http://127.0.0.1:$PORT >"$OUT/prune-wrk.txt" 2>&1 & load=$!
sleep 2
start=$(date +%s.%N)
"$BIN" prune --db "$OUT/prune-run.db" --before 2025-12-22
end=$(date +%s.%N)
kill -INT $load; wait $load 2>/dev/null || true
kill $server; wait $server 2>/dev/null || true
after=$(stat -c %s "$OUT/prune-run.db")
echo "== prune wall time: $(python3 -c "print(round($end - $start, 1))") s"
echo "== file: $before bytes before, $after after ($(python3 -c "print(round(100 * $after / $before, 1))")%)"
echo "== reads during the prune (wrk -c$CONNS, results of an item)"
grep -E "Latency|50%|90%|99%|Requests/sec|requests in|Non-2xx|Socket errors" "$OUT/prune-wrk.txt" || cat "$OUT/prune-wrk.txt"
"$BIN" verify --db "$OUT/prune-run.db"
"$BIN" stats --db "$OUT/prune-run.db" | grep -E "^results|log entries|file size"
