#!/usr/bin/env bash
# Chaos on a full spool: no 2xx'd hit is lost when the disk fills up, and
# the collector serves again once the uploader has drained the spool.  The
# spool is a 3M tmpfs (root needed, else skip); hits come at 300/s with
# responder SIGKILLs, uploader runs killed at random and `repair` runs.
#   A  min_free_space = 512K.  BigQuery down (every API request 503): the
#      spool fills to the floor and the collector answers 503 (never a 2xx
#      for a hit it could not keep).  BigQuery back (random transient
#      faults): the uploader drains, keep_done = 0s empties done/ at once,
#      and hits are answered 2xx again, without a restart.
#   B  min_free_space = DISKFULL_FREE (0), BigQuery down: the disk really
#      fills (ENOSPC) beside a 1M filler file; the same checks.  Then the
#      admin removes the filler: 2xx at once, and the uploader drains.
#   C  no load: batches in new/, nothing in active/, the disk 100% full
#      (a file beside the spool fills it), BigQuery up: the uploader alone
#      must drain the spool (it is the only one who can free space).
# Then the system settles and the hit_ids answered 2xx in every phase are
# compared with the fake's rows: none missing, none twice.  Knobs:
# DISKFULL_FREE, CHAOS_SEED, KEEP=1 (the tmpfs is unmounted all the same;
# a failed run is copied to /tmp/t-chaos-diskfull-failed.PID).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need lighttpd curl python3 openssl
need_file "$HS_FCGI"
need_file "$HS_UPLOAD"
need_file "$HS_CTL"
CHAOS=$top_srcdir/tests/chaos/chaos.py
ID=522ed95e-1a2b-4c3d-8e4f-00000000d15c
TABLE=test-project.crm.hits
SEED=${CHAOS_SEED:-$((RANDOM * 32768 + RANDOM))}
FREE=${DISKFULL_FREE:-0}
echo "# CHAOS_SEED=$SEED DISKFULL_FREE=$FREE"
mkdir -p "$T/spool"
mount -t tmpfs -o size=3m tmpfs "$T/spool" 2>/dev/null ||
    skip "cannot mount a tmpfs (needs root)"
HS_MOUNTS+=("$T/spool")

start_fake_bq --seed "$SEED" --polls-to-done 1 ||
    { not_ok "the fake BigQuery starts"; finish; }
PORT=$(free_port)
URL=http://127.0.0.1:$PORT/ds/$ID
OUT=$T/chaos
mkdir -p "$OUT"
sj() { python3 -c 'import json,sys; print(eval(sys.argv[2], {}, json.load(open(sys.argv[1]))))' "$OUT/$1-storm.json" "$2"; }

