#!/usr/bin/env bash
# Real-world webhooks through lighttpd and the real responder: the senders'
# signatures (Stripe, Shopify, GitHub, WooCommerce, Standard Webhooks),
# computed here from their documented formats, are accepted, a changed byte
# or a stale timestamp is refused (or recorded); stream tokens; the params
# and headers columns for amoCRM/Kommo, Bitrix24, JSON and GET; Salesforce
# outbound messages with a file response; pixel, empty and CORS answers;
# gzip bodies and a gzip bomb.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need lighttpd curl python3 jq
need_file "$HS_FCGI"
WH=$top_srcdir/tests/webhooks
whpy() { python3 "$WH/wh.py" "$@"; }

check "the test's signers reproduce GitHub's and Standard Webhooks' published vectors" \
    whpy selftest

# ---- the config: one stream per case ----
STRIPE_SECRET=whsec_test_4eC39HqLyjWDarjtT1zdp7dc
SHOPIFY_SECRET=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
GITHUB_SECRET="It's a Secret to Everybody"
WOO_SECRET='wc-9Kx!s3cr3t with spaces'
TOKEN=tok_7c1d2e3f4a5b6c7d8e9f
python3 -c 'import base64,os; print("whsec_" + base64.b64encode(os.urandom(24)).decode())' >"$T/std.secret"
chmod 600 "$T/std.secret"
STD_VECTOR_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
cp "$WH/salesforce-ack.xml" "$T/ack.xml"

stream_ids 7e57a0b1-c2d3-4e5f-8a9b crm stripe stripe-rec shopify \
    shopify-rec github github-rec woo woo-rec std std-rec stdvec tok sf px \
    em cors gz
hs_conf "$T/hs.conf" "${SID[crm]}"
echo "columns = method content_type query headers params" >>"$T/hs.conf"
DATASET=wh
sig_streams() {
    local name=$1
    shift
    add_stream "$name" "$@"
    add_stream "$name-rec" "$@" "signature_policy = record" \
        "columns = signature_valid"
}
sig_streams stripe "signature = stripe" "signature_secret = $STRIPE_SECRET" \
    "signature_tolerance = 300s"
sig_streams shopify "signature = hmac-sha256" \
    "signature_header = X-Shopify-Hmac-Sha256" "signature_encoding = base64" \
    "signature_secret = $SHOPIFY_SECRET"
sig_streams github "signature = hmac-sha256" \
    "signature_header = X-Hub-Signature-256" "signature_encoding = hex" \
    "signature_prefix = sha256=" "signature_secret = $GITHUB_SECRET"
sig_streams woo "signature = hmac-sha256" \
    "signature_header = X-WC-Webhook-Signature" "signature_encoding = base64" \
    "signature_secret = $WOO_SECRET"
sig_streams std "signature = standard-webhooks" \
    "signature_secret_file = $T/std.secret"
# The spec's own example, signed in 2021: only with the age check off.
add_stream stdvec "signature = standard-webhooks" \
    "signature_secret = $STD_VECTOR_SECRET" "signature_tolerance = 0"
add_stream tok "token = $TOKEN"
add_stream sf "methods = POST" "response = file:$T/ack.xml" \
    "response_content_type = text/xml; charset=utf-8" \
    "columns = content_type"
add_stream px "response = pixel"
add_stream em "response = empty"
add_stream cors "cors_origin = https://shop.example.com"
add_stream gz "max_body = 1M" "columns = payload_base64"

serve_streams

# (grep and jq below, not python: python3 is slow to start on a loaded
# host and this test sends ~150 requests.)
# jget LINE FILTER: jq FILTER of the line, compact JSON.
jget() {
    jq -c "$2" <<<"$1"
}
# stream_lines NAME: hit lines of that stream, in any state.
# payload_is LINE FILE: the line's payload is FILE's text, exactly.
payload_is() {
    jq -e --rawfile want "$2" '.payload == $want' <<<"$1" >/dev/null
}

