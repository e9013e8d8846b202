#!/usr/bin/env bash
# contrib/apache/hookspool-proxy-fcgi.conf in a real Apache 2.4 with
# mod_proxy_fcgi, in front of the responder started as
# contrib/systemd/hookspool-fcgi.socket + .service start it (by spawn-fcgi,
# as no systemd runs here; the units pass systemd-analyze verify):
# Authorization reaches the responder (CGIPassAuth), hits land in the spool
# exactly once, SIGUSR1 seals now, and SIGTERM in the middle of a load keeps
# every 2xx'd hit.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/deploy/lib.sh"
need curl python3 spawn-fcgi
apache_need proxy proxy_fcgi
need_file "$HS_FCGI"

units_copy || { not_ok "the systemd units, paths substituted"; finish; }
if command -v systemd-analyze >/dev/null 2>&1; then
    check "systemd-analyze verify: hookspool-fcgi.socket and .service" \
        units_verify hookspool-fcgi.socket hookspool-fcgi.service
    if [ -x "$HS_UPLOAD" ]; then
        check "systemd-analyze verify: hookspool-upload.service and .timer" \
            units_verify hookspool-upload.service hookspool-upload.timer
    else
        echo "# $HS_UPLOAD is not built: hookspool-upload units not verified"
    fi
else
    echo "# systemd-analyze is not installed: unit files not verified"
fi

ID=522ed95e-1a2b-4c3d-8e4f-0000000000b1
# Batches are sealed by signals here, not by age.
deploy_conf "$ID" 1h
units_spawn || { not_ok "the responder starts from the systemd units"; finish; }
ok "the responder starts from the systemd units"
SOCK=$(unit_key hookspool-fcgi.socket ListenStream)
is "$(stat -c '%U:%G %a' "$SOCK")" "www-data:www-data 660" \
    "the socket has the unit's owner and mode"
is "$(ps -o user= -p "$RESPONDER_PID" | tr -d ' ')" www-data \
    "the responder runs as the unit's User"

PORT=$(free_port)
apache_start hookspool-proxy-fcgi.conf "$PORT" proxy proxy_fcgi ||
    { not_ok "Apache with mod_proxy_fcgi starts"; finish; }
ok "Apache with mod_proxy_fcgi starts"
BASE=http://127.0.0.1:$PORT/ds
URL=$BASE/$ID
deploy_requests "$BASE"
is "$(http_code -d x=1 "$BASE/522ed95e-1a2b-4c3d-8e4f-0000000000b2")" 404 \
    "unknown stream id: 404"
# mod_proxy_fcgi streams a chunked body, without CONTENT_LENGTH: the
# responder stops reading it at max_body (1M).
head -c $((1024 * 1024 + 4096)) /dev/zero | tr '\0' 'a' >"$T/big"
is "$(http_code -H 'Authorization: Bearer s3cret' -H 'Transfer-Encoding: chunked' \
    --data-binary "@$T/big" "$URL")" 413 "a chunked body over max_body: 413"

# One multi-threaded responder takes the whole concurrent load.
out=$(python3 "$TOOLS/load.py" --url "$URL?token=s3cret" --n 2000 \
    --concurrency 16 --out "$T/load1")
echo "# $out"
check "2,000 concurrent hits answered 2xx" grep -q "ok2xx=2000 " <<<"$out"
cat "$T/load1" >>"$ACKED"
check "the open batch is in tmp/" test "$(tmp_batches)" -ge 1
# systemctl kill -s USR1 hookspool-fcgi: seal now, keep running.
kill -USR1 "$RESPONDER_PID"
tmp_empty() { [ "$(tmp_batches)" = 0 ]; }
check "SIGUSR1 seals the open batch into new/" wait_for 5 tmp_empty
check "every 2xx'd hit is in new/ exactly once" spool_exact "$T/spool/crm/new"
check "the responder still runs" kill -0 "$RESPONDER_PID"

# systemctl stop in the middle of a load, with one request whose body is
# still arriving: requests in flight finish (the slow one too: 200, and
# kept), later ones fail with 503 (senders retry), none with a 4xx
# (senders drop the hit), and every 2xx'd hit is sealed in new/.
python3 "$top_srcdir/tests/deploy/slowpost.py" "$URL" \
    "orderId=SLOW&status=new&note=in-flight-at-SIGTERM" 3 \
    "Authorization: Bearer s3cret" >"$T/slow.out" 2>"$T/slow.err" &
SLOW=$!
python3 "$TOOLS/load.py" --url "$URL?token=s3cret" --seconds 5 \
    --concurrency 16 --out "$T/load2" >"$T/load2.sum" &
LOAD=$!
# Stop once both are in: the slow body half sent, the load's hits opening
# a new batch in tmp/.
half_sent() { grep -q "sent half" "$T/slow.err"; }
tmp_open() { [ "$(tmp_batches)" -ge 1 ]; }
wait_for 10 half_sent
wait_for 10 tmp_open
sleep 0.5
check "SIGTERM: the responder exits within TimeoutStopSec" units_stop
wait "$SLOW" "$LOAD"
out=$(cat "$T/load2.sum")
echo "# $out"
cat "$T/load2" >>"$ACKED"
n2=$(grep -c '"status": *2' "$T/load2")
check "hits were answered 2xx before the stop ($n2)" test "$n2" -gt 0
nf=$(grep -vc '"status": *2' "$T/load2")
check "requests after the stop failed ($nf)" test "$nf" -gt 0
n4=$(grep -c '"status": *4' "$T/load2")
is "$n4" 0 "no request answered 4xx around the stop"
slow=$(cat "$T/slow.out")
echo "# in flight at SIGTERM: ${slow:0:80}" | head -1
is "${slow%% *}" 200 "the request in flight at SIGTERM is answered 200"
slow_id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1].split(" ",1)[1])["hit_id"])' "$slow" 2>/dev/null)
[ -n "$slow_id" ] && acked "$slow_id"
is "$(tmp_batches)" 0 "after SIGTERM every batch is sealed (tmp/ empty)"
apache_stop
# Should the responder have needed a SIGKILL, its hits wait in tmp/.
check "every 2xx'd hit in the spool exactly once" \
    spool_kept "$T/spool/crm/new" "$T/spool/crm/tmp"
check "every spool file and folder belongs to www-data" spool_owned_by_www
finish
