#!/usr/bin/env bash
# hookspool-upload under the fake BigQuery's faults: with each fault on
# (5xx and 429 on inserts and on jobs.get, connection resets before and
# after the body, partial 308s, lost answers on a multipart insert and on
# the final resumable chunk, expired and short-lived tokens, jobs ending
# with backendError or quotaExceeded, vanished upload sessions, a server
# slower than http_timeout), repeated `hookspool-upload -f` runs converge
# to every hit loaded exactly once, and every run exits 0 or 75, never 65.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need python3 openssl curl
need_file "$HS_UPLOAD"

ID=522ed95e-1a2b-4c3d-8e4f-0000000b0001
TABLE=test-project.crm.hits
MKBATCH=$top_srcdir/tests/upload/mkbatch.py
JOBS='^GET /bigquery/v2/projects/test-project/jobs/'
INSERT='^POST /upload/bigquery/v2/projects/test-project/jobs[?]uploadType=multipart'
START='^POST /upload/bigquery/v2/projects/test-project/jobs[?]uploadType=resumable'
PUT='^PUT /upload/'

# Three lanes run side by side, each with its own fake, spool and table
# (faults are global to a fake), to keep the wall time down: the runs
# mostly wait on backoff sleeps.

# lane_setup: the fake, the two configs (multipart, and resumable for
# anything over 64K) and the spool of the lane in $T.
lane_setup() {
    NEW=$T/spool/crm/new
    ACTIVE=$T/spool/crm/active
    CHUNK=262144
    start_fake_bq --polls-to-done 1 || return 1
    # http_timeout short, so that "slow" outlasts it (an upload stalls out
    # later than that: libcurl averages its speed over a few seconds).
    up_conf "$T/mp.conf" "$ID" "http_timeout = 3s" "job_timeout = 30s"
    up_conf "$T/rs.conf" "$ID" "http_timeout = 3s" "job_timeout = 30s" \
        "multipart_max = 64K" "chunk_size = 256K"
    mkdir -p "$NEW"
    : >"$T/ids"
}

# lane_end: nothing may have gone to failed/ or corrupt/.
lane_end() {
    is "$(count_files "$T/spool/crm/failed")" 0 "nothing ever went to failed/"
    is "$(count_files "$T/spool/crm/corrupt")" 0 "nothing went to corrupt/"
}

empty() { [ "$(count_files "$NEW")" -eq 0 ] && [ -z "$(ls -A "$ACTIVE" 2>/dev/null)" ]; }
counter() { fake_state "s[\"counters\"].get(\"$1\", 0)"; }
request() { fake_state "s[\"counters\"][\"requests\"].get(\"$1\", 0)"; }

# scenario NAME CONF 'FAULTS' BATCHES HITS SIZE: drop the batches into
# new/, switch the faults on, run `hookspool-upload -f` until it exits 0
# with new/ and active/ empty (at most 10 runs), switch the faults off and
# check: the faults fired, the runs converged with exits 0 or 75 only,
# every hit written so far is in the table exactly once.  RCS holds the
# exit codes, LOG the runs' output.
scenario() {
    local name=$1 conf=$2 faults=$3 nb=$4 nh=$5 size=$6 i rc fired bad t0=$SECONDS
    python3 "$MKBATCH" "$NEW" --batches "$nb" --hits "$nh" --size "$size" \
        --ids-out "$T/ids" >/dev/null || not_ok "$name: batches written"
    fake_faults "$faults" || not_ok "$name: faults accepted"
    RCS=
    LOG=$T/log.$(tr -c 'A-Za-z0-9\n' _ <<<"$name")
    : >"$LOG"
    for i in 1 2 3 4 5 6 7 8 9 10; do
        echo "--- run $i" >>"$LOG"
        "$HS_UPLOAD" -f -c "$conf" >>"$LOG" 2>&1
        rc=$?
        RCS="$RCS $rc"
        [ "$rc" = 0 ] && empty && break
    done
    fired=$(fake_fired)
    fake_faults ''
    check "$name: the fault fired ($fired)" test "$fired" -ge 1
    if [ "$rc" = 0 ] && empty; then
        ok "$name: converged (exits:$RCS; $((SECONDS - t0)) s)"
    else
        not_ok "$name: converged (exits:$RCS; $((SECONDS - t0)) s)"
        sed 's/^/#   /' "$LOG" | tail -20
    fi
    bad=$(tr ' ' '\n' <<<"$RCS" | grep -v -x -e '' -e 0 -e 75 | tr '\n' ' ')
    is "$bad" "" "$name: every exit 0 or 75"
    if res=$(rows_vs_ids "$TABLE" "$T/ids"); then
        ok "$name: every hit once ($res)"
    else
        not_ok "$name: every hit once ($res)"
    fi
}

