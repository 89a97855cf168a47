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
	# Tests that wait on engines scale their waits by AC_TIMEOUT_MULT too.
	export AC_TIMEOUT_MULT=${AC_TIMEOUT_MULT:-10}
	# The e2e bench's dozens of engine runs take hours under valgrind; its
	# scripts run the same engine, daemon and tools the other suites check.
	[ -n "${AC_TEST_SUITES:-}" ] || AC_TEST_SUITES="--no-suite e2e"
fi

meson test -C "$build" ${AC_TEST_SUITES:-} --print-errorlogs --verbose --num-processes 2 \
	--timeout-multiplier "${AC_TIMEOUT_MULT:-1}" "${wrap[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

# The libFuzzer harnesses (fuzz/), where clang is installed (bootstrap
# installs it): from a clang build of their own next to $build, each for
# AC_FUZZ_SECONDS (60) from its committed corpus, two side by side (each
# takes one core), so six cost about three minutes plus their build.
# Skipped with AC_FUZZ=0, a suite selection, or under valgrind/ASan runs.
fuzz_wanted() {
	[ "${AC_FUZZ:-1}" != 0 ] && [ -z "${AC_TEST_SUITES:-}" ] &&
		[ "${AC_VALGRIND:-0}" != 1 ] && [ "${AC_SANITIZE:-0}" != 1 ] &&
		command -v clang >/dev/null &&
		# libFuzzer's runtime is a package of its own (libclang-rt-dev).
		echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
			clang -fsanitize=fuzzer -x c - -o /dev/null 2>/dev/null
}
if fuzz_wanted; then
	fbuild=${AC_FUZZ_BUILD:-$build-fuzz}
	secs=${AC_FUZZ_SECONDS:-60}
	if [ -f "$fbuild/build.ninja" ]; then
		meson configure "$fbuild" -Dfuzz_seconds="$secs" >/dev/null
	else
		CC=clang meson setup "$fbuild" -Dcuda=disabled -Dfuzz=enabled \
			-Dfuzz_seconds="$secs" >/dev/null
	fi
	# Only the harnesses: meson test would build the whole tree again.
	targets=$(ninja -C "$fbuild" -t targets all |
		sed -n 's|^\(fuzz/fuzz-[a-z_]*\): .*|\1|p')
	if ninja -C "$fbuild" $targets >/dev/null; then
		meson test -C "$fbuild" --suite fuzz --no-rebuild --print-errorlogs \
			--num-processes 2 2>&1 | tee -a "$log"
		frc=${PIPESTATUS[0]}
	else
		echo "run-tests: the fuzz harnesses did not build" | tee -a "$log"
		frc=1
	fi
	[ "$frc" -eq 0 ] || rc=$frc
else
	echo "run-tests: fuzz suite skipped (clang or libFuzzer missing, AC_FUZZ=0, a suite selection, or a valgrind/ASan run)"
fi

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
