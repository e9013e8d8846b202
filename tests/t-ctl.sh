#!/usr/bin/env bash
# hookspoolctl: every verb over a prepared spool (ids, ALL, ids on stdin,
# JSON read back with python3's json), the usage against the man page,
# concurrent runs while the responder writes under load (every 2xx'd hit
# still there exactly once), and a stream added and tried as a new user
# would: stream add, the printed curl line, status, show.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need python3
need_file "$HS_CTL"

CONF=$T/hs.conf
hs_conf "$CONF" 522ed95e-1a2b-4c3d-8e4f-00000000c711
cat >>"$CONF" <<CONF

[stream shop]
id = 522ed95e-1a2b-4c3d-8e4f-00000000c712
table = test-project.shop.hits
CONF
ctl() { "$HS_CTL" -c "$CONF" "$@"; }
S=$T/spool
for st in crm shop; do
    for d in tmp new active done failed hold corrupt; do
        mkdir -p "$S/$st/$d"
    done
done

# mkbatch FILE N [EXTRA]: N hit records (then EXTRA bytes, as is).
mkbatch() {
    python3 - "$@" <<'PY'
import json, sys, time, uuid
path, n = sys.argv[1], int(sys.argv[2])
extra = sys.argv[3] if len(sys.argv) > 3 else ""
with open(path, "w") as f:
    for i in range(n):
        ms = int(time.time() * 1000)
        f.write(json.dumps({"hit_id": str(uuid.uuid4()),
                            "payload": "orderId=N%d&status=new" % i,
                            "received_at": ms,
                            "date": time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))},
                           separators=(",", ":")) + "\n")
    f.write(extra)
PY
}
now=$(date +%s)
bn() { echo "$((now - 100 + $1)).000001.testhost.4242.$1.ndjson"; }
A=$(bn 1) B=$(bn 2) C=$(bn 3) BAD=$(bn 4) ORPHAN=$(bn 5) LIVE=$(bn 6)
ACT=$(bn 7) DONE1=$(bn 8) FAIL=$(bn 9) HOLD1=$(bn 10) DUP=$(bn 11)
COR=$(bn 12) S1=$(bn 13)
JOB=hookspool_testhost_crm_00112233445566778899aabbccddeeff

mkbatch "$S/crm/new/$A" 2
mkbatch "$S/crm/new/$B" 3
mkbatch "$S/crm/new/$C" 4
mkbatch "$T/bad.head" 1
mkbatch "$T/bad.tail" 1
cat "$T/bad.head" >"$S/crm/new/$BAD"
echo "not json" >>"$S/crm/new/$BAD"
cat "$T/bad.tail" >>"$S/crm/new/$BAD"
# A writer that died mid-line, and one still writing (it holds its lock).
mkbatch "$S/crm/tmp/$ORPHAN" 2 '{"hit_id":"torn'
mkbatch "$S/crm/tmp/$LIVE" 1 '{"hit_id":"being-writ'
python3 - "$S/crm/tmp/$LIVE" "$T/live.ready" <<'PY' &
import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(600)
PY
HS_PIDS+=($!)
ORPHAN_MADE=$(date +%s)
mkdir -p "$S/crm/active/$JOB"
mkbatch "$S/crm/active/$JOB/$ACT" 2
printf 'id %s\nattempt 0\nfile %s %s\n' "$JOB" "$ACT" \
    "$(stat -c %s "$S/crm/active/$JOB/$ACT")" >"$S/crm/active/$JOB/JOB"
mkbatch "$S/crm/done/$DONE1" 1
mkbatch "$S/crm/failed/$FAIL" 2
printf 'job %s\ninvalid: schema mismatch: no such field: orderId\n' "$JOB" \
    >"$S/crm/failed/$FAIL.err"
mkbatch "$S/crm/hold/$HOLD1" 1
mkbatch "$S/crm/hold/$DUP" 1
echo "garbage" >"$S/crm/corrupt/$COR"
echo "$COR line 1: not valid JSON" >"$S/crm/corrupt/$COR.err"
mkbatch "$S/shop/new/$S1" 2
mkbatch "$S/shop/hold/$DUP" 1
wait_for 10 test -e "$T/live.ready" || not_ok "the live writer holds its lock"

