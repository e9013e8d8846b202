#!/usr/bin/env bash
# The BigQuery client (http.c, auth.c, bq.c) through tests/tools/bq-probe against
# the fake BigQuery: every credential source, multipart and resumable
# loads, and under injected faults (resets, lost answers, 5xx, 429, 401,
# partial 308s, vanished sessions, failed jobs) each job loads its rows
# exactly once or ends in the right class.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need python3 openssl curl
PROBE=$top_builddir/tests/tools/bq-probe
need_file "$PROBE"
need_file "$FAKE_BQ/fake_bigquery.py"
need_file "$FAKE_BQ/make-key.sh"

K=$T/key
sh "$FAKE_BQ/make-key.sh" "$K" http://127.0.0.1:1/token >/dev/null ||
    skip "make-key.sh failed"
python3 "$FAKE_BQ/fake_bigquery.py" --listen 127.0.0.1:0 \
    --port-file "$T/port" --public-key "$K/sa.pub" --quiet \
    2>"$T/fake.log" &
HS_PIDS+=($!)
wait_for 15 test -s "$T/port" || { not_ok "the fake starts"; finish; }
API=http://127.0.0.1:$(cat "$T/port")
sh "$FAKE_BQ/make-key.sh" "$K" "$API/token" >/dev/null

# probe ARGS...: one bq-probe run, its result line on stdout.
probe() {
    "$PROBE" -a "$API" -k "$K/key.json" -p 20 "$@" 2>>"$T/probe.log"
}
field() { # field LINE NAME
    printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1
}
fault() {
    curl -s -f -X POST "$API/_fake/faults" -d "{\"faults\":[$1]}" \
        >/dev/null || not_ok "fault accepted: $1"
}
rows() { # rows TABLE: rows the fake holds in the table (0: none)
    curl -s -f "$API/_fake/rows?table=$1" 2>/dev/null | grep -c . || true
}
counter() { # counter NAME: a request counter of the fake
    curl -s "$API/_fake/state" | python3 -c \
        'import json,sys; print(json.load(sys.stdin)["counters"]["requests"].get(sys.argv[1], 0))' "$1"
}
# batch FILE N [BYTES]: N valid hit lines, payloads about BYTES long.
batch() {
    python3 - "$1" "$2" "${3:-40}" <<'PY'
import json, sys, uuid
path, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "w") as f:
    for i in range(n):
        f.write(json.dumps({"hit_id": str(uuid.uuid4()),
            "payload": "orderId=N%d&status=new&x=%s" % (i, "y" * size),
            "received_at": 1603131452000 + i, "date": "2020-10-19"},
            separators=(",", ":")) + "\n")
PY
}

batch "$T/b1" 5
batch "$T/b2" 7
batch "$T/big1" 900 400
batch "$T/big2" 800 300

