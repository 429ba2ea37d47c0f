#!/usr/bin/env bash
# Page timings of the web pages (issue 11) on the 1M-result bench store: one connection,
# wrk for DURATION seconds per page after a warm-up load, p50 and p99 of each request.
# Usage: bash benches/web.sh STORE.db [BINARY] [DURATION]
#   (make the store: python3 benches/workload/gen_jsonl.py 1000000 > /tmp/r.jsonl &&
#    target/release/verdict submit --db STORE.db /tmp/r.jsonl)
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${1:?usage: benches/web.sh STORE.db [BINARY] [DURATION]}
BIN=${2:-target/release/verdict}
DUR=${3:-5}
PORT=${PORT:-5099}
BASE="http://127.0.0.1:$PORT"
"$BIN" serve --db "$DB" --policies benches/workload/policies --auth dummy --listen "127.0.0.1:$PORT" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 1 100); do curl -sf "$BASE/livez" >/dev/null && break; sleep 0.1; done
ITEM=pkg00042-1.2-0.fc40
BASE_ITEM=pkg00041-1.2-6.fc40
PAGES=(
  "/"
  "/results"
  "/results?outcome=FAILED&testcases:like=dist.*&data=arch%3Dx86_64"
  "/results?item=$ITEM"
  "/results/500000"
  "/items/$ITEM"
  "/testcases/dist.rpmlint"
  "/flaky"
  "/flaky?testcases:like=dist.rpmlint"
  "/compare?base_item=$BASE_ITEM&head_item=$ITEM&head_type=koji_build"
  "/waivers"
  "/quarantines"
)
echo "| page | status | bytes | p50 | p99 |"
echo "|---|---|---|---|---|"
for p in "${PAGES[@]}"; do
  # Warm-up (and the status and size of the page).
  read -r status bytes < <(curl -s -o /dev/null -w '%{http_code} %{size_download}\n' "$BASE$p")
  out=$(wrk -t1 -c1 -d"${DUR}s" --latency "$BASE$p")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  echo "| \`$p\` | $status | $bytes | $p50 | $p99 |"
done
