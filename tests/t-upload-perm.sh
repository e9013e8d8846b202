#!/usr/bin/env bash
# hookspool-upload and the spool's owner (run as root):
# - a spool file the uploader cannot read (a root-owned JOB left in active/
#   by a root run) makes the next www-data run exit non-zero (77) and
#   record a failure in .last-upload, never "ok";
# - an unreadable per-table quota ledger is neither counted as 0 nor
#   rewritten;
# - a root-run uploader becomes the spool's owner: it leaves nothing
#   root-owned in a www-data spool, and follows no symlink the owner
#   planted (.last-upload.tmp, .lock).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need python3 openssl curl setpriv
need_file "$HS_UPLOAD"
[ "$(id -u)" = 0 ] || skip "needs root (to play root and www-data)"
getent passwd www-data >/dev/null || skip "no user www-data"

ID=522ed95e-1a2b-4c3d-8e4f-0000000f0001
TABLE=test-project.crm.hits
S=$T/spool/crm
MKBATCH=$top_srcdir/tests/upload/mkbatch.py
LEDGER=$T/spool/.quota-test-project-crm-hits

start_fake_bq --polls-to-done 1 || { not_ok "the fake BigQuery starts"; finish; }
up_conf "$T/hs.conf" "$ID"
# As the README says: the config is root's, readable by www-data (a config
# its reader does not own and root did not write is refused).
chown root:www-data "$T/hs.conf"
chmod 640 "$T/hs.conf"
chown -R www-data "$T/key"
mkdir -p "$T/spool"
chown www-data:www-data "$T/spool"
# as_www CMD...: CMD as www-data, as cron would run it.
as_www() { setpriv --reuid=www-data --regid=www-data --clear-groups "$@"; }
as_www "$HS_UPLOAD" -c "$T/hs.conf" || not_ok "a first www-data run"
# upload [-w] ARGS...: one run (-w: as www-data); output in $T/up.out,
# exit code in RC.
upload() {
    local pre=()
    if [ "${1:-}" = -w ]; then
        pre=(setpriv --reuid=www-data --regid=www-data --clear-groups)
        shift
    fi
    "${pre[@]}" "$HS_UPLOAD" -c "$T/hs.conf" "$@" >"$T/up.out" 2>&1
    RC=$?
    sed 's/^/#   /' "$T/up.out"
}
result() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["result"])' "$T/spool/.last-upload"; }
mkb() {
    python3 "$MKBATCH" "$S/new" --batches "$1" --hits "$2" \
        --ids-out "$T/ids" >/dev/null
    chown www-data:www-data "$S"/new/*
    touch -d '-1 min' "$S"/new/*
}

# --- a root-owned JOB in active/ ---------------------------------------------
JOB=hookspool_testhost_crm_0123456789abcdef0123456789abcdef
mkdir -m 750 "$S/active/$JOB"
python3 "$MKBATCH" "$S/active/$JOB" --batches 1 --hits 3 >"$T/jobnames"
b=$(cat "$T/jobnames")
printf 'id %s\nattempt 0\ntries 0\nfile %s %s\n' "$JOB" "$b" \
    "$(stat -c %s "$S/active/$JOB/$b")" >"$S/active/$JOB/JOB"
chmod 640 "$S/active/$JOB/JOB" "$S/active/$JOB/$b"
upload -w
check "an unreadable JOB in active/: exit non-zero ($RC)" test "$RC" -ne 0
is "$RC" 77 "EX_NOPERM"
check "the reason is on stderr" grep -q "Permission denied" "$T/up.out"
check "the recorded result is not ok ($(result))" test "$(result)" != ok
is "$(result)" noperm "it says noperm"
rm -rf "${S:?}/active/$JOB"

# --- an unreadable quota ledger ---------------------------------------------
now=$(date +%s)
printf '%s\n%s\n%s\n' $((now - 300)) $((now - 200)) $((now - 100)) >"$LEDGER"
chmod 600 "$LEDGER"
sum=$(md5sum <"$LEDGER")
mkb 1 5
upload -w
check "an unreadable quota ledger: exit non-zero ($RC)" test "$RC" -ne 0
check "the recorded result is not ok ($(result))" test "$(result)" != ok
is "$(md5sum <"$LEDGER")" "$sum" "the ledger is not rewritten"
is "$(stat -c %U "$LEDGER")" root "it is still the root-owned file"
is "$(fake_rows "$TABLE" | wc -l)" 0 "nothing was loaded past an unknown cap"
rm -f "$LEDGER"
upload -w
is "$RC" 0 "once the ledger is gone, the run loads"
is "$(result)" ok "and records ok"
is "$(fake_rows "$TABLE" | wc -l)" 5 "the 5 rows"

# --- a root run in a www-data spool -----------------------------------------
echo precious >"$T/victim"
chmod 644 "$T/victim"
echo precious2 >"$T/victim2"
chmod 644 "$T/victim2"
as_www ln -sf "$T/victim" "$T/spool/.last-upload.tmp"
as_www rm -f "$T/spool/.lock"
as_www ln -s "$T/victim2" "$T/spool/.lock"
mkb 2 5
upload -f
is "$(cat "$T/victim")" precious "the planted .last-upload.tmp symlink was not followed"
is "$(cat "$T/victim2")" precious2 "nor the planted .lock symlink"
as_www rm -f "$T/spool/.lock"
mkb 2 5
upload -f
is "$RC" 0 "a root run (-f) loads"
is "$(fake_rows "$TABLE" | wc -l)" 25 "every row"
find "$T/spool" -user root >"$T/rootfiles"
sed 's/^/#   root-owned: /' "$T/rootfiles"
is "$(wc -l <"$T/rootfiles")" 0 "and leaves nothing root-owned in the spool"
# Even as the owner, a link is replaced, never written through.
echo mine >"$T/wwwfile"
chown www-data "$T/wwwfile"
as_www ln -sf "$T/wwwfile" "$T/spool/.last-upload.tmp"
mkb 1 5
upload -w
is "$RC" 0 "the next www-data run loads"
is "$(cat "$T/wwwfile")" mine "a planted .last-upload.tmp link is not written through"
check ".last-upload is a plain file" test -f "$T/spool/.last-upload" -a ! -L "$T/spool/.last-upload"
is "$(fake_rows "$TABLE" | wc -l)" 30 "its rows too"
is "$(result)" ok "and records ok"

finish
