#!/usr/bin/env bash
# Same-run A/B of two verdict binaries writing one PostgreSQL database (issue 14's write
# goal on a machine whose speed drifts): durable POSTs at 32 and at 1 connection through
# one server of each build (both serving, runs alternating), then 16 + 16 connections
# through two servers of one build at once, alternating builds. Adds results to URL.
#
#   bash benches/pg_posts_ab.sh BIN_A BIN_B URL [ROUNDS] [SECS]
#
# URL: a database built by benches/postgres.sh. Prints every run's req/s and p99.
set -euo pipefail
cd "$(dirname "$0")/.."
A=${1:?BIN_A}; B=${2:?BIN_B}; URL=${3:?URL}; ROUNDS=${4:-3}; SECS=${5:-8}
W=benches/workload; export BENCH_ITEMS=${BENCH_ITEMS:-66666}
pids=()
serve() { # bin port
  "$1" serve --db "$URL" --listen 127.0.0.1:$2 --auth dummy --policies $W/policies >/dev/null 2>&1 & pids+=($!)
  for _ in $(seq 1 600); do curl -sf http://127.0.0.1:$2/api/v2.0/healthcheck >/dev/null && return; sleep 0.1; done
}
stop() { kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; pids=(); }
trap stop EXIT
post() { # port conns secs
  wrk -t$(( $2 > 1 ? 2 : 1 )) -c$2 -d$3s --latency -s $W/post_result.lua http://127.0.0.1:$1/api/v2.0/results
}
show() { # label, wrk output
  echo "$1 $(awk '/Requests\/sec/{print $2}' <<<"$2") req/s p99 $(awk '$1=="99%"{print $2}' <<<"$2")"
}
serve "$A" 5221; serve "$B" 5222
for c in 32 1; do
  post 5221 $c 3 >/dev/null; post 5222 $c 3 >/dev/null
  for _ in $(seq 1 "$ROUNDS"); do
    show "c$c A" "$(post 5221 $c "$SECS")"; show "c$c B" "$(post 5222 $c "$SECS")"
  done
done
stop
for _ in $(seq 1 "$ROUNDS"); do
  for side in A B; do
    bin=$([ $side = A ] && echo "$A" || echo "$B")
    serve "$bin" 5223; serve "$bin" 5224
    post 5223 16 3 >/dev/null & post 5224 16 3 >/dev/null; wait %%
    one=$(mktemp); post 5223 16 "$SECS" >"$one" & two=$(post 5224 16 "$SECS"); wait %%
    sum=$(python3 -c "import re,sys; print(round(sum(float(re.search(r'Requests/sec:\s+([\d.]+)', t).group(1)) for t in sys.argv[1:])))" "$(cat "$one")" "$two")
    echo "2 servers c16+c16 $side $sum req/s"; rm -f "$one"; stop
  done
done
