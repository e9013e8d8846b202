#!/usr/bin/env python3
"""selftest.py: checks that fake_bigquery.py behaves as Google's services do,
for the parts hookspool-upload relies on.

  selftest.py --base http://127.0.0.1:PORT --key DIR/key.json
              --public-key DIR/sa.pub

--base is a fake already listening (tests/t-fake-bigquery.sh starts it with
the default --polls-to-done 2); its state is reset here.  The JWTs are signed
with the openssl CLI and the private key of the service-account key file.
The persistence check starts a second fake (with --state) on its own port.
Prints TAP ("ok N - what", "not ok N - what: why"); exits 0 when every check
passed, 1 otherwise.
"""

import argparse
import base64
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
CHUNK = 256 * 1024
PROJ = "test-project"
JOBS = "/bigquery/v2/projects/%s/jobs" % PROJ
UPLOAD = "/upload/bigquery/v2/projects/%s/jobs" % PROJ
TABLE_PATH = "/bigquery/v2/projects/%s/datasets/ds/tables/hits" % PROJ
SCOPE = "https://www.googleapis.com/auth/bigquery"
FIELDS = [
    {"name": "hit_id", "type": "STRING", "mode": "REQUIRED"},
    {"name": "payload", "type": "STRING", "mode": "NULLABLE"},
    {"name": "received_at", "type": "INTEGER", "mode": "NULLABLE"},
    {"name": "date", "type": "DATE", "mode": "NULLABLE"},
    {"name": "headers", "type": "JSON", "mode": "NULLABLE"},
    {"name": "signature_valid", "type": "BOOLEAN", "mode": "NULLABLE"},
    {"name": "payload_base64", "type": "BYTES", "mode": "NULLABLE"},
    {"name": "ts", "type": "TIMESTAMP", "mode": "NULLABLE"},
    {"name": "score", "type": "FLOAT", "mode": "NULLABLE"},
]
TOO_MANY_1 = ("Error while reading data, error message: JSON table "
              "encountered too many errors, giving up. Rows: 1; errors: 1. "
              "Please look into the errors[] collection for more details.")


class Ctx:
    base = host = port = keyfile = pub = token = None
    key = {}
    n = 0
    failed = []


C = Ctx()


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "HTTP %s %s" % (self.status, self.body[:300])


def ok(cond, name, detail=""):
    C.n += 1
    if cond:
        print("ok %d - %s" % (C.n, name))
    else:
        print("not ok %d - %s: %s" % (C.n, name, detail))
        C.failed.append(name)
    return cond


def req(method, path, body=None, headers=None, auth=True, port=None,
        chunked=False):
    """One request on a new connection; a dropped connection -> None."""
    h = dict(headers or {})
    if auth and "Authorization" not in h:
        h["Authorization"] = "Bearer " + (auth if isinstance(auth, str)
                                          else C.token)
    conn = http.client.HTTPConnection("127.0.0.1", port or C.port,
                                      timeout=30)
    try:
        if chunked:
            h["Transfer-Encoding"] = "chunked"
            parts = [body[i:i + 1000] for i in range(0, len(body), 1000)]
            conn.request(method, path, body=iter(parts), headers=h,
                         encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()},
                    r.read())
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def ctl(method, what, doc=None):
    r = req(method, "/_fake/" + what, json.dumps(doc).encode() if doc
            is not None else None, auth=False)
    return r if what.startswith("rows") else r.json()


def faults(*lst):
    ctl("POST", "faults", {"faults": list(lst)})


def counters():
    return ctl("GET", "state")["counters"]


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def sign(claims, header=None):
    head = header or {"alg": "RS256", "typ": "JWT",
                      "kid": C.key["private_key_id"]}
    si = b64u(json.dumps(head).encode()) + "." + b64u(
        json.dumps(claims).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", C.keyfile],
                         input=si.encode(), stdout=subprocess.PIPE,
                         check=True).stdout
    return si + "." + b64u(sig)


def claims(**over):
    t = int(time.time())
    c = {"iss": C.key["client_email"], "scope": SCOPE,
         "aud": "http://127.0.0.1:%d/token" % C.port, "iat": t,
         "exp": t + 3600}
    c.update(over)
    return c


def token_req(form, port=None):
    return req("POST", "/token", urllib.parse.urlencode(form).encode(),
               {"Content-Type": "application/x-www-form-urlencoded"},
               auth=False, port=port)


def jwt_token(port=None):
    c = claims(aud="http://127.0.0.1:%d/token" % (port or C.port))
    r = token_req({"grant_type": "urn:ietf:params:oauth:grant-type:"
                   "jwt-bearer", "assertion": sign(c)}, port)
    return r.json()["access_token"]


def hit(i, **over):
    r = {"hit_id": "h-%05d" % i, "payload": "orderId=N%d&status=delivered"
         % i, "received_at": 1603131452000 + i, "date": "2020-10-19",
         "headers": {"user-agent": "t", "n": i},
         "signature_valid": i % 2 == 0,
         "payload_base64": base64.b64encode(b"\x00\xff%d" % i).decode(),
         "ts": "2020-10-19 18:17:32.5 UTC", "score": 1.5 + i}
    r.update(over)
    return r


def ndjson(rows):
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def job(jid, fields=FIELDS, table="hits", **over):
    load = {"sourceFormat": "NEWLINE_DELIMITED_JSON",
            "destinationTable": {"projectId": PROJ, "datasetId": "ds",
                                 "tableId": table},
            "schema": {"fields": fields},
            "createDisposition": "CREATE_IF_NEEDED",
            "writeDisposition": "WRITE_APPEND",
            "timePartitioning": {"type": "DAY", "field": "date"}}
    load.update(over)
    return {"jobReference": {"projectId": PROJ, "jobId": jid,
                             "location": "US"},
            "configuration": {"load": load}}


