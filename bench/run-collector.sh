#!/bin/bash
# bench/run-collector.sh: the collector benchmark.  One command: builds what
# it needs, then drives wrk through one front web server (lighttpd, same
# config for every row) on loopback at each backend in turn, in ROUNDS
# rounds (the row order rotates each round), and prints a Markdown table of
# the medians: req/s, p50, p99 and the ratios against the no-op responder and
# the PHP-FPM script.  The table also goes to bench/results/collector-*.md
# with the machine and the raw per-round numbers.  Each measurement is checked:
# wrk must see no non-2xx answer and no socket error, and the backend's file
# must have grown by as many lines as wrk counted answers.
#
# Not a test: it exits 0 when it measured everything, whatever the numbers,
# and 1 when a row could not run or a check failed.
#
# Knobs (environment):
#   ROWS      rows to run, FRONT/BACKEND[:SYNC]; default: noop,
#             hookspool:none, hookspool:batch, hookspool:always and php,
#             each through lighttpd/ and through apache/
#   CONNS     wrk connection counts ("16 64")     DURATION  seconds (15)
#   WARMUP    seconds before each measurement (3) ROUNDS    rounds (5)
#   PROCS     backend processes (2)               THREADS   per process (8)
#             (PHP-FPM runs PROCS x THREADS children: one request each)
#   WRK_THREADS  wrk threads (2)
#   HS_FCGI_B a second hookspool-fcgi for the hookspoolb rows (A/B)
#   BUILD     hookspool build dir (/tmp/build-bench, configured -O2 -g here
#             when it has no Makefile); HS_FCGI overrides the binary
#   WORKDIR   parent of the scratch folder holding the spool (/var/tmp: on
#             disk; /tmp may be tmpfs)
#   OUT       results file (bench/results/collector-YYYY-MM-DD-HHMM.md, UTC
#             time of the end of the run; "-": none)
#   KEEP=1    keep the scratch folder
#   FCGID_PROCS  processes mod_fcgid runs per apache/ row (the largest of
#             CONNS: with fewer, requests wait for one in 1 s sleeps)
#
# Fronts: "lighttpd" connects to backends that listen on one socket
# (spawn-fcgi PROCS x THREADS; PHP-FPM with PROCS x THREADS children);
# "apache" is Apache 2.4 (event MPM) with mod_fcgid, which starts the
# backends itself (PHP: php-cgi, PHP's FastCGI binary,
# the way PHP runs under mod_fcgid, same five-line script).  mod_fcgid gives
# a process one request at a time, so there it runs one process per
# connection (the largest of CONNS) for every row.  "apacheproxy" (not in
# the default ROWS) is Apache with mod_proxy_fcgi in front of the same
# backends as lighttpd, as contrib/apache/hookspool-proxy-fcgi.conf.
#
# Adding a row: write backend_NAME_start (listen on $SOCK, the one FastCGI
# socket every lighttpd row points at, and append the pids to BACKEND_PIDS),
# backend_NAME_app (for fronts that start the backend: write the Apache
# lines that map /ds/ to it into $W/app.conf and set APP_EXE, the binary to
# find its processes by) and backend_NAME_count (lines landed so far, or "-"
# when there is nothing to count); a new front server is
# front_NAME_start/front_NAME_stop serving http://127.0.0.1:$PORT$URL_PATH
# (plus front_NAME_spawns when it starts the backends).  The summary needs
# no change.
#
# Needs: lighttpd wrk spawn-fcgi php-fpm8.2 php-cgi8.2 apache2
# libapache2-mod-fcgid cc libfcgi-dev python3 curl (tests/deps.sh --bench
# installs them).

set -u
. "$(dirname "$0")/lib.sh"
DEFAULT_BACKENDS="noop hookspool:none hookspool:batch hookspool:always php"
: "${ROWS:=$(for f in lighttpd apache; do for b in $DEFAULT_BACKENDS; do
	printf '%s/%s ' "$f" "$b"; done; done)}"
: "${CONNS:=16 64}"
: "${DURATION:=15}"
: "${WARMUP:=3}"
: "${ROUNDS:=5}"
: "${PROCS:=2}"
: "${THREADS:=8}"
: "${WRK_THREADS:=2}"
: "${BUILD:=/tmp/build-bench}"
: "${WORKDIR:=/var/tmp}"
: "${OUT:=}"
STREAM_ID=522ed95e-3c6e-4a41-9d8a-5b6f0a1c2d3e
URL_PATH=/ds/$STREAM_ID


