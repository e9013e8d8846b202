# tests/deploy/lib.sh: helpers for the deployment tests (bash, sourced
# after tests/lib.sh).  Each runs a file of contrib/ with only its install
# paths turned into the test's own (deploy_subst), under a private server on
# a loopback port, as the same users a real install uses (www-data).  What
# www-data runs or reads lives in the test's $T, wherever the clone is.

APACHE_MODDIR=${APACHE_MODDIR:-/usr/lib/apache2/modules}
HS_CONF=$T/hs.conf

# deploy_subst FILE: FILE with every install path of contrib/ replaced.
deploy_subst() {
    sed -e "s|/usr/local/sbin/hookspool-fcgi|$HS_FCGI|g" \
        -e "s|/usr/local/sbin/hookspool-upload|$HS_UPLOAD|g" \
        -e "s|/usr/local/sbin/hookspoolctl|$HS_CTL|g" \
        -e "s|/usr/local/etc/hookspool.conf|$HS_CONF|g" \
        -e "s|/usr/local/var/spool/hookspool|$T/spool|g" \
        -e "s|/run/hookspool/|$T/run/|g" \
        "$1"
}

# deploy_copy FILE DEST: deploy_subst FILE into DEST; fails, naming them,
# when install paths this test does not know are left (the test would use
# the host's).
deploy_copy() {
    deploy_subst "$1" >"$2" || return 1
    # (Comments do not count, nor a cron PATH=, a search list.)
    if grep -nE '(^|[^[:alnum:]_.-])/(usr/local|run|var/spool)/' "$2" |
        grep -vE '^[0-9]+:[[:space:]]*(#|PATH=)' >"$2.left"; then
        sed "s|^|# ${1##*/}: unsubstituted path: |" "$2.left"
        return 1
    fi
    rm -f "$2.left"
}

# need_www: root, to run the servers' children as www-data (the user every
# example runs as), and the programs staged where www-data can run them.
need_www() {
    [ "$(id -u)" = 0 ] || skip "needs root (servers run their children as www-data)"
    id www-data >/dev/null 2>&1 || skip "no www-data user"
    need runuser
    www_stage_programs
    [ ! -e "$HS_FCGI" ] || runuser -u www-data -- test -x "$HS_FCGI" ||
        skip "www-data cannot run $HS_FCGI (is $T on a noexec filesystem?)"
}

# www_stage FILE [MODE]: copy FILE into $T/stage/ (mode MODE, default 644)
# and print the copy's path.  A clone may sit where www-data cannot enter
# (root's home is mode 700 on Debian, so is a `mktemp -d` folder), while $T
# is searchable by all: whatever www-data must run or read is staged there.
www_stage() {
    mkdir -p "$T/stage"
    chmod 755 "$T/stage"
    install -m "${2:-644}" "$1" "$T/stage/${1##*/}" || return 1
    echo "$T/stage/${1##*/}"
}

# www_stage_programs: HS_FCGI, HS_UPLOAD and HS_CTL (those built) become
# copies in $T/stage/ (an ASan build's program too: its runtime is a shared
# library of the system, not of the build tree), so the servers, the cron
# job and runuser run these.
www_stage_programs() {
    [ ! -e "$HS_FCGI" ] || HS_FCGI=$(www_stage "$HS_FCGI" 755) ||
        skip "cannot copy $HS_FCGI into $T/stage"
    [ ! -e "$HS_UPLOAD" ] || HS_UPLOAD=$(www_stage "$HS_UPLOAD" 755) ||
        skip "cannot copy $HS_UPLOAD into $T/stage"
    [ ! -e "$HS_CTL" ] || HS_CTL=$(www_stage "$HS_CTL" 755) ||
        skip "cannot copy $HS_CTL into $T/stage"
}

