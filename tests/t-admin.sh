#!/usr/bin/env bash
# Where the admin looks: a responder that cannot start under lighttpd
# leaves its reason in lighttpd's error log, not only "child exited: 78";
# hookspoolctl config --check says whether the web server's user can read
# the config and secret files and write the spool; stream add creates a
# missing config file.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/deploy/lib.sh"
need lighttpd curl python3
need_file "$HS_FCGI"
need_file "$HS_CTL"

ID=522ed95e-1a2b-4c3d-8e4f-0000000000f1
WWW=
if [ "$(id -u)" = 0 ] && id www-data >/dev/null 2>&1; then
    WWW=www-data
fi

# ---- the responder's start-up error in lighttpd's error log --------------
hs_conf "$T/hs.conf" "$ID"
mkdir -p "$T/spool"
PORT=$(free_port)
if [ -n "$WWW" ]; then
    # The config is root's alone: www-data cannot read it.
    chmod 600 "$T/hs.conf"
    mkdir -p "$T/lighttpd/run" "$T/lighttpd/www"
    chown -R "$WWW" "$T/lighttpd" "$T/spool"
    LIGHTTPD_EXTRA="server.username = \"$WWW\"
server.groupname = \"$WWW\"" start_lighttpd "$T/hs.conf" "$PORT" ||
        { not_ok "lighttpd starts"; finish; }
    want="cannot open config '$T/hs.conf': Permission denied"
else
    start_lighttpd "$T/missing.conf" "$PORT" ||
        { not_ok "lighttpd starts"; finish; }
    want="cannot open config '$T/missing.conf': No such file or directory"
fi
code=$(curl -s -o /dev/null -w '%{http_code}' -d a=1 "http://127.0.0.1:$PORT/ds/$ID")
is "$code" 503 "a responder that cannot start: 503"
in_errorlog() { grep -qF "$want" "$T/lighttpd/error.log"; }
check "lighttpd's error log gives the reason: $want" wait_for 10 in_errorlog
stop_lighttpd
echo "# error.log:"
sed 's/^/#   /' "$T/lighttpd/error.log" | head -20

# The same under Apache mod_fcgid and nginx with spawn-fcgi, as www-data.
# errlog_has FILE: FILE holds the reason the config cannot be read.
errlog_has() { grep -qF "cannot open config '$HS_CONF': Permission denied" "$1"; }
if [ -n "$WWW" ] && command -v apache2 >/dev/null &&
    [ -f "$APACHE_MODDIR/mod_fcgid.so" ] && [ -f "$APACHE_MODDIR/mod_alias.so" ]; then
    deploy_conf "$ID" 1h
    chmod 600 "$HS_CONF"
    AP=$(free_port)
    if apache_start hookspool-fcgid.conf "$AP" fcgid alias; then
        code=$(curl -s -o /dev/null -w '%{http_code}' -d a=1 "http://127.0.0.1:$AP/ds/$ID")
        check "mod_fcgid: a responder that cannot start: 5xx ($code)" test "$code" -ge 500
        check "mod_fcgid: Apache's error log gives the reason" \
            wait_for 10 errlog_has "$T/apache/error.log"
        apache_stop
    else
        not_ok "Apache with mod_fcgid starts"
    fi
else
    echo "# no root, www-data, apache2 or mod_fcgid: Apache not tried"
fi
if [ -n "$WWW" ] && command -v nginx >/dev/null && command -v spawn-fcgi >/dev/null &&
    [ -f /etc/nginx/fastcgi_params ]; then
    deploy_conf "$ID" 1h
    chmod 600 "$HS_CONF"
    if units_copy && units_spawn; then
        NP=$(free_port)
        if nginx_start "$NP"; then
            code=$(curl -s -o /dev/null -w '%{http_code}' -d a=1 "http://127.0.0.1:$NP/ds/$ID")
            is "$code" 503 "nginx + spawn-fcgi: a responder that cannot start: 503"
            check "nginx's error log gives the reason" \
                wait_for 10 errlog_has "$T/nginx/error.log"
            nginx_stop
        else
            not_ok "nginx starts"
        fi
    else
        not_ok "spawn-fcgi starts the responder"
    fi
else
    echo "# no root, www-data, nginx or spawn-fcgi: nginx not tried"
fi

finish
