#!/usr/bin/env bash
# The bench reads on two stores in one sitting (issue 13: "10M vs 1M" without the minutes
# between two scale.sh runs, on a machine whose speed drifts by ±20%): serves both stores
# at once and alternates runs of each query between them, after WARM s of warm-up each.
#
#   bash benches/scale_reads_ab.sh BIN STORE_A ITEMS_A STORE_B ITEMS_B [ROUNDS] [SECS]
#   e.g. bash benches/scale_reads_ab.sh target/release/verdict \
#          bench-out/scale-1000000.db 66666 bench-out/scale-10000000.db 666666
#
# ITEMS: the store's distinct items (scale.sh: N/15), so queries name items it holds.
# Prints each run, then the medians and B/A. The stores are only read.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?BIN}; A=${2:?STORE_A}; IA=${3:?ITEMS_A}; B=${4:?STORE_B}; IB=${5:?ITEMS_B}
ROUNDS=${6:-3}; SECS=${7:-6}; WARM=${WARM:-5}; W=benches/workload
"$BIN" serve --db "$A" --listen 127.0.0.1:5201 --auth dummy --policies $W/policies >/dev/null 2>&1 & pa=$!
"$BIN" serve --db "$B" --listen 127.0.0.1:5202 --auth dummy --policies $W/policies >/dev/null 2>&1 & pb=$!
trap 'kill $pa $pb 2>/dev/null || true' EXIT
for port in 5201 5202; do
  for _ in $(seq 1 600); do curl -sf http://127.0.0.1:$port/api/v2.0/healthcheck >/dev/null && break; sleep 0.1; done
done
run() { # port items query secs
  BENCH_ITEMS=$2 BENCH_QUERY=$3 wrk -t2 -c8 -d$4s --latency -s $W/get_query.lua http://127.0.0.1:$1
}
results=$(mktemp); trap 'kill $pa $pb 2>/dev/null || true; rm -f $results' EXIT
for q in item datakey_item latest_item; do
  run 5201 "$IA" $q "$WARM" >/dev/null; run 5202 "$IB" $q "$WARM" >/dev/null
  for _ in $(seq 1 "$ROUNDS"); do
    for side in A B; do
      if [ $side = A ]; then out=$(run 5201 "$IA" $q "$SECS"); else out=$(run 5202 "$IB" $q "$SECS"); fi
      line="$q $side $(awk '/Requests\/sec/{print $2}' <<<"$out") $(awk '$1=="99%"{print $2}' <<<"$out")"
      echo "$line"; echo "$line" >>"$results"
    done
  done
done
python3 - "$results" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    q, side, rps, p99 = line.split()
    runs[(q, side)].append((float(rps), p99))
for q in ("item", "datakey_item", "latest_item"):
    a = statistics.median(r for r, _ in runs[(q, "A")])
    b = statistics.median(r for r, _ in runs[(q, "B")])
    print(f"{q:14} A {a:8.0f} req/s (p99 {', '.join(p for _, p in runs[(q, 'A')])})"
          f"  B {b:8.0f} (p99 {', '.join(p for _, p in runs[(q, 'B')])})  B/A {b / a:.2f}")
PY
