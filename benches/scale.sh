#!/usr/bin/env bash
# The size table of issue 13 for a store of N results: builds it with `verdict submit` from
# the reference workload (~15 results per item: BENCH_ITEMS = N/15), then serves it and
# measures reads with 8 connections (req/s, p99 and server CPU per request), POSTs with
# 32 (req/s and p99), and `submit` of 200,000 more results into a copy. Prints
# benches/calibrate.sh's figures first, so the table reads as ratios to the machine.
#
#   bash benches/scale.sh BIN N          (e.g. 100000, 1000000, 10000000)
#
# Needs wrk and python3. Stores are kept in bench-out/scale-N.db (made once).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?BIN}; N=${2:?N}; SECS=${SECS:-10}
OUT=bench-out; W=benches/workload; PORT=5197
export BENCH_ITEMS=$(( N / 15 > 1 ? N / 15 : 1 ))
mkdir -p "$OUT"
bash benches/calibrate.sh 3
[ -s "$OUT/scale-$N.jsonl" ] || python3 $W/gen_jsonl.py "$N" > "$OUT/scale-$N.jsonl"
[ -s "$OUT/scale-more.jsonl" ] || BENCH_ITEMS=13333 python3 $W/gen_jsonl.py 200000 > "$OUT/scale-more.jsonl"
if [ ! -s "$OUT/scale-$N.db" ]; then
  rm -f "$OUT"/scale-$N.db*
  "$BIN" submit --db "$OUT/scale-$N.db" "$OUT/scale-$N.jsonl"
fi
echo "== store: $N results, $(stat -c %s "$OUT/scale-$N.db") bytes, $BENCH_ITEMS items"
rm -f "$OUT"/scale-run.db*; cp "$OUT/scale-$N.db" "$OUT/scale-run.db"
"$BIN" serve --db "$OUT/scale-run.db" --listen 127.0.0.1:$PORT --auth dummy --policies $W/policies \
  >"$OUT/scale-serve.log" 2>&1 & server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do curl -sf http://127.0.0.1:$PORT/api/v2.0/healthcheck >/dev/null && break; sleep 0.1; done
cpu() { awk '{print $14 + $15}' /proc/$server/stat; }   # clock ticks, all threads
tick=$(getconf CLK_TCK)
measure() { # label, then the wrk arguments
  local label=$1; shift
  local before; before=$(cpu)
  local out; out=$(wrk "$@")
  local after; after=$(cpu)
  local rps p99 reqs
  rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
  p99=$(awk '$1=="99%"{print $2}' <<<"$out")
  reqs=$(awk '/requests in/{print $1}' <<<"$out")
  printf "%-22s %9.0f req/s  p99 %-9s  CPU %6.0f µs/req\n" "$label" "$rps" "$p99" \
    "$(python3 -c "print(($after - $before) / $tick * 1e6 / max($reqs, 1))")"
}
echo "== $N results: reads c8, POST c32 (${SECS}s each)"
BENCH_QUERY=item measure "GET ?item" -t2 -c8 -d${SECS}s --latency -s $W/get_query.lua http://127.0.0.1:$PORT
BENCH_QUERY=datakey_item measure "GET type+item" -t2 -c8 -d${SECS}s --latency -s $W/get_query.lua http://127.0.0.1:$PORT
BENCH_QUERY=latest_item measure "GET /latest?item" -t2 -c8 -d${SECS}s --latency -s $W/get_query.lua http://127.0.0.1:$PORT
measure "POST c32" -t2 -c32 -d${SECS}s --latency -s $W/post_result.lua http://127.0.0.1:$PORT/api/v2.0/results
kill $server; wait $server 2>/dev/null || true
rm -f "$OUT"/scale-run.db*; cp "$OUT/scale-$N.db" "$OUT/scale-run.db"
echo "== submit of 200,000 more results into the $N-result store"
"$BIN" submit --db "$OUT/scale-run.db" "$OUT/scale-more.jsonl"
rm -f "$OUT"/scale-run.db*