# deploy_conf STREAM_ID BATCH_MAX_AGE [global lines...]: $HS_CONF with one
# stream "crm" at $T/spool that requires the token s3cret, readable by
# www-data only (a config holding a secret must not be readable by
# others), and the spool owned by www-data as on a real install.
deploy_conf() {
    local id=$1 age=$2
    shift 2
    {
        echo "spool_dir = $T/spool"
        echo "batch_max_age = $age"
        echo "threads = 4"
        for l in "$@"; do echo "$l"; done
    } >"$HS_CONF"
    cat >>"$HS_CONF" <<CONF

[stream crm]
id = $id
table = test-project.crm.hits
token = s3cret
CONF
    chgrp www-data "$HS_CONF"
    chmod 640 "$HS_CONF"
    mkdir -p "$T/spool" "$T/run"
    chown www-data:www-data "$T/spool"
}

# deploy_responder_pids: the hookspool-fcgi processes of this test (by their
# arguments or, under mod_fcgid, by their environment).
deploy_responder_pids() {
    local p
    for p in $(pgrep -f "$HS_FCGI"); do
        grep -qsF "$T/" "/proc/$p/cmdline" "/proc/$p/environ" && echo "$p"
    done
    return 0
}
no_deploy_responders() { [ -z "$(deploy_responder_pids)" ]; }

# tmp_batches: how many open (or orphaned) batches tmp/ holds.
tmp_batches() {
    find "$T/spool/crm/tmp" -maxdepth 1 -type f -name '*.ndjson' 2>/dev/null | wc -l
}

# --- Apache -------------------------------------------------------------

# apache_need MODULE...: skip unless apache2 and these modules are there.
apache_need() {
    local m
    need apache2
    need_www
    for m in "$@"; do
        [ -f "$APACHE_MODDIR/mod_$m.so" ] && continue
        case $m in
        fcgid) skip "$APACHE_MODDIR/mod_$m.so is missing (Debian package libapache2-mod-fcgid)" ;;
        *) skip "$APACHE_MODDIR/mod_$m.so is missing (Debian package apache2)" ;;
        esac
    done
}

# apache_start CONTRIB PORT MODULE...: Apache in the foreground on
# 127.0.0.1:PORT with its own ServerRoot, pid file, logs and runtime dir
# under $T/apache, loading mod_NAME for each MODULE, then including
# contrib/apache/CONTRIB (paths substituted) and $T/apache/test.conf
# (test-only settings, if the test wrote any).  Children run as www-data,
# as on Debian.  Sets APACHE_PID.
apache_start() {
    local contrib=$1 port=$2 d=$T/apache m
    shift 2
    mkdir -p "$d/run" "$d/www" "$d/fcgid"
    chown www-data:www-data "$d/fcgid"
    touch "$d/test.conf"
    deploy_copy "$top_srcdir/contrib/apache/$contrib" "$d/hookspool.conf" ||
        return 1
    {
        echo "ServerRoot \"$d\""
        echo "ServerName 127.0.0.1"
        echo "Listen 127.0.0.1:$port"
        echo "PidFile \"$d/run/apache2.pid\""
        echo "DefaultRuntimeDir \"$d/run\""
        echo "Mutex file:$d/run default"
        echo "ErrorLog \"$d/error.log\""
        echo "LogLevel info"
        echo "User www-data"
        echo "Group www-data"
        echo "LoadModule mpm_event_module $APACHE_MODDIR/mod_mpm_event.so"
        echo "LoadModule authz_core_module $APACHE_MODDIR/mod_authz_core.so"
        for m in "$@"; do
            echo "LoadModule ${m}_module $APACHE_MODDIR/mod_$m.so"
        done
        # A packaged Apache keeps these under /var; a private one must not.
        case " $* " in
        *" fcgid "*)
            echo "FcgidIPCDir \"$d/fcgid\""
            echo "FcgidProcessTableFile \"$d/fcgid/shm\""
            ;;
        esac
        echo "DocumentRoot \"$d/www\""
        echo "<Directory />"
        echo "    AllowOverride None"
        echo "    Require all denied"
        echo "</Directory>"
        # CGI variables (PATH_TRANSLATED) look the path info up here.
        echo "<Directory \"$d/www\">"
        echo "    Require all granted"
        echo "</Directory>"
        echo "Include \"$d/hookspool.conf\""
        echo "Include \"$d/test.conf\""
    } >"$d/apache2.conf"
    APACHE_RUN_DIR=$d/run APACHE_LOCK_DIR=$d/run APACHE_LOG_DIR=$d \
        apache2 -f "$d/apache2.conf" -DFOREGROUND &
    APACHE_PID=$!
    HS_PIDS+=("$APACHE_PID")
    wait_port "$port" || {
        tail -20 "$d/error.log" 2>/dev/null | sed 's/^/# /'
        return 1
    }
}

