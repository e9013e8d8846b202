# tests/lib.sh: shared helpers for the system tests (bash).
#
# A test sources this file, uses $T (a private temporary folder removed at
# exit unless KEEP=1), starts real servers on free loopback ports, and ends
# with `finish`, which exits 0, 1 when any check failed, or 77 via skip().

set -u
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
HS_FCGI=$top_builddir/src/hookspool-fcgi
HS_UPLOAD=$top_builddir/src/hookspool-upload
HS_CTL=$top_builddir/src/hookspoolctl
TOOLS=$top_srcdir/tests/tools
FAKE_BQ=$top_srcdir/tests/fake-bigquery
T=$(mktemp -d /tmp/hs-test.XXXXXX)
chmod 755 "$T"
HS_PIDS=()
HS_MOUNTS=()
HS_SHELL=$BASHPID
HS_FAILED=0
HS_CHECKS=0

hs_cleanup() {
    local p m
    # A background job killed before it execs runs this trap too, in the
    # forked shell: only the test's own shell cleans up.
    [ "$BASHPID" = "$HS_SHELL" ] || return 0
    # A script under `set -e` (the demo) must not stop here at the first
    # server that already exited: the exit status is the script's own.
    set +e
    for p in "${HS_PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${HS_PIDS[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.2
        done
        kill -9 "$p" 2>/dev/null
    done
    for m in "${HS_MOUNTS[@]}"; do
        umount "$m" 2>/dev/null
    done
    if [ "${KEEP:-0}" = 1 ]; then
        echo "# kept $T"
    else
        rm -rf "$T"
    fi
}
trap hs_cleanup EXIT

skip() { echo "SKIP: $*"; exit 77; }
ok() { HS_CHECKS=$((HS_CHECKS + 1)); echo "ok - $*"; }
not_ok() { HS_CHECKS=$((HS_CHECKS + 1)); HS_FAILED=$((HS_FAILED + 1)); echo "not ok - $*"; }
# check DESCRIPTION COMMAND...: one check, passing when COMMAND succeeds.
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}
# is GOT WANT DESCRIPTION
is() {
    if [ "$1" = "$2" ]; then ok "$3"; else not_ok "$3 (got '$1', want '$2')"; fi
}
finish() {
    echo "# $HS_CHECKS checks, $HS_FAILED failed"
    [ "$HS_CHECKS" -gt 0 ] || { echo "no checks ran"; exit 1; }
    [ "$HS_FAILED" -eq 0 ] || exit 1
    exit 0
}
need() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || skip "$c is not installed"
    done
}
need_file() {
    [ -e "$1" ] || skip "$1 is missing (not built?)"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT [SECONDS]
wait_port() {
    local i
    for i in $(seq 1 $((${2:-10} * 10))); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "# port $1 did not open"
    return 1
}

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
    local n=$(($1 * 10))
    shift
    while [ "$n" -gt 0 ]; do
        "$@" 2>/dev/null && return 0
        sleep 0.1
        n=$((n - 1))
    done
    return 1
}

# proc_gone PID: PID has exited (a zombie counts as gone).
proc_gone() {
    ! kill -0 "$1" 2>/dev/null || grep -qs '^State:.*Z' "/proc/$1/status"
}

# proc_threads PID: where each thread of PID waits, as comments (for a
# process that does not exit): its syscall, and its stack when gdb is here.
proc_threads() {
    local t
    for t in /proc/"$1"/task/*; do
        echo "# thread ${t##*/}: $(cat "$t/comm" 2>/dev/null)" \
            "wchan=$(cat "$t/wchan" 2>/dev/null)" \
            "syscall=$(cut -d' ' -f1 "$t/syscall" 2>/dev/null)"
    done
    command -v gdb >/dev/null 2>&1 &&
        gdb -p "$1" -batch -ex 'thread apply all bt' 2>/dev/null |
        grep -E '^(Thread|#)' | sed 's/^/# /'
}

# hs_conf FILE STREAM_ID [extra global lines] : a hookspool.conf with one
# stream "crm" at $T/spool (more streams: append to the file).
hs_conf() {
    local f=$1 id=$2
    shift 2
    {
        echo "spool_dir = $T/spool"
        echo "batch_max_age = 2s"
        echo "threads = 4"
        for l in "$@"; do echo "$l"; done
        echo
        echo "[stream crm]"
        echo "id = $id"
        echo "table = test-project.crm.hits"
    } >"$f"
    chmod 600 "$f"
}

