#!/usr/bin/env bash
# tests/lib.sh itself: a script that sources it under `set -e` (as
# tests/demo/demo-run.sh does) and stops its servers before it ends exits 0,
# and its temporary folder is removed then, not earlier by a killed
# background job.
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

# A background job killed before it execs its command runs the EXIT trap
# of the forked shell: that copy must not clean up the test's folder.
cat >"$T/bg.sh" <<'SH'
. "$top_srcdir/tests/lib.sh"
for i in 1 2 3 4 5; do
    sleep 60 &
    kill "$!"
    wait "$!" 2>/dev/null
done
sleep 0.5
test -d "$T" && echo kept
SH
is "$(bash "$T/bg.sh" 2>/dev/null)" kept "a killed background job leaves \$T alone"
finish
