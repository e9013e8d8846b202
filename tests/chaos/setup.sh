# tests/chaos/setup.sh: the set-up that tests/chaos/chaos.sh and
# bench/soak.sh share, sourced after bench/lib.sh with BUILD set: builds the
# three programs there, sources tests/lib.sh against that build (scratch
# folder $T, the servers' helpers) and sets CHAOS, the driver.
bench_build "$BUILD" - src/hookspool-fcgi src/hookspool-upload \
    src/hookspoolctl

top_srcdir=$TOP
top_builddir=$BUILD
. "$TOP/tests/lib.sh"
need lighttpd curl python3 openssl
CHAOS=$TOP/tests/chaos/chaos.py
