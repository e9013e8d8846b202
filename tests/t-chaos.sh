#!/usr/bin/env bash
# Chaos, end to end: every hit answered 2xx reaches BigQuery exactly once.
# Several load clients post through lighttpd (max-procs 2, threads 4) while
# tests/chaos/chaos.py SIGKILLs responder processes (lighttpd respawns
# them), runs hookspool-upload back to back and SIGKILLs half the runs at
# random moments, runs `hookspoolctl repair` now and then, and switches the
# fake BigQuery's transient faults on and off.  Then the system settles
# (lighttpd stopped, past the orphan grace, repair, `hookspool-upload -f`
# until it exits 0 with tmp/ new/ active/ empty) and the hit_ids answered
# 2xx are compared with the fake's rows: none missing, none twice, every
# payload as sent.  Rows of hits never answered 2xx (killed between the
# write and the answer) are allowed.  Knobs: CHAOS_SECONDS (60),
# CHAOS_SEED (random; printed to replay the choices), KEEP=1.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need lighttpd curl python3 openssl
need_file "$HS_FCGI"
need_file "$HS_UPLOAD"
need_file "$HS_CTL"
CHAOS=$top_srcdir/tests/chaos/chaos.py
ID=522ed95e-1a2b-4c3d-8e4f-00000000c4a0
TABLE=test-project.crm.hits
SECS=${CHAOS_SECONDS:-60}
SEED=${CHAOS_SEED:-$((RANDOM * 32768 + RANDOM))}
echo "# CHAOS_SECONDS=$SECS CHAOS_SEED=$SEED"

start_fake_bq --seed "$SEED" --polls-to-done 1 || { not_ok "the fake BigQuery starts"; finish; }
# Small jobs (several a run, some resumable) so that kills and faults can
# land in any phase; timeouts short so that a stuck request costs seconds.
up_conf "$T/hs.conf" "$ID" "batch_max_hits = 200" \
    "jobs_per_table_per_day = 100000" "job_max_bytes = 2M" \
    "multipart_max = 1M" "chunk_size = 256K" "http_timeout = 5s" \
    "job_timeout = 20s" "keep_done = 1h"
PORT=$(free_port)
start_lighttpd "$T/hs.conf" "$PORT" || { not_ok "lighttpd starts"; finish; }
URL=http://127.0.0.1:$PORT/ds/$ID
OUT=$T/chaos
mkdir -p "$OUT"
check "two responders at the start" test "$(responder_pids | wc -l)" -eq 2

python3 "$CHAOS" storm --url "$URL" --out "$OUT" --tag storm \
    --seconds "$SECS" --rate 800 --clients 3 --concurrency 4 --body-bytes 200 \
    --lighttpd-pid "$LIGHTTPD_PID" --fcgi "$HS_FCGI" --kill-every 1-4 \
    --upload "$HS_UPLOAD" --conf "$T/hs.conf" --upload-every 0.2-2 \
    --upload-kill 0.7 --upload-kill-after 0-1.5 --upload-force 0.8 --hang 120 \
    --ctl "$HS_CTL" --repair-every 4-10 \
    --fake "$FAKE_API" --fault-every 2-6 --fault-on 0.6 --seed "$SEED"
S=$OUT/storm-storm.json
sj() { python3 -c 'import json,sys; print(eval(sys.argv[2], {}, json.load(open(sys.argv[1]))))' "$S" "$1"; }
echo "# events (first 15 of $(wc -l <"$OUT/storm-events.log")):"
head -15 "$OUT/storm-events.log" | sed 's/^/#   /'
# About one responder signal every 2.5 s (80% SIGKILL); uploader runs
# every 0.2-2 s, 70% SIGKILLed, but a run left alone under faults may take
# 20 s, so as few as ~10 runs a minute: want well under what is expected.
minr=$((SECS / 6))
minu=$((SECS / 20))
[ "$minu" -ge 3 ] || minu=3
check "responders were SIGKILLed ($(sj 'chaos.get("responder_kills",0)') times, want >= $minr)" \
    test "$(sj 'chaos.get("responder_kills",0)')" -ge "$minr"
check "uploader runs were SIGKILLed ($(sj 'chaos.get("upload_kills",0)') of $(sj 'chaos.get("upload_runs",0)'), want >= $minu)" \
    test "$(sj 'chaos.get("upload_kills",0)')" -ge "$minu"
is "$(sj 'chaos.get("upload_hangs",0)')" 0 "no uploader run hung"
is "$(sj 'sorted(set(upload_exit) - {"0", "75"})')" "[]" \
    "uploader runs exited 0 or 75 only ($(sj 'upload_exit'))"
fired=$(fake_state 'sum(s["counters"]["faults_fired"].values())')
check "faults fired ($fired times)" test "${fired:-0}" -gt 0
is "$(sj 'load.get("err4xx",0)')" 0 "no 4xx under chaos"
check "most hits were answered 2xx ($(sj 'load.get("ok2xx",0)') of $(sj 'load.get("sent",0)'))" \
    test "$(sj 'load.get("ok2xx",0) * 10 >= load.get("sent",0) * 8')" = True

# After the storm the collector serves again, without a restart.
wait_for 10 test "$(responder_pids | wc -l)" -eq 2
check "lighttpd respawned the responders (2 running)" \
    test "$(responder_pids | wc -l)" -eq 2
python3 "$CHAOS" storm --url "$URL" --out "$OUT" --tag after --hits 200 \
    --clients 1 --concurrency 4
is "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["load"].get("ok2xx"))' "$OUT/after-storm.json")" \
    200 "after the storm every hit is answered 2xx"

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
check "no 2xx'd hit is missing" grep -q ' lost=0 ' <<<"$res"
check "no hit loaded twice" grep -q ' duplicated=0 ' <<<"$res"
if [ "$HS_FAILED" -gt 0 ] && [ "${KEEP:-0}" != 1 ]; then
    keep=/tmp/t-chaos-failed.$$
    cp -a "$T" "$keep" 2>/dev/null && echo "# the run is kept in $keep"
fi
finish
