#!/usr/bin/env bash
# Schema evolution and table options: a column added to a stream whose
# table exists loads (schemaUpdateOptions ALLOW_FIELD_ADDITION), the old
# rows NULL there; a column dropped from the config still loads, the table
# keeps it, the new rows NULL there.  partition_expiration,
# require_partition_filter, clustering and table_description shape the
# table hookspool creates, and only that one (a later change of them does
# not break the loads); conf_load refuses clustering it cannot honour.  The
# SQL that the README and hookspool.conf(5) show to read payload and params
# names only columns the table has.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need python3 openssl curl
need_file "$HS_UPLOAD"
need_file "$HS_CTL"

ID=522ed95e-1a2b-4c3d-8e4f-0000000e0001
OPT_ID=522ed95e-1a2b-4c3d-8e4f-0000000e0002
TABLE=test-project.crm.hits
OPT_TABLE=test-project.crm.opts
MKBATCH=$top_srcdir/tests/upload/mkbatch.py

start_fake_bq --polls-to-done 1 || { not_ok "the fake BigQuery starts"; finish; }

# conf [crm's extra lines...]: the config, stream crm last.
conf() {
    up_conf "$T/hs.conf" "$ID" "http_timeout = 5s"
    for l in "$@"; do echo "$l"; done >>"$T/hs.conf"
}
# upload: one run for stream crm; output in $T/up.out, exit in RC.
upload() {
    "$HS_UPLOAD" -c "$T/hs.conf" "$@" >"$T/up.out" 2>&1
    RC=$?
    [ -s "$T/up.out" ] && sed 's/^/#   /' "$T/up.out"
    return 0
}
# batch STREAM N [FIELD=VALUE]: one batch of N hits into STREAM's new/,
# each line with FIELD set to the JSON VALUE when given.
batch() {
    mkdir -p "$T/spool/$1/new"
    python3 "$MKBATCH" "$T/spool/$1/new" --batches 1 --hits "$2" \
        --ids-out "$T/ids.$1" >/dev/null
    [ $# -lt 3 ] && return 0
    python3 - "$T/spool/$1/new" "$3" <<'PY'
import json, os, sys
d, (k, v) = sys.argv[1], sys.argv[2].split("=", 1)
for n in os.listdir(d):
    if n.startswith("."):
        continue
    p = os.path.join(d, n)
    rows = [dict(json.loads(l), **{k: json.loads(v)}) for l in open(p)]
    with open(p, "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
PY
}
# table_get TABLE: tables.get of P.D.T, the JSON on stdout.
table_get() {
    local p d t
    IFS=. read -r p d t <<<"$1"
    bq_get "/bigquery/v2/projects/$p/datasets/$d/tables/$t"
}
# schema TABLE: its column names, space-separated.
schema() {
    table_get "$1" | python3 -c '
import json, sys
print(" ".join(f["name"] for f in json.load(sys.stdin)["schema"]["fields"]))'
}
# methods TABLE: the method cell of each row, in load order ("None": NULL).
methods() {
    fake_rows "$1" | python3 -c '
import json, sys
print(" ".join(str(json.loads(l).get("method")) for l in sys.stdin))'
}

# --- the table exists, then a column is added -----------------------------
conf
batch crm 2
upload -s crm
is "$RC" 0 "the first load creates the table"
is "$(schema "$TABLE")" "hit_id payload received_at date" "with the 4 columns"

conf "columns = method"
batch crm 3 method='"POST"'
upload -s crm
is "$RC" 0 "a column added to the stream: the load succeeds"
is "$(count_files "$T/spool/crm/failed")" 0 "no batch went to failed/"
is "$(schema "$TABLE")" "hit_id payload received_at date method" \
    "the table gained the column"
is "$(methods "$TABLE")" "None None POST POST POST" \
    "the new rows have it, the old ones NULL"

# --- the column is dropped from the config --------------------------------
conf
batch crm 2
upload -s crm
is "$RC" 0 "a column dropped from the stream: the load succeeds"
is "$(count_files "$T/spool/crm/failed")" 0 "no batch went to failed/"
is "$(schema "$TABLE")" "hit_id payload received_at date method" \
    "the table keeps the column"
is "$(methods "$TABLE")" "None None POST POST POST None None" \
    "the new rows are NULL there"

# --- table options on creation ---------------------------------------------
# opts_conf DESCRIPTION: crm, then stream opts with every table option.
opts_conf() {
    conf
    cat >>"$T/hs.conf" <<CONF

[stream opts]
id = $OPT_ID
table = $OPT_TABLE
columns = method params delivery_id
partition_expiration = 90d
require_partition_filter = yes
clustering = date method
table_description = $1
CONF
}
opts_conf "CRM order webhooks"
"$HS_CTL" -c "$T/hs.conf" config >"$T/config.out" 2>&1
check "hookspoolctl config shows the options" grep -q \
    "^clustering = date method" "$T/config.out"
batch opts 3 params='{"status":"paid","total":"12.50"}'
upload -s opts
is "$RC" 0 "a stream with table options loads"
table_get "$OPT_TABLE" >"$T/opts.json"
python3 - "$T/opts.json" <<'PY' && ok "the table has them" || not_ok "the table has them"
import json, sys
t = json.load(open(sys.argv[1]))
want = {"expirationMs": str(90 * 86400 * 1000), "requirePartitionFilter": True,
        "clustering": {"fields": ["date", "method"]},
        "description": "CRM order webhooks"}
got = {"expirationMs": t.get("timePartitioning", {}).get("expirationMs"),
       "requirePartitionFilter": t.get("requirePartitionFilter"),
       "clustering": t.get("clustering"), "description": t.get("description")}
print("# got %s" % json.dumps(got))
sys.exit(got != want)
PY
# Options only shape a table hookspool creates: changed later, they are
# not sent to the existing table (BigQuery would refuse another
# description or clustering).
opts_conf "another description"
sed -i 's/^clustering = .*/clustering = method/' "$T/hs.conf"
batch opts 1
upload -s opts
is "$RC" 0 "changed options, table exists: the load still succeeds"
is "$(table_get "$OPT_TABLE" | python3 -c '
import json, sys; print(json.load(sys.stdin).get("description"))')" \
    "CRM order webhooks" "the table keeps its description"

# --- what conf_load refuses -------------------------------------------------
# bad_conf WHAT LINE...: crm with these lines is refused, naming WHAT.
bad_conf() {
    local what=$1
    shift
    conf "$@"
    "$HS_CTL" -c "$T/hs.conf" config >"$T/bad.out" 2>&1
    local rc=$?
    if [ "$rc" = 78 ] && grep -q -- "$what" "$T/bad.out"; then
        ok "refused: $*"
    else
        not_ok "refused: $* (exit $rc)"
        sed 's/^/#   /' "$T/bad.out"
    fi
}
bad_conf "clustering: 'method' is not a column" "clustering = method"
bad_conf "at most 4" "columns = method query user_agent" \
    "clustering = date method query user_agent hit_id"
bad_conf "clustering: 'params' is a JSON column" "columns = params" \
    "clustering = params"
bad_conf "clustering: 'date' named twice" "clustering = date date"
bad_conf "partition_expiration" "partition_expiration = soon"

# --- the documented SQL names only columns the table has --------------------
# Convention of the examples: keywords and functions in capitals, columns
# in lower case, aliases after AS, tables in backquotes, strings quoted.
table_get "$OPT_TABLE" >"$T/opts.json"
python3 - "$T/opts.json" "$top_srcdir/README" \
    "$top_srcdir/man/hookspool.conf.5.in" <<'PY'
import json, re, sys
cols = {f["name"] for f in json.load(open(sys.argv[1]))["schema"]["fields"]}
bad = 0
for path in sys.argv[2:]:
    text = open(path).read()
    # Statements: from a SELECT to the next ';'.
    sqls = re.findall(r"^[ \t]*SELECT\b.*?;", text, re.S | re.M)
    if not sqls:
        print("not ok - %s shows no SQL" % path)
        bad += 1
        continue
    used = set()
    for sql in sqls:
        sql = re.sub(r"^\.\S.*$", "", sql, flags=re.M)   # mdoc requests
        sql = sql.replace("\\e", "\\").replace("\\(aq", "'")
        sql = re.sub(r"(?:\b[rRbB])?'(?:[^'\\]|\\.)*'|`[^`]*`|--[^\n]*",
                     " ", sql)
        aliases = set(re.findall(r"\bAS\s+([a-z_][a-z0-9_]*)", sql))
        for w in re.findall(r"\b[a-z_][a-z0-9_]*\b", sql):
            if w not in aliases:
                used.add(w)
    unknown = sorted(used - cols)
    print("# %s: %d statements, columns %s" % (path, len(sqls),
                                                " ".join(sorted(used))))
    for need in ("payload", "params"):
        if need not in used:
            print("not ok - %s: no example reads %s" % (path, need))
            bad += 1
    if unknown:
        print("not ok - %s: the SQL names %s, not columns of the table" %
              (path, ", ".join(unknown)))
        bad += 1
sys.exit(1 if bad else 0)
PY
check "the SQL of README and hookspool.conf(5) names only the table's columns" \
    test $? = 0

finish
