#!/usr/bin/env bash
# Same-run A/B of two verdict binaries reading one PostgreSQL database (issue 14's read
# goal on a machine whose speed drifts): serves the database with both binaries at once
# and alternates runs of each bench read between them (8 connections), after WARM s of
# warm-up each. Only reads: the database is not changed.
#
#   bash benches/pg_reads_ab.sh BIN_A BIN_B URL [ROUNDS] [SECS]
#   e.g. bash benches/pg_reads_ab.sh /tmp/verdict-old target/release/verdict \
#          postgres://postgres@127.0.0.1:5434/vbench
#
# URL: a database built by benches/postgres.sh (BENCH_ITEMS: its distinct items, N/15).
# QUERIES picks the reads (default: the five of the speed table). Prints each run, then
# per read the median req/s, every p99 and B/A.
set -euo pipefail
cd "$(dirname "$0")/.."
A=${1:?BIN_A}; B=${2:?BIN_B}; URL=${3:?URL}; ROUNDS=${4:-3}; SECS=${5:-6}; WARM=${WARM:-3}
QUERIES=${QUERIES:-item testcase_limit20 latest_item testcase_like datakey_item}
export BENCH_ITEMS=${BENCH_ITEMS:-66666}; W=benches/workload
"$A" serve --db "$URL" --listen 127.0.0.1:5211 --auth dummy --policies $W/policies >/dev/null 2>&1 & pa=$!
"$B" serve --db "$URL" --listen 127.0.0.1:5212 --auth dummy --policies $W/policies >/dev/null 2>&1 & pb=$!
results=$(mktemp); trap 'kill $pa $pb 2>/dev/null || true; rm -f $results' EXIT
for port in 5211 5212; do
  for _ in $(seq 1 600); do curl -sf http://127.0.0.1:$port/api/v2.0/healthcheck >/dev/null && break; sleep 0.1; done
done
run() { # port query secs
  BENCH_QUERY=$2 wrk -t2 -c8 -d$3s --latency -s $W/get_query.lua http://127.0.0.1:$1
}
for q in $QUERIES; do
  run 5211 $q "$WARM" >/dev/null; run 5212 $q "$WARM" >/dev/null
  for _ in $(seq 1 "$ROUNDS"); do
    for side in A B; do
      out=$(run $([ $side = A ] && echo 5211 || echo 5212) $q "$SECS")
      line="$q $side $(awk '/Requests\/sec/{print $2}' <<<"$out") $(awk '$1=="99%"{print $2}' <<<"$out")"
      echo "$line"; echo "$line" >>"$results"
    done
  done
done
python3 - "$results" $QUERIES <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    q, side, rps, p99 = line.split()
    runs[(q, side)].append((float(rps), p99))
for q in sys.argv[2:]:
    a = statistics.median(r for r, _ in runs[(q, "A")])
    b = statistics.median(r for r, _ in runs[(q, "B")])
    print(f"{q:17} A {a:6.0f} req/s (p99 {', '.join(p for _, p in runs[(q, 'A')])})"
          f"  B {b:6.0f} (p99 {', '.join(p for _, p in runs[(q, 'B')])})  B/A {b / a:.2f}")
PY
