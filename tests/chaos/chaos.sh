#!/usr/bin/env bash
# tests/chaos/chaos.sh: the long chaos run.  tests/t-chaos.sh at scale: HITS hits
# (100000) at RATE hits/s (600) from CLIENTS clients through lighttpd
# (max-procs 2, threads 4) while tests/chaos/chaos.py signals a responder
# every KILL_EVERY s (0.5-2.5; 80% SIGKILL, else SIGTERM or SIGUSR1; lighttpd
# respawns the dead), runs hookspool-upload back to back and SIGKILLs 70% of
# the runs at a random moment, runs `hookspoolctl repair` now and then, and
# switches the fake BigQuery's transient faults on and off.  Then the system
# settles and every hit_id answered 2xx must be in the fake's table exactly
# once.  Needs at least MIN_KILLS (100) SIGKILLs, responder and uploader
# together.
#
# Writes bench/results/chaos-YYYY-MM-DD.md (OUT; "-": none): the machine,
# the knobs, the seed, the counts and the verdict.  Exits 0 when the promise
# held and enough kills happened, 1 otherwise.
#
# Knobs (environment): HITS RATE CLIENTS CONCURRENCY KILL_EVERY MIN_KILLS
# SEED (random) BUILD (build dir: /tmp/build-chaos, configured -O2 -g here
# when it has no Makefile) OUT KEEP=1 (keep the scratch folder).
set -u
. "$(dirname "$0")/../../bench/lib.sh"
: "${HITS:=100000}"
: "${RATE:=600}"
: "${CLIENTS:=3}"
: "${CONCURRENCY:=4}"
: "${KILL_EVERY:=0.5-2.5}"
: "${MIN_KILLS:=100}"
: "${SEED:=$((RANDOM * 32768 + RANDOM))}"
: "${BUILD:=/tmp/build-chaos}"
: "${OUT:=$BENCH/results/chaos-$(date -u +%Y-%m-%d).md}"

. "$TOP/tests/chaos/setup.sh"
ID=522ed95e-1a2b-4c3d-8e4f-0000000bc4a0
TABLE=test-project.crm.hits
say "HITS=$HITS RATE=$RATE KILL_EVERY=$KILL_EVERY SEED=$SEED; scratch $T"

start_fake_bq --seed "$SEED" --polls-to-done 1 || die "the fake does not start"
up_conf "$T/hs.conf" "$ID" "batch_max_hits = 200" \
    "jobs_per_table_per_day = 100000" "job_max_bytes = 2M" \
    "multipart_max = 1M" "chunk_size = 256K" "http_timeout = 5s" \
    "job_timeout = 20s" "keep_done = 1h"
PORT=$(free_port)
start_lighttpd "$T/hs.conf" "$PORT" || die "lighttpd does not start"
URL=http://127.0.0.1:$PORT/ds/$ID
O=$T/chaos
mkdir -p "$O"
t0=$(date +%s)
python3 "$CHAOS" storm --url "$URL" --out "$O" --tag storm --hits "$HITS" \
    --rate "$RATE" --clients "$CLIENTS" --concurrency "$CONCURRENCY" \
    --body-bytes 200 --lighttpd-pid "$LIGHTTPD_PID" --fcgi "$HS_FCGI" \
    --kill-every "$KILL_EVERY" --upload "$HS_UPLOAD" --conf "$T/hs.conf" \
    --upload-every 0.2-2 --upload-kill 0.7 --upload-kill-after 0-1.5 \
    --upload-force 0.8 --hang 120 --ctl "$HS_CTL" --repair-every 4-10 \
    --fake "$FAKE_API" --fault-every 2-6 --fault-on 0.6 --seed "$SEED" ||
    die "the storm failed"
t1=$(date +%s)
wait_for 10 test "$(responder_pids | wc -l)" -eq 2
live=$(responder_pids | wc -l)
fired=$(curl -s "$FAKE_API/_fake/state" | python3 -c '
import json, sys
f = json.load(sys.stdin)["counters"]["faults_fired"]
print(", ".join("%s %d" % kv for kv in sorted(f.items())) or "none")')
stop_lighttpd
python3 "$CHAOS" settle --upload "$HS_UPLOAD" --conf "$T/hs.conf" \
    --ctl "$HS_CTL" --spool "$T/spool/crm" --fake "$FAKE_API" \
    --log "$O/settle.log" >"$O/settle.out" 2>&1
settled=$?
cat "$O/settle.out" >&2
t2=$(date +%s)
python3 "$CHAOS" verify --out "$O" --fake "$FAKE_API" --table "$TABLE" \
    --spool "$T/spool/crm" --json "$O/verify.json" >"$O/verify.out"
verified=$?
cat "$O/verify.out" >&2

# ---- the report ------------------------------------------------------------
report() {
	python3 - "$O/storm-storm.json" "$O/verify.json" "$O/storm-events.log" \
	    "$settled" "$verified" "$live" "$MIN_KILLS" "$fired" <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))
