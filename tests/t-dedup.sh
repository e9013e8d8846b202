#!/usr/bin/env bash
# Delivery ids and the dedup window, through lighttpd and two responder
# processes: the presets read the sender's id from real payloads of
# tests/webhooks/ (Stripe, Shopify, GitHub, Standard Webhooks, signed as
# the senders sign them), header/json/form/query sources, a missing id is
# a null column; with dedup_window set, retries of one delivery id, one
# after the other, all at once, and after a kill -9 of the responders and
# a restart, give one line and the first hit_id in every answer; a
# failed signature is never deduplicated; the window expires; the index
# is rebuilt when removed; a first hit whose sync fails (503) leaves its
# retry to be stored, never answered with the failed hit_id.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need lighttpd curl python3 jq
need_file "$HS_FCGI"
WH=$top_srcdir/tests/webhooks
whpy() { python3 "$WH/wh.py" "$@"; }

STRIPE_SECRET=whsec_test_4eC39HqLyjWDarjtT1zdp7dc
SHOPIFY_SECRET=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
GITHUB_SECRET="It's a Secret to Everybody"
STD_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw

stream_ids 7e57a0b1-c2d3-4e5f-8a9b crm stripe shopify github std hdr json \
    form query dd ddrec ddshort
hs_conf "$T/hs.conf" "${SID[crm]}"
DATASET=dd
add_stream stripe "signature = stripe" "signature_secret = $STRIPE_SECRET" \
    "delivery_id = auto"
add_stream shopify "signature = hmac-sha256" \
    "signature_header = X-Shopify-Hmac-Sha256" "signature_encoding = base64" \
    "signature_secret = $SHOPIFY_SECRET" "delivery_id = auto"
add_stream github "signature = hmac-sha256" \
    "signature_header = X-Hub-Signature-256" "signature_encoding = hex" \
    "signature_prefix = sha256=" "signature_secret = $GITHUB_SECRET" \
    "delivery_id = github"
add_stream std "signature = standard-webhooks" \
    "signature_secret = $STD_SECRET" "delivery_id = standard-webhooks"
add_stream hdr "delivery_id = header:X-Request-Id"
add_stream json "delivery_id = json:/data/object/id"
add_stream form "delivery_id = form:orderId+status"
add_stream query "delivery_id = query:orderId" "methods = GET POST"
add_stream dd "delivery_id = header:X-Delivery" "dedup_window = 1h"
add_stream ddrec "signature = hmac-sha256" \
    "signature_header = X-Hub-Signature-256" "signature_encoding = hex" \
    "signature_prefix = sha256=" "signature_secret = $GITHUB_SECRET" \
    "signature_policy = record" "delivery_id = github" "dedup_window = 1h"
add_stream ddshort "delivery_id = header:X-Delivery" "dedup_window = 8s"

serve_streams
# post URL CURLARGS...: CODE and HIT (the answer's hit_id).
post() {
    local u=$1
    shift
    CODE=$(curl -s -o "$T/resp" -w '%{http_code}' "$@" "$u")
    HIT=$(resp_hit)
}
# did_of HIT: the delivery_id column of that hit's line, compact JSON.
did_of() {
    local l
    l=$(grep -rhF --exclude='.*' -e "\"hit_id\":\"${1:-none}\"" \
        "$T/spool" | head -n 1)
    [ -n "$l" ] || { echo "<no line>"; return; }
    jq -c .delivery_id <<<"$l"
}

# ---- the presets, on real payloads ----
ts=$(date +%s)
mapfile -t h < <(whpy sign stripe "$STRIPE_SECRET" "$WH/stripe-event.json" "$ts")
post "$(url stripe)" -H 'Content-Type: application/json' "${h[@]}" \
    --data-binary "@$WH/stripe-event.json"
is "$CODE" 200 "stripe: signed event accepted"
is "$(did_of "$HIT")" "\"$(jq -r .id "$WH/stripe-event.json")\"" \
    "stripe (auto): delivery_id is the event's id"

