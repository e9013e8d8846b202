#!/bin/sh
# Every benchmark in one command, each writing its table to bench/results/:
# the collector (run-collector.sh, ~40 min) and the uploader (run-upload.sh,
# ~15 min).  The chaos and soak runs are longer and separate (tests/chaos/README.md).
# Run on a quiet machine: the numbers are ratios measured side by side, but
# a busy neighbour still bends them.
set -u
cd "$(dirname "$0")"
rc=0
sh ../tests/deps.sh --bench || exit 1
bash ./run-collector.sh || rc=1
bash ./run-upload.sh || rc=1
ls -t results/ | head -4
exit $rc