# ---- signatures ----
# sig_case NAME SCHEME SECRET BODY CTYPE [EXTRA HEADERS...]
sig_case() {
    local name=$1 scheme=$2 secret=$3 body=$4 ctype=$5
    shift 5
    local extra=() h ts mid id line n0 sigh
    for h in "$@"; do extra+=(-H "$h"); done
    ts=$(date +%s)
    mid=msg_$(tr -d - </proc/sys/kernel/random/uuid)
    mapfile -t sigh < <(whpy sign "$scheme" "$secret" "$body" "$ts" "$mid")
    whpy flip "$body" "$T/$name.flipped"
    check "$name: the flipped body differs from the signed one" \
        bash -c "! cmp -s '$body' '$T/$name.flipped'"

    req "$(url "$name")" -H "Content-Type: $ctype" "${sigh[@]}" \
        "${extra[@]}" --data-binary "@$body"
    is "$CODE" 200 "$name: signed body accepted"
    id=$(resp_hit)
    if line=$(find_line "${id:-none}"); then
        check "$name: hit stored with the body exactly" payload_is "$line" "$body"
    else
        not_ok "$name: hit $id in the spool"
    fi
    n0=$(stream_lines "$name")
    req "$(url "$name")" -H "Content-Type: $ctype" "${sigh[@]}" \
        "${extra[@]}" --data-binary "@$T/$name.flipped"
    is "$CODE" 401 "$name: one flipped byte -> 401 (policy reject)"
    is "$(stream_lines "$name")" "$n0" "$name: nothing stored for the 401"
    req "$(url "$name")" -H "Content-Type: $ctype" "${extra[@]}" \
        --data-binary "@$body"
    is "$CODE" 401 "$name: no signature header -> 401"

    req "$(url "$name-rec")" -H "Content-Type: $ctype" "${sigh[@]}" \
        "${extra[@]}" --data-binary "@$body"
    is "$CODE" 200 "$name-rec: signed body accepted"
    if line=$(find_line "$(resp_hit)"); then
        is "$(jget "$line" .signature_valid)" true "$name-rec: signature_valid true"
    else
        not_ok "$name-rec: signed hit stored"
    fi
    req "$(url "$name-rec")" -H "Content-Type: $ctype" "${sigh[@]}" \
        "${extra[@]}" --data-binary "@$T/$name.flipped"
    is "$CODE" 200 "$name-rec: flipped body stored anyway (policy record)"
    if line=$(find_line "$(resp_hit)"); then
        is "$(jget "$line" .signature_valid)" false "$name-rec: signature_valid false"
        check "$name-rec: the flipped body is what was stored" \
            payload_is "$line" "$T/$name.flipped"
    else
        not_ok "$name-rec: flipped hit stored"
    fi
}

sig_case stripe stripe "$STRIPE_SECRET" "$WH/stripe-event.json" \
    "application/json; charset=utf-8" "User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)"
sig_case shopify shopify "$SHOPIFY_SECRET" "$WH/shopify-order.json" \
    application/json "X-Shopify-Topic: orders/create" \
    "X-Shopify-Shop-Domain: example.myshopify.com" \
    "X-Shopify-Webhook-Id: b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
sig_case github github "$GITHUB_SECRET" "$WH/github-push.json" \
    application/json "X-GitHub-Event: push" \
    "X-GitHub-Delivery: 72d3162e-cc78-11e3-81ab-4c9367dc0958" \
    "User-Agent: GitHub-Hookshot/044aadd"
sig_case woo woocommerce "$WOO_SECRET" "$WH/woocommerce-order.json" \
    application/json "X-WC-Webhook-Topic: order.updated" \
    "X-WC-Webhook-Source: https://shop.example.com/" \
    "X-WC-Webhook-Resource: order" "X-WC-Webhook-Event: updated"
