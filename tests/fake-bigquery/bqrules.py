#!/usr/bin/env python3
"""bqrules.py: BigQuery's rules, as the fake BigQuery server applies them, in
pure functions (no I/O): Google's error shape, the checks of a jobs.insert Job
resource (load configuration, schema, timePartitioning), NDJSON rows against a
schema, tabledata.list cells, schema comparison and multipart/related upload
bodies.  Used by fake_bigquery.py; tests may import it too, e.g. to check hit
lines against a schema:

    fields = bqrules.check_schema({"fields": [...]})
    rows, errors, failure = bqrules.parse_ndjson(fields, data)

Everything that rejects input raises ApiError (a 400 "invalid" in Google's
shape) or, for one NDJSON row, ValueError with BigQuery's wording.
"""

import base64
import binascii
import datetime
import decimal
import json
import re
import secrets

JOB_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,1024}\Z")
FIELD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,299}\Z")
DATASET_RE = re.compile(r"[A-Za-z0-9_]{1,1024}\Z")
TABLE_RE = re.compile(r"[\w\- $]{1,1024}\Z")
INT_RE = re.compile(r"[+-]?[0-9]+\Z")
FLOAT_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\Z"
                      r"|[+-]?(Infinity|inf)\Z|NaN\Z", re.I)
DATE_RE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})\Z")
TS_RE = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
                   r"(?:[T ]([0-9]{1,2}):([0-9]{2})"
                   r"(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?)?"
                   r" ?(Z|UTC|[+-][0-9]{1,2}(?::?[0-9]{2})?)?\Z", re.I)
TIME_RE = re.compile(r"[0-9]{1,2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?\Z")
DATETIME_RE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([T ][0-9]{1,2}:"
                         r"[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?\Z")
SCHEMA_UPDATES = ("ALLOW_FIELD_ADDITION", "ALLOW_FIELD_RELAXATION")
# Types a clustering column may have (creating-clustered-tables#limitations).
CLUSTER_TYPES = {"STRING", "INTEGER", "NUMERIC", "BIGNUMERIC", "BOOLEAN",
                 "DATE", "DATETIME", "TIMESTAMP"}
ALIASES = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN"}
TYPES = {"STRING", "BYTES", "INTEGER", "FLOAT", "NUMERIC", "BIGNUMERIC",
         "BOOLEAN", "TIMESTAMP", "DATE", "TIME", "DATETIME", "JSON"}
# Known keys of the request objects, from the discovery document: Google
# rejects unknown names, which catches typos such as "writeDispostion".
KNOWN = {
    "job": "configuration etag id jobCreationReason jobReference kind "
           "principal_subject selfLink statistics status user_email",
    "job.configuration": "copy dryRun extract jobTimeoutMs jobType labels "
                         "load query",
    "job.jobReference": "jobId location projectId",
    "job.configuration.load": "allowJaggedRows allowQuotedNewlines autodetect "
        "clustering columnNameCharacterMap connectionProperties copyFilesOnly "
        "createDisposition createSession decimalTargetTypes "
        "destinationEncryptionConfiguration destinationTable "
        "destinationTableProperties encoding fieldDelimiter fileSetSpecType "
        "hivePartitioningOptions ignoreUnknownValues jsonExtension "
        "maxBadRecords nullMarker parquetOptions "
        "preserveAsciiControlCharacters projectionFields quote "
        "rangePartitioning referenceFileSchemaUri schema schemaInline "
        "schemaInlineFormat schemaUpdateOptions skipLeadingRows sourceFormat "
        "sourceUris timePartitioning useAvroLogicalTypes writeDisposition",
    "destinationTable": "datasetId projectId tableId",
    "schema": "fields foreignTypeInfo",
    "schema.fields": "categories collation defaultValueExpression description "
        "fields foreignTypeDefinition maxLength mode name policyTags "
        "precision rangeElementType roundingMode scale type",
    "timePartitioning": "expirationMs field requirePartitionFilter type",
    "clustering": "fields",
    "destinationTableProperties": "description expirationTime friendlyName "
                                  "labels",
}
KNOWN = {k: set(v.split()) for k, v in KNOWN.items()}
STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED",
          403: "PERMISSION_DENIED", 404: "NOT_FOUND", 409: "ALREADY_EXISTS",
          410: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
          502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
