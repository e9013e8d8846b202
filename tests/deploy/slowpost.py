#!/usr/bin/env python3
"""slowpost.py: one POST whose body arrives slowly, for shutdown tests.

    slowpost.py URL BODY SECONDS [HEADER...]

Sends the request line, the headers (Content-Length of BODY, plus each
HEADER given as "Name: value") and the first half of BODY, prints "sent
half" to stderr, waits SECONDS, sends the rest, then prints the answer's
status code and body on one line: "<code> <body>" ("0 <error>" when the
connection broke).  Talks only to the URL given (loopback in tests).
"""
import socket
import sys
import time
import urllib.parse


def main():
    url, body, secs = sys.argv[1], sys.argv[2].encode(), float(sys.argv[3])
    u = urllib.parse.urlsplit(url)
    path = u.path + ("?" + u.query if u.query else "")
    head = ["POST %s HTTP/1.1" % path, "Host: %s:%d" % (u.hostname, u.port),
            "Content-Type: application/x-www-form-urlencoded",
            "Content-Length: %d" % len(body), "Connection: close"]
    head += sys.argv[4:]
    try:
        s = socket.create_connection((u.hostname, u.port), timeout=30)
        half = len(body) // 2
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body[:half])
        print("sent half", file=sys.stderr, flush=True)
        time.sleep(secs)
        s.sendall(body[half:])
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
    except OSError as e:
        print("0 %s" % e)
        return 0
    status = data.split(b"\r\n", 1)[0].split(b" ")
    code = status[1].decode() if len(status) > 1 else "0"
    rest = data.split(b"\r\n\r\n", 1)
    text = rest[1].decode("utf-8", "replace") if len(rest) > 1 else ""
    # A chunked answer: keep only the JSON object.
    if "{" in text:
        text = text[text.index("{"):text.rindex("}") + 1]
    print("%s %s" % (code, text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
