#!/usr/bin/env bash
# Load benchmarks of the foundation (issue 2) on the reference workload, with wrk.
#
#   bash benches/load.sh [N]      N results in the store (default 1000000)
#
# Needs wrk (Debian package `wrk`) and python3. Builds the release binary, generates N
# results with benches/workload/gen_jsonl.py, then measures: `verdict submit` rate, store
# size, the five read queries at 4/8/16 connections, POSTs at 32 connections, RSS. Work
# files go to bench-out/ (ignored by git). Figures go to stdout; BENCHMARKS.md records them.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
OUT=bench-out
W=benches/workload
mkdir -p "$OUT"
BIN_SET=${BIN:-}; BIN=${BIN:-target/release/verdict}  # BIN=path: measure that binary, no build (A/B runs)
[ -n "${BIN_SET:-}" ] || cargo build --release --quiet
PORT=5199

echo "== machine"; nproc; grep -m1 "model name" /proc/cpuinfo || true; free -g | head -2

if [ ! -s "$OUT/results-$N.jsonl" ]; then python3 $W/gen_jsonl.py "$N" > "$OUT/results-$N.jsonl"; fi
rm -f "$OUT"/store.db*
echo "== submit $N results (JSON Lines)"
/usr/bin/time -f "submit: wall %e s, max RSS %M KB" $BIN submit --db "$OUT/store.db" "$OUT/results-$N.jsonl"
jsonl=$(stat -c %s "$OUT/results-$N.jsonl"); db=$(stat -c %s "$OUT/store.db")
echo "store size: $db bytes; JSON Lines: $jsonl bytes; ratio $(python3 -c "print(round($db/$jsonl, 3))")"

serve() { $BIN serve --db "$1" --listen 127.0.0.1:$PORT >"$OUT/serve.log" 2>&1 & SERVER=$!; sleep 1; }
stop() { kill $SERVER; wait $SERVER 2>/dev/null || true; }
cpu() { awk '{print $14+$15}' /proc/$SERVER/stat; }

echo "== reads (server CPU per request from /proc; 2 wrk threads)"
serve "$OUT/store.db"
echo "idle RSS: $(grep VmRSS /proc/$SERVER/status | awk '{print $2}') KB"
tck=$(getconf CLK_TCK)
for c in 4 8 16; do
  for q in item testcase_limit20 latest_item testcase_like datakey_item; do
    t0=$(cpu)
    out=$(BENCH_QUERY=$q wrk -t2 -c$c -d10s --latency -s $W/get_query.lua http://127.0.0.1:$PORT)
    t1=$(cpu)
    n=$(echo "$out" | awk '/requests in/{print $1}')
    echo "$out" | awk -v q=$q -v c=$c -v us=$(( (t1 - t0) * 1000000 / tck / n )) \
      '/Requests\/sec/{r=$2} / 50%/{p50=$2} / 99%/{p99=$2} /Non-2xx/{e=$0} END{printf "c%-3s %-17s %9s req/s  p50 %-8s p99 %-8s cpu %4s us/req %s\n", c, q, r, p50, p99, us, e}'
  done
done
echo "RSS after reads: $(grep VmRSS /proc/$SERVER/status | awk '{print $2}') KB"
stop

echo "== POST single results, 32 connections, durable (on a copy of the store)"
rm -f "$OUT"/post.db*; cp "$OUT/store.db" "$OUT/post.db"; for x in wal shm; do [ -f "$OUT/store.db-$x" ] && cp "$OUT/store.db-$x" "$OUT/post.db-$x"; done
serve "$OUT/post.db"
wrk -t2 -c32 -d15s --latency -s $W/post_result.lua http://127.0.0.1:$PORT/api/v2.0/results | grep -E "Requests/sec|50%|99%|Non-2xx|Socket"
echo "peak RSS during POSTs: $(grep VmHWM /proc/$SERVER/status | awk '{print $2}') KB; errors logged: $(grep -c ERROR "$OUT/serve.log" || true)"
stop
