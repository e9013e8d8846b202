#!/bin/bash
# bench/run-manykeys.sh: how long the uploader's validation (src/jsoncheck.c)
# takes over one 1 MiB line whose `params` object holds ~110,000 keys, the
# shape that cost 27 s of CPU under the spool lock while duplicate keys were
# found by comparing each key with all before it.  Builds bench/upload/
# fastcheck.c (-O2) against libhs.a in $BUILD, writes the lines, and times
# each with fastcheck (jsoncheck alone) and fastcheck -j (jansson too, whose
# verdict must agree).  Lines: distinct short keys; the same with its
# first key again at the end (a duplicate, the line is refused); distinct
# keys sharing a 60-byte prefix (long comparisons).  Prints a Markdown table
# and writes it to bench/results/manykeys-DATE.md (OUT=- : stdout only).
#
# BEFORE=REV also times src/jsoncheck.c as it was at git revision REV (once,
# it may take half a minute a line).  The machine may be shared: the target
# is on CPU time (user + sys of the whole fastcheck process, best of ROUNDS);
# the wall columns are fastcheck's own clock.
#
# Not a test: exits 0 when every row ran and the verdicts agreed, 1 if not.
# The target: every line judged by jsoncheck in under 0.1 s of CPU.
set -u
. "$(dirname "$0")/lib.sh"
: "${BUILD:=/tmp/build-upbench}"
: "${ROUNDS:=5}"
: "${OUT:=$BENCH/results/manykeys-$(date -u +%Y-%m-%d).md}"

W=$(mktemp -d /tmp/hs-manykeys.XXXXXX) || die "cannot create scratch dir"
trap '[ "${KEEP:-0}" = 1 ] || rm -rf "$W"' EXIT
bench_build "$BUILD" "$W" libhs.a
cc -O2 -g -Wall -Wextra -I"$BUILD" -I"$TOP/src" -o "$W/fastcheck" \
    "$BENCH/upload/fastcheck.c" "$BUILD/libhs.a" -ljansson -lm ||
    die "cannot build bench/upload/fastcheck.c"
if [ -n "${BEFORE:-}" ]; then
	git -C "$TOP" show "$BEFORE:src/jsoncheck.c" >"$W/jsoncheck-before.c" ||
	    die "no src/jsoncheck.c at $BEFORE"
	# Its object comes first, so libhs.a's jsoncheck.o is not linked.
	cc -O2 -g -I"$BUILD" -I"$TOP/src" -o "$W/fastcheck-before" \
	    "$BENCH/upload/fastcheck.c" "$W/jsoncheck-before.c" \
	    "$BUILD/libhs.a" -ljansson -lm ||
	    die "cannot build fastcheck with the jsoncheck.c of $BEFORE"
fi

python3 - "$W" <<'PY'
import sys
w = sys.argv[1]
def line(keys, extra=None):
    ps = ",".join('"%s":%d' % (k, i % 10) for i, k in enumerate(keys))
    if extra is not None:
        ps += ',"%s":0' % extra
    return '{"hit_id":"h","params":{%s}}\n' % ps
short = ["%x" % i for i in range(112000)]
prefix = ["p" * 60 + "%x" % i for i in range(15500)]
for name, text in (("distinct", line(short)),
                   ("duplicate", line(short, short[0])),
                   ("prefix60", line(prefix))):
    with open("%s/%s.ndjson" % (w, name), "w") as f:
        f.write(text)
PY

# cpu CMD...: CMD's output, then "cpu S", its user + sys seconds.
cpu() {
	/usr/bin/time -f 'cpu %U %S' -o "$W/time" "$@"
	awk '{printf "cpu %.3f\n", $2 + $3}' "$W/time"
}

[ -x /usr/bin/time ] || die "GNU time is not installed (apt-get install time)"
FAILED=0
{
	echo "# The 1 MiB many-keys line: jsoncheck vs jansson"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -m), $(nproc) CPUs" \
	    "($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- |
	    sed 's/^ *//')), commit $(git -C "$TOP" rev-parse --short HEAD \
	    2>/dev/null || echo '?'), best of $ROUNDS runs, fastcheck -O2."
	echo
	echo "| line | bytes | keys | verdict | jsoncheck CPU s | jsoncheck wall s |" \
	    "jansson wall s |${BEFORE:+ jsoncheck at $BEFORE, CPU s |} under 0.1 s |"
	echo "|---|---|---|---|---|---|---|${BEFORE:+---|}---|"
} >"$W/out.md"
for name in distinct duplicate prefix60; do
	f=$W/$name.ndjson
	best= wall=
	for _ in $(seq "$ROUNDS"); do
		r=$(cpu "$W/fastcheck" "$f") || true
		c=$(sed -n 's/^cpu //p' <<<"$r")
		if [ -z "$best" ] || awk "BEGIN{exit !($c < $best)}"; then
			best=$c
			wall=$(grep -v '^cpu' <<<"$r" | awk '{print $4}')
		fi
	done
	old=
	if [ -n "${BEFORE:-}" ]; then
		old=$(cpu "$W/fastcheck-before" "$f" | sed -n 's/^cpu //p')
		old="$old |"
	fi
	bad=$(grep -v '^cpu' <<<"$r" | awk '{print $3}')
	j=$("$W/fastcheck" -j "$f") || FAILED=1
	js=$(echo "$j" | sed -n 's/^jansson: [0-9]* bad, \([0-9.]*\) s.*/\1/p')
	echo "$j" | grep -q "differ on 0 " || FAILED=1
	keys=$(grep -o '":[0-9]' "$f" | wc -l)
	under=no
	awk "BEGIN{exit !($best < 0.1)}" && under=yes
	[ "$under" = yes ] || FAILED=1
	echo "| $name | $(stat -c %s "$f") | $keys |" \
	    "$([ "$bad" = 0 ] && echo valid || echo refused) | $best |" \
	    "$wall | ${js:-?} |${old:+ $old} $under |" >>"$W/out.md"
done
cat "$W/out.md"
if [ "$OUT" != - ]; then
	cp "$W/out.md" "$OUT" && echo "# written to $OUT" >&2
fi
exit "$FAILED"
