#!/usr/bin/env bash
# The responder's own socket (-s) talked to by tests/tools/fcgi.py as a web
# server would: many requests over one connection kept with FCGI_KEEP_CONN
# (each stored once, the connection still open), a body streamed without
# CONTENT_LENGTH past max_body (413), and slow bodies: while `threads`
# clients trickle theirs, a normal request is answered at once, and the
# slow ones get 408 after body_timeout, nothing stored.  On a Unix socket:
# SIGTERM while a web server's connection is open but has sent nothing yet
# (libfcgi waits up to 2 s for its first bytes) still stops the responder.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need python3
need_file "$HS_FCGI"
FCGI="python3 $TOOLS/fcgi.py"

ID=7c1b2a3d-4e5f-4a6b-8c7d-000000000088
hs_conf "$T/hs.conf" "$ID" "body_timeout = 2s"
sed -i 's/^threads = .*/threads = 2/' "$T/hs.conf"
FP=$(free_port)
"$HS_FCGI" -d -c "$T/hs.conf" -s "127.0.0.1:$FP" 2>"$T/fcgi.err" &
FPID=$!
HS_PIDS+=($FPID)
wait_port "$FP"
ADDR=127.0.0.1:$FP
URI=/ds/$ID
new_lines() { cat "$T"/spool/crm/new/*.ndjson 2>/dev/null | wc -l; }

# Keep-alive, under sync = always (answered from the group commit).
$FCGI "$ADDR" "$URI" --requests 50 >"$T/keep.out"
is "$(grep -c '^200 {"hit_id"' "$T/keep.out")" 50 \
    "50 requests over one kept connection: all 200"
is "$(grep -x -e open -e closed "$T/keep.out")" open \
    "the kept connection is still open after them"
$FCGI "$ADDR" "$URI" --requests 3 --no-length >"$T/keep2.out"
is "$(grep -c '^200 ' "$T/keep2.out")" 3 \
    "bodies without CONTENT_LENGTH over a kept connection: all 200"
# A body streamed without CONTENT_LENGTH past max_body (1M).
out=$($FCGI "$ADDR" "$URI" --no-length --body-size $((1024 * 1024 + 4096)))
is "${out%% *}" 413 "a streamed body without CONTENT_LENGTH over max_body: 413"
kill -USR1 $FPID
check "the 53 hits are sealed" wait_for 5 test "$(new_lines)" = 53
grep -ho '"hit_id":"[^"]*"' "$T/keep.out" "$T/keep2.out" | cut -d'"' -f4 |
    sort >"$T/ids"
spool_ids "$T/spool/crm/new" | sort >"$T/stored"
check "every 200'd hit stored exactly once" cmp -s "$T/ids" "$T/stored"

# Slow bodies: as many as there are workers.
$FCGI "$ADDR" "$URI" --slow 2 --trickle 0.5 --timeout 60 \
    --body "note=a-body-that-takes-twenty-seconds-to-arrive" >"$T/slow.out"
sed 's/^/# /' "$T/slow.out"
took=$(sed -n 's/^elapsed=//p' "$T/slow.out")
is "$(head -c 3 "$T/slow.out")" 200 "a normal request while 2 slow bodies trickle: 200"
# body_timeout is 2 s and the slow bodies need 20 s: without the deadline
# the request waits for them (27 s before the fix); the margin is for a
# loaded machine (4 s seen under the full suite).
check "... answered long before the slow bodies end (took ${took}s)" \
    python3 -c "import sys; sys.exit(${took:-99} >= 10)"
is "$(grep -c '^slow 408 ' "$T/slow.out")" 2 \
    "the slow bodies: 408 after body_timeout"
kill -USR1 $FPID
sleep 1
is "$(cat "$T"/spool/crm/*/*.ndjson | grep -c 'slow=')" 0 \
    "nothing of the slow bodies is stored"

# libfcgi 2.4.2 (OS_Accept) waits for a new Unix-socket connection's first
# bytes in poll(); interrupted there once shutdown is pending, it loops
# forever on the fd it closed (and closes whatever reuses that number).
SOCK=$T/fcgi.sock
"$HS_FCGI" -d -c "$T/hs.conf" -s "unix:$SOCK" 2>"$T/fcgi-unix.err" &
UPID=$!
HS_PIDS+=($UPID)
wait_for 10 test -S "$SOCK"
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
print("connected", flush=True)
time.sleep(30)
' "$SOCK" >"$T/idle.out" &
IDLE=$!
wait_for 5 grep -q connected "$T/idle.out"
sleep 0.3	# a worker has accepted it and waits for its first bytes
kill -TERM $UPID
check "SIGTERM with a silent connection open: the responder exits" \
    wait_for 5 proc_gone $UPID
proc_gone $UPID || { proc_threads $UPID; kill -9 $UPID; }
wait $UPID 2>/dev/null
kill $IDLE 2>/dev/null
wait $IDLE 2>/dev/null
finish
