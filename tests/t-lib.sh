#!/usr/bin/env bash
# tests/lib.sh itself: a script that sources it under `set -e` (as
# tests/demo-run.sh does) and stops its servers before it ends exits 0,
# and its temporary folder is removed.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
cat >"$T/child.sh" <<'SH'
. "$top_srcdir/tests/lib.sh"
set -e
echo "$T" >"$1"
sleep 60 &
HS_PIDS+=($!)
sleep 0.5
kill "$!"
wait "$!" 2>/dev/null || true
echo done
SH
out=$(bash "$T/child.sh" "$T/child.T" 2>&1)
rc=$?
is "$rc" 0 "a set -e script whose server already stopped exits 0"
is "$out" done "and prints nothing more"
child_T=$(cat "$T/child.T")
check "its temporary folder ($child_T) is removed" test ! -e "$child_T"
finish