# start_lighttpd HSCONF PORT: lighttpd on 127.0.0.1:PORT serving /ds/ with
# contrib/lighttpd/hookspool.conf, only its paths substituted ($LIGHTTPD_EXTRA:
# more lines for lighttpd.conf, e.g. server.username).
start_lighttpd() {
    local hsconf=$1 port=$2 d=$T/lighttpd
    need lighttpd
    mkdir -p "$d/run" "$d/www"
    sed -e "s|/run/lighttpd/hookspool-fcgi.socket|$d/run/hookspool-fcgi.socket|" \
        -e "s|/usr/local/sbin/hookspool-fcgi|$HS_FCGI|" \
        -e "s|/usr/local/etc/hookspool.conf|$hsconf|" \
        "$top_srcdir/contrib/lighttpd/hookspool.conf" >"$d/hookspool.conf"
    cat >"$d/lighttpd.conf" <<CONF
server.document-root = "$d/www"
server.bind = "127.0.0.1"
server.port = $port
server.pid-file = "$d/lighttpd.pid"
server.errorlog = "$d/error.log"
include "$d/hookspool.conf"
${LIGHTTPD_EXTRA:-}
CONF
    lighttpd -D -f "$d/lighttpd.conf" &
    HS_PIDS+=($!)
    LIGHTTPD_PID=$!
    wait_port "$port"
}

# stop_lighttpd: SIGTERM lighttpd, which SIGTERMs its responders; wait
# until the responders it started have exited too.
stop_lighttpd() {
    kill "$LIGHTTPD_PID" 2>/dev/null
    wait "$LIGHTTPD_PID" 2>/dev/null
    wait_for 20 no_responders "$T/lighttpd/run/hookspool-fcgi.socket"
    return 0
}

# no_responders SOCKET: no hookspool-fcgi process has that socket open.
no_responders() {
    ! pgrep -f "$HS_FCGI" >/dev/null 2>&1 || {
        local p
        for p in $(pgrep -f "$HS_FCGI"); do
            grep -qs "$T" "/proc/$p/cmdline" && return 1
        done
        return 0
    }
}

# spool_lines STATE: every line of every batch of the crm stream in STATE
spool_lines() {
    find "$T/spool/crm/$1" -maxdepth 1 -type f -name '*.ndjson' -exec cat {} + 2>/dev/null
}

# stream_lines STREAM: how many hits the stream holds in any state. A
# batch sealed while find walks the tree (tmp/ -> new/) can be seen twice
# or not at all, so count distinct lines and read until two counts agree.
stream_lines() {
    local a b i=0
    a=$(_stream_lines "$1")
    while [ $i -lt 50 ]; do
        b=$(_stream_lines "$1")
        [ "$a" = "$b" ] && break
        a=$b
        i=$((i + 1))
        sleep 0.1
    done
    printf '%s\n' "$a"
}
_stream_lines() {
    # (sed: an open batch ends in spaces under sync = always; cat puts
    # them before the next file's first line, or they end the stream as a
    # line of their own that sort would end with a newline.)
    find "$T/spool/$1" -type f ! -name '.*' ! -name '*.err' \
        -exec cat {} + 2>/dev/null | sed -e 's/^ *{/{/' -e '/^ *$/d' |
        sort -u | wc -l
}

# find_hit ID: the spool line (any state) holding hit_id ID, as JSON.
find_hit() {
    python3 - "$T/spool" "$1" <<'PY'
import json, os, sys
root, want = sys.argv[1], sys.argv[2]
for d, _, names in os.walk(root):
    for n in names:
        if n.startswith(".") or n.endswith(".err"):
            continue
        with open(os.path.join(d, n), "rb") as f:
            for line in f:
                if want.encode() in line:
                    print(line.decode("utf-8").rstrip("\n"))
                    sys.exit(0)
sys.exit(1)
PY
}

# post_hit ARGS...: curl ARGS, print the hit_id of a 2xx JSON answer.
post_hit() {
    curl -s -f "$@" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hit_id"])'
}

# jfield JSON FIELD: a field of a JSON object, JSON-encoded.
jfield() {
    python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1]).get(sys.argv[2]), ensure_ascii=False))' "$1" "$2"
}

# ---- many streams behind one lighttpd (bash: SID is an associative array) ----

# stream_ids PREFIX NAME...: SID[NAME] for each NAME, PREFIX and a 12-digit
# number (PREFIX: the first four groups of a UUID).
stream_ids() {
    local prefix=$1 name n=0
    shift
    declare -gA SID
    for name in "$@"; do
        n=$((n + 1))
        SID[$name]=$(printf '%s-%012d' "$prefix" "$n")
    done
}

