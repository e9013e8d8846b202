#!/bin/bash
# bench/run-upload.sh: the uploader benchmark.  One command: builds what it
# needs, starts a fast local BigQuery stand-in (bench/upload/sink.c: the
# token, resumable and multipart uploads, jobs.get; counts and discards the
# data), and for each case (a backlog size cut into batches of a size) in
# ROUNDS rounds, row order rotating, measures side by side on the same sink:
#   curl-data   curl --data-binary @all.ndjson (POST, the file read whole
#               into curl's memory first, as --data-binary does)
#   curl-T      curl -T all.ndjson (PUT, streamed from the file)
#   upload      hookspool-upload -c CONF on the same bytes as sealed batches
#               in new/ (shipped defaults: job_max_bytes 4G, chunk_size 8M)
#   validate    bench/upload/validate-only: spool_validate() over the same
#               batches (the uploader validates only the batches of a
#               job abandoned for a bad line; it was its pre-claim pass)
#   fastcheck   bench/upload/fastcheck.c: src/jsoncheck.c, the uploader's
#               line check, alone over the same batches (mapped files)
# Each row: wall time, MiB/s, user+sys CPU, peak RSS (wait4's ru_maxrss, as
# /usr/bin/time -v prints it; the upload row runs under /usr/bin/time -v and
# its "Maximum resident set size" is recorded too), RSS sampled every
# INTERVAL s, and the sink's own clock for the transfer (first byte of the
# request, or of the resumable session's POST, to the last data byte).
# Prints a Markdown summary (medians, ratios to curl) and writes it, with
# the machine, the RSS timelines and the raw rows, to
# bench/results/upload-DATE.md.  Checks every measurement: curl's answer and
# the sink's counters must show every byte and line, the uploader must exit
# 0 silently and leave every batch in done/.
#
# Not a test: exits 0 when it measured everything, whatever the numbers, and
# 1 when a row could not run or a check failed.
#
# Knobs (environment):
#   CASES     "SIZE/BATCH ..." backlogs and batch sizes, K/M/G suffixes
#             ("100M/8M 1G/8M 1G/64M": 8M is the shipped batch_max_bytes;
#             the 64M row shows what a larger batch_max_bytes costs in RSS)
#   ROUNDS    rounds per case (3)      INTERVAL  RSS sampling period (0.02)
#   SEAL      1 (default): the batches carry the responder's seal (size
#             and CRC-32), as the responder's do; 0: none, as batches
#             dropped in by hand or sealed by repair (checked line by line)
#   QUIET     wait (at most 120 s) before each round until the 1-minute
#             load average is below this ("": do not wait)
#   PROFILE=1 add `perf record` of one uploader run of the first case
#             (default 1 when perf exists)
#   BUILD     hookspool build dir (/tmp/build-upbench, configured
#             CFLAGS="-O2 -g" here when it has no Makefile); HS_UPLOAD
#             overrides the binary (BUILD must still hold libhs.a)
#   HS_UPLOAD_B  a second hookspool-upload (a baseline build): adds an
#             `uploadb` row to every round, and its ratios to `upload`
#   CONF, CONF_B  global settings added to the config of the upload row,
#             and of the uploadb row ("chunk_size = 32M"): with
#             HS_UPLOAD_B=$HS_UPLOAD, an A/B of a setting
#   WORKDIR   parent of the scratch folder (/var/tmp: on disk, not tmpfs;
#             needs about 2 x the largest SIZE free)
#   OUT       results file (bench/results/upload-YYYY-MM-DD.md; "-": none)
#   KEEP=1    keep the scratch folder
#
# Needs: cc python3 curl openssl libjansson-dev and the libraries hookspool
# builds with, GNU time (Debian's `time`), perf (`linux-perf`) for PROFILE.

set -u
. "$(dirname "$0")/lib.sh"
: "${CASES:=100M/8M 1G/8M 1G/64M}"
: "${ROUNDS:=3}"
: "${INTERVAL:=0.02}"
: "${QUIET:=}"
: "${SEAL:=1}"
: "${BUILD:=/tmp/build-upbench}"
: "${WORKDIR:=/var/tmp}"
: "${OUT:=$BENCH/results/upload-$(date -u +%Y-%m-%d).md}"
if [ -z "${PROFILE:-}" ]; then
	PROFILE=0
	command -v perf >/dev/null 2>&1 && PROFILE=1