lane_inserts() {
    # --- a baseline -------------------------------------------------------
    python3 "$MKBATCH" "$NEW" --batches 2 --hits 20 --ids-out "$T/ids" >/dev/null
    "$HS_UPLOAD" -f -c "$T/mp.conf" >"$T/log.base" 2>&1
    is "$?" 0 "baseline: no fault, one run, exit 0"
    check "baseline: every hit once" rows_vs_ids "$TABLE" "$T/ids"

    # --- multipart inserts ----------------------------------------------------
    scenario "500 on inserts" "$T/mp.conf" \
        "{\"kind\":\"status\",\"code\":500,\"match\":\"$INSERT\",\"count\":1}" 3 50 60
    scenario "503 on inserts, more than a run retries" "$T/mp.conf" \
        "{\"kind\":\"status\",\"code\":503,\"match\":\"$INSERT\",\"count\":5}" 3 50 60
    check "503 x5: a run gave up with 75" grep -qw 75 <<<"$RCS"
    scenario "429 on inserts with Retry-After" "$T/mp.conf" \
        "{\"kind\":\"status\",\"code\":429,\"retry_after\":1,\"match\":\"$INSERT\",\"count\":1}" 3 50 60
    scenario "reset before the body of inserts" "$T/mp.conf" \
        "{\"kind\":\"reset\",\"when\":\"before\",\"match\":\"$INSERT\",\"count\":2}" 3 50 60
    scenario "reset after the body of inserts" "$T/mp.conf" \
        "{\"kind\":\"reset\",\"when\":\"after\",\"match\":\"$INSERT\",\"count\":2}" 3 50 60
    d0=$(counter duplicates_409)
    scenario "lost answer on a multipart insert" "$T/mp.conf" \
        "{\"kind\":\"lost_answer\",\"match\":\"$INSERT\",\"count\":1}" 3 50 60
    check "lost answer: the resent job got 409 duplicate" \
        test "$(counter duplicates_409)" -gt "$d0"

    # --- slow answers ---------------------------------------------------------
    d0=$(counter duplicates_409)
    scenario "insert done but its answer later than http_timeout" "$T/mp.conf" \
        "{\"kind\":\"slow\",\"seconds\":12,\"after\":true,\"match\":\"$INSERT\",\"count\":1}" 2 50 60
    check "slow answer: the resent job got 409 duplicate" \
        test "$(counter duplicates_409)" -gt "$d0"
    lane_end
}