# ---- status ----------------------------------------------------------------
ctl status --json >"$T/status.json"
is "$?" 0 "status --json exits 0"
check "status --json: every count as prepared" python3 - "$T/status.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
want = {"crm": {"tmp": (2, 3), "new": (4, 12), "active": (1, 2),
                "done": (1, None), "failed": (1, 2), "hold": (2, 2),
                "corrupt": (1, 1)},
        "shop": {"tmp": (0, 0), "new": (1, 2), "active": (0, 0),
                 "done": (0, None), "failed": (0, 0), "hold": (1, 1),
                 "corrupt": (0, 0)}}
ok = True
for stream, states in want.items():
    for state, (files, hits) in states.items():
        got = s["streams"][stream][state]
        if (got["files"], got["hits"]) != (files, hits):
            print("# %s/%s: got %s, want files=%d hits=%d" % (stream, state, got, files, hits))
            ok = False
        if files and not isinstance(got["oldest_age"], int):
            ok = False
        if not files and got["oldest_age"] is not None:
            ok = False
ok = ok and s["skipped"] == 0 and s["errors"] == 0 and s["last_upload"] is None
sys.exit(0 if ok else 1)
PY
check "status --json -s shop: only that stream" sh -c \
    "'$HS_CTL' -c '$CONF' -s shop status --json | python3 -c 'import json,sys; sys.exit(list(json.load(sys.stdin)[\"streams\"]) != [\"shop\"])'"
row=$(ctl status | awk '$1 == "crm" && $2 == "new" {print $3, $4}')
is "$row" "4 12" "status table: crm new has 4 files, 12 hits"
check "status shows that no upload ran yet" sh -c "'$HS_CTL' -c '$CONF' status | grep -q '^last upload: none'"

# The backlog's age decides; failed/ and corrupt/ files warn.
touch -d '2 hours ago' "$S/crm/new/$A"
out=$(ctl status --max-age 3h)
is "$?" 1 "--max-age 3h with failed/corrupt batches: WARNING (1)"
is "$(head -1 <<<"$out" | cut -d' ' -f1-2)" "HOOKSPOOL WARNING" "Nagios line first"
ctl status --max-age 30m,3h >/dev/null
is "$?" 1 "backlog between warn and crit: WARNING (1)"
out=$(ctl status --max-age 30m,1h)
is "$?" 2 "backlog older than crit: CRITICAL (2)"
check "CRITICAL line with perfdata" grep -q '^HOOKSPOOL CRITICAL - backlog 8 files, oldest 2h.*| backlog_files=8 backlog_age=' <<<"$out"
out=$(ctl -s shop status --max-age 1h)
is "$?" 0 "-s shop: fresh backlog, nothing failed: OK (0)"
is "$(head -1 <<<"$out" | cut -d' ' -f1-2)" "HOOKSPOOL OK" "OK line"
ctl status --max-age soon >/dev/null 2>&1
is "$?" 3 "--max-age with a bad duration: UNKNOWN (3)"
"$HS_CTL" -c "$T/nonexistent.conf" status --max-age 1h >/dev/null 2>&1
is "$?" 3 "--max-age with a missing config: UNKNOWN (3)"
"$HS_CTL" -c "$T/nonexistent.conf" status >/dev/null 2>&1
is "$?" 78 "missing config: EX_CONFIG (78)"
check "status --json --max-age: the check is in the JSON" sh -c \
    "'$HS_CTL' -c '$CONF' status --json --max-age 30m,1h | python3 -c 'import json,sys; c=json.load(sys.stdin)[\"check\"]; sys.exit(not (c[\"code\"] == 2 and c[\"text\"].startswith(\"HOOKSPOOL CRITICAL\")))'"

# ---- list ------------------------------------------------------------------
is "$(ctl list | wc -l)" 14 "list: 14 batches"
is "$(ctl -s crm list new | awk '{print $1}' | tr '\n' ' ')" "$A $B $C $BAD " "list new: crm's in time order, ids first"
is "$(ctl list hold | wc -l)" 3 "list hold: both streams"
ctl list lost >/dev/null 2>&1
is "$?" 64 "list with an unknown state: EX_USAGE"
ctl list -j >"$T/list.jsonl"
check "list -j: JSON lines with the right fields" python3 - "$T/list.jsonl" "$ACT" "$JOB" "$FAIL" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
act, job, fail = sys.argv[2:5]
by = {(r["stream"], r["batch"]): r for r in rows}
ok = len(rows) == 14 and len(by) == 14
ok = ok and by[("crm", act)]["state"] == "active" and by[("crm", act)]["job"] == job
ok = ok and "schema mismatch" in by[("crm", fail)]["error"]
ok = ok and all(isinstance(r[k], int) for r in rows for k in ("bytes", "mtime", "age"))
# done/ is not read: its hits are in BigQuery already.
ok = ok and all(isinstance(r["hits"], int) == (r["state"] != "done") for r in rows)
sys.exit(0 if ok else 1)
PY

