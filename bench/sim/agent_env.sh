# SPDX-License-Identifier: MIT
# What run_agent.sh, run_agent_load.sh and run_agent_jitter.sh share,
# sourced with $build and $src set: the tools, the cost model, the held-out
# seeds, the tool scales, the pools, the setups, a seed's agent programs,
# the retention arms and how each is run.
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

# arm_options ARM: the simulator options of a retention arm
# (bench/results/sim_agent_ttl.md, "Arms").
arm_options() {
	case $1 in
	none) echo --ttl 0 ;;
	auto) echo --ttl auto ;;
	# The design before: a quarter of the pool pinned, the retention
	# expiring first giving way first.
	auto-quarter) echo --ttl auto --retain-budget 0.25 --retain-drop first ;;
	auto-pinned) echo --ttl auto --no-soft-ttl ;;
	fixed30-uncapped) echo --ttl 30 --retain-budget 1 --no-soft-ttl ;;
	# A ceiling, not a policy: each chain held for exactly its coming tool
	# call (the trace's future), the whole pool pinnable, the chain wanted
	# last giving way first.
	oracle) echo --ttl oracle --retain-budget 1 --no-soft-ttl --retain-drop last ;;
	*) echo "agent_env.sh: no arm '$1'" >&2; return 1 ;;
	esac
}

# run_arms PREFIX ARM...: each arm on "${base[@]}" at time scale $ts and
# pool $p, into PREFIX_ARM_seed$s.csv and its log PREFIX_ARM_seed$s.txt.
run_arms() {
	local prefix=$1 arm opts
	shift
	for arm; do
		opts=$(arm_options "$arm")
		# shellcheck disable=SC2086 # the options are words
		"$sim" "${base[@]}" --time-scale "$ts" --pool "$p" $opts \
			--csv "${prefix}_${arm}_seed$s.csv" > "${prefix}_${arm}_seed$s.txt"
	done
}

# jitter_rows KEY: no retention and auto on "${base[@]}" at pool $p and at
# time scale $ts times each of $jitters; a CSV line per setup on standard
# output: KEY,jitter,arm,setup,job_mean,busy (scratch file in $tmp).
jitter_rows() {
	local key=$1 j arm opts
	for j in $jitters; do
		for arm in none auto; do
			opts=$(arm_options "$arm")
			# shellcheck disable=SC2086
			"$sim" "${base[@]}" --pool "$p" $opts \
				--time-scale "$(python3 -c "print($ts * $j)")" \
				--csv "$tmp/run.csv" >/dev/null
			python3 - "$tmp/run.csv" "$key,$j,$arm" <<'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    print(f"{sys.argv[2]},{r['setup']},{r['job_mean']},{r['busy']}")
PY
		done
	done
}