REASON = {400: "invalid", 401: "authError", 403: "accessDenied",
          404: "notFound", 409: "duplicate", 410: "notFound",
          413: "invalid", 429: "rateLimitExceeded"}
TOO_MANY = ("Error while reading data, error message: JSON table encountered "
            "too many errors, giving up. Rows: %d; errors: %d. Please look "
            "into the errors[] collection for more details.")


class ApiError(Exception):
    """An answer in Google's error shape."""

    def __init__(self, code, message, reason=None, headers=(), extra=None):
        super().__init__(message)
        self.code, self.message = code, message
        self.reason = reason or REASON.get(code, "backendError")
        self.headers = list(headers)
        self.extra = extra or {}

    def body(self):
        err = {"message": self.message, "domain": "global",
               "reason": self.reason}
        err.update(self.extra)
        return {"error": {"code": self.code, "message": self.message,
                          "errors": [err],
                          "status": STATUS.get(self.code, "UNKNOWN")}}


def invalid(msg):
    return ApiError(400, msg, "invalid")


def no_constants(name):
    raise ValueError("JSON does not allow %s" % name)


def loads(text):
    """json.loads without NaN/Infinity, which BigQuery's parser refuses."""
    return json.loads(text, parse_constant=no_constants)


def check_keys(obj, where):
    if not isinstance(obj, dict):
        raise invalid("Invalid JSON payload received. '%s' must be an "
                      "object." % where)
    for k in obj:
        if k not in KNOWN[where]:
            raise invalid("Invalid JSON payload received. Unknown name "
                          "\"%s\" at '%s': Cannot find field." % (k, where))


# --- values: NDJSON in, stored values, tabledata cells out -----------------

