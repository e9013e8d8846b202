#!/usr/bin/env bash
# The per-table daily cap on load jobs: the uploader starts at most
# jobs_per_table_per_day jobs per table in 24 hours, streams that share a
# table share the cap, it says so in the log when it holds a stream back,
# and the held batches load once the window has room.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need_file "$HS_UPLOAD"
start_fake_bq || { not_ok "the fake BigQuery starts"; finish; }

ID=3f2e1d0c-bbbb-4ccc-8ddd-00000000000c
# Batches of ~15 KB and jobs of at most 4 KB: one batch per job.
up_conf "$T/hs.conf" "$ID" "jobs_per_table_per_day = 2" "job_max_bytes = 4K"
cat >>"$T/hs.conf" <<CONF

[stream second]
id = $ID-2
table = test-project.crm.hits
CONF
mkdir -p "$T/spool/crm/new" "$T/spool/second/new"
python3 "$top_srcdir/tests/upload/mkbatch.py" "$T/spool/crm/new" --batches 3 \
    --hits 60 --size 200 --ids-out "$T/ids" >/dev/null
python3 "$top_srcdir/tests/upload/mkbatch.py" "$T/spool/second/new" --batches 1 \
    --hits 60 --size 200 --ids-out "$T/ids" >/dev/null

"$HS_UPLOAD" -v -c "$T/hs.conf" >"$T/out1" 2>&1
is "$?" 0 "a run held back by the cap exits 0"
is "$(count_files "$T/spool/crm/done")" 2 "two jobs ran: two batches loaded"
is "$(count_files "$T/spool/crm/new")" 1 "the third batch is held in new/"
is "$(count_files "$T/spool/second/new")" 1 "the other stream on the same table is held too"
check "the log says it holds back, naming the cap" grep -q "holding back 1 batches: 2 load jobs for test-project.crm.hits in the last 24 h (cap jobs_per_table_per_day = 2)" "$T/out1"
is "$(grep -c '' "$T/spool/.quota-test-project-crm-hits")" 2 "the job starts are kept on disk"

"$HS_UPLOAD" -c "$T/hs.conf" >"$T/out2" 2>&1
is "$?" 0 "a held-back run without -v is quiet: exit 0"
is "$(wc -c <"$T/out2")" 0 "and prints nothing (syslog has the notice)"

# A day later the window has room again.
python3 - "$T/spool/.quota-test-project-crm-hits" <<'PY'
import sys, time
with open(sys.argv[1], "w") as f:
    for _ in range(2):
        f.write("%d\n" % (time.time() - 86400 - 60))
PY
"$HS_UPLOAD" -c "$T/hs.conf"
is "$?" 0 "after 24 hours the held batches load"
is "$(count_files "$T/spool/crm/new")$(count_files "$T/spool/second/new")" 00 "nothing is left in new/"
check "every hit loaded exactly once" rows_vs_ids test-project.crm.hits "$T/ids"
finish