# apache_stop: SIGTERM Apache, which stops its children and, under
# mod_fcgid, SIGTERMs the responders it started; wait for all of them.
apache_stop() {
    kill "$APACHE_PID" 2>/dev/null
    wait "$APACHE_PID" 2>/dev/null
    wait_for 20 no_deploy_responders
    return 0
}

# --- systemd units, run by spawn-fcgi ----------------------------------

# units_copy: $T/units/ holds contrib/systemd/* with the paths substituted.
units_copy() {
    local f
    mkdir -p "$T/units"
    for f in "$top_srcdir"/contrib/systemd/hookspool-*; do
        deploy_copy "$f" "$T/units/${f##*/}" || return 1
    done
}

# unit_key UNIT KEY: the last value of KEY= in $T/units/UNIT.
unit_key() {
    sed -n "s/^$2=//p" "$T/units/$1" | tail -1
}

# units_verify UNIT...: systemd-analyze verify on the substituted copies;
# prints its complaints and fails when it has any.
units_verify() {
    local u out rc=0 args=()
    for u in "$@"; do args+=("$T/units/$u"); done
    out=$(cd "$T/units" && SYSTEMD_LOG_LEVEL=warning \
        systemd-analyze verify --man=no "${args[@]}" 2>&1) || rc=1
    [ -n "$out" ] && { printf '%s\n' "$out" | sed 's/^/# /'; rc=1; }
    return $rc
}

# units_spawn: start the responder the way hookspool-fcgi.socket and
# hookspool-fcgi.service do: the socket of ListenStream= with its owner and
# mode, handed as standard input (StandardInput=socket) to the ExecStart=
# command running as User=/Group=.  spawn-fcgi -n does exactly that, then
# execs the command, so RESPONDER_PID is the responder.
units_spawn() {
    local sock mode suser sgroup user group cmd
    sock=$(unit_key hookspool-fcgi.socket ListenStream)
    mode=$(unit_key hookspool-fcgi.socket SocketMode)
    suser=$(unit_key hookspool-fcgi.socket SocketUser)
    sgroup=$(unit_key hookspool-fcgi.socket SocketGroup)
    user=$(unit_key hookspool-fcgi.service User)
    group=$(unit_key hookspool-fcgi.service Group)
    cmd=$(unit_key hookspool-fcgi.service ExecStart)
    if [ "$(unit_key hookspool-fcgi.service StandardInput)" != socket ]; then
        echo "# hookspool-fcgi.service does not pass the socket on fd 0"
        return 1
    fi
    mkdir -p "$(dirname "$sock")"
    # shellcheck disable=SC2086 # ExecStart= is split into words like this
    spawn-fcgi -n -s "$sock" -M "$mode" -U "$suser" -G "$sgroup" \
        -u "$user" -g "$group" -- $cmd 2>>"$T/responder.log" &
    RESPONDER_PID=$!
    HS_PIDS+=("$RESPONDER_PID")
    wait_for 10 test -S "$sock"
}

