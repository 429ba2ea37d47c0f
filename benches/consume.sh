#!/usr/bin/env bash
# Issue 15's consume figure: N CI messages waiting in a durable queue on the local RabbitMQ
# are consumed by `verdict serve --consume` on a fresh store, end to end (mapped, committed
# with fsync, acknowledged). Prints messages/s from the consumer's first to its last
# settled message, read from GET /api/verdict/v1/consume, and verifies the count.
#
#   bash benches/consume.sh BIN [N] [URL]
#
# CONSUME_DB=postgres://… consumes into that (fresh) PostgreSQL database instead of a new
# SQLite file; CONSUME_ARGS adds serve flags (e.g. --consume-prefetch 2048).
# Needs RabbitMQ on loopback and python3 (pika is installed into bench-out/.venv-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?BIN}; N=${2:-100000}; URL=${3:-amqp://guest:guest@127.0.0.1:5672/%2f}
OUT=bench-out; Q=verdict-bench-$$; PORT=5301
mkdir -p "$OUT"
[ -x "$OUT/.venv-bench/bin/python" ] || { python3 -m venv "$OUT/.venv-bench"; "$OUT/.venv-bench/bin/pip" -q install pika==1.3.2; }
echo "== publishing $N messages to $Q"
"$OUT/.venv-bench/bin/python" benches/consume_publish.py "$URL" "$Q" "$N"
DB=${CONSUME_DB:-$OUT/consume.db}
[ -n "${CONSUME_DB:-}" ] || rm -f "$OUT/consume.db"*
"$BIN" serve --listen 127.0.0.1:$PORT --db "$DB" --consume "$URL" --consume-queue "$Q" \
  --consume-binding "$Q.#" ${CONSUME_ARGS:-} >/dev/null 2>"$OUT/consume.log" &
PID=$!
trap 'kill $PID 2>/dev/null; rabbitmqctl -q delete_queue "$Q" >/dev/null 2>&1; rabbitmqctl -q delete_queue "$Q.rejected" >/dev/null 2>&1' EXIT
python3 - "$PORT" "$N" <<'PY'
import json, sys, time, urllib.request
port, n = sys.argv[1], int(sys.argv[2])
def status():
    try:
        return json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/verdict/v1/consume"))
    except Exception:
        return {}
t0 = None
while True:
    s = status()
    done = s.get("consumed", 0)
    if t0 is None and done > 0:
        t0, first = time.time(), done
    if done >= n:
        t1 = time.time()
        break
    time.sleep(0.02)
print(f"consumed {done} ({s['stored']} stored, {s['duplicates']} duplicates, {s['rejected']} rejected) "
      f"in {t1 - t0:.2f} s = {(done - first) / (t1 - t0):,.0f} messages/s end to end with acks")
PY
curl -s "http://127.0.0.1:$PORT/api/v2.0/results?limit=1" >/dev/null
echo "queue left: $(rabbitmqctl -q list_queues name messages | awk -v q="$Q" '$1==q {print $2}') messages"
