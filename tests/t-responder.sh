#!/usr/bin/env bash
# The responder on its own socket (-s unix:path, -s host:port), behind a
# lighttpd that connects to it: sealing by hit count, by age with no
# traffic, on SIGUSR1, and on SIGTERM under load without losing a 2xx'd hit.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need lighttpd curl python3
need_file "$HS_FCGI"

ID=7c1b2a3d-4e5f-4a6b-8c7d-000000000042
hs_conf "$T/hs.conf" "$ID" "batch_max_hits = 10" "sync = batch"
sed -i 's/^batch_max_age = .*/batch_max_age = 3s/' "$T/hs.conf"

# lighttpd_to BACKEND-SPEC PORT: a lighttpd forwarding /ds/ to a running
# responder ("socket" => path, or "host"/"port").
lighttpd_to() {
    local d=$T/lt-$2
    mkdir -p "$d/www"
    cat >"$d/lighttpd.conf" <<CONF
server.document-root = "$d/www"
server.bind = "127.0.0.1"
server.port = $2
server.errorlog = "$d/error.log"
server.modules += ( "mod_fastcgi" )
fastcgi.server = ( "/ds/" => (( $1, "check-local" => "disable" )) )
CONF
    lighttpd -D -f "$d/lighttpd.conf" &
    HS_PIDS+=($!)
    wait_port "$2"
}
count_new() { find "$T/spool/crm/new" -type f | wc -l; }
new_is() { [ "$(count_new)" = "$1" ]; }

# Unix socket.
"$HS_FCGI" -d -c "$T/hs.conf" -s "unix:$T/fcgi.sock" &
FPID=$!
HS_PIDS+=($FPID)
wait_for 10 test -S "$T/fcgi.sock"
PORT=$(free_port)
lighttpd_to "\"socket\" => \"$T/fcgi.sock\"" "$PORT"
URL=http://127.0.0.1:$PORT/ds/$ID
for i in $(seq 1 25); do curl -s -o /dev/null -d "n=$i" "$URL"; done
is "$(count_new)" 2 "batch_max_hits = 10: 25 hits made two sealed batches"
is "$(find "$T/spool/crm/tmp" -type f | wc -l)" 1 "the other 5 wait in one open batch"
check "an idle batch is sealed by age with no traffic" wait_for 8 new_is 3
id=$(post_hit -d single=1 "$URL")
kill -USR1 $FPID
check "SIGUSR1 seals the open batch" wait_for 5 new_is 4
check "the SIGUSR1-sealed hit is in new/" bash -c "cat '$T'/spool/crm/new/* | grep -q '$id'"

# TCP socket, and SIGTERM under load.
kill $FPID
wait $FPID
is "$?" 0 "SIGTERM: clean exit"
FP=$(free_port)
"$HS_FCGI" -d -c "$T/hs.conf" -s "127.0.0.1:$FP" &
FPID=$!
HS_PIDS+=($FPID)
wait_port "$FP"
PORT2=$(free_port)
lighttpd_to "\"host\" => \"127.0.0.1\", \"port\" => $FP" "$PORT2"
python3 "$TOOLS/load.py" --url "http://127.0.0.1:$PORT2/ds/$ID" --seconds 6 \
    --concurrency 8 --out "$T/acked" >"$T/load.out" &
LOADPID=$!
# SIGTERM only once hits are flowing (python may start slowly on a busy box).
before=$(cat "$T"/spool/crm/*/*.ndjson 2>/dev/null | wc -l)
flowing() { [ "$(cat "$T"/spool/crm/*/*.ndjson 2>/dev/null | wc -l)" -gt $((before + 100)) ]; }
check "hits are flowing before SIGTERM" wait_for 30 flowing
kill $FPID
wait $FPID
is "$?" 0 "SIGTERM under load: clean exit"
wait $LOADPID
echo "# $(cat "$T/load.out")"
check "some hits were answered 2xx before SIGTERM" grep -Eq "ok2xx=[1-9]" "$T/load.out"
is "$(find "$T/spool/crm/tmp" -type f | wc -l)" 0 "SIGTERM sealed every open batch"
res=$(python3 "$TOOLS/spoolcheck.py" --acked "$T/acked" "$T/spool/crm/new")
echo "# $res"
check "every 2xx'd hit is sealed in new/ exactly once" grep -q "missing=0 duplicated=0 problems=0" <<<"$res"

# Not a socket on stdin, and a bad config: clear errors, sysexits codes.
"$HS_FCGI" -c "$T/hs.conf" </dev/null 2>"$T/err"
is "$?" 64 "stdin not a socket: exit 64"
check "says why" grep -q "not a FastCGI socket" "$T/err"
printf 'sync = sometimes\n[stream x]\nid = y\n' >"$T/bad.conf"
"$HS_FCGI" -c "$T/bad.conf" -s "unix:$T/x.sock" 2>"$T/err"
is "$?" 78 "bad config: exit 78"
check "the error names file and line" grep -q "bad.conf:1: sync: invalid value 'sometimes'" "$T/err"
finish
