#!/usr/bin/env bash
# hookspool-upload with keyless credentials against the fake STS and IAM
# Credentials endpoints (tests/fake-bigquery/fakests.py, which check the
# request shapes strictly): Application Default Credentials files of type
# external_account (Workload Identity Federation: a subject token from a
# file, as text or JSON, or from a URL with a required header; the STS
# token used as is, or traded for a service account's token) and
# impersonated_service_account (an authorized_user or a service account
# key source); each loads
# rows.  A wrong audience (STS 400) and a refused impersonation (IAM 403)
# exit 78 with a message naming the file and the step; an STS 503 exits
# 75 and leaves the batches for later; a token_url that is plain http to
# another host is refused up front.  No subject token and no access token
# ever reaches the uploader's output, even at -vv.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need python3 openssl curl
need_file "$HS_UPLOAD"

ID=522ed95e-1a2b-4c3d-8e4f-0000000e0001
TABLE=test-project.crm.hits
S=$T/spool/crm
MKBATCH=$top_srcdir/tests/upload/mkbatch.py
AUD=//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool1/providers/prov1
SA=loader@test-project.iam.gserviceaccount.com
SUBJ=eyJhbGciOiJSUzI1NiJ9.subject-$RANDOM$RANDOM-a.sig
SUBJ_URL=eyJhbGciOiJSUzI1NiJ9.from-url-$RANDOM$RANDOM.sig
JWT_TYPE=urn:ietf:params:oauth:token-type:jwt

start_fake_bq --polls-to-done 1 || { not_ok "the fake BigQuery starts"; finish; }
IMP_URL=$FAKE_API/v1/projects/-/serviceAccounts/$SA:generateAccessToken
mkdir -p "$S/new"

# sts JSON: set the fake STS/IAM expectations.
sts() {
    curl -s -f -o /dev/null -X POST "$FAKE_API/_fake/sts" --data-binary "$1" ||
        echo "# the fake refused $1"
}
sts_state() {
    curl -s -f "$FAKE_API/_fake/sts" | python3 -c '
import json, sys
s = json.load(sys.stdin)
v = eval(sys.argv[1])
print(v if isinstance(v, (str, int, float)) else json.dumps(v))' "$1"
}
# adc NAME JSON: an ADC file $T/NAME.json (0600) and a config using it.
adc() {
    printf '%s\n' "$2" >"$T/$1.json"
    chmod 600 "$T/$1.json"
    hs_conf "$T/$1.conf" "$ID" "credentials = $T/$1.json" \
        "project = test-project" "api_base = $FAKE_API" "http_timeout = 5s"
}
# upload NAME: one -vv run with config NAME; output appended to
# $T/all.out (for the no-token check), this run's in $T/up.out, exit in RC.
upload() {
    "$HS_UPLOAD" -f -v -v -c "$T/$1.conf" -s crm >"$T/up.out" 2>&1
    RC=$?
    cat "$T/up.out" >>"$T/all.out"
    grep -i 'auth' "$T/up.out" | sed 's/^/#   /' | tail -8
}
# batch N: N hits into new/, ids appended to $T/ids
batch() {
    python3 "$MKBATCH" "$S/new" --batches 1 --hits "$1" \
        --ids-out "$T/ids.tmp" >/dev/null
    cat "$T/ids.tmp" >>"$T/ids"
}
rows() { fake_rows "$TABLE" | wc -l; }
# waiting: the batches not loaded yet (in new/ or claimed in active/)
waiting() { find "$S/new" "$S/active" -type f ! -name '.*' ! -name JOB | wc -l; }
: >"$T/ids"
: >"$T/all.out"

# --- external_account, file-sourced text, no impersonation ---------------
sts "{\"audience\":\"$AUD\",\"subject_token\":\"$SUBJ\",\"subject_token_type\":\"$JWT_TYPE\"}"
printf '%s' "$SUBJ" >"$T/subject.txt"
adc ext-text "{
  \"type\": \"external_account\",
  \"audience\": \"$AUD\",
  \"subject_token_type\": \"$JWT_TYPE\",
  \"token_url\": \"$FAKE_API/v1/token\",
  \"credential_source\": {\"file\": \"$T/subject.txt\"}
}"
batch 7
upload ext-text
is "$RC" 0 "external_account (file, text): exit 0"
is "$(rows)" 7 "external_account (file, text): the 7 rows are loaded"
is "$(sts_state 's["counters"]["sts_ok"]')" 1 "one STS token exchange"
is "$(sts_state 's["counters"]["iam_ok"]')" 0 "no impersonation"

