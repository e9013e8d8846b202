#!/usr/bin/env python3
"""spoolcheck.py: check spool batches line by line with a real JSON parser.

    spoolcheck.py [--acked FILE] [--ids-out FILE] [--allow-torn] [--sealed]
                  PATH...

PATH is a batch file or a folder of batches (hidden files skipped). Every
line must be a JSON object ending in "\\n" whose first keys are hit_id,
payload, received_at, date (in that order), hit_id a lowercase UUID v4,
received_at an integer, date YYYY-MM-DD. With --acked (load.py output) every
hit answered 2xx must be present exactly once. With --sealed every batch
must carry its writer's seal (the xattr user.hookspool.crc32, "SIZE CRC32")
and match it. A batch in a tmp/ folder may end in spaces: under sync =
always its writer grows the file ahead of its lines until it seals it.
Prints a summary; exits 1 on any problem.
"""
import argparse
import json
import os
import re
import sys
import zlib

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def files(paths):
    for p in paths:
        if os.path.isdir(p):
            for name in sorted(os.listdir(p)):
                full = os.path.join(p, name)
                if not name.startswith(".") and os.path.isfile(full) \
                        and not name.endswith(".err"):
                    yield full
        elif os.path.isfile(p):
            yield p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--acked")
    ap.add_argument("--ids-out")
    ap.add_argument("--allow-torn", action="store_true")
    ap.add_argument("--sealed", action="store_true")
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args()
    problems = []
    ids = {}
    nlines = 0
    for path in files(a.paths):
        with open(path, "rb") as f:
            data = f.read()
        if os.path.basename(os.path.dirname(os.path.abspath(path))) == "tmp":
            data = data.rstrip(b" \0")
        if a.sealed:
            want = b"%d %08x" % (len(data), zlib.crc32(data))
            try:
                seal = os.getxattr(path, "user.hookspool.crc32")
            except OSError as e:
                seal = str(e).encode()
            if seal != want:
                problems.append("%s: sealed %r, its bytes are %r" % (
                    path, seal, want))
        lines = data.split(b"\n")
        tail = lines.pop()
        if tail:
            if not a.allow_torn:
                problems.append("%s: torn last line (%d bytes)" % (path, len(tail)))
        for i, raw in enumerate(lines, 1):
            nlines += 1
            try:
                text = raw.decode("utf-8")
                obj = json.loads(text)
            except (UnicodeDecodeError, ValueError) as e:
                problems.append("%s:%d: not JSON: %s" % (path, i, e))
                continue
            if not isinstance(obj, dict):
                problems.append("%s:%d: not an object" % (path, i))
                continue
            keys = list(obj.keys())[:4]
            if keys != ["hit_id", "payload", "received_at", "date"]:
                problems.append("%s:%d: keys %s" % (path, i, keys))
            if not UUID4.match(str(obj.get("hit_id"))):
                problems.append("%s:%d: hit_id %r" % (path, i, obj.get("hit_id")))
            if not isinstance(obj.get("received_at"), int):
                problems.append("%s:%d: received_at not an integer" % (path, i))
            if not DATE.match(str(obj.get("date"))):
                problems.append("%s:%d: date %r" % (path, i, obj.get("date")))
            ids[obj.get("hit_id")] = ids.get(obj.get("hit_id"), 0) + 1
    dups = [k for k, v in ids.items() if v > 1]
    if dups:
        problems.append("%d hit_ids appear more than once, e.g. %s" % (len(dups), dups[0]))
    missing = 0
    acked = 0
    if a.acked:
        with open(a.acked) as f:
            for line in f:
                r = json.loads(line)
                if 200 <= r["status"] < 300:
                    acked += 1
                    if r["hit_id"] not in ids:
                        missing += 1
        if missing:
            problems.append("%d acknowledged hits are not in the spool" % missing)
    if a.ids_out:
        with open(a.ids_out, "w") as f:
            for k in ids:
                f.write("%s\n" % k)
    for p in problems[:20]:
        print("problem: " + p)
    print("lines=%d unique=%d acked=%d missing=%d duplicated=%d problems=%d"
          % (nlines, len(ids), acked, missing, len(dups), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
