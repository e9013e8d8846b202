#!/usr/bin/env python3
# tests/webhooks/wh.py: sender-side helpers for tests/t-webhooks.sh
# (python3 stdlib only).  Signatures are computed here from each sender's
# documented format, independently of src/sig.c:
#
#   sign stripe SECRET BODY TS        Stripe-Signature: t=TS,v1=hex(HMAC(
#                                     SECRET, "TS." + body))
#   sign github SECRET BODY           X-Hub-Signature-256: sha256=hex(HMAC)
#   sign shopify SECRET BODY          X-Shopify-Hmac-Sha256: base64(HMAC)
#   sign woocommerce SECRET BODY      X-WC-Webhook-Signature: base64(HMAC)
#   sign standard SECRET BODY TS ID   webhook-id/-timestamp/-signature
#                                     "v1,base64(HMAC(b64dec(SECRET minus
#                                     whsec_), "ID.TS." + body))"
#
# "sign" prints curl arguments, one a line ("-H" then "Name: value"), for
# `mapfile -t`.  SECRET is the secret itself or @FILE (trailing newline
# dropped).  Other commands:
#   selftest                  the published test vectors of GitHub and
#                             Standard Webhooks, so the signers are known
#                             to follow the documented formats
#   flip IN OUT [OFFSET]      copy IN with one byte changed (XOR 0x01 at
#                             OFFSET, default 3/4 of the length)
#   gzip IN OUT               gzip IN
#   bomb OUT MIB              gzip of MIB MiB of zeros
#   params LINEFILE WANT      the line's "params" == WANT (a JSON file,
#                             or "null"), as parsed Python objects
import base64
import gzip
import hashlib
import hmac
import json
import sys


def read(path):
    with open(path, "rb") as f:
        return f.read()


def secret(arg):
    if arg.startswith("@"):
        return read(arg[1:]).rstrip(b"\r\n")
    return arg.encode()


def mac(key, msg):
    return hmac.new(key, msg, hashlib.sha256).digest()


def headers(scheme, key, body, ts=None, msg_id=None):
    if scheme == "stripe":
        sig = mac(key, ts.encode() + b"." + body).hex()
        return [("Stripe-Signature", "t=%s,v1=%s" % (ts, sig))]
    if scheme == "github":
        return [("X-Hub-Signature-256", "sha256=" + mac(key, body).hex())]
    if scheme == "shopify":
        return [("X-Shopify-Hmac-Sha256",
                 base64.b64encode(mac(key, body)).decode())]
    if scheme == "woocommerce":
        return [("X-WC-Webhook-Signature",
                 base64.b64encode(mac(key, body)).decode())]
    if scheme == "standard":
        if key.startswith(b"whsec_"):
            key = base64.b64decode(key[len(b"whsec_"):])
        signed = msg_id.encode() + b"." + ts.encode() + b"." + body
        return [("webhook-id", msg_id), ("webhook-timestamp", ts),
                ("webhook-signature",
                 "v1," + base64.b64encode(mac(key, signed)).decode())]
    raise SystemExit("unknown scheme " + scheme)


def selftest():
    # docs.github.com, "Validating webhook deliveries", testing section.
    h = headers("github", b"It's a Secret to Everybody", b"Hello, World!")
    assert h[0][1] == ("sha256=757107ea0eb2509fc211221cce984b8a37570b6d"
                       "7586c22c46f4379c8b043e17"), h
    # github.com/standard-webhooks/standard-webhooks, spec test vector.
    h = headers("standard", b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                b'{"test": 2432232314}', "1614265330",
                "msg_p5jXN8AQM9LWM0D4loKWxJek")
    assert h[2][1] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", h


def main(argv):
    cmd = argv[1]
    if cmd == "sign":
        scheme, key, body = argv[2], secret(argv[3]), read(argv[4])
        ts = argv[5] if len(argv) > 5 else None
        msg_id = argv[6] if len(argv) > 6 else None
        for name, value in headers(scheme, key, body, ts, msg_id):
            print("-H")
            print("%s: %s" % (name, value))
    elif cmd == "selftest":
        selftest()
    elif cmd == "flip":
        data = bytearray(read(argv[2]))
        off = int(argv[4]) if len(argv) > 4 else len(data) * 3 // 4
        data[off] ^= 0x01
        with open(argv[3], "wb") as f:
            f.write(data)
    elif cmd == "gzip":
        with open(argv[3], "wb") as f:
            f.write(gzip.compress(read(argv[2])))
    elif cmd == "bomb":
        with gzip.open(argv[2], "wb", 9) as f:
            block = b"\0" * (1024 * 1024)
            for _ in range(int(argv[3])):
                f.write(block)
    elif cmd == "params":
        line = json.loads(read(argv[2]).decode("utf-8"))
        want = None if argv[3] == "null" else json.loads(read(argv[3]))
        got = line.get("params", "<no params column>")
        if got != want:
            print("# params: got  %s" % json.dumps(got, ensure_ascii=False))
            print("# params: want %s" % json.dumps(want, ensure_ascii=False))
            return 1
    else:
        raise SystemExit("unknown command " + cmd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
