#!/usr/bin/env bash
# A failed fdatasync (tests/tools/failsync.so makes it fail with EIO while a
# marker file exists) under concurrent load through lighttpd: every hit
# answered 2xx is sealed in new/ exactly once, and no hit answered 503 is in
# any batch the uploader would load, and each batch's seal (size, CRC-32)
# is that of its bytes, cut or not.  Under sync = always (group commits
# and seals fail) and sync = batch (seals fail).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need lighttpd python3
need_file "$HS_FCGI"
SHIM=$top_builddir/tests/tools/failsync.so
need_file "$SHIM"
# An ASan build wants its runtime first; the shim only adds fdatasync.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0

ID=7c1b2a3d-4e5f-4a6b-8c7d-000000000077
MARK=$T/fail-sync

# lighttpd_to SOCKET PORT: lighttpd forwarding /ds/ to a running responder.
lighttpd_to() {
    local d=$T/lt-$2
    mkdir -p "$d/www"
    cat >"$d/lighttpd.conf" <<CONF
server.document-root = "$d/www"
server.bind = "127.0.0.1"
server.port = $2
server.errorlog = "$d/error.log"
server.modules += ( "mod_fastcgi" )
fastcgi.server = ( "/ds/" => (( "socket" => "$1", "check-local" => "disable" )) )
CONF
    lighttpd -D -f "$d/lighttpd.conf" &
    HS_PIDS+=($!)
    wait_port "$2"
}

# flap SECONDS OFF ON: for SECONDS, syncs work for OFF seconds, then fail
# for ON seconds, and again.
flap() {
    local end=$((SECONDS + $1))
    while [ "$SECONDS" -lt "$end" ]; do
        sleep "$2"
        touch "$MARK"
        sleep "$3"
        rm -f "$MARK"
    done
}

# verdict LOADOUT STREAMDIR: every 2xx'd request's line once in new/ or
# tmp/ (where the uploader loads) or in the acknowledged part of a batch set
# aside in corrupt/ (its .err says how long), and no line there of a request
# answered otherwise (its "i=N" in the payload tells).
verdict() {
    python3 - "$@" <<'PY'
import collections, json, os, re, sys
res = [json.loads(l) for l in open(sys.argv[1])]
ok = {r["n"]: r["hit_id"] for r in res if 200 <= r["status"] < 300}
refused = {r["n"]: r["status"] for r in res if r["status"] >= 300}
seen = collections.Counter()
ns = collections.Counter()
aside = 0
def lines(path, upto=None):
    data = open(path, "rb").read()
    if upto is not None:
        data = data[:upto]
    return data.splitlines()
for state in ("new", "tmp", "corrupt"):
    top = os.path.join(sys.argv[2], state)
    for name in os.listdir(top):
        if name.startswith(".") or not name.endswith(".ndjson"):
            continue
        upto = None
        if state == "corrupt":
            m = re.search(r"first (\d+) bytes",
                          open(os.path.join(top, name + ".err")).read())
            upto = int(m.group(1))
        for line in lines(os.path.join(top, name), upto):
            h = json.loads(line)
            seen[h["hit_id"]] += 1
            m = re.match(r"i=(\d+)&", h["payload"])
            ns[int(m.group(1))] += 1
            aside += state == "corrupt"
missing = [n for n, i in ok.items() if seen[i] != 1]
leaked = [(n, s) for n, s in refused.items() if ns[n] > 0]
dup = [n for n, c in ns.items() if c > 1]
print("ok2xx=%d refused=%d lines=%d aside=%d missing=%d leaked=%d dup=%d" % (
    len(ok), len(refused), sum(ns.values()), aside, len(missing),
    len(leaked), len(dup)))
if leaked:
    print("leaked (n, status): %s" % leaked[:10])
sys.exit(0 if not missing and not leaked and not dup else 1)
PY
}

# run MODE OFF ON: one responder under sync = MODE, a load while syncs
# fail now and then (flap).
run() {
    local mode=$1 sock=$T/$1.sock port fpid out res
    rm -rf "$T/spool"
    hs_conf "$T/$mode.conf" "$ID" "sync = $mode" "batch_max_hits = 40"
    HS_FAIL_SYNC=$MARK LD_PRELOAD=$SHIM \
        "$HS_FCGI" -d -c "$T/$mode.conf" -s "unix:$sock" 2>"$T/$mode.err" &
    fpid=$!
    HS_PIDS+=($fpid)
    wait_for 10 test -S "$sock"
    port=$(free_port)
    lighttpd_to "$sock" "$port"
    python3 "$TOOLS/load.py" --url "http://127.0.0.1:$port/ds/$ID" \
        --seconds 6 --concurrency 16 --out "$T/$mode.load" >"$T/$mode.sum" &
    local load=$!
    flap 6 "$2" "$3"
    wait "$load"
    rm -f "$MARK"
    kill "$fpid"
    wait "$fpid"
    out=$(cat "$T/$mode.sum")
    echo "# sync = $mode: $out"
    check "sync = $mode: some hits answered 2xx" grep -Eq "ok2xx=[1-9]" \
        <<<"$out"
    check "sync = $mode: the responder saw failed syncs" \
        grep -q "cannot sync" "$T/$mode.err"
    # A batch whose seal failed waits in tmp/ for the uploader to seal.
    echo "# sync = $mode: $(count_files "$T/spool/crm/tmp") batches left in tmp/"
    res=$(verdict "$T/$mode.load" "$T/spool/crm")
    echo "# $res"
    check "sync = $mode: every 2xx'd hit in new/ once, no 503'd hit" \
        grep -q "missing=0 leaked=0 dup=0" <<<"$res"
    # Cut back or not, a sealed batch carries its own bytes' CRC-32.
    check "sync = $mode: every batch in new/ sealed with its size and CRC-32" \
        python3 "$TOOLS/spoolcheck.py" --sealed --allow-torn "$T/spool/crm/new"
}

run always 0.3 0.05
check "sync = always: some hits were answered 503" \
    grep -q '"status": 503' "$T/always.load"
check "sync = always: batches were cut back to their acknowledged lines" \
    grep -q "back to its" "$T/always.err"
run batch 0.3 0.05
# Failures that outlast the cut's retries: batches are set aside.
mv "$T/always.err" "$T/always-short.err"
run always 1 1
check "sync = always, long failures: batches were set aside" \
    grep -Eq "moved .* to .*/corrupt/|none of its lines was acknowledged" \
    "$T/always.err"
finish
