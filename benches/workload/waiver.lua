-- wrk script: POST one waiver per request (dummy auth user "bench").
-- Usage: wrk -t2 -c32 -d10s --latency -s waiver.lua http://HOST:PORT/api/v1.0/waivers/
local n_items = tonumber(os.getenv("BENCH_ITEMS") or "5000")
local testcases = {"dist.rpmlint", "dist.depcheck", "dist.abicheck", "update.base_selinux"}
local thread_no = 0
function setup(thread)
  thread_no = thread_no + 1
  thread:set("tno", thread_no)
end
function init(args)
  math.randomseed(os.time() + (tno or 0) * 7919)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Basic YmVuY2g6eA=="
end
function request()
  local i = math.random(0, n_items - 1)
  local body = string.format(
    '{"subject_type":"koji_build","subject_identifier":"pkg%05d-1.2-%d.fc40","testcase":"%s",' ..
    '"product_version":"fedora-40","waived":%s,"comment":"bench waiver"}',
    i, i % 7, testcases[math.random(#testcases)], math.random() < 0.8 and "true" or "false")
  return wrk.format(nil, nil, nil, body)
end
