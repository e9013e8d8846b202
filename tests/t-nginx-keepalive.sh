#!/usr/bin/env bash
# contrib/nginx/hookspool-keepalive.conf and hookspool-upstream.conf in a
# real nginx that keeps its connections to the responder open
# (fastcgi_keep_conn on, upstream keepalive): thousands of hits over kept
# connections, no connection reset or closed under nginx (no 5xx), every
# 2xx'd hit stored exactly once, the connections still open afterwards.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/deploy/lib.sh"
need nginx curl python3 spawn-fcgi
need_www
need_file "$HS_FCGI"
[ -f /etc/nginx/fastcgi_params ] || skip "/etc/nginx/fastcgi_params is missing (Debian package nginx-common)"

ID=522ed95e-1a2b-4c3d-8e4f-0000000000d1
deploy_conf "$ID" 1h
# nginx here runs 2 workers keeping 2 idle connections each: fewer than
# the threads, as hookspool-upstream.conf asks.
sed -i 's/^threads = .*/threads = 8/' "$HS_CONF"
units_copy || { not_ok "the systemd units, paths substituted"; finish; }
units_spawn || { not_ok "the responder starts from the systemd units"; finish; }
ok "the responder starts from the systemd units"
SOCK=$(unit_key hookspool-fcgi.socket ListenStream)
PORT=$(free_port)
nginx_start "$PORT" hookspool-keepalive.conf hookspool-upstream.conf ||
    { not_ok "nginx starts with the keepalive config"; finish; }
ok "nginx starts with the keepalive config"
BASE=http://127.0.0.1:$PORT/ds
URL=$BASE/$ID
deploy_requests "$BASE"
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' 'a' >"$T/big"
is "$(http_code -H 'Authorization: Bearer s3cret' --data-binary "@$T/big" "$URL")" \
    413 "a body over max_body gets the responder's 413"
check "the next request after a 413: 200" \
    hit -H 'Authorization: Bearer s3cret' -d after=413 "$URL"

out=$(python3 "$TOOLS/load.py" --url "$URL?token=s3cret" --n 3000 \
    --concurrency 16 --out "$T/load1")
echo "# $out"
check "3,000 concurrent hits over kept connections answered 2xx" \
    grep -q "ok2xx=3000 " <<<"$out"
cat "$T/load1" >>"$ACKED"
# Sequential hits, one at a time: each finds an idle kept connection.
for i in $(seq 1 50); do
    hit -H 'Authorization: Bearer s3cret' -d "seq=$i" "$URL" >/dev/null ||
        echo "# sequential hit $i failed"
done
is "$(grep -c '"status": *2' "$ACKED")" $((3000 + 50 + 5)) \
    "50 sequential hits answered 2xx"
grep -E 'prematurely|reset by peer|recv\(\) failed|writev\(\) failed|upstream timed out' \
    "$T/nginx/error.log" | head -5 | sed 's/^/# /'
check "nginx saw no connection to the responder break" \
    bash -c "! grep -Eq 'prematurely|reset by peer|recv\(\) failed|writev\(\) failed|upstream timed out' '$T/nginx/error.log'"
kept() {
    local n
    n=$(grep -c " 03 .*$SOCK\$" /proc/net/unix)
    echo "# connections open on the responder's socket: $n"
    [ "$n" -ge 1 ]
}
check "nginx keeps connections to the responder open" kept

check "SIGTERM: the responder exits" units_stop
nginx_stop
check "every 2xx'd hit in new/ exactly once, nothing else" \
    spool_exact "$T/spool/crm/new"
finish
