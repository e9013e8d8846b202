#!/usr/bin/env bash
# The demo proper (tests/demo/demo.sh builds first): see README, "Quick start".
top_srcdir=$(cd "$(dirname "$0")/../.." && pwd)
top_builddir=$top_srcdir/_build/demo
. "$top_srcdir/tests/lib.sh"
set -e
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. A fake BigQuery on loopback (tests/fake-bigquery), and a service-account key for it"
start_fake_bq_demo() {
    python3 "$FAKE_BQ/fake_bigquery.py" --listen 127.0.0.1:0 --port-file "$T/bq.port" \
        --public-key "$T/keys/sa.pub" --quiet 2>"$T/fake-bq.log" &
    HS_PIDS+=($!)
    wait_for 10 test -s "$T/bq.port"
}
sh "$FAKE_BQ/make-key.sh" "$T/keys" http://127.0.0.1:1/token >/dev/null
start_fake_bq_demo
BQ=http://127.0.0.1:$(cat "$T/bq.port")
sh "$FAKE_BQ/make-key.sh" "$T/keys" "$BQ/token" >/dev/null
echo "fake BigQuery at $BQ"

say "2. hookspool.conf: one stream, the spool in $T/spool"
ID=$(python3 -c 'import uuid; print(uuid.uuid4())')
cat >"$T/hookspool.conf" <<CONF
spool_dir = $T/spool
batch_max_age = 2s
credentials = $T/keys/key.json
project = demo-project
api_base = $BQ
metrics = yes

[stream orders]
id = $ID
table = demo-project.crm.orders
utc_offset = +03:00
columns = method params
CONF
chmod 600 "$T/hookspool.conf"
cat "$T/hookspool.conf"

say "3. lighttpd on 127.0.0.1 starts hookspool-fcgi (contrib/lighttpd/hookspool.conf)"
PORT=$(free_port)
start_lighttpd "$T/hookspool.conf" "$PORT"
URL=http://127.0.0.1:$PORT/ds/$ID
echo "collector URL: $URL"

say "4. A CRM posts its webhooks"
for body in "orderId=N1&status=delivered&total=120.13&userId=U1" \
            "orderId=N2&status=new&total=15.00&userId=U2" \
            "leads[status][0][id]=25399013&leads[status][0][status_id]=142"; do
    printf 'POST %-62s -> ' "$body"
    curl -s -d "$body" "$URL"
done
printf 'POST %-62s -> ' '{"order":{"id":"N3","status":"paid"}} (JSON)'
curl -s -H 'Content-Type: application/json' -d '{"order":{"id":"N3","status":"paid"}}' "$URL"
printf 'GET  %-62s -> ' '?orderId=N4&status=lead (pixel-style)'
curl -s "$URL?orderId=N4&status=lead"
curl -s "http://127.0.0.1:$PORT/ds/-/metrics" | grep -m1 '^hookspool_requests_total{stream="orders",code="200"}'

say "5. The hits are on disk, one NDJSON line each (sealed after batch_max_age)"
sleep 3
find "$T/spool/orders" -type f -name '*.ndjson' | sed "s|$T/||"
cat "$T"/spool/orders/new/*.ndjson

say "6. hookspool-upload loads them with a load job (quiet on success; -v says what it did)"
"$HS_UPLOAD" -v -c "$T/hookspool.conf"
echo "exit status $?"
if [ -x "$HS_CTL" ]; then
    say "7. hookspoolctl status"
    "$HS_CTL" -c "$T/hookspool.conf" status || true
fi

say "8. The rows in BigQuery (tabledata.list on the fake)"
python3 "$FAKE_BQ/tabledata.py" --api-base "$BQ" demo-project.crm.orders
stop_lighttpd
echo
echo "demo done: everything ran on loopback under $T (removed now)"