sig_case std standard "@$T/std.secret" "$WH/standard-webhooks.json" \
    application/json

# Stripe: the timestamp is signed and must be fresh.
SB=$WH/stripe-event.json
stripe_hdr() { whpy sign stripe "$STRIPE_SECRET" "$SB" "$1" | sed -n 2p; }
now=$(date +%s)
req "$(url stripe)" -H "$(stripe_hdr $((now - 600)))" --data-binary "@$SB"
is "$CODE" 401 "stripe: a correctly signed but 10-minute-old timestamp -> 401"
req "$(url stripe)" -H "$(stripe_hdr $((now + 600)))" --data-binary "@$SB"
is "$CODE" 401 "stripe: a timestamp 10 minutes ahead -> 401"
req "$(url stripe-rec)" -H "$(stripe_hdr $((now - 600)))" --data-binary "@$SB"
if line=$(find_line "$(resp_hit)"); then
    is "$(jget "$line" .signature_valid)" false "stripe-rec: stale timestamp recorded as signature_valid false"
else
    not_ok "stripe-rec: stale hit stored"
fi
good=$(stripe_hdr "$now")
req "$(url stripe)" -H "${good/t=$now/t=$((now - 1))}" --data-binary "@$SB"
is "$CODE" 401 "stripe: t= changed after signing -> 401"
# Rolling secrets: Stripe sends one v1 per secret; one matching is enough.
req "$(url stripe)" -H "${good/,v1=/,v1=$(printf '0%.0s' {1..64}),v1=}" \
    --data-binary "@$SB"
is "$CODE" 200 "stripe: two v1 signatures, the second valid -> 200"

# Standard Webhooks: the spec's published vector, and Svix's header names.
printf '%s' '{"test": 2432232314}' >"$T/vector.json"
req "$(url stdvec)" -H 'webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek' \
    -H 'webhook-timestamp: 1614265330' \
    -H 'webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' \
    --data-binary "@$T/vector.json"
is "$CODE" 200 "standard webhooks: the spec's test vector verifies (tolerance 0)"
ts=$(date +%s)
mapfile -t sigh < <(whpy sign standard "@$T/std.secret" "$WH/standard-webhooks.json" "$ts" msg_svix1)
req "$(url std)" -H "svix-id: msg_svix1" -H "svix-timestamp: $ts" \
    -H "svix-signature: ${sigh[5]#webhook-signature: }" \
    --data-binary "@$WH/standard-webhooks.json"
is "$CODE" 200 "standard webhooks: Svix's svix-* header names accepted"
mapfile -t sigh < <(whpy sign standard "@$T/std.secret" "$WH/standard-webhooks.json" $((ts - 900)) msg_old)
req "$(url std)" "${sigh[@]}" --data-binary "@$WH/standard-webhooks.json"
is "$CODE" 401 "standard webhooks: a 15-minute-old webhook-timestamp -> 401"

# ---- tokens ----
n0=$(stream_lines tok)
req "$(url tok)" -H "Authorization: Bearer $TOKEN" -d 'orderId=T1&status=new'
is "$CODE" 200 "token: Authorization: Bearer"
req "$(url tok)" -u "shopadmin:$TOKEN" -d 'orderId=T2&status=new'
is "$CODE" 200 "token: Basic, any user, password = token"
req "$(url tok)" -u ":$TOKEN" -d 'orderId=T3&status=new'
is "$CODE" 200 "token: Basic with an empty user"
req "$(url tok)?token=$TOKEN" -d 'orderId=T4&status=new'
is "$CODE" 200 "token: ?token= in the query"
req "$(url tok)?utm_source=x&token=$TOKEN"
is "$CODE" 200 "token: GET with ?token= among other parameters"
is "$(stream_lines tok)" $((n0 + 5)) "token: the five accepted hits are stored"
n0=$(stream_lines tok)
req "$(url tok)" -H "Authorization: Bearer ${TOKEN}x" -d 'orderId=T5'
is "$CODE" 401 "token: wrong Bearer -> 401"
check "token: the 401 says WWW-Authenticate" test -n "$(hdr WWW-Authenticate)"
req "$(url tok)" -u "shopadmin:${TOKEN%?}" -d 'orderId=T6'
is "$CODE" 401 "token: wrong Basic password -> 401"
req "$(url tok)" -u "$TOKEN:" -d 'orderId=T7'
is "$CODE" 401 "token: the token as the Basic user name -> 401"
req "$(url tok)?token=nope" -d 'orderId=T8'
is "$CODE" 401 "token: wrong ?token= -> 401"
req "$(url tok)" -d 'orderId=T9'
is "$CODE" 401 "token: no token -> 401"
is "$(stream_lines tok)" "$n0" "token: nothing stored for the 401s"