def ts_micros(v):
    """Microseconds since the epoch of a TIMESTAMP value, or None."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return int(round(v * 1000000))
    m = TS_RE.match(v.strip()) if isinstance(v, str) else None
    if m is None:
        return None
    y, mo, d, hh, mi, ss, frac, tz = m.groups()
    try:
        off = datetime.timedelta(0)
        if tz and tz.upper() not in ("Z", "UTC"):
            digits = tz[1:].replace(":", "")
            h, mm = (digits, "0") if len(digits) <= 2 else (digits[:-2],
                                                           digits[-2:])
            off = datetime.timedelta(hours=int(h), minutes=int(mm))
            off = -off if tz[0] == "-" else off
        dt = datetime.datetime(int(y), int(mo), int(d), int(hh or 0),
                               int(mi or 0), int(ss or 0),
                               int((frac or "0")[:6].ljust(6, "0")),
                               tzinfo=datetime.timezone(off))
    except ValueError:
        return None
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return (dt - epoch) // datetime.timedelta(microseconds=1)


def describe(v):
    if isinstance(v, bool):
        return "bool_value: %s" % ("true" if v else "false")
    if isinstance(v, str):
        return "string_value: %s" % json.dumps(v)
    if isinstance(v, (int, float)):
        return "double_value: %r" % v
    return "list_value" if isinstance(v, list) else "struct_value"


def convert(t, v):
    """The stored form of JSON value v in a column of type t."""
    isnum = isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == "JSON":
        return v
    if t == "STRING" and isinstance(v, str):
        return v
    if t == "INTEGER":
        n = None
        if isinstance(v, int) and not isinstance(v, bool):
            n = v
        elif isinstance(v, float) and v.is_integer():
            n = int(v)
        elif isinstance(v, str) and INT_RE.match(v.strip()):
            n = int(v)
        if n is not None and -2 ** 63 <= n < 2 ** 63:
            return n
    elif t == "FLOAT":
        if isnum:
            return float(v)
        if isinstance(v, str) and FLOAT_RE.match(v.strip()):
            return float(v)
    elif t in ("NUMERIC", "BIGNUMERIC"):
        if isnum or (isinstance(v, str) and FLOAT_RE.match(v.strip())):
            return str(v)
    elif t == "BOOLEAN":
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("true", "false"):
            return v.lower() == "true"
    elif t == "DATE" and isinstance(v, str):
        m = DATE_RE.match(v)
        try:
            if m:
                return datetime.date(*map(int, m.groups())).isoformat()
        except ValueError:
            pass
    elif t == "TIMESTAMP":
        if ts_micros(v) is not None:
            return v
    elif t == "BYTES" and isinstance(v, str):
        try:
            base64.b64decode(v, validate=True)
            return v
        except (binascii.Error, ValueError):
            pass
    elif t == "TIME" and isinstance(v, str) and TIME_RE.match(v):
        return v
    elif t == "DATETIME" and isinstance(v, str) and DATETIME_RE.match(v):
        return v
    raise ValueError("Could not convert value '%s' to %s." %
                     (describe(v), t.lower()))


def check_row(fields, obj, ignore_unknown):
    """The stored row (a dict by field name) for one parsed NDJSON line."""
    if not isinstance(obj, dict):
        raise ValueError("Expected a JSON object for a row, found %s." %
                         type(obj).__name__)
    byname = {f["name"].lower(): f for f in fields}
    given = {}
    for k, v in obj.items():
        f = byname.get(k.lower())
        if f is None:
            if ignore_unknown:
                continue
            raise ValueError("No such field: %s." % k)
        given[f["name"]] = v
    row = {}
    for f in fields:
        name, mode = f["name"], f["mode"]
        if given.get(name) is None:
            if mode == "REQUIRED":
                if name in given:
                    raise ValueError("Only optional fields can be set to "
                                     "NULL. Field: %s; Value: NULL" % name)
                raise ValueError("Missing required field: %s." % name)
            row[name] = [] if mode == "REPEATED" else None
            continue
        v = given[name]
        try:
            if mode == "REPEATED":
                if not isinstance(v, list):
                    raise ValueError("Array specified for non-repeated "
                                     "field or non-array for repeated one.")
                if any(e is None for e in v):
                    raise ValueError("Array cannot have a null element.")
                row[name] = [convert(f["type"], e) for e in v]
            else:
                row[name] = convert(f["type"], v)
        except ValueError as e:
            shown = v if isinstance(v, str) else json.dumps(v)
            raise ValueError("%s Field: %s; Value: %s" %
                             (e, name, shown[:100])) from None
    return row


def fmt_float(v):
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "Infinity" if v > 0 else "-Infinity"
    r = repr(v)
    if "e" in r:
        m, e = r.split("e")
        r = (m if "." in m else m + ".0") + "E" + str(int(e))
    return r


def fmt_ts(micros):
    """Seconds in Java's Double.toString style, as tabledata.list has them."""
    s = "{:E}".format(decimal.Decimal(micros).scaleb(-6).normalize())
    m, e = s.split("E")
    return (m if "." in m else m + ".0") + "E" + str(int(e))


def cell(t, v, int64ts):
    if t == "INTEGER":
        return str(v)
    if t == "FLOAT":
        return fmt_float(v)
    if t == "BOOLEAN":
        return "true" if v else "false"
    if t == "TIMESTAMP":
        us = ts_micros(v)
        return str(us) if int64ts else fmt_ts(us)
    if t == "JSON":
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False)
    if t == "BYTES":
        return base64.b64encode(base64.b64decode(v)).decode()
    return str(v)


def row_cells(fields, row, int64ts):
    out = []
    for f in fields:
        v = row.get(f["name"])
        if v is None:
            out.append({"v": None})
        elif f["mode"] == "REPEATED":
            out.append({"v": [{"v": cell(f["type"], e, int64ts)} for e in v]})
        else:
            out.append({"v": cell(f["type"], v, int64ts)})
    return {"f": out}


