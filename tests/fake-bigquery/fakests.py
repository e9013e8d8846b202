"""fakests.py: fakes of Google's Security Token Service (STS) and of the IAM
Credentials API for fake_bigquery.py, so that Workload Identity Federation
(ADC `external_account`) and `impersonated_service_account` credentials can
be tested.  Shapes follow Google's published formats: STS v1 token exchange
(RFC 8693, form-encoded) and iamcredentials v1 generateAccessToken (JSON).
Every check is strict: a request that Google would refuse, or that carries
another subject token than the test wrote, is refused.  The tokens issued
are fake_bigquery's own, so BigQuery calls accept them.

Endpoints (hooked into fake_bigquery.App.route / App.control):
  POST /v1/token   the STS.  Content-Type application/x-www-form-urlencoded;
      grant_type=urn:ietf:params:oauth:grant-type:token-exchange,
      requested_token_type=urn:ietf:params:oauth:token-type:access_token,
      scope (space-separated, with .../auth/cloud-platform), audience ==
      the configured one (else 400 invalid_target), subject_token_type ==
      the configured one (else 400 invalid_request), subject_token == the
      configured one (else 400 invalid_grant), options (optional) a JSON
      object {"userProject": P}.  -> 200 {"access_token",
      "issued_token_type", "token_type": "Bearer", "expires_in"}.
  POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken
      IAM Credentials.  "Authorization: Bearer T", T issued by this fake
      (by the STS when "want_bearer" is "sts", by /token when "oauth");
      Content-Type application/json; body {"scope": [S, ...] (required,
      with .../auth/bigquery or .../auth/cloud-platform), "lifetime":
      "Ns" (optional, 1..43200), "delegates": ["projects/-/serviceAccounts/
      X", ...] (optional)}, no other key; EMAIL == the configured one
      (else 403 PERMISSION_DENIED).  -> 200 {"accessToken", "expireTime"}
      (RFC 3339, UTC, nanoseconds).
  GET /_sts/subject   a URL-sourced subject token: needs the configured
      header (else 403); answers it as text, or as JSON
      {"id_token": T} with ?format=json.

Test control (no auth):
  POST /_fake/sts  {"audience", "subject_token", "subject_token_type",
                   "service_account", "want_bearer", "header": "Name: value",
                   "delegates": [...]} sets the expectations (merged).
  GET  /_fake/sts  the expectations plus "issued" (every token issued
                   here), "last_lifetime", "last_scope", "last_options",
                   "last_delegates" and counters.
"""

import json
import re
import secrets
import time
import urllib.parse

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
SUBJECT_TYPES = ("urn:ietf:params:oauth:token-type:jwt",
                 "urn:ietf:params:oauth:token-type:id_token",
                 "urn:ietf:params:oauth:token-type:saml2",
                 "urn:ietf:params:aws:token-type:aws4_request")
CLOUD = "https://www.googleapis.com/auth/cloud-platform"
BQ = "https://www.googleapis.com/auth/bigquery"
IAM_PATH = re.compile(r"/v1/projects/-/serviceAccounts/([^/:]+)"
                      r":generateAccessToken\Z")


class StsError(Exception):
    """An STS error: {"error", "error_description"} (OAuth 2 shape)."""

    def __init__(self, error, description, code=400):
        super().__init__(description)
        self.code, self.error, self.description = code, error, description


def conf(app):
    if not hasattr(app, "sts"):
        app.sts = {"audience": None, "subject_token": None,
                   "subject_token_type": SUBJECT_TYPES[0],
                   "service_account": None, "want_bearer": "sts",
                   "header": None, "delegates": None, "issued": [],
                   "sts_tokens": [], "last_lifetime": None,
                   "last_scope": None, "last_options": None,
                   "last_delegates": None,
                   "counters": {"sts_ok": 0, "sts_refused": 0,
                                "iam_ok": 0, "iam_refused": 0,
                                "subject_served": 0}}
    return app.sts


