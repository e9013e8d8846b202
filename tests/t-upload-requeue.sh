#!/usr/bin/env bash
# Recovery that loads: a job BigQuery ends `invalid` sends its batches to
# failed/; "fix the table, then requeue ALL" loads them exactly once under
# a new job id (a job id is unique per claim, never the failed job's);
# `hookspoolctl replay` sends done/ batches back on purpose (by name, by
# load-date range) and they load a second time.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need python3 openssl curl
need_file "$HS_UPLOAD"
need_file "$HS_CTL"

ID=522ed95e-1a2b-4c3d-8e4f-0000000e0001
TABLE=test-project.crm.hits
S=$T/spool/crm
MKBATCH=$top_srcdir/tests/upload/mkbatch.py

start_fake_bq --polls-to-done 1 || { not_ok "the fake BigQuery starts"; finish; }
up_conf "$T/hs.conf" "$ID"
mkdir -p "$S/new"
upload() {
    "$HS_UPLOAD" -c "$T/hs.conf" "$@" >"$T/up.out" 2>&1
    RC=$?
    sed 's/^/#   /' "$T/up.out"
}
ctl() { "$HS_CTL" -c "$T/hs.conf" "$@"; }
# job_ids: the ids of the jobs the fake was asked to insert, one a line.
job_ids() { fake_state 'chr(10).join(j["id"] for j in s["jobs"])'; }
# old_new: age new/ so the uploader does not wait for fresh files.
old_new() { touch -d '-1 min' "$S"/new/* 2>/dev/null; true; }

# --- fix the table, then requeue ALL --------------------------------------
fake_faults '{"kind":"job_error","reason":"invalid","count":1}'
python3 "$MKBATCH" "$S/new" --batches 3 --hits 10 --ids-out "$T/ids" \
    >"$T/names"
old_new
upload
is "$RC" 65 "run 1: the job ends invalid: exit 65"
is "$(count_files "$S/failed" )" 6 "its 3 batches (and .err files) are in failed/"
job_ids >"$T/jobs1"
is "$(wc -l <"$T/jobs1")" 1 "one job was inserted"
fake_faults ''
out=$(ctl requeue ALL)
is "$out" "3 requeued" "requeue ALL says so"
old_new
upload
is "$RC" 0 "run 2 after requeue ALL: exit 0"
job_ids >"$T/jobs2"
check "run 2 inserted a job under a new id" \
    test "$(sort -u "$T/jobs2" | wc -l)" = 2
check "every requeued hit is in the table exactly once" \
    rows_vs_ids "$TABLE" "$T/ids"
is "$(count_files "$S/done")" 3 "the 3 batches are in done/"
is "$(count_files "$S/failed")" 0 "failed/ is empty"
upload
is "$RC" 0 "run 3 has nothing to do"
check "and loads nothing more" rows_vs_ids "$TABLE" "$T/ids"

# --- the job id: [A-Za-z0-9_-], stable across a retry of the claim -------
check "job ids use only [A-Za-z0-9_-]" \
    sh -c "! grep -qv '^[A-Za-z0-9_-]*\$' '$T/jobs2'"
fake_reset
python3 "$MKBATCH" "$S/new" --batches 1 --hits 4 --ids-out "$T/ids2" \
    >/dev/null
old_new
fake_faults '{"kind":"status","code":503,"match":"^POST /upload/","count":50}'
upload
is "$RC" 75 "an insert answered 503: exit 75, the job stays in active/"
jobdir=$(ls "$S/active")
fake_faults ''
upload -f
is "$RC" 0 "the retry (-f) loads it"
check "under the id the claim wrote into active/ ($jobdir)" \
    grep -q "^$jobdir" <(job_ids)
is "$(fake_rows "$TABLE" | wc -l)" 4 "its 4 rows, once"

# --- replay: done/ back to new/ on purpose --------------------------------
fake_reset
python3 "$MKBATCH" "$S/new" --batches 2 --hits 5 --ids-out "$T/ids3" \
    >"$T/names3"
old_new
upload
is "$RC" 0 "2 batches load"
is "$(fake_rows "$TABLE" | wc -l)" 10 "10 rows"
first=$(head -1 "$T/names3")
out=$(ctl replay "$first")
is "$out" "1 replayed" "replay BATCH prints its count"
check "the batch is back in new/" test -f "$S/new/$first"
old_new
upload
is "$RC" 0 "the replayed batch loads"
is "$(fake_rows "$TABLE" | wc -l)" 15 "its 5 rows a second time"
ctl replay nosuchbatch >/dev/null 2>&1
is "$?" 66 "replay of an unknown batch: exit 66"
is "$(count_files "$S/new")" 0 "and moves nothing"

# By load date: done/ batches' mtime is when they were loaded.
second=$(sed -n 2p "$T/names3")
touch -d '2025-06-01 12:00:00 UTC' "$S"/done/*
touch -d '2026-01-10 12:00:00 UTC' "$S/done/$first"
touch -d '2026-01-20 12:00:00 UTC' "$S/done/$second"
out=$(ctl replay --since 2026-01-15)
is "$out" "1 replayed" "replay --since DATE takes the batches loaded since"
ctl replay --since 2026-01-15 --until 2026-01-16T00:00Z >"$T/none"
is "$(cat "$T/none")" "0 replayed" "--until DATETHH:MM is exact"
check "the later one" test -f "$S/new/$second"
check "not the earlier one" test -f "$S/done/$first"
mv "$S/new/$second" "$S/done/$second"
touch -d '2026-01-20 12:00:00 UTC' "$S/done/$second"
out=$(ctl replay --since 2026-01-01 --until 2026-01-10)
is "$out" "1 replayed" "replay --since DATE --until DATE: the day of --until counts"
check "the earlier one" test -f "$S/new/$first"
check "not the later one" test -f "$S/done/$second"
ctl replay --until 2026-01-01 >/dev/null 2>&1
is "$?" 64 "--until without --since: usage"
ctl replay --since yesterday >/dev/null 2>&1
is "$?" 64 "a date that is not YYYY-MM-DD[THH:MM:SS]: usage"

finish
