#!/usr/bin/env python3
"""fcgi.py: a FastCGI client (standard library only) for the responder's
own socket (hookspool-fcgi -s), as a web server would talk to it.

    fcgi.py ADDR URI [--requests N] [--body TEXT | --body-size N]
            [--no-length] [--trickle SECONDS] [--header NAME=VALUE ...]
            [--timeout SECONDS] [--slow N]

ADDR is host:port or unix:path.  N requests (1) go over one connection
with FCGI_KEEP_CONN set, each sent once the previous one has ended (FastCGI
without FCGI_MPXS_CONNS); their ids differ.  --no-length sends no
CONTENT_LENGTH (a front that streams a chunked body); --trickle sends the
body one byte a record, SECONDS apart (saying "sent head" on stderr once
the request's head is sent).  Prints one line per request: "<status>
<body>", or "0 <error>" when the connection broke or timed out, then
"closed" or "open": whether the responder closed the connection (read
within a moment) once the last request ended, then "elapsed=SECONDS" from
connecting to the last answer.  --slow N first opens N more connections
that trickle their bodies (--trickle, 1 s by default) and, once their heads
are sent, times the requests above against them; then prints "slow <status>
<body>" for each of them as it ends.
Talks only to the address given (loopback in tests).
"""
import argparse
import select
import socket
import struct
import sys
import threading
import time

BEGIN, END, PARAMS, STDIN, STDOUT, STDERR = 1, 3, 4, 5, 6, 7
KEEP_CONN = 1


def record(rtype, rid, content=b""):
    pad = -len(content) % 8
    return struct.pack(">BBHHBx", 1, rtype, rid, len(content), pad) + \
        content + b"\0" * pad


def nv(name, value):
    out = b""
    for x in (name, value):
        n = len(x)
        out += bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
    return out + name + value


class Conn:
    def __init__(self, addr, timeout):
        if addr.startswith("unix:"):
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.s.settimeout(timeout)
            self.s.connect(addr[5:])
        else:
            host, port = addr.rsplit(":", 1)
            self.s = socket.create_connection((host, int(port)), timeout)
        self.buf = b""

    def read(self, n):
        while len(self.buf) < n:
            data = self.s.recv(65536)
            if not data:
                raise EOFError("connection closed by the responder")
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def answer(self, rid):
        out = b""
        while True:
            _, rtype, r, clen, pad = struct.unpack(">BBHHBx", self.read(8))
            content = self.read(clen)
            self.read(pad)
            if r != rid:
                raise ValueError("a record for request %d, not %d" % (r, rid))
            if rtype == STDOUT:
                out += content
            elif rtype == END:
                return out

    def closed(self, wait):
        self.s.settimeout(wait)
        try:
            return self.s.recv(1) == b""
        except socket.timeout:
            return False
        except OSError:
            return True


def request(c, rid, a, body, trickle=0, started=None):
    params = {"REQUEST_METHOD": "POST", "REQUEST_URI": a.uri,
              "SCRIPT_NAME": a.uri, "QUERY_STRING": "",
              "CONTENT_TYPE": "application/x-www-form-urlencoded",
              "REMOTE_ADDR": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1"}
    if not a.no_length:
        params["CONTENT_LENGTH"] = str(len(body))
    for h in a.header:
        k, v = h.split("=", 1)
        params[k] = v
    p = b"".join(nv(k.encode(), v.encode()) for k, v in params.items())
    head = record(BEGIN, rid, struct.pack(">HB5x", 1, KEEP_CONN)) + \
        record(PARAMS, rid, p) + record(PARAMS, rid)
    if trickle:
        c.s.sendall(head)
        if started is not None:
            started.release()
        else:
            print("sent head", file=sys.stderr, flush=True)
        for i in range(len(body)):
            # An answer before the body's end: stop sending, read it.
            if select.select([c.s], [], [], trickle)[0]:
                break
            c.s.sendall(record(STDIN, rid, body[i:i + 1]))
        else:
            c.s.sendall(record(STDIN, rid))
    else:
        data = b"".join(record(STDIN, rid, body[i:i + 32768])
                        for i in range(0, len(body), 32768))
        c.s.sendall(head + data + record(STDIN, rid))
    out = c.answer(rid)
    head, _, text = out.partition(b"\r\n\r\n")
    status = "200"
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"status:"):
            status = line.split()[1].decode()
    return "%s %s" % (status, text.decode("utf-8", "replace").strip())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("addr")
    ap.add_argument("uri")
    ap.add_argument("--requests", type=int, default=1)
    ap.add_argument("--body", default="orderId=1&status=new")
    ap.add_argument("--body-size", type=int)
    ap.add_argument("--no-length", action="store_true")
    ap.add_argument("--trickle", type=float, default=0)
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--slow", type=int, default=0)
    a = ap.parse_args()
    started = threading.Semaphore(0)
    slow = []

    def slow_one(i):
        body = ("slow=%d&%s" % (i, a.body)).encode()
        try:
            c = Conn(a.addr, a.timeout)
            slow.append(request(c, 1, a, body, a.trickle or 1, started))
        except (OSError, EOFError, ValueError, struct.error) as e:
            started.release()
            slow.append("0 %s" % (e or type(e).__name__))
    threads = [threading.Thread(target=slow_one, args=(i + 1,))
               for i in range(a.slow)]
    for t in threads:
        t.start()
    for t in threads:
        started.acquire()
    start = time.monotonic()
    try:
        c = Conn(a.addr, a.timeout)
    except OSError as e:
        print("0 %s" % e)
        return 0
    for i in range(a.requests):
        body = (b"a" * a.body_size if a.body_size is not None else
                ("n=%d&%s" % (i + 1, a.body)).encode())
        try:
            print(request(c, i + 1, a, body, 0 if a.slow else a.trickle),
                  flush=True)
        except (OSError, EOFError, ValueError, struct.error) as e:
            print("0 %s" % (e or type(e).__name__), flush=True)
            return 0
    elapsed = time.monotonic() - start
    print("closed" if c.closed(0.5) else "open")
    print("elapsed=%.1f" % elapsed)
    for t in threads:
        t.join()
    for r in slow:
        print("slow %s" % r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
