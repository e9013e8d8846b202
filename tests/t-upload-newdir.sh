#!/usr/bin/env bash
# What lies in new/ that is not (yet) a batch:
# - a hidden .X.valid left by a crash between validation's exchange of
#   names and its unlink is removed by the next uploader run (new/) or by
#   hookspoolctl repair (hold/, failed/), and never loaded;
# - a file still being copied straight into new/ (cp, not copy-then-mv) is
#   left alone until it has not changed for a few seconds; then it loads
#   whole, once.  A hidden file in new/ is never taken.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need python3 openssl curl
need_file "$HS_UPLOAD"
need_file "$HS_CTL"

ID=522ed95e-1a2b-4c3d-8e4f-0000000f0201
TABLE=test-project.crm.hits
S=$T/spool/crm
MKBATCH=$top_srcdir/tests/upload/mkbatch.py

start_fake_bq --polls-to-done 1 || { not_ok "the fake BigQuery starts"; finish; }
up_conf "$T/hs.conf" "$ID"
mkdir -p "$S/new" "$S/hold"
upload() {
    "$HS_UPLOAD" -c "$T/hs.conf" "$@" >"$T/up.out" 2>&1
    RC=$?
    sed 's/^/#   /' "$T/up.out"
}

# --- a stale .X.valid --------------------------------------------------------
python3 "$MKBATCH" "$S/new" --batches 1 --hits 4 --ids-out "$T/ids" >"$T/names"
b=$(cat "$T/names")
# The original, with a bad line, under the hidden name after the exchange.
python3 "$MKBATCH" "$T" --batches 1 --hits 3 --junk >"$T/orig"
mv "$T/$(cat "$T/orig")" "$S/new/.$b.valid"
python3 "$MKBATCH" "$T" --batches 1 --hits 2 >"$T/orig2"
mv "$T/$(cat "$T/orig2")" "$S/hold/.held.ndjson.valid"
touch -d '-1 min' "$S"/new/* "$S"/new/.* "$S"/hold/.held.ndjson.valid 2>/dev/null
upload
is "$RC" 0 "the run exits 0"
check "the stale .X.valid is gone from new/" test ! -e "$S/new/.$b.valid"
check "only the batch loaded, once" rows_vs_ids "$TABLE" "$T/ids"
"$HS_CTL" -c "$T/hs.conf" repair >"$T/repair.out" 2>&1
sed 's/^/#   /' "$T/repair.out"
check "repair removes a stale .X.valid from hold/" test ! -e "$S/hold/.held.ndjson.valid"

# --- a file being copied into new/ -----------------------------------------
fake_reset
python3 "$MKBATCH" "$T" --batches 1 --hits 40 --ids-out "$T/ids2" >"$T/slow"
src=$T/$(cat "$T/slow")
dst=$S/new/$(cat "$T/slow")
# A slow cp: a line every 0.2 s, 8 s in all.
python3 - "$src" "$dst" <<'PY' &
import sys, time
lines = open(sys.argv[1], "rb").readlines()
with open(sys.argv[2], "wb") as f:
    for l in lines:
        f.write(l)
        f.flush()
        time.sleep(0.2)
PY
cp_pid=$!
HS_PIDS+=($cp_pid)
wait_for 10 test -s "$dst" || not_ok "the copy starts"
sleep 1
upload
is "$RC" 0 "a run while the copy goes on exits 0"
is "$(fake_rows "$TABLE" | wc -l)" 0 "and takes nothing of the file being copied"
check "which is still in new/" test -f "$dst"
upload
is "$(fake_rows "$TABLE" | wc -l)" 0 "nor does the next run, while it grows"
wait "$cp_pid"
upload
is "$RC" 0 "once the copy is done, a run loads it"
check "whole, once" rows_vs_ids "$TABLE" "$T/ids2"

# --- a hidden file in new/ -------------------------------------------------
fake_reset
python3 "$MKBATCH" "$T" --batches 1 --hits 3 >"$T/hid"
mv "$T/$(cat "$T/hid")" "$S/new/.copying.ndjson"
touch -d '-1 min' "$S/new/.copying.ndjson"
upload
is "$(fake_rows "$TABLE" | wc -l)" 0 "a hidden file in new/ is not loaded"
check "and is left where it is" test -f "$S/new/.copying.ndjson"

finish
