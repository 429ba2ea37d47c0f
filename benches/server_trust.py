#!/usr/bin/env python3
"""Measures what clients can do to a running `verdict serve` (the Trust issue, items 7/8).

Usage: server_trust.py PORT PID [silent|readers|both]

- silent: 2,000 silent sockets from 127.0.0.1, then 20 GETs from 127.0.0.2 (each on a new
  connection); prints the slowest GET.
- readers: POSTs the largest result the default caps allow, then 200 clients from
  127.0.0.1 request it with a 4 KiB receive buffer and never read; prints the server's
  RSS and peak RSS (VmHWM) and the slowest of 20 normal GETs meanwhile.
"""
import json, resource, socket, sys, time, urllib.request

PORT, PID = int(sys.argv[1]), int(sys.argv[2])
WHAT = sys.argv[3] if len(sys.argv) > 3 else "both"
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss():
    vals = {}
    for line in open(f"/proc/{PID}/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            vals[k] = int(v.split()[0]) // 1024
    return vals


def connect(local="127.0.0.1", rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((local, 0))
    s.settimeout(60)
    s.connect(("127.0.0.1", PORT))
    return s


def timed_get(path, local="127.0.0.2"):
    t = time.time()
    s = connect(local)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return time.time() - t, data[:12].decode()


def silent():
    socks = [connect() for _ in range(2000)]
    times = [timed_get("/api/v2.0/healthcheck") for _ in range(20)]
    print(f"silent: 2000 silent sockets; 20 GETs from 127.0.0.2: slowest {max(t for t, _ in times):.3f}s, "
          f"statuses {sorted(set(s for _, s in times))}")
    for s in socks:
        s.close()


def readers():
    big = lambda n: "\U0001F600" * n
    body = {"testcase": big(1024), "outcome": "PASSED", "note": big(8192), "ref_url": big(8192),
            "groups": [f"g-{i:034}" for i in range(64)], "data": {f"k{i}": big(8190) for i in range(4)}}
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}/api/v2.0/results", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    rid = json.load(urllib.request.urlopen(req))["id"]
    size = len(urllib.request.urlopen(f"http://127.0.0.1:{PORT}/api/v2.0/results/{rid}").read())
    before = rss()
    socks = []
    for _ in range(200):
        s = connect(rcvbuf=4096)
        s.sendall(f"GET /api/v2.0/results/{rid} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        socks.append(s)
    for s in socks:
        s.recv(1, socket.MSG_PEEK)  # the response was rendered
    times = [timed_get("/api/v2.0/healthcheck") for _ in range(20)]
    after = rss()
    print(f"readers: result renders to {size} bytes; RSS before {before['VmRSS']} MB, with 200 non-readers "
          f"{after['VmRSS']} MB, peak {after['VmHWM']} MB; 20 GETs meanwhile: slowest "
          f"{max(t for t, _ in times):.3f}s, statuses {sorted(set(s for _, s in times))}")
    for s in socks:
        s.close()


if WHAT in ("silent", "both"):
    silent()
if WHAT in ("readers", "both"):
    readers()
