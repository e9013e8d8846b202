#!/usr/bin/env python3
"""fake_bigquery.py: a fake of Google's OAuth2 token endpoint, the GCE metadata
token server and the part of the BigQuery v2 REST API that hookspool-upload
uses (load jobs by media upload, jobs.get, tables.get, tabledata.list), for
tests.  Python 3 standard library only, plus the openssl CLI to check RS256
JWT signatures.  Shapes follow Google's BigQuery v2 discovery document (Job,
JobConfigurationLoad, JobStatus, ErrorProto, JobStatistics, TableDataList);
int64 values are JSON strings, as Google sends them.  BigQuery's own rules
(request checks, row checks against a schema, cells) are in bqrules.py.

Usage:
  fake_bigquery.py --listen 127.0.0.1:0 --port-file FILE --public-key PUB.pem
      [--polls-to-done N] [--token-lifetime SECS] [--faults JSON|@FILE]
      [--seed N] [--state FILE] [--quiet] [--page-rows N]
The bound port is written to --port-file (atomically) once listening.  With
--state, jobs, tables, upload sessions, issued tokens and counters are saved
to FILE (tmp + rename) after every change and reloaded at start: a test may
kill the fake and start it again on the same state.  One log line a request
goes to stderr unless --quiet.  --page-rows N: tabledata.list pages hold at
most N rows whatever maxResults asks (Google cuts pages by size too).

Endpoints
  POST /token   OAuth2 token endpoint, form-encoded.
      grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT:
        header alg RS256; claims iss, scope (with .../auth/bigquery or
        .../auth/cloud-platform), aud == "http://" + Host header + "/token",
        iat and exp (exp > now, exp - iat <= 3600, iat not in the future);
        signature checked with `openssl dgst -sha256 -verify --public-key`.
      grant_type=refresh_token with non-empty client_id, client_secret and
        refresh_token (authorized_user credentials).
      -> 200 {"access_token","expires_in","token_type":"Bearer"}, or 400
         {"error":"invalid_grant"|"invalid_scope"|...,"error_description"}.
  GET /computeMetadata/v1/instance/service-accounts/default/token
      the metadata server: needs "Metadata-Flavor: Google", else 403.
  GET /computeMetadata/v1/project/project-id  -> "test-project".
  POST /v1/token, POST /v1/projects/-/serviceAccounts/E:generateAccessToken,
  GET /_sts/subject, /_fake/sts: Google's STS and IAM Credentials, in
      fakests.py (Workload Identity Federation, impersonation).

  Every /bigquery/... and /upload/... request needs "Authorization: Bearer T"
  with T issued here and not expired, else 401 {"error":{"code":401,
  "errors":[{"reason":"authError"}],"status":"UNAUTHENTICATED"}}.  Stricter
  than Google: resumable session PUTs need the header too.

  POST /upload/bigquery/v2/projects/P/jobs?uploadType=multipart
      multipart/related; part 1 the Job (application/json), part 2 the data.
      -> 200 Job (state PENDING), 400 invalid, 409 duplicate.
  POST /upload/bigquery/v2/projects/P/jobs?uploadType=resumable (or the
      discovery document's /resumable/upload/bigquery/v2/projects/P/jobs)
      body the Job; X-Upload-Content-Length optional.  -> 200 with "Location:
      http://HOST/upload/bigquery/v2/projects/P/jobs?uploadType=resumable
      &upload_id=ID", or 400 / 409 (an existing job ID) at once.
  PUT <Location>  Content-Range "bytes A-B/TOTAL" or "bytes A-B/*": a chunk.
      A must be the committed size and a non-final chunk a multiple of
      256 KiB, else 400.  "bytes */TOTAL" or "bytes */*" with an empty body:
      a status query (TOTAL == committed size finishes the upload).  No
      Content-Range: the whole upload in one request.  -> 308 with "Range:
      bytes=0-N" (no Range while nothing is committed) until complete, then
      200 Job (again on later PUTs); unknown upload_id -> 404.  The job is
      created by the final chunk, which gets the 409 if the ID got taken.
  GET /bigquery/v2/projects/P/jobs/J?location=L  jobs.get.  A job is PENDING
      when inserted, each jobs.get advances it: RUNNING, then DONE on the
      --polls-to-done'th call (default 2; 0: DONE at insert).  Unknown job or
      another location -> 404 "Not found: Job P:L.J"; without ?location= only
      US and EU jobs are found, as with Google.
  GET /bigquery/v2/projects/P/datasets/D/tables/T        tables.get
  GET /bigquery/v2/projects/P/datasets/D/tables/T/data   tabledata.list
      (maxResults, pageToken, startIndex, selectedFields (cells in the
      table's order), formatOptions.useInt64Timestamp).  tables.get has the
      schema, timePartitioning (with expirationMs, requirePartitionFilter),
      requirePartitionFilter, clustering and description.
      Cells as Google gives them: INTEGER, FLOAT, DATE, BOOLEAN ("true") as
      strings, JSON as its text, TIMESTAMP as seconds like "1.603131452E9".
  Datasets are not modelled: any dataset exists.

The load, atomic when the job turns DONE: sourceFormat must be
NEWLINE_DELIMITED_JSON; every line is parsed and checked against the schema
(the job's, else the table's): STRING (strings only: stricter than Google),
INTEGER (int64, or a decimal string), FLOAT, NUMERIC, BOOLEAN (true/false or
"true"/"false"), DATE YYYY-MM-DD, TIMESTAMP (text or epoch seconds), DATETIME,
TIME, BYTES (base64), JSON (any value); modes NULLABLE, REQUIRED, REPEATED; an
unknown field is an error unless ignoreUnknownValues; blank lines are skipped.
More bad rows than maxBadRecords (default 0) -> DONE with errorResult
{"reason":"invalid","message":"Error while reading data, error message: JSON
table encountered too many errors, giving up. Rows: R; errors: E. Please look
into the errors[] collection for more details."} and errors[] entries naming
the byte position, the field and the line ("location"); nothing is written.
CREATE_IF_NEEDED makes the table with the job's schema, timePartitioning
(expirationMs, requirePartitionFilter kept), clustering (at most 4 fields of
the schema, simple types) and destinationTableProperties.description;
CREATE_NEVER on a missing table -> errorResult notFound.  A schema differing
from an existing table's -> errorResult invalid "Provided Schema does not
match Table P:D.T. Field X has changed type from INTEGER to STRING", or
"Cannot add fields (field: X)", "Field X is missing in new schema"; what
schemaUpdateOptions (WRITE_APPEND only) allow is in bqrules.schema_diff: with
ALLOW_FIELD_ADDITION new NULLABLE fields are added, and with any option a
NULLABLE field the load leaves out stays in the table, NULL in the new rows.
Other timePartitioning (type, field), or clustering named and different ->
invalid "Incompatible table partitioning specification"; a description named
and different -> invalid.  WRITE_APPEND appends,
WRITE_TRUNCATE replaces, WRITE_EMPTY on a non-empty table -> duplicate.
Success: statistics.load {inputFiles, inputFileBytes, outputRows, outputBytes,
badRecords} and creationTime/startTime/endTime (ms), all strings.

Test control (no auth, no faults):
  GET  /_fake/state     jobs (id, state, attempts, rows, error), tables (rows),
                        sessions, counters (jwt_verified, jwt_rejected,
                        tokens_issued, inserts, duplicates_409, unauthorized,
                        requests by kind, faults_fired by kind)
  GET  /_fake/faults    the fault list, each with "seen" and "fired"
  POST /_fake/faults    {"faults":[F, ...]} replaces the list (also --faults)
  GET  /_fake/rows?table=P.D.T   the rows, one JSON object a line (values as
                        loaded: INTEGER as numbers, JSON as values)
  POST /_fake/tables    {"table":"P.D.T","schema":{"fields":[...]},
                        "timePartitioning":{...}, "clustering":{...},
                        "description":"..."} makes an empty table
  POST /_fake/rows      {"table":"P.D.T","delete":{F: V}} removes the rows
                        whose field F is V, {"duplicate":{F: V}} appends a
                        copy of each; -> {"rows": how many matched}
  POST /_fake/reset     forget jobs, tables, sessions, counters and faults,
                        undo token_ttl (issued tokens stay valid: see
                        expire_tokens)

Faults.  F = {"kind": K, "match": REGEX, "count": N, "every": E,
"probability": P, ...}.  "match" is re.search()ed on "METHOD PATH?QUERY" ("?"
only with a query), e.g. "^PUT /upload/" (default: every request); "count"
caps how often it fires (default: no cap); "every": fire on the E-th, 2E-th,
... request it sees; "probability": fire with that chance (random.Random(
--seed)).  A fault sees only the requests where its kind applies, and never
/_fake/ ones.  Kinds:
  status        answer Google's error JSON with "code" (500, 502, 503, 429,
                ...) and do nothing; reason "reason" or from the code (500,
                502, 503: backendError, 429: rateLimitExceeded, 403:
                accessDenied, 400: invalid, 404: notFound); "retry_after": S
                adds that header; "html": true sends a GFE-style HTML page.
  reset         drop the connection (RST) without answering, "when": "before"
                (default) reading the body or "after" it; nothing is done.
  lost_answer   do the request fully (job inserted, chunk committed, token
                issued, job polled) then drop the connection unanswered.
  slow          sleep "seconds" before handling ("after": true: after it).
  expire_tokens invalidate every issued token; this happens before the auth
                check, so the matching request itself gets 401.
  token_ttl     tokens issued from now on live "seconds" (and say so).
  partial308    on a resumable data chunk: commit only the largest multiple
                of 256 KiB smaller than the chunk, answer 308 with that Range.
  session_gone  on a resumable PUT: forget the session, answer "code" 404
                (default) or 410; later PUTs on it get 404 (unknown).
  job_error     on a job creation (the multipart POST, the final resumable
                PUT): the job ends DONE with errorResult {"reason": R (default
                backendError: also internalError, quotaExceeded,
                rateLimitExceeded, invalid, ...), "message": M} and loads
                nothing.
  wrong_job_id  on an answer holding a Job resource: its jobReference.jobId
                becomes "job_id" (default "forged_job"); nothing else changes.
  location      on a resumable initiation: the session URI (Location) is
                "url" instead, e.g. "http://127.0.0.2:PORT/steal".
  trickle       send the answer's body one byte every "seconds" (default
                0.5), for at most "for" seconds (default 60), then the rest.
A status fault may also carry "location": U, sent as a Location header
(with "code": 302 or 307, a redirect that must not be followed).
"""

