#!/usr/bin/env bash
# `verdict submit` of a large input beside a running server on the same store (Trust issue,
# items 3 and 4): the submit's rate alone, then POST latency while it runs.
#
#   bash benches/submit_server.sh [N] [SECONDS]
#
# N results (default 1000000) from benches/workload/gen_jsonl.py; SECONDS of POST load
# (default 20; keep it shorter than the submit so every request runs beside it) with wrk (Debian package `wrk`), 8 connections, the submit starting with
# it. BIN=path measures that binary without building (A/B runs). Work files go to
# bench-out/. Figures go to stdout; BENCHMARKS.md records them.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
D=${2:-20}
OUT=bench-out
W=benches/workload
mkdir -p "$OUT"
BIN_SET=${BIN:-}; BIN=${BIN:-target/release/verdict}
[ -n "${BIN_SET:-}" ] || cargo build --release --quiet
PORT=5197
if [ ! -s "$OUT/results-$N.jsonl" ]; then python3 $W/gen_jsonl.py "$N" > "$OUT/results-$N.jsonl"; fi

echo "== submit $N results alone"
rm -f "$OUT"/sub.db*
/usr/bin/time -f "submit alone: wall %e s, max RSS %M KB" "$BIN" submit --db "$OUT/sub.db" "$OUT/results-$N.jsonl"

echo "== POSTs (wrk -t1 -c8) on a server, with the submit of $N results into its store starting with them"
rm -f "$OUT"/srv.db*
"$BIN" serve --db "$OUT/srv.db" --listen 127.0.0.1:$PORT >"$OUT/srv.log" 2>&1 & SERVER=$!
sleep 1
wrk -t1 -c8 -d5s --latency -s $W/post_result.lua http://127.0.0.1:$PORT/api/v2.0/results \
  | awk '/Requests\/sec/{r=$2} / 99%/{p99=$2} /Non-2xx/{e=$0} END{printf "before the submit: %s req/s, p99 %s %s\n", r, p99, e}'
( /usr/bin/time -f "submit beside the server: wall %e s" "$BIN" submit --db "$OUT/srv.db" "$OUT/results-$N.jsonl" ) \
  >"$OUT/submit.out" 2>&1 & SUBMIT=$!
wrk -t1 -c8 -d${D}s --timeout 60s --latency -s $W/post_result.lua http://127.0.0.1:$PORT/api/v2.0/results \
  | grep -E "Latency|Requests/sec|50%|90%|99%|Non-2xx|Socket|requests in"
wait $SUBMIT || true
cat "$OUT/submit.out"
echo "server errors logged: $(grep -c -E 'ERROR|locked' "$OUT/srv.log" || true)"
kill $SERVER; wait $SERVER 2>/dev/null || true