def row_bytes(fields, row):
    """BigQuery's logical size of a row, roughly, for outputBytes/numBytes."""
    n = 0
    for f in fields:
        vals = row.get(f["name"])
        for v in (vals if f["mode"] == "REPEATED" else [vals]):
            if v is None:
                continue
            if f["type"] in ("STRING", "BYTES", "JSON"):
                n += 2 + len(json.dumps(v).encode() if f["type"] == "JSON"
                             else v.encode())
            else:
                n += 1 if f["type"] == "BOOLEAN" else 8
    return n


# --- the request objects ---------------------------------------------------

def check_schema(schema):
    check_keys(schema, "schema")
    fields = schema.get("fields")
    if not isinstance(fields, list) or not fields:
        raise invalid("Invalid value for schema: fields must be a non-empty "
                      "list")
    out, seen = [], set()
    for f in fields:
        check_keys(f, "schema.fields")
        name = f.get("name")
        if not isinstance(name, str) or not FIELD_RE.match(name):
            raise invalid("Invalid field name \"%s\". Fields must contain "
                          "only letters, numbers, and underscores, start with "
                          "a letter or underscore, and be at most 300 "
                          "characters long." % name)
        if name.lower() in seen:
            raise invalid("Field %s already exists in schema" % name)
        seen.add(name.lower())
        t = str(f.get("type", "")).upper()
        t = ALIASES.get(t, t)
        if t in ("RECORD", "STRUCT", "GEOGRAPHY", "RANGE"):
            raise invalid("fake-bigquery: field type %s is not supported" % t)
        if t not in TYPES:
            raise invalid("Invalid value for type: %s is not a valid value" %
                          f.get("type"))
        mode = str(f.get("mode") or "NULLABLE").upper()
        if mode not in ("NULLABLE", "REQUIRED", "REPEATED"):
            raise invalid("Invalid value for mode: %s is not a valid value" %
                          f.get("mode"))
        out.append({"name": name, "type": t, "mode": mode})
    return out


def check_partitioning(tp, fields):
    check_keys(tp, "timePartitioning")
    if tp.get("type") not in ("DAY", "HOUR", "MONTH", "YEAR"):
        raise invalid("Invalid value for timePartitioning.type: %s is not a "
                      "valid value" % tp.get("type"))
    out = {"type": tp["type"]}
    exp = tp.get("expirationMs")
    if exp is not None:
        # int64 comes as a JSON string (a number is accepted too); 0 is
        # invalid, a negative value means "never" to Google: refused here.
        if isinstance(exp, bool) or not (
                isinstance(exp, int) or (isinstance(exp, str) and
                                         INT_RE.match(exp))) or int(exp) <= 0:
            raise invalid("Invalid value for timePartitioning.expirationMs: "
                          "%s" % json.dumps(exp))
        out["expirationMs"] = str(int(exp))
    rpf = tp.get("requirePartitionFilter")
    if rpf is not None:
        if not isinstance(rpf, bool):
            raise invalid("Invalid value for timePartitioning."
                          "requirePartitionFilter: %s" % json.dumps(rpf))
        out["requirePartitionFilter"] = rpf
    field = tp.get("field")
    if field is None:
        return out
    if not isinstance(field, str) or not field:
        raise invalid("Invalid value for timePartitioning.field")
    if fields is not None:
        match = [f for f in fields if f["name"].lower() == field.lower()]
        if not match:
            raise invalid("The field specified for time partitioning can "
                          "only be of type TIMESTAMP, DATE or DATETIME. The "
                          "field %s cannot be found in the schema." % field)
        if match[0]["type"] not in ("DATE", "TIMESTAMP", "DATETIME"):
            raise invalid("The field specified for time partitioning can "
                          "only be of type TIMESTAMP, DATE or DATETIME. The "
                          "type found is: %s." % match[0]["type"])
    out["field"] = field
    return out


