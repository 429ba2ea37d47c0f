#!/usr/bin/env bash
# Issue 14's speed table on PostgreSQL (same host): `verdict submit` of N results into a
# fresh database (the bulk path), the five bench reads at 8 connections on it (one server),
# POSTs at 32 connections through 1 server and through 2 servers on the same database
# (two wrk runs side by side, 16 connections each, their req/s summed), and
# `import-resultsdb` of an upstream database of U results into a fresh verdict database.
#
#   bash benches/postgres.sh BIN ADMIN_URL [N] [U]
#
# ADMIN_URL: a superuser URL on the PostgreSQL server (databases vbench, vbench_import
# and rbench are dropped and made again). Needs wrk, psql and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:?BIN}; ADMIN=${2:?ADMIN_URL}; N=${3:-1000000}; U=${4:-200000}; SECS=${SECS:-10}; WARM=${WARM:-5}
OUT=bench-out; W=benches/workload; A=5201; B=5202
export BENCH_ITEMS=$(( N / 15 > 1 ? N / 15 : 1 ))
base=${ADMIN%/*}
mkdir -p "$OUT"
[ -s "$OUT/scale-$N.jsonl" ] || python3 $W/gen_jsonl.py "$N" > "$OUT/scale-$N.jsonl"
fresh() { psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"; }
secs() { python3 -c "import time; print(time.time())"; }

echo "== submit of $N results into a fresh PostgreSQL database"
fresh vbench
t0=$(secs); "$BIN" submit --db "$base/vbench" "$OUT/scale-$N.jsonl"; t1=$(secs)
python3 -c "print(f'submit: {$t1 - $t0:.1f} s = {$N / ($t1 - $t0):,.0f} results/s')"
psql "$base/vbench" -qc "VACUUM ANALYZE"
echo "database: $(psql "$base/vbench" -tAc "SELECT pg_size_pretty(pg_database_size('vbench'))")"

start() { # port
  "$BIN" serve --db "$base/vbench" --listen 127.0.0.1:$1 --auth dummy --policies $W/policies >"$OUT/pg-$1.log" 2>&1 &
  echo $!
}
wait_up() { for _ in $(seq 1 600); do curl -sf http://127.0.0.1:$1/api/v2.0/healthcheck >/dev/null && return; sleep 0.1; done; }
sa=$(start $A); sb=$(start $B)
trap 'kill $sa $sb 2>/dev/null || true' EXIT
wait_up $A; wait_up $B
line() { # label, wrk output
  printf "%-24s %9.0f req/s  p50 %-9s p99 %s\n" "$1" "$(awk '/Requests\/sec/{print $2}' <<<"$2")" \
    "$(awk '$1=="50%"{print $2}' <<<"$2")" "$(awk '$1=="99%"{print $2}' <<<"$2")"
}
echo "== reads at 8 connections (one server), ${SECS}s each after ${WARM}s warm-up"
for q in item testcase_limit20 latest_item testcase_like datakey_item; do
  BENCH_QUERY=$q wrk -t2 -c8 -d${WARM}s -s $W/get_query.lua http://127.0.0.1:$A >/dev/null
  line "GET $q" "$(BENCH_QUERY=$q wrk -t2 -c8 -d${SECS}s --latency -s $W/get_query.lua http://127.0.0.1:$A)"
done
post() { wrk -t$2 -c$3 -d${SECS}s --latency -s $W/post_result.lua http://127.0.0.1:$1/api/v2.0/results; }
echo "== POSTs (durable: acknowledged after COMMIT)"
post $A 2 32 >/dev/null   # warm-up
line "POST c32, 1 server" "$(post $A 2 32)"
post $A 1 16 >"$OUT/pg-a.txt" & pa=$!
post $B 1 16 >"$OUT/pg-b.txt"; wait $pa
line "POST c16 server A" "$(cat "$OUT/pg-a.txt")"
line "POST c16 server B" "$(cat "$OUT/pg-b.txt")"
python3 -c "
import re
def rps(f): return float(re.search(r'Requests/sec:\s+([\d.]+)', open(f).read()).group(1))
print(f'POST c32, 2 servers       {rps(\"$OUT/pg-a.txt\") + rps(\"$OUT/pg-b.txt\"):9.0f} req/s (sum)')"
line "POST c1, 1 server" "$(post $A 1 1)"
kill $sa $sb; wait 2>/dev/null || true

echo "== import-resultsdb of $U upstream results into a fresh verdict database"
psql "$ADMIN" -qc "DROP DATABASE IF EXISTS rbench WITH (FORCE)"
psql "$ADMIN" -q -v n="$U" -f benches/resultsdb_upstream.sql >/dev/null
fresh vbench_import
t0=$(secs); "$BIN" import-resultsdb --db "$base/vbench_import" "$base/rbench"; t1=$(secs)
python3 -c "print(f'import-resultsdb: {$t1 - $t0:.1f} s = {$U / ($t1 - $t0):,.0f} results/s')"
