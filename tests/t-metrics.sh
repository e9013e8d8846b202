#!/usr/bin/env bash
# Metrics end to end.  The responder's <mount>/-/metrics through a real
# lighttpd running two responder processes: off by default (404), behind
# metrics_token (401 without it), the Prometheus text format promtool
# accepts, and counters summed over the processes that match the traffic
# sent (2xx, 4xx and 5xx), never going backwards when a responder is
# killed.  The uploader's textfile (metrics_file) after a real run against
# the fake BigQuery: promtool accepts it, its counters match the load and
# carry over to the next run.  The contrib alert rules pass promtool's
# check and unit tests, and every metric the rules and the Grafana
# dashboard name exists in a scrape or in the textfile.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need lighttpd curl python3 promtool
need_file "$HS_FCGI"
need_file "$HS_UPLOAD"
SHIM=$top_builddir/tests/tools/failsync.so
need_file "$SHIM"
# An ASan build wants its runtime first; the shim only adds fdatasync.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0

ID=522ed95e-1a2b-4c3d-8e4f-0000000c0001
SHOP=522ed95e-1a2b-4c3d-8e4f-0000000c0002
TOKEN=m3trics-s3cret
MARK=$T/failsync
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

start_fake_bq || { not_ok "the fake BigQuery starts"; finish; }

# Off by default: the metrics URL is an unknown stream like any other.
up_conf "$T/off.conf" "$ID"
PORT=$(free_port)
start_lighttpd "$T/off.conf" "$PORT" || { not_ok "lighttpd starts"; finish; }
B=http://127.0.0.1:$PORT/ds
is "$(code "$B/-/metrics")" 404 "metrics off by default: 404"
stop_lighttpd
check "metrics off: no .metrics file in the spool" test ! -e "$T/spool/.metrics"

up_conf "$T/hs.conf" "$ID" "metrics = yes" "metrics_token = $TOKEN" \
    "metrics_file = $T/textfile/hookspool.prom"
# No seal under the traffic: every hit is synced by a group commit.
sed -i 's/^batch_max_age = .*/batch_max_age = 1h/' "$T/hs.conf"
cat >>"$T/hs.conf" <<CONF

[stream shop]
id = $SHOP
table = test-project.shop.hits
methods = POST
max_body = 1K
CONF
mkdir -p "$T/textfile"
HS_FAIL_SYNC=$MARK LD_PRELOAD=$SHIM start_lighttpd "$T/hs.conf" "$PORT" ||
    { not_ok "lighttpd starts with metrics on"; finish; }
wait_for 10 test "$(responder_pids | wc -l)" -eq 2
is "$(responder_pids | wc -l)" 2 "lighttpd runs two responder processes"

# scrape [CURL ARGS]: the metrics answer in $T/scrape, its code on stdout.
scrape() {
    curl -s -o "$T/scrape" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
        "$@" "$B/-/metrics"
}
# metric FILE SERIES: the value of one series (name{labels} as written).
metric() {
    python3 - "$1" "$2" <<'PY'
import sys
want = sys.argv[2]
for line in open(sys.argv[1]):
    if line.startswith("#"):
        continue
    key, _, val = line.rstrip("\n").rpartition(" ")
    if key == want:
        v = float(val)
        print(int(v) if v == int(v) else v)
        sys.exit(0)
print("absent " + want)
PY
}
# msum FILE REGEX: the sum of the series whose name{labels} match REGEX.
msum() {
    python3 - "$1" "$2" <<'PY'
import re, sys
t = 0
for line in open(sys.argv[1]):
    if line.startswith("#"):
        continue
    key, _, val = line.rstrip("\n").rpartition(" ")
    if re.fullmatch(sys.argv[2], key):
        t += float(val)
print(int(t) if t == int(t) else t)
PY
}

is "$(code "$B/-/metrics")" 401 "no token: 401"
is "$(code -H 'Authorization: Bearer nope' "$B/-/metrics")" 401 "a wrong token: 401"
is "$(code "$B/-/metrics?token=nope")" 401 "a wrong ?token=: 401"
is "$(code "$B/-/metrics?token=$TOKEN")" 200 "?token=: 200"
is "$(scrape)" 200 "Bearer token: 200"
is "$(code -H "Authorization: Bearer $TOKEN" "$B/-/metrics/")" 404 "<mount>/-/metrics/: 404"
is "$(code -H "Authorization: Bearer $TOKEN" "$B/x/-/metrics")" 404 "another path ending in /-/metrics: 404"

# The traffic, one request at a time.  First two hits whose fdatasync
# fails (tests/tools/failsync.so): 503, and their batches, holding no
# acknowledged line, are dropped.
touch "$MARK"
n503=0
for i in 1 2; do
    [ "$(code -d "fail=$i" "$B/$ID")" = 503 ] && n503=$((n503 + 1))