mapfile -t h < <(whpy sign shopify "$SHOPIFY_SECRET" "$WH/shopify-order.json")
post "$(url shopify)" -H 'Content-Type: application/json' "${h[@]}" \
    -H 'X-Shopify-Topic: orders/create' \
    -H 'X-Shopify-Webhook-Id: b54557e4-bdd9-4b37-8a5f-bf7d70bcd043' \
    --data-binary "@$WH/shopify-order.json"
is "$CODE" 200 "shopify: signed order accepted"
is "$(did_of "$HIT")" '"b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"' \
    "shopify (auto): delivery_id is X-Shopify-Webhook-Id"

mapfile -t h < <(whpy sign github "$GITHUB_SECRET" "$WH/github-push.json")
post "$(url github)" -H 'Content-Type: application/json' "${h[@]}" \
    -H 'X-GitHub-Event: push' \
    -H 'X-GitHub-Delivery: 72d3162e-cc78-11e3-81ab-4c9367dc0958' \
    --data-binary "@$WH/github-push.json"
is "$CODE" 200 "github: signed push accepted"
is "$(did_of "$HIT")" '"72d3162e-cc78-11e3-81ab-4c9367dc0958"' \
    "github: delivery_id is X-GitHub-Delivery"

mapfile -t h < <(whpy sign standard "$STD_SECRET" "$WH/standard-webhooks.json" "$ts" msg_2KWPBgLlAfxdpx2AI54pPJ85f4W)
post "$(url std)" -H 'Content-Type: application/json' "${h[@]}" \
    --data-binary "@$WH/standard-webhooks.json"
is "$CODE" 200 "standard-webhooks: signed message accepted"
is "$(did_of "$HIT")" '"msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"' \
    "standard-webhooks: delivery_id is webhook-id"
mapfile -t h < <(whpy sign standard "$STD_SECRET" "$WH/standard-webhooks.json" "$ts" msg_svix0000000000000000000001 |
    sed 's/^webhook-/svix-/')
post "$(url std)" -H 'Content-Type: application/json' "${h[@]}" \
    --data-binary "@$WH/standard-webhooks.json"
is "$CODE" 200 "standard-webhooks: svix-* headers accepted"
is "$(did_of "$HIT")" '"msg_svix0000000000000000000001"' \
    "standard-webhooks: delivery_id is svix-id without webhook-id"

# ---- configured sources ----
post "$(url hdr)" -H 'X-Request-Id: req-42' -d 'a=1'
is "$(did_of "$HIT")" '"req-42"' "header:X-Request-Id"
post "$(url hdr)" -d 'a=1'
is "$CODE" 200 "a hit without its id is kept"
is "$(did_of "$HIT")" null "  with a null delivery_id"
post "$(url json)" -H 'Content-Type: application/json' \
    -d '{"data":{"object":{"id":"in_123"}}}'
is "$(did_of "$HIT")" '"in_123"' "json:/data/object/id"
post "$(url json)" -H 'Content-Type: application/json' \
    -d '{"data":{"object":{"id":98765}}}'
is "$(did_of "$HIT")" '"98765"' "json: an integer id as text"
post "$(url json)" -H 'Content-Type: application/json' -d '{"data":{}}'
is "$(did_of "$HIT")" null "json: a missing pointer is null"
post "$(url form)" -d 'orderId=N1&status=delivered&total=120.13'
is "$(did_of "$HIT")" '"N1+delivered"' "form:orderId+status"
post "$(url form)" -d 'orderId=N1&total=120.13'
is "$(did_of "$HIT")" null "form: a missing field is null"
post "$(url query)?orderId=Q7&x=1"
is "$CODE" 200 "query: a GET accepted"
is "$(did_of "$HIT")" '"Q7"' "query:orderId"