# ---- show ------------------------------------------------------------------
ctl show "$B" >"$T/show.out"
is "$?" 0 "show exits 0"
check "show: the header, then every hit as pretty JSON" python3 - "$T/show.out" "$S/crm/new/$B" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
lines = text.splitlines()
want = [json.loads(l) for l in open(sys.argv[2])]
body = "\n".join(l for l in lines if not l.startswith("#"))
dec, got, i = json.JSONDecoder(), [], 0
while body[i:].strip():
    while body[i].isspace():
        i += 1
    o, i = dec.raw_decode(body, i)
    got.append(o)
ok = got == want and "# stream crm, state new" in text and "\n  \"hit_id\"" in text
ok = ok and lines[-1] == "# 3 hits"
sys.exit(0 if ok else 1)
PY
check "show a failed batch: its error text" sh -c "'$HS_CTL' -c '$CONF' show '$FAIL' | grep -q '^# error: invalid: schema mismatch'"
check "show a bad line: what is wrong, then the line as a JSON string" sh -c \
    "'$HS_CTL' -c '$CONF' show '$BAD' | grep -A1 '^# line 2: not valid JSON' | grep -qx '\"not json\"'"
check "show an active batch: its load job" sh -c "'$HS_CTL' -c '$CONF' show '$ACT' | grep -q '^# load job $JOB'"
ctl show nosuch.ndjson >/dev/null 2>&1
is "$?" 66 "show an unknown batch: EX_NOINPUT"
ctl show "$DUP" >/dev/null 2>&1
is "$?" 64 "show an id in two streams: EX_USAGE (use -s)"
ctl -s shop show "$DUP" >/dev/null
is "$?" 0 "-s shop show that id"

# ---- hold, release, requeue, delete -----------------------------------------
out=$(ctl hold "$A" nosuch.ndjson 2>/dev/null)
is "$?" 66 "hold with an unknown id: EX_NOINPUT"
is "$out" "1 held, 1 not found" "hold counts"
check "held batch is in hold/" test -f "$S/crm/hold/$A" -a ! -e "$S/crm/new/$A"
out=$(ctl hold "$ACT" 2>"$T/err")
is "$?" 75 "hold an active batch: refused (EX_TEMPFAIL)"
is "$out" "0 held, 1 refused" "hold active: counts"
check "the refusal says why" grep -q "belongs to the uploader" "$T/err"
check "the active batch stayed" test -f "$S/crm/active/$JOB/$ACT"
ctl hold "$LIVE" >/dev/null 2>&1
is "$?" 75 "hold an open tmp/ batch: refused"
out=$(ctl -s crm list hold | ctl -s crm release -)
is "$?" 0 "list hold | release -: exit 0"
is "$out" "3 released" "ids on stdin: 3 released"
check "crm hold/ is empty" test -z "$(ls "$S/crm/hold")"
out=$(printf '# a comment\n\n  %s  and more words\n' "$B" | ctl hold -)
is "$out" "1 held" "stdin: comments, blank lines and extra words skipped"
ctl release "$B" >/dev/null
out=$(ctl release "$DUP" 2>"$T/err")
is "$?" 75 "an id in two streams (crm new/, shop hold/): refused"
check "... with a hint to use -s" grep -q -- "-s" "$T/err"
out=$(ctl -s shop release "$DUP")
is "$out" "1 released" "-s shop release"
out=$(ctl requeue ALL)
is "$out" "1 requeued" "requeue ALL"
check "requeued: in new/, its .err dropped" test -f "$S/crm/new/$FAIL" -a -z "$(ls "$S/crm/failed")"
out=$(ctl -s shop hold ALL)
is "$out" "2 held" "-s shop hold ALL: only shop's batches"
is "$(ls "$S/crm/hold" | wc -l)" 0 "crm untouched by -s shop"
out=$(ctl delete ALL corrupt)
is "$out" "1 deleted" "delete ALL corrupt"
check "corrupt/ empty, .err too" test -z "$(ls "$S/crm/corrupt")"
out=$(ctl delete "$DONE1" "$ACT" 2>/dev/null)
is "$?" 75 "delete an active batch: refused"
is "$out" "1 deleted, 1 refused" "delete counts"
check "done batch gone, active one kept" test ! -e "$S/crm/done/$DONE1" -a -f "$S/crm/active/$JOB/$ACT"
out=$(ctl -s shop delete ALL)
is "$out" "2 deleted" "-s shop delete ALL"
check "shop's spool empty" test -z "$(find "$S/shop" -type f)"
ctl delete ALL tmp >/dev/null 2>&1
is "$?" 64 "delete ALL tmp: EX_USAGE"
ctl hold >/dev/null 2>&1
is "$?" 64 "hold without ids: EX_USAGE"

