#!/usr/bin/env bash
# The collector through a real lighttpd: what CRMs send becomes exactly one
# NDJSON line each, with the right fields; errors get the right codes.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need lighttpd curl python3
need_file "$HS_FCGI"

ID=522ed95e-1a2b-4c3d-8e4f-000000000001
# An offset that puts "now" on another date than UTC does.
H=$(date -u +%H)
if [ "${H#0}" -ge 12 ]; then OFF=+13:00; else OFF=-12:00; fi
hs_conf "$T/hs.conf" "$ID"
cat >>"$T/hs.conf" <<CONF
utc_offset = $OFF
columns = method content_type payload_base64
max_body = 1M
CONF
PORT=$(free_port)
start_lighttpd "$T/hs.conf" "$PORT" || { not_ok "lighttpd starts"; finish; }
URL=http://127.0.0.1:$PORT/ds/$ID

# The three CRM rows of the spec's example, as form bodies.
for row in "orderId=N1&status=delivered&total=120.13&userId=U1" \
           "orderId=N2&status=new&total=15.00&userId=U2" \
           "orderId=N1&status=cancelled&total=120.13&userId=U1"; do
    before=$(python3 -c 'import time; print(int(time.time()*1000))')
    id=$(post_hit -d "$row" "$URL")
    after=$(python3 -c 'import time; print(int(time.time()*1000))')
    line=$(find_hit "$id") || { not_ok "hit $id is in the spool"; continue; }
    is "$(jfield "$line" payload)" "\"$row\"" "form payload kept exactly: $row"
    ra=$(jfield "$line" received_at)
    check "received_at is ms within the request ($ra)" test "$ra" -ge "$before" -a "$ra" -le "$after"
    want_date=$(python3 -c "
import datetime,sys
off=sys.argv[2]; s=1 if off[0]=='+' else -1
m=s*(int(off[1:3])*60+int(off[4:6]))
t=datetime.datetime.utcfromtimestamp(int(sys.argv[1])/1000)+datetime.timedelta(minutes=m)
print(t.strftime('%Y-%m-%d'))" "$ra" "$OFF")
    utc_date=$(python3 -c "import datetime,sys; print(datetime.datetime.utcfromtimestamp(int(sys.argv[1])/1000).strftime('%Y-%m-%d'))" "$ra")
    is "$(jfield "$line" date)" "\"$want_date\"" "date at $OFF"
    check "the offset changed the date ($utc_date -> $want_date)" [ "$want_date" != "$utc_date" ]
    is "$(jfield "$line" method)" '"POST"' "method column"
done

id=$(post_hit -H 'Content-Type: application/json' --data-binary '{"order":{"id":"N3","status":"paid"}}' "$URL")
is "$(jfield "$(find_hit "$id")" payload)" '"{\"order\":{\"id\":\"N3\",\"status\":\"paid\"}}"' "JSON body stored as text"
is "$(jfield "$(find_hit "$id")" content_type)" '"application/json"' "content_type column"
xml='<?xml version="1.0" encoding="UTF-8"?><order id="N4"><status>shipped</status></order>'
id=$(post_hit -H 'Content-Type: text/xml' --data-binary "$xml" "$URL")
is "$(jfield "$(find_hit "$id")" payload)" "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$xml")" "XML body stored as text"
id=$(post_hit "$URL?orderId=N5&status=lead&utm_source=x%20y")
is "$(jfield "$(find_hit "$id")" payload)" '"orderId=N5&status=lead&utm_source=x%20y"' "GET: payload is the raw query string"
is "$(jfield "$(find_hit "$id")" method)" '"GET"' "GET method recorded"
id=$(post_hit -X POST -H 'Content-Length: 0' "$URL")
line=$(find_hit "$id")
is "$(jfield "$line" payload)" '""' "empty body: a hit with an empty payload"
code=$(curl -s -o /dev/null -w '%{http_code}' -I "$URL?x=1")
is "$code" 200 "HEAD answered 200"