# units_stop: what systemctl stop does to the service: KillSignal=, up to
# TimeoutStopSec= (capped at 10 s here) for the responder to exit, then
# SIGKILL.  Fails when it took the SIGKILL.
units_stop() {
    local sig secs rc=0
    sig=$(unit_key hookspool-fcgi.service KillSignal)
    secs=$(unit_key hookspool-fcgi.service TimeoutStopSec)
    secs=${secs%s}
    [ "${secs:-10}" -le 10 ] 2>/dev/null || secs=10
    kill -s "${sig#SIG}" "$RESPONDER_PID" 2>/dev/null
    if ! wait_for "${secs:-10}" proc_gone "$RESPONDER_PID"; then
        echo "# the responder ignored ${sig:-SIGTERM} for ${secs:-10} s: SIGKILL"
        proc_threads "$RESPONDER_PID"
        kill -9 "$RESPONDER_PID" 2>/dev/null
        rc=1
    fi
    wait "$RESPONDER_PID" 2>/dev/null
    return $rc
}

# --- nginx --------------------------------------------------------------

# nginx_start PORT [CONTRIB [HTTP_CONTRIB]]: nginx in the foreground on
# 127.0.0.1:PORT with its own prefix, pid file, logs and temporary dirs
# under $T/nginx, its workers as www-data, the server block including
# contrib/nginx/CONTRIB (hookspool.conf; paths substituted) and the http
# block contrib/nginx/HTTP_CONTRIB, if given.  The packaged fastcgi_params sits beside the config, where
# the relative include finds it, as it does in /etc/nginx.  Sets NGINX_PID.
nginx_start() {
    local port=$1 d=$T/nginx
    mkdir -p "$d/www" "$d/tmp"
    : >"$d/http.conf"
    if [ -n "${3:-}" ]; then
        deploy_copy "$top_srcdir/contrib/nginx/$3" "$d/http.conf" || return 1
    fi
    cp "${NGINX_FASTCGI_PARAMS:-/etc/nginx/fastcgi_params}" "$d/fastcgi_params" ||
        return 1
    deploy_copy "$top_srcdir/contrib/nginx/${2:-hookspool.conf}" "$d/hookspool.conf" ||
        return 1
    cat >"$d/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 2;
user www-data www-data;
pid $d/nginx.pid;
error_log $d/error.log info;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path $d/tmp/body;
    fastcgi_temp_path $d/tmp/fastcgi;
    proxy_temp_path $d/tmp/proxy;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    include $d/http.conf;
    server {
        listen 127.0.0.1:$port;
        root $d/www;
        include $d/hookspool.conf;
    }
}
CONF
    nginx -p "$d/" -c "$d/nginx.conf" -e "$d/error.log" &
    NGINX_PID=$!
    HS_PIDS+=("$NGINX_PID")
    wait_port "$port" || {
        tail -20 "$d/error.log" 2>/dev/null | sed 's/^/# /'
        return 1
    }
}

# nginx_stop: graceful stop (SIGQUIT), waiting for it.
nginx_stop() {
    kill -QUIT "$NGINX_PID" 2>/dev/null
    wait_for 10 proc_gone "$NGINX_PID"
    wait "$NGINX_PID" 2>/dev/null
    return 0
}

# --- cron ---------------------------------------------------------------

# cron_run FILE: run each job of the /etc/cron.d file FILE (paths
# substituted) once, as cron would: as its user, through its SHELL with
# the file's variables and nothing else.  Checks each schedule is "every
# minute".  Output in $T/cron.out, exit status of the last job in CRON_RC.
cron_run() {
    local line m h dom mon dow sched user cmd vars=() n=0 shell=/bin/sh
    deploy_copy "$1" "$T/cron.d" || { not_ok "cron file paths"; return 1; }
    : >"$T/cron.out"
    CRON_RC=
    while IFS= read -r line; do
        case $line in
        '' | '#'*) continue ;;
        SHELL=*) shell=${line#SHELL=}; vars+=("$line"); continue ;;
        [A-Za-z_]*=*) vars+=("$line"); continue ;;
        esac
        read -r m h dom mon dow user cmd <<<"$line"
        sched="$m $h $dom $mon $dow"
        n=$((n + 1))
        is "$sched" "* * * * *" "cron job $n runs every minute"
        id "$user" >/dev/null 2>&1 || { not_ok "cron job $n: no user $user"; continue; }
        env -i HOME="$(getent passwd "$user" | cut -d: -f6)" \
            LOGNAME="$user" "${vars[@]}" \
            runuser -u "$user" -- "$shell" -c "$cmd" \
            >>"$T/cron.out" 2>&1
        CRON_RC=$?
    done <"$T/cron.d"
    [ "$n" -ge 1 ] || { not_ok "the cron file has a job"; return 1; }
}