def multipart(meta, data, boundary="fbq_b0undary"):
    body = (b"--" + boundary.encode() + b"\r\nContent-Type: application/json;"
            b" charset=UTF-8\r\n\r\n" + json.dumps(meta).encode() +
            b"\r\n--" + boundary.encode() + b"\r\nContent-Type: "
            b"application/octet-stream\r\n\r\n" + data + b"\r\n--" +
            boundary.encode() + b"--\r\n")
    return body, {"Content-Type": 'multipart/related; boundary="%s"' %
                  boundary}


def insert(meta, data, port=None, chunked=False, headers=None):
    body, h = multipart(meta, data)
    h.update(headers or {})
    return req("POST", UPLOAD + "?uploadType=multipart", body, h, port=port,
               chunked=chunked)


def get_job(jid, loc="US", port=None):
    return req("GET", "%s/%s?location=%s" % (JOBS, jid, loc), port=port)


def poll(jid, port=None):
    for _ in range(20):
        r = get_job(jid, port=port)
        if r is None or r.status != 200:
            raise AssertionError("jobs.get %s: %r" % (jid, r))
        if r.json()["status"]["state"] == "DONE":
            return r.json()
    raise AssertionError("job %s never DONE" % jid)


def num_rows():
    r = req("GET", TABLE_PATH)
    return int(r.json()["numRows"]) if r.status == 200 else None


def start_session(meta, size=None):
    h = {"Content-Type": "application/json; charset=UTF-8",
         "X-Upload-Content-Type": "application/octet-stream"}
    if size is not None:
        h["X-Upload-Content-Length"] = str(size)
    r = req("POST", UPLOAD + "?uploadType=resumable",
            json.dumps(meta).encode(), h)
    return r


def put(session, data, crange):
    u = urllib.parse.urlsplit(session)
    return req("PUT", u.path + "?" + u.query, data,
               {"Content-Range": crange} if crange else {})


def google_error(r, code, reason, status):
    try:
        e = r.json()["error"]
        return (r.status == code and e["code"] == code and
                e["errors"][0]["reason"] == reason and e["status"] == status)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return False


# --- the checks -----------------------------------------------------------

def test_tokens():
    before = counters()["jwt_verified"]
    good = sign(claims())
    r = token_req({"grant_type": "urn:ietf:params:oauth:grant-type:"
                   "jwt-bearer", "assertion": good})
    ok(r.status == 200 and r.json()["token_type"] == "Bearer" and
       r.json()["expires_in"] > 0 and r.json()["access_token"],
       "token: a signed JWT gets an access token", r)
    C.token = r.json()["access_token"]
    h, _, s = good.split(".")
    forged = h + "." + b64u(json.dumps(claims(iss="evil@x")).encode()) + \
        "." + s
    bad = [("tampered claims", forged),
           ("corrupt signature", good[:-8] + ("A" * 8 if good[-8:] != "A" * 8
                                              else "B" * 8)),
           ("wrong aud", sign(claims(aud="https://oauth2.googleapis.com/"
                                         "token"))),
           ("expired", sign(claims(iat=int(time.time()) - 7200,
                                   exp=int(time.time()) - 3600))),
           ("too long-lived", sign(claims(exp=int(time.time()) + 7200))),
           ("alg HS256", sign(claims(), {"alg": "HS256", "typ": "JWT"})),
           ("not a JWT", "abc.def")]
    for what, jwt in bad:
        r = token_req({"grant_type": "urn:ietf:params:oauth:grant-type:"
                       "jwt-bearer", "assertion": jwt})
        ok(r.status == 400 and r.json()["error"] == "invalid_grant" and
           r.json()["error_description"], "token: %s -> 400 invalid_grant"
           % what, r)
    r = token_req({"grant_type": "urn:ietf:params:oauth:grant-type:"
                   "jwt-bearer", "assertion": sign(claims(scope="email"))})
    ok(r.status == 400 and r.json()["error"] == "invalid_scope",
       "token: no BigQuery scope -> invalid_scope", r)
    ok(counters()["jwt_verified"] == before + 1,
       "token: jwt_verified counts the one good JWT", counters())
    form = {"grant_type": "refresh_token", "client_id": "c",
            "client_secret": "s", "refresh_token": "1//r"}
    r = token_req(form)
    ok(r.status == 200 and r.json()["access_token"],
       "token: refresh_token grant", r)
    r = token_req(dict(form, refresh_token=""))
    ok(r.status == 400 and "error" in r.json(),
       "token: empty refresh_token -> 400", r)
    r = token_req({"grant_type": "password"})
    ok(r.status == 400 and r.json()["error"] == "unsupported_grant_type",
       "token: unknown grant_type -> 400", r)
    md = "/computeMetadata/v1/instance/service-accounts/default/token"
    r = req("GET", md, headers={"Metadata-Flavor": "Google"}, auth=False)
    ok(r.status == 200 and r.json()["access_token"] and
       r.headers.get("metadata-flavor") == "Google",
       "metadata: token with Metadata-Flavor: Google", r)
    r = req("GET", md, auth=False)
    ok(r.status == 403, "metadata: no Metadata-Flavor -> 403", r)
    r = req("GET", JOBS + "/x?location=US", auth=False)
    ok(google_error(r, 401, "authError", "UNAUTHENTICATED"),
       "auth: no Authorization -> 401 authError", r)
    r = req("GET", JOBS + "/x?location=US", auth="ya29.not-issued")
    ok(google_error(r, 401, "authError", "UNAUTHENTICATED"),
       "auth: unknown token -> 401", r)


