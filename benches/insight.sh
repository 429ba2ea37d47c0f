#!/usr/bin/env bash
# Insight on the 1M-result bench store: history of one key, flaky over every key in the
# default 14-day window (the generator's results all fall in it), compare of two items.
# One client at a time (wrk -c1), so the latency figures are each request's own.
#
#   bash benches/insight.sh [BIN] [N]
#
# BIN defaults to target/release/verdict. The store is made once with BIN's `submit`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/verdict}; N=${2:-1000000}
OUT=bench-out; PORT=5197; SECS=${SECS:-10}
mkdir -p "$OUT"
echo "== machine"; nproc; grep -m1 "model name" /proc/cpuinfo || true
[ -s "$OUT/results-$N.jsonl" ] || python3 benches/workload/gen_jsonl.py "$N" > "$OUT/results-$N.jsonl"
if [ ! -s "$OUT/insight-$N.db" ]; then
  rm -f "$OUT"/insight-$N.db*
  "$BIN" submit --db "$OUT/insight-$N.db" "$OUT/results-$N.jsonl" >/dev/null
fi
"$BIN" serve --db "$OUT/insight-$N.db" --listen 127.0.0.1:$PORT >"$OUT/insight-serve.log" 2>&1 & pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do curl -sf http://127.0.0.1:$PORT/api/v2.0/healthcheck >/dev/null && break; sleep 0.1; done
base=http://127.0.0.1:$PORT/api/verdict/v1
run() { # $1 label, $2 URL
  curl -sf "$2" >/dev/null || { echo "$1: request failed: $2"; exit 1; }
  echo "== $1: $2"
  wrk -t1 -c1 -d${SECS}s --latency "$2" | grep -E "Requests/sec|^ +(50|90|99)%"
}
run "history, one key (8.3k runs), limit 100" "$base/history?testcase=dist.rpmlint&arch=x86_64&scenario=fedora.x86_64.default"
run "flaky, every key (120 keys, 1M runs in the window)" "$base/flaky"
run "compare two items" "$base/compare?base_item=pkg00001-1.2-1.fc40&head_item=pkg00002-1.2-2.fc40"
