#!/bin/sh
# make-key.sh DIR TOKEN_URI: a throwaway Google service-account key for tests.
#
# Writes DIR/sa.pem (RSA 2048 private key, PKCS#8 as Google issues them),
# DIR/sa.pub (its public key, for fake_bigquery.py --public-key),
# DIR/key.json (the service-account JSON key file, token_uri = TOKEN_URI) and
# DIR/authorized_user.json (gcloud-style refresh-token credentials), all mode
# 600.  An existing DIR/sa.pem is kept, so a test can run it again once the
# fake's port is known, to point token_uri at it with the same key.
# Exits 0, or non-zero with a message when openssl or python3 fails.
set -eu
if [ $# -ne 2 ]; then
	echo "usage: make-key.sh DIR TOKEN_URI" >&2
	exit 2
fi
dir=$1
uri=$2
umask 077
mkdir -p "$dir"
if [ ! -s "$dir/sa.pem" ]; then
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	    -out "$dir/sa.pem" 2>/dev/null
fi
openssl pkey -in "$dir/sa.pem" -pubout -out "$dir/sa.pub"
keyid=$(openssl pkey -in "$dir/sa.pem" -pubout -outform DER |
    openssl dgst -sha1 -r | cut -c1-40)
python3 - "$dir" "$uri" "$keyid" <<'PY'
import json, os, sys
d, uri, keyid = sys.argv[1:]
email = "uploader@test-project.iam.gserviceaccount.com"
key = {
    "type": "service_account",
    "project_id": "test-project",
    "private_key_id": keyid,
    "private_key": open(os.path.join(d, "sa.pem")).read(),
    "client_email": email,
    "client_id": "100000000000000000001",
    "auth_uri": "https://accounts.google.com/o/oauth2/auth",
    "token_uri": uri,
    "auth_provider_x509_cert_url":
        "https://www.googleapis.com/oauth2/v1/certs",
    "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/"
        "x509/uploader%40test-project.iam.gserviceaccount.com",
    "universe_domain": "googleapis.com",
}
user = {
    "type": "authorized_user",
    "client_id": "764086051850-fake.apps.googleusercontent.com",
    "client_secret": "fake-client-secret",
    "refresh_token": "1//fake-refresh-token",
    "quota_project_id": "test-project",
}
for name, doc in (("key.json", key), ("authorized_user.json", user)):
    path = os.path.join(d, name)
    with open(path + ".tmp", "w") as fp:
        json.dump(doc, fp, indent=2)
        fp.write("\n")
    os.replace(path + ".tmp", path)
PY
chmod 600 "$dir/sa.pem" "$dir/sa.pub" "$dir/key.json" \
    "$dir/authorized_user.json"
