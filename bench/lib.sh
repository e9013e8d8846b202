# bench/lib.sh: what the benchmark scripts share.  Source it first thing:
#	. "$(dirname "$0")/lib.sh"
# It sets BENCH (this folder), TOP (the source tree) and NAME (the script's
# name, for its messages), and defines say, die and bench_build.

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$BENCH/.." && pwd)
NAME=$(basename "$0" .sh)

say() { echo "# $*" >&2; }
die() { echo "$NAME: $*" >&2; exit 1; }

# bench_log LOGDIR NAME CMD...: run CMD with its output in LOGDIR/NAME.log
# (LOGDIR "-": its standard output dropped, its errors shown); dies with
# what failed, setting KEEP=1 so that the log stays.
bench_log() {
	local logdir=$1 log=$2
	shift 2
	if [ "$logdir" = - ]; then
		"$@" >/dev/null || { KEEP=1; die "$log failed"; }
	else
		"$@" >"$logdir/$log.log" 2>&1 ||
		    { KEEP=1; die "$log failed, see $logdir/$log.log"; }
	fi
}

# bench_build BUILD LOGDIR TARGET...: make TARGETs in the build folder
# BUILD, configured here (CFLAGS="-O2 -g") when it has no Makefile; an -O0
# (--enable-debug) build is warned about, not refused.  The output goes
# to LOGDIR/configure.log and LOGDIR/make.log (see bench_log).
bench_build() {
	local build=$1 logdir=$2
	shift 2
	mkdir -p "$build" || die "cannot create $build"
	if [ ! -f "$build/Makefile" ]; then
		say "configuring $build (CFLAGS=-O2 -g)"
		bench_log "$logdir" configure \
		    sh -c 'cd "$1" && "$2/configure" CFLAGS="-O2 -g"' sh \
		    "$build" "$TOP"
	fi
	grep -q -- '-O0' "$build/Makefile" &&
	    say "warning: $build is an -O0 (--enable-debug) build"
	say "building $* in $build"
	bench_log "$logdir" make make -C "$build" -j2 "$@"
}