fi


for c in cc python3 curl openssl; do
	command -v "$c" >/dev/null 2>&1 ||
	    die "$c is not installed (run tests/deps.sh --bench as root)"
done
[ -x /usr/bin/time ] ||
    die "GNU time is not installed (apt-get install time)"

W=$(mktemp -d "$WORKDIR/hs-upbench.XXXXXX") || die "cannot create scratch dir"
mkdir -p "$W/log" "$W/bin"
SINK_PID=
FAILED=0
cleanup() {
	if [ -n "$SINK_PID" ]; then
		kill "$SINK_PID" 2>/dev/null
		wait "$SINK_PID" 2>/dev/null
	fi
	if [ "${KEEP:-0}" = 1 ]; then
		say "kept $W"
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# bytes SIZE: 100M -> 104857600
bytes() {
	local n=${1%[KMGkmg]} u=${1##*[0-9]}
	case $u in
	K|k) echo $((n * 1024)) ;;
	M|m) echo $((n * 1024 * 1024)) ;;
	G|g) echo $((n * 1024 * 1024 * 1024)) ;;
	*) echo "$n" ;;
	esac
}

# ---- build -------------------------------------------------------------

bench_build "$BUILD" "$W/log" libhs.a src/hookspool-upload
: "${HS_UPLOAD:=$BUILD/src/hookspool-upload}"
[ -x "$HS_UPLOAD" ] || die "$HS_UPLOAD is not executable"
cc -O2 -g -Wall -Wextra -pthread -o "$W/bin/sink" "$BENCH/upload/sink.c" ||
    die "cannot build bench/upload/sink.c"
cc -O2 -g -Wall -Wextra -I"$BUILD" -I"$TOP/src" -o "$W/bin/validate-only" \
    "$BENCH/upload/validate-only.c" "$BUILD/libhs.a" \
    -lcurl -luuid -lcrypto -ljansson -linih -lz -lpthread ||
    die "cannot build bench/upload/validate-only.c"
cc -O2 -g -Wall -Wextra -I"$BUILD" -I"$TOP/src" -o "$W/bin/fastcheck" \
    "$BENCH/upload/fastcheck.c" "$BUILD/libhs.a" -ljansson -lm ||
    die "cannot build bench/upload/fastcheck.c"
# The prototype's numbers mean something only while it judges as jansson.
"$W/bin/fastcheck" -e >&2 ||
    { say "fastcheck disagrees with jansson"; FAILED=1; }

# ---- the sink and the uploader's config ------------------------------------

"$W/bin/sink" -p "$W/port" 2>"$W/log/sink.log" &
SINK_PID=$!
for _ in $(seq 1 50); do
	[ -s "$W/port" ] && break
	sleep 0.1
done
[ -s "$W/port" ] || die "the sink did not start, see $W/log/sink.log"
PORT=$(cat "$W/port")
BASE=http://127.0.0.1:$PORT
sh "$TOP/tests/fake-bigquery/make-key.sh" "$W/key" "$BASE/token" \
    >"$W/log/key.log" 2>&1 || die "cannot make a key, see $W/log/key.log"

# conf SPOOL FILE EXTRA: the shipped defaults but for the spool, the
# endpoints and EXTRA.
conf() {
	cat >"$2" <<CONF
spool_dir = $1
$3
credentials = $W/key/key.json
project = bench-project
api_base = $BASE

[stream crm]
id = 522ed95e-3c6e-4a41-9d8a-5b6f0a1c2d3e
table = bench-project.crm.hits
CONF
	chmod 600 "$2"
}

