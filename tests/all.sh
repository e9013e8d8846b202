#!/bin/sh
# The whole test suite, as CI runs it: install the Debian packages, build
# with -Werror and run every test (unit and real-process), again under
# AddressSanitizer + UndefinedBehaviorSanitizer, `make distcheck`, and each
# libFuzzer target briefly.  Ends with "N passed, N failed, N skipped".
# --no-skip (CI, where every prerequisite is installed): a skipped test
# fails the run too.
set -u
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
pass=0 fail=0 skip=0
no_skip=0
case ${1:-} in
'') ;;
--no-skip) no_skip=1 ;;
*) echo "usage: sh tests/all.sh [--no-skip]" >&2; exit 64 ;;
esac
log() { printf '\n=== %s\n' "$*"; }

sh tests/deps.sh --test || { echo "0 passed, 1 failed, 0 skipped"; exit 1; }
./autogen.sh >/dev/null 2>&1 || { echo "autogen.sh failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }

# count DIR: add the automake harness totals of DIR/test-suite.log.
count() {
	f=$1/test-suite.log
	if [ ! -f "$f" ]; then
		# make check stopped before any test ran: say why.
		echo "--- $1/check.log: no test ran"
		tail -30 "$1/check.log" 2>/dev/null
		fail=$((fail + 1))
		return
	fi
	p=$(sed -n 's/^# PASS: *//p' "$f" | head -1)
	x=$(sed -n 's/^# FAIL: *//p' "$f" | head -1)
	e=$(sed -n 's/^# ERROR: *//p' "$f" | head -1)
	s=$(sed -n 's/^# SKIP: *//p' "$f" | head -1)
	pass=$((pass + ${p:-0}))
	fail=$((fail + ${x:-0} + ${e:-0}))
	skip=$((skip + ${s:-0}))
	grep -E '^(FAIL|ERROR|SKIP):' "$f" | sed 's/^/  /'
}

# build NAME CONFIGURE-ARGS...: configure, make and make check in _build/NAME
build() {
	name=$1
	shift
	log "build $name: configure $*"
	rm -rf "_build/$name"
	mkdir -p "_build/$name"
	(cd "_build/$name" && "$top/configure" -q "$@" >/dev/null &&
	    make -s -j2 >build.log 2>&1) || {
		tail -30 "_build/$name/build.log" 2>/dev/null
		echo "build $name failed"
		fail=$((fail + 1))
		return 1
	}
	(cd "_build/$name" && make -j2 check $check_args >check.log 2>&1)
	grep -E '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS):' "_build/$name/check.log"
	for t in $(grep -lE '^(FAIL|ERROR)' $(find "_build/$name/tests" -name '*.log') 2>/dev/null); do
		echo "--- $t"
		tail -40 "$t"
	done
	count "_build/$name"
}

# The Debian package test (PACKAGE_TESTS) runs once, in the main build: the
# package is built from the clone whatever a build's flags.
check_args=
build main --enable-debug
check_args="PACKAGE_TESTS="
build asan --enable-asan CFLAGS="-O1 -g"
check_args=

log "make distcheck"
if (cd _build/main && make -j2 distcheck >distcheck.log 2>&1); then
	echo "PASS: distcheck"
	pass=$((pass + 1))
else
	tail -40 _build/main/distcheck.log
	# A test that failed in the distcheck tree: say which, and why.
	for t in $(find _build/main -path '*/_build/sub/tests/*' -name '*.log' \
	    -exec grep -lE '^(FAIL|ERROR)' {} + 2>/dev/null); do
		echo "--- $t"
		tail -40 "$t"
	done
	echo "FAIL: distcheck"
	fail=$((fail + 1))
fi

log "fuzz ($FUZZ_SECONDS s per target)"
rm -rf _build/fuzz && mkdir -p _build/fuzz
if (cd _build/fuzz && "$top/configure" -q CC=clang --enable-fuzzing >/dev/null &&
    make -s -j2 $(cd "$top" && ls fuzz/fuzz_*.c | sed 's/\.c$//') >build.log 2>&1); then
	for src in fuzz/fuzz_*.c; do
		t=$(basename "$src" .c)
		corpus=_build/fuzz/corpus-$t
		mkdir -p "$corpus"
		seeds=fuzz/corpus/${t#fuzz_}
		if "_build/fuzz/fuzz/$t" -max_total_time="$FUZZ_SECONDS" \
		    "$corpus" $( [ -d "$seeds" ] && echo "$seeds") \
		    >"_build/fuzz/$t.log" 2>&1; then
			echo "PASS: $t"
			pass=$((pass + 1))
		else
			tail -30 "_build/fuzz/$t.log"
			echo "FAIL: $t"
			fail=$((fail + 1))
		fi
	done
else
	tail -30 _build/fuzz/build.log
	echo "FAIL: fuzz build"
	fail=$((fail + 1))
fi

echo
[ "$no_skip" = 1 ] && [ "$skip" -gt 0 ] &&
    echo "--no-skip: $skip skipped (the SKIP lines above say what is missing)"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] || exit 1
[ "$no_skip" = 0 ] || [ "$skip" -eq 0 ]
