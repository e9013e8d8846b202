#!/bin/sh
# t-fake-bigquery.sh: the fake BigQuery server's self-test.  Makes a
# throwaway service-account key, starts tests/fake-bigquery/fake_bigquery.py
# on a free loopback port (--port-file), runs selftest.py against it, stops
# the fake and exits with selftest's status (77: skipped, python3 or openssl
# missing; 99: the fake did not start).  Uses $top_srcdir when set (make
# check sets it), else the tree this script is in.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
fb=$top_srcdir/tests/fake-bigquery

for tool in python3 openssl; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "t-fake-bigquery: $tool not found, skipping"
		exit 77
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-fake-bigquery.XXXXXX") || exit 99
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 99' HUP INT TERM

sh "$fb/make-key.sh" "$tmp/key" http://127.0.0.1/token || exit 99
python3 "$fb/fake_bigquery.py" --listen 127.0.0.1:0 \
    --port-file "$tmp/port" --public-key "$tmp/key/sa.pub" \
    2>"$tmp/fake.log" &
pid=$!
i=0
while [ ! -s "$tmp/port" ]; do
	i=$((i + 1))
	if [ "$i" -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "t-fake-bigquery: the fake did not start"
		cat "$tmp/fake.log"
		exit 99
	fi
	sleep 0.1
done
port=$(cat "$tmp/port")
# Point the key at the fake now that its port is known (same key pair).
sh "$fb/make-key.sh" "$tmp/key" "http://127.0.0.1:$port/token" || exit 99

python3 "$fb/selftest.py" --base "http://127.0.0.1:$port" \
    --key "$tmp/key/key.json" --public-key "$tmp/key/sa.pub"
status=$?
if [ "$status" -ne 0 ]; then
	echo "# --- fake_bigquery.py log (last 40 lines) ---"
	tail -n 40 "$tmp/fake.log" | sed 's/^/# /'
fi
exit "$status"