stat_field() {
	curl -s "$BASE/stats" | python3 -c \
	    'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

wait_quiet() {
	local i l
	[ -n "$QUIET" ] || return 0
	for i in $(seq 1 120); do
		l=$(cut -d' ' -f1 /proc/loadavg)
		python3 -c "import sys; sys.exit(0 if $l < $QUIET else 1)" &&
		    return 0
		sleep 1
	done
	say "load average still $l after 120 s; measuring anyway"
}

RAW=$W/raw.tsv
printf 'case\tround\trow\twall\tuser\tsys\tmaxrss_kb\tserver_s\tload1\t' \
    >"$RAW"
printf 'rss_p50_kb\trss_max_kb\ttimev_maxrss_kb\ttimeline_kb\n' >>"$RAW"

# record CASE ROUND ROW JSON SERVER_S TIMEV_KB: one raw row.
record() {
	python3 - "$@" >>"$RAW" <<'PY'
import json, sys
case, rnd, row, js, server, timev = sys.argv[1:7]
j = json.loads(js)
r = j.get("rss_kb", {})
load1 = open("/proc/loadavg").read().split()[0]
print("\t".join(str(x) for x in (case, rnd, row, j["wall"], j["user"],
      j["sys"], j["maxrss_kb"], server, load1, r.get("p50", "-"),
      r.get("max", "-"), timev,
      ",".join(str(v) for v in j.get("timeline_kb", [])))))
PY
}

sample() {
	python3 "$BENCH/upload/rss-sample.py" --interval "$INTERVAL" "$@"
}

# ---- rows --------------------------------------------------------------

row_curl_data() {
	local js ans
	js=$(sample -- curl -s -S -o "$W/curl.out" --data-binary \
	    @"$CW/all.ndjson" "$BASE/discard") || {
		say "$CASE: curl --data-binary failed"; FAILED=1; return; }
	ans=$(cat "$W/curl.out")
	if [ "$ans" != "{\"bytes\":$NBYTES,\"lines\":$NLINES}" ]; then
		say "$CASE: curl --data-binary: the sink saw $ans"
		FAILED=1
	fi
	record "$CASE" "$R" curl-data "$js" "$(stat_field last_seconds)" -
}

row_curl_T() {
	local js ans
	js=$(sample -- curl -s -S -o "$W/curl.out" -T "$CW/all.ndjson" \
	    "$BASE/discard") || { say "$CASE: curl -T failed"; FAILED=1; return; }
	ans=$(cat "$W/curl.out")
	if [ "$ans" != "{\"bytes\":$NBYTES,\"lines\":$NLINES}" ]; then
		say "$CASE: curl -T: the sink saw $ans"
		FAILED=1
	fi
	record "$CASE" "$R" curl-T "$js" "$(stat_field last_seconds)" -
}

# Put the batches back into new/ as if nothing had been loaded.
reset_spool() {
	local s=$CW/spool
	mkdir -p "$s/crm/done" "$s/crm/active" "$s/crm/failed" \
	    "$s/crm/corrupt"
	find "$s/crm/done" -maxdepth 1 -name '*.ndjson' \
	    -exec mv -t "$s/crm/new/" {} +
	rm -f "$s"/.quota-* "$s/.last-upload"
	if [ -n "$(find "$s/crm/active" "$s/crm/failed" "$s/crm/corrupt" \
	    -mindepth 1 | head -n 1)" ]; then
		say "$CASE: the spool holds jobs, failures or corrupt lines"
		FAILED=1
		return 1
	fi
	[ "$(ls "$s/crm/new" | wc -l)" -eq "$NBATCHES" ] || {
		say "$CASE: new/ does not hold the $NBATCHES batches"
		FAILED=1
		return 1
	}
}

# upload_row NAME BINARY CONF: the uploader row (upload, or uploadb for
# the baseline binary HS_UPLOAD_B).
upload_row() {
	local name=$1 bin=$2 cf=$3 js b0 l0 b1 l1 tv rc
	reset_spool || return
	b0=$(stat_field data_bytes)
	l0=$(stat_field lines)
	js=$(sample --samples "$W/rss-$CASE_TAG-$R-$name.txt" \
	    --comm hookspool-upload -- /usr/bin/time -v \
	    -o "$W/timev.txt" "$bin" -c "$cf" 2>"$W/up.out")
	rc=$?
	if [ "$rc" -ne 0 ] || [ -s "$W/up.out" ]; then
		say "$CASE: hookspool-upload exited $rc:"
		sed 's/^/#   /' "$W/up.out" >&2
		FAILED=1
	fi
	b1=$(stat_field data_bytes)
	l1=$(stat_field lines)
	if [ $((b1 - b0)) -ne "$NBYTES" ] || [ $((l1 - l0)) -ne "$NLINES" ]; then
		say "$CASE: the sink got $((b1 - b0)) bytes, $((l1 - l0)) lines"
		FAILED=1
	fi
	if [ "$(ls "$CW/spool/crm/done" | wc -l)" -ne "$NBATCHES" ]; then
		say "$CASE: not every batch reached done/"
		FAILED=1
	fi
	tv=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$W/timev.txt")
	record "$CASE" "$R" "$name" "$js" "$(stat_field last_seconds)" "${tv:--}"
	cp "$W/timev.txt" "$W/timev-$CASE_TAG-$R-$name.txt"
}
row_upload() { upload_row upload "$HS_UPLOAD" "$W/hs.conf"; }
row_uploadb() { upload_row uploadb "$HS_UPLOAD_B" "$W/hs-b.conf"; }

row_validate() {
	local js out
	reset_spool || return
	# Its line comes first (at its exit), the sampler's JSON last.
	sample -- "$W/bin/validate-only" "$CW/spool/crm" >"$W/vo.out"
	js=$(tail -n 1 "$W/vo.out")
	out=$(head -n 1 "$W/vo.out")
	set -- $out
	if [ "${1:-}" != "$NBATCHES" ] || [ "${2:-}" != "$NLINES" ] ||
	    [ "${3:-}" != 0 ]; then
		say "$CASE: validate-only says '$out'"
		FAILED=1
	fi
	# Its own clock (the pass alone, not the process) is the server column.
	record "$CASE" "$R" validate "$js" "${4:--}" -
}

row_fastcheck() {
	local js out
	reset_spool || return
	sample -- "$W/bin/fastcheck" "$CW/spool/crm/new" >"$W/fc.out"
	js=$(tail -n 1 "$W/fc.out")
	out=$(head -n 1 "$W/fc.out")
	set -- $out
	if [ "${1:-}" != "$NBATCHES" ] || [ "${2:-}" != "$NLINES" ] ||
	    [ "${3:-}" != 0 ]; then
		say "$CASE: fastcheck says '$out'"
		FAILED=1
	fi
	record "$CASE" "$R" fastcheck "$js" "${4:--}" -
}

# ---- cases -------------------------------------------------------------

ROWS=(row_curl_data row_curl_T row_upload row_validate row_fastcheck)
[ -z "${HS_UPLOAD_B:-}" ] || ROWS+=(row_uploadb)
PERF_DONE=0
START_LOAD=$(cat /proc/loadavg)
for CASE in $CASES; do
	SIZE=$(bytes "${CASE%/*}")
	BATCH=$(bytes "${CASE#*/}")
	CASE_TAG=$(echo "$CASE" | tr / _)
	CW=$W/case-$CASE_TAG
	mkdir -p "$CW/spool/crm/new"
	say "$CASE: generating $SIZE bytes in batches of $BATCH"
	read -r NBATCHES NLINES NBYTES < <(python3 "$BENCH/upload/gen-batches.py" \
	    "$CW/spool/crm/new" --bytes "$SIZE" --batch-bytes "$BATCH" \
	    $([ "$SEAL" = 1 ] && echo --seal) \
	    --all "$CW/all.ndjson") || die "cannot generate $CASE"
	[ -n "${NBYTES:-}" ] || die "cannot generate $CASE"
	echo "$CASE $NBATCHES $NLINES $NBYTES" >>"$W/cases.txt"
	conf "$CW/spool" "$W/hs.conf" "${CONF:-}"
	conf "$CW/spool" "$W/hs-b.conf" "${CONF_B:-}"
	# One unmeasured run of each row warms the page cache and the sink.
	R=0
	for f in "${ROWS[@]}"; do "$f"; done
	for R in $(seq 1 "$ROUNDS"); do
		wait_quiet
		say "$CASE: round $R/$ROUNDS"
		n=${#ROWS[@]}
		for i in $(seq 0 $((n - 1))); do
			"${ROWS[$(((i + R) % n))]}"
		done
	done
	if [ "$PROFILE" = 1 ] && [ "$PERF_DONE" = 0 ] &&
	    command -v perf >/dev/null 2>&1; then
		reset_spool &&
		perf record -o "$W/perf.data" -- "$HS_UPLOAD" -c "$W/hs.conf" \
		    >"$W/log/perf.log" 2>&1 &&
		perf report -i "$W/perf.data" --no-children --sort dso \
		    --stdio 2>/dev/null | grep '%' | grep -v '^#' |
		    sed 's/^ *//; s/ *$//' | head -n 8 >"$W/perf-dso.txt" &&
		perf report -i "$W/perf.data" --no-children --sort symbol \
		    --stdio 2>/dev/null | grep '%' | grep -v '^#' |
		    grep -v -- '--' | sed 's/^ *//; s/[ -]*$//' | head -n 12 \
		    >"$W/perf-sym.txt" &&
		echo "$CASE" >"$W/perf-case.txt"
		PERF_DONE=1
	fi
	rm -rf "$CW"
done
END_LOAD=$(cat /proc/loadavg)

# ---- summary -----------------------------------------------------------

CURL_V=$(curl --version | head -n 1)
JANSSON_V=$(dpkg-query -W -f '${Version}' libjansson4 2>/dev/null || echo ?)
CFLAGS_B=$(sed -n 's/^CFLAGS = //p' "$BUILD/Makefile")
python3 - "$W" "$ROUNDS" "$INTERVAL" "$START_LOAD" "$END_LOAD" "$CURL_V" \
    "$JANSSON_V" "$CFLAGS_B" "$FAILED" "${CONF:-}" "${CONF_B:-}" \
    >"$W/summary.md" <<'PY'
import os, platform, statistics, subprocess, sys
(w, rounds, interval, load0, load1, curl_v, jansson_v, cflags, failed,
 conf_a, conf_b) = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(w, "raw.tsv"))]
