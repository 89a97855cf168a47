#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# TTL retention on generated agent programs (bench/results/sim_agent_ttl.md):
# per seed and tool-time scale, the time scale at which lru keeps the GPU
# 60% busy with an unlimited pool, then at three pools every retention arm
# under the same policies and orders, and the unlimited-pool bound.
# Seeds 3-7 by default (1 and 2 were looked at while changing asym).
# usage: run_agent.sh BUILD_DIR [OUT_DIR]
set -euo pipefail
build=${1:-build}
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${2:-$src/bench/results/sim_agent_ttl}
. "$src/bench/sim/agent_env.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

for s in $seeds; do
	for x in $scales; do
		tr="$tmp/agent_s${s}_x${x}.jsonl"
		agent_trace "$s" "$x" "$tr"
		base=(--trace "$tr" --cost "$cost" --agent --quiet --setup "$setups")
		"$sim" "${base[@]}" --pool 1000000000 --target-busy 0.6 \
			--ref-pool 1000000000 --csv "$out/x${x}_bound_seed$s.csv" \
			> "$out/x${x}_bound_seed$s.txt"
		ts=$(sed -n 's/^# time scale \([0-9.]*\):.*/\1/p' "$out/x${x}_bound_seed$s.txt")
		for p in $pools; do
			run_arms "$out/x${x}_p${p}" none auto auto-quarter \
				auto-pinned fixed30-uncapped oracle
		done
	done
done
python3 "$src/bench/sim/agent_table.py" "$out" > "$out/summary.md"
