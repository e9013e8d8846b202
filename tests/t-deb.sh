#!/usr/bin/env bash
# The Debian package (debian/) as an admin meets it: dpkg-buildpackage in a
# clean clone, lintian, `apt-get install ./hookspool_*.deb` on this machine,
# the lighttpd snippet enabled, a stream added, the seed's three hits
# posted through the installed lighttpd (its own config on a loopback port,
# including the enabled snippet), the job of /etc/cron.d/hookspool run as
# cron would against the fake BigQuery, the rows there; then remove
# (programs gone, spool and config kept), reinstall (config and hits kept),
# purge (config gone, a spool holding batches kept, and said so).
#
# It installs and purges a package, so it leaves the machine as it found
# it (the trap purges and disables what it made) and skips (77) where it
# cannot: not root, no dpkg-buildpackage, a hookspool package or its files
# already here, or a source tree that is not a git checkout: `make
# distcheck` runs the tests in an unpacked tarball (or with DISTCHECK set),
# and the package is built from git, not from the tarball.  It skips in
# sanitizer builds too: the package is the same whatever the build.
# The clone is of HEAD plus the uncommitted changes to tracked files (git
# stash create), so the test builds what the developer sees; untracked
# files do not go in.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/deploy/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (apt-get install of the package)"
[ -z "${DISTCHECK:-}" ] || skip "DISTCHECK is set: the package is built from git, not from the tarball"
need git dpkg-buildpackage dpkg-checkbuilddeps apt-get lintian lighttpd \
    lighty-enable-mod lighty-disable-mod python3 curl openssl runuser
id www-data >/dev/null 2>&1 || skip "no www-data user"
top=$(git -C "$top_srcdir" rev-parse --show-toplevel 2>/dev/null)
[ -n "$top" ] && [ "$top" = "$(cd "$top_srcdir" && pwd -P)" ] ||
    skip "$top_srcdir is not a git checkout (make distcheck's copy?)"
[ -d "$top_srcdir/debian" ] || skip "no debian/ in $top_srcdir"
# The package is built from the clone whatever this build's flags: once, in
# tests/all.sh's main build, is enough.
case $("$top_builddir/config.status" --config 2>/dev/null) in
*--enable-asan* | *--enable-fuzzing*)
    skip "a sanitizer build: the package does not depend on it (the main build runs this)" ;;
esac
st=$(dpkg-query -W -f='${db:Status-Status}' hookspool 2>/dev/null)
[ -z "$st" ] || [ "$st" = not-installed ] ||
    skip "a hookspool package is here ($st): this test would replace it"
for f in /etc/hookspool /var/spool/hookspool \
    /etc/lighttpd/conf-enabled/50-hookspool.conf /etc/cron.d/hookspool; do
    [ ! -e "$f" ] && [ ! -L "$f" ] || skip "$f exists: not this test's to replace"
done

CONF=/etc/hookspool/hookspool.conf
SPOOL=/var/spool/hookspool
ENABLED=/etc/lighttpd/conf-enabled/50-hookspool.conf
VERSION=$(sed -n '/^AC_INIT/{s/^[^,]*, *\[//;s/\].*//;p;}' "$top_srcdir/configure.ac")
ARCH=$(dpkg --print-architecture)
DEB=$T/hookspool_${VERSION}_$ARCH.deb
MADE_RUN_LIGHTTPD=0
INSTALLED=0

# Whatever happened, the machine as it was: no package, no snippet
# enabled, no spool.
deb_cleanup() {
    local p
    for p in "${HS_PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    [ -L "$ENABLED" ] && lighty-disable-mod hookspool >/dev/null 2>&1
    if [ "$INSTALLED" = 1 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -q hookspool \
            >/dev/null 2>&1
        rm -rf "$SPOOL" /etc/hookspool
    fi
    [ "$MADE_RUN_LIGHTTPD" = 1 ] && rm -rf /run/lighttpd
    hs_cleanup
}
trap deb_cleanup EXIT

# took WHAT: how long the test has run, after WHAT.
took() { echo "# ${SECONDS}s: $*"; }
apt_q() {
    DEBIAN_FRONTEND=noninteractive apt-get -y -q --no-install-recommends "$@" \
        >>"$T/apt.log" 2>&1
}
# pkg_status: installed, config-files, ... or gone.
pkg_status() {
    local s
    s=$(dpkg-query -W -f='${db:Status-Status}' hookspool 2>/dev/null)
    case $s in '' | not-installed) echo gone ;; *) echo "$s" ;; esac
}
spool_batches() { find "$SPOOL" -type f -name '*.ndjson' 2>/dev/null | wc -l; }
lt_responders() { pgrep -f "^/usr/sbin/hookspool-fcgi -c $CONF" 2>/dev/null; }
no_lt_responders() { [ -z "$(lt_responders)" ]; }