lane_polls() {
    # --- jobs.get -------------------------------------------------------------
    scenario "500 on jobs.get" "$T/mp.conf" \
        "{\"kind\":\"status\",\"code\":500,\"match\":\"$JOBS\",\"count\":1}" 2 50 60
    scenario "503 on jobs.get" "$T/mp.conf" \
        "{\"kind\":\"status\",\"code\":503,\"match\":\"$JOBS\",\"count\":2}" 2 50 60
    scenario "429 on jobs.get" "$T/mp.conf" \
        "{\"kind\":\"status\",\"code\":429,\"match\":\"$JOBS\",\"count\":1}" 2 50 60
    scenario "reset on jobs.get" "$T/mp.conf" \
        "{\"kind\":\"reset\",\"when\":\"before\",\"match\":\"$JOBS\",\"count\":1}" 2 50 60
    scenario "lost answer on jobs.get" "$T/mp.conf" \
        "{\"kind\":\"lost_answer\",\"match\":\"$JOBS\",\"count\":2}" 2 50 60

    # --- tokens ---------------------------------------------------------------
    t0=$(counter tokens_issued)
    scenario "expired tokens on insert and on jobs.get" "$T/mp.conf" \
        "{\"kind\":\"expire_tokens\",\"match\":\"$INSERT\",\"count\":1},
         {\"kind\":\"expire_tokens\",\"match\":\"$JOBS\",\"count\":1}" 2 50 60
    check "expired tokens: renewed ($(( $(counter tokens_issued) - t0 )) tokens)" \
        test "$(( $(counter tokens_issued) - t0 ))" -ge 3
    t0=$(counter tokens_issued)
    # A token living 2 s while the jobs.get takes 1.5 s: it runs out mid-run.
    scenario "short-lived tokens (token_ttl)" "$T/mp.conf" \
        "{\"kind\":\"token_ttl\",\"seconds\":2,\"match\":\"^POST /token\",\"count\":1},
         {\"kind\":\"slow\",\"seconds\":1.5,\"match\":\"$JOBS\",\"count\":2}" 2 50 60
    check "short-lived tokens: renewed ($(( $(counter tokens_issued) - t0 )) tokens)" \
        test "$(( $(counter tokens_issued) - t0 ))" -ge 2
    # Back to hour-long tokens: the fault applies to any request.
    fake_faults '{"kind":"token_ttl","seconds":3600,"count":1}'
    curl -s -o /dev/null "$FAKE_API/computeMetadata/v1/project/project-id"
    fake_faults ''

    # --- jobs that end in error ----------------------------------------------
    for reason in "backendError:Retrying may solve" "quotaExceeded:Quota exceeded"; do
        msg=${reason#*:}
        reason=${reason%%:*}
        scenario "job ends with $reason" "$T/mp.conf" \
            "{\"kind\":\"job_error\",\"reason\":\"$reason\",\"count\":1}" 2 50 60
        is "${RCS# }" "75 0" "$reason: 75 (retry later), then 0"
        n=$(fake_state "sum(1 for j in s['jobs'] if j['error'] == '$reason')")
        a=$(fake_state "sum(1 for j in s['jobs'] if j['id'].endswith('_a1'))")
        check "$reason: the failed job stays failed, a new attempt id loaded ($n, $a)" \
            test "$n" -ge 1 -a "$a" -ge 1
        check "$reason: the log says why ($msg)" grep -q "$msg" "$LOG"
    done
    check "quotaExceeded waits longer (an hour)" grep -q "quota.*next try in 3600 s" \
        "$T/log.job_ends_with_quotaExceeded"

    scenario "jobs.get slower than http_timeout" "$T/mp.conf" \
        "{\"kind\":\"slow\",\"seconds\":4,\"match\":\"$JOBS\",\"count\":1}" 2 50 60

    lane_end
}

lane_sessions() {
    # --- resumable uploads ----------------------------------------------------
    # Two batches of 300 hits of ~600 bytes: ~360 KB, two 256 KiB chunks.
    rs() { scenario "$1" "$T/rs.conf" "$2" 2 300 600; }
    c0=$(request resumable_chunk)
    rs "resumable: 503 on chunks" \
        "{\"kind\":\"status\",\"code\":503,\"match\":\"$PUT\",\"count\":2}"
    check "resumable: several chunks went ($(( $(request resumable_chunk) - c0 )))" \
        test "$(( $(request resumable_chunk) - c0 ))" -ge 2
    rs "resumable: 500 on the session start" \
        "{\"kind\":\"status\",\"code\":500,\"match\":\"$START\",\"count\":1}"
    rs "resumable: resets before and after a chunk" \
        "{\"kind\":\"reset\",\"when\":\"before\",\"match\":\"$PUT\",\"count\":1},
         {\"kind\":\"reset\",\"when\":\"after\",\"match\":\"$PUT\",\"count\":1,\"every\":2}"
    rs "resumable: partial 308" \
        "{\"kind\":\"partial308\",\"match\":\"$PUT\",\"count\":1}"
    # The final chunk is the last of the first job's PUTs: chunks, no queries.
    rs_final() {
        local total nchunks
        total=$(du -cb "$NEW"/* | tail -1 | cut -f1)
        nchunks=$(( (total + CHUNK - 1) / CHUNK ))
        echo "{\"kind\":\"lost_answer\",\"match\":\"$PUT\",\"every\":$nchunks,\"count\":1}"
    }
    python3 "$MKBATCH" "$NEW" --batches 2 --hits 300 --size 600 \
        --ids-out "$T/ids" >/dev/null
    i0=$(counter inserts)
    scenario "resumable: the final chunk's answer lost" "$T/rs.conf" "$(rs_final)" 0 0 0
    is "$(( $(counter inserts) - i0 ))" 1 "final chunk lost: the job was created once"
    rs "resumable: session gone (404)" \
        "{\"kind\":\"session_gone\",\"code\":404,\"match\":\"$PUT\",\"count\":1,\"every\":2}"
    rs "resumable: session gone (410)" \
        "{\"kind\":\"session_gone\",\"code\":410,\"match\":\"$PUT\",\"count\":1}"
    rs "resumable: lost answer on the session start" \
        "{\"kind\":\"lost_answer\",\"match\":\"$START\",\"count\":1}"
    rs "resumable: job ends with backendError" \
        "{\"kind\":\"job_error\",\"reason\":\"backendError\",\"count\":1}"
    rs "resumable: expired token mid-upload" \
        "{\"kind\":\"expire_tokens\",\"match\":\"$PUT\",\"count\":1,\"every\":2}"

    # --- everything at once, by chance ----------------------------------------
    scenario "random mix of faults" "$T/rs.conf" \
        "{\"kind\":\"status\",\"code\":503,\"probability\":0.2,\"count\":4},
         {\"kind\":\"reset\",\"when\":\"after\",\"probability\":0.1,\"count\":3},
         {\"kind\":\"lost_answer\",\"probability\":0.1,\"count\":3},
         {\"kind\":\"partial308\",\"probability\":0.3,\"count\":3}" 4 300 300

    lane_end
}

# lane NAME: run lane_NAME in the background in a subshell with its own
# $T; its output goes to $T/NAME.out, replayed by lanes_report.
LANES=()
lane() {
    mkdir -p "$T/$1"
    (
        T=$T/$1
        FAKE_PID=
        trap 'exit 1' TERM
        trap '[ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null' EXIT
        if lane_setup; then
            "lane_$1"
        else
            not_ok "the fake BigQuery starts"
        fi
    ) >"$T/$1.out" 2>&1 &
    LANES+=("$1")
    HS_PIDS+=($!)
}

# lanes_report: wait for the lanes, count their checks here.
lanes_report() {
    local name line
    wait
    for name in "${LANES[@]}"; do
        echo "# --- lane $name"
        while IFS= read -r line; do
            case $line in
            "ok - "*) ok "$name: ${line#ok - }" ;;
            "not ok - "*) not_ok "$name: ${line#not ok - }" ;;
            *) echo "$line" ;;
            esac
        done <"$T/$name.out"
    done
}

lane inserts
lane polls
lane sessions
lanes_report
finish
