#!/usr/bin/env bash
# The health URL through a real lighttpd: only <mount>/-/health answers it
# (the mount is base_url's path); its JSON is always valid, however long or
# odd the uploader's last error; the error text stays out of it unless
# health_details = yes; a failed or retrying last upload and a backlog
# older than health_max_age make it "degraded" (503 under ?strict); the
# backlog is what hookspoolctl status counts (tmp/, new/ and active/).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need lighttpd curl python3
need_file "$HS_FCGI"
need_file "$HS_CTL"

ID=522ed95e-1a2b-4c3d-8e4f-0000000000e1
hs_conf "$T/hs.conf" "$ID"
PORT=$(free_port)
start_lighttpd "$T/hs.conf" "$PORT" || { not_ok "lighttpd starts"; finish; }
B=http://127.0.0.1:$PORT
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
# hjson [QUERY]: the health answer's body, its status code in $T/code.
hjson() {
    curl -s -o "$T/health.json" -w '%{http_code}' "$B/ds/-/health${1:-}" >"$T/code"
    cat "$T/health.json"
}
# hget EXPR [QUERY]: EXPR of the health JSON h (fails on invalid JSON).
hget() {
    hjson "${2:-}" | python3 -c 'import json,sys; h=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

is "$(code "$B/ds/-/health")" 200 "<mount>/-/health answers 200"
is "$(hget 'h["status"]')" ok "a fresh spool is ok"
is "$(code "$B/ds/x/-/health")" 404 "another path ending in /-/health: 404"
is "$(code "$B/ds/ds/-/health")" 404 "<mount>/<mount>/-/health: 404"
is "$(code "$B/ds//-/health")" 404 "<mount>//-/health: 404"
is "$(code "$B/ds/-/health/")" 404 "<mount>/-/health/: 404"
is "$(code "$B/ds/-/health?strict")" 200 "?strict on a healthy pipeline: 200"

# The uploader's last result, written as hookspool-upload writes it.
last_upload() {
    python3 - "$T/spool/.last-upload" "$1" "$2" <<'PY'
import json, sys, time
err = sys.argv[3]
if err == "LONG":
    err = ('Error while reading data, error message: JSON table encountered '
           'too many errors "quoted"\n\ttab \\ backslash \u00e9 ') * 400
rec = {"time": int(time.time()), "result": sys.argv[2], "jobs": 1,
       "rows": 0, "loaded_batches": 0, "failed_batches": 1}
if err:
    rec["error"] = "POST https://bq-secret-host.example:8443/upload/x: " + err
open(sys.argv[1], "w").write(json.dumps(rec, separators=(",", ":")) + "\n")
PY
}
last_upload failed LONG
hjson >/dev/null
check "a long last error with quotes and newlines: valid JSON" \
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/health.json"
check "no error text in the answer (host names stay out)" \
    bash -c "! grep -q 'bq-secret-host\|too many errors' '$T/health.json'"
check "the answer is bounded ($(wc -c <"$T/health.json") bytes)" \
    test "$(wc -c <"$T/health.json")" -lt 4096
is "$(hget 'h["status"]')" degraded "a failed last upload: degraded"
is "$(hget 'h["last_upload"]["result"]')" failed "last_upload.result says failed"
is "$(hget '"last_upload_failed" in h["problems"]')" True "problems names it"
is "$(cat "$T/code")" 200 "a failed last upload: still 200 (hits are taken)"
is "$(code "$B/ds/-/health?strict")" 503 "a failed last upload: 503 under ?strict"
last_upload retry 'HTTP 503 "backendError"'
is "$(hget 'h["status"]')" degraded "a retrying last upload: degraded"
is "$(hget '"last_upload_retry" in h["problems"]')" True "problems names the retry"
is "$(code "$B/ds/-/health?strict")" 503 "a retrying last upload: 503 under ?strict"
last_upload ok ""
is "$(hget 'h["status"]')" ok "an ok last upload: ok"
is "$(code "$B/ds/-/health?strict")" 200 "an ok last upload: 200 under ?strict"
printf '{"time":1,"result":"ok","error":"cut in the mid' >"$T/spool/.last-upload"
hjson >/dev/null
check "a torn last-upload record: still valid JSON" \
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/health.json"
is "$(hget '"last_upload_unreadable" in h["problems"]')" True "problems names the torn record"
rm -f "$T/spool/.last-upload"

# The backlog: tmp/, new/ and active/, as hookspoolctl status counts it;
# one batch in new/ older than health_max_age (15m by default).
now=$(date +%s)
OLD=$((now - 3600)).000001.testhost.4242.1.ndjson
NEW=$((now - 10)).000001.testhost.4242.2.ndjson
JOB=hookspool_testhost_crm_00112233445566778899aabbccddee01
mkdir -p "$T/spool/crm/new" "$T/spool/crm/active/$JOB"
echo '{"hit_id":"a","payload":"","received_at":1,"date":"2026-01-01"}' >"$T/spool/crm/new/$OLD"
touch -d @$((now - 3600)) "$T/spool/crm/new/$OLD"
echo '{"hit_id":"b","payload":"","received_at":1,"date":"2026-01-01"}' >"$T/spool/crm/active/$JOB/$NEW"
echo "id $JOB" >"$T/spool/crm/active/$JOB/JOB"
is "$(hget 'h["backlog_files"]')" 2 "backlog counts new/ and active/ batches"
check "backlog_oldest_age is the old batch's (>= 3600s)" \
    test "$(hget 'h["backlog_oldest_age"]')" -ge 3600
is "$(hget 'h["status"]')" degraded "a batch older than health_max_age: degraded"
is "$(hget '"backlog_too_old" in h["problems"]')" True "problems names the old backlog"
is "$(code "$B/ds/-/health?strict")" 503 "an old backlog: 503 under ?strict"
"$HS_CTL" -c "$T/hs.conf" status --json >"$T/status.json"
is "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["backlog"]["files"])' "$T/status.json")" \
    "$(hget 'h["backlog_files"]')" "hookspoolctl status --json counts the same backlog"
stop_lighttpd

# health_max_age = 0: no age check; health_details = yes: the error is
# shown, escaped and cut.
hs_conf "$T/hs2.conf" "$ID" "health_max_age = 0" "health_details = yes"
start_lighttpd "$T/hs2.conf" "$PORT" || { not_ok "lighttpd restarts"; finish; }
is "$(hget 'h["status"]')" ok "health_max_age = 0: an old backlog is no problem"
last_upload failed LONG
hjson >/dev/null
check "health_details = yes: valid JSON" \
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/health.json"
check "health_details = yes: the error is shown" grep -q 'bq-secret-host' "$T/health.json"
check "health_details = yes: the answer stays bounded" \
    test "$(wc -c <"$T/health.json")" -lt 4096
finish
