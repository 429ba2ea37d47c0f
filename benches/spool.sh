#!/usr/bin/env bash
# Spool benchmarks (issue 3).
#
#   bash benches/spool.sh [FILES] [JUNIT_CASES]
#
# 1. FILES (default 10000) small JUnit files of 20 testcases each are renamed into a running
#    server's spool at once; reports files/s until the spool status shows them all done.
# 2. One JUnit report with JUNIT_CASES (default 1000000) testcases through `verdict ingest`
#    (streamed: one transaction, never held in memory); reports results/s and peak RSS.
# Work files go to bench-out/spool (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${1:-10000}
CASES=${2:-1000000}
OUT=bench-out/spool
BIN_SET=${BIN:-}; BIN=${BIN:-target/release/verdict}  # BIN=path: measure that binary, no build (A/B runs)
PORT=5198
[ -n "${BIN_SET:-}" ] || cargo build --release --quiet
rm -rf "$OUT"; mkdir -p "$OUT/stage" "$OUT/spool"

echo "== $FILES small files (20 testcases each), dropped at once"
python3 - "$OUT/stage" "$FILES" <<'PY'
import sys
stage, n = sys.argv[1], int(sys.argv[2])
for f in range(n):
    cases = "".join(
        f'<testcase classname="rig.suite{f % 37}" name="test_{t}" time="0.{t}">'
        + ('<failure message="assert 1 == 2">trace</failure>' if (f + t) % 9 == 0 else '')
        + '</testcase>\n' for t in range(20))
    with open(f"{stage}/r{f:05d}.xml", "w") as fh:
        fh.write(f'<?xml version="1.0"?>\n<testsuite name="rig" tests="20">\n'
                 f'<properties><property name="item" value="pkg{f % 500}-1.0-1.fc40"/>'
                 f'<property name="type" value="koji_build"/></properties>\n{cases}</testsuite>\n')
PY
$BIN serve --db "$OUT/spool.db" --listen 127.0.0.1:$PORT --spool "$OUT/spool" --spool-settle-ms 200 >"$OUT/serve.log" 2>&1 &
SERVER=$!
sleep 1
start=$(date +%s.%N)
find "$OUT/stage" -name '*.xml' -exec mv -t "$OUT/spool" {} +
while true; do
  done_n=$(curl -s http://127.0.0.1:$PORT/api/verdict/v1/spool | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["done"] + s["failed"])')
  [ "$done_n" -ge "$FILES" ] && break
  sleep 0.1
done
end=$(date +%s.%N)
curl -s http://127.0.0.1:$PORT/api/verdict/v1/spool; echo
python3 -c "d=$end-$start; print(f'{$FILES} files in {d:.2f} s (includes the 200 ms settle time): {$FILES/d:.0f} files/s, {$FILES*20/d:.0f} results/s')"
echo "peak RSS: $(grep VmHWM /proc/$SERVER/status | awk '{print $2}') KB"
kill $SERVER; wait $SERVER 2>/dev/null || true

echo "== one JUnit report with $CASES testcases (verdict ingest)"
python3 - "$OUT/big.xml" "$CASES" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as fh:
    fh.write('<?xml version="1.0"?>\n<testsuites name="big">\n')
    for s in range(0, n, 1000):
        fh.write(f'<testsuite name="suite{s // 1000}" tests="1000">\n')
        for t in range(s, min(s + 1000, n)):
            body = '<failure message="boom">Traceback\n  line 1\n</failure>' if t % 10 == 0 else ''
            fh.write(f'<testcase classname="pkg.module{t % 97}" name="test_{t}" time="0.0{t % 7}">{body}</testcase>\n')
        fh.write('</testsuite>\n')
    fh.write('</testsuites>\n')
PY
ls -la "$OUT/big.xml"
rm -f "$OUT/big.db"*
/usr/bin/time -f "ingest: wall %e s, peak RSS %M KB" $BIN ingest --db "$OUT/big.db" --item big-1.0-1.fc40 --type koji_build "$OUT/big.xml"
