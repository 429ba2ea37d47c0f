#!/usr/bin/env python3
"""Replication steady-state latency: POST a result to node A, then poll node B (which
pulls from A) for its uuid until it is visible; prints p50/p90/p99/max over N samples.
Usage: repl_latency.py A_URL B_URL [N] [RATE_PER_S]"""
import json, sys, time, urllib.request

def post(url, body):
    req = urllib.request.Request(url + "/api/v2.0/results", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req) as r:
        return json.load(r)

def visible(url, uuid):
    with urllib.request.urlopen(f"{url}/api/v2.0/results?_uuid={uuid}") as r:
        return len(json.load(r)["data"]) == 1

def main():
    a, b = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    rate = float(sys.argv[4]) if len(sys.argv) > 4 else 20.0
    lat = []
    for i in range(n):
        t0 = time.monotonic()
        r = post(a, {"testcase": "latency.probe", "outcome": "PASSED", "data": {"item": f"probe-{i}"}})
        acked = time.monotonic()
        while not visible(b, r["uuid"]):
            time.sleep(0.002)
        lat.append(time.monotonic() - acked)
        time.sleep(max(0.0, 1.0 / rate - (time.monotonic() - t0)))
    lat.sort()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
    print(f"visible on the peer after the POST's ack, {n} results at ~{rate:g}/s: "
          f"p50 {q(0.5):.1f} ms  p90 {q(0.9):.1f} ms  p99 {q(0.99):.1f} ms  max {lat[-1]*1000:.1f} ms")

main()
