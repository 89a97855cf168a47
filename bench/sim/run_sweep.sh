#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Reproduces bench/results/sim_*: the pool-size sweep, the baseline budget
# sensitivity run and the agent-mode runs, each setup naming its request
# order as those runs had it. usage: run_sweep.sh BUILD_DIR
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
	--setup lru:prefix:fixed:fcfs,asym:msa:adaptive:hrrn,asym:msa:adaptive:fcfs,asym:msa:adaptive:srpt,asym:msa:fixed:fcfs,lru:prefix:adaptive:hrrn,lru:msa:adaptive:hrrn,pensieve:msa:adaptive:hrrn,pensieve:prefix:fixed:fcfs,asym:prefix:fixed:fcfs \
	--csv "$out/sim_pool_sweep.csv" | tee "$out/sim_pool_sweep.txt"
scale=$(sed -n 's/^# time scale \([0-9.]*\):.*/\1/p' "$out/sim_pool_sweep.txt")
"$sim" --trace "$trace" --cost "$cost" --time-scale "$scale" --pool "$pools" \
	--setup lru:prefix:fixed8192:fcfs --quiet \
	--csv "$out/sim_baseline_budget8192.csv" | tee "$out/sim_baseline_budget8192.txt"
for tool in 5 60; do
	for ttl in 0 auto; do
		"$sim" --trace "$trace" --cost "$cost" --time-scale "$scale" \
			--pool 900000 --setup asym:msa:adaptive:hrrn,lru:prefix:fixed:fcfs \
			--agent --ttl "$ttl" --tool-median "$tool" --quiet \
			--csv "$out/sim_agent_tool${tool}_ttl${ttl}.csv"
	done
done | tee "$out/sim_agent.txt"
python3 "$src/bench/sim/plot.py" "$out/sim_pool_sweep.csv" "$out/sim_pool_sweep"