v = json.load(open(sys.argv[2]))
settled, verified, live, min_kills = (int(x) for x in sys.argv[4:8])
fired = sys.argv[8]
c, ch, lo = v["counts"], st["chaos"], st["load"]
kills = ch.get("responder_kills", 0) + ch.get("upload_kills", 0)
ok = settled == 0 and verified == 0 and kills >= min_kills and \
    ch.get("upload_hangs", 0) == 0 and c.get("4xx", 0) == 0 and live == 2
print("| what | count |\n|---|---:|")
for k, label in (("sent", "hits sent"), ("2xx", "answered 2xx"),
                 ("5xx", "answered 5xx (responder killed mid-request)"),
                 ("4xx", "answered 4xx"), ("transport", "no answer"),
                 ("loaded", "rows in the fake BigQuery"),
                 ("lost", "**2xx'd hits missing from BigQuery**"),
                 ("duplicated", "**hit_ids loaded twice**"),
                 ("payload_dup", "**one request loaded under two hit_ids**"),
                 ("bad_payload", "**rows whose payload differs from what was sent**"),
                 ("unacked_loaded", "rows of hits never answered 2xx (written, then the responder died)"),
                 ("corrupt_lines", "lines moved to corrupt/ (torn by a kill)")):
    print("| %s | %d |" % (label, c.get(k, 0)))
print("| responder SIGKILLs | %d |" % ch.get("responder_kills", 0))
print("| responder SIGTERMs / SIGUSR1s | %d / %d |" % (
    ch.get("responder_terms", 0), ch.get("responder_seals", 0)))
print("| uploader runs / SIGKILLed | %d / %d |" % (
    ch.get("upload_runs", 0), ch.get("upload_kills", 0)))
print("| **kills (responder + uploader SIGKILLs)** | **%d** |" % kills)
print("| uploader runs hung | %d |" % ch.get("upload_hangs", 0))
print("| overlapping uploader runs (lock test) | %d |" %
      ch.get("upload_overlaps", 0))
print("| `hookspoolctl repair` runs during the storm | %d |" %
      ch.get("repairs", 0))
print("| fault switches / with faults on | %d / %d |" % (
    ch.get("fault_switches", 0), ch.get("fault_sets", 0)))
print()
print("- uploader exit codes of the runs not killed: %s" % ", ".join(
    "%s x%d" % kv for kv in sorted(st["upload_exit"].items())))
print("- faults fired, by kind: %s" % fired)
print("- settle: %s" % ("uploader -f exited 0, tmp/ new/ active/ empty"
                        if settled == 0 else "**did not settle**"))
print("- responders running after the storm: %d (want 2)" % live)
if v["problems"]:
    print("- problems: %s" % ", ".join(v["problems"]))
    for k, ids in v["examples"].items():
        print("  - %s: %s" % (k, " ".join(ids[:5])))
print("- verdict: %s" % (
    "**the promise held**: every 2xx'd hit loaded exactly once, %d kills"
    % kills if ok else "**FAILED** (see above; minimum kills %d)"
    % min_kills))
sys.exit(0 if ok else 1)
PY
}
table=$(report)
rc=$?
echo "$table"
if [ "$OUT" != - ]; then
	{
		echo "## Chaos run, $(date -u '+%Y-%m-%d %H:%M') UTC"
		echo
		echo "- machine: nproc $(nproc); $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); kernel $(uname -r)"
		echo "- spool: $(df -T "$T" | awk 'NR == 2 { print $2 " on " $1 }'); lighttpd $(lighttpd -v 2>&1 | sed -n 's/^lighttpd\/\([^ ]*\).*/\1/p'), max-procs 2, threads 4, sync = always"
		echo "- load: $HITS hits at $RATE/s from $CLIENTS clients x $CONCURRENCY connections, bodies of ~230 bytes; storm $((t1 - t0)) s, settle $((t2 - t1)) s"
		echo "- chaos: a responder signalled every $KILL_EVERY s; uploader runs every 0.2-2 s, 70% SIGKILLed after 0-1.5 s, 80% with -f; repair every 4-10 s; faults switched every 2-6 s (on 60% of the time, 1-2 of the transient kinds in tests/chaos/chaos.py)"
		echo "- command: \`HITS=$HITS RATE=$RATE KILL_EVERY=$KILL_EVERY SEED=$SEED tests/chaos/chaos.sh\`"
		echo
		echo "$table"
		echo
	} >"$OUT"
	say "wrote $OUT"
fi
[ "${KEEP:-0}" = 1 ] || [ "$rc" = 0 ] || {
	cp -a "$T" "/tmp/chaos-failed.$$" && say "the run is kept in /tmp/chaos-failed.$$"
}
exit "$rc"