# add_stream NAME KEY=VALUE...: one more [stream NAME] section of
# $T/hs.conf, with id SID[NAME] and a table in the dataset $DATASET.
add_stream() {
    local name=$1 kv
    shift
    {
        echo
        echo "[stream $name]"
        echo "id = ${SID[$name]}"
        echo "table = test-project.$DATASET.${name//-/_}"
        for kv in "$@"; do echo "$kv"; done
    } >>"$T/hs.conf"
}

# serve_streams: lighttpd on a free port in front of $T/hs.conf; sets PORT
# and BASE (its /ds/).  The test ends here when lighttpd does not start.
serve_streams() {
    PORT=$(free_port)
    start_lighttpd "$T/hs.conf" "$PORT" || {
        not_ok "lighttpd starts"
        sed 's/^/# /' "$T/lighttpd/error.log" 2>/dev/null
        finish
    }
    BASE=http://127.0.0.1:$PORT/ds
}

# url NAME: the URL of stream NAME.
url() { echo "$BASE/${SID[$1]}"; }

# req URL CURLARGS...: CODE, the body in $T/resp, headers in $T/hdr.
req() {
    local u=$1
    shift
    CODE=$(curl -s -o "$T/resp" -D "$T/hdr" -w '%{http_code}' "$@" "$u")
}

# hdr NAME: a header of the last answer (first match, no CR).
hdr() {
    tr -d '\r' <"$T/hdr" | awk -v n="$1" 'BEGIN { n = tolower(n) ": " }
        index(tolower($0), n) == 1 { print substr($0, length(n) + 1); exit }'
}

# resp_hit: the hit_id of the last answer ($T/resp), if it has one.  (sed
# and grep, not python: python3 is slow to start on a loaded host, and the
# tests using these send hundreds of requests.)
resp_hit() {
    sed -n 's/^{"hit_id":"\([0-9a-f-]*\)"}$/\1/p' "$T/resp"
}

# find_line STRING: the spool line (any stream, any state) holding STRING.
find_line() {
    local l
    l=$(grep -rhF --exclude='.*' --exclude='*.err' -e "${1:-<none>}" \
        "$T/spool" | head -n 1)
    [ -n "$l" ] && printf '%s\n' "$l"
}

# ---- uploader helpers ----
# The fake BigQuery (tests/fake-bigquery) and hookspool-upload configs.

# start_fake_bq [FAKE ARGS...]: a fresh service-account key in $T/key and
# fake_bigquery.py on a free loopback port (extra args: --polls-to-done N,
# --faults JSON, ...).  Sets FAKE_API (base URL), FAKE_PID, FAKE_KEY (the
# key.json, whose token_uri points at the fake).  Log: $T/fake.log.
start_fake_bq() {
    need python3 openssl curl
    need_file "$FAKE_BQ/fake_bigquery.py"
    sh "$FAKE_BQ/make-key.sh" "$T/key" http://127.0.0.1:1/token >/dev/null ||
        return 1
    rm -f "$T/fake.port"
    python3 "$FAKE_BQ/fake_bigquery.py" --listen 127.0.0.1:0 \
        --port-file "$T/fake.port" --public-key "$T/key/sa.pub" --quiet \
        "$@" 2>>"$T/fake.log" &
    FAKE_PID=$!
    HS_PIDS+=($!)
    wait_for 15 test -s "$T/fake.port" || return 1
    FAKE_API=http://127.0.0.1:$(cat "$T/fake.port")
    sh "$FAKE_BQ/make-key.sh" "$T/key" "$FAKE_API/token" >/dev/null ||
        return 1
    FAKE_KEY=$T/key/key.json
    wait_for 10 curl -s -f -o /dev/null "$FAKE_API/_fake/state"
}

# fake_faults 'F, F, ...': replace the fake's fault list (empty: none).
fake_faults() {
    curl -s -f -o /dev/null -X POST "$FAKE_API/_fake/faults" \
        --data-binary "{\"faults\":[$1]}" || {
        echo "# the fake refused the faults: $1"
        return 1
    }
}

# fake_reset: forget the fake's jobs, tables, counters and faults.
fake_reset() {
    curl -s -f -o /dev/null -X POST "$FAKE_API/_fake/reset"
}