# ---- config, usage, options --------------------------------------------------
ctl config >"$T/config.out"
is "$?" 0 "config exits 0"
check "config: effective values with their defaults" grep -q "^spool_dir = $S	# default: " "$T/config.out"
check "config: base_url and its default" grep -q "^base_url = http://localhost/ds$" "$T/config.out"
check "config: the streams" grep -q '^\[stream shop\]$' "$T/config.out"
is "$(HOOKSPOOL_CONFIG=$CONF "$HS_CTL" list new | wc -l)" "$(ctl list new | wc -l)" "HOOKSPOOL_CONFIG is the default config"
ctl frobnicate >/dev/null 2>&1
is "$?" 64 "unknown verb: EX_USAGE"
ctl -s nosuch status >/dev/null 2>&1
is "$?" 64 "unknown stream: EX_USAGE"
"$HS_CTL" >/dev/null 2>&1
is "$?" 64 "no verb: EX_USAGE"
MAN=$top_builddir/man/hookspoolctl.8
[ -f "$MAN" ] || MAN=$top_srcdir/man/hookspoolctl.8.in
if command -v groff >/dev/null 2>&1; then
    groff -mdoc -Tascii -P-c -P-b -P-u "$MAN" 2>/dev/null | tr -s ' \t' ' ' >"$T/man.txt"
    "$HS_CTL" -h 2>&1 | sed -e 's/^usage: //' -e 's/^verbs: //' -e 's/^ *//' >"$T/usage.txt"
    check "usage has the synopsis and 13 verb forms" test "$(wc -l <"$T/usage.txt")" = 14
    while IFS= read -r u; do
        check "man page has: $u" grep -qF -- " $u" "$T/man.txt"
    done <"$T/usage.txt"
else
    echo "# groff missing: usage not compared with the man page"
fi

# ---- run as root: become the spool's owner -----------------------------------
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    C3=$T/hs3.conf
    printf 'spool_dir = %s\n\n[stream o]\nid = o1\ntable = p.d.t\n' "$T/spool3" >"$C3"
    chmod 600 "$C3"
    mkdir -p "$T/spool3/o/new" "$T/spool3/o/corrupt"
    mkbatch "$T/spool3/o/new/$A" 1 'torn'
    chown -R nobody "$T/spool3"
    "$HS_CTL" -c "$C3" repair >/dev/null
    is "$?" 0 "repair as root on a spool owned by nobody"
    is "$(stat -c %U "$T/spool3/.lock" "$T/spool3/o/new/$A" "$T/spool3/o/corrupt/$A" | sort -u)" \
        nobody "what repair wrote belongs to the spool's owner"
fi

# ---- concurrent runs while the responder writes ------------------------------
if command -v lighttpd >/dev/null 2>&1 && [ -x "$HS_FCGI" ] && command -v curl >/dev/null 2>&1; then
    C2=$T/hs2.conf
    PORT=$(free_port)
    cat >"$C2" <<CONF
spool_dir = $T/spool2
batch_max_age = 1s
batch_max_hits = 40
threads = 4
base_url = http://127.0.0.1:$PORT/ds/

