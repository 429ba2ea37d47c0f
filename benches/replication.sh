#!/usr/bin/env bash
# Replication benchmarks (issue 4): catch-up of an empty node N results behind over
# loopback, and steady-state visibility latency on a pulling peer.
#
#   bash benches/replication.sh [N]      N results on the source node (default 1000000)
#
# Needs python3. Builds the release binary, generates N results with
# benches/workload/gen_jsonl.py into a source store (`verdict submit`), serves it, then
# (1) `verdict sync` into an empty store, with and without zstd, timing wall and CPU of
# both processes; (2) a second node started with `serve --peer`, timing until its
# version vector equals the source's; (3) benches/workload/repl_latency.py against a
# pair of nodes. Work files go to bench-out/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
OUT=bench-out
W=benches/workload
mkdir -p "$OUT"
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/verdict
PA=5291; PB=5292

echo "== machine"; nproc; grep -m1 "model name" /proc/cpuinfo || true; uptime

if [ ! -s "$OUT/results-$N.jsonl" ]; then python3 $W/gen_jsonl.py "$N" > "$OUT/results-$N.jsonl"; fi
if [ ! -s "$OUT/repl-src-$N.db" ]; then
  $BIN submit --db "$OUT/repl-src-$N.db" "$OUT/results-$N.jsonl"
fi
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
tck=$(getconf CLK_TCK)

$BIN serve --db "$OUT/repl-src-$N.db" --listen 127.0.0.1:$PA >"$OUT/repl-a.log" 2>&1 & A=$!
trap 'kill $A 2>/dev/null || true; kill ${B:-} 2>/dev/null || true' EXIT
sleep 1

for run in "zstd 50000" "plain 50000" "zstd 10000" "plain 10000"; do
  set -- $run; mode=$1; page=$2
  rm -f "$OUT"/repl-dst.db*
  flag=""; [ $mode = plain ] && flag="--no-compress"
  s0=$(cpu $A)
  echo "== verdict sync, $N results behind, $mode, pages of $page"
  /usr/bin/time -f "client: wall %e s, user %U s, sys %S s, max RSS %M KB" \
    $BIN sync http://127.0.0.1:$PA --db "$OUT/repl-dst.db" --page $page $flag
  s1=$(cpu $A)
  echo "server CPU: $(( (s1 - s0) * 1000 / tck )) ms"
done

echo "== serve --peer: an empty node catching up (until its version vector equals the source's)"
rm -f "$OUT"/repl-peer.db*
want=$(curl -s http://127.0.0.1:$PA/api/verdict/v1/replication | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["version_vector"], sort_keys=True))')
t0=$(date +%s.%N)
$BIN serve --db "$OUT/repl-peer.db" --listen 127.0.0.1:$PB --peer http://127.0.0.1:$PA >"$OUT/repl-b.log" 2>&1 & B=$!
until [ "$(curl -s http://127.0.0.1:$PB/api/verdict/v1/replication 2>/dev/null | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["version_vector"], sort_keys=True))' 2>/dev/null)" = "$want" ]; do sleep 0.2; done
t1=$(date +%s.%N)
python3 -c "d=$t1-$t0; print(f'caught up {$N} results in {d:.1f} s: {$N/d:.0f} results/s (includes startup)')"

echo "== steady state: result written on A, visible on B (B pulls A with long polls)"
python3 $W/repl_latency.py http://127.0.0.1:$PA http://127.0.0.1:$PB 300 20
