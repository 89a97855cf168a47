#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make demo's job (scripts/demo-engine.sh: the daemon, two SmolLM2 engine
# processes on the CPU) from two checkouts, interleaved, ROUNDS times each:
# wall time, section 4's TPOT per row and its output hashes (the same text
# whatever the build).
#
# Usage: bench/engine/demo_ab.sh A_TREE B_TREE [ROUNDS]   (each tree built
#        in TREE/build, with models/ fetched)
set -euo pipefail

[ $# -ge 2 ] || { sed -n '3,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
rounds=${3:-2}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
printf '%-5s %-5s %8s  %-40s %s\n' tree round "wall s" "TPOT ms, section 4 rows" "output hashes"
for i in $(seq "$rounds"); do
	for t in A B; do
		d=$1
		[ $t = B ] && d=$2
		s=$(date +%s.%N)
		(cd "$d" && bash scripts/demo-engine.sh build) >"$log" 2>&1
		e=$(date +%s.%N)
		rows=$(sed -n '/^-- 4/,$p' "$log" | awk '/policy=/')
		printf '%-5s %-5s %8.1f  %-40s %s\n' $t "$i" "$(echo "$e - $s" | bc)" \
			"$(awk '{print $6}' <<<"$rows" | tr '\n' ' ')" \
			"$(awk '{print $11}' <<<"$rows" | sort -u | tr '\n' ' ')"
	done
done
