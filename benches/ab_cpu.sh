#!/usr/bin/env bash
# Same-run A/B of two verdict binaries by server CPU time per request (utime+stime from
# /proc, all threads), beside throughput: on a machine shared with other work, req/s swing
# with the neighbours' load while the CPU a request costs moves much less.
#
#   bash benches/ab_cpu.sh BIN_A BIN_B [N] [ROUNDS]
#
# Both servers run side by side, each on its own copy of one N-result store (made as
# benches/ab.sh makes it); the workloads of ab.sh (GET ?item=, GET /latest?item= and
# decisions with 8 connections, POST with 32) run against A then B, round after round,
# SECS seconds each (default 8). Prints each run, then medians and B/A.
set -euo pipefail
cd "$(dirname "$0")/.."
A=${1:?BIN_A}; B=${2:?BIN_B}; N=${3:-1000000}; ROUNDS=${4:-5}
OUT=bench-out; W=benches/workload; SECS=${SECS:-8}; TCK=$(getconf CLK_TCK)
mkdir -p "$OUT"
echo "== machine"; nproc; grep -m1 "model name" /proc/cpuinfo || true; uptime
[ -s "$OUT/results-$N.jsonl" ] || python3 $W/gen_jsonl.py "$N" > "$OUT/results-$N.jsonl"
if [ ! -s "$OUT/ab-$N.db" ]; then
  rm -f "$OUT"/ab-$N.db*
  "$A" submit --db "$OUT/ab-$N.db" "$OUT/results-$N.jsonl" >/dev/null
fi

start() { # $1 = binary, $2 = port; prints the pid
  rm -f "$OUT"/cpu-$2.db*; cp "$OUT/ab-$N.db" "$OUT/cpu-$2.db"
  "$1" serve --db "$OUT/cpu-$2.db" --listen 127.0.0.1:$2 --auth dummy --policies $W/policies \
    >"$OUT/cpu-$2.log" 2>&1 &
  echo $!
}
PA=$(start "$A" 5194); PB=$(start "$B" 5195)
trap 'kill $PA $PB 2>/dev/null || true' EXIT
for port in 5194 5195; do
  for _ in $(seq 1 600); do curl -sf http://127.0.0.1:$port/api/v2.0/healthcheck >/dev/null && break; sleep 0.1; done
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # $1 = label, $2 = pid, $3 = port, $4 = metric, then wrk's arguments
  local who=$1 pid=$2 port=$3 metric=$4; shift 4
  local t0 t1 out reqs
  t0=$(ticks "$pid")
  out=$(wrk "$@" -d${SECS}s "http://127.0.0.1:$port${PATH_SUFFIX:-}")
  t1=$(ticks "$pid")
  reqs=$(echo "$out" | awk '/requests in/{print $1}')
  echo "$who $metric $(echo "$out" | awk '/Requests\/sec/{print $2}') $(( (t1 - t0) * 1000000 / TCK * 1000 / reqs ))"
}
one() { # $1 = label, $2 = pid, $3 = port
  BENCH_QUERY=item run "$1" "$2" "$3" get_item -t2 -c8 -s $W/get_query.lua
  BENCH_QUERY=latest_item run "$1" "$2" "$3" get_latest_item -t2 -c8 -s $W/get_query.lua
  PATH_SUFFIX=/api/v1.0/decision run "$1" "$2" "$3" decision -t2 -c8 -s $W/decision.lua
  PATH_SUFFIX=/api/v2.0/results run "$1" "$2" "$3" post -t2 -c32 -s $W/post_result.lua
}
echo "== runs: who metric req/s server-CPU-ns-per-request"
results=$(for r in $(seq 1 "$ROUNDS"); do one A "$PA" 5194; one B "$PB" 5195; done | tee /dev/stderr)
echo "== medians and B/A (CPU: B/A over 1 means B costs more per request)"
echo "$results" | python3 -c '
import sys, statistics, collections
rps, cpu = collections.defaultdict(list), collections.defaultdict(list)
for line in sys.stdin:
    who, metric, r, c = line.split()
    rps[(who, metric)].append(float(r)); cpu[(who, metric)].append(float(c))
for m in ["post", "get_item", "get_latest_item", "decision"]:
    ra, rb, ca, cb = rps[("A", m)], rps[("B", m)], cpu[("A", m)], cpu[("B", m)]
    print("%-16s req/s A %7.0f B %7.0f B/A %.3f (rounds %.3f) | CPU us/req A %6.1f B %6.1f B/A %.3f (rounds %.3f)" % (
        m, statistics.median(ra), statistics.median(rb), statistics.median(rb) / statistics.median(ra),
        statistics.median([y / x for x, y in zip(ra, rb)]),
        statistics.median(ca) / 1000, statistics.median(cb) / 1000, statistics.median(cb) / statistics.median(ca),
        statistics.median([y / x for x, y in zip(ca, cb)])))
'
