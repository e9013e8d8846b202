#!/usr/bin/env bash
# kill -9 of hookspool-upload at random moments: after each kill a clean
# run (`-f`) recovers, and in the end no hit is lost and none is loaded
# twice.  Hits come from the responder under lighttpd (a reservoir of
# sealed batches, a few dropped into new/ per trial).  The fake answers
# every request slowly and a job needs 3 polls to be DONE, so that the
# phases last long enough to be hit; each kill is classified by the state
# it left:
#   A  no job in active/, the trial's batches still in new/: before claim
#   B  a job in active/ that the fake does not know: before or mid upload
#   C  a job the fake knows, its batches still in active/: after creation,
#      while polling or before the local commit
#   D  nothing in active/, the batches in done/: after the local commit
#      (a narrow window before the exit: counted, not required)
# and "finished" when the run had exited before the kill.
# Several lanes (each its own fake, spool and table) run side by side.
# CRASH_TRIALS (default 56), CRASH_LANES (8) and CRASH_SEED (random) may be
# set in the environment; the seed is printed to replay a run.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need lighttpd curl python3 openssl
need_file "$HS_FCGI"
need_file "$HS_UPLOAD"

ID=522ed95e-1a2b-4c3d-8e4f-0000000c0001
TABLE=test-project.crm.hits
TRIALS=${CRASH_TRIALS:-56}
NLANES=${CRASH_LANES:-8}
SEED=${CRASH_SEED:-$((RANDOM * 32768 + RANDOM))}
PER_TRIAL=3	# batches per trial
PER_LANE=$(( (TRIALS + NLANES - 1) / NLANES ))
echo "# $TRIALS trials in $NLANES lanes, CRASH_SEED=$SEED"

# --- the reservoir: sealed batches written by the responder ---------------
need_batches=$((PER_LANE * NLANES * PER_TRIAL))
HITS=$((need_batches * 20))
hs_conf "$T/hs.conf" "$ID" "batch_max_hits = 16"
PORT=$(free_port)
start_lighttpd "$T/hs.conf" "$PORT" || { not_ok "lighttpd starts"; finish; }
body=$(head -c 900 /dev/zero | tr '\0' 'x')
out=$(python3 "$TOOLS/load.py" --url "http://127.0.0.1:$PORT/ds/$ID" \
    --n "$HITS" --concurrency 8 --body "status=new&pad=$body" --out "$T/acked")
echo "# $out"
check "$HITS hits answered 2xx" grep -q "ok2xx=$HITS " <<<"$out"
stop_lighttpd
nres=$(count_files "$T/spool/crm/new")
check "the responders sealed $nres batches (want $need_batches or more)" \
    test "$nres" -ge "$need_batches"
acked_ids "$T/acked" | sort >"$T/acked.ids"
spool_ids "$T/spool/crm/new" | sort >"$T/res.ids"
check "every 2xx'd hit is in the reservoir" cmp -s "$T/acked.ids" "$T/res.ids"
# Deal the batches out to the lanes, round robin.
i=0
for f in $(ls "$T/spool/crm/new" | sort); do
    mkdir -p "$T/lane$((i % NLANES))/res"
    mv "$T/spool/crm/new/$f" "$T/lane$((i % NLANES))/res/"
    i=$((i + 1))
done

KEY0=$T/key0
sh "$FAKE_BQ/make-key.sh" "$KEY0" http://127.0.0.1:1/token >/dev/null ||
    skip "make-key.sh failed"

# --- one lane -------------------------------------------------------------
lane_setup() {
    mkdir -p "$T/key"
    cp "$KEY0/sa.pem" "$T/key/"    # one RSA key for all the lanes
    NEW=$T/spool/crm/new
    ACTIVE=$T/spool/crm/active
    DONE=$T/spool/crm/done
    start_fake_bq --polls-to-done 3 || return 1
    up_conf "$T/mp.conf" "$ID" "http_timeout = 10s" "job_timeout = 60s"
    # Over 16K: a resumable session, so that kills land mid-session too.
    up_conf "$T/rs.conf" "$ID" "http_timeout = 10s" "job_timeout = 60s" \
        "multipart_max = 16K" "chunk_size = 256K"
    mkdir -p "$NEW"
    : >"$T/ids"
    : >"$T/classes"
    # Every API request takes 0.3 s more: uploads and polls last.
    fake_faults '{"kind":"slow","seconds":0.3}'
}

# classify BATCHES...: the class of the state a kill left (see the top).
classify() {
    local job known b
    job=$(ls -A "$ACTIVE" 2>/dev/null | head -1)
    if [ -z "$job" ]; then
        for b in "$@"; do
            [ -e "$NEW/$b" ] || { echo D; return; }
        done
        echo A
        return
    fi
    known=$(fake_state "sum(1 for j in s['jobs'] if j['id'].startswith('$job'))")
    if [ "$known" -gt 0 ]; then
        # DONE at the fake: between the last poll and the local commit.
        if [ "$(fake_state "sum(1 for j in s['jobs'] if j['id'].startswith('$job') and j['state'] == 'DONE')")" -gt 0 ]; then
            echo C-done
        else
            echo C
        fi
    elif [ ! -e "$ACTIVE/$job/JOB" ]; then
        echo B-claim    # torn claim: no JOB file yet
    elif [ "$(fake_state "sum(1 for x in s['sessions'] if x['job_id'].startswith('$job'))")" -gt 0 ]; then
        echo B-session  # a resumable session open, job not created
    else
        echo B
    fi
}