head, rows = rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]
cases = {}
for l in open(os.path.join(w, "cases.txt")):
    c, nb, nl, by = l.split()
    cases[c] = (int(nb), int(nl), int(by))
MiB = 1024 * 1024

def med(xs):
    return statistics.median(xs) if xs else float("nan")

def pick(case, row, key, measured=True):
    return [float(r[key]) for r in rows if r["case"] == case and
            r["row"] == row and (r["round"] != "0" or not measured) and
            r[key] not in ("-", "")]

cpu = "?"
for l in open("/proc/cpuinfo"):
    if l.startswith("model name"):
        cpu = l.split(":", 1)[1].strip()
        break
mem = int(open("/proc/meminfo").readline().split()[1]) // 1024
out = []
p = out.append
p("## Machine and run\n")
p("- %s, %d cores, %d MiB RAM; %s; kernel %s" % (cpu, os.cpu_count(), mem,
  platform.platform(terse=True), platform.release()))
p("- %s; libjansson4 %s; hookspool built with CFLAGS `%s`" % (curl_v,
  jansson_v, cflags))
if conf_a or conf_b:
    p("- settings added to the shipped defaults: upload `%s`, uploadb `%s`"
      % (conf_a or "none", conf_b or "none"))
p("- %s measured rounds per case after one warm-up round (page cache "
  "warm), row order rotating; RSS sampled every %s s" % (rounds, interval))
