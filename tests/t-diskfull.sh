#!/usr/bin/env bash
# A full spool filesystem: 503 with Retry-After, never a 2xx for a hit that
# is not on disk, no torn line left behind, and service resumes when space
# returns.  The spool is a small tmpfs (needs root to mount).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
need lighttpd curl python3
need_file "$HS_FCGI"
mkdir -p "$T/spool"
mount -t tmpfs -o size=2m tmpfs "$T/spool" 2>/dev/null || skip "cannot mount a tmpfs (needs root)"
HS_MOUNTS+=("$T/spool")

ID=0f0e0d0c-aaaa-4bbb-8ccc-000000000009
hs_conf "$T/hs.conf" "$ID" "min_free_space = 0"
# No sealing while the spool is checked: a batch renamed from tmp/ to new/
# in the middle of the scan would be read twice.
sed -i 's/^batch_max_age = .*/batch_max_age = 1h/' "$T/hs.conf"
PORT=$(free_port)
start_lighttpd "$T/hs.conf" "$PORT" || { not_ok "lighttpd starts"; finish; }
URL=http://127.0.0.1:$PORT/ds/$ID

# Fill the filesystem but for a little room, with a file we can remove.
mkdir -p "$T/spool/crm"
dd if=/dev/zero of="$T/spool/filler" bs=1k count=1900 2>/dev/null
body=$(head -c 3000 /dev/zero | tr '\0' 'x')
out=$(python3 "$TOOLS/load.py" --url "$URL" --n 400 --concurrency 8 --body "$body" --out "$T/acked1")
echo "# full: $out"
check "some hits were refused with 503" grep -Eq "err5xx=[1-9]" <<<"$out"
check "some hits fit before the disk filled" grep -Eq "ok2xx=[1-9]" <<<"$out"
check "no 4xx for a full disk" grep -q "err4xx=0 " <<<"$out"
ra=$(curl -s -D - -o /dev/null -d "$body" "$URL" | tr -d '\r' | sed -n 's/^Retry-After: //p')
check "503 carries Retry-After ($ra)" test -n "$ra"
hs=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/ds/-/health")
res=$(python3 "$TOOLS/spoolcheck.py" --acked "$T/acked1" "$T/spool/crm/tmp" "$T/spool/crm/new")
echo "# while full: $res"
check "while full: every 2xx'd hit is on disk, no torn line" grep -q "missing=0 duplicated=0 problems=0" <<<"$res"

# Space returns: service resumes without a restart.
rm -f "$T/spool/filler"
out=$(python3 "$TOOLS/load.py" --url "$URL" --n 100 --concurrency 4 --out "$T/acked2")
echo "# after: $out"
check "after space returns every hit is accepted" grep -q "ok2xx=100 " <<<"$out"

# The free-space floor: min_free_space above what is free answers 503.
stop_lighttpd
hs_conf "$T/hs2.conf" "$ID" "min_free_space = 1G"
start_lighttpd "$T/hs2.conf" "$PORT" || { not_ok "lighttpd restarts"; finish; }
code=$(curl -s -o /dev/null -w '%{http_code}' -d a=1 "$URL")
is "$code" 503 "below min_free_space: 503"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/ds/-/health")
is "$code" 503 "health says 503 below min_free_space"
stop_lighttpd
cat "$T/acked1" "$T/acked2" >"$T/acked"
res=$(python3 "$TOOLS/spoolcheck.py" --acked "$T/acked" "$T/spool/crm/tmp" "$T/spool/crm/new")
echo "# end: $res"
check "in the end: every 2xx'd hit on disk exactly once, no torn line" grep -q "missing=0 duplicated=0 problems=0" <<<"$res"
# Writes cut short by the full disk never reached a seal's CRC-32.
check "every batch in new/ sealed with its size and CRC-32" \
    python3 "$TOOLS/spoolcheck.py" --sealed "$T/spool/crm/new"
finish
