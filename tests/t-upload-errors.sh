#!/usr/bin/env bash
# hookspool-upload's permanent and temporary failures: what BigQuery
# rejects for good (a schema mismatch, an `invalid` job, a bad row,
# accessDenied, notFound) goes to failed/ with BigQuery's message in the
# .err file and exit 65; a dead network leaves everything in place with
# exit 75, a message on stderr and the backoff on disk; a config without
# project exits 78; corrupt lines (a torn last line, a line that is not
# JSON, a file of garbage) dropped into new/ go to corrupt/ and the rest
# loads.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need python3 openssl curl
need_file "$HS_UPLOAD"

ID=522ed95e-1a2b-4c3d-8e4f-0000000d0001
OTHER_ID=522ed95e-1a2b-4c3d-8e4f-0000000d0002
TABLE=test-project.crm.hits
S=$T/spool/crm
NEW=$S/new
MKBATCH=$top_srcdir/tests/upload/mkbatch.py

start_fake_bq --polls-to-done 1 || { not_ok "the fake BigQuery starts"; finish; }
up_conf "$T/hs.conf" "$ID" "http_timeout = 5s"
# A second stream on the same table, with one more column.
cat >>"$T/hs.conf" <<CONF

[stream other]
id = $OTHER_ID
table = $TABLE
columns = method
CONF
cat >>"$T/hs.conf" <<CONF

[stream orph]
id = 522ed95e-1a2b-4c3d-8e4f-0000000d0003
table = test-project.crm.orph
CONF
mkdir -p "$NEW" "$T/spool/other/new" "$T/spool/orph/tmp"
# A batch left in tmp/ by a writer that died mid-line: the uploader seals
# it once it is older than the grace period (10 s), at the end of the test.
python3 "$MKBATCH" "$T/spool/orph/tmp" --batches 1 --hits 7 --torn \
    --ids-out "$T/orph.ids" >/dev/null
ORPH_T0=$SECONDS

