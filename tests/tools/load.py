#!/usr/bin/env python3
"""load.py: send webhook hits concurrently and record every answer.

    load.py --url URL [--n N | --seconds S] [--concurrency C] [--body TEXT]
            [--out FILE] [--stop-file PATH]

Each worker thread keeps one HTTP/1.1 connection (reconnecting after an
error) and POSTs bodies "i=<n>&<body>". Every answer is written to --out as
one JSON line: {"n": n, "status": code or 0 for a transport error,
"hit_id": id or null}. A summary line goes to stdout:
    sent=N ok2xx=N err5xx=N err4xx=N transport=N
--stop-file: stop early once PATH exists (a test ends the load when it has
seen enough, however slow the machine). Bounded in count and time; talks only to the URL given (loopback in tests).
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--body", default="status=new&orderId=N")
    ap.add_argument("--out")
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("--stop-file")
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.url)
    path = u.path + ("?" + u.query if u.query else "")
    lock = threading.Lock()
    counter = [0]
    results = []
    deadline = time.time() + a.seconds if a.seconds > 0 else None
    hard_stop = time.time() + max(a.seconds, 0) + 600

    def take():
        with lock:
            if a.stop_file and os.path.exists(a.stop_file):
                return None
            if deadline is not None:
                if time.time() >= deadline:
                    return None
            elif counter[0] >= a.n:
                return None
            counter[0] += 1
            return counter[0]

    def worker():
        conn = None
        while time.time() < hard_stop:
            n = take()
            if n is None:
                break
            body = ("i=%d&%s" % (n, a.body)).encode()
            status, hit_id = 0, None
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(u.hostname, u.port,
                                                      timeout=a.timeout)
                conn.request("POST", path, body=body, headers={
                    "Content-Type": "application/x-www-form-urlencoded"})
                r = conn.getresponse()
                data = r.read()
                status = r.status
                if 200 <= status < 300 and data:
                    try:
                        hit_id = json.loads(data).get("hit_id")
                    except ValueError:
                        pass
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
            with lock:
                results.append({"n": n, "status": status, "hit_id": hit_id})
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(a.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if a.out:
        with open(a.out, "w") as f:
            for r in results:
                f.write(json.dumps(r) + "\n")
    ok = sum(1 for r in results if 200 <= r["status"] < 300)
    e5 = sum(1 for r in results if r["status"] >= 500)
    e4 = sum(1 for r in results if 400 <= r["status"] < 500)
    tr = sum(1 for r in results if r["status"] == 0)
    print("sent=%d ok2xx=%d err5xx=%d err4xx=%d transport=%d"
          % (len(results), ok, e5, e4, tr))
    return 0


if __name__ == "__main__":
    sys.exit(main())