# --- build ----------------------------------------------------------------
rev=$(git -C "$top_srcdir" stash create 2>/dev/null)
rev=${rev:-$(git -C "$top_srcdir" rev-parse HEAD)}
git clone -q "$top_srcdir" "$T/src" && git -C "$T/src" checkout -q "$rev" ||
    { not_ok "a clean clone of $top_srcdir"; finish; }
echo "# building $(git -C "$top_srcdir" log -1 --format='%h %s' HEAD)" \
    "$( [ "$rev" != "$(git -C "$top_srcdir" rev-parse HEAD)" ] &&
        echo '+ uncommitted changes')"
(cd "$T/src" && dpkg-checkbuilddeps) >"$T/builddeps.log" 2>&1 ||
    skip "build dependencies missing: $(tail -1 "$T/builddeps.log") (tests/deps.sh installs them)"
# nocheck: tests/all.sh runs the tests; the package build need not again.
if (cd "$T/src" &&
    DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc -b) \
    >"$T/build.log" 2>&1; then
    ok "dpkg-buildpackage -us -uc -b in a clean clone"
else
    tail -30 "$T/build.log" | sed 's/^/# /'
    not_ok "dpkg-buildpackage -us -uc -b in a clean clone"
    finish
fi
check "it made hookspool_${VERSION}_$ARCH.deb (configure.ac's version)" \
    test -f "$DEB"
took "the package build"
check "and hookspool-dbgsym_${VERSION}_$ARCH.deb" \
    test -f "$T/hookspool-dbgsym_${VERSION}_$ARCH.deb"
[ -f "$DEB" ] || finish

lintian "$T/hookspool_${VERSION}_$ARCH.changes" >"$T/lintian.log" 2>&1
sed 's/^/# lintian: /' "$T/lintian.log"
took lintian
check "lintian: no error, no warning" \
    eval '! grep -qE "^[EW]: " "$T/lintian.log"'

# --- install ----------------------------------------------------------------
INSTALLED=1
if apt_q install "$DEB"; then
    ok "apt-get install ./hookspool_*.deb"
else
    tail -20 "$T/apt.log" | sed 's/^/# /'
    not_ok "apt-get install ./hookspool_*.deb"
    finish
fi
for p in hookspool-fcgi hookspool-upload hookspoolctl; do
    check "/usr/sbin/$p installed, with its man page" \
        test -x "/usr/sbin/$p" -a -f "/usr/share/man/man8/$p.8.gz"
done
is "$(stat -c '%U:%G %a' "$CONF" 2>&1)" "root:www-data 640" \
    "$CONF is root:www-data 0640"
check "$CONF is a conffile" \
    grep -qx " $CONF [0-9a-f]*" <(dpkg-query -W -f='${Conffiles}\n' hookspool)
check "$CONF has no stream yet" eval '! grep -q "^\[stream" "$CONF"'
is "$(stat -c '%U:%G %a' "$SPOOL" 2>&1)" "www-data:www-data 750" \
    "$SPOOL is www-data's"
check "hookspool.conf(5) and /etc/cron.d/hookspool" test -f \
    /usr/share/man/man5/hookspool.conf.5.gz -a -f /etc/cron.d/hookspool
check "the lighttpd, Apache and nginx snippets" test -f \
    /etc/lighttpd/conf-available/50-hookspool.conf -a -f \
    /etc/apache2/conf-available/hookspool.conf -a -f \
    /etc/nginx/snippets/hookspool.conf
EX=/usr/share/doc/hookspool/examples
check "the Prometheus rules and the Grafana dashboard in $EX" test -f \
    "$EX/hookspool.rules.yml" -a -f "$EX/hookspool.rules.test.yml" -a -f \
    "$EX/hookspool.json"