# --- file-sourced JSON (a trailing newline), impersonation, lifetime -----
sts "{\"service_account\":\"$SA\",\"want_bearer\":\"sts\",\"delegates\":null}"
printf '{"id_token": "%s", "expires_in": 3600}\n' "$SUBJ" >"$T/subject.json"
adc ext-json "{
  \"type\": \"external_account\",
  \"audience\": \"$AUD\",
  \"subject_token_type\": \"$JWT_TYPE\",
  \"token_url\": \"$FAKE_API/v1/token\",
  \"service_account_impersonation_url\": \"$IMP_URL\",
  \"service_account_impersonation\": {\"token_lifetime_seconds\": 1200},
  \"credential_source\": {\"file\": \"$T/subject.json\",
    \"format\": {\"type\": \"json\", \"subject_token_field_name\": \"id_token\"}}
}"
batch 5
upload ext-json
is "$RC" 0 "external_account (file, json) + impersonation: exit 0"
is "$(rows)" 12 "external_account (file, json) + impersonation: 5 more rows"
is "$(sts_state 's["counters"]["iam_ok"]')" 1 "one generateAccessToken, with the STS token as Bearer"
is "$(sts_state 's["last_lifetime"]')" 1200s "token_lifetime_seconds is sent as lifetime \"1200s\""
check "the impersonated token's scope is BigQuery's" \
    grep -q 'auth/bigquery' <<<"$(sts_state 's["last_scope"]')"

# --- URL-sourced (required header, JSON), impersonation ------------------
sts "{\"subject_token\":\"$SUBJ_URL\",\"header\":\"X-Test-Identity: w1f\"}"
adc ext-url "{
  \"type\": \"external_account\",
  \"audience\": \"$AUD\",
  \"subject_token_type\": \"$JWT_TYPE\",
  \"token_url\": \"$FAKE_API/v1/token\",
  \"service_account_impersonation_url\": \"$IMP_URL\",
  \"credential_source\": {\"url\": \"$FAKE_API/_sts/subject?format=json\",
    \"headers\": {\"X-Test-Identity\": \"w1f\"},
    \"format\": {\"type\": \"json\", \"subject_token_field_name\": \"id_token\"}}
}"
batch 4
upload ext-url
is "$RC" 0 "external_account (url, header, json) + impersonation: exit 0"
is "$(rows)" 16 "external_account (url): 4 more rows"
is "$(sts_state 's["counters"]["subject_served"]')" 1 "the subject token came from the URL, with its header"
is "$(sts_state 's["last_lifetime"]')" 3600s "the default lifetime is \"3600s\""

# --- URL-sourced, text, no impersonation, workforce userProject ----------
WAUD=//iam.googleapis.com/locations/global/workforcePools/wf1/providers/p1
sts "{\"audience\":\"$WAUD\"}"
adc ext-wf "{
  \"type\": \"external_account\",
  \"audience\": \"$WAUD\",
  \"subject_token_type\": \"$JWT_TYPE\",
  \"token_url\": \"$FAKE_API/v1/token\",
  \"workforce_pool_user_project\": \"billing-proj\",
  \"credential_source\": {\"url\": \"$FAKE_API/_sts/subject\",
    \"headers\": {\"X-Test-Identity\": \"w1f\"}}
}"
batch 3
upload ext-wf
is "$RC" 0 "external_account (url, text), workforce pool: exit 0"
is "$(rows)" 19 "workforce pool: 3 more rows"
is "$(sts_state 's["last_options"]["userProject"]')" billing-proj \
    "workforce_pool_user_project goes to the STS as options.userProject"

# --- impersonated_service_account, authorized_user source ----------------
sts "{\"want_bearer\":\"oauth\",\"delegates\":[\"projects/-/serviceAccounts/mid@test-project.iam.gserviceaccount.com\"]}"
adc imp "{
  \"type\": \"impersonated_service_account\",
  \"service_account_impersonation_url\": \"$IMP_URL\",
  \"delegates\": [\"mid@test-project.iam.gserviceaccount.com\"],
  \"source_credentials\": {
    \"type\": \"authorized_user\",
    \"client_id\": \"1234.apps.googleusercontent.com\",
    \"client_secret\": \"d-FL95Q19q7MQmFpd7hHD0Ty\",
    \"refresh_token\": \"1//0refresh-$RANDOM$RANDOM\",
    \"token_uri\": \"$FAKE_API/token\"
  }
}"
batch 6
upload imp
is "$RC" 0 "impersonated_service_account (authorized_user source): exit 0"
is "$(rows)" 25 "impersonated_service_account: 6 more rows"
is "$(fake_state 's["counters"]["requests"].get("token_refresh", 0)')" 1 \
    "the source token came from a refresh-token grant"
is "$(sts_state 's["counters"]["iam_ok"]')" 3 "and was traded at generateAccessToken (delegates as projects/-/serviceAccounts/X)"

