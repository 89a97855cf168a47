#!/bin/bash
# SPDX-License-Identifier: MIT
# The release run of the libFuzzer harnesses: each harness, one at a time,
# to RUNS executions from its committed corpus, and a Markdown table of
# what each one really did (executions, seconds, crashes):
#   fuzz/run_release.sh [-b BUILD] [-n RUNS] [-u DEADLINE] [-o FILE] [HARNESS...]
# BUILD is a clang build with -Dfuzz=enabled (build-fuzz); RUNS 10000000;
# DEADLINE (anything `date -d` reads) bounds the whole run: each harness
# gets an equal share of the time left when it starts, so one that reaches
# RUNS early leaves its time to the next ones, and one that runs out of time
# is reported with the executions it really made, marked short of RUNS.
# HARNESS names (dispatch, config, ...) pick and order the harnesses; all
# by default. The harnesses, their corpora and their flags are read from
# the build's test list (the 'fuzz' suite of fuzz/meson.build), so a
# harness runs exactly as in CI, through fuzz/run.sh, with -runs added.
# Run it niced on a shared machine: nice -n 19 fuzz/run_release.sh ...
set -euo pipefail

build=build-fuzz runs=10000000 deadline= out=
while getopts b:n:u:o: opt; do
	case $opt in
	b) build=$OPTARG ;;
	n) runs=$OPTARG ;;
	u) deadline=$(date -d "$OPTARG" +%s) ;;
	o) out=$OPTARG ;;
	*) echo "usage: $0 [-b BUILD] [-n RUNS] [-u DEADLINE] [-o FILE] [HARNESS...]" >&2
	   exit 2 ;;
	esac
done
shift $((OPTIND - 1))
case $runs in
'' | *[!0-9]*) echo "run_release: -n $runs: not a number of executions" >&2; exit 2 ;;
esac
[ -f "$build/build.ninja" ] || {
	echo "run_release: $build: not a meson build (CC=clang meson setup $build -Dfuzz=enabled)" >&2
	exit 2
}
build=$(cd "$build" && pwd)
out=${out:-/dev/stdout}

# name<TAB>cmd... of each fuzz test, in meson's order.
tests=$(meson introspect --tests "$build" |
	jq -r '.[] | select(any(.suite[]; endswith(":fuzz"))) |
	       [(.name | ltrimstr("fuzz-"))] + .cmd | @tsv')
[ -n "$tests" ] || { echo "run_release: $build has no fuzz suite (-Dfuzz=enabled?)" >&2; exit 2; }
[ $# -gt 0 ] || set -- $(cut -f1 <<<"$tests")
for h; do
	grep -q "^$h	" <<<"$tests" || { echo "run_release: no harness '$h' in $build" >&2; exit 2; }
done

ninja -C "$build" $(printf 'fuzz/fuzz-%s ' "$@") >/dev/null
logdir=$(mktemp -d "${TMPDIR:-/tmp}/ac-fuzz-release-XXXXXX")
{
	echo "<!-- SPDX-License-Identifier: MIT -->"
	echo "# Fuzz release run"
	echo
	echo "Command: \`fuzz/run_release.sh -n $runs${deadline:+ -u @$deadline} $*\`"
	echo "(each harness through \`fuzz/run.sh\` with its flags from \`fuzz/meson.build\`, one at a time)."
	echo "Started $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -n) ($(nproc) CPUs, $(uname -sr)),"
	echo "tree $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
	     "$("$(jq -r .compilers.host.c.exelist[0] "$build/meson-info/intro-compilers.json" 2>/dev/null ||
		echo clang)" --version | head -n1)."
	[ -z "$deadline" ] ||
		echo "Deadline $(date -u -d "@$deadline" '+%H:%M UTC'): a harness gets an equal share of the time left when it starts."
	echo
	echo "| harness | target | executions | seconds | exec/s | crashes | reached target |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
} >>"$out"

rc=0 left=$#
for h; do
	IFS=$'\t' read -r -a cmd <<<"$(grep "^$h	" <<<"$tests" | cut -f2-)"
	# cmd: run.sh FUZZER CORPUS SECONDS FLAGS...; SECONDS becomes this
	# harness's share of the time (or a day without a deadline).
	cap=86400
	if [ -n "$deadline" ]; then
		cap=$(( (deadline - $(date +%s)) / left ))
		[ "$cap" -ge 1 ] || cap=1
	fi
	cmd[3]=$cap
	log=$logdir/$h.log
	start=$(date +%s.%N)
	hrc=0
	(cd "$build" && "${cmd[@]}" -runs="$runs") >"$log" 2>&1 || hrc=$?
	secs=$(echo "$(date +%s.%N) - $start" | bc)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
	execs=${execs:-0}
	# libFuzzer stops at its first finding and names the input it wrote.
	crashes=$(grep -c '^artifact_prefix=.*Test unit written to' "$log" || true)
	if [ "$hrc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
		crashes="run failed (rc $hrc)"
	fi
	reached=no
	[ "$execs" -ge "$runs" ] && reached=yes
	printf '| %s | %d | %d | %.0f | %.0f | %s | %s |\n' "$h" "$runs" "$execs" "$secs" \
		"$(echo "$execs / $secs" | bc -l)" "$crashes" "$reached" >>"$out"
	if [ "$hrc" -ne 0 ]; then
		rc=1
		grep -E 'ERROR|SUMMARY|Test unit written|inputs and artifacts' "$log" >&2 || true
	fi
	left=$((left - 1))
done
echo "run_release: libFuzzer logs in $logdir" >&2
exit $rc