check "nothing enabled in a web server" test ! -e "$ENABLED" -a ! -e \
    /etc/apache2/conf-enabled/hookspool.conf
cron_run /etc/cron.d/hookspool
is "$(cat "$T/cron.out")" "" "the cron job is quiet while no stream exists"

# The snippets parse where they go (they run, paths aside, in
# t-collector.sh, t-apache-fcgid.sh and t-nginx.sh).
if command -v systemd-analyze >/dev/null; then
    out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
        /lib/systemd/system/hookspool-*.socket \
        /lib/systemd/system/hookspool-*.service \
        /lib/systemd/system/hookspool-*.timer 2>&1)
    is "$out" "" "systemd-analyze verify: the installed units"
fi
if command -v apache2 >/dev/null && [ -f "$APACHE_MODDIR/mod_fcgid.so" ]; then
    mkdir -p "$T/apache"
    {
        echo "ServerRoot $T/apache"
        echo "ErrorLog $T/apache/error.log"
        echo "PidFile $T/apache/apache2.pid"
        echo "ServerName 127.0.0.1"
        echo "Listen 127.0.0.1:$(free_port)"
        for m in mpm_event authz_core alias fcgid; do
            echo "LoadModule ${m}_module $APACHE_MODDIR/mod_$m.so"
        done
        echo "Include /etc/apache2/conf-available/hookspool.conf"
    } >"$T/apache/apache2.conf"
    check "apache2 -t: conf-available/hookspool.conf with mod_fcgid" \
        apache2 -t -f "$T/apache/apache2.conf" -e error
fi
if command -v nginx >/dev/null && [ -f /etc/nginx/fastcgi_params ]; then
    # Its relative include (fastcgi_params) is found beside the config,
    # as in /etc/nginx.
    mkdir -p "$T/nginx"
    ln -s /etc/nginx/fastcgi_params "$T/nginx/fastcgi_params"
    cat >"$T/nginx/nginx.conf" <<CONF
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { }
http {
    server {
        listen 127.0.0.1:$(free_port);
        include /etc/nginx/snippets/hookspool.conf;
    }
}
CONF
    check "nginx -t: snippets/hookspool.conf in a server block" \
        nginx -q -t -p "$T/nginx/" -c "$T/nginx/nginx.conf"
fi

# --- a stream, through the installed lighttpd -----------------------------
start_fake_bq || { not_ok "the fake BigQuery starts"; finish; }
chown -R www-data:www-data "$T/key"
# The uploader's global keys go before any stream section; writing through
# the file keeps its owner and mode.
printf '%s\n' "project = demo-project" "credentials = $FAKE_KEY" \
    "api_base = $FAKE_API" "batch_max_age = 1s" >>"$CONF"
out=$(hookspoolctl stream add orders demo-project.crm.orders 2>&1)
echo "$out" | sed 's/^/# /'
ID=$(sed -n 's|^url: http://localhost/ds/\([0-9a-f-]\{36\}\)$|\1|p' <<<"$out")
check "hookspoolctl stream add prints the URL to give the CRM" test -n "$ID"
[ -n "$ID" ] || finish

check "lighty-enable-mod hookspool" lighty-enable-mod hookspool
took "install"
check "it enabled 50-hookspool.conf" test -L "$ENABLED" -a -e "$ENABLED"
check "lighttpd -tt: Debian's lighttpd.conf with the snippet enabled" \
    lighttpd -tt -f /etc/lighttpd/lighttpd.conf
if [ ! -d /run/lighttpd ]; then
    install -d -o www-data -g www-data -m 750 /run/lighttpd
    MADE_RUN_LIGHTTPD=1
