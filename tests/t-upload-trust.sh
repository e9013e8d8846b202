#!/usr/bin/env bash
# The uploader does not trust the server blindly: the bearer token goes
# only to api_base's scheme, host and port (a foreign or plain-http
# resumable session URI and a redirect get nothing) and only over https
# or to a loopback host (api_base and token_uri, in the config and in a
# key file); an answer naming another job than the one sent is a protocol
# error, not a job to poll; Retry-After is capped at an hour; a server
# that trickles its answer cannot hold a request past its deadline.  And a
# 1 MiB line of many keys is validated in well under a second.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need python3 openssl curl
PROBE=$top_builddir/tests/tools/bq-probe
need_file "$PROBE"
need_file "$HS_UPLOAD"

ID=522ed95e-1a2b-4c3d-8e4f-0000000c0001
INSERT='^POST /upload/bigquery/v2/projects/test-project/jobs[?]uploadType=multipart'
START='^POST /upload/bigquery/v2/projects/test-project/jobs[?]uploadType=resumable'

start_fake_bq || { not_ok "the fake starts"; finish; }
API=$FAKE_API
PORT=${API##*:}

# A catcher on 127.0.0.2 and on another port of 127.0.0.1: every request
# it gets is a token leak, recorded in $T/caught.
cat >"$T/catcher.py" <<'PY'
import http.server, sys, threading
out = open(sys.argv[1], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    def any(self):
        out.write("%s %s %s auth=%s\n" % (self.server.server_address[0],
                  self.command, self.path,
                  "yes" if self.headers.get("Authorization") else "no"))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_GET = do_PUT = do_POST = any
    def log_message(self, *a):
        pass
servers = [http.server.ThreadingHTTPServer((h, 0), H)
           for h in ("127.0.0.2", "127.0.0.1")]
with open(sys.argv[2], "w") as f:
    f.write(" ".join(str(s.server_address[1]) for s in servers) + "\n")
for s in servers[1:]:
    threading.Thread(target=s.serve_forever, daemon=True).start()
servers[0].serve_forever()
PY
: >"$T/caught"
python3 "$T/catcher.py" "$T/caught" "$T/catcher.ports" 2>>"$T/catcher.log" &
HS_PIDS+=($!)
wait_for 10 test -s "$T/catcher.ports" || { not_ok "the catcher starts"; finish; }
read -r CP2 CP1 <"$T/catcher.ports"

probe() {
    "$PROBE" -a "$API" -k "$FAKE_KEY" -p 20 "$@" 2>>"$T/probe.log"
}
field() { # field LINE NAME
    printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1
}
fault() {
    fake_faults "$1" || not_ok "fault accepted: $1"
}
rows() { fake_rows "$1" | grep -c . || true; }
batch() { # batch FILE N
    python3 - "$1" "$2" <<'PY'
import json, sys, uuid
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(json.dumps({"hit_id": str(uuid.uuid4()),
            "payload": "orderId=N%d&x=%s" % (i, "y" * 300),
            "received_at": 1603131452000 + i, "date": "2020-10-19"},
            separators=(",", ":")) + "\n")
PY
}
batch "$T/b1" 5
batch "$T/b2" 7
batch "$T/big" 1000

# --- the resumable session URI ------------------------------------------
for loc in "http://127.0.0.2:$CP2/steal" "http://127.0.0.1:$CP1/steal" \
    "https://127.0.0.1:$PORT/upload/bigquery/v2/projects/test-project/jobs?upload_id=x"; do
    fault "{\"kind\":\"location\",\"url\":\"$loc\",\"match\":\"$START\"}"
    : >"$T/probe.log"
    r=$(probe -n 1 -m 65536 -C 262144 load test-project.ds.r job_loc$RANDOM "$T/big")
    is "$(field "$r" result)/$(field "$r" reason)" retry/badAnswer \
        "session URI $loc: a protocol error, retried later"
    check "  and said so" grep -q "is not on $API: protocol error" "$T/probe.log"
done
is "$(cat "$T/caught")" "" "no request (no token) reached another host or port"
fault ''
r=$(probe -m 65536 -C 262144 load test-project.ds.r job_loc_ok "$T/big")
is "$(field "$r" result)/$(rows test-project.ds.r)" ok/1000 \
    "a session URI on api_base is followed"

# A redirect is not followed, so the token does not go with it.
fault "{\"kind\":\"status\",\"code\":307,\"location\":\"http://127.0.0.2:$CP2/steal\",\"match\":\"$INSERT\",\"count\":1}"
r=$(probe -n 1 load test-project.ds.m job_redirect "$T/b1")
is "$(field "$r" result)" retry "a 307 to another host: retried later"
is "$(cat "$T/caught")" "" "  and the token did not follow it"
fault ''

# --- https or loopback only ----------------------------------------------
hs_conf "$T/http.conf" "$ID" "credentials = $FAKE_KEY" "project = test-project" \
    "api_base = http://bigquery.example.com"
"$HS_UPLOAD" -c "$T/http.conf" -f >"$T/up.out" 2>&1
is "$?" 78 "api_base over plain http to another host: config error"
check "  naming the file, line and key" \
    grep -q "http.conf:[0-9]*: api_base 'http://bigquery.example.com' must be https" "$T/up.out"
up_conf "$T/tok.conf" "$ID" "token_uri = http://oauth2.example.com/token"
"$HS_UPLOAD" -c "$T/tok.conf" -f >"$T/up.out" 2>&1
is "$?" 78 "token_uri over plain http to another host: config error"
check "  naming the file, line and key" \
    grep -q "tok.conf:[0-9]*: token_uri 'http://oauth2.example.com/token' must be https" "$T/up.out"
mkdir -p "$T/k2"
cp "$T/key/sa.pem" "$T/k2/" 2>/dev/null
sh "$FAKE_BQ/make-key.sh" "$T/k2" http://oauth2.example.com/token >/dev/null
: >"$T/probe.log"
r=$("$PROBE" -a "$API" -k "$T/k2/key.json" token 2>>"$T/probe.log")
is "$(field "$r" result)" config "a key file's plain-http token_uri: refused"
check "  naming the file and key" \
    grep -q "credentials '$T/k2/key.json': token_uri 'http://oauth2.example.com/token' must be https" "$T/probe.log"
r=$("$PROBE" -a "http://bigquery.example.com" -k "$FAKE_KEY" get j 2>>"$T/probe.log")
check "bq-probe with a plain-http api_base: refused" test "$(field "$r" result)" != ok

# --- the job ID of an answer --------------------------------------------
r=$(probe load test-project.ds.j job_a "$T/b1")
is "$(field "$r" result)/$(rows test-project.ds.j)" ok/5 "job_a loads"
fault "{\"kind\":\"wrong_job_id\",\"job_id\":\"job_a\",\"match\":\"$INSERT\",\"count\":1}"
: >"$T/probe.log"
r=$(probe -n 1 load test-project.ds.j job_b "$T/b2")
is "$(field "$r" result)/$(field "$r" reason)" retry/badAnswer \
    "an insert answer naming job_a for job_b: protocol error, retry later"
check "  logged as such" grep -q "job job_b: the answer names another job: protocol error" "$T/probe.log"
fault "{\"kind\":\"wrong_job_id\",\"job_id\":\"job_a\",\"match\":\"^GET /bigquery/\",\"count\":1}"
r=$(probe -n 1 load test-project.ds.j job_b "$T/b2")
is "$(field "$r" result)" retry "a jobs.get answer naming another job: not followed"
fault ''
r=$(probe load test-project.ds.j job_b "$T/b2")
is "$(field "$r" result)/$(rows test-project.ds.j)" ok/12 \
    "the next run finds job_b itself: its rows load, once"

# --- a trickling server --------------------------------------------------
fault "{\"kind\":\"trickle\",\"seconds\":0.3,\"for\":30,\"match\":\"$INSERT\"}"
t0=$SECONDS
r=$(probe -n 1 -H 2 load test-project.ds.t job_trickle "$T/b1")
dt=$((SECONDS - t0))
is "$(field "$r" result)" retry "an answer trickled a byte at a time: cut off"
check "  within its deadline ($dt s, the trickle would take 30)" test "$dt" -le 10
fault ''

# --- Retry-After, through the uploader -------------------------------------
up_conf "$T/up.conf" "$ID" "http_timeout = 5s" "job_timeout = 30s"
mkdir -p "$T/spool/crm/new"
python3 "$top_srcdir/tests/upload/mkbatch.py" "$T/spool/crm/new" \
    --batches 1 --hits 3 --size 100 >/dev/null
fault "{\"kind\":\"status\",\"code\":503,\"retry_after\":31536000,\"match\":\"$INSERT\"}"
"$HS_UPLOAD" -c "$T/up.conf" -f >"$T/up.out" 2>&1
is "$?" 75 "503 asking for a year: a later run"
wait=$(sed -n 's/.*next try in \([0-9]*\) s.*/\1/p' "$T/up.out" | head -1)
check "  is at most an hour away (next try in ${wait:-?} s)" \
    test "${wait:-999999999}" -le 3600
fault ''
"$HS_UPLOAD" -c "$T/up.conf" -f >"$T/up.out" 2>&1
is "$?/$(rows test-project.crm.hits)" 0/3 "the fault gone, the batch loads"

# The uploader given another (done) job's id for its insert: retried later,
# not polled as its own and settled as loaded.
JOBA=$(fake_state '[j["id"] for j in s["jobs"] if j["table"] == "test-project.crm.hits"][0]')
python3 "$top_srcdir/tests/upload/mkbatch.py" "$T/spool/crm/new" \
    --batches 1 --hits 2 --size 100 >/dev/null
fault "{\"kind\":\"wrong_job_id\",\"job_id\":\"$JOBA\",\"match\":\"$INSERT\"}"
"$HS_UPLOAD" -c "$T/up.conf" -f >"$T/up.out" 2>&1
is "$?" 75 "uploader: an answer naming $JOBA is a protocol error, a later run"
check "  logged" grep -q "the answer names another job: protocol error" "$T/up.out"
is "$(count_files "$T/spool/crm/done")/$(rows test-project.crm.hits)" 1/3 \
    "  the batch is not settled as loaded"
fault ''
"$HS_UPLOAD" -c "$T/up.conf" -f >"$T/up.out" 2>&1
is "$?/$(rows test-project.crm.hits)" 0/5 "the next run loads it, once"

# --- a 1 MiB line of many keys ---------------------------------------------
# Validation (under the spool lock) compared each key with all before it:
# ~27 s of CPU for this line.
python3 - "$T/spool/crm/new/$(date +%s).000000.testhost.1.0.ndjson" <<'PY'
import sys
keys = ",".join('"%x":%d' % (i, i % 10) for i in range(112000))
with open(sys.argv[1], "w") as f:
    f.write('{"hit_id":"many-keys","payload":"x","received_at":1,'
            '"date":"2026-12-01","params":{%s}}\n' % keys)
    f.write('{"hit_id":"many-keys-dup","params":{%s,"0":1}}\n' % keys)
PY
t0=$SECONDS
timeout 10 "$HS_CTL" -c "$T/up.conf" check >"$T/check.out" 2>&1
rc=$?
check "hookspoolctl check of two 1 MiB many-key lines ends in time ($((SECONDS - t0)) s, rc $rc)" \
    test "$rc" != 124
check "  and finds the one with a duplicate key bad" grep -q " 1 bad line" "$T/check.out"

finish
