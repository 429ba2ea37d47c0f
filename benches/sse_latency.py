#!/usr/bin/env python3
"""SSE delivery latency: time from sending a POST to the event arriving on a subscriber.

Usage: sse_latency.py BASE_URL [N]   (BASE_URL like http://127.0.0.1:5001; N posts, default 1000)
Posts one result every 5 ms from one thread while another reads /api/v2.0/events; prints
p50/p90/p99/max of (event received - POST sent). Python stdlib only.
"""
import http.client, json, sys, threading, time, urllib.parse

base = urllib.parse.urlparse(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
sent, got = {}, {}
done = threading.Event()

def subscribe():
    conn = http.client.HTTPConnection(base.hostname, base.port, timeout=60)
    conn.request("GET", "/api/v2.0/events?testcases=sse.latency")
    resp = conn.getresponse()
    while len(got) < n:
        line = resp.fp.readline()
        if not line:
            break
        if line.startswith(b"data: "):
            rid = json.loads(line[6:])["data"]["seq"][0]
            got[rid] = time.perf_counter()
    done.set()

t = threading.Thread(target=subscribe, daemon=True)
t.start()
time.sleep(0.5)
post = http.client.HTTPConnection(base.hostname, base.port, timeout=60)
for i in range(n):
    body = json.dumps({"testcase": "sse.latency", "outcome": "PASSED", "data": {"seq": str(i), "item": "sse"}})
    sent[str(i)] = time.perf_counter()
    post.request("POST", "/api/v2.0/results", body, {"Content-Type": "application/json"})
    post.getresponse().read()
    time.sleep(0.005)
done.wait(30)
lat = sorted((got[k] - sent[k]) * 1000 for k in sent if k in got)
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"events {len(lat)}/{n}: p50 {pick(0.5):.2f} ms, p90 {pick(0.9):.2f} ms, p99 {pick(0.99):.2f} ms, max {lat[-1]:.2f} ms")