p("- load average (1, 5, 15 min) at start `%s`, at end `%s` (the machine "
  "is shared: see the load1 column of the raw rows)" % (
      " ".join(load0.split()[:3]), " ".join(load1.split()[:3])))
p("")
p("## Throughput (medians over the rounds; min in brackets)\n")
p("| case | batches | lines | row | wall s | MiB/s | CPU s | server s "
  "| peak RSS MiB |")
p("|---|---|---|---|---|---|---|---|---|")
for c, (nb, nl, by) in cases.items():
    for row in ("curl-data", "curl-T", "upload", "uploadb", "validate",
                "fastcheck"):
        wall = pick(c, row, "wall")
        if not wall:
            continue
        cpus = [float(r["user"]) + float(r["sys"]) for r in rows
                if r["case"] == c and r["row"] == row and r["round"] != "0"]
        srv = pick(c, row, "server_s")
        rss = pick(c, row, "maxrss_kb")
        p("| %s | %d | %d | %s | %.2f (%.2f) | %.0f | %.2f | %s | %.1f |" % (
            c, nb, nl, row, med(wall), min(wall), by / MiB / med(wall),
            med(cpus), "%.2f (%.2f)" % (med(srv), min(srv)) if srv else "-",
            max(rss) / 1024))
p("")
p("wall: the process, start to exit.  server s: the sink's clock for the "
  "transfer alone (for `upload`, from the resumable session's POST to the "
  "last data byte; for `validate` and `fastcheck`, the pass's own clock "
  "without process start).  CPU: user + sys of the process.  peak RSS: wait4's "
  "ru_maxrss, the largest over the rounds.\n")
