#!/bin/sh
# The demo: install the Debian packages, build hookspool, then run the
# collector behind a real lighttpd on localhost, post the spec's CRM hits,
# run the uploader against the bundled fake BigQuery and print the rows it
# loaded.  Everything runs on loopback in a temporary folder.
set -eu
cd "$(dirname "$0")/../.."
top=$(pwd)
sh tests/deps.sh --test
[ -x configure ] || ./autogen.sh >/dev/null
mkdir -p _build/demo
if [ ! -x _build/demo/src/hookspool-upload ] ||
    [ -n "$(find src -newer _build/demo/src/hookspool-upload -name '*.[ch]' | head -1)" ]; then
	(cd _build/demo && { [ -f Makefile ] || "$top/configure" -q; } &&
	    make -s -j2 >/dev/null)
fi
exec bash tests/demo/demo-run.sh