done
rm -f "$MARK"
is "$n503" 2 "two hits whose sync failed: 503"
bytes=0
for i in $(seq 1 20); do
    body="orderId=N$i&status=new"
    bytes=$((bytes + ${#body}))
    curl -s -o /dev/null -d "$body" "$B/$ID"
done
for i in $(seq 1 7); do
    body="{\"sku\":$i}"
    bytes_shop=$((${bytes_shop:-0} + ${#body}))
    curl -s -o /dev/null -H 'Content-Type: application/json' -d "$body" "$B/$SHOP"
done
for i in 1 2 3; do code "$B/522ed95e-1a2b-4c3d-8e4f-00000000dead" >/dev/null; done
is "$(code "$B/$SHOP")" 405 "a GET to a POST-only stream: 405"
is "$(code -d "$(head -c 2000 /dev/zero | tr '\0' x)" "$B/$SHOP")" 413 "a body over max_body: 413"
# A scrape lands on either process: each one must see the same sums.
sleep 2
for i in 1 2 3 4; do
    scrape >/dev/null
    cp "$T/scrape" "$T/scrape.$i"
done
check "promtool check metrics accepts the scrape" \
    promtool check metrics <"$T/scrape.1"
promtool check metrics <"$T/scrape.1" 2>&1 | sed 's/^/# /'
for i in 1 2 3 4; do
    echo "# scrape $i: crm 200 = $(metric "$T/scrape.$i" 'hookspool_requests_total{stream="crm",code="200"}')"
done
S=$T/scrape.4
for i in 1 2 3; do
    is "$(metric "$T/scrape.$i" 'hookspool_requests_total{stream="crm",code="200"}')" 20 \
        "scrape $i: 200s of crm summed over both processes"
done
is "$(metric "$S" 'hookspool_requests_total{stream="crm",code="200"}')" 20 "crm: 20 hits 200"
is "$(metric "$S" 'hookspool_requests_total{stream="crm",code="503"}')" 2 "crm: 2 hits 503"
is "$(metric "$S" 'hookspool_requests_total{stream="shop",code="200"}')" 7 "shop: 7 hits 200"
is "$(metric "$S" 'hookspool_requests_total{stream="shop",code="405"}')" 1 "shop: one 405"
is "$(metric "$S" 'hookspool_requests_total{stream="shop",code="413"}')" 1 "shop: one 413"
is "$(metric "$S" 'hookspool_requests_total{stream="",code="404"}')" 5 \
    "no stream: 5 404s (3 unknown ids, 2 near misses of the URL)"
is "$(metric "$S" 'hookspool_received_bytes_total{stream="crm"}')" "$bytes" "crm: bytes of the stored bodies"
is "$(metric "$S" 'hookspool_received_bytes_total{stream="shop"}')" "$bytes_shop" "shop: bytes of the stored bodies"
is "$(metric "$S" 'hookspool_hits_per_sync_sum')" 29 "hits per sync: 29 lines synced (27 ok, 2 failed)"
check "fdatasync was timed" test "$(metric "$S" 'hookspool_fdatasync_duration_seconds_count')" -ge 1
is "$(metric "$S" 'hookspool_fdatasync_duration_seconds_count')" \
    "$(metric "$S" 'hookspool_hits_per_sync_count')" "one group size per fdatasync"
is "$(metric "$S" 'hookspool_request_duration_seconds_count')" \
    "$(msum "$S" 'hookspool_requests_total\{.*\}')" "one duration per request counted"
is "$(metric "$S" 'hookspool_request_duration_seconds_bucket{le="+Inf"}')" \
    "$(metric "$S" 'hookspool_request_duration_seconds_count')" "le=+Inf equals _count"
is "$(metric "$S" 'hookspool_responder_processes')" 2 "two live responder processes"
check "crm's open batch is >= 1 s old" \
    test "$(metric "$S" 'hookspool_open_batch_age_seconds{stream="crm"}')" -ge 1
free=$(python3 -c 'import os,sys; s=os.statvfs(sys.argv[1]); print(s.f_bavail*s.f_frsize)' "$T/spool")
check "spool free bytes near statvfs's" python3 -c '
import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(abs(a - b) > 256 << 20)' \
    "$(metric "$S" hookspool_spool_free_bytes)" "$free"

# A responder killed outright: its slot is folded in, nothing goes back.
before=$(msum "$S" 'hookspool_requests_total\{.*\}')
victim=$(responder_pids | head -1)
kill -9 "$victim"
wait_for 20 test "$(responder_pids | wc -l)" -eq 2 || true
for i in 1 2 3 4; do
    curl -s -o /dev/null -d "after=$i" "$B/$ID"
done
scrape >/dev/null
after=$(msum "$T/scrape" 'hookspool_requests_total\{.*\}')
check "after kill -9 of a responder the counters did not go back ($before -> $after)" \
    test "$after" -gt "$before"
is "$(metric "$T/scrape" 'hookspool_requests_total{stream="crm",code="200"}')" 24 \
    "crm: 24 hits 200 after a responder was killed"

# A third responder on its own socket, as spawn-fcgi runs one: its hits
# are in the scrape lighttpd's responders answer, and stay there once it
# has exited.
"$HS_FCGI" -d -c "$T/hs.conf" -s "unix:$T/extra.sock" 2>"$T/extra.err" &
EXTRA=$!
HS_PIDS+=($EXTRA)
wait_for 10 test -S "$T/extra.sock"
python3 "$TOOLS/fcgi.py" "unix:$T/extra.sock" "/ds/$ID" --requests 5 >"$T/extra.out"
is "$(grep -c '^200 ' "$T/extra.out")" 5 "the third responder took 5 hits"
scrape >/dev/null
is "$(metric "$T/scrape" hookspool_responder_processes)" 3 "three live responder processes"
is "$(metric "$T/scrape" 'hookspool_requests_total{stream="crm",code="200"}')" 29 \
    "crm: the third responder's hits are in lighttpd's scrape"
kill "$EXTRA"
wait "$EXTRA"
scrape >/dev/null
is "$(metric "$T/scrape" hookspool_responder_processes)" 2 "two live responder processes again"
is "$(metric "$T/scrape" 'hookspool_requests_total{stream="crm",code="200"}')" 29 \
    "crm: the third responder's hits are kept once it has exited"
cp "$T/scrape" "$T/scrape.final"

# The uploader's textfile after a real run.
seal_responders crm
seal_responders shop
"$HS_UPLOAD" -c "$T/hs.conf" >"$T/up.out" 2>&1
is "$?" 0 "the uploader loads the hits"
P=$T/textfile/hookspool.prom
check "the uploader wrote its textfile" test -s "$P"
check "promtool check metrics accepts the textfile" promtool check metrics <"$P"
promtool check metrics <"$P" 2>&1 | sed 's/^/# /'
check "no temporary file left beside it" test "$(ls -A "$T/textfile" | wc -l)" -eq 1
is "$(metric "$P" 'hookspool_upload_rows_total{stream="crm"}')" 29 "textfile: 29 crm rows"
is "$(metric "$P" 'hookspool_upload_rows_total{stream="shop"}')" 7 "textfile: 7 shop rows"
is "$(metric "$P" 'hookspool_upload_jobs_total{stream="crm",result="ok"}')" \
    "$(fake_state 'len([j for j in s["jobs"] if "crm" in json.dumps(j)])' 2>/dev/null || echo 1)" \
    "textfile: crm's jobs ok"
crmbytes=$(find "$T/spool/crm/done" -type f -name '*.ndjson' -printf '%s\n' | awk '{t+=$1} END {print t}')
is "$(metric "$P" 'hookspool_upload_bytes_total{stream="crm"}')" "$crmbytes" "textfile: crm's bytes loaded"
is "$(metric "$P" 'hookspool_upload_backlog_files{stream="crm"}')" 0 "textfile: crm's backlog is empty"
is "$(metric "$P" 'hookspool_upload_table_jobs{table="test-project.crm.hits"}')" \
    "$(metric "$P" 'hookspool_upload_jobs_total{stream="crm",result="ok"}')" "textfile: the crm table's jobs today"
check "textfile: last success is now" python3 -c '
import sys, time; sys.exit(abs(time.time() - float(sys.argv[1])) > 120)' \
    "$(metric "$P" hookspool_upload_last_success_timestamp_seconds)"
is "$(metric "$P" 'hookspool_upload_job_duration_seconds_count')" \
    "$(msum "$P" 'hookspool_upload_jobs_total\{.*\}')" "textfile: one duration per job"

# Counters carry over to the next run; a failing job counts as failed.
for i in 1 2 3; do curl -s -o /dev/null -d "late=$i" "$B/$ID"; done
seal_responders crm
fake_faults '{"kind":"job_error","reason":"invalid","count":1}'
"$HS_UPLOAD" -c "$T/hs.conf" >"$T/up2.out" 2>&1
is "$?" 65 "a run whose job fails for good exits 65"
is "$(metric "$P" 'hookspool_upload_jobs_total{stream="crm",result="failed"}')" 1 "textfile: one failed crm job"
is "$(metric "$P" 'hookspool_upload_rows_total{stream="crm"}')" 29 "textfile: the rows counter carried over"
check "textfile: last success kept from the earlier run" python3 -c '
import sys, time; sys.exit(abs(time.time() - float(sys.argv[1])) > 120)' \
    "$(metric "$P" hookspool_upload_last_success_timestamp_seconds)"
check "promtool still accepts the textfile" promtool check metrics <"$P"
fake_faults ''
stop_lighttpd

# The contrib rules and dashboard.
RULES=$top_srcdir/contrib/prometheus/hookspool.rules.yml
check "promtool check rules" promtool check rules "$RULES"
(cd "$top_srcdir/contrib/prometheus" && promtool test rules hookspool.rules.test.yml) >"$T/rt.out" 2>&1
is "$?" 0 "promtool test rules"
sed 's/^/# /' "$T/rt.out"
DASH=$top_srcdir/contrib/grafana/hookspool.json
check "the dashboard is valid JSON" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$DASH"
names=$(cat "$RULES" "$DASH" | grep -o 'hookspool_[a-z_]*' | sort -u)
check "the rules and dashboard name metrics" test -n "$names"
for n in $names; do
    check "$n exists in a scrape or the textfile" \
        grep -q "^$n[{ ]" "$T/scrape.final" "$P"
done
finish