lane_run() {
    local trial conf r ms delay pid class batches rcs rc n res t0 snap
    RANDOM=$1
    for trial in $(seq 1 "$PER_LANE"); do
        batches=$(ls "$T/res" | sort | head -"$PER_TRIAL")
        [ -n "$batches" ] || break
        for b in $batches; do
            spool_ids "$T/res/$b" >>"$T/ids"
            mv "$T/res/$b" "$NEW/"
        done
        if [ $((trial % 2)) = 0 ]; then conf=$T/rs.conf; else conf=$T/mp.conf; fi
        # Some kills at once (to land before the claim), some in the
        # first 0.8 s (token, upload), the rest anywhere in the ~6.5 s a
        # run lasts (polls).
        # One trial in five of each early kind, in turn.
        case $(( (trial + $1) % 5 )) in
        0) ms=$((RANDOM % 12)) ;;
        1) ms=$((RANDOM % 800)) ;;
        *) ms=$((RANDOM % 7000)) ;;
        esac
        delay=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
        t0=$SECONDS
        "$HS_UPLOAD" -f -c "$conf" >"$T/killed.log" 2>&1 &
        pid=$!
        sleep "$delay"
        if kill -9 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null
            class=$(classify $batches)
        else
            wait "$pid"
            class=finished
        fi
        echo "$class" >>"$T/classes"
        snap=$T/snap
        rm -rf "$snap"
        mkdir -p "$snap"
        cp -a "$NEW" "$ACTIVE" "$snap/" 2>/dev/null
        fake_state >"$snap/fake.json"
        # The clean run; more only if it asks for a later try.
        rcs=
        for n in 1 2 3 4 5; do
            "$HS_UPLOAD" -f -c "$conf" >>"$T/clean.log" 2>&1
            rc=$?
            rcs="$rcs $rc"
            [ "$rc" = 0 ] && [ "$(count_files "$NEW")" = 0 ] &&
                [ -z "$(ls -A "$ACTIVE")" ] && break
        done
        if res=$(rows_vs_ids "$TABLE" "$T/ids") && [ "$rc" = 0 ] &&
            [ "$(count_files "$NEW")" = 0 ] && [ -z "$(ls -A "$ACTIVE")" ] &&
            ! grep -qw -e 65 -e 78 <<<"$rcs"; then
            ok "trial $trial ($(basename "$conf" .conf), kill at ${delay}s, class $class): recovered (exits:$rcs; $res; $((SECONDS - t0)) s)"
        else
            not_ok "trial $trial ($(basename "$conf" .conf), kill at ${delay}s, class $class): recovered (exits:$rcs; $res)"
            mv "$snap" "$T/failed-trial-$trial"
            echo "# state after the kill kept in $T/failed-trial-$trial"
            tail -n 5 "$T/killed.log" "$T/clean.log" | sed 's/^/#   /'
        fi
    done
    is "$(count_files "$T/spool/crm/failed")$(count_files "$T/spool/crm/corrupt")" 00 \
        "nothing went to failed/ or corrupt/"
}

LANES=()
for lane_no in $(seq 0 $((NLANES - 1))); do
    (
        T=$T/lane$lane_no
        lane_seed=$((SEED + lane_no))
        FAKE_PID=
        trap 'exit 1' TERM
        trap '[ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null' EXIT
        if lane_setup; then
            lane_run "$lane_seed"
        else
            not_ok "the fake BigQuery starts"
        fi
    ) >"$T/lane$lane_no.out" 2>&1 &
    LANES+=("lane$lane_no")
    HS_PIDS+=($!)
done
wait
for name in "${LANES[@]}"; do
    while IFS= read -r line; do
        case $line in
        "ok - "*) ok "$name: ${line#ok - }" ;;
        "not ok - "*) not_ok "$name: ${line#not ok - }" ;;
        *) echo "$line" ;;
        esac
    done <"$T/$name.out"
done

# --- the distribution of the kills -----------------------------------------
cat "$T"/lane*/classes >"$T/classes"
ntrials=$(wc -l <"$T/classes")
echo "# kills by the state they left:"
sort "$T/classes" | uniq -c | sed 's/^/#   /'
check "$ntrials trials ran (want $TRIALS or more)" test "$ntrials" -ge "$TRIALS"
for c in A B C; do
    n=$(grep -c "^$c" "$T/classes")
    check "class $c was hit at least 3 times ($n)" test "$n" -ge 3
done
cat "$T"/lane*/ids | sort >"$T/all.ids"
is "$(sort -u "$T/all.ids" | wc -l)" "$(wc -l <"$T/all.ids")" \
    "every hit given to the uploaders is distinct"
finish