need="wrk cc python3 curl"
case " $ROWS" in *" lighttpd/"*) need="$need lighttpd spawn-fcgi php-fpm8.2" ;; esac
case " $ROWS" in *" apache/"*) need="$need apache2 php-cgi8.2" ;; esac
case " $ROWS" in *" apacheproxy/"*) need="$need apache2 spawn-fcgi php-fpm8.2" ;; esac
for c in $need; do
	command -v "$c" >/dev/null 2>&1 ||
	    die "$c is not installed (run tests/deps.sh --bench as root)"
done
[ -e /usr/include/fcgiapp.h ] ||
    die "libfcgi-dev is not installed (run tests/deps.sh --bench as root)"
APACHE_MODDIR=/usr/lib/apache2/modules
case " $ROWS" in *" apache"*)
	[ -e "$APACHE_MODDIR/mod_fcgid.so" ] || die "libapache2-mod-fcgid is" \
	    "not installed (run tests/deps.sh --bench as root)"
	id www-data >/dev/null 2>&1 || die "no www-data user for Apache"
	;;
esac

W=$(mktemp -d "$WORKDIR/hs-bench.XXXXXX") || die "cannot create scratch dir"
chmod 755 "$W"
SOCK=$W/run/backend.sock
mkdir -p "$W/run" "$W/www" "$W/log"
FRONT_PIDS=()
BACKEND_PIDS=()
FAILED=0