# collector FREE: (re)start lighttpd on a config with min_free_space FREE.
collector() {
    up_conf "$T/hs.conf" "$ID" "batch_max_hits = 50" "min_free_space = $1" \
        "keep_done = 0s" "jobs_per_table_per_day = 100000" \
        "job_max_bytes = 1M" "multipart_max = 512K" "chunk_size = 256K" \
        "http_timeout = 5s" "job_timeout = 20s"
    start_lighttpd "$T/hs.conf" "$PORT"
}
# storm TAG SECONDS ARGS...: load with kills at 300 hits/s.
storm() {
    local tag=$1 secs=$2
    shift 2
    python3 "$CHAOS" storm --url "$URL" --out "$OUT" --tag "$tag" \
        --seconds "$secs" --rate 300 --clients 2 --concurrency 4 \
        --body-bytes 1000 --lighttpd-pid "$LIGHTTPD_PID" --fcgi "$HS_FCGI" \
        --kill-every 2-5 --upload "$HS_UPLOAD" --conf "$T/hs.conf" \
        --upload-every 0.5-2 --upload-kill 0.4 --upload-kill-after 0-1.5 \
        --upload-force 0.8 --hang 120 --ctl "$HS_CTL" --repair-every 5-10 \
        --fake "$FAKE_API" "$@"
}
# full TAG WHAT: the checks after hits were sent to a full spool.
full() {
    local code ra res f probe
    df -k "$T/spool" | sed -n "2s/^/# spool after $1: /p"
    # Bigger than a page: a small hit may still fit in the slack of the
    # open batch's last tmpfs page, and then a 2xx is right.
    probe="probe=$1&pad=$(head -c 20000 /dev/zero | tr '\0' x)"
    code=$(curl -s -o /dev/null -w '%{http_code}' -d "$probe" "$URL")
    is "$code" 503 "$2: a 20K hit is answered 503"
    ra=$(curl -s -D - -o /dev/null -d "$probe" "$URL" | tr -d '\r' | sed -n 's/^Retry-After: //p')
    check "$2: the 503 carries Retry-After ($ra)" test -n "$ra"
    check "$2: hits were refused with 503 ($(sj "$1" 'load.get("err5xx",0)'))" \
        test "$(sj "$1" 'load.get("err5xx",0)')" -gt 100
    check "$2: before it filled, hits were answered 2xx ($(sj "$1" 'load.get("ok2xx",0)'))" \
        test "$(sj "$1" 'load.get("ok2xx",0)')" -gt 100
    is "$(sj "$1" 'load.get("err4xx",0)')" 0 "$2: no 4xx"
    is "$(sj "$1" 'chaos.get("upload_hangs",0)')" 0 "$2: no uploader run hung"
    # Nothing lost or doubled on disk yet: BigQuery was down throughout.
    for f in "$OUT/$1"-*.jsonl; do cat "$f"; done >"$T/acked-$1"
    res=$(python3 "$TOOLS/spoolcheck.py" --allow-torn --acked "$T/acked-$1" \
        "$T/spool/crm/tmp" "$T/spool/crm/new" "$T"/spool/crm/active/*/*.ndjson)
    echo "# $1: $res"
    check "$2: every 2xx'd hit is on disk exactly once" \
        grep -q "missing=0 duplicated=0" <<<"$res"
}
# back TAG WHAT [ROWS_BEFORE]: BigQuery is back: 2xx again; with
# ROWS_BEFORE, the uploader must have loaded rows during the phase.
back() {
    local rows
    df -k "$T/spool" | sed -n "2s/^/# spool after $1: /p"
    rows=$(fake_rows "$TABLE" | wc -l)
    echo "# $1: rows in BigQuery ${3:-?} -> $rows"
    [ -z "${3:-}" ] || check "$2: the uploader loaded rows under load ($3 -> $rows)" \
        test "$rows" -gt "$3"
    is "$(sj "$1" 'chaos.get("upload_hangs",0)')" 0 "$2: no uploader run hung"
    is "$(sj "$1" 'sorted(set(upload_exit) - {"0", "75"})')" "[]" \
        "$2: uploader runs exited 0 or 75 only ($(sj "$1" 'upload_exit'))"
    wait_for 10 test "$(responder_pids | wc -l)" -eq 2
    # The load may outrun an uploader that is killed half the time: once
    # it stops, the uploader must drain, and then the collector serves.
    check "$2: the uploader drains once the load stops" drain
    python3 "$CHAOS" storm --url "$URL" --out "$OUT" --tag "$1-after" \
        --hits 300 --clients 1 --concurrency 4 --body-bytes 1000
    is "$(sj "$1-after" 'load.get("ok2xx")')" 300 \
        "$2: every hit is answered 2xx again"
}
# drain: uploader -f until new/ and active/ are empty (at most 5 runs).
drain() {
    local n
    for n in 1 2 3 4 5; do
        "$HS_UPLOAD" -f -c "$T/hs.conf" >>"$OUT/drain.log" 2>&1 &&
            [ "$(count_files "$T/spool/crm/new")" = 0 ] &&
            [ -z "$(ls "$T/spool/crm/active")" ] && return 0
    done
    return 1
}
DOWN='[{"kind":"status","code":503}]'

# --- A: min_free_space = 512K: 503 before the disk is full ---------------
collector 512K || { not_ok "lighttpd starts"; finish; }
storm afull 15 --fault-fixed "$DOWN" --seed "$SEED"
full afull "A (min_free_space, BigQuery down)"
rows=$(fake_rows "$TABLE" | wc -l)
storm aback 20 --rate 150 --fault-every 3-6 --fault-on 0.4 \
    --seed "$((SEED + 1))"
back aback "A (BigQuery back, drained)" "$rows"
stop_lighttpd
check "A: drained before B" drain

# --- B: min_free_space = 0: the disk really fills (ENOSPC) ----------------
# A filler the admin can remove takes 1M of the 3M.
dd if=/dev/zero of="$T/spool/filler" bs=1k count=1024 2>/dev/null
collector "$FREE" || { not_ok "lighttpd restarts"; finish; }
storm bfull 15 --fault-fixed "$DOWN" --seed "$((SEED + 2))"
# The storm filled it, but what it left free by the end varies (a CI run
# had 184K: cut-back lines, files of killed uploader runs): the probes of
# full() need it full, so a second filler takes what is left.
dd if=/dev/zero of="$T/spool/topup" bs=4k 2>/dev/null
full bfull "B (ENOSPC, BigQuery down)"
# The admin frees space: 2xx comes back at once, and the uploader drains.
# (Not under load: with min_free_space = 0 the responders take the freed
# space back within seconds, and whether the uploader gets a page for its
# JOB file first is a race; C below shows why, exactly.)
rm -f "$T/spool/filler" "$T/spool/topup"
python3 "$CHAOS" storm --url "$URL" --out "$OUT" --tag bfreed --hits 300 \
    --clients 1 --concurrency 4 --body-bytes 1000
is "$(sj bfreed 'load.get("ok2xx")')" 300 \
    "B (filler removed): every hit is answered 2xx again"
seal_responders crm
check "B (filler removed): the uploader drains the spool" drain

# --- C: the uploader on a spool with no byte free -------------------------
# Batches in new/, nothing in active/, the filesystem 100% full (another
# program filled it, or min_free_space = 0), BigQuery up: the uploader is
# the only thing that can free space, so it must drain without writing
# first.  Deterministic: no load, no kills.
python3 "$CHAOS" storm --url "$URL" --out "$OUT" --tag cload --hits 600 \
    --clients 1 --concurrency 4 --body-bytes 1000
seal_responders crm
dd if=/dev/zero of="$T/spool/topup" bs=4k 2>/dev/null
df -k "$T/spool" | sed -n '2s/^/# spool before C: /p'
echo "# C: $(count_files "$T/spool/crm/new") batches in new/, $(ls "$T/spool/crm/active" | wc -l) jobs in active/"
rows0=$(fake_rows "$TABLE" | wc -l)
: >"$OUT/c-upload.log"
rcs=
for n in 1 2 3; do
    "$HS_UPLOAD" -f -c "$T/hs.conf" >>"$OUT/c-upload.log" 2>&1
    rcs="$rcs $?"
done
rows1=$(fake_rows "$TABLE" | wc -l)
echo "# C: uploader exits:$rcs; rows $rows0 -> $rows1; new/ holds $(count_files "$T/spool/crm/new")"
sed 's/^/#   /' "$OUT/c-upload.log" | sort | uniq -c | sort -rn | head -4
check "C: on a 100% full spool the uploader still loads and drains new/ (exits:$rcs)" \
    test "$rows1" -gt "$rows0" -a "$(count_files "$T/spool/crm/new")" -eq 0
rm -f "$T/spool/topup"

stop_lighttpd
check "the system settles: repair, then uploader -f until exit 0 and nothing left" \
    python3 "$CHAOS" settle --upload "$HS_UPLOAD" --conf "$T/hs.conf" \
    --ctl "$HS_CTL" --spool "$T/spool/crm" --fake "$FAKE_API" \
    --log "$OUT/settle.log"
res=$(python3 "$CHAOS" verify --out "$OUT" --fake "$FAKE_API" --table "$TABLE" \
    --spool "$T/spool/crm" --json "$OUT/verify.json")
rc=$?
echo "# $res"
is "$rc" 0 "every 2xx'd hit loaded exactly once, payloads intact, nothing left over"
if [ "$HS_FAILED" -gt 0 ] && [ "${KEEP:-0}" != 1 ]; then
    keep=/tmp/t-chaos-diskfull-failed.$$
    cp -a "$T" "$keep" 2>/dev/null && echo "# the run is kept in $keep"
fi
finish