# --- impersonated_service_account, service_account key source -----------
sts '{"delegates":null}'
adc imp-sa "$(python3 - "$FAKE_KEY" "$IMP_URL" <<'PY'
import json, sys
print(json.dumps({"type": "impersonated_service_account",
                  "service_account_impersonation_url": sys.argv[2],
                  "source_credentials": json.load(open(sys.argv[1]))}))
PY
)"
batch 2
upload imp-sa
is "$RC" 0 "impersonated_service_account (service_account source): exit 0"
is "$(rows)" 27 "impersonated_service_account (key source): 2 more rows"
is "$(fake_state 's["counters"]["jwt_verified"]')" 1 "the source token came from a signed JWT"

# --- a wrong audience: STS 400, the admin must act ------------------------
sts "{\"audience\":\"$AUD\",\"want_bearer\":\"sts\",\"delegates\":null,\"subject_token\":\"$SUBJ\"}"
sed "s|$AUD|${AUD}-gone|" "$T/ext-json.json" >"$T/ext-bad.json.tmp"
adc ext-bad "$(cat "$T/ext-bad.json.tmp")"
batch 2
upload ext-bad
is "$RC" 78 "wrong audience: exit 78 (credentials unusable)"
check "the message names the file" grep -q "$T/ext-bad.json" "$T/up.out"
check "the message names the step (STS token exchange)" grep -q "STS token exchange" "$T/up.out"
check "and gives the STS error" grep -q "invalid_target" "$T/up.out"
is "$(waiting)" 1 "the batch waits"
is "$(rows)" 27 "nothing was loaded"

# --- impersonation refused: IAM 403 ---------------------------------------
sts "{\"service_account\":\"other@test-project.iam.gserviceaccount.com\"}"
upload ext-json
is "$RC" 78 "impersonation refused (403): exit 78"
check "the message names the step (impersonation) and the file" \
    grep -q "$T/ext-json.json.*impersonation.*PERMISSION_DENIED\|impersonation.*$T/ext-json.json" "$T/up.out"
sts "{\"service_account\":\"$SA\"}"

# --- STS 503: retry later --------------------------------------------------
fake_faults '{"kind": "status", "code": 503, "match": "^POST /v1/token"}'
upload ext-text
is "$RC" 75 "STS 503: exit 75 (retry later)"
check "the message says the STS token exchange failed" grep -q "STS token exchange" "$T/up.out"
is "$(waiting)" 1 "the batch still waits"
fake_faults ''
upload ext-text
is "$RC" 0 "once the STS answers again: exit 0"
is "$(rows)" 29 "and the 2 rows are loaded"

# --- a subject token file that is missing ----------------------------------
sed "s|$T/subject.txt|$T/no-such-token|" "$T/ext-text.json" >"$T/ext-miss.json.tmp"
adc ext-miss "$(cat "$T/ext-miss.json.tmp")"
batch 1
upload ext-miss
is "$RC" 78 "a missing subject token file: exit 78"
check "the message names the subject token file" grep -q "$T/no-such-token" "$T/up.out"
upload ext-text

# --- URLs a token must not travel to ----------------------------------------
sed "s|$FAKE_API/v1/token|http://sts.example.com/v1/token|" "$T/ext-text.json" >"$T/x.tmp"
adc ext-http "$(cat "$T/x.tmp")"
upload ext-http
is "$RC" 78 "a plain-http token_url to another host: exit 78"
check "refused as not https" grep -q "token_url 'http://sts.example.com/v1/token' must be https" "$T/up.out"
sed "s|\"$IMP_URL\"|\"http://iam.example.com/x\"|" "$T/ext-json.json" >"$T/x.tmp"
adc imp-http "$(cat "$T/x.tmp")"
upload imp-http
is "$RC" 78 "a plain-http impersonation URL to another host: exit 78"
adc ext-aws '{"type": "external_account", "audience": "a", "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request", "token_url": "https://sts.googleapis.com/v1/token", "credential_source": {"environment_id": "aws1", "regional_cred_verification_url": "https://x"}}'
upload ext-aws
is "$RC" 78 "an AWS credential_source (not supported): exit 78"
check "with a message saying so" grep -q "credential_source" "$T/up.out"

# --- no secret in any output -------------------------------------------------
curl -s -f "$FAKE_API/_fake/sts" | python3 -c '
import json, sys
for t in json.load(sys.stdin)["issued"]:
    print(t)' >"$T/issued"
is "$(grep -c . "$T/issued")" 11 "the fake issued 11 tokens (STS and IAM)"
printf '%s\n' "$SUBJ" "$SUBJ_URL" "d-FL95Q19q7MQmFpd7hHD0Ty" "1//0refresh" >>"$T/issued"
check "the uploader said things at -vv" test -s "$T/all.out"
check "no subject token, secret or access token in the uploader's output" \
    sh -c "! grep -F -f '$T/issued' '$T/all.out'"

finish
