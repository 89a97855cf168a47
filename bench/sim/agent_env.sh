# SPDX-License-Identifier: MIT
# What run_agent.sh and run_agent_jitter.sh share, sourced by both with
# $build and $src set: the tools, the cost model, the held-out seeds, the
# tool scales, the pools, the setups, and a seed's agent programs.
sim="$build/bench/sim/asymcache-sim"
gen="$build/bench/workloads/asymcache-workload"
cost="$src/policy/costs/h200-llama-3-8b.json"
seeds=${SEEDS:-"3 4 5 6 7"}
scales=${TOOL_SCALES:-"0.1 0.3 1"}
pools=${POOLS:-"150000 250000 500000"}
setups=lru:prefix:fixed8192:fcfs,asym:msa:fixed8192:fcfs,lru:prefix:fixed8192:program,asym:msa:fixed8192:program

# agent_trace SEED SCALE FILE: the seed's 150 programs at a tool-time scale.
agent_trace() {
	"$gen" agent --seed "$1" --programs 150 --tool-scale "$2" --out "$3"
}
