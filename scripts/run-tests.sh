#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs every test meson knows about, shows each Criterion binary's output,
# and prints one total at the end (Criterion's synthesis line, summed).
set -uo pipefail
build=${1:-build}
# Level 1 makes Criterion print [SKIP] lines, which the total below counts.
export CRITERION_VERBOSITY_LEVEL=${CRITERION_VERBOSITY_LEVEL:-1}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

wrap=()
if [ "${AC_VALGRIND:-0}" = 1 ]; then
	wrap=(--wrapper "valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --trace-children=yes --trace-children-skip=/usr/*,/bin/*,/sbin/* --vgdb=no --quiet")
fi

meson test -C "$build" ${AC_TEST_SUITES:-} --print-errorlogs --verbose --num-processes 2 \
	--timeout-multiplier "${AC_TIMEOUT_MULT:-1}" "${wrap[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

# Criterion prints "[====] Synthesis: Tested: T | Passing: P | Failing: F | Crashing: C"
awk '
/Synthesis: Tested:/ {
	gsub(/\x1b\[[0-9;]*m/, "")
	for (i = 1; i <= NF; i++) {
		if ($i == "Tested:") t += $(i + 1)
		if ($i == "Passing:") p += $(i + 1)
		if ($i == "Failing:") f += $(i + 1)
		if ($i == "Crashing:") c += $(i + 1)
	}
}
/\[SKIP\]/ { s++ }
END {
	printf "\n[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: %d\n", t, p, f, c
	printf "%d passed, %d failed, %d skipped\n", p, f + c, s
}' "$log"
exit "$rc"