# ---- params and headers ----
FORM='Content-Type: application/x-www-form-urlencoded'
# params_case WHAT WANT(file|null) URL CURLARGS...: params compared as
# parsed JSON by python (wh.py params), not by the code under test.
params_case() {
    local what=$1 want=$2 id
    shift 2
    req "$@"
    id=$(resp_hit)
    if [ "$CODE" != 200 ] || ! find_line "$id" >"$T/line"; then
        not_ok "params: $what: hit stored (HTTP $CODE)"
        return
    fi
    check "params: $what" whpy params "$T/line" "$want"
}
params_case "amoCRM/Kommo form, literal brackets" "$WH/amocrm.expected.json" \
    "$(url crm)" -H "$FORM" --data-binary "@$WH/amocrm.form"
sed -e 's/\[/%5B/g' -e 's/\]/%5D/g' "$WH/amocrm.form" >"$T/amocrm-enc.form"
params_case "amoCRM/Kommo form, brackets percent-encoded (as PHP sends)" \
    "$WH/amocrm.expected.json" "$(url crm)" -H "$FORM" --data-binary "@$T/amocrm-enc.form"
params_case "Bitrix24 form, percent-encoded" "$WH/bitrix24.expected.json" \
    "$(url crm)" -H "$FORM" --data-binary "@$WH/bitrix24.form"
python3 -c 'import sys,urllib.parse; sys.stdout.write(urllib.parse.unquote(open(sys.argv[1]).read()))' \
    "$WH/bitrix24.form" >"$T/bitrix24-lit.form"
params_case "Bitrix24 form, literal" "$WH/bitrix24.expected.json" \
    "$(url crm)" -H "$FORM" --data-binary "@$T/bitrix24-lit.form"
params_case "a JSON body kept as is" "$WH/shopify-order.json" \
    "$(url crm)" -H 'Content-Type: application/json' --data-binary "@$WH/shopify-order.json"
printf '%s' '{"utm_source":"google","utm_medium":"cpc","items":["a","b"],"order":{"id":"N5","total":"9.90 EUR"}}' >"$T/get.json"
params_case "a GET query parsed" "$T/get.json" \
    "$(url crm)?utm_source=google&utm_medium=cpc&items%5B%5D=a&items%5B%5D=b&order%5Bid%5D=N5&order%5Btotal%5D=9.90+EUR"
params_case "a GET query with literal brackets parsed" "$T/get.json" -g \
    "$(url crm)?utm_source=google&utm_medium=cpc&items[]=a&items[]=b&order[id]=N5&order[total]=9.90+EUR"
printf '%s' '{"order": {"id": "N6", "status": ' >"$T/broken.json"
params_case "a truncated JSON body gives null" null \
    "$(url crm)" -H 'Content-Type: application/json' --data-binary "@$T/broken.json"
check "params: the truncated JSON body is still stored exactly" \
    payload_is "$(cat "$T/line")" "$T/broken.json"