import argparse
import base64
import http.server
import json
import os
import random
import re
import secrets
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bqrules import (REASON, ApiError, check_clustering,  # noqa
                     check_job, check_partitioning,
                     check_schema, invalid, loads, parse_multipart,
                     parse_ndjson, part_spec, row_bytes, row_cells,
                     schema_diff)
import fakests  # noqa: E402  (the STS and IAM Credentials fakes)

CHUNK = 256 * 1024
MAX_BODY = 512 * 1024 * 1024
PROJECT = "test-project"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPES = ("https://www.googleapis.com/auth/bigquery",
          "https://www.googleapis.com/auth/cloud-platform")
METADATA_TOKEN = "/computeMetadata/v1/instance/service-accounts/default/token"
CR_CHUNK = re.compile(r"bytes ([0-9]+)-([0-9]+)/([0-9]+|\*)\Z")
CR_QUERY = re.compile(r"bytes \*/([0-9]+|\*)\Z")

JOB_ERRORS = {
    "backendError": "Error encountered during execution. Retrying may solve "
                    "the problem.",
    "internalError": "An internal error occurred and the request could not "
                     "be completed.",
    "quotaExceeded": "Quota exceeded: Your table exceeded quota for imports "
                     "or query appends per table. For more information, see "
                     "https://cloud.google.com/bigquery/docs/troubleshoot-"
                     "quotas",
    "rateLimitExceeded": "Exceeded rate limits: too many table update "
                         "operations for this table. For more information, "
                         "see https://cloud.google.com/bigquery/docs/"
                         "troubleshoot-quotas",
    "invalid": "Error while reading data, error message: Failed to parse "
               "JSON: Unexpected end of string",
}
AUTH_MISSING = ("Request is missing required authentication credential. "
                "Expected OAuth 2 access token, login cookie or other valid "
                "authentication credential. See https://developers.google."
                "com/identity/sign-in/web/devconsole-project.")
AUTH_INVALID = ("Request had invalid authentication credentials. Expected "
                "OAuth 2 access token, login cookie or other valid "
                "authentication credential. See https://developers.google."
                "com/identity/sign-in/web/devconsole-project.")
