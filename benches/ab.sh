#!/usr/bin/env bash
# Same-run A/B of two verdict binaries on one store: POST results (32 connections), two
# reads and decisions (8 connections), alternating A B A B so machine drift hits both.
#
#   bash benches/ab.sh BIN_A BIN_B [N] [ROUNDS]
#
# The store (N results, default 1000000, from benches/workload/gen_jsonl.py) is made once
# with BIN_A's `submit` and copied for every run, so each run starts from the same file
# (a newer binary may upgrade the copy when it opens it; that happens before the clock
# starts). Needs wrk and python3. Prints each figure per run, then medians and B/A.
set -euo pipefail
cd "$(dirname "$0")/.."
A=${1:?BIN_A}; B=${2:?BIN_B}; N=${3:-1000000}; ROUNDS=${4:-3}
OUT=bench-out; W=benches/workload; PORT=5193; SECS=${SECS:-10}
mkdir -p "$OUT"
echo "== machine"; nproc; grep -m1 "model name" /proc/cpuinfo || true
[ -s "$OUT/results-$N.jsonl" ] || python3 $W/gen_jsonl.py "$N" > "$OUT/results-$N.jsonl"
if [ ! -s "$OUT/ab-$N.db" ]; then
  rm -f "$OUT"/ab-$N.db*
  "$A" submit --db "$OUT/ab-$N.db" "$OUT/results-$N.jsonl" >/dev/null
fi

run() { # $1 = binary, $2 = label; prints "label metric value" lines
  rm -f "$OUT"/ab-run.db*; cp "$OUT/ab-$N.db" "$OUT/ab-run.db"
  "$1" serve --db "$OUT/ab-run.db" --listen 127.0.0.1:$PORT --auth dummy --policies $W/policies \
    >"$OUT/ab-serve.log" 2>&1 & local pid=$!
  for _ in $(seq 1 600); do curl -sf http://127.0.0.1:$PORT/api/v2.0/healthcheck >/dev/null && break; sleep 0.1; done
  rps() { awk '/Requests\/sec/{print $2}'; }
  for q in item latest_item; do
    echo "$2 get_$q $(BENCH_QUERY=$q wrk -t2 -c8 -d${SECS}s -s $W/get_query.lua http://127.0.0.1:$PORT | rps)"
  done
  echo "$2 decision $(wrk -t2 -c8 -d${SECS}s -s $W/decision.lua http://127.0.0.1:$PORT/api/v1.0/decision | rps)"
  echo "$2 post $(wrk -t2 -c32 -d${SECS}s -s $W/post_result.lua http://127.0.0.1:$PORT/api/v2.0/results | rps)"
  kill $pid; wait $pid 2>/dev/null || true
}

results=$(for r in $(seq 1 "$ROUNDS"); do run "$A" A; run "$B" B; done | tee /dev/stderr)
echo "== medians (req/s) and B/A"
echo "$results" | python3 -c '
import sys, statistics, collections
v = collections.defaultdict(list)
for line in sys.stdin:
    who, metric, x = line.split()
    v[(who, metric)].append(float(x))
for m in ["post", "get_item", "get_latest_item", "decision"]:
    a, b = v[("A", m)], v[("B", m)]
    pairs = statistics.median([y / x for x, y in zip(a, b)])
    print("%-16s A %8.0f  B %8.0f  B/A of medians %.3f  median of round ratios %.3f" % (
        m, statistics.median(a), statistics.median(b), statistics.median(b) / statistics.median(a), pairs))
'
