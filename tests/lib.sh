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
HS_FAILED=0
HS_CHECKS=0

hs_cleanup() {
    local p m
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
# contrib/lighttpd/hookspool.conf, only its paths substituted.
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
