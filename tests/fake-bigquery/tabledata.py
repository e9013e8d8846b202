#!/usr/bin/env python3
"""tabledata.py: print the rows of a BigQuery table, one JSON object a line.

  tabledata.py --api-base URL [--bearer TOKEN | --metadata URL]
               [--page-size N] [--raw] PROJECT.DATASET.TABLE

Gets an access token from the metadata server endpoint of --metadata
(default: --api-base, as the fake serves it; "Metadata-Flavor: Google")
unless --bearer gives one, reads the schema with tables.get, then pages
through tabledata.list with maxResults=--page-size (default 2, so that
paging is exercised) and prints each row with the schema's field names, in
schema order.  Cells are turned back into JSON types: INTEGER and FLOAT to
numbers, BOOLEAN to true/false, JSON to its value, TIMESTAMP to
"YYYY-MM-DD HH:MM:SS[.ffffff] UTC", REPEATED to lists; --raw prints the
cells as tabledata.list has them (strings).  Exit 0; 1 on an HTTP or
transport error (said on stderr); 2 on bad usage.
"""

import argparse
import datetime
import decimal
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

METADATA_TOKEN = "/computeMetadata/v1/instance/service-accounts/default/token"


def fetch(url, headers):
    req = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def value(field, v):
    if v is None:
        return None
    if field.get("mode") == "REPEATED":
        return [value(dict(field, mode="NULLABLE"), e["v"]) for e in v]
    t = field["type"]
    if t in ("INTEGER", "INT64"):
        return int(v)
    if t in ("FLOAT", "FLOAT64"):
        return float(v)
    if t in ("BOOLEAN", "BOOL"):
        return v == "true"
    if t == "JSON":
        return json.loads(v)
    if t == "TIMESTAMP":
        us = int(decimal.Decimal(v) * 1000000)
        dt = datetime.datetime(1970, 1, 1) + datetime.timedelta(
            microseconds=us)
        return dt.isoformat(" ") + " UTC"
    return v


def main():
    ap = argparse.ArgumentParser(description="print a table's rows as NDJSON")
    ap.add_argument("--api-base", required=True)
    ap.add_argument("--bearer")
    ap.add_argument("--metadata")
    ap.add_argument("--page-size", type=int, default=2)
    ap.add_argument("--raw", action="store_true")
    ap.add_argument("table")
    args = ap.parse_args()
    parts = args.table.replace(":", ".").split(".")
    if len(parts) != 3 or not all(parts):
        ap.error("TABLE must be PROJECT.DATASET.TABLE")
    base = args.api_base.rstrip("/")
    q = urllib.parse.quote
    try:
        token = args.bearer
        if token is None:
            md = (args.metadata or base).rstrip("/")
            token = fetch(md + METADATA_TOKEN,
                          {"Metadata-Flavor": "Google"})["access_token"]
        auth = {"Authorization": "Bearer " + token}
        url = "%s/bigquery/v2/projects/%s/datasets/%s/tables/%s" % (
            base, q(parts[0], ""), q(parts[1], ""), q(parts[2], ""))
        fields = fetch(url, auth)["schema"]["fields"]
        page = None
        while True:
            query = {"maxResults": str(args.page_size)}
            if page:
                query["pageToken"] = page
            res = fetch(url + "/data?" + urllib.parse.urlencode(query), auth)
            for row in res.get("rows", []):
                obj = {}
                for f, c in zip(fields, row["f"]):
                    obj[f["name"]] = c["v"] if args.raw else value(f, c["v"])
                print(json.dumps(obj, ensure_ascii=False))
            page = res.get("pageToken")
            if not page:
                return 0
    except urllib.error.HTTPError as e:
        sys.stderr.write("tabledata: %s: HTTP %d: %s\n" % (
            e.url, e.code, e.read().decode("utf-8", "replace")[:500]))
    except (urllib.error.URLError, OSError, ValueError, KeyError) as e:
        sys.stderr.write("tabledata: %s\n" % e)
    return 1


if __name__ == "__main__":
    sys.stdout.reconfigure(encoding="utf-8")
    sys.exit(main())
