#!/usr/bin/env bash
# The size table of issue 13 for a store of N results: builds it with `verdict submit` from
# the reference workload (~15 results per item: BENCH_ITEMS = N/15), then serves it and
# measures reads with 8 connections (req/s, p99 and server CPU per request; each query
# first runs WARM seconds unmeasured, as on a server that has been up a while), POSTs with
# 1 and 32 connections (req/s and p99, after POST_WARM seconds of POSTs), the server's
# private memory (anonymous pages, not the mapped file) after each, and `submit` of
# 1,000,000 more results into a copy and into an empty store. Prints benches/calibrate.sh's
# figures first, so the table reads as ratios to the machine. Every copy is synced before
# timing: the kernel writing back a fresh 5 GB copy competed with the first measurements.
#
#   bash benches/scale.sh BIN N          (e.g. 100000, 1000000, 10000000)
#
# Needs wrk and python3. Stores are kept in bench-out/scale-N.db (made once).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?BIN}; N=${2:?N}; SECS=${SECS:-10}; WARM=${WARM:-5}; POST_WARM=${POST_WARM:-10}
OUT=bench-out; W=benches/workload; PORT=5197
export BENCH_ITEMS=$(( N / 15 > 1 ? N / 15 : 1 ))
mkdir -p "$OUT"
bash benches/calibrate.sh 3
[ -s "$OUT/scale-$N.jsonl" ] || python3 $W/gen_jsonl.py "$N" > "$OUT/scale-$N.jsonl"
# 1M more results for 13,333 of the store's items, seeded apart from the store's own: long
# enough that new postings are folded into the main index (~2 rounds) within the timing.
[ -s "$OUT/scale-more-1m.jsonl" ] || BENCH_ITEMS=13333 python3 -c "
import sys; sys.argv = ['gen_jsonl.py', '1000000']
exec(open('$W/gen_jsonl.py').read().replace('random.Random(42)', 'random.Random(4242)'))" > "$OUT/scale-more-1m.jsonl"
if [ ! -s "$OUT/scale-$N.db" ]; then
  rm -f "$OUT"/scale-$N.db*
  "$BIN" submit --db "$OUT/scale-$N.db" "$OUT/scale-$N.jsonl"
fi
echo "== store: $N results, $(stat -c %s "$OUT/scale-$N.db") bytes, $BENCH_ITEMS items"
fresh_copy() { rm -f "$OUT"/scale-run.db*; cp "$OUT/scale-$N.db" "$OUT/scale-run.db"; sync; }
fresh_copy
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
  printf "%-22s %9.0f req/s  p99 %-9s  CPU %6.0f µs/req  private %5d MB\n" "$label" "$rps" "$p99" \
    "$(python3 -c "print(($after - $before) / $tick * 1e6 / max($reqs, 1))")" "$(private_mb)"
}
# Anonymous memory of the server (its heap and SQLite's page caches), not the mapped store.
private_mb() { awk '/^Anonymous:/{print int($2 / 1024)}' /proc/$server/smaps_rollup; }
read_query() { # label, BENCH_QUERY
  BENCH_QUERY=$2 wrk -t2 -c8 -d${WARM}s -s $W/get_query.lua http://127.0.0.1:$PORT >/dev/null
  BENCH_QUERY=$2 measure "$1" -t2 -c8 -d${SECS}s --latency -s $W/get_query.lua http://127.0.0.1:$PORT
}
echo "== $N results: reads c8, POST c32 (${SECS}s each)"
read_query "GET ?item" item
read_query "GET type+item" datakey_item
read_query "GET /latest?item" latest_item
# POSTs are warmed like reads. A new server's first seconds of writes are slow: its WAL
# grows (each fsync then also commits the file's new size) until it first restarts at its
# limit; a server that has been up a while overwrites it in place. (On the 1M store,
# 2-second slices of c32 POSTs after a start ran at 4.7k, 6.1k, 10.2k, then 15-16k req/s;
# most of that was fold debt a `submit` used to leave behind, since fixed: BENCHMARKS.md.)
wrk -t2 -c32 -d${POST_WARM}s -s $W/post_result.lua http://127.0.0.1:$PORT/api/v2.0/results >/dev/null
measure "POST c1" -t1 -c1 -d${SECS}s --latency -s $W/post_result.lua http://127.0.0.1:$PORT/api/v2.0/results
measure "POST c32" -t2 -c32 -d${SECS}s --latency -s $W/post_result.lua http://127.0.0.1:$PORT/api/v2.0/results
kill $server; wait $server 2>/dev/null || true
fresh_copy
echo "== submit of 1,000,000 more results into the $N-result store, then into an empty one"
"$BIN" submit --db "$OUT/scale-run.db" "$OUT/scale-more-1m.jsonl"
rm -f "$OUT"/scale-run.db*
"$BIN" submit --db "$OUT/scale-run.db" "$OUT/scale-more-1m.jsonl"
rm -f "$OUT"/scale-run.db*