printf 'just some text, no pairs' >"$T/text.txt"
params_case "a text/plain body gives null" null \
    "$(url crm)" -H 'Content-Type: text/plain' --data-binary "@$T/text.txt"

req "$(url crm)" -H 'X-Custom: 1' -H 'X-Request-Id: req-42' \
    -A 'Bitrix24 Webhook Engine' -H "$FORM" -d 'a=1'
if line=$(find_line "$(resp_hit)"); then
    check "headers column: X-Custom, X-Request-Id, User-Agent, Content-Type" python3 -c '
import json, sys
h = json.loads(sys.argv[1])["headers"]
assert isinstance(h, dict), h
want = {"X-Custom": "1", "X-Request-Id": "req-42",
        "User-Agent": "Bitrix24 Webhook Engine",
        "Content-Type": "application/x-www-form-urlencoded"}
bad = {k: h.get(k) for k in want if h.get(k) != want[k]}
assert not bad, (bad, h)' "$line"
    # A header sent once is one name in the object: JSON names should be
    # unique (RFC 8259) and BigQuery keeps only one of duplicates.
    check "headers column: no name twice ($(jq -c '.headers | keys' <<<"$line"))" \
        python3 -c '
import collections, json, sys
dup = []
def pairs(kv):
    c = collections.Counter(k for k, _ in kv)
    dup.extend(k for k, n in c.items() if n > 1)
    return dict(kv)
json.loads(sys.argv[1], object_pairs_hook=pairs)
if dup:
    print("# duplicated names: %s" % dup)
sys.exit(1 if dup else 0)' "$line"
    is "$(jget "$line" .method)" '"POST"' "method column"
else
    not_ok "headers: hit stored"
fi

# ---- Salesforce outbound message ----
SF=$WH/salesforce-outbound.xml
req "$(url sf)" -H 'Content-Type: text/xml; charset=utf-8' -H 'SOAPAction: ""' \
    -A 'Jakarta Commons-HttpClient/3.1' --data-binary "@$SF"
is "$CODE" 200 "salesforce: outbound message answered 200"
check "salesforce: the answer is exactly the notifications Ack" cmp -s "$T/resp" "$WH/salesforce-ack.xml"
is "$(hdr Content-Type)" "text/xml; charset=utf-8" "salesforce: Content-Type of the Ack"
if line=$(find_line 04l5g00000Jh3TYAAZ); then
    check "salesforce: the SOAP envelope is stored exactly" payload_is "$line" "$SF"
    is "$(jget "$line" .content_type)" '"text/xml; charset=utf-8"' "salesforce: content_type column"
else
    not_ok "salesforce: hit stored"
fi
req "$(url sf)" -G -d 'x=1'
is "$CODE" 405 "salesforce stream (methods = POST): GET -> 405"

# ---- pixel, empty, CORS ----
req "$(url px)?utm_source=newsletter&uid=U77" -A 'Mozilla/5.0'
is "$CODE" 200 "pixel: 200"
is "$(hdr Content-Type)" image/gif "pixel: image/gif"
check "pixel: a GIF body" grep -q '^GIF8[79]a' <<<"$(head -c 6 "$T/resp")"
is "$(tail -c 1 "$T/resp")" ";" "pixel: the GIF is complete (trailer byte)"
check "pixel: Cache-Control no-cache... ($(hdr Cache-Control))" grep -q '^no-cache' <<<"$(hdr Cache-Control)"
if line=$(find_line uid=U77); then
    is "$(jget "$line" .payload)" '"utm_source=newsletter&uid=U77"' "pixel: the query stored"
else
    not_ok "pixel: hit stored"
fi

req "$(url em)" -d 'orderId=EMPTY204&status=paid'
is "$CODE" 204 "empty: 204"
is "$(stat -c %s "$T/resp")" 0 "empty: no body"
check "empty: hit stored" eval "find_line orderId=EMPTY204 >/dev/null"

