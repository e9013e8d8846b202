#!/usr/bin/env bash
# contrib/apache/hookspool-fcgid.conf in a real Apache 2.4 with mod_fcgid:
# Authorization reaches the responder (CGIPassAuth), hits land in the spool
# exactly once, and Apache stopping idle responders (SIGTERM) or a responder
# killed outright (SIGKILL, then hookspoolctl repair) loses no 2xx'd hit.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/deploy/lib.sh"
need curl python3
apache_need fcgid alias
need_file "$HS_FCGI"

ID=522ed95e-1a2b-4c3d-8e4f-0000000000a1
# Batches are sealed by the responders stopping, not by age.
deploy_conf "$ID" 1h
# Test-only: Apache stops idle responders after seconds, not minutes, and
# keeps none around, so the test sees it happen.
mkdir -p "$T/apache"
cat >"$T/apache/test.conf" <<CONF
FcgidIdleTimeout 2
FcgidIdleScanInterval 1
FcgidMinProcessesPerClass 0
CONF
PORT=$(free_port)
apache_start hookspool-fcgid.conf "$PORT" fcgid alias ||
    { not_ok "Apache with mod_fcgid starts"; finish; }
ok "Apache with mod_fcgid starts"
BASE=http://127.0.0.1:$PORT/ds
URL=$BASE/$ID
deploy_requests "$BASE"

# Concurrent load: mod_fcgid sends one request at a time per process, so
# it runs several responders.
out=$(python3 "$TOOLS/load.py" --url "$URL?token=s3cret" --n 2000 \
    --concurrency 8 --out "$T/load1")
echo "# $out"
check "2,000 concurrent hits answered 2xx" grep -q "ok2xx=2000 " <<<"$out"
cat "$T/load1" >>"$ACKED"
npids=$(ls "$T/spool/crm/tmp" "$T/spool/crm/new" |
    awk -F. '/ndjson$/ {print $4}' | sort -u | wc -l)
check "several responder processes wrote batches ($npids)" test "$npids" -ge 2

# Idle responders: Apache stops them with SIGTERM; each seals its batch.
check "Apache stops the idle responders" wait_for 20 no_deploy_responders
idle_logged() { grep -q 'exit(idle timeout)' "$T/apache/error.log"; }
check "mod_fcgid says it stopped them for being idle" wait_for 10 idle_logged
is "$(tmp_batches)" 0 "idle responders sealed their batches (tmp/ empty)"
check "every 2xx'd hit is in new/ exactly once" spool_exact "$T/spool/crm/new"

# A responder killed outright leaves its batch in tmp/ with every 2xx'd
# line in it; hookspoolctl repair seals it.
: >"$T/killed"
for i in $(seq 1 10); do
    hit -H 'Authorization: Bearer s3cret' -d "orderId=K$i" "$URL" >>"$T/killed"
done
is "$(wc -l <"$T/killed")" 10 "10 hits answered before the kill"
mapfile -t pids < <(deploy_responder_pids)
check "responders running before the kill (${pids[*]})" test "${#pids[@]}" -ge 1
kill -9 "${pids[@]}" 2>/dev/null
check "SIGKILLed responders are gone" wait_for 10 no_deploy_responders
check "their open batches stay in tmp/" test "$(tmp_batches)" -ge 1
while read -r id; do printf '{"n":0,"status":200,"hit_id":"%s"}\n' "$id"; done \
    <"$T/killed" >"$T/killed.acked"
res=$(python3 "$TOOLS/spoolcheck.py" --acked "$T/killed.acked" \
    "$T/spool/crm/tmp" "$T/spool/crm/new")
check "the killed responders' 2xx'd hits are all kept" \
    grep -q " missing=0 duplicated=0 problems=0" <<<"$res"
# Under sync = always an open batch ends in spaces (preallocate): plain
# tools still read its lines as text, and check sees no torn line in it.
is "$(cat "$T/spool/crm/tmp"/* | wc -l)" 10 "wc -l counts the 10 lines in tmp/"
is "$(grep -h '"hit_id"' "$T/spool/crm/tmp"/* | wc -l)" 10 \
    "grep reads the open batches as text"
if [ -x "$HS_CTL" ]; then
    orphaned() {
        runuser -u www-data -- "$HS_CTL" -c "$HS_CONF" check \
            >"$T/check.out" 2>&1
        grep -q ': orphaned' "$T/check.out"
    }
    check "hookspoolctl check finds the orphans past their grace" \
        wait_for 20 orphaned
    sed 's/^/# check: /' "$T/check.out"
    check "and no line of theirs is called torn or bad" \
        sh -c "! grep -q ' line [0-9]' '$T/check.out'"
fi
if [ -x "$HS_CTL" ]; then
    # repair leaves alone a batch written to in the last seconds (its
    # writer may be about to lock it): run it until the orphans are sealed.
    orphans=$(ls "$T/spool/crm/tmp")
    repaired() {
        local f
        runuser -u www-data -- "$HS_CTL" -c "$HS_CONF" repair \
            >>"$T/repair.out" 2>&1 || return 1
        for f in $orphans; do
            [ -e "$T/spool/crm/new/$f" ] || return 1
        done
    }
    check "hookspoolctl repair (as www-data) seals the orphaned batches" \
        wait_for 20 repaired
    tail -2 "$T/repair.out" | sed 's/^/# /'
    is "$(tmp_batches)" 0 "tmp/ is empty after repair"
else
    echo "# $HS_CTL is not built: orphaned tmp/ batches not repaired here"
fi

# Apache carries on with new responders; stopping it seals their batches.
out=$(python3 "$TOOLS/load.py" --url "$URL?token=s3cret" --n 300 \
    --concurrency 4 --out "$T/load2")
echo "# $out"
check "300 more hits after the kill answered 2xx" grep -q "ok2xx=300 " <<<"$out"
cat "$T/load2" >>"$ACKED"
apache_stop
check "Apache and its responders stop" no_deploy_responders
dirs=("$T/spool/crm/new")
if [ -x "$HS_CTL" ]; then
    is "$(tmp_batches)" 0 "after shutdown every batch is sealed (tmp/ empty)"
else
    # Only the SIGKILLed responders' batches may remain there.
    check "after shutdown only the killed responders' batches are in tmp/" \
        test "$(tmp_batches)" -le "${#pids[@]}"
    dirs+=("$T/spool/crm/tmp")
fi
check "every 2xx'd hit in the spool exactly once, nothing else" \
    spool_exact "${dirs[@]}"
check "every spool file and folder belongs to www-data" spool_owned_by_www
finish