# fake_state [PYTHON EXPR]: GET /_fake/state as JSON, or EXPR evaluated
# with s = that state (e.g. 's["counters"]["jwt_verified"]').
fake_state() {
    curl -s -f "$FAKE_API/_fake/state" | python3 -c '
import json, sys
s = json.load(sys.stdin)
if len(sys.argv) > 1:
    v = eval(sys.argv[1])
    print(v if isinstance(v, (str, int, float)) else json.dumps(v))
else:
    print(json.dumps(s))' "$@"
}

# fake_fired: how many times the current faults fired, in total.
fake_fired() {
    curl -s -f "$FAKE_API/_fake/faults" | python3 -c '
import json, sys
print(sum(f["fired"] for f in json.load(sys.stdin)["faults"]))'
}

# fake_rows TABLE: the table's rows, one JSON object a line (nothing when
# the table does not exist).
fake_rows() {
    curl -s -f "$FAKE_API/_fake/rows?table=$1" 2>/dev/null || true
}

# up_conf FILE STREAM_ID [extra global lines]: hs_conf plus the uploader's
# keys for the fake (credentials, project, api_base).
up_conf() {
    local f=$1 id=$2
    shift 2
    hs_conf "$f" "$id" "credentials = $FAKE_KEY" "project = test-project" \
        "api_base = $FAKE_API" "$@"
}

# acked_ids LOADOUT: the hit_ids load.py saw answered 2xx, one a line.
acked_ids() {
    python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if 200 <= r["status"] < 300 and r.get("hit_id"):
        print(r["hit_id"])' "$1"
}

# spool_ids PATH...: the hit_ids of every line of the batch files PATH or
# of the batches under the folders PATH (recursively; hidden, JOB and .err
# files skipped), one a line.
spool_ids() {
    python3 - "$@" <<'PY'
import json, os, sys
def batch(path):
    with open(path, "rb") as f:
        for line in f:
            try:
                print(json.loads(line)["hit_id"])
            except (ValueError, KeyError, TypeError):
                pass
for top in sys.argv[1:]:
    if os.path.isfile(top):
        batch(top)
    for d, _, names in os.walk(top):
        for n in sorted(names):
            if n.startswith(".") or n.endswith(".err") or n == "JOB":
                continue
            batch(os.path.join(d, n))
PY
}

# rows_vs_ids TABLE IDFILE: compare the table's hit_ids with the ids in
# IDFILE (one a line).  Prints "rows=R want=W missing=M extra=E dup=D"
# and succeeds when every wanted id is there exactly once and no other.
rows_vs_ids() {
    fake_rows "$1" >"$T/.rows.$$"
    python3 - "$T/.rows.$$" "$2" <<'PY'
import collections, json, sys
rows = [json.loads(l)["hit_id"] for l in open(sys.argv[1]) if l.strip()]
want = set(l.strip() for l in open(sys.argv[2]) if l.strip())
c = collections.Counter(rows)
missing = want - set(c)
extra = set(c) - want
dup = [k for k, v in c.items() if v > 1]
print("rows=%d want=%d missing=%d extra=%d dup=%d" % (
    len(rows), len(want), len(missing), len(extra), len(dup)))
sys.exit(0 if not missing and not extra and not dup else 1)
PY
}

# count_files DIR: regular files in DIR (not hidden), 0 when it is absent.
count_files() {
    find "$1" -maxdepth 1 -type f ! -name '.*' 2>/dev/null | wc -l
}

# responder_pids: the hookspool-fcgi processes of this test.
responder_pids() {
    local p
    for p in $(pgrep -f "$HS_FCGI" 2>/dev/null); do
        grep -qs "$T" "/proc/$p/cmdline" && echo "$p"
    done
}

# seal_responders STREAM: SIGUSR1 to this test's responders, then wait
# until STREAM's tmp/ holds no batch (all sealed into new/).
seal_responders() {
    local p
    for p in $(responder_pids); do
        kill -USR1 "$p" 2>/dev/null
    done
    wait_for 10 no_open_batch "$1"
}

# no_open_batch STREAM: STREAM's tmp/ holds no batch.
no_open_batch() {
    [ "$(count_files "$T/spool/$1/tmp")" -eq 0 ]
}

# bq_get PATH: an authorised GET of the fake's BigQuery API (a token from
# its metadata endpoint), the JSON answer on stdout.
bq_get() {
    local tok
    tok=$(curl -s -f -H 'Metadata-Flavor: Google' \
        "$FAKE_API/computeMetadata/v1/instance/service-accounts/default/token" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') ||
        return 1
    curl -s -f -H "Authorization: Bearer $tok" "$FAKE_API$1"
}