WWW_AUTH = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
JWT_TIME = ("Invalid JWT: Token must be a short-lived token (60 minutes) and "
            "in a reasonable timeframe. Check your iat and exp values in the "
            "JWT claim.")
GFE_HTML = ("<!DOCTYPE html>\n<html lang=en><meta charset=utf-8><title>Error "
            "%d (Server Error)!!1</title><p><b>%d.</b> <ins>That's an error."
            "</ins><p>The server encountered a temporary error and could not "
            "complete your request.<p>Please try again in 30 seconds.  <ins>"
            "That's all we know.</ins>\n")
FAULT_KINDS = {"status", "reset", "lost_answer", "slow", "expire_tokens",
               "token_ttl", "partial308", "session_gone", "job_error",
               "wrong_job_id", "location", "trickle"}


class OAuthError(Exception):
    """A token endpoint error: {"error", "error_description"}."""

    def __init__(self, error, description, code=400):
        super().__init__(description)
        self.code, self.error, self.description = code, error, description


def now_ms():
    return int(time.time() * 1000)


def b64url(s):
    if not re.fullmatch(r"[A-Za-z0-9_-]*", s):
        raise ValueError("bad base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


# --- faults ----------------------------------------------------------------

def check_faults(lst):
    if isinstance(lst, dict):
        lst = lst.get("faults")
    if not isinstance(lst, list):
        raise ValueError('faults: want {"faults": [...]}')
    out = []
    for f in lst:
        if not isinstance(f, dict) or f.get("kind") not in FAULT_KINDS:
            raise ValueError("fault %r: kind must be one of %s" %
                             (f, ", ".join(sorted(FAULT_KINDS))))
        f = dict(f, seen=0, fired=0)
        re.compile(f.get("match") or "")
        for k, lo in (("count", 0), ("every", 1)):
            if f.get(k) is not None and (not isinstance(f[k], int)
                                         or f[k] < lo):
                raise ValueError("fault %s: bad %s" % (f["kind"], k))
        p = f.get("probability")
        if p is not None and not (isinstance(p, (int, float)) and 0 <= p <= 1):
            raise ValueError("fault %s: bad probability" % f["kind"])
        if f["kind"] == "status" and not (isinstance(f.get("code"), int)
                                          and 100 <= f["code"] <= 599):
            raise ValueError("fault status: needs an HTTP code")
        if f["kind"] in ("slow", "token_ttl") and not isinstance(
                f.get("seconds"), (int, float)):
            raise ValueError("fault %s: needs seconds" % f["kind"])
        if f["kind"] == "session_gone" and f.setdefault("code", 404) not in (
                404, 410):
            raise ValueError("fault session_gone: code is 404 or 410")
        if f["kind"] == "location" and not isinstance(f.get("url"), str):
            raise ValueError("fault location: needs a url")
        if f["kind"] == "trickle" and not all(
                isinstance(f.setdefault(k, d), (int, float)) and f[k] >= 0
                for k, d in (("seconds", 0.5), ("for", 60))):
            raise ValueError("fault trickle: bad seconds or for")
        if f["kind"] == "reset" and f.setdefault("when", "before") not in (
                "before", "after"):
            raise ValueError("fault reset: when is before or after")
        out.append(f)
    return out


# --- the state -------------------------------------------------------------

class App:
    """All state, behind one lock; the handler calls in with the lock held."""

    def __init__(self, args):
        self.lock = threading.RLock()
        self.pubkey = args.public_key
        self.polls_to_done = args.polls_to_done
        self.token_ttl = self.default_ttl = args.token_lifetime
        self.state_file = args.state
        self.quiet = args.quiet
        self.page_rows = args.page_rows
        self.rng = random.Random(args.seed)
        self.faults = []
        self.tokens = {}
        self.clear()
        if self.state_file and os.path.exists(self.state_file):
            self.restore()

    def clear(self):
        self.jobs, self.tables, self.sessions = {}, {}, {}
        self.counters = {"jwt_verified": 0, "jwt_rejected": 0,
                         "tokens_issued": 0, "inserts": 0,
                         "duplicates_409": 0, "unauthorized": 0,
                         "requests": {}, "faults_fired": {}}

    def count(self, name, group=None):
        d = self.counters[group] if group else self.counters
        d[name] = d.get(name, 0) + 1

    def save(self):
        if not self.state_file:
            return
        enc = base64.b64encode
        jobs = {k: dict(j, data=enc(j["data"]).decode() if j.get("data")
                        is not None else None) for k, j in self.jobs.items()}
        sess = {k: dict(s, data=enc(s["data"]).decode())
                for k, s in self.sessions.items()}
        doc = {"jobs": jobs, "tables": self.tables, "sessions": sess,
               "tokens": self.tokens, "counters": self.counters,
               "token_ttl": self.token_ttl}
        tmp = self.state_file + ".tmp"
        with open(tmp, "w") as fp:
            json.dump(doc, fp)
        os.replace(tmp, self.state_file)

    def restore(self):
        with open(self.state_file) as fp:
            doc = json.load(fp)
        dec = base64.b64decode
        self.jobs = {k: dict(j, data=dec(j["data"]) if j.get("data")
                             is not None else None)
                     for k, j in doc["jobs"].items()}
        self.sessions = {k: dict(s, data=bytearray(dec(s["data"])))
                         for k, s in doc["sessions"].items()}
        self.tables, self.tokens = doc["tables"], doc["tokens"]
        self.counters, self.token_ttl = doc["counters"], doc["token_ttl"]

    def take(self, kind, line):
        """The first fault of this kind that fires on this request, or None."""
        with self.lock:
            for f in self.faults:
                if f["kind"] != kind or not re.search(f.get("match") or "",
                                                      line):
                    continue
                f["seen"] += 1
                if f.get("every") and f["seen"] % f["every"]:
                    continue
                if f.get("count") is not None and f["fired"] >= f["count"]:
                    continue
                if f.get("probability") is not None and (
                        self.rng.random() >= f["probability"]):
                    continue
                f["fired"] += 1
                self.count(kind, "faults_fired")
                return f
        return None

    # --- auth

    def issue(self, who):
        tok = "ya29.fake-" + secrets.token_urlsafe(32)
        t = time.time()
        self.tokens = {k: v for k, v in self.tokens.items() if v[0] > t}
        self.tokens[tok] = [t + self.token_ttl, who]
        self.count("tokens_issued")
        self.save()
        return 200, [], {"access_token": tok, "expires_in": int(
            self.token_ttl), "token_type": "Bearer"}

    def authorize(self, h):
        auth = h.headers.get("Authorization", "")
        m = re.match(r"Bearer\s+(\S+)\s*\Z", auth, re.I)
        tok = self.tokens.get(m.group(1)) if m else None
        if tok is None or tok[0] <= time.time():
            self.count("unauthorized")
            raise ApiError(401, AUTH_INVALID if auth else AUTH_MISSING,
                           "authError", headers=[("WWW-Authenticate",
                                                  WWW_AUTH)],
                           extra={"location": "Authorization",
                                  "locationType": "header"})
        return tok[1]

    def token(self, h):
        try:
            form = dict(urllib.parse.parse_qsl(h.body.decode("utf-8"),
                                               keep_blank_values=True))
        except UnicodeDecodeError:
            raise OAuthError("invalid_request", "Body is not UTF-8") from None
        grant = form.get("grant_type", "")
        if grant == "refresh_token":
            self.count("token_refresh", "requests")
            for k in ("client_id", "client_secret", "refresh_token"):
                if not form.get(k):
                    raise OAuthError("invalid_request", "Missing required "
                                     "parameter: %s" % k)
            return self.issue(form["client_id"])
        if grant != JWT_GRANT:
            raise OAuthError("unsupported_grant_type",
                             "Invalid grant_type: %s" % grant)
        self.count("token_jwt", "requests")
        try:
            who = self.check_jwt(form.get("assertion", ""), h)
        except OAuthError:
            self.count("jwt_rejected")
            raise
        self.count("jwt_verified")
        return self.issue(who)

    def check_jwt(self, jwt, h):
        parts = jwt.split(".")
        if len(parts) != 3:
            raise OAuthError("invalid_grant", "Invalid JWT: not a compact JWS")
        try:
            head, claims = (loads(b64url(p).decode()) for p in parts[:2])
            sig = b64url(parts[2])
        except ValueError:
            raise OAuthError("invalid_grant", "Invalid JWT: cannot decode "
                             "the header, claims or signature") from None
        if not isinstance(head, dict) or not isinstance(claims, dict):
            raise OAuthError("invalid_grant", "Invalid JWT: not objects")
        if head.get("alg") != "RS256" or head.get("typ", "JWT") != "JWT":
            raise OAuthError("invalid_grant", "Invalid JWT: alg must be "
                             "RS256 and typ JWT")
        with tempfile.TemporaryDirectory(prefix="fake-bq-") as d:
            data, sigf = os.path.join(d, "data"), os.path.join(d, "sig")
            with open(data, "w") as fp:
                fp.write(parts[0] + "." + parts[1])
            with open(sigf, "wb") as fp:
                fp.write(sig)
            r = subprocess.run(["openssl", "dgst", "-sha256", "-verify",
                                self.pubkey, "-signature", sigf, data],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            raise OAuthError("invalid_grant", "Invalid JWT Signature.")
        iss = claims.get("iss")
        if not isinstance(iss, str) or not iss:
            raise OAuthError("invalid_grant", "Invalid JWT: iss is missing")
        scope = claims.get("scope")
        if not isinstance(scope, str) or not set(scope.split()) & set(SCOPES):
            raise OAuthError("invalid_scope", "Invalid OAuth scope or ID "
                             "token audience provided.")
        aud = "http://%s/token" % h.headers.get("Host", "")
        if claims.get("aud") != aud:
            raise OAuthError("invalid_grant", "Invalid JWT: Failed audience "
                             "check. The right audience is %s" % aud)
        iat, exp, t = claims.get("iat"), claims.get("exp"), time.time()
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                   for x in (iat, exp)) or not (
                exp > t and iat <= t + 60 and 0 < exp - iat <= 3600):
            raise OAuthError("invalid_grant", JWT_TIME)
        return iss

    def metadata(self, h):
        if h.headers.get("Metadata-Flavor") != "Google" or (
                "X-Forwarded-For" in h.headers):
            raise ApiError(403, "Missing Metadata-Flavor: Google header",
                           "accessDenied")
        self.count("metadata_token", "requests")
        code, hdrs, body = self.issue(
            "default@%s.iam.gserviceaccount.com" % PROJECT)
        return code, [("Metadata-Flavor", "Google")], body

    # --- jobs

    def job_resource(self, job, h):
        p, jid, loc = job["project"], job["job_id"], job["location"]
        st = {"creationTime": str(job["created"])}
        status = {"state": job["state"]}
        if job["state"] != "PENDING":
            st["startTime"] = str(job["started"])
        if job["state"] == "DONE":
            st["endTime"] = str(job["ended"])
            if job.get("error"):
                status["errorResult"] = job["error"]
                status["errors"] = job["errors"]
            else:
                st["load"] = job["stats"]
        return {
            "kind": "bigquery#job",
            "etag": base64.b64encode(("%s/%s/%s" % (jid, job["state"], job[
                "polls"])).encode()).decode()[:24],
            "id": "%s:%s.%s" % (p, loc, jid),
            "selfLink": "http://%s/bigquery/v2/projects/%s/jobs/%s?location="
                        "%s" % (h.headers.get("Host", ""), p, jid, loc),
            "user_email": job["email"],
            "principal_subject": "serviceAccount:" + job["email"],
            "jobReference": {"projectId": p, "jobId": jid, "location": loc},
            "configuration": {"load": job["config"], "jobType": "LOAD"},
            "statistics": st,
            "status": status,
        }

    def create_job(self, project, raw, data, h, who):
        spec = check_job(raw, project)
        key = "%s/%s" % (project, spec["job_id"])
        old = self.jobs.get(key)
        if old is not None:
            old["attempts"] += 1
            self.count("duplicates_409")
            self.save()
            raise ApiError(409, "Already Exists: Job %s:%s.%s" % (
                project, old["location"], spec["job_id"]), "duplicate")
        job = dict(spec, project=project, state="PENDING", polls=0,
                   created=now_ms(), started=None, ended=None, data=data,
                   size=len(data), attempts=1, email=who, inject=None,
                   error=None, errors=None, stats=None)
        f = self.take("job_error", h.line)
        if f:
            job["inject"] = {"reason": f.get("reason", "backendError"),
                             "message": f.get("message")}
        self.jobs[key] = job
        self.count("inserts")
        if self.polls_to_done <= 0:
            self.advance(job)
        self.save()
        return 200, [], self.job_resource(job, h)

    def advance(self, job):
        if job["state"] == "DONE":
            return
        job["polls"] += 1
        job["started"] = job["started"] or now_ms()
        job["state"] = "RUNNING"
        if job["polls"] >= self.polls_to_done:
            job["state"], job["ended"] = "DONE", now_ms()
            data, job["data"] = job["data"], None
            inj = job["inject"]
            if inj:
                err = {"reason": inj["reason"], "message": inj["message"] or
                       JOB_ERRORS.get(inj["reason"], "Job failed.")}
                job["error"], job["errors"] = err, [err]
            else:
                self.load(job, data)

    def fail(self, job, reason, message, more=()):
        err = {"reason": reason, "message": message}
        job["error"], job["errors"] = err, [err] + list(more)

    def load(self, job, data):
        """Run the load job: all or nothing, like BigQuery."""
        p, d, t = job["dest"]
        key, label = "%s.%s.%s" % (p, d, t), "%s:%s.%s" % (p, d, t)
        tab, fields = self.tables.get(key), job["fields"]
        if tab is None and job["create"] == "CREATE_NEVER":
            return self.fail(job, "notFound", "Not found: Table %s" % label)
        if tab is not None and job["write"] == "WRITE_EMPTY" and tab["rows"]:
            return self.fail(job, "duplicate", "Already Exists: Table %s" %
                             label)
        if tab is not None and fields is None:
            fields = tab["schema"]
        merged = fields
        if tab is not None and job["write"] != "WRITE_TRUNCATE":
            why, merged = schema_diff(tab["schema"], fields, job["updates"])
            if why:
                return self.fail(job, "invalid", "Provided Schema does not "
                                 "match Table %s. %s" % (label, why))
            # Clustering is checked with the partitioning, and only when the
            # job names it, as Google does; expiration is not compared.
            jcl = job["clustering"]
            tcl = tab.get("clustering") if jcl is not None else None
            if (job["tp"] is not None and part_spec(job["tp"]) != part_spec(
                    tab["tp"])) or [c.lower() for c in jcl or []] != [
                        c.lower() for c in tcl or []]:
                return self.fail(job, "invalid", "Incompatible table "
                                 "partitioning specification. Expects "
                                 "partitioning specification %s, but input "
                                 "partitioning specification is %s" % (
                                     part_spec(tab["tp"], tcl),
                                     part_spec(job["tp"] or tab["tp"],
                                               jcl)))
            if job["description"] is not None and job["description"] != \
                    tab.get("description", ""):
                return self.fail(job, "invalid", "The description of the "
                                 "existing table %s differs from the one in "
                                 "destinationTableProperties; it is used only "
                                 "when the load creates the table" % label)
        if fields is None:
            return self.fail(job, "invalid", "No schema specified on job or "
                             "table.")
        rows, errs, failure = parse_ndjson(fields, data, job["ignore_unknown"],
                                           job["max_bad"])
        if failure:
            job["error"], job["errors"] = failure, [failure] + errs
            return
        out = sum(row_bytes(fields, r) for r in rows)
        if tab is None or job["write"] == "WRITE_TRUNCATE":
            tab = self.tables[key] = {
                "schema": fields, "tp": job["tp"], "rows": [], "bytes": 0,
                "created": now_ms(), "location": job["location"],
                "clustering": job["clustering"],
                "description": job["description"]}
        else:
            tab["schema"] = merged
        tab["rows"].extend(rows)
        tab["bytes"] += out
        tab["modified"] = now_ms()
        job["stats"] = {"inputFiles": "1", "inputFileBytes": str(len(data)),
                        "outputRows": str(len(rows)), "outputBytes": str(out),
                        "badRecords": str(len(errs))}

    def jobs_get(self, h, project, jid):
        self.count("jobs_get", "requests")
        loc = h.query.get("location")
        job = self.jobs.get("%s/%s" % (project, jid))
        if job is None or (job["location"].upper() != loc.upper() if loc
                           else job["location"].upper() not in ("US", "EU")):
            raise ApiError(404, "Not found: Job %s:%s.%s" % (
                project, loc or "US", jid), "notFound")
        self.advance(job)
        self.save()
        return 200, [], self.job_resource(job, h)

    # --- uploads

    def upload_start(self, h, project, who):
        self.count("resumable_start", "requests")
        try:
            raw = loads(h.body.decode("utf-8"))
        except ValueError as e:
            raise invalid("Invalid JSON payload received. %s" % e) from None
        spec = check_job(raw, project)
        old = self.jobs.get("%s/%s" % (project, spec["job_id"]))
        if old is not None:
            old["attempts"] += 1
            self.count("duplicates_409")
            self.save()
            raise ApiError(409, "Already Exists: Job %s:%s.%s" % (
                project, old["location"], spec["job_id"]), "duplicate")
        total = h.headers.get("X-Upload-Content-Length")
        if total is not None and not re.fullmatch(r"[0-9]{1,15}", total):
            raise invalid("Invalid X-Upload-Content-Length: %s" % total)
        raw.setdefault("jobReference", {})["jobId"] = spec["job_id"]
        uid = "ADPyc" + secrets.token_urlsafe(40)
        self.sessions[uid] = {"project": project, "job": raw, "who": who,
                              "data": bytearray(), "created": now_ms(),
                              "total": int(total) if total else None,
                              "result": None}
        self.save()
        url = "http://%s/upload/bigquery/v2/projects/%s/jobs?uploadType=" \
              "resumable&upload_id=%s" % (h.headers.get("Host", ""),
                                          urllib.parse.quote(project), uid)
        f = self.take("location", h.line)
        if f:
            url = f["url"]
        return 200, [("Location", url), ("X-GUploader-UploadID", uid)], b""

    def upload_put(self, h, project, uid):
        s = self.sessions.get(uid)
        if s is None or s["project"] != project:
            raise ApiError(404, "No upload session with this upload_id: it "
                           "is unknown or expired.", "notFound")
        f = self.take("session_gone", h.line)
        if f:
            del self.sessions[uid]
            self.save()
            raise ApiError(f["code"], "The upload session is gone.",
                           "notFound")
        if s["result"] is not None:
            return self.upload_result(s, h)
        body, cr = h.body, h.headers.get("Content-Range")
        have = len(s["data"])
        if cr is None:
            self.count("resumable_chunk", "requests")
            if have:
                raise invalid("Content-Range is required to resume an upload")
            start, end, total = 0, len(body) - 1, len(body)
        else:
            cr = cr.strip()
            m = CR_QUERY.match(cr)
            if m:
                self.count("resumable_query", "requests")
                if body:
                    raise invalid("A status query (bytes */N) has no body")
                if m.group(1) != "*":
                    self.set_total(s, int(m.group(1)))
                    if s["total"] == have:
                        return self.upload_done(s, h)
                return self.range308(s)
            self.count("resumable_chunk", "requests")
            m = CR_CHUNK.match(cr)
            if m is None:
                raise invalid("Invalid Content-Range header: %s" % cr)
            start, end = int(m.group(1)), int(m.group(2))
            total = None if m.group(3) == "*" else int(m.group(3))
            if end < start or len(body) != end - start + 1:
                raise invalid("Content-Range %s does not match the %d bytes "
                              "of the body" % (cr, len(body)))
        if start != have:
            raise invalid("Invalid request. According to the Content-Range "
                          "header, the upload offset is %d byte(s), which "
                          "does not match the already uploaded size of %d "
                          "byte(s)." % (start, have))
        if total is not None:
            self.set_total(s, total)
        if s["total"] is not None and end + 1 > s["total"]:
            raise invalid("Content-Range %s goes past the total size %d" %
                          (cr, s["total"]))
        final = s["total"] is not None and end + 1 == s["total"]
        if not final and len(body) % CHUNK:
            raise invalid("Invalid request. The number of bytes uploaded is "
                          "required to be equal or greater than 262144, "
                          "except for the final request (it's recommended to "
                          "be the exact multiple of 262144). The received "
                          "request contained %d bytes, which does not meet "
                          "this requirement." % len(body))
        if body and self.take("partial308", h.line):
            s["data"] += body[:(len(body) - 1) // CHUNK * CHUNK]
            self.save()
            return self.range308(s)
        s["data"] += body
        if final:
            return self.upload_done(s, h)
        self.save()
        return self.range308(s)

    def set_total(self, s, total):
        if s["total"] is not None and s["total"] != total:
            raise invalid("The upload size %d does not match the size %d "
                          "given before" % (total, s["total"]))
        if total < len(s["data"]):
            raise invalid("The upload size %d is less than the %d bytes "
                          "already uploaded" % (total, len(s["data"])))
        s["total"] = total

    def range308(self, s):
        n = len(s["data"])
        return 308, [("Range", "bytes=0-%d" % (n - 1))] if n else [], b""

    def upload_done(self, s, h):
        data, s["data"] = bytes(s["data"]), bytearray()
        try:
            self.create_job(s["project"], s["job"], data, h, s["who"])
            s["result"] = {"job": "%s/%s" % (s["project"], s["job"][
                "jobReference"]["jobId"])}
        except ApiError as e:
            s["result"] = {"code": e.code, "message": e.message,
                           "reason": e.reason}
        self.save()
        return self.upload_result(s, h)

    def upload_result(self, s, h):
        r = s["result"]
        if "job" not in r:
            raise ApiError(r["code"], r["message"], r["reason"])
        return 200, [], self.job_resource(self.jobs[r["job"]], h)

    def multipart(self, h, project, who):
        self.count("insert_multipart", "requests")
        meta, data = parse_multipart(h.headers.get("Content-Type"), h.body)
        return self.create_job(project, meta, data, h, who)

    # --- tables

    def edit_rows(self, h):
        """The admin's hand on a table: delete or duplicate the rows whose
        field equals a value (what a DML DELETE, or a second load, does)."""
        try:
            doc = json.loads(h.body)
            p, d, t = doc["table"].replace(":", ".").split(".")
            ops = [(k, doc[k]) for k in ("delete", "duplicate") if k in doc]
            (op, where), = ops
            (field, value), = where.items()
        except (ValueError, KeyError, TypeError, AttributeError):
            raise invalid("fake-bigquery: want {\"table\":\"P.D.T\", "
                          "\"delete\"|\"duplicate\": {FIELD: VALUE}}") \
                from None
        tab = self.table(p, d, t)
        hit = [r for r in tab["rows"] if r.get(field) == value]
        if op == "delete":
            tab["rows"] = [r for r in tab["rows"] if r.get(field) != value]
        else:
            tab["rows"].extend(dict(r) for r in hit)
        self.save()
        return 200, [], {"rows": len(hit)}

    def table(self, p, d, t):
        tab = self.tables.get("%s.%s.%s" % (p, d, t))
        if tab is None:
            raise ApiError(404, "Not found: Table %s:%s.%s" % (p, d, t),
                           "notFound")
        return tab

    def tables_get(self, h, p, d, t):
        self.count("tables_get", "requests")
        tab = self.table(p, d, t)
        res = {"kind": "bigquery#table", "etag": str(len(tab["rows"])),
               "id": "%s:%s.%s" % (p, d, t),
               "selfLink": "http://%s/bigquery/v2/projects/%s/datasets/%s/"
                           "tables/%s" % (h.headers.get("Host", ""), p, d, t),
               "tableReference": {"projectId": p, "datasetId": d,
                                  "tableId": t},
               "schema": {"fields": tab["schema"]},
               "numRows": str(len(tab["rows"])), "numBytes": str(tab["bytes"]),
               "creationTime": str(tab["created"]),
               "lastModifiedTime": str(tab.get("modified", tab["created"])),
               "type": "TABLE", "location": tab["location"]}
        if tab["tp"]:
            res["timePartitioning"] = tab["tp"]
            res["requirePartitionFilter"] = tab["tp"].get(
                "requirePartitionFilter", False)
        if tab.get("clustering"):
            res["clustering"] = {"fields": tab["clustering"]}
        if tab.get("description") is not None:
            res["description"] = tab["description"]
        return 200, [], res

    def tabledata(self, h, p, d, t):
        self.count("tabledata_list", "requests")
        tab, q = self.table(p, d, t), h.query
        try:
            limit = int(q.get("maxResults", "100000"))
            off = int(q.get("startIndex", "0"))
            if "pageToken" in q:
                tok = base64.urlsafe_b64decode(q["pageToken"]).decode()
                off = int(tok.partition("offset:")[2])
            if limit < 0 or off < 0:
                raise ValueError
        except ValueError:
            raise invalid("Invalid maxResults, startIndex or pageToken") \
                from None
        int64ts = q.get("formatOptions.useInt64Timestamp") == "true"
        fields = tab["schema"]
        if q.get("selectedFields"):
            # The chosen fields, in the table's order, as Google gives them.
            want = {x.strip().lower() for x in q["selectedFields"].split(",")}
            fields = [f for f in fields if f["name"].lower() in want]
            if len(fields) != len(want):
                raise invalid("Invalid selectedFields: %s" %
                              q["selectedFields"])
        if self.page_rows:
            limit = min(limit or self.page_rows, self.page_rows)
        rows = tab["rows"][off:off + (limit or 100000)]
        res = {"kind": "bigquery#tableDataList", "etag": str(len(tab["rows"])),
               "totalRows": str(len(tab["rows"]))}
        if off + len(rows) < len(tab["rows"]):
            res["pageToken"] = base64.urlsafe_b64encode(
                ("offset:%d" % (off + len(rows))).encode()).decode()
        if rows:
            res["rows"] = [row_cells(fields, r, int64ts) for r in rows]
        return 200, [], res

    # --- routing

    def route(self, h):
        m, path = h.command, h.route_path
        if path == "/token" and m == "POST":
            return self.token(h)
        if path == METADATA_TOKEN and m == "GET":
            return self.metadata(h)
        if path == "/computeMetadata/v1/project/project-id" and m == "GET":
            return 200, [("Metadata-Flavor", "Google")], PROJECT.encode()
        r = fakests.route(self, h)
        if r is not None:
            return r
        s = [urllib.parse.unquote(x) for x in path.split("/")[1:]]
        if s[0] not in ("bigquery", "upload", "resumable"):
            raise ApiError(404, "Not Found: %s" % path, "notFound")
        who = self.authorize(h)
        n = len(s)
        if s[:4] == ["upload", "bigquery", "v2", "projects"] and n == 6 and \
                s[5] == "jobs":
            if m == "PUT" and "upload_id" in h.query:
                return self.upload_put(h, s[4], h.query["upload_id"])
            if m == "POST" and h.query.get("uploadType") == "multipart":
                return self.multipart(h, s[4], who)
            if m == "POST" and h.query.get("uploadType") == "resumable":
                return self.upload_start(h, s[4], who)
            raise invalid("fake-bigquery: want POST ?uploadType=multipart or "
                          "resumable, or PUT ?upload_id=")
        if s[:5] == ["resumable", "upload", "bigquery", "v2", "projects"] and \
                n == 7 and s[6] == "jobs" and m == "POST":
            return self.upload_start(h, s[5], who)
        if s[:3] == ["bigquery", "v2", "projects"] and m == "GET":
            if n == 6 and s[4] == "jobs":
                return self.jobs_get(h, s[3], s[5])
            if n == 8 and s[4] == "datasets" and s[6] == "tables":
                return self.tables_get(h, s[3], s[5], s[7])
            if n == 9 and s[4] == "datasets" and s[6] == "tables" and \
                    s[8] == "data":
                return self.tabledata(h, s[3], s[5], s[7])
        if s[:3] == ["bigquery", "v2", "projects"] and n == 5 and \
                s[4] == "jobs" and m == "POST":
            raise invalid("fake-bigquery: jobs.insert without a media upload "
                          "(sourceUris, queries) is not supported")
        raise ApiError(404, "Not Found: %s %s" % (m, path), "notFound")

    def control(self, h):
        m, path = h.command, h.route_path
        if path == "/_fake/state" and m == "GET":
            jobs = [{"project": j["project"], "id": j["job_id"],
                     "location": j["location"], "state": j["state"],
                     "attempts": j["attempts"], "polls": j["polls"],
                     "table": ".".join(j["dest"]), "bytes": j["size"],
                     "rows": int(j["stats"]["outputRows"]) if j["stats"]
                     else None,
                     "error": j["error"]["reason"] if j["error"] else None}
                    for j in self.jobs.values()]
            tables = {k: {"rows": len(t["rows"]), "schema": [
                f["name"] for f in t["schema"]]}
                for k, t in self.tables.items()}
            sess = [{"upload_id": k, "job_id": s["job"]["jobReference"][
                "jobId"], "committed": len(s["data"]), "total": s["total"],
                "complete": s["result"] is not None}
                for k, s in self.sessions.items()]
            return 200, [], {"jobs": jobs, "tables": tables, "sessions": sess,
                             "counters": self.counters,
                             "tokens": len(self.tokens)}
        if path == "/_fake/faults" and m == "GET":
            return 200, [], {"faults": self.faults}
        if path == "/_fake/faults" and m == "POST":
            try:
                self.faults = check_faults(json.loads(h.body or b"{}"))
            except (ValueError, re.error) as e:
                raise invalid("fake-bigquery: %s" % e) from None
            return 200, [], {"faults": self.faults}
        if path == "/_fake/rows" and m == "GET":
            p, _, rest = h.query.get("table", "").replace(":", ".").partition(
                ".")
            d, _, t = rest.partition(".")
            tab = self.table(p, d, t)
            out = "".join(json.dumps(r, ensure_ascii=False) + "\n"
                          for r in tab["rows"])
            return 200, [("Content-Type", "application/x-ndjson")], \
                out.encode()
        if path == "/_fake/tables" and m == "POST":
            try:
                doc = json.loads(h.body)
                p, d, t = doc["table"].replace(":", ".").split(".")
                fields = check_schema(doc["schema"])
                tp = check_partitioning(doc["timePartitioning"], fields) \
                    if doc.get("timePartitioning") else None
                cl = check_clustering(doc["clustering"], fields) \
                    if doc.get("clustering") else None
            except (ValueError, KeyError, TypeError, AttributeError):
                raise invalid("fake-bigquery: want {\"table\":\"P.D.T\","
                              "\"schema\":{\"fields\":[...]}}") from None
            self.tables["%s.%s.%s" % (p, d, t)] = {
                "schema": fields, "tp": tp, "rows": [], "bytes": 0,
                "created": now_ms(), "location": "US", "clustering": cl,
                "description": doc.get("description")}
            self.save()
            return 200, [], {"table": "%s.%s.%s" % (p, d, t)}
        if path == "/_fake/rows" and m == "POST":
            return self.edit_rows(h)
        if path == "/_fake/reset" and m == "POST":
            self.clear()
            self.faults, self.token_ttl = [], self.default_ttl
            self.save()
            return 200, [], {"reset": True}
        r = fakests.control(self, h)
        if r is not None:
            return r
        raise ApiError(404, "Not Found: %s %s" % (m, path), "notFound")


# --- HTTP ------------------------------------------------------------------

class Drop(Exception):
    """Close the connection without answering."""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-bigquery/1"
    timeout = 120

    def parse_request(self):
        self.expect, self.body, self.body_read = False, b"", False
        return super().parse_request()

    def handle_expect_100(self):
        # Send "100 Continue" only when the body is read, so that a fault
        # or an early answer reaches the client before it sends the body.
        self.expect = True
        return True

    def do_GET(self):
        app = self.server.app
        url = urllib.parse.urlsplit(self.path)
        self.route_path = url.path
        self.query = dict(urllib.parse.parse_qsl(url.query,
                                                 keep_blank_values=True))
        self.line = "%s %s%s" % (self.command, url.path,
                                 "?" + url.query if url.query else "")
        try:
            if url.path.startswith("/_fake/"):
                self.read_body()
                with app.lock:
                    self.answer(*app.control(self))
            else:
                self.serve(app)
        except Drop:
            self.drop()
        except ApiError as e:
            self.answer(e.code, e.headers, e.body())
        except OAuthError as e:
            self.answer(e.code, [], {"error": e.error,
                                     "error_description": e.description})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def serve(self, app):
        line = self.line
        slow = app.take("slow", line)
        if slow and not slow.get("after"):
            time.sleep(slow["seconds"])
        if app.take("expire_tokens", line):
            with app.lock:
                app.tokens.clear()
                app.save()
        ttl = app.take("token_ttl", line)
        if ttl:
            with app.lock:
                app.token_ttl = ttl["seconds"]
        reset = app.take("reset", line)
        if reset and reset["when"] == "before":
            raise Drop()
        status = app.take("status", line)
        if status:
            return self.fault_status(status)
        self.read_body()
        if reset:
            raise Drop()
        with app.lock:
            try:
                code, headers, body = app.route(self)
            except (ApiError, OAuthError) as e:
                err = e
            else:
                err = None
        if slow and slow.get("after"):
            time.sleep(slow["seconds"])
        if app.take("lost_answer", line):
            raise Drop()
        if err:
            raise err
        if isinstance(body, dict) and isinstance(body.get("jobReference"),
                                                 dict):
            f = app.take("wrong_job_id", line)
            if f:
                body = dict(body, jobReference=dict(
                    body["jobReference"], jobId=f.get("job_id",
                                                      "forged_job")))
        self.answer(code, headers, body, app.take("trickle", line))

    def fault_status(self, f):
        code = f["code"]
        hdrs = [("Retry-After", str(f["retry_after"]))] if f.get(
            "retry_after") is not None else []
        if f.get("location") is not None:
            hdrs.append(("Location", str(f["location"])))
        if f.get("html"):
            return self.answer(code, hdrs + [("Content-Type",
                                              "text/html; charset=UTF-8")],
                               (GFE_HTML % (code, code)).encode())
        reason = f.get("reason") or REASON.get(code, "backendError")
        msg = f.get("message") or {
            "rateLimitExceeded": "Exceeded rate limits: too many api "
                                 "requests per user per method for this user"
                                 "_method.",
            "backendError": "Backend Error"}.get(reason, "Injected %d" % code)
        raise ApiError(code, msg, reason, hdrs)

    def read_body(self):
        if self.body_read:
            return self.body
        if self.expect:
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.expect = False
        self.body_read = True
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.body = self.read_chunked()
            return self.body
        n = self.headers.get("Content-Length", "0")
        if not re.fullmatch(r"[0-9]{1,12}", n.strip()):
            self.close_connection = True
            raise invalid("Bad Content-Length")
        if int(n) > MAX_BODY:
            self.close_connection = True
            raise ApiError(413, "Request too large for fake-bigquery")
        self.body = self.rfile.read(int(n))
        if len(self.body) != int(n):
            raise Drop()
        return self.body

    def read_chunked(self):
        out = bytearray()
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise invalid("Bad chunked encoding") from None
            if size == 0:
                while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            if len(out) + size > MAX_BODY:
                self.close_connection = True
                raise ApiError(413, "Request too large for fake-bigquery")
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise Drop()
            out += chunk
            self.rfile.readline(1024)

    def answer(self, code, headers=(), body=b"", trickle=None):
        if isinstance(body, (dict, list)):
            body = (json.dumps(body, indent=1, ensure_ascii=False) +
                    "\n").encode()
        if not self.body_read:
            if self.expect:
                self.close_connection = True
            else:
                try:
                    self.read_body()
                except (ApiError, Drop, OSError):
                    self.close_connection = True
        names = {k.lower() for k, _ in headers}
        self.send_response(code, "Resume Incomplete" if code == 308 else None)
        for k, v in headers:
            self.send_header(k, v)
        if body and "content-type" not in names:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if trickle:
            self.trickle(body, trickle["seconds"], trickle["for"])
        else:
            self.wfile.write(body)

    def trickle(self, body, step, limit):
        """Dribble the body out, a byte at a time, like a stuck server."""
        end = time.monotonic() + limit
        try:
            self.wfile.flush()
            while body and time.monotonic() < end:
                self.wfile.write(body[:1])
                self.wfile.flush()
                body = body[1:]
                time.sleep(step)
            self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def drop(self):
        """Reset the connection: RST, no answer."""
        self.log_message('"%s" dropped (fault)', self.requestline)
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass

    def log_message(self, fmt, *args):
        if not self.server.app.quiet:
            sys.stderr.write("fake-bigquery: %s\n" % (fmt % args))


def main():
    ap = argparse.ArgumentParser(description="fake BigQuery for tests")
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--port-file")
    ap.add_argument("--public-key", required=True)
    ap.add_argument("--polls-to-done", type=int, default=2)
    ap.add_argument("--token-lifetime", type=float, default=3600)
    ap.add_argument("--faults", help="JSON, or @FILE")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--state")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--page-rows", type=int, default=0)
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    app = App(args)
    if args.faults:
        text = args.faults
        if text.startswith("@"):
            with open(text[1:]) as fp:
                text = fp.read()
        try:
            app.faults = check_faults(json.loads(text))
        except (ValueError, re.error) as e:
            ap.error("--faults: %s" % e)
    srv = http.server.ThreadingHTTPServer((host or "127.0.0.1", int(port)),
                                          Handler)
    srv.daemon_threads = True
    srv.app = app
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as fp:
            fp.write("%d\n" % srv.server_address[1])
        os.replace(tmp, args.port_file)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if not args.quiet:
        sys.stderr.write("fake-bigquery: listening on %s:%d\n" %
                         srv.server_address[:2])
    try:
        srv.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