# upload ARGS...: one run; stdout+stderr in $T/up.out, exit code in RC.
upload() {
    "$HS_UPLOAD" "$@" >"$T/up.out" 2>&1
    RC=$?
    sed 's/^/#   /' "$T/up.out"
}
# batches N HITS: N batches into crm's new/, their names in $T/names
batches() {
    python3 "$MKBATCH" "$NEW" --batches "$1" --hits "$2" \
        --ids-out "$T/ids" >"$T/names"
}
# all_failed_with TEXT: every batch named in $T/names is in failed/, with
# a .err file holding TEXT; nothing is left in new/ or active/.
all_failed_with() {
    local b
    for b in $(cat "$T/names"); do
        [ -f "$S/failed/$b" ] || { echo "# $b is not in failed/"; return 1; }
        grep -q -- "$1" "$S/failed/$b.err" || {
            echo "# $b.err lacks '$1':"
            sed 's/^/#   /' "$S/failed/$b.err"
            return 1
        }
    done
    [ "$(count_files "$NEW")" = 0 ] && [ -z "$(ls -A "$S/active")" ]
}
# clear_failed: forget the batches in failed/ (they were checked).
clear_failed() { rm -f "$S"/failed/*; }

# --- schema mismatch: the table exists with another type -----------------
curl -s -f -o /dev/null -X POST "$FAKE_API/_fake/tables" --data-binary '{
  "table": "test-project.crm.hits",
  "schema": {"fields": [
    {"name": "hit_id", "type": "STRING", "mode": "REQUIRED"},
    {"name": "payload", "type": "STRING"},
    {"name": "received_at", "type": "STRING"},
    {"name": "date", "type": "DATE"}]},
  "timePartitioning": {"type": "DAY", "field": "date"}}' ||
    not_ok "the fake makes a table"
batches 2 10
upload -c "$T/hs.conf" -s crm
is "$RC" 65 "schema mismatch (a column's type): exit 65"
check "the batches are in failed/ with BigQuery's message" \
    all_failed_with "Provided Schema does not match Table test-project:crm.hits"
check "the message names the field" grep -q "received_at" "$S/failed/$(head -1 "$T/names").err"
check "and it is on stderr" grep -q "Provided Schema does not match" "$T/up.out"
is "$(fake_rows "$TABLE" | wc -l)" 0 "nothing was loaded"
check "the run's result is recorded as failed" grep -q '"result":"failed"' "$T/spool/.last-upload"
clear_failed

# --- another stream made the table first, with one more column ----------
# Not a mismatch: the column stays, NULL in crm's rows (ALLOW_FIELD_ADDITION;
# t-upload-schema.sh has the rest of schema evolution).
fake_reset
python3 "$MKBATCH" "$T/spool/other/new" --batches 1 --hits 5 >/dev/null
python3 - "$T/spool/other/new" <<'PY'
# The other stream's lines carry its extra column.
import json, os, sys
d = sys.argv[1]
for n in os.listdir(d):
    if n.startswith("."):
        continue
    p = os.path.join(d, n)
    rows = [dict(json.loads(l), method="POST") for l in open(p)]
    with open(p, "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
PY
upload -c "$T/hs.conf" -s other
is "$RC" 0 "the other stream (one more column) creates the table"
is "$(fake_rows "$TABLE" | wc -l)" 5 "with its 5 rows"
batches 2 10
upload -c "$T/hs.conf" -s crm
is "$RC" 0 "a stream without the table's extra column loads: exit 0"
is "$(fake_rows "$TABLE" | wc -l)" 25 "its 20 rows are appended"
rm -f "$S"/done/*	# checked; later checks compare done/ with a new table

# --- a job that ends `invalid` -------------------------------------------
fake_reset
fake_faults '{"kind":"job_error","reason":"invalid","count":1}'
batches 3 10
upload -c "$T/hs.conf" -s crm
is "$RC" 65 "a job that ends invalid: exit 65"
check "the batches are in failed/ with BigQuery's message" \
    all_failed_with "Failed to parse JSON: Unexpected end of string"
check "the .err names the reason" grep -q invalid "$S/failed/$(head -1 "$T/names").err"
fake_faults ''
clear_failed

# --- a bad row: the load job fails, all its batches go ------------------
fake_reset
batches 2 10
printf '{"hit_id":"bad-row","payload":"p","received_at":"yesterday","date":"2020-10-19"}\n' \
    >>"$NEW/$(head -1 "$T/names")"
upload -c "$T/hs.conf" -s crm
is "$RC" 65 "a row BigQuery cannot read: exit 65"
check "the batches are in failed/ with the row error" \
    all_failed_with "too many errors"
check "the .err names the bad field" grep -q "received_at" "$S/failed/$(head -1 "$T/names").err"
is "$(fake_rows "$TABLE" | wc -l)" 0 "nothing of the job was loaded"
clear_failed

# --- accessDenied and notFound on the insert -------------------------------
for f in 403:accessDenied 404:notFound; do
    fake_reset
    fake_faults "{\"kind\":\"status\",\"code\":${f%%:*},\"reason\":\"${f#*:}\",\"message\":\"injected ${f#*:}\",\"match\":\"^POST /upload/\",\"count\":1}"
    batches 1 5
    upload -c "$T/hs.conf" -s crm
    is "$RC" 65 "${f#*:} on the insert: exit 65"
    check "${f#*:}: the batch is in failed/ with the message" \
        all_failed_with "injected ${f#*:}"
    clear_failed
done
fake_faults ''

# --- a dead network ----------------------------------------------------------
fake_reset
DEAD=$(free_port)
up_conf "$T/dead.conf" "$ID" "http_timeout = 2s" \
    "token_uri = http://127.0.0.1:$DEAD/token"
sed -i "s|^api_base = .*|api_base = http://127.0.0.1:$DEAD|" "$T/dead.conf"
batches 2 10
before=$(cd "$NEW" && ls | sort)
upload -c "$T/dead.conf"
is "$RC" 75 "nothing reachable: exit 75"
check "a message on stderr" test -s "$T/up.out"
check "it names the cause" grep -qi "connect\|token" "$T/up.out"
after=$( (ls "$NEW"; find "$S/active" -name '*.ndjson' -printf '%f\n') | sort)
is "$after" "$before" "every batch is still in new/ or active/"
is "$(count_files "$S/failed")" 0 "none went to failed/"
job=$(ls "$S/active" | head -1)
if [ -n "$job" ]; then
    check "the backoff is on disk (the JOB file's mtime is ahead)" \
        test "$(stat -c %Y "$S/active/$job/JOB")" -gt "$(date +%s)"
    upload -c "$T/dead.conf"
    is "$RC$(wc -c <"$T/up.out")" 00 "a run during the backoff waits, quietly"
fi
# The API down, the token endpoint up.
up_conf "$T/api.conf" "$ID" "http_timeout = 2s"
sed -i "s|^api_base = .*|api_base = http://127.0.0.1:$DEAD|" "$T/api.conf"
upload -f -c "$T/api.conf"
is "$RC" 75 "the API unreachable: exit 75"
check "a message on stderr" grep -q "127.0.0.1:$DEAD" "$T/up.out"
after=$( (ls "$NEW"; find "$S/active" -name '*.ndjson' -printf '%f\n') | sort)
is "$after" "$before" "every batch is still in new/ or active/"
upload -f -c "$T/hs.conf" -s crm
is "$RC" 0 "the network back: exit 0"
check "every hit loaded once" rows_vs_ids "$TABLE" <(spool_ids "$S/done")
is "$(fake_rows "$TABLE" | wc -l)" 20 "the 20 hits of the outage"

# --- configuration errors ------------------------------------------------------
grep -v '^project' "$T/hs.conf" >"$T/noproject.conf"
chmod 600 "$T/noproject.conf"
batches 1 5
upload -c "$T/noproject.conf"
is "$RC" 78 "no project: exit 78"
check "the message names the file and the key" \
    grep -q "noproject.conf.*project" "$T/up.out"
is "$(count_files "$NEW")" 1 "the batch stays in new/"
printf '[stream crm]\nid = x\nbogus line\n' >"$T/broken.conf"
chmod 600 "$T/broken.conf"
upload -c "$T/broken.conf"
is "$RC" 78 "a config that does not parse: exit 78"
upload -c "$T/missing.conf"
is "$RC" 78 "a config that is not there: exit 78"
upload -f -c "$T/hs.conf" -s crm
is "$RC" 0 "(the batch loads with the good config)"

# --- corrupt lines dropped into new/ -----------------------------------------
fake_reset
: >"$T/ids"
python3 "$MKBATCH" "$NEW" --batches 2 --hits 10 --junk --torn \
    --ids-out "$T/ids" >"$T/names"
GARBAGE=9999999999.000000.admin.1.0.ndjson
head -c 3000 /dev/urandom >"$T/garbage"
cp "$T/garbage" "$NEW/$GARBAGE"
upload -c "$T/hs.conf" -s crm
is "$RC" 0 "batches with corrupt lines: the rest loads, exit 0"
check "every valid line loaded once, nothing else" rows_vs_ids "$TABLE" "$T/ids"
is "$(count_files "$NEW")$(ls -A "$S/active")" 0 "nothing left in new/ or active/"
check "the line that is not JSON is in corrupt/" \
    grep -rqs "this is not JSON {" "$S/corrupt"
check "the torn last line is in corrupt/" grep -rqs '{"payload":"torn line"' "$S/corrupt"
check "the file of garbage is in corrupt/, whole" \
    cmp -s -n 3000 "$T/garbage" "$S/corrupt/$GARBAGE"
check "corrupt/ says why, line by line" \
    grep -Eq "^[^ ]+ line 1: [a-z]" "$S/corrupt/$GARBAGE.err"
check "the torn line is called so" grep -rqs "torn last line" "$S/corrupt"
check "the run warned about the corrupt lines" grep -q "corrupt/" "$T/up.out"
check "the loaded batches hold only valid lines" \
    python3 "$TOOLS/spoolcheck.py" "$S/done"

# --- an orphaned tmp/ batch with a torn last line ---------------------------
while [ $((SECONDS - ORPH_T0)) -lt 12 ]; do sleep 1; done
upload -c "$T/hs.conf" -s orph
is "$RC" 0 "an orphaned batch in tmp/: sealed and loaded, exit 0"
check "its whole lines loaded once" rows_vs_ids test-project.crm.orph "$T/orph.ids"
check "its torn last line went to corrupt/" \
    grep -rqs '{"payload":"torn line"' "$T/spool/orph/corrupt"
is "$(count_files "$T/spool/orph/tmp")$(count_files "$T/spool/orph/new")" 00 \
    "tmp/ and new/ are empty"
finish