def test_multipart():
    ctl("POST", "reset")
    rows = [hit(1), hit(2, payload=None, headers=[1, "x"]),
            hit(3, received_at="1603131452003"),
            hit(4, signature_valid="false"), hit(5, ts=1603131452.5)]
    data = ndjson(rows)
    r = insert(job("mp_1"), data)
    j = r.json() if r and r.status == 200 else {}
    ok(j.get("kind") == "bigquery#job" and j["status"] == {
        "state": "PENDING"} and j["id"] == "%s:US.mp_1" % PROJ and
       j["jobReference"] == {"projectId": PROJ, "jobId": "mp_1",
                             "location": "US"} and
       j["statistics"]["creationTime"].isdigit() and
       j["configuration"]["load"]["destinationTable"]["tableId"] == "hits",
       "multipart: insert -> 200 Job, PENDING", r)
    r = get_job("mp_1")
    ok(r.json()["status"]["state"] == "RUNNING",
       "jobs.get: RUNNING on the first poll", r)
    ok(num_rows() is None, "load: nothing visible before DONE")
    r = get_job("mp_1")
    j = r.json()
    st = j["statistics"]
    ok(j["status"] == {"state": "DONE"} and st["load"] == {
        "inputFiles": "1", "inputFileBytes": str(len(data)),
        "outputRows": "5", "outputBytes": st["load"]["outputBytes"],
        "badRecords": "0"} and int(st["load"]["outputBytes"]) > 0 and all(
        st[k].isdigit() for k in ("creationTime", "startTime", "endTime")),
       "jobs.get: DONE on the second poll, load statistics as strings", r)
    ok(get_job("mp_1").json()["status"]["state"] == "DONE",
       "jobs.get: DONE stays DONE")
    r = req("GET", TABLE_PATH)
    t = r.json()
    ok(t["numRows"] == "5" and [f["name"] for f in t["schema"]["fields"]] ==
       [f["name"] for f in FIELDS] and t["timePartitioning"] == {
           "type": "DAY", "field": "date"}, "tables.get: schema, numRows", r)
    cells, token, pages = [], None, 0
    while True:
        q = "?maxResults=2" + ("&pageToken=" + token if token else "")
        page = req("GET", TABLE_PATH + "/data" + q).json()
        pages += 1
        ok(page["kind"] == "bigquery#tableDataList" and
           page["totalRows"] == "5", "tabledata.list: page %d" % pages, page)
        cells += [[c["v"] for c in row["f"]] for row in page["rows"]]
        token = page.get("pageToken")
        if not token or pages > 5:
            break
    ok(pages == 3 and len(cells) == 5, "tabledata.list: 3 pages of 2", pages)
    ok(cells[0] == ["h-00001", "orderId=N1&status=delivered",
                    "1603131452001", "2020-10-19",
                    '{"user-agent":"t","n":1}', "false",
                    base64.b64encode(b"\x00\xff1").decode(),
                    "1.6031314525E9", "2.5"],
       "tabledata.list: cells as Google formats them", cells[0])
    ok(cells[1][1] is None and cells[1][4] == '[1,"x"]' and
       cells[2][2] == "1603131452003" and cells[3][5] == "false" and
       cells[4][7] == "1.6031314525E9", "tabledata.list: NULL, JSON array,"
       " INTEGER and BOOLEAN from strings, epoch TIMESTAMP", cells)
    got = [json.loads(x) for x in ctl("GET", "rows?table=%s.ds.hits" % PROJ
                                      ).body.splitlines()]
    ok(len(got) == 5 and got[0] == rows[0] and got[2]["received_at"] ==
       1603131452003 and got[3]["signature_valid"] is False,
       "/_fake/rows: the loaded rows", got[:1])
    out = subprocess.run([sys.executable, os.path.join(HERE, "tabledata.py"),
                          "--api-base", C.base, "%s.ds.hits" % PROJ],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    ok(out.returncode == 0 and len(lines) == 5 and
       [x["hit_id"] for x in lines] == [r["hit_id"] for r in rows] and
       lines[0]["received_at"] == 1603131452001 and
       lines[0]["headers"] == rows[0]["headers"] and
       lines[1]["signature_valid"] is True and lines[0]["score"] == 2.5 and
       lines[0]["ts"] == "2020-10-19 18:17:32.500000 UTC",
       "tabledata.py prints the rows", (out.returncode, out.stderr, lines))
    more = ndjson([hit(6), hit(7)])
    r = insert(job("mp_2"), more, chunked=True,
               headers={"Expect": "100-continue"})
    ok(r is not None and r.status == 200, "multipart: chunked body with "
       "Expect: 100-continue", r)
    poll("mp_2")
    ok(num_rows() == 7, "load: WRITE_APPEND appends", num_rows())


def test_duplicate():
    before = ctl("GET", "state")
    r = insert(job("mp_1"), ndjson([hit(9)]))
    ok(google_error(r, 409, "duplicate", "ALREADY_EXISTS") and
       r.json()["error"]["message"] == "Already Exists: Job %s:US.mp_1" %
       PROJ, "409: a second insert with the same jobId", r)
    st = ctl("GET", "state")
    att = {j["id"]: j["attempts"] for j in st["jobs"]}
    ok(st["counters"]["duplicates_409"] ==
       before["counters"]["duplicates_409"] + 1 and att["mp_1"] == 2 and
       st["tables"]["%s.ds.hits" % PROJ]["rows"] == 7,
       "409: counted, attempts 2, nothing loaded", st)
    r = get_job("nope")
    ok(google_error(r, 404, "notFound", "NOT_FOUND") and
       r.json()["error"]["message"] == "Not found: Job %s:US.nope" % PROJ,
       "jobs.get: unknown job -> 404", r)
    r = get_job("mp_1", "EU")
    ok(r.status == 404, "jobs.get: other location -> 404", r)
    r = req("GET", JOBS + "/mp_1")
    ok(r.status == 200, "jobs.get: no location finds a US job", r)


def test_invalid_config():
    n = len(ctl("GET", "state")["jobs"])
    bad_type = [dict(FIELDS[0], type="STRINGY")] + FIELDS[1:]
    cases = [
        ("bad job ID", job("bad id!")),
        ("job ID too long", job("x" * 1025)),
        ("CSV source", job("c1", sourceFormat="CSV")),
        ("no destinationTable", job("c2", destinationTable=None)),
        ("unknown field type", job("c3", fields=bad_type)),
        ("bad writeDisposition", job("c4", writeDisposition="WRITE_SOME")),
        ("partition field missing", job("c5", timePartitioning={
            "type": "DAY", "field": "nodate"})),
        ("partition on STRING", job("c6", timePartitioning={
            "type": "DAY", "field": "payload"})),
        ("misspelt key", job("c7", writeDispostion="WRITE_APPEND")),
        ("bad field name", job("c8", fields=[{"name": "a-b",
                                              "type": "STRING"}])),
    ]
    for what, meta in cases:
        if meta["configuration"]["load"].get("destinationTable", 1) is None:
            del meta["configuration"]["load"]["destinationTable"]
        r = insert(meta, ndjson([hit(1)]))
        ok(google_error(r, 400, "invalid", "INVALID_ARGUMENT"),
           "400 invalid: %s" % what, r)
    r = req("POST", UPLOAD + "?uploadType=multipart", b"{}",
            {"Content-Type": "application/json"})
    ok(r.status == 400, "400: multipart upload that is not multipart", r)
    body, h = multipart(job("c9"), b"{}\n")
    r = req("POST", UPLOAD + "?uploadType=multipart",
            body.replace(b"\r\n", b"\n"), h)
    ok(r.status == 400, "400: multipart with bare LF line ends", r)
    ok(len(ctl("GET", "state")["jobs"]) == n, "400: no job was created")


def test_bad_rows():
    n = num_rows()
    r = insert(job("bad_first"), ndjson([hit(1, extra=1), hit(2)]))
    j = poll("bad_first")
    er = j["status"].get("errorResult", {})
    ok(j["status"]["state"] == "DONE" and er.get("reason") == "invalid" and
       er.get("message") == TOO_MANY_1 and "extra" in json.dumps(
           j["status"]["errors"]) and "load" not in j["statistics"],
       "bad row: unknown field -> DONE with errorResult, Google's text", j)
    variants = [
        ("REQUIRED null", hit(3, hit_id=None), "hit_id"),
        ("REQUIRED missing", {"payload": "x"}, "hit_id"),
        ("INTEGER from text", hit(3, received_at="12a"), "received_at"),
        ("INTEGER fraction", hit(3, received_at=1.5), "received_at"),
        ("INTEGER over int64", hit(3, received_at=2 ** 63), "received_at"),
        ("bad DATE", hit(3, date="2020-13-45"), "date"),
        ("BOOLEAN from text", hit(3, signature_valid="maybe"),
         "signature_valid"),
        ("bad BYTES", hit(3, payload_base64="**"), "payload_base64"),
        ("bad TIMESTAMP", hit(3, ts="yesterday"), "ts"),
        ("FLOAT from text", hit(3, score="1.2.3"), "score"),
        ("STRING from number", hit(3, payload=12), "payload"),
    ]
    for i, (what, row, field) in enumerate(variants):
        jid = "bad_%d" % i
        insert(job(jid), ndjson([hit(1), row, hit(2)]))
        j = poll(jid)
        errs = json.dumps(j["status"].get("errors", []))
        ok(j["status"].get("errorResult", {}).get("reason") == "invalid" and
           field in errs and "line 2" in errs and "Rows: 2; errors: 1" in
           j["status"]["errorResult"]["message"],
           "bad row: %s -> errorResult naming %s" % (what, field), j)
    for what, data in [("not JSON", b'{"hit_id": "a"\n'),
                       ("not an object", b"[1,2]\n"),
                       ("invalid UTF-8", b'{"hit_id": "\xff"}\n'),
                       ("NaN", b'{"hit_id": "a", "score": NaN}\n')]:
        jid = "badj_%d" % len(what)
        insert(job(jid), data)
        j = poll(jid)
        ok(j["status"].get("errorResult", {}).get("reason") == "invalid",
           "bad row: %s -> errorResult invalid" % what, j)
    insert(job("tolerant", maxBadRecords=1), ndjson([hit(8, nope=1),
                                                     hit(9)]))
    j = poll("tolerant")
    ok("errorResult" not in j["status"] and
       j["statistics"]["load"]["outputRows"] == "1" and
       j["statistics"]["load"]["badRecords"] == "1",
       "maxBadRecords 1: the bad row is skipped", j)
    insert(job("blank"), b"\n" + ndjson([hit(10)]) + b"\n\n")
    j = poll("blank")
    ok(j["statistics"]["load"]["outputRows"] == "1", "blank lines skipped",
       j)
    ok(num_rows() == n + 2, "bad rows: nothing else appended", num_rows())


def test_schema_mismatch():
    n = num_rows()
    changed = [dict(f, type="STRING") if f["name"] == "received_at" else f
               for f in FIELDS]
    cases = [("changed type", changed, "received_at"),
             ("missing field", FIELDS[:-1], "score"),
             ("added field", FIELDS + [{"name": "x", "type": "STRING"}], "x"),
             ("changed mode", [dict(FIELDS[0], mode="NULLABLE")] + FIELDS[1:],
              "hit_id")]
    for i, (what, fields, name) in enumerate(cases):
        jid = "sm_%d" % i
        insert(job(jid, fields=fields), ndjson([hit(1)]))
        j = poll(jid)
        er = j["status"].get("errorResult", {})
        ok(er.get("reason") == "invalid" and er.get("message", "").startswith(
            "Provided Schema does not match Table %s:ds.hits. " % PROJ) and
           name in er["message"], "schema mismatch: %s" % what, j)
    insert(job("sm_tp", timePartitioning={"type": "DAY"}), ndjson([hit(1)]))
    ok(poll("sm_tp")["status"].get("errorResult", {}).get("reason") ==
       "invalid", "schema mismatch: other timePartitioning")
    insert(job("never", table="absent", createDisposition="CREATE_NEVER"),
           ndjson([hit(1)]))
    er = poll("never")["status"].get("errorResult", {})
    ok(er.get("reason") == "notFound" and er.get("message") ==
       "Not found: Table %s:ds.absent" % PROJ, "CREATE_NEVER: notFound", er)
    ok(num_rows() == n, "schema mismatch: nothing appended")
    ctl("POST", "tables", {"table": "%s.ds.pre" % PROJ,
                           "schema": {"fields": FIELDS[:2]}})
    insert(job("pre", table="pre", fields=FIELDS[:2], timePartitioning=None),
           ndjson([{"hit_id": "p"}]))
    ok("errorResult" not in poll("pre")["status"],
       "/_fake/tables: a made table takes a load")


def test_schema_update():
    """schemaUpdateOptions, clustering and table properties on a load."""
    path = "/bigquery/v2/projects/%s/datasets/ds/tables/evo" % PROJ
    base = FIELDS[:4]
    wide = base + [{"name": "method", "type": "STRING", "mode": "NULLABLE"}]
    add = ["ALLOW_FIELD_ADDITION"]

    def hit4(i, **more):
        return dict({k: v for k, v in hit(i).items() if k in (
            "hit_id", "payload", "received_at", "date")}, **more)

    def load(jid, fields, rows, **over):
        insert(job(jid, fields=fields, table="evo", **over), ndjson(rows))
        return poll(jid)["status"].get("errorResult")

    er = load("su_0", base, [hit4(1)], clustering={"fields": ["date"]},
              destinationTableProperties={"description": "CRM hits"},
              timePartitioning={"type": "DAY", "field": "date",
                                "expirationMs": "86400000",
                                "requirePartitionFilter": True},
              schemaUpdateOptions=add)
    t = req("GET", path).json()
    ok(er is None and t.get("clustering") == {"fields": ["date"]} and
       t.get("description") == "CRM hits" and
       t["timePartitioning"].get("expirationMs") == "86400000" and
       t.get("requirePartitionFilter") is True,
       "a created table keeps clustering, description, expiration, filter",
       (er, t))
    er = load("su_1", wide, [hit4(2, method="POST")])
    ok(er and er["message"].endswith("Cannot add fields (field: method)"),
       "a new field without ALLOW_FIELD_ADDITION: invalid", er)
    er = load("su_2", wide, [hit4(3, method="POST")],
              schemaUpdateOptions=add)
    t = req("GET", path).json()
    ok(er is None and [f["name"] for f in t["schema"]["fields"]] ==
       [f["name"] for f in wide], "ALLOW_FIELD_ADDITION adds the field",
       (er, t))
    er = load("su_3", base, [hit4(4)])
    ok(er and "Field method is missing in new schema" in er["message"],
       "a field left out, no option: invalid", er)
    er = load("su_4", base, [hit4(5)], schemaUpdateOptions=add)
    rows = [json.loads(x) for x in ctl("GET", "rows?table=%s.ds.evo" %
                                       PROJ).body.splitlines()]
    ok(er is None and len(rows) == 3 and rows[-1].get("method") is None and
       rows[1]["method"] == "POST", "a NULLABLE field left out with an "
       "option: the table keeps it, NULL in the new rows", (er, rows))
    er = load("su_5", base + [{"name": "x", "type": "STRING",
                               "mode": "REQUIRED"}], [hit4(6, x="1")],
              schemaUpdateOptions=add)
    ok(er and "Cannot add required fields" in er["message"],
       "a REQUIRED field is never added", er)
    er = load("su_6", wide[1:], [{"payload": "p"}], schemaUpdateOptions=add)
    ok(er and "hit_id has changed mode from REQUIRED to NULLABLE" in
       er["message"], "a REQUIRED field left out needs relaxation", er)
    er = load("su_7", base, [hit4(7)], schemaUpdateOptions=add,
              clustering={"fields": ["hit_id"]})
    ok(er and "Incompatible table partitioning specification" in
       er["message"] and "clustering(date)" in er["message"],
       "other clustering on an existing table: invalid", er)
    er = load("su_8", base, [hit4(8)], schemaUpdateOptions=add,
              destinationTableProperties={"description": "other"})
    ok(er and er["reason"] == "invalid", "another description: invalid", er)
    for what, over in (
            ("WRITE_TRUNCATE", {"writeDisposition": "WRITE_TRUNCATE",
                                "schemaUpdateOptions": add}),
            ("unknown option", {"schemaUpdateOptions": ["ALLOW_ALL"]}),
            ("5 clustering fields", {"clustering": {"fields": [
                "hit_id", "payload", "received_at", "date", "method"]}}),
            ("clustering on JSON", {"clustering": {"fields": ["headers"]}}),
            ("clustering not in schema", {"clustering": {"fields": ["z"]}}),
            ("expirationMs 0", {"timePartitioning": {
                "type": "DAY", "field": "date", "expirationMs": "0"}})):
        r = insert(job("su_bad", fields=FIELDS, table="evo2", **over),
                   ndjson([hit4(9)]))
        ok(r is not None and r.status == 400, "refused at insert: %s" % what,
           r)


def test_resumable():
    rows, data = [], b""
    i = 0
    while len(data) < 3 * CHUNK + 50000:
        rows.append(hit(1000 + i))
        data += ndjson(rows[-1:])
        i += 1
    n, total = num_rows(), len(data)
    r = start_session(job("rs_1"), total)
    loc = r.headers.get("location", "")
    ok(r.status == 200 and loc.startswith(C.base + UPLOAD + "?") and
       "&upload_id=" in loc, "resumable: session URL in Location", r)
    r = put(loc, b"", "bytes */*")
    ok(r.status == 308 and "range" not in r.headers,
       "resumable: status query, nothing committed: 308, no Range", r)
    r = put(loc, data[:CHUNK], "bytes 0-%d/%d" % (CHUNK - 1, total))
    ok(r.status == 308 and r.headers.get("range") == "bytes=0-%d" %
       (CHUNK - 1), "resumable: chunk 1 -> 308 Range", r)
    r = put(loc, b"", "bytes */*")
    ok(r.status == 308 and r.headers.get("range") == "bytes=0-%d" %
       (CHUNK - 1), "resumable: status query bytes */* -> 308 Range", r)
    r = put(loc, data[:CHUNK], "bytes 0-%d/%d" % (CHUNK - 1, total))
    ok(r.status == 400, "resumable: chunk not at the committed offset -> "
       "400", r)
    r = put(loc, data[CHUNK:2 * CHUNK + 1], "bytes %d-%d/*" % (
        CHUNK, 2 * CHUNK))
    ok(r.status == 400, "resumable: non-final chunk not n x 256 KiB -> 400",
       r)
    faults({"kind": "partial308", "match": "^PUT ", "count": 1})
    r = put(loc, data[CHUNK:3 * CHUNK], "bytes %d-%d/%d" % (
        CHUNK, 3 * CHUNK - 1, total))
    ok(r.status == 308 and r.headers.get("range") == "bytes=0-%d" % (
        2 * CHUNK - 1), "fault partial308: half of chunk 2 committed", r)
    faults()
    r = put(loc, data[2 * CHUNK:], "bytes %d-%d/%d" % (
        2 * CHUNK, total - 1, total))
    ok(r.status == 200 and r.json()["jobReference"]["jobId"] == "rs_1",
       "resumable: final chunk -> 200 Job", r)
    j = poll("rs_1")
    ok("errorResult" not in j["status"] and
       j["statistics"]["load"]["outputRows"] == str(len(rows)) and
       j["statistics"]["load"]["inputFileBytes"] == str(total),
       "resumable: DONE with every row", j["status"])
    ok(num_rows() == n + len(rows), "resumable: rows appended")
    r = put(loc, b"", "bytes */%d" % total)
    ok(r.status == 200 and r.json()["jobReference"]["jobId"] == "rs_1",
       "resumable: status query after completion -> 200 Job", r)
    # Unknown total, finished by a status query with the total.
    data2 = ndjson([hit(5000 + k) for k in range(10)])
    data2 += b"\n" * (2 * CHUNK - len(data2))
    loc2 = start_session(job("rs_2")).headers["location"]
    r1 = put(loc2, data2[:CHUNK], "bytes 0-%d/*" % (CHUNK - 1))
    r2 = put(loc2, data2[CHUNK:], "bytes %d-%d/*" % (CHUNK, 2 * CHUNK - 1))
    r3 = put(loc2, b"", "bytes */%d" % (2 * CHUNK))
    ok(r1.status == 308 and r2.status == 308 and r2.headers.get("range") ==
       "bytes=0-%d" % (2 * CHUNK - 1) and r3.status == 200,
       "resumable: unknown total, then bytes */TOTAL finishes", (r1, r2, r3))
    ok(poll("rs_2")["statistics"]["load"]["outputRows"] == "10",
       "resumable: blank-line padding skipped")
    r = start_session(job("rs_1"))
    ok(google_error(r, 409, "duplicate", "ALREADY_EXISTS") and
       "location" not in r.headers, "resumable: existing jobId -> 409 at "
       "session creation", r)
    r = put(C.base + UPLOAD + "?uploadType=resumable&upload_id=nope", b"",
            "bytes */*")
    ok(r.status == 404, "resumable: unknown upload_id -> 404", r)
    loc3 = start_session(job("rs_3")).headers["location"]
    r = put(loc3, ndjson([hit(1)]), None)
    ok(r.status == 200 and poll("rs_3")["statistics"]["load"][
        "outputRows"] == "1", "resumable: whole upload in one PUT", r)


def test_faults():
    jget = r"^GET /bigquery/v2/projects/[^/]+/jobs/"
    for code, reason, status, extra in [
            (503, "backendError", "UNAVAILABLE", {}),
            (500, "internalError", "INTERNAL", {"reason": "internalError"}),
            (429, "rateLimitExceeded", "RESOURCE_EXHAUSTED",
             {"retry_after": 7})]:
        faults(dict({"kind": "status", "code": code, "match": jget,
                     "count": 1}, **extra))
        r1, r2 = get_job("mp_1"), get_job("mp_1")
        ok(google_error(r1, code, reason, status) and r2.status == 200 and (
            "retry_after" not in extra or r1.headers.get("retry-after") ==
            "7"), "fault status %d: %s once, then 200" % (code, reason),
           (r1, r2))
    faults({"kind": "status", "code": 502, "match": "/tables/hits$",
            "every": 2})
    codes = [req("GET", TABLE_PATH).status for _ in range(4)]
    ok(codes == [200, 502, 200, 502], "fault every 2", codes)
    faults({"kind": "status", "code": 500, "match": "/tables/hits$",
            "probability": 0},
           {"kind": "status", "code": 503, "match": "/tables/hits$",
            "probability": 1, "count": 2})
    codes = [req("GET", TABLE_PATH).status for _ in range(3)]
    ok(codes == [503, 503, 200], "fault probability 0 and 1, count 2", codes)
    for when in ("before", "after"):
        jid = "reset_" + when
        faults({"kind": "reset", "when": when, "match": "^POST /upload/",
                "count": 1})
        r = insert(job(jid), ndjson([hit(1)]))
        ok(r is None and get_job(jid).status == 404,
           "fault reset %s the body: no answer, no job" % when, r)
    faults({"kind": "lost_answer", "match": "^POST /upload/", "count": 1})
    r = insert(job("lost_1"), ndjson([hit(1)]))
    ok(r is None and get_job("lost_1").status == 200,
       "fault lost_answer: no answer, the job exists", r)
    r = insert(job("lost_1"), ndjson([hit(1)]))
    ok(r.status == 409, "fault lost_answer: the retry gets 409", r)
    faults({"kind": "expire_tokens", "match": "/tables/hits$", "count": 1})
    r1, r2 = req("GET", TABLE_PATH), get_job("mp_1")
    C.token = jwt_token()
    r3 = get_job("mp_1")
    ok(r1.status == 401 and r2.status == 401 and r3.status == 200,
       "fault expire_tokens: 401 until a new token", (r1, r2, r3))
    faults({"kind": "token_ttl", "seconds": 1, "match": "^POST /token",
            "count": 1})
    old = C.token
    short = token_req({"grant_type": "refresh_token", "client_id": "c",
                       "client_secret": "s", "refresh_token": "r"}).json()
    C.token = short["access_token"]
    r1 = get_job("mp_1")
    time.sleep(1.3)
    r2 = get_job("mp_1")
    ok(short["expires_in"] == 1 and r1.status == 200 and r2.status == 401,
       "fault token_ttl: the token expires after 1 s", (short, r1, r2))
    faults({"kind": "token_ttl", "seconds": 3600, "match": "^POST /token"})
    C.token = jwt_token()
    faults()
    ok(get_job("mp_1").status == 200 and old != C.token,
       "fault token_ttl: back to long-lived tokens")
    n = num_rows()
    faults({"kind": "job_error", "reason": "quotaExceeded", "count": 1})
    insert(job("qe_1"), ndjson([hit(1)]))
    insert(job("qe_2"), ndjson([hit(2)]))
    j1, j2 = poll("qe_1"), poll("qe_2")
    ok(j1["status"].get("errorResult", {}).get("reason") ==
       "quotaExceeded" and "errorResult" not in j2["status"] and
       num_rows() == n + 1, "fault job_error: quotaExceeded once, nothing "
       "loaded", (j1["status"], j2["status"]))
    faults({"kind": "slow", "seconds": 0.6, "match": jget, "count": 1})
    t = time.time()
    r = get_job("mp_1")
    ok(r.status == 200 and time.time() - t >= 0.6, "fault slow: 0.6 s",
       time.time() - t)
    loc = start_session(job("gone_1")).headers["location"]
    faults({"kind": "session_gone", "code": 410, "count": 1})
    r1 = put(loc, b"", "bytes */*")
    r2 = put(loc, b"", "bytes */*")
    ok(r1.status == 410 and r2.status == 404, "fault session_gone: 410, "
       "then 404", (r1, r2))
    loc = start_session(job("lost_2")).headers["location"]
    faults({"kind": "lost_answer", "match": "^PUT ", "count": 1})
    r1 = put(loc, b"x" * CHUNK, "bytes 0-%d/*" % (CHUNK - 1))
    r2 = put(loc, b"", "bytes */*")
    ok(r1 is None and r2.status == 308 and r2.headers.get("range") ==
       "bytes=0-%d" % (CHUNK - 1), "fault lost_answer on a chunk: "
       "committed", (r1, r2))
    faults({"kind": "wrong_job_id", "job_id": "other_1", "count": 1})
    r1, r2 = get_job("mp_1"), get_job("mp_1")
    ok(r1.json()["jobReference"]["jobId"] == "other_1" and
       r2.json()["jobReference"]["jobId"] == "mp_1",
       "fault wrong_job_id: the answer names another job, once", (r1, r2))
    faults({"kind": "location", "url": "http://127.0.0.2:9/steal",
            "count": 1})
    r = start_session(job("loc_1"))
    ok(r.status == 200 and r.headers.get("location") ==
       "http://127.0.0.2:9/steal", "fault location: the session URI", r)
    faults({"kind": "status", "code": 307, "location": "http://x/y",
            "count": 1})
    r = get_job("mp_1")
    ok(r.status == 307 and r.headers.get("location") == "http://x/y",
       "fault status with a location: a redirect", r)
    faults({"kind": "trickle", "seconds": 0.1, "for": 0.5, "match": jget,
            "count": 1})
    t = time.time()
    r = get_job("mp_1")
    ok(r.status == 200 and r.json()["jobReference"]["jobId"] == "mp_1" and
       0.5 <= time.time() - t < 5, "fault trickle: slow, then the rest",
       time.time() - t)
    fired = ctl("GET", "state")["counters"]["faults_fired"]
    kinds = {"status", "reset", "partial308", "lost_answer", "expire_tokens",
             "token_ttl", "job_error", "slow", "session_gone",
             "wrong_job_id", "location", "trickle"}
    ok(kinds <= set(fired), "every fault kind fired", fired)
    got = ctl("GET", "faults")["faults"]
    ok(got[0]["fired"] == 1 and got[0]["seen"] >= 1, "GET /_fake/faults "
       "shows seen and fired", got)
    faults()
    r = req("POST", "/_fake/faults", b'{"faults":[{"kind":"nope"}]}',
            auth=False)
    ok(r.status == 400, "/_fake/faults: unknown kind -> 400", r)


def start_fake(tmp, state, polls):
    pf = os.path.join(tmp, "port")
    if os.path.exists(pf):
        os.unlink(pf)
    p = subprocess.Popen([sys.executable, os.path.join(HERE,
                                                       "fake_bigquery.py"),
                          "--listen", "127.0.0.1:0", "--port-file", pf,
                          "--public-key", C.pub, "--state", state,
                          "--polls-to-done", str(polls), "--quiet"])
    for _ in range(100):
        if os.path.exists(pf):
            with open(pf) as fp:
                return p, int(fp.read())
        time.sleep(0.1)
    p.kill()
    raise AssertionError("the second fake did not start")


def test_persistence():
    with tempfile.TemporaryDirectory() as tmp:
        state = os.path.join(tmp, "state.json")
        p, port = start_fake(tmp, state, 1)
        try:
            tok = jwt_token(port)
            saved, C.token = C.token, tok
            insert(job("ps_1"), ndjson([hit(1), hit(2)]), port=port)
            r = req("POST", UPLOAD + "?uploadType=resumable",
                    json.dumps(job("ps_2")).encode(),
                    {"Content-Type": "application/json"}, port=port)
            loc = urllib.parse.urlsplit(r.headers["location"])
            path = loc.path + "?" + loc.query
            data = ndjson([hit(10 + k) for k in range(2000)])
            req("PUT", path, data[:CHUNK], {"Content-Range": "bytes 0-%d/*" %
                                            (CHUNK - 1)}, port=port)
            p.kill()
            p.wait()
            p, port = start_fake(tmp, state, 1)
            j = get_job("ps_1", port=port)
            ok(j.status == 200 and j.json()["status"]["state"] == "DONE" and
               j.json()["statistics"]["load"]["outputRows"] == "2",
               "--state: job and token survive a restart", j)
            r = req("PUT", path, b"", {"Content-Range": "bytes */*"},
                    port=port)
            ok(r.status == 308 and r.headers.get("range") == "bytes=0-%d" %
               (CHUNK - 1), "--state: upload session survives", r)
            r = req("PUT", path, data[CHUNK:], {
                "Content-Range": "bytes %d-%d/%d" % (
                    CHUNK, len(data) - 1, len(data))}, port=port)
            j = poll("ps_2", port=port)
            ok(r.status == 200 and j["statistics"]["load"]["outputRows"] ==
               "2000", "--state: resumed upload loads", j)
        finally:
            C.token = saved
            p.kill()
            p.wait()


def test_reset():
    ctl("POST", "reset")
    st = ctl("GET", "state")
    ok(st["jobs"] == [] and st["tables"] == {} and st["sessions"] == [] and
       st["counters"]["inserts"] == 0, "/_fake/reset: everything cleared", st)
    ok(get_job("mp_1").status == 404, "/_fake/reset: jobs gone, token kept")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--public-key", required=True)
    args = ap.parse_args()
    C.base = args.base.rstrip("/")
    C.port = urllib.parse.urlsplit(C.base).port
    C.pub = args.public_key
    with open(args.key) as fp:
        C.key = json.load(fp)
    fd, C.keyfile = tempfile.mkstemp(prefix="selftest-", suffix=".pem")
    with os.fdopen(fd, "w") as fp:
        fp.write(C.key["private_key"])
    tests = [test_tokens, test_multipart, test_duplicate,
             test_invalid_config, test_bad_rows, test_schema_mismatch,
             test_schema_update,
             test_resumable, test_faults, test_persistence, test_reset]
    try:
        ctl("POST", "reset")
        for t in tests:
            try:
                t()
            except Exception:  # one broken check must not hide the others
                ok(False, t.__name__, traceback.format_exc().replace(
                    "\n", "\n# "))
                faults()
    finally:
        os.unlink(C.keyfile)
    print("1..%d" % C.n)
    if C.failed:
        print("# failed: %s" % ", ".join(C.failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
