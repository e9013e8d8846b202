#!/usr/bin/env bash
# contrib/hookspool.conf.sample (installed by make install) cannot drift
# from the program: it has every key `hookspoolctl config` prints, in the
# same sections and order, each with the default hookspoolctl prints, and
# uncommented it is a valid config that changes nothing.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need python3
SAMPLE=$top_builddir/contrib/hookspool.conf.sample
need_file "$HS_CTL"
[ -f "$SAMPLE" ] || { not_ok "make builds $SAMPLE"; finish; }

# The defaults: a config with one stream and only its required keys.
printf '[stream orders]\nid = x1\ntable = p.d.t\n' >"$T/min.conf"
chmod 600 "$T/min.conf"
"$HS_CTL" -c "$T/min.conf" config >"$T/want" 2>"$T/want.err"
is "$?" 0 "hookspoolctl config prints the defaults"

# keys FILE: "section key" for each key line (commented or not) of FILE.
keys() {
    sed -nE 's/^#?(\[stream [^]]*\]|[a-z_]+) ?=?.*$/\1/p' "$1" |
        awk '/^\[/ { s = "stream"; next } { print (s ? s : "global"), $0 }'
}
keys "$T/want" >"$T/want.keys"
keys "$SAMPLE" >"$T/sample.keys"
check "the sample has $(wc -l <"$T/want.keys") keys, as hookspoolctl config prints them" \
    cmp -s "$T/want.keys" "$T/sample.keys"
diff "$T/want.keys" "$T/sample.keys" | sed 's/^/# /'

# Uncommented (the required keys given a value; an empty value may mean
# "set to nothing", so those stay commented) it loads, and every value is
# the default: hookspoolctl config prints the same.
sed -E 's/^#([a-z_]+ = .*[^ ]|\[stream [^]]*\])$/\1/; s/^#id =$/id = x1/; s/^#table =$/table = p.d.t/' \
    "$SAMPLE" >"$T/full.conf"
chmod 600 "$T/full.conf"
"$HS_CTL" -c "$T/full.conf" config >"$T/got" 2>"$T/got.err"
is "$?" 0 "the sample, uncommented, is a valid config"
sed 's/^/# /' "$T/got.err"
strip() { sed -e '1d' -e 's/[[:space:]]*$//' "$1"; }
check "every value in the sample is hookspoolctl's default" \
    cmp -s <(strip "$T/want") <(strip "$T/got")
diff <(strip "$T/want") <(strip "$T/got") | sed 's/^/# /'
finish