stop_pids() {
	local p
	for p in "$@"; do
		kill "$p" 2>/dev/null
	done
	for p in "$@"; do
		for _ in $(seq 1 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	return 0
}
cleanup() {
	stop_pids "${FRONT_PIDS[@]}" "${BACKEND_PIDS[@]}"
	if [ "${KEEP:-0}" = 1 ]; then
		say "kept $W"
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# idle_pct SECONDS: share of the machine idle over SECONDS, to show how much
# of it others (other jobs on a shared box) were using between our rows.
idle_pct() {
	local a b
	a=($(head -1 /proc/stat))
	sleep "$1"
	b=($(head -1 /proc/stat))
	awk -v i=$((b[4] + b[5] - a[4] - a[5])) \
	    -v t=$((b[1] + b[2] + b[3] + b[4] + b[5] + b[6] + b[7] + b[8] - \
	    a[1] - a[2] - a[3] - a[4] - a[5] - a[6] - a[7] - a[8])) \
	    'BEGIN { printf "%.0f", t ? 100 * i / t : 0 }'
}

# cpu_ticks PID...: user+system clock ticks used so far by the PIDs and
# their children (PHP-FPM's workers are its master's children).
cpu_ticks() {
	local p all=()
	for p in "$@"; do
		all+=("$p" $(pgrep -P "$p"))
	done
	for p in "${all[@]}"; do
		sed 's/.*) //' "/proc/$p/stat" 2>/dev/null
	done | awk '{ t += $12 + $13 } END { print t + 0 }'
}

wait_sock() {
	local i
	for i in $(seq 1 100); do
		[ -S "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# ---- build ---------------------------------------------------------------

if [ -z "${HS_FCGI:-}" ]; then
	bench_build "$BUILD" "$W/log" src/hookspool-fcgi
	HS_FCGI=$BUILD/src/hookspool-fcgi
fi
[ -x "$HS_FCGI" ] || die "$HS_FCGI is not executable"
NOOP=$W/noop-fcgi
cc -O2 -g -Wall -Wextra -o "$NOOP" "$BENCH/noop-fcgi.c" -lfcgi -lpthread ||
    die "cannot build bench/noop-fcgi.c"

# ---- front servers -------------------------------------------------------

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# One lighttpd config for every row: the backend is whatever listens on
# $SOCK.  Processes and threads are the backend's (spawn-fcgi -F, pm static),
# so no bin-path/max-procs here: lighttpd only connects.
cat >"$W/lighttpd.conf" <<CONF
server.modules = ( "mod_fastcgi" )
server.document-root = "$W/www"
server.bind = "127.0.0.1"
server.port = $PORT
server.pid-file = "$W/run/lighttpd.pid"
server.errorlog = "$W/log/lighttpd.log"
server.max-request-size = 8192
fastcgi.server = ( "/ds/" =>
	((
		"socket"      => "$SOCK",
		"check-local" => "disable",
	))
)
CONF

wait_port() {
	python3 - "$1" <<'PY'
import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
}

front_lighttpd_start() {
	lighttpd -D -f "$W/lighttpd.conf" 2>>"$W/log/lighttpd.log" &
	FRONT_PIDS=($!)
	wait_port "$PORT"
}
front_lighttpd_stop() {
	stop_pids "${FRONT_PIDS[@]}"
	FRONT_PIDS=()
}

# Apache with mod_fcgid, as contrib/apache/hookspool-fcgid.conf runs it but
# with the process count fixed for every row, all started up front (mod_fcgid
# would otherwise spawn them slowly during the run).  mod_fcgid gives each
# process one request at a time and puts a request that finds none free to
# sleep for a second, so there is a process for every connection: as many
# as the largest of CONNS.  Apache's children run as www-data.
front_apache_spawns() { :; }
: "${FCGID_PROCS:=$(printf '%s\n' $CONNS | sort -n | tail -1)}"
# apache_conf FILE MODULE...: the server part of an Apache config shared by
# the Apache fronts.
apache_conf() {
	local d=$W/apache f=$1 m
	shift
	rm -rf "$d"
	mkdir -p "$d/run" "$d/fcgid" "$W/www"
	chown www-data:www-data "$d/fcgid"
	{
		cat <<CONF
ServerRoot "$d"
ServerName 127.0.0.1
Listen 127.0.0.1:$PORT
PidFile "$d/run/apache2.pid"
DefaultRuntimeDir "$d/run"
Mutex file:$d/run default
ErrorLog "$W/log/apache.log"
LogLevel warn
User www-data
Group www-data
LoadModule mpm_event_module $APACHE_MODDIR/mod_mpm_event.so
# All worker threads up front: the MPM adds a child once a second at most,
# and a request waiting for a thread meanwhile would show as a 1 s p99.
ServerLimit 4
StartServers 4
ThreadsPerChild 64
MaxRequestWorkers 256
MinSpareThreads 32
MaxSpareThreads 256
LoadModule authz_core_module $APACHE_MODDIR/mod_authz_core.so
CONF
		for m in "$@"; do
			echo "LoadModule ${m}_module $APACHE_MODDIR/mod_$m.so"
		done
		cat <<CONF
<Directory />
	AllowOverride None
	Require all denied
</Directory>
# PATH_TRANSLATED looks each path info up here: allowed, or every request
# logs a denial.
DocumentRoot "$W/www"
<Directory "$W/www">
	Require all granted
</Directory>
CONF
	} >"$f"
}
apache_run() {
	APACHE_RUN_DIR=$W/apache/run APACHE_LOCK_DIR=$W/apache/run \
	    APACHE_LOG_DIR=$W/log apache2 -f "$1" -DFOREGROUND \
	    2>>"$W/log/apache.log" &
	FRONT_PIDS=($!)
	wait_port "$PORT"
}
front_apache_start() {
	local d=$W/apache n=$FCGID_PROCS
	apache_conf "$W/apache.conf" alias fcgid
	cat >>"$W/apache.conf" <<CONF
# mod_fcgid's process table lock as a file lock fails with EDEADLK
# under a threaded MPM ("can't lock process table"): a process-shared mutex.
Mutex pthread fcgid-proctbl
FcgidIPCDir "$d/fcgid"
FcgidProcessTableFile "$d/fcgid/shm"
FcgidMaxProcesses $n
FcgidMaxProcessesPerClass $n
FcgidMinProcessesPerClass $n
FcgidSpawnScoreUpLimit 1000
FcgidSpawnScore 1
FcgidIOTimeout 30
FcgidIdleTimeout 0
FcgidMaxRequestsPerProcess 0
Include "$W/app.conf"
CONF
	apache_run "$W/apache.conf" || return 1
	# Bring all n processes up before the warm-up measures anything.
	wrk -t1 -c"$n" -d4s -s "$BENCH/post.lua" \
	    "http://127.0.0.1:$PORT$URL_PATH" >/dev/null 2>&1
	apache_backend_pids
}
front_apache_stop() {
	stop_pids "${FRONT_PIDS[@]}"
	FRONT_PIDS=()
	# mod_fcgid SIGTERMs its processes when Apache stops; wait for them.
	stop_pids "${BACKEND_PIDS[@]}"
	BACKEND_PIDS=()
}
apache_backend_pids() {
	BACKEND_PIDS=($(pgrep -f "^$APP_EXE( |\$)"))
}

# Apache with mod_proxy_fcgi, as contrib/apache/hookspool-proxy-fcgi.conf:
# the backends listen on $SOCK as behind lighttpd (same processes and
# threads).  PHP-FPM is told the script by SCRIPT_FILENAME, as Debian's
# php8.2-fpm Apache config does through its handler.
front_apacheproxy_start() {
	chmod 666 "$SOCK"	# Apache's workers (www-data) connect to it
	apache_conf "$W/apache.conf" proxy proxy_fcgi
	cat >>"$W/apache.conf" <<CONF
<Location /ds/>
	ProxyPass "unix:$SOCK|fcgi://backend/"
	ProxyFCGISetEnvIf "true" SCRIPT_FILENAME "$W/www/ds/$STREAM_ID"
	Require all granted
</Location>
ProxyFCGIBackendType GENERIC
CONF
	apache_run "$W/apache.conf"
}
front_apacheproxy_stop() {
	stop_pids "${FRONT_PIDS[@]}"
	FRONT_PIDS=()
}

# ---- backends ------------------------------------------------------------

# spawn_fcgi CMD...: PROCS copies of CMD sharing one socket on stdin.
spawn_fcgi() {
	local log=$W/log/spawn.$$.$RANDOM
	rm -f "$SOCK"
	# The children inherit stderr: a file, never a pipe we wait on.
	spawn-fcgi -s "$SOCK" -M 0600 -b 1024 -F "$PROCS" -- "$@" \
	    >"$log" 2>&1 || { cat "$log" >&2; return 1; }
	BACKEND_PIDS+=($(sed -n 's/.*PID: \([0-9]*\).*/\1/p' "$log"))
	[ "${#BACKEND_PIDS[@]}" -eq "$PROCS" ] || return 1
}

backend_noop_start() {
	spawn_fcgi "$NOOP" -t "$THREADS"
}
backend_noop_count() { echo -; }
# app_conf TARGET [LINE...]: Apache serves /ds/* with mod_fcgid from TARGET.
app_conf() {
	local target=$1
	shift
	{
		echo "Alias /ds \"$target\""
		echo "<Location /ds>"
		echo "	SetHandler fcgid-script"
		echo "	Options +ExecCGI"
		echo "	AcceptPathInfo On"
		echo "	Require all granted"
		echo "</Location>"
		printf '%s\n' "$@"
	} >"$W/app.conf"
}
backend_noop_app() {
	APP_EXE=$NOOP
	app_conf "$NOOP"
}

# hookspool with the shipped defaults except the spool and sync: 200 with a
# JSON hit_id, batches sealed at 8M / 100000 hits / 60s.
hookspool_conf() {
	local sync=$1
	HS_SPOOL=$W/spool-$FRONT-$sync-$ROUND
	rm -rf "$HS_SPOOL"
	# Afresh: an Apache row gave the last one to www-data.
	rm -f "$W/hookspool.conf"
	cat >"$W/hookspool.conf" <<CONF
spool_dir = $HS_SPOOL
sync = $sync
threads = $THREADS

[stream crm]
id = $STREAM_ID
table = bench-project.crm.hits
CONF
	chmod 600 "$W/hookspool.conf"
}
backend_hookspool_start() {
	hookspool_conf "$1"
	spawn_fcgi "$HS_FCGI" -c "$W/hookspool.conf"
}
# Under mod_fcgid, as contrib/apache/hookspool-fcgid.conf: the config path
# comes through the environment, and the processes run as www-data.
backend_hookspool_app() {
	hookspool_conf "$1"
	mkdir -p "$HS_SPOOL"
	chown www-data "$W/hookspool.conf" "$HS_SPOOL"
	APP_EXE=$HS_FCGI
	app_conf "$HS_FCGI" "FcgidInitialEnv HOOKSPOOL_CONFIG $W/hookspool.conf"
}
backend_hookspool_count() {
	find "$HS_SPOOL/crm" -name '*.ndjson' -type f -exec cat {} + \
	    2>/dev/null | wc -l
}

# hookspoolb: the same as hookspool with a second binary, HS_FCGI_B (say,
# an older build), for an A/B of two builds in one run.
backend_hookspoolb_start() {
	hookspool_conf "$1"
	spawn_fcgi "$HS_FCGI_B" -c "$W/hookspool.conf"
}
backend_hookspoolb_app() {
	local HS_FCGI=$HS_FCGI_B
	backend_hookspool_app "$1"
}
backend_hookspoolb_count() { backend_hookspool_count; }

# hookspool with the delivery_id column read from X-Delivery, without
# (hookspooldid) and with (hookspooldedup) a dedup window: wrk sends a
# unique id each request (post-dedup.lua), so every hit claims and commits
# an index entry and is stored.  Their ratio is the cost of dedup.
hookspool_did_conf() {
	hookspool_conf "$1"
	printf 'delivery_id = header:X-Delivery\n%s' "${2:+dedup_window = $2
}" >>"$W/hookspool.conf"
}
backend_hookspooldid_start() {
	hookspool_did_conf "$1"
	spawn_fcgi "$HS_FCGI" -c "$W/hookspool.conf"
}
backend_hookspooldedup_start() {
	hookspool_did_conf "$1" 1h
	spawn_fcgi "$HS_FCGI" -c "$W/hookspool.conf"
}
backend_hookspooldid_count() { backend_hookspool_count; }
backend_hookspooldedup_count() { backend_hookspool_count; }

# The five-line PHP script, reached at the same URL: the file the front
# maps /ds/<id> to is a link to bench/php/hook.php (hence no extension
# check).  Debian's php.ini and conf.d apply, so OPcache is on.
backend_php_start() {
	PHP_FILE=$W/php-hooks-$ROUND.ndjson
	: >"$PHP_FILE"
	mkdir -p "$W/www/ds"
	ln -sf "$BENCH/php/hook.php" "$W/www/ds/$STREAM_ID"
	rm -f "$SOCK"
	cat >"$W/php-fpm.conf" <<CONF
[global]
pid = $W/run/php-fpm.pid
error_log = $W/log/php-fpm.log
daemonize = no

[bench]
listen = $SOCK
listen.backlog = 1024
pm = static
pm.max_children = $((PROCS * THREADS))
security.limit_extensions =
clear_env = yes
env[HOOK_FILE] = $PHP_FILE
CONF
	php-fpm8.2 -R -F -y "$W/php-fpm.conf" >>"$W/log/php-fpm.log" 2>&1 &
	BACKEND_PIDS+=($!)
	wait_sock "$SOCK"
}
backend_php_count() { wc -l <"$PHP_FILE"; }
# Under mod_fcgid PHP runs as php-cgi, one request at a time per process
# (PHP_FCGI_CHILDREN=0: no children of its own), the script as above.
backend_php_app() {
	PHP_FILE=$W/php-hooks-$FRONT-$ROUND.ndjson
	: >"$PHP_FILE"
	chown www-data "$PHP_FILE"
	mkdir -p "$W/www"
	cp "$BENCH/php/hook.php" "$W/www/hook.php"
	APP_EXE=$(command -v php-cgi8.2)
	app_conf "$W/www/hook.php" "FcgidWrapper $APP_EXE .php" \
	    "FcgidInitialEnv HOOK_FILE $PHP_FILE" \
	    "FcgidInitialEnv PHP_FCGI_CHILDREN 0" \
	    "FcgidInitialEnv PHP_FCGI_MAX_REQUESTS 0"
}

backend_stop() {
	stop_pids "${BACKEND_PIDS[@]}"
	BACKEND_PIDS=()
	rm -f "$SOCK"
}

# ---- machine -------------------------------------------------------------

# fdatasync latency of a small append on the spool's file system: what one
# sync=always group commit costs at least.
fsync_us=$(python3 - "$W" <<'PY'
import os, sys, time
p = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
t = []
for _ in range(200):
    os.write(fd, b"x" * 500 + b"\n")
    a = time.perf_counter()
    os.fdatasync(fd)
    t.append(time.perf_counter() - a)
os.close(fd)
os.unlink(p)
t.sort()
print("%d %d" % (t[len(t) // 2] * 1e6, t[len(t) * 99 // 100] * 1e6))
PY
)
fs_line=$(df -PT "$W" | awk 'NR == 2 { print $2 " on " $1 " (mounted at " $7 ")" }')
mnt_opts=$(findmnt -no OPTIONS -T "$W" 2>/dev/null)
dev=$(df -P "$W" | awk 'NR == 2 { sub(".*/", "", $1); print $1 }')
case $(df -PT "$W" | awk 'NR == 2 { print $2 }') in
ext3 | ext4)
	if ls -d /proc/fs/jbd2/"$dev"-* >/dev/null 2>&1; then
		mnt_opts="$mnt_opts, with a journal"
	else
		mnt_opts="$mnt_opts, **without a journal**"
	fi
	;;
esac
wcache=$(cat "/sys/block/$dev/queue/write_cache" 2>/dev/null)
[ -n "$wcache" ] && mnt_opts="$mnt_opts; device cache: $wcache"
idle0=$(idle_pct 3)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
MACHINE="- nproc: $(nproc); CPU: $cpu; $(grep -q hypervisor /proc/cpuinfo && echo 'virtual machine' || echo 'bare metal'); nothing pinned: wrk, lighttpd and the backend share the cores
- machine idle before the run (3 s, nothing of ours running): ${idle0}%; load average then: $(cut -d' ' -f1-3 /proc/loadavg)
- kernel: $(uname -sr); memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
- spool / PHP file system: $fs_line, options $mnt_opts
- fdatasync of a 500-byte append there: median ${fsync_us% *} us, p99 ${fsync_us#* } us
- lighttpd $(lighttpd -v 2>&1 | sed -n 's/^lighttpd\/\([^ ]*\).*/\1/p') (one process), wrk $(wrk -v 2>&1 | sed -n 's/^wrk \([^ ]*\).*/\1/p') (-t$WRK_THREADS), $(php-fpm8.2 -v | head -1 | cut -d' ' -f1-2) (OPcache $(php-fpm8.2 -i 2>/dev/null | grep -q '^opcache.enable => On' && echo on || echo off)), libfcgi $(dpkg-query -W -f='${Version}' libfcgi-bin 2>/dev/null || dpkg-query -W -f='${Version}' libfcgi0ldbl 2>/dev/null)
- Apache $(apache2 -v 2>/dev/null | sed -n 's/^Server version: Apache\/\([^ ]*\).*/\1/p') (event MPM) with mod_fcgid $(dpkg-query -W -f='${Version}' libapache2-mod-fcgid 2>/dev/null), PHP there as php-cgi
- backends: behind lighttpd $PROCS processes x $THREADS threads (PHP-FPM: pm static, $((PROCS * THREADS)) children); behind Apache $FCGID_PROCS processes started by mod_fcgid, one request at a time each; body $(python3 -c 'import re,sys; t=open(sys.argv[1]).read(); print(sum(len(s) for s in re.findall(r"\"([^\"]*)\"", t.split("wrk.body",1)[1].split("function",1)[0])))' "$BENCH/post.lua") bytes, form-urlencoded
- each measurement: ${WARMUP}s warm-up, then ${DURATION}s; $ROUNDS rounds, row order rotated each round; medians shown"
say "scratch $W"
echo "$MACHINE" | sed 's/^/# /' >&2

# ---- measure -------------------------------------------------------------

RAW=$W/raw.tsv
: >"$RAW"
read -r -a ROW_LIST <<<"$ROWS"
nrows=${#ROW_LIST[@]}

for ROUND in $(seq 1 "$ROUNDS"); do
	for k in $(seq 0 $((nrows - 1))); do
		row=${ROW_LIST[$(((k + ROUND - 1) % nrows))]}
		front=${row%%/*}
		spec=${row#*/}
		backend=${spec%%:*}
		sync=-
		[ "$spec" != "$backend" ] && sync=${spec#*:}
		idle=$(idle_pct 1)
		say "round $ROUND: $row (machine ${idle}% idle before)"
		FRONT=$front
		if declare -F "front_${front}_spawns" >/dev/null; then
			how=app
		else
			how=start
		fi
		if ! declare -F "backend_${backend}_$how" >/dev/null ||
		    ! declare -F "front_${front}_start" >/dev/null; then
			say "unknown row '$row'"
			FAILED=1
			continue
		fi
		args=()
		[ "$sync" != - ] && args=("$sync")
		if [ $how = app ]; then
			"backend_${backend}_app" "${args[@]}" &&
			    "front_${front}_start"
		else
			"backend_${backend}_start" "${args[@]}" &&
			    wait_sock "$SOCK" && "front_${front}_start"
		fi
		if [ $? != 0 ]; then
			say "$row: cannot start (logs in $W/log)"
			KEEP=1
			FAILED=1
			"front_${front}_stop"
			backend_stop
			continue
		fi
		code=$(curl -s -o "$W/smoke.out" -w '%{http_code}' \
		    --data-binary 'smoke=1' "http://127.0.0.1:$PORT$URL_PATH")
		case $code in
		2??) ;;
		*)
			say "$row: smoke request answered $code: $(head -c 300 "$W/smoke.out")"
			KEEP=1
			FAILED=1
			"front_${front}_stop"
			backend_stop
			continue
			;;
		esac
		script=$BENCH/post.lua
		case $backend in
		hookspooldid | hookspooldedup) script=$BENCH/post-dedup.lua ;;
		esac
		for c in $CONNS; do
			wrk -t"$WRK_THREADS" -c"$c" -d"${WARMUP}s" \
			    -s "$script" \
			    "http://127.0.0.1:$PORT$URL_PATH" >/dev/null 2>&1
			sleep 1
			before=$("backend_${backend}_count")
			bt0=$(cpu_ticks "${BACKEND_PIDS[@]}")
			ft0=$(cpu_ticks "${FRONT_PIDS[@]}")
			out=$(wrk -t"$WRK_THREADS" -c"$c" -d"${DURATION}s" \
			    --timeout 10s -s "$script" \
			    "http://127.0.0.1:$PORT$URL_PATH" 2>&1)
			bt1=$(cpu_ticks "${BACKEND_PIDS[@]}")
			ft1=$(cpu_ticks "${FRONT_PIDS[@]}")
			sleep 1
			after=$("backend_${backend}_count")
			res=$(echo "$out" | sed -n 's/^RESULT //p')
			if [ -z "$res" ]; then
				say "$row c=$c: wrk gave no result: $out"
				FAILED=1
				continue
			fi
			landed=-
			[ "$before" != - ] && landed=$((after - before))
			# requests= duration_us= p50_us= ... as shell words
			eval "$res"
			check=ok
			tick_us=$((1000000 / $(getconf CLK_TCK)))
			bcpu=$(((bt1 - bt0) * tick_us / (requests > 0 ? requests : 1)))
			fcpu=$(((ft1 - ft0) * tick_us / (requests > 0 ? requests : 1)))
			ok2xx=$((requests - status_errors))
			if [ "$status_errors" != 0 ] || [ "$socket_errors" != 0 ]; then
				check="FAIL: $status_errors non-2xx, $socket_errors socket errors"
			elif [ "$landed" != - ] && { [ "$landed" -lt "$ok2xx" ] ||
			    [ "$landed" -gt $((ok2xx + c)) ]; }; then
				# Up to c requests may still be in flight
				# when wrk stops counting.
				check="FAIL: $landed lines landed for $ok2xx answers"
			fi
			[ "$check" = ok ] || FAILED=1
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
			    "$ROUND" "$front" "$backend" "$sync" "$c" \
			    "$requests" "$duration_us" "$p50_us" "$p99_us" \
			    "$landed" "$ok2xx" "$check" "$idle" "$bcpu" "$fcpu" >>"$RAW"
			say "$(printf '%-10s %-7s c=%-3s %8.0f req/s p50 %6.2f ms p99 %6.2f ms cpu %s+%s us landed %s/%s %s' \
			    "$backend" "$sync" "$c" \
			    "$(echo "$requests $duration_us" | awk '{ print $1 / ($2 / 1e6) }')" \
			    "$(echo "$p50_us" | awk '{ print $1 / 1000 }')" \
			    "$(echo "$p99_us" | awk '{ print $1 / 1000 }')" \
			    "$bcpu" "$fcpu" "$landed" "$ok2xx" "$check")"
		done
		"front_${front}_stop"
		backend_stop
	done
done

# ---- report --------------------------------------------------------------

report=$(python3 - "$RAW" <<'PY'
import statistics, sys
rows = {}
order = []
raw = []
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    rnd, front, backend, sync, conns = f[0], f[1], f[2], f[3], int(f[4])
    req, dur, p50, p99 = int(f[5]), int(f[6]), int(f[7]), int(f[8])
    key = (front, backend, sync, conns)
    if key not in rows:
        rows[key] = []
        order.append(key)
    rows[key].append((req / (dur / 1e6), p50 / 1000, p99 / 1000,
        int(f[13]), int(f[14])))
    raw.append((rnd, front, backend, sync, conns, req / (dur / 1e6),
        p50 / 1000, p99 / 1000, f[13], f[14], f[9], f[10], f[12], f[11]))

def med(key, i):
    return statistics.median(v[i] for v in rows[key])

# Targets from the issues: (backend, sync) -> [(against, ratio, conns or None)]
targets = {
    ("hookspool", "none"): [("noop", 0.85), ("php", 1.5)],
    ("hookspool", "always"): [("noop", 0.6), ("php", 1.5)],
}
order.sort(key=lambda k: (k[0], k[3]))
print("| backend | sync | conns | req/s | (min-max) | p50 ms | p99 ms "
      "| vs no-op | vs PHP | targets | backend CPU us/req | front CPU us/req |")
print("|---|---|---:|---:|---|---:|---:|---:|---:|---|---:|---:|")
for key in order:
    front, backend, sync, conns = key
    rps = med(key, 0)
    lo = min(v[0] for v in rows[key])
    hi = max(v[0] for v in rows[key])
    ratio = {}
    for base in ("noop", "php"):
        bk = (front, base, "-", conns)
        ratio[base] = rps / med(bk, 0) if bk in rows else None
    verdict = []
    for base, want in targets.get((backend, sync), []):
        if ratio[base] is None:
            continue
        name = "no-op" if base == "noop" else "PHP"
        verdict.append("%s >= %.2fx: %s" % (name, want,
            "met" if ratio[base] >= want else "**missed**"))
    fmt = lambda r: "-" if r is None else "%.2fx" % r
    label = backend if front == "lighttpd" else "%s (%s)" % (backend, front)
    print("| %s | %s | %d | %.0f | %.0f-%.0f | %.2f | %.2f | %s | %s | %s "
        "| %.0f | %.0f |" % (
        label, sync, conns, rps, lo, hi, med(key, 1), med(key, 2),
        fmt(ratio["noop"]), fmt(ratio["php"]), "; ".join(verdict) or "-",
        med(key, 3), med(key, 4)))
print()
print("<details><summary>every measurement</summary>")
print()
print("| round | front | backend | sync | conns | req/s | p50 ms | p99 ms "
      "| backend CPU us/req | front CPU us/req | lines landed | 2xx "
      "| idle before % | check |")
print("|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for r in raw:
    print("| %s | %s | %s | %s | %d | %.0f | %.2f | %.2f | %s | %s | %s | %s "
        "| %s | %s |" % r)
idle = sorted(int(r[12]) for r in raw)
if idle:
    print()
    print("Machine idle in the second before each row (none of ours "
          "running): min %d%%, median %d%%, max %d%%." % (idle[0],
          idle[len(idle) // 2], idle[-1]))
print()
print("</details>")
PY
)
stamp=$(date -u '+%Y-%m-%d %H:%M')
hhmm=${stamp#* }
[ -z "$OUT" ] && OUT=$BENCH/results/collector-${stamp% *}-${hhmm/:/}.md
{
	echo "## Collector benchmark, $stamp UTC"
	echo
	echo "$MACHINE"
	echo
	echo "$report"
} >"$W/report.md"
cat "$W/report.md"
if [ "$OUT" != - ]; then
	mkdir -p "$(dirname "$OUT")"
	cp "$W/report.md" "$OUT"
	say "written to $OUT"
fi
[ "$FAILED" = 0 ] || say "some rows failed or a check did not hold"
exit "$FAILED"