# ---- the dedup window ----
# lines_with STREAM ID: how many lines of STREAM hold delivery id ID.
lines_with() {
    find "$T/spool/$1" -type f -name '*.ndjson' ! -name '.*' -exec cat {} + \
        2>/dev/null | jq -c "select(.delivery_id == \"$2\") | .hit_id" |
        sort -u | wc -l
}
post "$(url dd)" -H 'X-Delivery: d-1' -d 'orderId=1&try=1'
is "$CODE" 200 "dedup: the first delivery is stored"
first=$HIT
post "$(url dd)" -H 'X-Delivery: d-1' -d 'orderId=1&try=2'
is "$CODE" 200 "dedup: a retry is answered 200"
is "$HIT" "$first" "  with the first hit_id"
post "$(url dd)" -H 'X-Delivery: d-2' -d 'orderId=2'
check "dedup: another id is another hit" test "$HIT" != "$first"
is "$(lines_with dd d-1)" 1 "dedup: one line for d-1 after a retry"
post "$(url dd)" -d 'orderId=3'
post "$(url dd)" -d 'orderId=3'
b=$HIT
post "$(url dd)" -d 'orderId=3'
check "dedup: hits without an id are all kept" test -n "$b" -a "$HIT" != "$b"

# Twenty retries of a new id at once, over both responder processes.
# (wait on the curls alone: lighttpd is a child of this shell too)
cpids=()
for i in $(seq 1 20); do
    curl -s -o "$T/c.$i" -H 'X-Delivery: burst-1' -d "try=$i" "$(url dd)" &
    cpids+=($!)
done
wait "${cpids[@]}"
ids=$(cat "$T"/c.* | sed -n 's/^{"hit_id":"\([0-9a-f-]*\)"}$/\1/p' | sort | uniq -c)
is "$(wc -l <<<"$ids")" 1 "dedup: 20 concurrent retries get one hit_id"
is "$(awk '{ print $1 }' <<<"$ids")" 20 "  in all 20 answers"
burst=$(awk '{ print $2 }' <<<"$ids")
is "$(lines_with dd burst-1)" 1 "  and leave one line"
is "$(responder_pids | wc -l)" 2 "  (two responder processes served them)"

# Signed: only a verified signature is deduplicated.
mapfile -t h < <(whpy sign github "$GITHUB_SECRET" "$WH/github-push.json")
gh=(-H 'Content-Type: application/json' "${h[@]}" -H 'X-GitHub-Delivery: gh-dd-1')
post "$(url ddrec)" "${gh[@]}" --data-binary "@$WH/github-push.json"
g1=$HIT
post "$(url ddrec)" "${gh[@]}" --data-binary "@$WH/github-push.json"
is "$HIT" "$g1" "signed: a verified retry gets the first hit_id"
whpy flip "$WH/github-push.json" "$T/flipped.json"
post "$(url ddrec)" "${gh[@]}" --data-binary "@$T/flipped.json"
b=$HIT
post "$(url ddrec)" "${gh[@]}" --data-binary "@$T/flipped.json"
check "signed: bad signatures with that id are each stored" \
    test -n "$b" -a "$b" != "$g1" -a "$HIT" != "$b" -a "$HIT" != "$g1"

# The window expires.
post "$(url ddshort)" -H 'X-Delivery: s-1' -d 'a=1'
s1=$HIT
post "$(url ddshort)" -H 'X-Delivery: s-1' -d 'a=1'
is "$HIT" "$s1" "short window: a retry inside it is deduplicated"
sleep 9
post "$(url ddshort)" -H 'X-Delivery: s-1' -d 'a=1'
check "short window: after it, the same id is a new hit" \
    test -n "$HIT" -a "$HIT" != "$s1"
is "$(lines_with ddshort s-1)" 2 "  two lines"

# kill -9 of both responders, then a restart: the index survives.
pids=$(responder_pids)
check "kill -9 the responders" kill -9 $pids
stop_lighttpd
start_lighttpd "$T/hs.conf" "$PORT" || not_ok "lighttpd restarts"
post "$(url dd)" -H 'X-Delivery: d-1' -d 'orderId=1&try=3'
is "$HIT" "$first" "after kill -9 and a restart: the first hit_id"
post "$(url dd)" -H 'X-Delivery: burst-1' -d 'try=21'
is "$HIT" "$burst" "  for the burst's id too"
cpids=()
for i in $(seq 1 10); do
    curl -s -o "$T/k.$i" -H 'X-Delivery: d-1' -d "try=k$i" "$(url dd)" &
    cpids+=($!)
done
wait "${cpids[@]}"
is "$(cat "$T"/k.* | sort -u)" "{\"hit_id\":\"$first\"}" \
    "  10 concurrent retries after the restart: the same hit_id"
