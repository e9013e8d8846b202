#!/usr/bin/env bash
# hookspool-upload end to end: hits posted through lighttpd reach the fake
# BigQuery's table exactly once each, with the stream's schema and DAY
# partitioning on `date`, through a verified JWT; a run with nothing to do
# and a run that finds the lock taken are silent and exit 0; a large
# backlog goes through resumable uploads in several chunks and several
# jobs; a stream with every optional column loads.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need lighttpd curl python3 openssl
need_file "$HS_FCGI"
need_file "$HS_UPLOAD"

ID=522ed95e-1a2b-4c3d-8e4f-0000000a0001
FULL_ID=522ed95e-1a2b-4c3d-8e4f-0000000a0002
TABLE=test-project.crm.hits
FULL_TABLE=test-project.crm.full
FULL_COLS="method content_type query remote_addr user_agent headers params signature_valid payload_base64"

start_fake_bq || { not_ok "the fake BigQuery starts"; finish; }
up_conf "$T/hs.conf" "$ID" "batch_max_hits = 100"
cat >>"$T/hs.conf" <<CONF

[stream full]
id = $FULL_ID
table = $FULL_TABLE
columns = $FULL_COLS
signature = hmac-sha256
signature_header = X-Sig
signature_prefix = sha256=
signature_secret = s3cret
signature_policy = record
CONF
PORT=$(free_port)
start_lighttpd "$T/hs.conf" "$PORT" || { not_ok "lighttpd starts"; finish; }
URL=http://127.0.0.1:$PORT/ds/$ID

# upload CONF [ARGS...]: one uploader run; output in $T/up.out, exit in RC.
upload() {
    local conf=$1
    shift
    "$HS_UPLOAD" -c "$conf" "$@" >"$T/up.out" 2>&1
    RC=$?
    [ -s "$T/up.out" ] && sed 's/^/#   /' "$T/up.out"
    return 0
}

# --- 500 hits end to end -----------------------------------------------
out=$(python3 "$TOOLS/load.py" --url "$URL" --n 500 --concurrency 8 \
    --out "$T/acked1")
echo "# $out"
check "500 hits answered 2xx" grep -q "ok2xx=500 " <<<"$out"
acked_ids "$T/acked1" >"$T/ids1"
seal_responders crm || not_ok "the responders sealed their batches"
nbatches=$(count_files "$T/spool/crm/new")
check "several sealed batches in new/ ($nbatches)" test "$nbatches" -ge 5

upload "$T/hs.conf"
is "$RC" 0 "first run exits 0"
is "$(wc -c <"$T/up.out")" 0 "a successful run is quiet"
res=$(rows_vs_ids "$TABLE" "$T/ids1")
echo "# $res"
check "every 2xx'd hit_id is in the table exactly once, and nothing else" \
    rows_vs_ids "$TABLE" "$T/ids1"
is "$(count_files "$T/spool/crm/new")" 0 "new/ is empty"
is "$(find "$T/spool/crm/active" -mindepth 1 | wc -l)" 0 "active/ is empty"
is "$(count_files "$T/spool/crm/done")" "$nbatches" "done/ holds the $nbatches batches"
spool_ids "$T/spool/crm/done" | sort >"$T/done1"
is "$(sort "$T/ids1" | cmp - "$T/done1" >/dev/null && echo same)" same \
    "done/ holds exactly the loaded hits"
jwt=$(fake_state 's["counters"]["jwt_verified"]')
check "the fake verified a JWT signed with the key ($jwt)" test "$jwt" -ge 1
is "$(fake_state 's["counters"]["jwt_rejected"]')" 0 "no JWT was rejected"
is "$(fake_state 'sum(1 for j in s["jobs"] if j["error"])')" 0 "no job ended in error"
check "the job's statistics count 500 rows" test \
    "$(fake_state 'sum(j["rows"] or 0 for j in s["jobs"])')" = 500

# The table as BigQuery describes it: tables.get and tabledata.list.
bq_get /bigquery/v2/projects/test-project/datasets/crm/tables/hits \
    >"$T/table.json" || not_ok "tables.get answers"
check "schema: the four fixed columns, REQUIRED hit_id" python3 - "$T/table.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
got = [(f["name"], f["type"], f.get("mode", "NULLABLE"))
       for f in t["schema"]["fields"]]
want = [("hit_id", "STRING", "REQUIRED"), ("payload", "STRING", "NULLABLE"),
        ("received_at", "INTEGER", "NULLABLE"), ("date", "DATE", "NULLABLE")]
if got != want:
    print("# got %s" % got)
    sys.exit(1)