# --- what every deployment must carry ----------------------------------

ACKED=$T/acked		# every 2xx'd hit, in load.py's output format
: >"$ACKED"
acked() { printf '{"n":0,"status":200,"hit_id":"%s"}\n' "$1" >>"$ACKED"; }
http_code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
# hit CURL-ARGS...: post_hit, quiet when the answer is not a hit; records
# the hit_id in $ACKED.
hit() {
    local id
    id=$(post_hit "$@" 2>/dev/null) || return 1
    [ -n "$id" ] || return 1
    acked "$id"
    echo "$id"
}
# payload_of ID: the stored payload of hit ID, JSON-encoded (empty: none).
payload_of() {
    local line
    line=$(find_hit "$1") || return 0
    jfield "$line" payload
}

# deploy_requests BASE_URL: through the server at BASE_URL (".../ds"), to
# the stream $ID of deploy_conf, the requests CRMs send reach the responder
# with what it needs: the token in
# Authorization (Bearer or Basic) or the query, a GET's query string, a
# chunked body whole; the health check answers.
deploy_requests() {
    local url=$1/$ID id row
    is "$(http_code -d orderId=N0 "$url")" 401 "no Authorization: 401"
    is "$(http_code -H 'Authorization: Bearer wrong' -d orderId=N0 "$url")" \
        401 "wrong Bearer token: 401"
    row="orderId=N1&status=delivered&total=120.13&userId=U1"
    id=$(hit -H 'Authorization: Bearer s3cret' -d "$row" "$url")
    check "right Bearer token: 200 with a hit_id" test -n "$id"
    is "$(payload_of "$id")" "\"$row\"" \
        "the Bearer hit is in the spool, payload exact"
    id=$(hit -u anyone:s3cret -d "orderId=N2" "$url")
    check "Basic password as the token: 200" test -n "$id"
    id=$(hit "$url?orderId=N3&status=lead&token=s3cret")
    is "$(payload_of "$id")" '"orderId=N3&status=lead"' \
        "GET: payload is the raw query string, without the stream's token"
    id=$(hit -H 'Authorization: Bearer s3cret' \
        -H 'Transfer-Encoding: chunked' --data-binary '{"order":{"id":"N4"}}' "$url")
    is "$(payload_of "$id")" '"{\"order\":{\"id\":\"N4\"}}"' \
        "chunked body arrives whole"
    check "health check answers 200 with the spool state" python3 -c '
import json, sys, urllib.request
h = json.load(urllib.request.urlopen(sys.argv[1], timeout=10))
assert h["status"] == "ok" and h["spool_writable"] is True' "$1/-/health"
}

# spool_exact DIR...: every 2xx'd hit of $ACKED in DIRs exactly once, and
# nothing else there.
spool_exact() {
    local n res
    n=$(grep -c '"status": *2' "$ACKED")
    res=$(python3 "$TOOLS/spoolcheck.py" --acked "$ACKED" "$@")
    echo "# $res"
    grep -q "^lines=$n unique=$n acked=$n missing=0 duplicated=0 problems=0" <<<"$res"
}

# spool_owned_by_www: the responder (and repair) created every file as
# www-data, so the uploader, running as www-data too, can move them.
spool_owned_by_www() {
    [ "$(find "$T/spool" -not -user www-data | wc -l)" = 0 ]
}

# spool_kept DIR...: every 2xx'd hit of $ACKED in DIRs exactly once (hits
# whose answer was lost in a shutdown may be there too: senders retry).
spool_kept() {
    local res
    res=$(python3 "$TOOLS/spoolcheck.py" --acked "$ACKED" "$@")
    echo "# $res"
    grep -q " missing=0 duplicated=0 problems=0" <<<"$res"
}
