#!/usr/bin/env python3
"""gen-batches.py: a backlog of sealed batches for the uploader benchmark.

    gen-batches.py DIR --bytes N [--batch-bytes B] [--seed S] [--all FILE]
                   [--seal]

Writes batches into DIR (a stream's new/ folder) until they hold just
under N bytes in all (whole lines; strictly less than N, because curl's
--data-binary @FILE refuses a file of 1 GiB or more), each batch at most B
bytes (default
8 MiB, the shipped batch_max_bytes) of whole hit lines, named like the
responder names them (<sec>.<usec>.<host>.<pid>.<seq>.ndjson, sorted by
time).  Each line is a hit record as hit.c writes it: {"hit_id" (UUID v4),
"payload", "received_at" (ms), "date"}, about 300 bytes on average: half
form-urlencoded CRM postbacks, half JSON bodies (escaped quotes, some
Cyrillic UTF-8), lengths spread from ~150 to ~450 bytes.  With --all, the
same bytes are also written, in the uploader's order (by name), as one
file for the curl baseline.  Deterministic for a seed (but the UUIDs come
from the seeded generator, not the OS).  --seal marks each batch as the
responder seals it (the xattr user.hookspool.crc32, "SIZE CRC32").  Prints
"batches lines bytes".
Exit 0, or 1 on an I/O error.
"""
import argparse
import json
import os
import random
import sys
import uuid
import zlib

STATUSES = ["new", "confirmed", "paid", "shipped", "delivered", "cancelled",
            "returned"]
SOURCES = ["google", "facebook", "yandex", "email", "direct", "vk"]
NAMES = ["Ivan Petrov", "Анна Смирнова", "John Smith", "Мария Иванова",
         "Li Wei", "Ольга Кузнецова", "Maria Garcia"]


def form_payload(rnd, i):
    p = ("orderId=N%d&status=%s&total=%d.%02d&currency=USD&userId=U%d"
         "&utm_source=%s&utm_medium=cpc&utm_campaign=spring_sale_%d"
         "&email=customer%d%%40example.com&phone=%%2B1555%07d"
         % (i, rnd.choice(STATUSES), rnd.randrange(1, 5000),
            rnd.randrange(100), rnd.randrange(10 ** 6), rnd.choice(SOURCES),
            rnd.randrange(100), rnd.randrange(10 ** 6),
            rnd.randrange(10 ** 7)))
    # Some CRMs send long bracketed form keys (amoCRM, Bitrix24).
    for k in range(rnd.randrange(0, 4)):
        p += "&leads%%5Bstatus%%5D%%5B%d%%5D%%5Bid%%5D=%d" % (
            k, rnd.randrange(10 ** 8))
    return p


def json_payload(rnd, i):
    items = [{"sku": "SKU-%05d" % rnd.randrange(10 ** 5),
              "qty": rnd.randrange(1, 5),
              "price": rnd.randrange(100, 99999) / 100}
             for _ in range(rnd.randrange(0, 3))]
    body = {"event": "order.updated", "order": {
        "id": i, "status": rnd.choice(STATUSES),
        "customer": rnd.choice(NAMES), "items": items}}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--bytes", type=int, required=True)
    ap.add_argument("--batch-bytes", type=int, default=8 * 1024 * 1024)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--all")
    ap.add_argument("--seal", action="store_true")
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    t0 = 1795833341  # a fixed start: names and dates do not depend on now
    ms = t0 * 1000
    total = lines = seq = 0
    allfp = open(a.all, "wb") if a.all else None
    try:
        full = False
        while not full:
            name = "%d.%06d.benchhost.4242.%d.ndjson" % (
                t0 + seq * 60, 0, seq)
            chunks = []
            size = 0
            while True:
                ms += rnd.randrange(1, 20)
                i = lines + len(chunks)
                payload = (form_payload(rnd, i) if rnd.random() < 0.5
                           else json_payload(rnd, i))
                hid = uuid.UUID(int=rnd.getrandbits(128), version=4)
                line = ('{"hit_id":"%s","payload":%s,"received_at":%d,'
                        '"date":"2026-11-27"}\n' % (
                            hid, json.dumps(payload, ensure_ascii=False),
                            ms)).encode()
                if total + size + len(line) >= a.bytes:
                    full = True
                    break
                if size + len(line) > a.batch_bytes and chunks:
                    break
                chunks.append(line)
                size += len(line)
            if not chunks:
                break
            data = b"".join(chunks)
            tmp = os.path.join(a.dir, "." + name)
            with open(tmp, "wb") as fp:
                fp.write(data)
                if a.seal:
                    os.setxattr(fp.fileno(), "user.hookspool.crc32",
                                b"%d %08x" % (len(data), zlib.crc32(data)))
            os.rename(tmp, os.path.join(a.dir, name))
            if allfp:
                allfp.write(data)
            total += size
            lines += len(chunks)
            seq += 1
    except OSError as e:
        print("gen-batches: %s" % e, file=sys.stderr)
        return 1
    finally:
        if allfp:
            allfp.close()
    print(seq, lines, total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