# --- credentials -------------------------------------------------------
r=$(probe token)
is "$(field "$r" result)" ok "service account key: JWT exchanged for a token"
r=$(probe -t "$API/token" -k "$K/authorized_user.json" token)
is "$(field "$r" result)" ok "authorized_user: refresh-token grant"
r=$(GCE_METADATA_HOST=${API#http://} probe -k metadata token)
is "$(field "$r" result)" ok "metadata server token"
r=$(unset GOOGLE_APPLICATION_CREDENTIALS; HOME=$T/nohome \
    CLOUDSDK_CONFIG=$T/nohome GCE_METADATA_HOST=${API#http://} \
    probe -k auto token)
is "$(field "$r" result)" ok "auto falls back to the metadata server"
r=$(GOOGLE_APPLICATION_CREDENTIALS=$K/key.json probe -k auto token)
check "auto takes GOOGLE_APPLICATION_CREDENTIALS" \
    grep -q "uploader@test-project" <<<"$r"
r=$(probe -k "command:echo tok-from-command" token)
is "$(field "$r" length)" 16 "command: the first line is the token"
cp "$K/key.json" "$T/open.json"
chmod 644 "$T/open.json"
r=$(probe -k "$T/open.json" token)
is "$(field "$r" result)" config "a key readable by others is refused"
check "the refusal names the file" grep -q "open.json' is readable" "$T/probe.log"
mkdir -p "$T/other"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$T/other/sa.pem" 2>/dev/null
sh "$FAKE_BQ/make-key.sh" "$T/other" "$API/token" >/dev/null
r=$(probe -k "$T/other/key.json" token)
is "$(field "$r" result)" config "a key the token endpoint rejects: config error"
r=$(unset GOOGLE_APPLICATION_CREDENTIALS; HOME=$T/nohome \
    CLOUDSDK_CONFIG=$T/nohome GCE_METADATA_HOST=127.0.0.1:1 \
    probe -k auto token)
is "$(field "$r" result)" config "auto with nothing to find: config error"
check "no secret in the logs" sh -c "! grep -q -e 'BEGIN' -e 'ya29' -e 'fake-refresh' -e 'eyJ' '$T/probe.log'"

# --- multipart ---------------------------------------------------------
r=$(probe load test-project.ds.m job_m1 "$T/b1" "$T/b2")
is "$(field "$r" result)" ok "multipart load"
is "$(field "$r" rows)" 12 "outputRows reported"
is "$(rows test-project.ds.m)" 12 "12 rows in the table"
r=$(probe load test-project.ds.m job_m1 "$T/b1" "$T/b2")
is "$(field "$r" result)" ok "same job again: 409, looked up, ok"
is "$(rows test-project.ds.m)" 12 "and loaded only once"
r=$(probe get job_m1)
is "$(field "$r" result)/$(field "$r" state)" ok/DONE "jobs.get of a done job"
r=$(probe get job_never)
is "$(field "$r" result)" notfound "jobs.get of a job never created"

fault '{"kind":"lost_answer","match":"^POST /upload/","count":1}'
r=$(probe load test-project.ds.m job_m2 "$T/b1")
is "$(field "$r" result)" ok "insert whose answer is lost: resent, 409, ok"
is "$(rows test-project.ds.m)" 17 "loaded once"
fault '{"kind":"reset","when":"after","match":"^POST /upload/","count":2}'
r=$(probe load test-project.ds.m job_m3 "$T/b1")
is "$(field "$r" result)" ok "connection reset during the insert: retried"
is "$(rows test-project.ds.m)" 22 "loaded once"
fault '{"kind":"status","code":503,"match":"^POST /upload/","count":2}'
r=$(probe load test-project.ds.m job_m4 "$T/b1")
is "$(field "$r" result)" ok "two 503s on insert: retried"
fault '{"kind":"status","code":503,"html":true,"match":"^POST /upload/"}'
r=$(probe -n 2 load test-project.ds.m job_m5 "$T/b1")
is "$(field "$r" result)" retry "503 every time: retry later"
fault '{"kind":"status","code":429,"retry_after":1,"match":"^POST /upload/","count":1}'
r=$(probe load test-project.ds.m job_m6 "$T/b1")
is "$(field "$r" result)" ok "429 with Retry-After: waited, retried"
fault '{"kind":"status","code":429,"retry_after":3600,"match":"^POST /upload/","count":1}'
r=$(probe load test-project.ds.m job_m7 "$T/b1")
is "$(field "$r" result)" retry "429 asking for an hour: left to a later run"
fault '{"kind":"status","code":403,"reason":"quotaExceeded","match":"^POST /upload/","count":1}'
r=$(probe load test-project.ds.m job_m8 "$T/b1")
is "$(field "$r" result)" quota "quotaExceeded on insert"
fault '{"kind":"status","code":403,"match":"^POST /upload/","count":1}'
r=$(probe load test-project.ds.m job_m9 "$T/b1")
is "$(field "$r" result)/$(field "$r" reason)" failed/accessDenied "accessDenied: failed for good"
fault '{"kind":"expire_tokens","match":"^POST /upload/","count":1}'
r=$(probe load test-project.ds.m job_m10 "$T/b1")
is "$(field "$r" result)" ok "401: token renewed, retried once"
fault '{"kind":"expire_tokens","match":"^GET /bigquery/","count":1}'
r=$(probe load test-project.ds.m job_m11 "$T/b1")
is "$(field "$r" result)" ok "401 while polling: token renewed"
fault ''

for reason in backendError:retry internalError:retry \
    rateLimitExceeded:retry quotaExceeded:quota invalid:failed; do
    fault "{\"kind\":\"job_error\",\"reason\":\"${reason%%:*}\",\"message\":\"m\",\"count\":1}"
    r=$(probe load test-project.ds.m "job_e_${reason%%:*}" "$T/b1")
    is "$(field "$r" result)/$(field "$r" done)" "${reason#*:}/1" \
        "job ended with ${reason%%:*}: ${reason#*:}"
done
is "$(rows test-project.ds.m)" 42 "failed jobs loaded nothing"

printf '{"hit_id":"x","payload":"p","received_at":"abc","date":"2020-10-19"}\n' >"$T/bad"
r=$(probe load test-project.ds.m job_bad "$T/b1" "$T/bad")
is "$(field "$r" result)" failed "a bad row fails the job"
check "the row error is in the message" grep -q "received_at" <<<"$r"
is "$(rows test-project.ds.m)" 42 "and nothing of it is loaded"
r=$(probe -c headers load test-project.ds.m job_schema "$T/b1")
is "$(field "$r" result)" ok "a column added (ALLOW_FIELD_ADDITION): ok"
# A column of another type is a mismatch no schemaUpdateOptions allows.
curl -s -f -o /dev/null -X POST "$API/_fake/tables" --data-binary '{
  "table": "test-project.ds.typed", "schema": {"fields": [
    {"name": "hit_id", "type": "STRING", "mode": "REQUIRED"},
    {"name": "received_at", "type": "STRING"}]},
  "timePartitioning": {"type": "DAY"}}' || not_ok "the fake makes a table"
r=$(probe load test-project.ds.typed job_schema2 "$T/b1")
is "$(field "$r" result)/$(field "$r" reason)" failed/invalid "schema mismatch: failed, invalid"
r=$(probe -L EU load test-project.ds.eu job_eu "$T/b1")
is "$(field "$r" result)" ok "job in location EU"
r=$(probe -L EU get job_eu)
is "$(field "$r" result)" ok "found with ?location=EU"
r=$(probe -L asia-east1 get job_eu)
is "$(field "$r" result)" notfound "not found in another location"

# --- resumable ---------------------------------------------------------
R="-m 1000 -C 262144"
total=$(( $(wc -c <"$T/big1") + $(wc -c <"$T/big2") ))
r=$(probe $R load test-project.ds.r job_r1 "$T/big1" "$T/big2")
is "$(field "$r" result)" ok "resumable load of $total bytes in 256 KiB chunks"
is "$(rows test-project.ds.r)" 1700 "all rows once"
chunks=$(counter resumable_chunk)
check "several chunks were sent ($chunks)" test "$chunks" -ge 3

fault '{"kind":"reset","match":"^PUT /upload/","every":2,"count":2},
  {"kind":"partial308","match":"^PUT /upload/","count":1},
  {"kind":"status","code":503,"match":"^PUT /upload/","count":1,"every":3},
  {"kind":"session_gone","match":"^PUT /upload/","count":1,"every":5},
  {"kind":"lost_answer","match":"^PUT /upload/","every":7,"count":1}'
r=$(probe $R load test-project.ds.r job_r2 "$T/big1" "$T/big2")
is "$(field "$r" result)" ok "resumable under resets, 503, partial 308, lost answers, a lost session"
is "$(rows test-project.ds.r)" 3400 "all rows once more, no duplicates"
fired=$(curl -s "$API/_fake/faults" | python3 -c 'import json,sys; print(sum(1 for f in json.load(sys.stdin)["faults"] if f["fired"]))')
is "$fired" 5 "every fault fired"
nchunks=$(( (total + 262143) / 262144 ))
fault "{\"kind\":\"lost_answer\",\"match\":\"^PUT /upload/\",\"count\":1,\"every\":$nchunks}"
r=$(probe $R load test-project.ds.r job_r3 "$T/big1" "$T/big2")
is "$(field "$r" result)" ok "final chunk's answer lost: status query finds the job"
is "$(rows test-project.ds.r)" 5100 "loaded once"
fault '{"kind":"session_gone","code":410,"match":"^PUT /upload/"}'
r=$(probe $R load test-project.ds.r job_r4 "$T/big1")
is "$(field "$r" result)" retry "session always gone: retry later"
fault ''
r=$(probe $R load test-project.ds.r job_r1 "$T/big1" "$T/big2")
is "$(field "$r" result)" ok "resumable resend of a done job: 409, looked up"
is "$(rows test-project.ds.r)" 5100 "not loaded twice"

# --- polling -----------------------------------------------------------
fault '{"kind":"status","code":503,"match":"^GET /bigquery/"}'
r=$(probe -T 2 load test-project.ds.p job_p1 "$T/b1")
is "$(field "$r" result)/$(field "$r" done)" retry/0 "job not seen DONE within job_timeout: retry"
fault ''
r=$(probe get job_p1)
is "$(field "$r" result)" ok "a later run finds it"
r=$(probe load test-project.ds.p job_p1 "$T/b1")
is "$(field "$r" result)/$(field "$r" rows)" ok/5 "and sees it through"

# --- memory: the data is streamed, never held whole --------------------
batch "$T/huge" 60000 400
size=$(wc -c <"$T/huge")
rss() {
    python3 -c 'import resource,subprocess,sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$@"
}
# The same run with a tiny file is the baseline (libraries, sanitizers).
# AddressSanitizer's quarantine keeps every freed block (each request's
# 1 MiB upload buffer among them): off here, memory is what is held.
if grep -q __asan_init "$PROBE"; then
    export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0
fi
base=$(rss "$PROBE" -a "$API" -k "$K/key.json" -p 20 load test-project.ds.h0 job_h0 "$T/b1")
limit=$((base + size / 1024 / 8))
kb=$(rss "$PROBE" -a "$API" -k "$K/key.json" -p 20 -m 64000000 load test-project.ds.h job_h1 "$T/huge")
is "$(rows test-project.ds.h)" 60000 "$size bytes by multipart"
check "multipart: ${kb} KiB of memory, ${base} KiB for a tiny load" test "$kb" -lt "$limit"
kb=$(rss "$PROBE" -a "$API" -k "$K/key.json" -p 20 -m 1000 load test-project.ds.h job_h2 "$T/huge")
is "$(rows test-project.ds.h)" 120000 "$size bytes by resumable upload"
check "resumable: ${kb} KiB of memory, ${base} KiB for a tiny load" test "$kb" -lt "$limit"

finish
