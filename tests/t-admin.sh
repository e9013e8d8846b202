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
    # The clone may sit where www-data cannot enter (/root is mode 700).
    www_stage_programs
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

# ---- hookspoolctl config --check ----------------------------------------
# As root with --user www-data, and as www-data itself (runuser): the
# config, the secret and key files it names, the spool.
C=$T/check.conf
mkdir -p "$T/spool2"
echo '{"type": "service_account"}' >"$T/key.json"
printf 'whsec-like-secret\n' >"$T/secret"
chmod 600 "$T/key.json" "$T/secret"
cat >"$C" <<CONF
spool_dir = $T/spool2
credentials = $T/key.json

[stream crm]
id = $ID
table = test-project.crm.hits
signature = hmac-sha256
signature_header = X-Sig
signature_secret_file = $T/secret
CONF
chmod 600 "$C"
if [ -n "$WWW" ]; then
    "$HS_CTL" -c "$C" config --check --user "$WWW" >"$T/check.out" 2>&1
    rc=$?
    check "--user $WWW, config root's alone: exit non-zero ($rc)" test "$rc" -ne 0
    check "it says the config cannot be read" \
        grep -q "config '$C'.*Permission denied" "$T/check.out"
    chgrp "$WWW" "$C"
    chmod 640 "$C"
    "$HS_CTL" -c "$C" config --check --user "$WWW" >"$T/check.out" 2>&1
    rc=$?
    check "config readable, secret, key and spool not: exit non-zero ($rc)" test "$rc" -ne 0
    check "it says the secret file cannot be read" \
        grep -q "'$T/secret'.*Permission denied" "$T/check.out"
    check "it says the credentials key cannot be read" \
        grep -q "'$T/key.json'.*Permission denied" "$T/check.out"
    check "it says the spool cannot be written" \
        grep -q "'$T/spool2'.*Permission denied" "$T/check.out"
    chgrp "$WWW" "$T/secret"
    chmod 640 "$T/secret"
    chown "$WWW" "$T/key.json" "$T/spool2"
    "$HS_CTL" -c "$C" config --check --user "$WWW" >"$T/check.out" 2>&1
    is "$?" 0 "all readable and writable by $WWW: exit 0"
    runuser -u "$WWW" -- "$HS_CTL" -c "$C" config --check >"$T/check.out" 2>&1
    is "$?" 0 "run as $WWW: exit 0"
    check "it names the user" grep -q "$WWW" "$T/check.out"
    chown root "$T/spool2"
    runuser -u "$WWW" -- "$HS_CTL" -c "$C" config --check >"$T/check.out" 2>&1
    rc=$?
    check "run as $WWW, spool root's: exit non-zero ($rc)" test "$rc" -ne 0
    check "it says the spool cannot be written" \
        grep -q "'$T/spool2'.*Permission denied" "$T/check.out"
    chmod 600 "$C"
    runuser -u "$WWW" -- "$HS_CTL" -c "$C" config --check >"$T/check.out" 2>&1
    rc=$?
    check "run as $WWW, config root's alone: exit non-zero ($rc)" test "$rc" -ne 0
    check "it says the config cannot be read" \
        grep -q "'$C'.*Permission denied" "$T/check.out"
    sed 's/^/#   /' "$T/check.out"
else
    "$HS_CTL" -c "$C" config --check >"$T/check.out" 2>&1
    is "$?" 0 "config --check as the owner of every file: exit 0"
    "$HS_CTL" -c "$C" config --check --user nosuchuser-hs >/dev/null 2>&1
    check "--user with an unknown user: exit non-zero" test "$?" -ne 0
fi

# ---- stream add without a config file ------------------------------------
NC=$T/etc/hookspool.conf
mkdir -p "$T/etc"
"$HS_CTL" -c "$NC" stream add orders test-project.crm.orders >"$T/add.out" 2>&1
is "$?" 0 "stream add with no config file: exit 0"
sed 's/^/#   /' "$T/add.out"
check "the config file was created" test -f "$NC"
is "$(stat -c %a "$NC" 2>/dev/null)" 640 "created with mode 640"
if [ -n "$WWW" ]; then
    is "$(stat -c %U:%G "$NC" 2>/dev/null)" "root:$WWW" "created root:$WWW"
fi
check "it holds the new stream" grep -q '^\[stream orders\]$' "$NC"
check "it loads" "$HS_CTL" -c "$NC" config
"$HS_CTL" -c "$NC" stream add leads test-project.crm.leads >/dev/null 2>&1
is "$?" 0 "a second stream add appends to it"
is "$(grep -c '^\[stream ' "$NC")" 2 "two streams in it"
"$HS_CTL" -c "$T/etc/other.conf" stream add 'bad name' test-project.crm.x >/dev/null 2>&1
check "a refused stream add leaves no config file behind" test ! -e "$T/etc/other.conf"

finish
