#!/usr/bin/env bash
# Same-run A/B of two verdict binaries' `submit` into PostgreSQL (issue 14's bulk goal on a
# machine whose speed drifts): each round submits FILE into a fresh database with A, then
# with B. Prints each run's results/s and the CPU seconds spent by verdict and by the
# PostgreSQL server (sampled from /proc: the database on this host), and the B/A ratio.
# A bulk write is bound by its one PostgreSQL backend, so its CPU seconds are the steadier
# figure when the machine's speed swings.
#
#   bash benches/pg_submit_ab.sh BIN_A BIN_B URL FILE [ROUNDS]
#
# URL: a server, e.g. postgres://postgres@127.0.0.1:5434 (databases vsub_a/vsub_b are
# dropped and created there). FILE: JSONL from benches/workload/gen_jsonl.py.
set -euo pipefail
export PGOPTIONS="--client-min-messages=warning"
A=${1:?BIN_A}; B=${2:?BIN_B}; URL=${3:?URL}; FILE=${4:?FILE}; ROUNDS=${5:-3}
run() { # bin db -> "results/s verdict_cpu pg_cpu"
  psql "$URL/postgres" -q -c "DROP DATABASE IF EXISTS $2" -c "CREATE DATABASE $2"
  python3 - "$1" "$URL/$2" "$FILE" <<'PY'
import os, resource, subprocess, sys, time
tick = os.sysconf("SC_CLK_TCK")
def pg_cpu(seen):
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            if "(postgres)" not in stat:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            seen[pid] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
before = {}; pg_cpu(before)
seen = dict(before)
n = sum(1 for _ in open(sys.argv[3]))
t0 = time.monotonic()
p = subprocess.Popen([sys.argv[1], "submit", "--db", sys.argv[2], sys.argv[3]],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while p.poll() is None:
    pg_cpu(seen); time.sleep(0.2)
wall = time.monotonic() - t0
assert p.returncode == 0, "submit failed"
pg = sum(v - before.get(k, 0) for k, v in seen.items())
me = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{n / wall:.0f} {me.ru_utime + me.ru_stime:.1f} {pg:.1f}")
PY
}
for _ in $(seq 1 "$ROUNDS"); do
  read -r a va pa < <(run "$A" vsub_a); read -r b vb pb < <(run "$B" vsub_b)
  echo "submit A $a/s (cpu verdict ${va}s pg ${pa}s) B $b/s (cpu verdict ${vb}s pg ${pb}s)" \
    "B/A $(python3 -c "print(f'{$b / $a:.2f}, pg cpu {$pb / $pa:.2f}')")"
done
psql "$URL/postgres" -q -c "DROP DATABASE IF EXISTS vsub_a" -c "DROP DATABASE IF EXISTS vsub_b"