def check_clustering(cl, fields):
    """The clustering column names (at most 4, top-level simple types)."""
    check_keys(cl, "clustering")
    names = cl.get("fields")
    if not isinstance(names, list) or not names or not all(
            isinstance(n, str) and n for n in names):
        raise invalid("Invalid value for clustering.fields: a non-empty list "
                      "of column names")
    if len(names) > 4:
        raise invalid("Too many clustering fields: %d, only 4 are allowed." %
                      len(names))
    if len({n.lower() for n in names}) != len(names):
        raise invalid("Clustering fields cannot be repeated: %s" %
                      ", ".join(names))
    if fields is not None:
        byname = {f["name"].lower(): f for f in fields}
        for n in names:
            f = byname.get(n.lower())
            if f is None:
                raise invalid("The field specified for clustering cannot be "
                              "found in the schema.  Invalid field: %s." % n)
            if f["type"] not in CLUSTER_TYPES or f["mode"] == "REPEATED":
                raise invalid("Field %s is of type %s%s which is not "
                              "supported for clustering." % (
                                  n, "REPEATED " if f["mode"] == "REPEATED"
                                  else "", f["type"]))
    return names


def check_update_options(opts, write, table_id):
    """The schemaUpdateOptions of a load, as a set."""
    if not isinstance(opts, list) or not all(isinstance(o, str)
                                             for o in opts):
        raise invalid("Invalid value for schemaUpdateOptions: a list of "
                      "strings")
    for o in opts:
        if o not in SCHEMA_UPDATES:
            raise invalid("Invalid schema update option: %s" % o)
    if opts and not (write == "WRITE_APPEND" or (
            write == "WRITE_TRUNCATE" and "$" in table_id)):
        raise invalid("Schema update options should only be specified with "
                      "WRITE_APPEND disposition, or with WRITE_TRUNCATE "
                      "disposition on a table partition.")
    return set(opts)


