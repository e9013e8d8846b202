#!/usr/bin/env bash
# contrib/nginx/hookspool.conf in a real nginx, in front of the responder
# started as contrib/systemd/hookspool-fcgi.socket + .service start it (by
# spawn-fcgi, as no systemd runs here): the token reaches the responder,
# the responder's own answers (404, 413) come through, hits land in the
# spool exactly once, a stopped responder means 5xx (senders retry), and
# the job of contrib/cron/hookspool, run as cron would, loads every hit
# into (the fake) BigQuery quietly.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/deploy/lib.sh"
need nginx curl python3 spawn-fcgi
need_www
need_file "$HS_FCGI"
[ -f /etc/nginx/fastcgi_params ] || skip "/etc/nginx/fastcgi_params is missing (Debian package nginx-common)"

ID=522ed95e-1a2b-4c3d-8e4f-0000000000c1
UPLOAD=no
if [ -x "$HS_UPLOAD" ]; then
    if start_fake_bq; then
        UPLOAD=yes
        # The uploader runs as www-data, as the cron job says.
        chown -R www-data:www-data "$T/key"
        deploy_conf "$ID" 1h "credentials = $FAKE_KEY" "project = test-project" \
            "api_base = $FAKE_API"
    else
        not_ok "the fake BigQuery starts"
    fi
else
    echo "# $HS_UPLOAD is not built: the cron job is not run"
fi
[ "$UPLOAD" = yes ] || deploy_conf "$ID" 1h

units_copy || { not_ok "the systemd units, paths substituted"; finish; }
units_spawn || { not_ok "the responder starts from the systemd units"; finish; }
ok "the responder starts from the systemd units"
PORT=$(free_port)
nginx_start "$PORT" || { not_ok "nginx starts"; finish; }
ok "nginx starts"
BASE=http://127.0.0.1:$PORT/ds
URL=$BASE/$ID
deploy_requests "$BASE"
is "$(http_code -d x=1 "$BASE/522ed95e-1a2b-4c3d-8e4f-0000000000c2")" 404 \
    "unknown stream id: 404"
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' 'a' >"$T/big"
is "$(http_code -H 'Authorization: Bearer s3cret' --data-binary "@$T/big" "$URL")" \
    413 "a body over max_body gets the responder's 413"

out=$(python3 "$TOOLS/load.py" --url "$URL?token=s3cret" --n 2000 \
    --concurrency 16 --out "$T/load1")
echo "# $out"
check "2,000 concurrent hits answered 2xx" grep -q "ok2xx=2000 " <<<"$out"
cat "$T/load1" >>"$ACKED"

# systemctl stop hookspool-fcgi: batches sealed; nginx then answers 5xx,
# which senders retry, never a 2xx or a 4xx.
check "SIGTERM: the responder exits" units_stop
is "$(tmp_batches)" 0 "its batches are sealed (tmp/ empty)"
code=$(http_code -H 'Authorization: Bearer s3cret' -d orderId=DOWN "$URL")
check "with the responder stopped nginx answers 5xx ($code)" \
    test "${code:-0}" -ge 500
check "every 2xx'd hit in new/ exactly once, nothing else" \
    spool_exact "$T/spool/crm/new"
check "every spool file and folder belongs to www-data" spool_owned_by_www
nginx_stop

if [ "$UPLOAD" = yes ]; then
    acked_ids "$ACKED" >"$T/ids"
    cron_run "$top_srcdir/contrib/cron/hookspool"
    sed 's/^/#   /' "$T/cron.out"
    is "$CRON_RC" 0 "the cron job exits 0"
    is "$(wc -c <"$T/cron.out")" 0 "the cron job is quiet on success"
    res=$(rows_vs_ids test-project.crm.hits "$T/ids")
    echo "# $res"
    rows_ok() { rows_vs_ids "$@" >/dev/null; }
    check "every 2xx'd hit is in the table exactly once, nothing else" \
        rows_ok test-project.crm.hits "$T/ids"
    is "$(count_files "$T/spool/crm/new")" 0 "new/ is empty after the run"
    check "done/ holds the loaded batches" test "$(count_files "$T/spool/crm/done")" -ge 1
    cron_run "$top_srcdir/contrib/cron/hookspool"
    is "$CRON_RC:$(wc -c <"$T/cron.out")" "0:0" \
        "a run with nothing to do: exit 0, no output"
    check "every spool file still belongs to www-data" spool_owned_by_www
fi
finish