# Hard bodies: one valid JSON line each, payload == body decoded with
# U+FFFD for invalid sequences, payload_base64 == the exact bytes.
python3 - "$T" <<'PY'
import os, sys
t = sys.argv[1]
bodies = {
    "nul": b"a\x00b\x00c",
    "newlines": b"line1\nline2\r\n\"quoted\"\\back",
    "control": bytes(range(0, 32)) + b"\x7f",
    "invalid": b"ok \xff\xfe bad \xc3( \xed\xa0\x80 \xf0\x9f\x98 end",
    "random": os.urandom(1024 * 1024),
}
for k, v in bodies.items():
    with open(os.path.join(t, "body." + k), "wb") as f:
        f.write(v)
PY
for k in nul newlines control invalid random; do
    id=$(post_hit -H 'Content-Type: application/octet-stream' --data-binary "@$T/body.$k" "$URL")
    if [ -z "$id" ]; then not_ok "$k body accepted"; continue; fi
    find_hit "$id" >"$T/line.$k"
    check "$k body: one valid line, payload and base64 exact" python3 - "$T/line.$k" "$T/body.$k" <<'PY'
import base64, json, sys
line = open(sys.argv[1], "rb").read()
body = open(sys.argv[2], "rb").read()
assert line.count(b"\n") == 1 and line.endswith(b"\n"), "one line"
obj = json.loads(line.decode("utf-8"))
assert obj["payload"] == body.decode("utf-8", "replace"), "payload"
valid = True
try:
    body.decode("utf-8")
except UnicodeDecodeError:
    valid = False
if valid:
    assert obj["payload_base64"] is None, "no base64 for valid UTF-8"
else:
    assert base64.b64decode(obj["payload_base64"]) == body, "base64 exact"
PY
done

# Size cap: by Content-Length and chunked.
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' 'a' >"$T/big"
code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary "@$T/big" "$URL")
is "$code" 413 "body over max_body by Content-Length: 413"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary "@$T/big" "$URL")
is "$code" 413 "chunked body over max_body: 413"
code=$(curl -s -o /dev/null -w '%{http_code}' -d x=1 "http://127.0.0.1:$PORT/ds/522ed95e-1a2b-4c3d-8e4f-000000000002")
is "$code" 404 "unknown stream id: 404"
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$URL")
is "$code" 405 "DELETE: 405"
allow=$(curl -s -D - -o /dev/null -X DELETE "$URL" | tr -d '\r' | sed -n 's/^Allow: //p')
is "$allow" "GET, HEAD, POST, PUT" "405 names the allowed methods"
health=$(curl -s "http://127.0.0.1:$PORT/ds/-/health")
check "health answers JSON with the spool state" python3 -c '
import json,sys; h=json.loads(sys.argv[1]); assert h["status"]=="ok" and h["spool_writable"] is True and h["free_bytes"]>0' "$health"

# 10,000 hits: every hit_id a UUID v4, all distinct, all in the spool.
out=$(python3 "$TOOLS/load.py" --url "$URL" --n 10000 --concurrency 16 --out "$T/acked")
echo "# $out"
check "10,000 hits answered 2xx" grep -q "ok2xx=10000 " <<<"$out"
stop_lighttpd
tmp_empty() { [ -z "$(ls -A "$T/spool/crm/tmp")" ]; }
check "after shutdown every batch is sealed (tmp/ empty)" wait_for 10 tmp_empty
npids=$(ls "$T/spool/crm/new" | awk -F. '{print $4}' | sort -u | wc -l)
check "two responder processes wrote batches ($npids)" test "$npids" -ge 2
res=$(python3 "$TOOLS/spoolcheck.py" --acked "$T/acked" "$T/spool/crm/new")
echo "# $res"
check "every line valid, every 2xx'd hit_id present exactly once" grep -q "missing=0 duplicated=0 problems=0" <<<"$res"
finish