[stream s]
id = 522ed95e-1a2b-4c3d-8e4f-00000000c721
table = test-project.s.hits
CONF
    chmod 600 "$C2"
    c2() { "$HS_CTL" -c "$C2" "$@"; }
    if start_lighttpd "$C2" "$PORT"; then
        python3 "$TOOLS/load.py" --url "http://127.0.0.1:$PORT/ds/522ed95e-1a2b-4c3d-8e4f-00000000c721" \
            --seconds 300 --stop-file "$T/stop-load" --concurrency 6 \
            --out "$T/acked.jsonl" >"$T/load.out" &
        LOAD=$!
        : >"$T/rcs"
        runs=0
        t0=$SECONDS
        # At least 8 s and 2 rounds of every verb, however slow the
        # machine (a sanitizer build on a loaded host): the load stops
        # only then.
        while kill -0 "$LOAD" 2>/dev/null; do
            [ "$runs" -ge 2 ] && [ $((SECONDS - t0)) -ge 8 ] &&
                touch "$T/stop-load"
            c2 status >/dev/null; echo "status $?" >>"$T/rcs"
            c2 status --json >"$T/c.json"; echo "status--json $?" >>"$T/rcs"
            python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/c.json"
            echo "status--json-parse $?" >>"$T/rcs"
            c2 list >/dev/null; echo "list $?" >>"$T/rcs"
            c2 list -j >"$T/c.jsonl"; echo "list-j $?" >>"$T/rcs"
            python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$T/c.jsonl"
            echo "list-j-parse $?" >>"$T/rcs"
            c2 check >/dev/null; echo "check $?" >>"$T/rcs"
            c2 repair >/dev/null; echo "repair $?" >>"$T/rcs"
            c2 hold ALL >/dev/null; echo "hold-ALL $?" >>"$T/rcs"
            c2 list hold | head -5 | c2 release - >/dev/null; echo "release- $?" >>"$T/rcs"
            c2 list new | head -3 | c2 hold - >/dev/null; echo "hold- $?" >>"$T/rcs"
            c2 release ALL >/dev/null; echo "release-ALL $?" >>"$T/rcs"
            runs=$((runs + 1))
        done
        wait "$LOAD"
        echo "# $runs rounds of every verb during the load; $(cat "$T/load.out")"
        check "verbs ran during the load" test "$runs" -ge 2
        bad=$(awk '$2 != 0' "$T/rcs" | sort | uniq -c)
        is "$bad" "" "every verb exited 0 while the responder wrote"
        ok2xx=$(sed -n 's/.*ok2xx=\([0-9]*\).*/\1/p' "$T/load.out")
        check "the load got 2xx answers ($ok2xx)" test "${ok2xx:-0}" -gt 100
        check "no 5xx while hookspoolctl ran" grep -q 'err5xx=0 ' "$T/load.out"
        stop_lighttpd
        c2 release ALL >/dev/null
        check "every 2xx'd hit is in the spool exactly once" \
            python3 "$TOOLS/spoolcheck.py" --acked "$T/acked.jsonl" \
            "$T/spool2/s/new" "$T/spool2/s/hold" "$T/spool2/s/tmp"
        is "$(ls "$T/spool2/s/corrupt" | wc -l)" 0 "nothing went to corrupt/"

        # ---- a new stream, as a new user would try it ------------------------
        cp "$C2" "$T/hs2.before"
        out=$(c2 stream add shop test-project.shop.hits)
        is "$?" 0 "stream add exits 0"
        echo "$out" | sed 's/^/# /'
        url=$(sed -n 's/^url: //p' <<<"$out")
        try=$(sed -n 's/^try: //p' <<<"$out")
        check "the URL is base_url/<fresh uuid>" grep -Eq \
            "^http://127\.0\.0\.1:$PORT/ds/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$" <<<"$url"
        check "the section is in the config" grep -q "^id = ${url##*/}$" "$C2"
        check "the curl line uses the URL" grep -qF "'$url'" <<<"$try"
        cp "$C2" "$T/hs2.added"
        c2 stream add shop test-project.other.hits >/dev/null 2>&1
        is "$?" 73 "stream add of an existing name: EX_CANTCREAT"
        c2 stream add 'x]y' test-project.x.y >/dev/null 2>&1
        is "$?" 64 "stream add of a bad name: EX_USAGE"
        c2 stream add other 'a.b