PY
check "timePartitioning is DAY on date" python3 -c '
import json, sys
tp = json.load(open(sys.argv[1])).get("timePartitioning") or {}
sys.exit(0 if tp.get("type") == "DAY" and tp.get("field") == "date" else 1)' "$T/table.json"
python3 "$FAKE_BQ/tabledata.py" --api-base "$FAKE_API" --page-size 200 \
    "$TABLE" >"$T/tabledata" 2>"$T/tabledata.err"
check "tabledata.list gives the rows back as loaded" python3 - "$T/tabledata" "$T/spool/crm/done" <<'PY'
import json, os, sys
rows = {}
for l in open(sys.argv[1]):
    r = json.loads(l)
    rows[r["hit_id"]] = r
spool = {}
d = sys.argv[2]
for n in os.listdir(d):
    for l in open(os.path.join(d, n), "rb"):
        h = json.loads(l)
        spool[h["hit_id"]] = h
bad = [k for k in spool if rows.get(k) != spool[k]]
if bad or len(rows) != len(spool):
    print("# %d rows, %d hits, %d differ, e.g. %s / %s" % (
        len(rows), len(spool), len(bad), bad[:1] and rows.get(bad[0]),
        bad[:1] and spool[bad[0]]))
    sys.exit(1)
PY

# --- nothing to do ------------------------------------------------------
inserts=$(fake_state 's["counters"]["inserts"]')
upload "$T/hs.conf"
is "$RC" 0 "a run with nothing to do exits 0"
is "$(wc -c <"$T/up.out")" 0 "and says nothing"
is "$(fake_state 's["counters"]["inserts"]')" "$inserts" "and inserts no job"

# --- a second run while one holds the lock ------------------------------
out=$(python3 "$TOOLS/load.py" --url "$URL" --n 50 --concurrency 4 \
    --out "$T/acked2")
check "50 more hits answered 2xx" grep -q "ok2xx=50 " <<<"$out"
acked_ids "$T/acked2" >"$T/ids2"
seal_responders crm
# Slow polls keep the first run busy with its job for a few seconds.
fake_faults '{"kind":"slow","seconds":1.5,"match":"^GET /bigquery/"}'
"$HS_UPLOAD" -c "$T/hs.conf" >"$T/upA.out" 2>&1 &
upA=$!
has_job() { [ -n "$(ls -A "$T/spool/crm/active" 2>/dev/null)" ]; }
check "the first run claims a job" wait_for 10 has_job
t0=$(date +%s%N)
upload "$T/hs.conf"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
is "$RC" 0 "a run that finds the lock taken exits 0"
is "$(wc -c <"$T/up.out")" 0 "quietly"
check "at once (${ms} ms)" test "$ms" -lt 2000
check "the first run was still busy then" kill -0 "$upA"
wait "$upA"
is "$?" 0 "the first run finishes with 0"
is "$(wc -c <"$T/upA.out")" 0 "quietly"
fake_faults ''
cat "$T/ids1" "$T/ids2" >"$T/ids12"
res=$(rows_vs_ids "$TABLE" "$T/ids12")
echo "# $res"
check "550 hits, each once" rows_vs_ids "$TABLE" "$T/ids12"

# --- a large backlog: resumable uploads, several chunks, several jobs ---
up_conf "$T/big.conf" "$ID" "multipart_max = 64K" "chunk_size = 256K" \
    "job_max_bytes = 1M"
body=$(head -c 600 /dev/zero | tr '\0' 'x')
out=$(python3 "$TOOLS/load.py" --url "$URL" --n 3000 --concurrency 8 \
    --body "status=new&note=$body" --out "$T/acked3")
