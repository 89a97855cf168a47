#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Reproduces bench/results/sim_*: the pool-size sweep, the baseline budget
# sensitivity run and the agent-mode runs. usage: run_sweep.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
src=$(cd "$(dirname "$0")/../.." && pwd)
sim="$build/bench/sim/asymcache-sim"
trace=${TRACE:-$src/data/traces/conversation_trace.jsonl}
cost="$src/policy/costs/h200-llama-3-8b.json"
out="$src/bench/results"
pools=225000,450000,900000,1800000

# The first setup is the baseline the time scale is fitted to (70% busy).
"$sim" --trace "$trace" --cost "$cost" --target-busy 0.7 --pool "$pools" \
	--setup lru:prefix:fixed,asym:msa:adaptive,asym:msa:adaptive-fcfs,asym:msa:adaptive-srpt,asym:msa:fixed,lru:prefix:adaptive,lru:msa:adaptive,pensieve:msa:adaptive,pensieve:prefix:fixed,asym:prefix:fixed \
	--csv "$out/sim_pool_sweep.csv" | tee "$out/sim_pool_sweep.txt"
scale=$(sed -n 's/^# time scale \([0-9.]*\):.*/\1/p' "$out/sim_pool_sweep.txt")
"$sim" --trace "$trace" --cost "$cost" --time-scale "$scale" --pool "$pools" \
	--setup lru:prefix:fixed --fixed-budget 8192 --quiet \
	--csv "$out/sim_baseline_budget8192.csv" | tee "$out/sim_baseline_budget8192.txt"
for tool in 5 60; do
	for ttl in 0 auto; do
		"$sim" --trace "$trace" --cost "$cost" --time-scale "$scale" \
			--pool 900000 --setup asym:msa:adaptive,lru:prefix:fixed \
			--agent --ttl "$ttl" --tool-median "$tool" --quiet \
			--csv "$out/sim_agent_tool${tool}_ttl${ttl}.csv"
	done
done | tee "$out/sim_agent.txt"
python3 "$src/bench/sim/plot.py" "$out/sim_pool_sweep.csv" "$out/sim_pool_sweep"