def check_job(job, project):
    """Validate a Job for jobs.insert: the job's spec (a dict) or ApiError."""
    check_keys(job, "job")
    ref = job.get("jobReference", {})
    check_keys(ref, "job.jobReference")
    jid = ref.get("jobId")
    if jid is None:
        jid = "job_" + secrets.token_urlsafe(18)
    if not isinstance(jid, str) or not JOB_ID_RE.match(jid):
        raise invalid("Invalid job ID \"%s\". Job IDs must be alphanumeric "
                      "(plus underscores and dashes) and must be at most 1024 "
                      "characters long." % (jid,))
    if ref.get("projectId", project) != project:
        raise invalid("Project %s in jobReference does not match the project "
                      "%s of the request." % (ref.get("projectId"), project))
    loc = ref.get("location", "US")
    if not isinstance(loc, str) or not loc:
        raise invalid("Invalid value for jobReference.location")
    conf = job.get("configuration")
    check_keys(conf, "job.configuration")
    kinds = [k for k in ("load", "query", "copy", "extract") if k in conf]
    if kinds != ["load"]:
        raise invalid("Job configuration must contain exactly one job-"
                      "specific configuration object (e.g., query, load, "
                      "extract, spreadsheetExtract), but there were %d: %s"
                      % (len(kinds), ", ".join(kinds)))
    if conf.get("jobType", "LOAD") != "LOAD":
        raise invalid("Invalid value for jobType: %s" % conf.get("jobType"))
    load = conf["load"]
    check_keys(load, "job.configuration.load")
    if load.get("sourceFormat", "CSV") != "NEWLINE_DELIMITED_JSON":
        raise invalid("fake-bigquery: sourceFormat %s is not supported, only "
                      "NEWLINE_DELIMITED_JSON" % load.get("sourceFormat",
                                                          "CSV"))
    if load.get("sourceUris"):
        raise invalid("Source URI is not allowed with a media upload.")
    dest = load.get("destinationTable")
    if dest is None:
        raise invalid("Required parameter is missing: destinationTable")
    check_keys(dest, "destinationTable")
    p, d, t = (dest.get(k) for k in ("projectId", "datasetId", "tableId"))
    if not all(isinstance(x, str) and x for x in (p, d, t)):
        raise invalid("Invalid value for destinationTable: projectId, "
                      "datasetId and tableId are required")
    if not DATASET_RE.match(d):
        raise invalid("Invalid dataset ID \"%s\"." % d)
    if not TABLE_RE.match(t):
        raise invalid("Invalid table ID \"%s\"." % t)
    fields = None
    if load.get("schema") is not None:
        fields = check_schema(load["schema"])
    cd = load.get("createDisposition", "CREATE_IF_NEEDED")
    if cd not in ("CREATE_IF_NEEDED", "CREATE_NEVER"):
        raise invalid("Invalid value for createDisposition: %s is not a "
                      "valid value" % cd)
    wd = load.get("writeDisposition", "WRITE_APPEND")
    if wd not in ("WRITE_APPEND", "WRITE_TRUNCATE", "WRITE_EMPTY"):
        raise invalid("Invalid value for writeDisposition: %s is not a "
                      "valid value" % wd)
    tp = None
    if load.get("timePartitioning") is not None:
        tp = check_partitioning(load["timePartitioning"], fields)
    opts = check_update_options(load.get("schemaUpdateOptions") or [], wd, t)
    cluster = None
    if load.get("clustering") is not None:
        cluster = check_clustering(load["clustering"], fields)
    props = load.get("destinationTableProperties")
    desc = None
    if props is not None:
        check_keys(props, "destinationTableProperties")
        desc = props.get("description")
        if desc is not None and not isinstance(desc, str):
            raise invalid("Invalid value for destinationTableProperties."
                          "description")
    mbr = load.get("maxBadRecords", 0)
    if not isinstance(mbr, int) or isinstance(mbr, bool) or mbr < 0:
        raise invalid("Invalid value for maxBadRecords: %r" % (mbr,))
    iuv = load.get("ignoreUnknownValues", False)
    if not isinstance(iuv, bool):
        raise invalid("Invalid value for ignoreUnknownValues: %r" % (iuv,))
    return {"job_id": jid, "location": loc, "config": load, "fields": fields,
            "dest": [p, d, t], "create": cd, "write": wd, "tp": tp,
            "max_bad": mbr, "ignore_unknown": iuv, "updates": sorted(opts),
            "clustering": cluster, "description": desc}


def part_spec(tp, clustering=None):
    spec = "interval(type:%s,field:%s)" % (
        tp["type"].lower(), tp.get("field", "_PARTITIONTIME")) if tp else \
        "none"
    if clustering:
        spec += " clustering(%s)" % ",".join(clustering)
    return spec