def issue(app, ttl, who):
    """A token fake_bigquery accepts, valid ttl seconds."""
    tok = "ya29.fake-" + secrets.token_urlsafe(32)
    t = time.time()
    app.tokens[tok] = [t + ttl, who]
    conf(app)["issued"].append(tok)
    app.count("tokens_issued")
    app.save()
    return tok


def sts(app, h):
    c = conf(app)
    if h.headers.get("Content-Type", "").split(";")[0].strip() != \
            "application/x-www-form-urlencoded":
        raise StsError("invalid_request", "Content-Type must be "
                       "application/x-www-form-urlencoded")
    try:
        pairs = urllib.parse.parse_qsl(h.body.decode("utf-8"),
                                       keep_blank_values=True,
                                       strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise StsError("invalid_request", "Malformed body") from None
    form = dict(pairs)
    if len(form) != len(pairs):
        raise StsError("invalid_request", "Repeated parameter")
    known = {"grant_type", "audience", "scope", "requested_token_type",
             "subject_token", "subject_token_type", "options"}
    if set(form) - known:
        raise StsError("invalid_request", "Unknown parameter: %s" %
                       sorted(set(form) - known)[0])
    if form.get("grant_type") != EXCHANGE:
        raise StsError("unsupported_grant_type", "Invalid grant_type")
    if form.get("requested_token_type") != ACCESS:
        raise StsError("invalid_request", "Invalid requested_token_type")
    if CLOUD not in form.get("scope", "").split(" "):
        raise StsError("invalid_scope", "Invalid scope")
    if form.get("audience") != c["audience"]:
        raise StsError("invalid_target", "The target service indicated by "
                       "the \"audience\" parameters is invalid. This might "
                       "either be because the pool or provider is disabled "
                       "or deleted or because it doesn't exist.")
    if form.get("subject_token_type") not in SUBJECT_TYPES or \
            form["subject_token_type"] != c["subject_token_type"]:
        raise StsError("invalid_request", "Invalid subject_token_type")
    if not form.get("subject_token") or \
            form["subject_token"] != c["subject_token"]:
        raise StsError("invalid_grant", "The given subject token is invalid")
    if "options" in form:
        try:
            opt = json.loads(form["options"])
        except ValueError:
            raise StsError("invalid_request", "options is not JSON") from None
        if not isinstance(opt, dict) or set(opt) != {"userProject"}:
            raise StsError("invalid_request", "Unknown options")
        c["last_options"] = opt
    tok = issue(app, app.token_ttl, "sts:" + c["audience"])
    c["sts_tokens"].append(tok)
    return 200, [], {"access_token": tok, "issued_token_type": ACCESS,
                     "token_type": "Bearer",
                     "expires_in": int(app.token_ttl)}


class IamError(Exception):
    """An IAM Credentials error: {"error": {"code", "message", "status"}}."""

    def __init__(self, code, message, status):
        super().__init__(message)
        self.code = code
        self.body = {"error": {"code": code, "message": message,
                               "status": status}}


def _iam_error(code, msg, status):
    return IamError(code, msg, status)


def iam(app, h, email):
    c = conf(app)
    m = re.match(r"Bearer\s+(\S+)\s*\Z", h.headers.get("Authorization", ""))
    tok = app.tokens.get(m.group(1)) if m else None
    if tok is None or tok[0] <= time.time():
        raise _iam_error(401, "Request had invalid authentication "
                         "credentials.", "UNAUTHENTICATED")
    from_sts = m.group(1) in c["sts_tokens"]
    if (c["want_bearer"] == "sts") != from_sts:
        raise _iam_error(403, "fake: the bearer is not from the %s" %
                         c["want_bearer"], "PERMISSION_DENIED")
    if h.headers.get("Content-Type", "").split(";")[0].strip() != \
            "application/json":
        raise _iam_error(400, "Content-Type must be application/json",
                         "INVALID_ARGUMENT")
    try:
        body = json.loads(h.body)
    except ValueError:
        raise _iam_error(400, "Invalid JSON payload received.",
                         "INVALID_ARGUMENT") from None
    if not isinstance(body, dict) or set(body) - {"scope", "lifetime",
                                                  "delegates"}:
        raise _iam_error(400, "Invalid JSON payload received. Unknown "
                         "name.", "INVALID_ARGUMENT")
    scope = body.get("scope")
    if not isinstance(scope, list) or not scope or not all(
            isinstance(s, str) for s in scope) or not {BQ, CLOUD} & set(
            scope):
        raise _iam_error(400, "Scope required.", "INVALID_ARGUMENT")
    life = 3600
    if "lifetime" in body:
        lm = re.fullmatch(r"([0-9]+)s", str(body["lifetime"]))
        if not isinstance(body["lifetime"], str) or not lm or \
                not 1 <= int(lm.group(1)) <= 43200:
            raise _iam_error(400, "Invalid value at 'lifetime' "
                             "(type.googleapis.com/google.protobuf."
                             "Duration)", "INVALID_ARGUMENT")
        life = int(lm.group(1))
    dl = body.get("delegates")
    if dl is not None and (not isinstance(dl, list) or not all(
            isinstance(d, str) and d.startswith(
                "projects/-/serviceAccounts/") for d in dl)):
        raise _iam_error(400, "Invalid delegates", "INVALID_ARGUMENT")
    if dl != c["delegates"]:
        raise _iam_error(403, "fake: delegates %r, want %r" %
                         (dl, c["delegates"]), "PERMISSION_DENIED")
    if email != c["service_account"]:
        raise _iam_error(403, "Permission 'iam.serviceAccounts."
                         "getAccessToken' denied on resource (or it may "
                         "not exist).", "PERMISSION_DENIED")
    c["last_lifetime"], c["last_scope"] = body.get("lifetime"), scope
    c["last_delegates"] = dl
    ttl = min(life, app.token_ttl)
    t = issue(app, ttl, email)
    exp = time.time() + ttl
    return 200, [], {"accessToken": t, "expireTime": time.strftime(
        "%Y-%m-%dT%H:%M:%S", time.gmtime(exp)) + ".%09dZ" % int(
        (exp % 1) * 1e9)}


def subject(app, h):
    c = conf(app)
    if c["header"]:
        name, _, value = c["header"].partition(":")
        if h.headers.get(name.strip()) != value.strip():
            raise _iam_error(403, "fake: missing the subject token header",
                             "PERMISSION_DENIED")
    c["counters"]["subject_served"] += 1
    if h.query.get("format") == "json":
        return 200, [], {"id_token": c["subject_token"], "other": "x"}
    return 200, [("Content-Type", "text/plain")], \
        c["subject_token"].encode()


def route(app, h):
    """(code, headers, body) for the STS, IAM and subject paths, else
    None.  Errors come back as answers, in Google's shapes."""
    m, path = h.command, urllib.parse.unquote(h.route_path)
    c = conf(app)
    try:
        if path == "/v1/token" and m == "POST":
            r = sts(app, h)
            c["counters"]["sts_ok"] += 1
            return r
        im = IAM_PATH.match(path)
        if im and m == "POST":
            r = iam(app, h, im.group(1))
            c["counters"]["iam_ok"] += 1
            return r
        if path == "/_sts/subject" and m == "GET":
            return subject(app, h)
    except StsError as e:
        c["counters"]["sts_refused"] += 1
        return e.code, [], {"error": e.error,
                            "error_description": e.description}
    except IamError as e:
        c["counters"]["iam_refused"] += 1
        return e.code, [], e.body
    return None


def control(app, h):
    if h.route_path != "/_fake/sts":
        return None
    c = conf(app)
    if h.command == "POST":
        doc = json.loads(h.body or b"{}")
        for k in ("audience", "subject_token", "subject_token_type",
                  "service_account", "want_bearer", "header", "delegates"):
            if k in doc:
                c[k] = doc[k]
    out = {k: v for k, v in c.items() if k != "sts_tokens"}
    return 200, [], out