p("## Ratios (medians)\n")
p("| case | upload / curl-data, wall | upload / curl-T, wall "
  "| upload throughput / curl-T's | upload / curl-T, CPU | upload phase / curl-data transfer, sink clock "
  "| upload phase / curl-T transfer, sink clock | validate CPU / upload CPU "
  "| validate / fastcheck, pass clock |")
p("|---|---|---|---|---|---|---|---|---|")
def cpu(c, row):
    return med([float(r["user"]) + float(r["sys"]) for r in rows
                if r["case"] == c and r["row"] == row and r["round"] != "0"])
for c in cases:
    up, cd, ct = (med(pick(c, r, "wall")) for r in
                  ("upload", "curl-data", "curl-T"))
    ups, cds, cts, va, fc = (med(pick(c, r, "server_s")) for r in
        ("upload", "curl-data", "curl-T", "validate", "fastcheck"))
    p("| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f %% | %.1f |" % (
      c, up / cd, up / ct, ct / up, cpu(c, "upload") / cpu(c, "curl-T"),
      ups / cds,
      ups / cts, 100 * cpu(c, "validate") / cpu(c, "upload"), va / fc))
if any(r["row"] == "uploadb" for r in rows):
    p("\nuploadb: the baseline build (HS_UPLOAD_B) in the same rounds.\n")
    p("| case | upload / uploadb, wall | upload / uploadb, CPU "
      "| uploadb / curl-T, wall | uploadb throughput / curl-T's |")
    p("|---|---|---|---|---|")
    for c in cases:
        up, ub, ct = (med(pick(c, r, "wall")) for r in
                      ("upload", "uploadb", "curl-T"))
        p("| %s | %.2f | %.2f | %.2f | %.2f |" % (c, up / ub,
          cpu(c, "upload") / cpu(c, "uploadb"), ub / ct, ct / ub))
p("")
p("On a loaded machine wall times stretch with the load; CPU times and "
  "ratios of times taken in the same round hold better.\n")
p("## hookspool-upload memory\n")
p("| case | /usr/bin/time -v Maximum resident set size, KiB (per round) "
  "| sampled RSS p50 / max KiB (median over rounds) | RSS timeline KiB, "
  "0 %..100 % of the last round |")
p("|---|---|---|---|")
for c in cases:
    tv = [r["timev_maxrss_kb"] for r in rows if r["case"] == c and
          r["row"] == "upload" and r["round"] != "0"]
    p50 = med(pick(c, "upload", "rss_p50_kb"))
    mx = med(pick(c, "upload", "rss_max_kb"))
    tl = [r["timeline_kb"] for r in rows if r["case"] == c and
          r["row"] == "upload"][-1]
    p("| %s | %s | %.0f / %.0f | %s |" % (c, " ".join(tv), p50, mx,
      tl.replace(",", " ")))
p("")
pc = os.path.join(w, "perf-case.txt")
if os.path.exists(pc):
    p("## Where the uploader's CPU goes (perf record, one run of %s)\n" %
      open(pc).read().strip())
    p("By shared object:\n\n```")
    p(open(os.path.join(w, "perf-dso.txt")).read().rstrip())
    p("```\n\nTop symbols (jansson ships without symbols: addresses):\n\n```")
    p(open(os.path.join(w, "perf-sym.txt")).read().rstrip())
    p("```\n")
p("## Raw rows\n")
p("round 0 is the warm-up.  load1: the 1-minute load average when the row "
  "ended.\n")
p("| " + " | ".join(head) + " |")
p("|" + "---|" * len(head))
for r in rows:
    p("| " + " | ".join(r[h] for h in head) + " |")
if failed != "0":
    p("\n**A check failed during this run: see its output.**")
print("\n".join(out))
PY
[ -s "$W/summary.md" ] || die "cannot summarise, see $W/raw.tsv"
cat "$W/summary.md"
if [ "$OUT" != "-" ]; then
	mkdir -p "$(dirname "$OUT")"
	{
		echo "# Uploader benchmark, $(date -u +%Y-%m-%d)"
		echo
		echo "Made by \`bench/run-upload.sh\` (CASES=\"$CASES\"" \
		    "ROUNDS=$ROUNDS); see bench/UPLOAD.md for the reading."
		echo
		cat "$W/summary.md"
	} >"$OUT"
	say "results written to $OUT"
fi
exit "$FAILED"
