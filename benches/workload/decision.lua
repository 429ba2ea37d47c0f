-- wrk script: Greenwave-style decisions for random items of the reference workload.
-- Usage: wrk -t2 -c8 -d10s --latency -s decision.lua http://HOST:PORT/api/v1.0/decision
local n_items = tonumber(os.getenv("BENCH_ITEMS") or "5000")
local thread_no = 0
function setup(thread)
  thread_no = thread_no + 1
  thread:set("tno", thread_no)
end
function init(args)
  math.randomseed(os.time() + (tno or 0) * 104729)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  local i = math.random(0, n_items - 1)
  local body = string.format(
    '{"subject_type":"koji_build","subject_identifier":"pkg%05d-1.2-%d.fc40",' ..
    '"decision_context":"bench_ctx","product_version":"fedora-40"}', i, i % 7)
  return wrk.format(nil, nil, nil, body)
end
