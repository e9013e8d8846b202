#!/usr/bin/env bash
# hookspool-upload's memory stays flat whatever a batch holds: a 100+ MB
# batch with one line that is not JSON is validated (the bad line cut into
# corrupt/, the good ones streamed into the replacement batch, never held
# in memory) and loaded with a peak RSS under 40 MB; every good line is
# loaded once.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need python3 openssl curl
need_file "$HS_UPLOAD"
[ -x /usr/bin/time ] || skip "no /usr/bin/time (GNU time) for the peak RSS"

ID=522ed95e-1a2b-4c3d-8e4f-0000000f0101
TABLE=test-project.crm.hits
S=$T/spool/crm
MKBATCH=$top_srcdir/tests/upload/mkbatch.py
LIMIT_KB=40000

start_fake_bq --polls-to-done 1 || { not_ok "the fake BigQuery starts"; finish; }
up_conf "$T/hs.conf" "$ID"
mkdir -p "$S/new"
python3 "$MKBATCH" "$S/new" --batches 1 --hits 105000 --size 1000 --junk \
    --ids-out "$T/ids" >"$T/names"
b=$(cat "$T/names")
size=$(stat -c %s "$S/new/$b")
check "a batch of more than 100 MB ($size bytes)" test "$size" -gt 100000000
touch -d '-1 min' "$S/new/$b"
/usr/bin/time -f 'maxrss_kb=%M' -o "$T/time.out" \
    "$HS_UPLOAD" -c "$T/hs.conf" >"$T/up.out" 2>&1
RC=$?
sed 's/^/#   /' "$T/up.out" "$T/time.out"
is "$RC" 0 "the run exits 0"
rss=$(sed -n 's/^maxrss_kb=//p' "$T/time.out")
if grep -q __asan_init "$HS_UPLOAD"; then
    echo "# an AddressSanitizer build: its shadow memory makes RSS meaningless"
else
    check "peak RSS ${rss} kB < $LIMIT_KB kB" test "${rss:-999999999}" -lt "$LIMIT_KB"
fi
check "every good line is in the table exactly once" rows_vs_ids "$TABLE" "$T/ids"
is "$(wc -l <"$S/corrupt/$b")" 1 "the bad line is in corrupt/"
check "with its .err" grep -q "line " "$S/corrupt/$b.err"
is "$(count_files "$S/done")" 1 "the cut batch is in done/"
is "$(ls -A "$S/new")" "" "no hidden leftover in new/"

finish