is "$(lines_with dd d-1)" 1 "  still one line for d-1"

# The index lost: rebuilt from the spool's lines.
stop_lighttpd
rm -f "$T/spool/dd/.dedup"
start_lighttpd "$T/hs.conf" "$PORT" || not_ok "lighttpd restarts"
post "$(url dd)" -H 'X-Delivery: d-1' -d 'orderId=1&try=4'
is "$HIT" "$first" "index removed: rebuilt, the first hit_id"
post "$(url dd)" -H 'X-Delivery: burst-1' -d 'try=22'
is "$HIT" "$burst" "  for the burst's id too"
is "$(lines_with dd d-1)" 1 "  still one line for d-1"
is "$(lines_with dd burst-1)" 1 "  and for burst-1"
rm -f "$T/spool/dd/.dedup"
post "$(url dd)" -H 'X-Delivery: d-1' -d 'orderId=1&try=5'
is "$HIT" "$first" "index removed under running responders: the first hit_id"
post "$(url dd)" -H 'X-Delivery: d-1' -d 'orderId=1&try=6'
is "$HIT" "$first" "  again (either responder)"
check "  the index is back" test -s "$T/spool/dd/.dedup"

# ---- a first hit whose sync fails: its retry is stored, never a 2xx
# resting on a line that is not on disk (tests/tools/failsync.so fails
# fdatasync while $MARK exists) ----
SHIM=$top_builddir/tests/tools/failsync.so
if [ -e "$SHIM" ]; then
    export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
    MARK=$T/fail-sync
    SID2=7e57a0b1-c2d3-4e5f-8a9b-0000000000ff
    {
        echo "spool_dir = $T/spool2"
        echo "threads = 4"
        echo
        echo "[stream fs]"
        echo "id = $SID2"
        echo "delivery_id = header:X-Delivery"
        echo "dedup_window = 1h"
    } >"$T/hs2.conf"
    chmod 600 "$T/hs2.conf"
    HS_FAIL_SYNC=$MARK LD_PRELOAD=$SHIM \
        "$HS_FCGI" -d -c "$T/hs2.conf" -s "unix:$T/fs.sock" 2>"$T/fs.err" &
    HS_PIDS+=($!)
    wait_for 10 test -S "$T/fs.sock"
    d=$T/lt2
    PORT2=$(free_port)
    mkdir -p "$d/www"
    cat >"$d/lighttpd.conf" <<CONF
server.document-root = "$d/www"
server.bind = "127.0.0.1"
server.port = $PORT2
server.errorlog = "$d/error.log"
server.modules += ( "mod_fastcgi" )
fastcgi.server = ( "/ds/" => (( "socket" => "$T/fs.sock", "check-local" => "disable" )) )
CONF
    lighttpd -D -f "$d/lighttpd.conf" &
    HS_PIDS+=($!)
    wait_port "$PORT2"
    U2=http://127.0.0.1:$PORT2/ds/$SID2
    touch "$MARK"
    post "$U2" -H 'X-Delivery: f-1' -d 'try=1'
    is "$CODE" 503 "sync fails: the first delivery is answered 503"
    post "$U2" -H 'X-Delivery: f-1' -d 'try=2'
    is "$CODE" 503 "  a retry meanwhile too, not 200 with the failed hit_id"
    rm -f "$MARK"
    post "$U2" -H 'X-Delivery: f-1' -d 'try=3'
    is "$CODE" 200 "sync works again: the retry is stored"
    f3=$HIT
    post "$U2" -H 'X-Delivery: f-1' -d 'try=4'
    is "$HIT" "$f3" "  and its own retry gets its hit_id"
    kill -USR1 $(responder_pids) 2>/dev/null
    sleep 1
    got=$(find "$T/spool2/fs/new" "$T/spool2/fs/tmp" -type f \
        -name '*.ndjson' -exec cat {} + 2>/dev/null |
        jq -r 'select(.delivery_id == "f-1") | .payload' | sort | tr '\n' ' ')
    is "$got" "try=3 " "  one line for f-1 where the uploader loads, the one answered 200"
else
    not_ok "tests/tools/failsync.so is built (make check builds it)"
fi

finish