echo "# $out"
check "3000 hits answered 2xx" grep -q "ok2xx=3000 " <<<"$out"
acked_ids "$T/acked3" >"$T/ids3"
seal_responders crm
backlog=$(du -cb "$T"/spool/crm/new/* | tail -1 | cut -f1)
jobs0=$(fake_state 'len(s["jobs"])')
starts0=$(fake_state 's["counters"]["requests"].get("resumable_start", 0)')
chunks0=$(fake_state 's["counters"]["requests"].get("resumable_chunk", 0)')
multi0=$(fake_state 's["counters"]["requests"].get("insert_multipart", 0)')
upload "$T/big.conf"
is "$RC" 0 "the backlog ($backlog bytes) loads, exit 0"
jobs=$(( $(fake_state 'len(s["jobs"])') - jobs0 ))
starts=$(( $(fake_state 's["counters"]["requests"].get("resumable_start", 0)') - starts0 ))
chunks=$(( $(fake_state 's["counters"]["requests"].get("resumable_chunk", 0)') - chunks0 ))
multi=$(( $(fake_state 's["counters"]["requests"].get("insert_multipart", 0)') - multi0 ))
echo "# jobs=$jobs resumable sessions=$starts chunks=$chunks multipart=$multi"
check "several jobs under job_max_bytes = 1M ($jobs)" test "$jobs" -ge 2
check "each over 64K went resumable ($starts sessions)" test "$starts" -ge 2
check "in several 256 KiB chunks ($chunks)" test "$chunks" -gt "$starts"
check "the fake's jobs are each at most 1M + one batch" \
    test "$(fake_state 'max(j["bytes"] for j in s["jobs"])')" -le $((1024 * 1024 + 200 * 1024))
cat "$T/ids12" "$T/ids3" >"$T/ids123"
res=$(rows_vs_ids "$TABLE" "$T/ids123")
echo "# $res"
check "3550 hits, each once" rows_vs_ids "$TABLE" "$T/ids123"
is "$(count_files "$T/spool/crm/new")$(ls -A "$T/spool/crm/active")" 0 \
    "nothing left in new/ or active/"

# --- every optional column ----------------------------------------------
FURL=http://127.0.0.1:$PORT/ds/$FULL_ID
sig() { printf '%s' "$1" | openssl dgst -sha256 -hmac s3cret -r | cut -d' ' -f1; }
b1='leads[status][0][id]=7&leads[status][0][status_id]=142&total=120.13'
b2='{"order":{"id":"N3","status":"paid","items":[1,2]}}'
: >"$T/ids_full"
post_hit -H "X-Sig: sha256=$(sig "$b1")" -A 'CRM/1.0' -d "$b1" \
    "$FURL?src=amo" >>"$T/ids_full"
post_hit -H "X-Sig: sha256=0000" -H 'Content-Type: application/json' \
    --data-binary "$b2" "$FURL" >>"$T/ids_full"
printf 'ok \377\376 bad \303(' >"$T/bin"
post_hit -H 'Content-Type: application/octet-stream' \
    --data-binary "@$T/bin" "$FURL" >>"$T/ids_full"
post_hit "$FURL?orderId=N5&status=lead&utm_source=x%20y" >>"$T/ids_full"
is "$(wc -l <"$T/ids_full")" 4 "four hits to the stream with every column"
seal_responders full
upload "$T/hs.conf" -s full
is "$RC" 0 "the stream with every optional column loads"
check "its hits are in its table, each once" rows_vs_ids "$FULL_TABLE" "$T/ids_full"
fake_rows "$FULL_TABLE" >"$T/full.rows"
check "each row holds every column as the responder wrote it" python3 - "$T/full.rows" "$T/spool/full/done" <<'PY'
import json, os, sys
rows = {}
for l in open(sys.argv[1]):
    r = json.loads(l)
    rows[r["hit_id"]] = r
d, bad = sys.argv[2], 0
for n in os.listdir(d):
    for l in open(os.path.join(d, n), "rb"):
        h = json.loads(l)
        r = rows.get(h["hit_id"])
        if r != h:
            bad += 1
            print("# spool %s\n# table %s" % (h, r))
sys.exit(1 if bad or not rows else 0)
PY
check "signature_valid, params, headers and payload_base64 took values" python3 - "$T/full.rows" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
sv = sorted(str(r["signature_valid"]) for r in rows)
assert "True" in sv and "False" in sv, sv
assert any(r["params"] == {"leads": {"status": [{"id": "7",
           "status_id": "142"}]}, "total": "120.13"} for r in rows), \
    [r["params"] for r in rows]
assert any(r["params"] == {"order": {"id": "N3", "status": "paid",
           "items": [1, 2]}} for r in rows)
assert any(isinstance(r["headers"], dict) and any(
    k.lower() == "user-agent" for k in r["headers"]) for r in rows)
assert sum(1 for r in rows if r["payload_base64"]) == 1
assert all(r["method"] in ("POST", "GET") for r in rows)
assert any(r["query"] == "src=amo" for r in rows)
assert all(r["remote_addr"] == "127.0.0.1" for r in rows)
PY
bq_get /bigquery/v2/projects/test-project/datasets/crm/tables/full \
    >"$T/full.json" || not_ok "tables.get of the full table answers"
check "its schema: the four fixed columns, then each optional one, typed" python3 - "$T/full.json" "$FULL_COLS" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
got = [(f["name"], f["type"]) for f in t["schema"]["fields"]]
types = {"headers": "JSON", "params": "JSON", "signature_valid": "BOOLEAN",
         "payload_base64": "BYTES"}
want = [("hit_id", "STRING"), ("payload", "STRING"),
        ("received_at", "INTEGER"), ("date", "DATE")] + [
        (c, types.get(c, "STRING")) for c in sys.argv[2].split()]
if got != want:
    print("# got  %s\n# want %s" % (got, want))
    sys.exit(1)
tp = t.get("timePartitioning") or {}
sys.exit(0 if tp.get("type") == "DAY" and tp.get("field") == "date" else 1)
PY

stop_lighttpd
finish
