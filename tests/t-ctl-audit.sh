#!/usr/bin/env bash
# hookspoolctl audit: the hit_ids kept in done/ against the table's rows,
# read with tabledata.list page after page (the fake cuts pages at 2 rows)
# through the uploader's credentials.  Clean: exit 0 and a summary; a row
# deleted and a row doubled by hand: exit 65, the missing and duplicated
# hit_ids with their batch files; --since leaves older hits out;
# BigQuery unreachable: exit 75; usage errors: 64; a delivery id on rows
# of two hit_ids is reported.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need python3 openssl curl
need_file "$HS_UPLOAD"
need_file "$HS_CTL"

ID=522ed95e-1a2b-4c3d-8e4f-0000000f0001
TABLE=test-project.crm.hits
S=$T/spool/crm
MKBATCH=$top_srcdir/tests/upload/mkbatch.py

start_fake_bq --polls-to-done 1 --page-rows 2 ||
    { not_ok "the fake BigQuery starts"; finish; }
up_conf "$T/hs.conf" "$ID" "http_timeout = 5s"
mkdir -p "$S/new"
python3 "$MKBATCH" "$S/new" --batches 3 --hits 5 >"$T/names" ||
    not_ok "three batches written"
"$HS_UPLOAD" -c "$T/hs.conf" >"$T/up.out" 2>&1
is "$?" 0 "the uploader loads them"
is "$(count_files "$S/done")" 3 "the 3 batches are kept in done/"

# audit ARGS...: hookspoolctl audit; stdout in $T/audit.out, exit in RC.
audit() {
    "$HS_CTL" -c "$T/hs.conf" audit "$@" >"$T/audit.out" 2>"$T/audit.err"
    RC=$?
    sed 's/^/#   /' "$T/audit.out" "$T/audit.err"
}
# edit OP HIT_ID: delete or duplicate the table's row(s) of HIT_ID.
edit() {
    curl -s -f -o /dev/null -X POST "$FAKE_API/_fake/rows" --data-binary \
        "{\"table\":\"$TABLE\",\"$1\":{\"hit_id\":\"$2\"}}"
}
# first_id BATCH: the hit_id of its first line.
first_id() {
    python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["hit_id"])' \
        "$S/done/$1"
}

# --- clean --------------------------------------------------------------------
pages0=$(fake_state 's["counters"]["requests"].get("tabledata_list", 0)')
audit crm
is "$RC" 0 "clean: exit 0"
check "clean: the summary counts 15 hits, 15 rows, no problem" grep -q \
    "^audit: stream crm: table $TABLE: 15 hits kept in done/ (3 batches), 15 rows read, 0 missing, 0 duplicated$" \
    "$T/audit.out"
is "$(grep -c '^missing\|^duplicated' "$T/audit.out")" 0 "clean: no problem line"
pages=$(($(fake_state 's["counters"]["requests"].get("tabledata_list", 0)') - pages0))
check "the rows came in pages ($pages tabledata.list calls)" test "$pages" -ge 8

# --- a row deleted, another doubled by hand ------------------------------------
B1=$(sed -n 1p "$T/names")
B2=$(sed -n 2p "$T/names")
GONE=$(first_id "$B1")
TWICE=$(first_id "$B2")
edit delete "$GONE" || not_ok "the fake deletes a row"
edit duplicate "$TWICE" || not_ok "the fake doubles a row"
"$HS_CTL" -c "$T/hs.conf" -s crm audit >"$T/audit.out" 2>"$T/audit.err"
RC=$?
sed 's/^/#   /' "$T/audit.out" "$T/audit.err"
is "$RC" 65 "a missing and a duplicated hit_id: exit 65 (EX_DATAERR)"
check "the missing hit_id is named with its batch" \
    grep -qx "missing $GONE $B1" "$T/audit.out"
check "the duplicated hit_id is named with its count and batch" \
    grep -qx "duplicated $TWICE 2 $B2" "$T/audit.out"
