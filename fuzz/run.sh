#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs one libFuzzer harness for a bounded time from its committed corpus:
#   run.sh FUZZER CORPUS SECONDS [libFuzzer flags...]
# New inputs go to a scratch folder, so the committed corpus never changes
# under a test run; a crash leaves its input in the scratch folder, which
# is kept and named on failure.
set -eu
fuzzer=$1 corpus=$2 seconds=$3
shift 3
work=$(mktemp -d "${TMPDIR:-/tmp}/ac-fuzz-XXXXXX")
# Undefined behaviour is a finding too, not a line in the log.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
if "$fuzzer" -max_total_time="$seconds" -print_final_stats=1 \
	-artifact_prefix="$work/" "$@" "$work" "$corpus"; then
	rm -rf "$work"
	exit 0
fi
echo "fuzz: $fuzzer failed; inputs and artifacts in $work" >&2
exit 1
