#!/usr/bin/env bash
# bench/soak.sh: steady load for minutes; do the responders stay flat?
# RATE hits/s (200) for DURATION s (600) through lighttpd (max-procs 2,
# threads 4), open loop (tests/chaos/chaos.py pace: a hit every 1/RATE s,
# latency counted from its scheduled time, so a stall shows).  Meanwhile
# every SAMPLE_EVERY s (5) each responder's VmRSS, open fds and threads are
# sampled from /proc, and hookspool-upload runs every CRON_EVERY s (60)
# without -f, like cron, against the fake BigQuery (no faults).  No kills:
# the same two responders live the whole run.
#
# Verdict (tests/chaos/chaos.py soak-report): per responder, the median
# VmRSS of the last third of the samples is within 10% + 1 MiB of the first
# third's; the floor (min) and the median of the open fds, and of the
# regular files among them, in the last third are at most one above the
# first third's (the max moves with what is in flight: a socket per
# request, a directory opened to fsync it); after every cron run the
# uploader exited 0, active/ is empty and new/ holds no batch sealed before
# the run started (the backlog is drained each minute); every hit was answered 2xx.  Then the system
# settles and every 2xx'd hit must be in BigQuery exactly once.
#
# Writes bench/results/soak-YYYY-MM-DD.md (OUT; "-": none).  Exits 0 when
# flat and drained, 1 otherwise.  Knobs (environment): RATE DURATION
# SAMPLE_EVERY CRON_EVERY BUILD (/tmp/build-chaos) OUT KEEP=1.
set -u
. "$(dirname "$0")/lib.sh"
: "${RATE:=200}"
: "${DURATION:=600}"
: "${SAMPLE_EVERY:=5}"
: "${CRON_EVERY:=60}"
: "${BUILD:=/tmp/build-chaos}"
: "${OUT:=$BENCH/results/soak-$(date -u +%Y-%m-%d).md}"

. "$TOP/tests/chaos/setup.sh"
ID=522ed95e-1a2b-4c3d-8e4f-0000000050a4
TABLE=test-project.crm.hits
say "RATE=$RATE DURATION=$DURATION SAMPLE_EVERY=$SAMPLE_EVERY CRON_EVERY=$CRON_EVERY; scratch $T"

start_fake_bq || die "the fake does not start"
up_conf "$T/hs.conf" "$ID" "keep_done = 1h"
PORT=$(free_port)
start_lighttpd "$T/hs.conf" "$PORT" || die "lighttpd does not start"
URL=http://127.0.0.1:$PORT/ds/$ID
O=$T/soak
mkdir -p "$O"
wait_for 10 test "$(responder_pids | wc -l)" -eq 2
pids0=$(responder_pids | tr '\n' ' ')

python3 "$CHAOS" sample --lighttpd-pid "$LIGHTTPD_PID" --fcgi "$HS_FCGI" \
    --every "$SAMPLE_EVERY" --out "$O/samples.ndjson" &
SAMPLER=$!
HS_PIDS+=($SAMPLER)
python3 "$CHAOS" cron --upload "$HS_UPLOAD" --conf "$T/hs.conf" \
    --spool "$T/spool/crm" --every "$CRON_EVERY" --seconds "$DURATION" \
    --out "$O/cron.ndjson" --log "$O/upload.log" --fake "$FAKE_API" \
    --table "$TABLE" &
CRON=$!
HS_PIDS+=($CRON)
t0=$(date +%s)
python3 "$CHAOS" pace --url "$URL" --rate "$RATE" --seconds "$DURATION" \
    --out "$O/pace.jsonl" --tag pace >"$O/pace.out"
cat "$O/pace.out" >&2
wait "$CRON"
kill "$SAMPLER"
wait "$SAMPLER" 2>/dev/null
t1=$(date +%s)
pids1=$(responder_pids | tr '\n' ' ')
stop_lighttpd
python3 "$CHAOS" settle --upload "$HS_UPLOAD" --conf "$T/hs.conf" \
    --ctl "$HS_CTL" --spool "$T/spool/crm" --fake "$FAKE_API" \
    --log "$O/settle.log" >&2
settled=$?
python3 "$CHAOS" verify --out "$O" --fake "$FAKE_API" --table "$TABLE" \
    --spool "$T/spool/crm" --json "$O/verify.json" >"$O/verify.out"
verified=$?
cat "$O/verify.out" >&2

table=$(python3 "$CHAOS" soak-report --samples "$O/samples.ndjson" \
    --cron "$O/cron.ndjson" --pace "$O/pace.jsonl")
rc=$?
[ "$pids0" = "$pids1" ] || rc=1
[ "$settled" = 0 ] && [ "$verified" = 0 ] || rc=1
echo "$table"
if [ "$OUT" != - ]; then
	{
		echo "## Soak run, $(date -u '+%Y-%m-%d %H:%M') UTC"
		echo
		echo "- machine: nproc $(nproc); $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); kernel $(uname -r)"
		echo "- spool: $(df -T "$T" | awk 'NR == 2 { print $2 " on " $1 }'); lighttpd $(lighttpd -v 2>&1 | sed -n 's/^lighttpd\/\([^ ]*\).*/\1/p'), max-procs 2, threads 4, sync = always, batch_max_age = 2s"
		echo "- load: $RATE hits/s for $DURATION s ($((t1 - t0)) s with the last cron run), open loop, 8 connections; $(cat "$O/pace.out")"
		echo "- sampled every $SAMPLE_EVERY s: VmRSS, fds (ls /proc/PID/fd; regular files apart), threads; uploader every $CRON_EVERY s without -f (fake BigQuery, no faults)"
		echo "- responders at the start: $pids0; at the end: $pids1 ($([ "$pids0" = "$pids1" ] && echo "the same, never restarted" || echo "**changed**"))"
		echo "- command: \`RATE=$RATE DURATION=$DURATION bench/soak.sh\`"
		echo
		echo "$table"
		echo "- exactly once after settling: $(cat "$O/verify.out") ($([ "$verified" = 0 ] && [ "$settled" = 0 ] && echo ok || echo "**failed**"))"
		echo
	} >"$OUT"
	say "wrote $OUT"
fi
[ "${KEEP:-0}" = 1 ] || [ "$rc" = 0 ] || {
	cp -a "$T" "/tmp/soak-failed.$$" && say "the run is kept in /tmp/soak-failed.$$"
}
exit "$rc"