ORIGIN=https://shop.example.com
req "$(url cors)" -H "Origin: $ORIGIN" -H 'Content-Type: application/json' \
    --data-binary '{"event":"add_to_cart","sku":"SKU-1"}'
is "$CODE" 200 "cors: POST answered"
is "$(hdr Access-Control-Allow-Origin)" "$ORIGIN" "cors: Access-Control-Allow-Origin on the answer"
req "$(url cors)" -X OPTIONS -H "Origin: $ORIGIN" \
    -H 'Access-Control-Request-Method: POST' \
    -H 'Access-Control-Request-Headers: content-type'
is "$CODE" 204 "cors: OPTIONS preflight 204"
is "$(hdr Access-Control-Allow-Origin)" "$ORIGIN" "cors: preflight Access-Control-Allow-Origin"
check "cors: preflight Access-Control-Allow-Methods has POST ($(hdr Access-Control-Allow-Methods))" \
    grep -qw POST <<<"$(hdr Access-Control-Allow-Methods)"
check "cors: preflight allows the Content-Type header ($(hdr Access-Control-Allow-Headers))" \
    grep -qiw content-type <<<"$(hdr Access-Control-Allow-Headers)"
req "$(url cors)" -X DELETE -H "Origin: $ORIGIN"
is "$CODE/$(hdr Access-Control-Allow-Origin)" "405/$ORIGIN" "cors: an error answer carries the header too"
req "$(url crm)" -H "Origin: $ORIGIN" -d 'a=1'
is "$(hdr Access-Control-Allow-Origin)" "" "no cors_origin: no Access-Control-Allow-Origin"
req "$(url crm)" -X OPTIONS -H "Origin: $ORIGIN"
is "$CODE" 405 "no cors_origin: OPTIONS -> 405"

# ---- gzip ----
whpy gzip "$WH/woocommerce-order.json" "$T/woo.json.gz"
req "$(url gz)" -H 'Content-Encoding: gzip' -H 'Content-Type: application/json' \
    --data-binary "@$T/woo.json.gz"
is "$CODE" 200 "gzip: compressed body accepted"
if line=$(find_line "$(resp_hit)"); then
    check "gzip: the payload is the decompressed text" payload_is "$line" "$WH/woocommerce-order.json"
    is "$(jget "$line" .payload_base64)" null "gzip: no payload_base64 for the text"
else
    not_ok "gzip: hit stored"
fi
whpy bomb "$T/bomb.gz" 50
echo "# bomb: $(stat -c %s "$T/bomb.gz") bytes gzipped, 50 MiB inflated"
before=$(responder_pids | sort | tr '\n' ' ')
n0=$(stream_lines gz)
t0=$EPOCHREALTIME
req "$(url gz)" -H 'Content-Encoding: gzip' --data-binary "@$T/bomb.gz"
t1=$EPOCHREALTIME
is "$CODE" 413 "gzip bomb (50 MiB of zeros, max_body 1M): 413"
ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", (b - a) * 1000 }')
check "gzip bomb: answered quickly (${ms} ms)" test "$ms" -lt 2000
is "$(stream_lines gz)" "$n0" "gzip bomb: nothing stored"
req "$(url gz)" -d 'orderId=AFTERBOMB'
is "$CODE" 200 "after the bomb: the next request works"
is "$(responder_pids | sort | tr '\n' ' ')" "$before" "after the bomb: the same responders are alive"
printf 'not gzip at all' >"$T/notgz"
req "$(url gz)" -H 'Content-Encoding: gzip' --data-binary "@$T/notgz"
is "$CODE" 400 "gzip: a body that is not gzip -> 400"

# Stop here rather than in the exit trap, so the responders seal their
# batches before $T goes away.
stop_lighttpd
no_open_batch() {
    [ -z "$(find "$T/spool" -path "$T/spool/*/tmp/*" -type f)" ]
}
check "after shutdown no stream has an open batch left" wait_for 10 no_open_batch
finish
