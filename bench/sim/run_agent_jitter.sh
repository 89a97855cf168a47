#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# How much of a single run's TTL gain is the simulator's sensitivity to
# nothing (bench/results/sim_agent_ttl.md, "Per-seed noise"): for each
# held-out seed, tool scale and pool of run_agent.sh (agent_env.sh), no
# retention and `--ttl auto` at the time scale run_agent.sh fitted (read
# from its bound logs) and at that scale times 0.998, 0.999, 1.001 and
# 1.002. A change of 0.1% in every arrival time is no change to the
# workload; what it moves is the noise floor of one run.
# usage: run_agent_jitter.sh BUILD_DIR [OUT_CSV]
set -euo pipefail
build=${1:-build}
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${2:-$src/bench/results/sim_agent_ttl_jitter.csv}
ref=$src/bench/results/sim_agent_ttl
. "$src/bench/sim/agent_env.sh"
jitters=${JITTERS:-"0.998 0.999 1 1.001 1.002"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "tool_scale,pool,seed,jitter,arm,setup,job_mean,busy" >"$out"
for s in $seeds; do
	for x in $scales; do
		ts=$(sed -n 's/^# time scale \([0-9.]*\):.*/\1/p' "$ref/x${x}_bound_seed$s.txt")
		[ -n "$ts" ] || { echo "no time scale in $ref/x${x}_bound_seed$s.txt" >&2; exit 1; }
		tr="$tmp/agent_s${s}_x${x}.jsonl"
		agent_trace "$s" "$x" "$tr"
		base=(--trace "$tr" --cost "$cost" --agent --quiet --setup "$setups")
		for p in $pools; do
			jitter_rows "$x,$p,$s" >>"$out"
			echo "run_agent_jitter: seed $s, tool scale $x, pool $p done" >&2
		done
	done
done
python3 "$src/bench/sim/jitter_table.py" "$out"