is "$(grep -c '^missing\|^duplicated' "$T/audit.out")" 2 "and nothing else"
check "the summary says 1 missing, 1 duplicated" grep -q \
    "15 rows read, 1 missing, 1 duplicated$" "$T/audit.out"

# --- a doubled row that no kept batch holds ------------------------------------
rm -f "$S/done/$B2"
audit crm
is "$RC" 65 "a duplicated row of a batch no longer kept: exit 65"
check "it is named, with '-' for the batch" \
    grep -qx "duplicated $TWICE 2 -" "$T/audit.out"

# --- --since ---------------------------------------------------------------------
tomorrow=$(date -u -d tomorrow +%F)
audit --since "$tomorrow" crm
is "$RC" 0 "--since tomorrow: nothing to compare, exit 0"
check "--since tomorrow: 0 hits, 0 rows" grep -q \
    "0 hits kept in done/ (2 batches), 0 rows read, 0 missing, 0 duplicated, since $tomorrow$" \
    "$T/audit.out"
audit --since "$(date -u +%F)"
is "$RC" 65 "--since today: the problems are back"

# --- delivery ids on rows of two hit_ids -----------------------------------------
# A retry that reached another host (each host dedups its own hits) is two
# rows with one delivery_id: reported, not an error.
cat >>"$T/hs.conf" <<CONF

[stream dl]
id = 522ed95e-1a2b-4c3d-8e4f-0000000f0002
table = test-project.crm.dl
delivery_id = header:X-Delivery
CONF
D=$T/spool/dl
mkdir -p "$D/new"
python3 "$MKBATCH" "$D/new" --batches 1 --hits 4 >"$T/dlnames" ||
    not_ok "a batch for stream dl written"
DLB=$D/new/$(cat "$T/dlnames")
python3 - "$DLB" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
for l, did in zip(lines, ["evt_1", "evt_1", "evt_2\tx", None]):
    l["delivery_id"] = did
with open(sys.argv[1], "w") as f:
    for l in lines:
        f.write(json.dumps(l) + "\n")
PY
TWIN=$(python3 -c 'import json,sys; print(",".join(sorted(json.loads(l)["hit_id"] for l in list(open(sys.argv[1]))[:2])))' "$DLB")
"$HS_UPLOAD" -c "$T/hs.conf" -s dl >"$T/up.out" 2>&1
is "$?" 0 "stream dl loads"
audit dl
is "$RC" 0 "a delivery id on two rows is not an error: exit 0"
check "it is named, with both hit_ids" \
    grep -qx "redelivered 2 $TWIN evt_1" "$T/audit.out"
is "$(grep -c '^redelivered' "$T/audit.out")" 1 "and nothing else"
check "the summary counts it" grep -qx \
    "audit: stream dl: 1 delivery ids on rows of more than one hit_id" \
    "$T/audit.out"
check "a table without delivery_id has no such line" \
    sh -c "! '$HS_CTL' -c '$T/hs.conf' audit crm | grep -q 'delivery ids'"

# --- usage and an unreachable BigQuery -------------------------------------------
audit --since yesterday
is "$RC" 64 "a --since that is not a date: 64"
audit nosuch
is "$RC" 64 "an unknown stream: 64"
DEAD=$(free_port)
up_conf "$T/dead.conf" "$ID" "http_timeout = 2s"
sed -i "s|^api_base = .*|api_base = http://127.0.0.1:$DEAD|" "$T/dead.conf"
"$HS_CTL" -c "$T/dead.conf" audit >"$T/audit.out" 2>"$T/audit.err"
RC=$?
sed 's/^/#   /' "$T/audit.err"
is "$RC" 75 "BigQuery unreachable: exit 75 (EX_TEMPFAIL)"
check "the cause is on stderr" grep -q "127.0.0.1:$DEAD" "$T/audit.err"

finish