def schema_diff(old, new, updates=()):
    """Why a load schema does not fit the table's, or None, and the table's
    schema after the load (the merge).

    Without schemaUpdateOptions the load schema must be the table's (names,
    types, modes; order free).  With ALLOW_FIELD_ADDITION a NULLABLE or
    REPEATED field unknown to the table is added at its end (a REQUIRED one
    never is).  With any option the load schema acts as a patch: a table
    field it leaves out stays in the table, NULL in the loaded rows (as Google
    behaves; a load without options still says "is missing in new schema"),
    except a REQUIRED one, which only ALLOW_FIELD_RELAXATION may leave out (it
    becomes NULLABLE).  ALLOW_FIELD_RELAXATION also lets a field go from
    REQUIRED to NULLABLE.  Types never change.
    """
    updates = set(updates)
    add = "ALLOW_FIELD_ADDITION" in updates
    relax = "ALLOW_FIELD_RELAXATION" in updates
    o = {f["name"].lower(): f for f in old}
    n = {f["name"].lower(): f for f in new}
    merged = [dict(f) for f in old]
    for f in new:
        if f["name"].lower() in o:
            continue
        if not add:
            return "Cannot add fields (field: %s)" % f["name"], None
        if f["mode"] == "REQUIRED":
            return ("Cannot add required fields to an existing schema. "
                    "(field: %s)" % f["name"]), None
        merged.append(dict(f))
    for g in merged[:len(old)]:
        f = n.get(g["name"].lower())
        if f is None:
            if not updates:
                return "Field %s is missing in new schema" % g["name"], None
            if g["mode"] == "REQUIRED":
                if not relax:
                    return ("Field %s has changed mode from REQUIRED to "
                            "NULLABLE" % g["name"]), None
                g["mode"] = "NULLABLE"
            continue
        if g["type"] != f["type"]:
            return "Field %s has changed type from %s to %s" % (
                f["name"], g["type"], f["type"]), None
        if g["mode"] != f["mode"]:
            if g["mode"] == "REQUIRED" and f["mode"] == "NULLABLE" and relax:
                g["mode"] = "NULLABLE"
                continue
            return "Field %s has changed mode from %s to %s" % (
                f["name"], g["mode"], f["mode"]), None
    return None, merged


def parse_multipart(ctype, body):
    """The (metadata, data) parts of a multipart/related upload body."""
    m = re.match(r"multipart/related\s*;(.*)", ctype or "", re.I)
    b = m and re.search(r'boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))', m.group(1))
    if not b:
        raise invalid("fake-bigquery: multipart upload needs Content-Type "
                      "multipart/related; boundary=...")
    delim = b"\r\n--" + (b.group(1) or b.group(2)).encode()
    segs = (b"\r\n" + body).split(delim)
    if len(segs) < 4 or not segs[-1].startswith(b"--"):
        raise invalid("fake-bigquery: multipart body needs exactly two parts "
                      "and the closing delimiter (CRLF line ends)")
    parts = []
    for seg in segs[1:-1]:
        head, sep, content = seg.partition(b"\r\n\r\n")
        if not sep:
            raise invalid("fake-bigquery: malformed multipart part")
        hdrs = {}
        for line in head.decode("latin-1").split("\r\n"):
            if line.strip():
                k, _, v = line.partition(":")
                hdrs[k.strip().lower()] = v.strip()
        parts.append((hdrs, content))
    if len(parts) != 2:
        raise invalid("fake-bigquery: multipart body has %d parts, not 2 "
                      "(metadata, media)" % len(parts))
    if not parts[0][0].get("content-type", "").lower().startswith(
            "application/json"):
        raise invalid("fake-bigquery: the first multipart part must be "
                      "application/json")
    try:
        meta = loads(parts[0][1].decode("utf-8"))
    except ValueError as e:
        raise invalid("Invalid JSON payload received. %s" % e) from None
    return meta, parts[1][1]




def parse_ndjson(fields, data, ignore_unknown=False, max_bad=0):
    """Check NDJSON bytes against a schema, as a load job does.

    Returns (rows, errors, failure): the stored rows, the ErrorProto of each
    bad line, and the errorResult when there are more than max_bad bad lines
    (then the load must write nothing), else None.  Blank lines are skipped.
    """
    rows, errs, pos, lineno = [], [], 0, 0
    for line in data.split(b"\n"):
        if pos >= len(data):
            break
        lineno, start = lineno + 1, pos
        pos += len(line) + 1
        if not line.strip():
            continue
        try:
            rows.append(check_row(fields, loads(line.decode("utf-8")),
                                  ignore_unknown))
        except ValueError as e:
            errs.append({"reason": "invalid", "location": "line %d" % lineno,
                         "message": "Error while reading data, error "
                         "message: JSON parsing error in row starting at "
                         "position %d: %s" % (start, str(e).replace("\n",
                                                                     " "))})
            if len(errs) > max_bad:
                return rows, errs, {"reason": "invalid", "message":
                                    TOO_MANY % (lineno, len(errs))}
    return rows, errs, None
