#!/usr/bin/env python3
"""mkbatch.py: write sealed batches of hit records straight into a spool
folder, as an admin dropping files into new/ would (or a responder that
sealed them): each file is written under a hidden name and renamed.

    mkbatch.py DIR --batches B --hits H [--size S] [--ids-out FILE]
               [--torn] [--junk] [--seal]

Each batch holds H lines {"hit_id","payload","received_at","date"} (a
fresh UUID v4, a form payload about S bytes long, now in ms, today's UTC
date), named <sec>.<usec>.<host>.<pid>.<seq>.ndjson so names sort by time.
--ids-out appends the hit_ids written (only whole, valid lines) to FILE.
--torn ends the last batch with a line cut short (no newline, holding the
text "torn line"); --junk puts a line that is not JSON in the middle of
the first batch.  --seal marks each batch as its writer does (the xattr
user.hookspool.crc32: "SIZE CRC32" of its bytes).  Prints the batch
names, one a line.  Exit 0, or 1 on an
I/O error.
"""
import argparse
import datetime
import json
import os
import sys
import time
import uuid
import zlib


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--batches", type=int, default=1)
    ap.add_argument("--hits", type=int, default=10)
    ap.add_argument("--size", type=int, default=40)
    ap.add_argument("--ids-out")
    ap.add_argument("--torn", action="store_true")
    ap.add_argument("--junk", action="store_true")
    ap.add_argument("--seal", action="store_true")
    a = ap.parse_args()
    ids = []
    seq = 0
    for b in range(a.batches):
        now = time.time()
        name = "%d.%06d.testhost.%d.%d.ndjson" % (
            int(now), int((now % 1) * 1e6), os.getpid(), seq)
        seq += 1
        lines = []
        for i in range(a.hits):
            hid = str(uuid.uuid4())
            ms = int(time.time() * 1000)
            day = datetime.datetime.fromtimestamp(
                ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%d")
            pad = "x" * max(0, a.size - 30)
            lines.append(json.dumps({
                "hit_id": hid,
                "payload": "orderId=N%d&status=new&b=%d&p=%s" % (i, b, pad),
                "received_at": ms, "date": day},
                separators=(",", ":")).encode() + b"\n")
            ids.append(hid)
            if a.junk and b == 0 and i == a.hits // 2:
                lines.append(b"this is not JSON {\n")
        if a.torn and b == a.batches - 1:
            # Cut near its end, so the fragment keeps "torn line".
            torn = json.dumps({"payload": "torn line",
                               "hit_id": str(uuid.uuid4()),
                               "received_at": 1, "date": "2020-10-19"},
                              separators=(",", ":")).encode()
            lines.append(torn[:-12])
        tmp = os.path.join(a.dir, "." + name + ".tmp")
        data = b"".join(lines)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            if a.seal:
                os.setxattr(f.fileno(), "user.hookspool.crc32", b"%d %08x" % (
                    len(data), zlib.crc32(data)))
        os.rename(tmp, os.path.join(a.dir, name))
        print(name)
        # Distinct, time-sorted names even within one microsecond.
        time.sleep(0.001)
    if a.ids_out:
        with open(a.ids_out, "a") as f:
            f.write("".join(i + "\n" for i in ids))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except OSError as e:
        print("mkbatch.py: %s" % e, file=sys.stderr)
        sys.exit(1)