fi
PORT=$(free_port)
# lighttpd opens its error log as www-data.
install -d -o www-data -g www-data "$T/lt" "$T/lt/www"
cat >"$T/lighttpd.conf" <<CONF
server.document-root = "$T/lt/www"
server.bind = "127.0.0.1"
server.port = $PORT
server.pid-file = "$T/lt/lighttpd.pid"
server.errorlog = "$T/lt/error.log"
server.username = "www-data"
server.groupname = "www-data"
include "$ENABLED"
CONF
lighttpd -D -f "$T/lighttpd.conf" &
LT_PID=$!
HS_PIDS+=("$LT_PID")
wait_port "$PORT" || {
    sed 's/^/# /' "$T/lt/error.log" 2>/dev/null
    not_ok "lighttpd starts"
    finish
}
URL=http://127.0.0.1:$PORT/ds/$ID
: >"$T/ids"
for body in "orderId=N1&status=delivered&total=120.13&userId=U1" \
    "orderId=N2&status=new&total=15.00&userId=U2" \
    "leads[status][0][id]=25399013&leads[status][0][status_id]=142"; do
    id=$(post_hit -d "$body" "$URL")
    check "POST $body: 200 with a hit_id" test -n "$id"
    echo "$id" >>"$T/ids"
done
# lighttpd SIGTERMs the responders it started: they seal their batches.
kill "$LT_PID"
wait "$LT_PID" 2>/dev/null
check "the responders exit with lighttpd" wait_for 20 no_lt_responders
is "$(find "$SPOOL/orders/new" -name '*.ndjson' -exec cat {} + | wc -l)" 3 \
    "the three hits are sealed in $SPOOL/orders/new"
is "$(find "$SPOOL" ! -user www-data | wc -l)" 0 "the spool is all www-data's"

cron_run /etc/cron.d/hookspool
sed 's/^/#   /' "$T/cron.out"
is "$CRON_RC:$(wc -c <"$T/cron.out")" "0:0" \
    "the cron job of the package uploads, quietly"
res=$(rows_vs_ids demo-project.crm.orders "$T/ids")
echo "# $res"
check "the three hits are rows of demo-project.crm.orders" \
    grep -q "^rows=3 want=3 missing=0 extra=0 dup=0$" <<<"$res"
NB=$(spool_batches)
is "$(find "$SPOOL/orders/done" -name '*.ndjson' | wc -l)" "$NB" \
    "their batches ($NB) are kept in done/"

# --- remove, reinstall, purge -----------------------------------------------
took "the hits loaded"
cp -p "$CONF" "$T/conf.before"
check "apt-get remove hookspool" apt_q remove hookspool
is "$(pkg_status)" config-files "the package's configuration is left"
check "the programs are gone" test ! -e /usr/sbin/hookspool-fcgi -a ! -e \
    /usr/sbin/hookspool-upload -a ! -e /usr/sbin/hookspoolctl
check "the config is kept, stream and all" cmp -s "$CONF" "$T/conf.before"
is "$(spool_batches)" "$NB" "the spool is kept"
cron_run /etc/cron.d/hookspool
is "$(cat "$T/cron.out")" "" "the kept cron file is quiet without the programs"

check "apt-get install again" apt_q install "$DEB"
check "the config is kept" cmp -s "$CONF" "$T/conf.before"
is "$(stat -c '%U:%G %a' "$CONF" 2>&1)" "root:www-data 640" \
    "still root:www-data 0640"
is "$(spool_ids "$SPOOL" | sort | tr '\n' ' ')" "$(sort "$T/ids" | tr '\n' ' ')" \
    "the hits are still in the spool"

check "lighty-disable-mod hookspool" lighty-disable-mod hookspool
: >"$T/apt.log"
check "apt-get purge hookspool" apt_q purge hookspool
grep -i "hookspool:" "$T/apt.log" | sed 's/^/# /'
check "purge says the spool is kept" grep -q "$SPOOL holds $NB batch" "$T/apt.log"
is "$(pkg_status)" gone "the package is gone"
check "the config is gone" test ! -e "$CONF" -a ! -e /etc/hookspool
check "the snippets and the cron file are gone" test ! -e \
    /etc/lighttpd/conf-available/50-hookspool.conf -a ! -e /etc/cron.d/hookspool
is "$(spool_batches)" "$NB" "the spool holding batches is kept"
is "$(dpkg-statoverride --list "$CONF")" "" "no stat override is left"

took "remove, install, purge"
# A spool without batches goes with the package.
find "$SPOOL" -name '*.ndjson' -delete
check "install, purge with an empty spool" eval 'apt_q install "$DEB" && apt_q purge hookspool'
check "the spool without batches is removed" test ! -e "$SPOOL"
INSTALLED=0
rm -rf "$SPOOL"
finish
