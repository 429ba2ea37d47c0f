#!/usr/bin/env bash
# Measures the machine, so that figures in BENCHMARKS.md can be read as ratios to it on
# another machine (issue 13, "figures that travel"):
#   - fdatasync/s: a loop of 4 KiB write + fdatasync on one file in the bench directory
#     (what a durable single-connection POST can reach at most);
#   - raw SQLite inserts/s: Python's sqlite3 (the system library) inserting rows shaped like
#     verdict's `results` row plus five postings into the same tables and indexes, WAL,
#     synchronous=FULL, 10,000 rows per transaction (what a bulk load can reach at most);
#   - single-core speed: MB/s of SHA-256 over 256 MiB in one thread.
#
#   bash benches/calibrate.sh [SECONDS]      (default 3 per measurement)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-3}
OUT=bench-out; mkdir -p "$OUT"
echo "== machine"; nproc; grep -m1 "model name" /proc/cpuinfo || true; uptime
python3 - "$OUT" "$SECS" <<'PY'
import hashlib, os, sqlite3, sys, time
out, secs = sys.argv[1], float(sys.argv[2])

path = os.path.join(out, "calibrate.fsync")
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
block, n, start = b"x" * 4096, 0, time.monotonic()
while time.monotonic() - start < secs:
    os.write(fd, block)
    os.fdatasync(fd)
    n += 1
os.close(fd); os.unlink(path)
print(f"fdatasync/s          {n / secs:10.0f}   (4 KiB write + fdatasync, one file)")

db = os.path.join(out, "calibrate.db")
for suffix in ("", "-wal", "-shm"):
    if os.path.exists(db + suffix):
        os.unlink(db + suffix)
c = sqlite3.connect(db, isolation_level=None)
c.executescript("""
PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-49152;
CREATE TABLE log(seq INTEGER PRIMARY KEY, origin_id INTEGER, origin_seq INTEGER, kind TEXT, ts INTEGER, enc INTEGER, body BLOB, hash BLOB);
CREATE UNIQUE INDEX log_origin ON log(origin_id, origin_seq);
CREATE TABLE results(id INTEGER PRIMARY KEY, testcase_id INTEGER, outcome TEXT, submit_time INTEGER, facets BLOB);
CREATE INDEX results_time ON results(submit_time);
CREATE INDEX results_testcase_time ON results(testcase_id, submit_time);
CREATE TABLE result_data(key_id INTEGER, value_id INTEGER, submit_time INTEGER, result_id INTEGER, testcase_id INTEGER,
  PRIMARY KEY(key_id, value_id, submit_time, result_id)) WITHOUT ROWID;
""")
body, h = os.urandom(200), os.urandom(32)
n, start = 0, time.monotonic()
while time.monotonic() - start < secs:
    c.execute("BEGIN")
    for _ in range(10000):
        n += 1
        t = 1_700_000_000_000_000 + n
        c.execute("INSERT INTO log VALUES(?,1,?,'result',?,0,?,?)", (n, n, t, body, h))
        c.execute("INSERT INTO results VALUES(?,?,?,?,x'')", (n, n % 20, "PASSED", t))
        for k, v in ((1, n % 5000), (2, 1), (3, n % 6), (4, n % 6), (5, n // 3)):
            c.execute("INSERT INTO result_data VALUES(?,?,?,?,?)", (k, v, t, n, n % 20))
    c.execute("COMMIT")
elapsed = time.monotonic() - start
c.close()
for suffix in ("", "-wal", "-shm"):
    if os.path.exists(db + suffix):
        os.unlink(db + suffix)
print(f"raw SQLite results/s {n / elapsed:10.0f}   (Python sqlite3 {sqlite3.sqlite_version}: log + results + 5 postings per row, 10k rows per transaction)")

data = os.urandom(1 << 20)
start = time.monotonic()
h = hashlib.sha256()
for _ in range(256):
    h.update(data)
elapsed = time.monotonic() - start
print(f"SHA-256 MB/s         {256 / elapsed:10.0f}   (one core)")
PY
