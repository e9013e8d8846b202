#!/usr/bin/env bash
# make install puts the annotated hookspool.conf.sample beside the config,
# and make uninstall leaves nothing behind: no file, and no empty folder
# the install created.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need make
[ -f "$top_builddir/Makefile" ] || skip "$top_builddir is not a configured build"
sysconfdir=$(sed -n 's/^sysconfdir = //p' "$top_builddir/Makefile")
prefix=$(sed -n 's/^prefix = //p' "$top_builddir/Makefile")
sysconfdir=${sysconfdir//\$\{prefix\}/$prefix}
D=$T/root
# A make of our own, not the make check that runs us; the record of the
# folders created goes to $T, not to the build's own.
mk() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
        make -s -C "$top_builddir" DESTDIR="$D" HS_CREATED="$T/created" "$@" \
        >>"$T/make.log" 2>&1
}
mkdir -p "$D"
mk install
is "$?" 0 "make install DESTDIR=..."
check "hookspool.conf.sample is installed in $sysconfdir" \
    test -f "$D$sysconfdir/hookspool.conf.sample"
check "and it documents spool_dir with its default" \
    grep -q '^#spool_dir = ' "$D$sysconfdir/hookspool.conf.sample"
mk uninstall
is "$?" 0 "make uninstall DESTDIR=..."
left=$(find "$D" -mindepth 1 | sed "s|^$D||")
is "$left" "" "nothing left after make uninstall (no file, no empty folder)"
tail -5 "$T/make.log" | sed 's/^/# /'
finish