c' >/dev/null 2>&1
        is "$?" 64 "stream add of a bad table: EX_USAGE"
        check "failed adds left the config alone" cmp -s "$C2" "$T/hs2.added"
        if start_lighttpd "$C2" "$PORT"; then
            resp=$(eval "$try" 2>/dev/null)
            hit=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["hit_id"])' "$resp" 2>/dev/null)
            check "the printed curl line sent a hit ($hit)" test -n "$hit"
            shop_hits() {
                [ "$(c2 -s shop status --json | python3 -c 'import json,sys; print(sum(v["hits"] or 0 for k, v in json.load(sys.stdin)["streams"]["shop"].items() if isinstance(v, dict)))')" = 1 ]
            }
            check "status counts the new stream's hit" wait_for 10 shop_hits
            check "the status table has a shop row with 1 hit" sh -c \
                "'$HS_CTL' -c '$C2' status | awk '\$1 == \"shop\" && \$4 == 1 {f=1} END {exit !f}'"
            batch=$(c2 -s shop list | awk 'NR == 1 {print $1}')
            c2 show "$batch" >"$T/shop.show"
            is "$?" 0 "show the new stream's batch"
            check "show prints the hit" grep -q "\"hit_id\": \"$hit\"" "$T/shop.show"
            check "show prints the payload" grep -q '"payload": "orderId=N1&status=new"' "$T/shop.show"
            stop_lighttpd
        else
            not_ok "lighttpd restarts with the new stream"
        fi
    else
        not_ok "lighttpd starts"
    fi
else
    echo "# lighttpd, curl or hookspool-fcgi missing: concurrency part skipped"
fi

# ---- check and repair on the prepared spool ----------------------------------
# The orphan must be past the ten-second grace of a fresh batch.
while [ $(($(date +%s) - ORPHAN_MADE)) -le 11 ]; do sleep 1; done
hits_of() {
    python3 - "$S/crm" <<'PY'
import json, os, sys
ids = []
for d, _, names in os.walk(sys.argv[1]):
    if "/corrupt" in d:
        continue
    for n in names:
        if n.startswith(".") or n.endswith(".err") or n == "JOB":
            continue
        for line in open(os.path.join(d, n), "rb"):
            try:
                if line.endswith(b"\n"):
                    ids.append(json.loads(line)["hit_id"])
            except (ValueError, KeyError):
                pass
print(" ".join(sorted(ids)))
PY
}
before=$(hits_of)
ctl check >"$T/check.out"
is "$?" 65 "check finds problems: EX_DATAERR"
check "check: the orphan" grep -q "^crm: tmp/$ORPHAN: orphaned" "$T/check.out"
check "check: the bad line" grep -q "^crm: new/$BAD line 2: not valid JSON" "$T/check.out"
check "check: the orphan's torn line" grep -q "^crm: tmp/$ORPHAN line 3: torn last line" "$T/check.out"
check "check: not the live writer's batch" sh -c "! grep -q '$LIVE' '$T/check.out'"
check "check: the summary" grep -q "2 bad lines in 2 batches, 1 orphaned batch$" "$T/check.out"
check "check changed nothing" test -f "$S/crm/tmp/$ORPHAN" -a ! -e "$S/crm/corrupt/$BAD"
ctl repair >"$T/repair.out"
is "$?" 0 "repair exits 0"
is "$(tail -1 "$T/repair.out")" "1 orphaned batch sealed, 2 bad lines moved to corrupt/ (2 batches cut, 0 moved whole)" "repair summary"
check "the orphan is sealed into new/" test -f "$S/crm/new/$ORPHAN" -a ! -e "$S/crm/tmp/$ORPHAN"
check "the live batch stays in tmp/" test -f "$S/crm/tmp/$LIVE"
check "bad lines are in corrupt/ with their .err" test -f "$S/crm/corrupt/$BAD" -a -f "$S/crm/corrupt/$BAD.err" -a -f "$S/crm/corrupt/$ORPHAN.err"
is "$(cat "$S/crm/corrupt/$BAD")" "not json" "the bad line, as it was"
is "$(hits_of)" "$before" "every good hit is still there"
check "new/ is all valid hit records now" python3 "$TOOLS/spoolcheck.py" "$S/crm/new"
ctl check >/dev/null
is "$?" 0 "check after repair: clean"

finish
