#!/bin/bash
# bench/run-collector-fs.sh: the collector benchmark (run-collector.sh) with
# the spool, and the PHP rows' file, on each file system of FSES in turn:
#   root  the folder WORKDIR is on (/var/tmp), as the plain benchmark
#   ext4  a loop-mounted ext4 image, made with mkfs.ext4's defaults (so
#         with its journal, data=ordered)
#   xfs   a loop-mounted XFS image, mkfs.xfs's defaults
# One results file per file system, bench/results/collector-DATE-FS.md.
#
# Knobs: FSES ("root ext4 xfs"), IMAGE_SIZE (4G; the images are sparse
# files in /var/tmp, removed after), and every knob of run-collector.sh.
# Needs root (mount), e2fsprogs and xfsprogs.

set -u
BENCH=$(cd "$(dirname "$0")" && pwd)
: "${FSES:=root ext4 xfs}"
: "${IMAGE_SIZE:=4G}"
MNT=
IMG=
cleanup() {
	[ -n "$MNT" ] && umount "$MNT" 2>/dev/null && rmdir "$MNT"
	[ -n "$IMG" ] && rm -f "$IMG"
	MNT= IMG=
}
trap cleanup EXIT
trap 'exit 130' INT TERM
[ "$(id -u)" = 0 ] || { echo "run-collector-fs.sh: needs root" >&2; exit 1; }

stamp=$(date -u +%Y-%m-%d-%H%M)
rc=0
for fs in $FSES; do
	case $fs in
	root)
		dir=${WORKDIR:-/var/tmp}
		;;
	ext4 | xfs)
		command -v "mkfs.$fs" >/dev/null ||
		    { echo "mkfs.$fs is not installed" >&2; exit 1; }
		IMG=$(mktemp /var/tmp/hs-bench-fs.XXXXXX)
		MNT=$(mktemp -d /var/tmp/hs-bench-mnt.XXXXXX)
		truncate -s "$IMAGE_SIZE" "$IMG"
		if [ "$fs" = ext4 ]; then
			mkfs.ext4 -q -F "$IMG"
		else
			mkfs.xfs -q -f "$IMG"
		fi || exit 1
		mount -o loop "$IMG" "$MNT" || exit 1
		chmod 755 "$MNT"
		dir=$MNT
		;;
	*)
		echo "run-collector-fs.sh: unknown file system '$fs'" >&2
		exit 1
		;;
	esac
	echo "== $fs: spool in $dir" >&2
	WORKDIR=$dir OUT=${OUT_DIR:-$BENCH/results}/collector-$stamp-$fs.md \
	    "$BENCH/run-collector.sh" || rc=1
	cleanup
done
exit $rc
