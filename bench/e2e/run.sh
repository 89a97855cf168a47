#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The paper's comparison on real engine runs (docs/e2e.md): workloads x arms
# x seeds, each arm one `asymcache-engine replay` on a fresh `asymcached`
# whose pool is well below the window's working set, one flag changed at a
# time. Writes OUT/<part>/... (per-request JSON lines, per-iteration
# timings, the daemon's stats) and OUT/<part>/table.md.
#
# Usage: bench/e2e/run.sh BUILD_DIR OUT_DIR PART...
#   PART: conv | rag | agent | share | pools | loads   (each < 10 min on
#   the H200 at the defaults; `all` runs them in that order)
#
# Environment (defaults for the H200 and the llama3-8b shape):
#   MODEL (llama3-8b)  DEVICE (cuda)  BLOCK (2M: 16 tokens of llama3-8b bf16)
#   GPUS ("0": arms run side by side, one per GPU listed; on the CPU, the
#         number of arms at once)
#   SEEDS ("1 2 3")  ORDERS ("fcfs hrrn"; also srpt, program)  ARMS (all of arms.tsv)
#   LOAD (0.7: the GPU busy share the baseline arm is offered; the simulator,
#         fitted to a capacity run of the window, finds the arrival speed)
#   POOL_FRAC (0.3: pool / the window's working set)  MAX_OUTPUT (64)
#   CONV_N (40 conversations)  CONV_TPI (128)
#   RAG_N (48 requests)  RAG_DOCS (60)  RAG_DOC_MIN/RAG_DOC_MAX (16384/
#         126000 tokens at 512 a hash id)  RAG_TPI (128)
#   AGENT_N (12 programs)  AGENT_RATE (0.5)  AGENT_TURNS ("10 30")
#   AGENT_TPI (128)  AGENT_TOOL_SCALE (1)
#   COST (the cost file the daemon's policy and scheduler use)
#   TPOT_US (the daemon's adaptive TPOT target; unset: its default)
#   QUICK=1: a smoke run (tests): `tiny` on the CPU, short windows
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
[ $# -ge 3 ] || { sed -n '3,27p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
build=$(cd "$1" && pwd)
out=$2
shift 2
parts=("$@")
[ "${parts[*]}" = all ] && parts=(conv rag agent share pools loads)
for p in "${parts[@]}"; do
	case $p in conv|rag|agent|share|pools|loads) ;;
	*) echo "run.sh: unknown part '$p' (conv rag agent share pools loads all)" >&2; exit 2;;
	esac
done

if [ "${QUICK:-0}" = 1 ]; then
	: "${MODEL:=tiny}" "${DEVICE:=cpu}" "${BLOCK:=16K}" "${SEEDS:=1}"
	: "${CONV_N:=16}" "${CONV_TPI:=16}" "${RAG_N:=12}" "${RAG_DOCS:=4}"
	: "${RAG_DOC_MIN:=8192}" "${RAG_DOC_MAX:=16384}" "${RAG_TPI:=16}"
	: "${AGENT_N:=3}" "${AGENT_TURNS:=2 3}" "${AGENT_TPI:=8}"
	: "${AGENT_TOOL_SCALE:=0.02}" "${MAX_OUTPUT:=4}" "${GPUS:=0}"
	: "${SWEEP:=0.1 0.3}"
fi
model=${MODEL:-llama3-8b}
device=${DEVICE:-cuda}
block=${BLOCK:-2M}
read -r -a gpus <<<"${GPUS:-0}"
read -r -a seeds <<<"${SEEDS:-1 2 3}"
read -r -a orders <<<"${ORDERS:-fcfs hrrn}"
load=${LOAD:-0.7}
pool_frac=${POOL_FRAC:-0.3}
max_output=${MAX_OUTPUT:-64}
backend=host
[ "$device" = cuda ] && backend=cuda
daemon=$build/daemon/asymcached
engine=$build/engine/cli/asymcache-engine
wlgen=$build/bench/workloads/asymcache-workload
sim=$build/bench/sim/asymcache-sim
calibrate=$build/tools/calibrate/asymcache-calibrate
for b in "$daemon" "$engine" "$wlgen" "$sim" "$calibrate"; do
	[ -x "$b" ] || { echo "run.sh: $b is not built" >&2; exit 1; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# The arms: one owner (arms.tsv), filtered by ARMS.
arms=()
while read -r name _; do
	case $name in ''|'#'*) continue;; esac
	if [ -z "${ARMS:-}" ] || [[ " $ARMS " == *" $name "* ]]; then arms+=("$name"); fi
done <"$here/arms.tsv"
for a in ${ARMS:-}; do
	awk -v a="$a" '$1 == a { f = 1 } END { exit !f }' "$here/arms.tsv" ||
		{ echo "run.sh: ARMS: no arm '$a' in bench/e2e/arms.tsv" >&2; exit 2; }
done
[ ${#arms[@]} -gt 0 ] || { echo "run.sh: ARMS: no arm of bench/e2e/arms.tsv" >&2; exit 2; }
arm_field() {	# ARM COLUMN(2 policy, 3 reuse, 4 chunking)
	awk -v a="$1" -v c="$2" '$1 == a { print $c }' "$here/arms.tsv"
}

# Pool bytes: POOL_FRAC of the window's working set (distinct blocks of
# its prompts at TPI tokens a hash id, plus its outputs), in whole blocks.
pool_for() {	# WINDOW TPI FRAC
	python3 - "$1" "$2" "$3" "$block" "$max_output" <<'PY'
import json, math, sys
path, tpi, frac, block, mo = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], int(sys.argv[5])
unit = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
bb = int(block[:-1]) * unit[block[-1]] if block[-1] in unit else int(block)
ids, out = set(), 0
for l in open(path):
    r = json.loads(l)
    ids.update(r["hash_ids"])
    out += min(mo, r["output_length"])
tokens = len(ids) * tpi + out
blocks = max(64, math.ceil(frac * tokens / 16))
print(blocks * bb)
PY
}

# A daemon for one arm: its own socket, config and GPU.
start_daemon() {	# DIR POLICY ORDER POOL_BYTES GPU
	local dir=$1
	cat >"$dir/asymcached.conf" <<EOF
[policy]
name = $2
${COST:+cost_file = $COST}
[limits]
max_blocks_per_session = 100%
max_blocks_per_uid = 100%
[scheduler]
order = $3
${TPOT_US:+tpot_target_us = $TPOT_US}
EOF
	CUDA_VISIBLE_DEVICES=$5 "$daemon" --foreground -c "$dir/asymcached.conf" \
		--socket "$dir/s.sock" --backend "$backend" --pool-bytes "$4" \
		--block-bytes "$block" --group "$(id -gn)" >"$dir/daemon.log" 2>&1 &
	echo $! >"$dir/daemon.pid"
	for _ in $(seq 600); do
		[ -S "$dir/s.sock" ] && return 0
		kill -0 "$(cat "$dir/daemon.pid")" 2>/dev/null || break
		sleep 0.1
	done
	echo "run.sh: asymcached did not start:" >&2
	cat "$dir/daemon.log" >&2
	return 1
}

stop_daemon() {	# DIR
	local pid
	pid=$(cat "$1/daemon.pid")
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# One arm on one window: RESULT_PREFIX WINDOW TPI POOL SPEED ARM ORDER
# [extra replay flags...], on GPU $GPU. Writes PREFIX.jsonl (requests),
# .iter.jsonl (iterations), .summary, .log, .flags.
run_arm() {
	local prefix=$1 window=$2 tpi=$3 pool=$4 speed=$5 arm=$6 order=$7 gpu=${GPU:-0}
	shift 7
	local dir policy reuse chunking
	dir=$(mktemp -d -p "$tmp")
	policy=$(arm_field "$arm" 2)
	reuse=$(arm_field "$arm" 3)
	chunking=$(arm_field "$arm" 4)
	local flags=(--reuse "$reuse" --chunking "$chunking" --order "$order"
		--tokens-per-id "$tpi" --max-output "$max_output" --speed "$speed"
		"$@")
	printf 'policy=%s pool_bytes=%s block=%s%s %s\n' "$policy" "$pool" "$block" \
		"${TPOT_US:+ tpot_us=$TPOT_US}" \
		"${flags[*]}" >"$prefix.flags"
	start_daemon "$dir" "$policy" "$order" "$pool" "$gpu" || return 1
	local rc=0
	CUDA_VISIBLE_DEVICES=$gpu "$engine" replay -s "$dir/s.sock" -m "$model" \
		--device "$device" "${flags[@]}" -q --name "$arm-$order" \
		--iterations "$prefix.iter.jsonl" -o "$prefix.jsonl" "$window" \
		>"$prefix.summary" 2>"$prefix.log" || rc=$?
	stop_daemon "$dir"
	cp "$dir/daemon.log" "$prefix.daemon.log"
	rm -rf "$dir"
	[ $rc = 0 ] || { echo "run.sh: $prefix failed ($rc):" >&2; tail -5 "$prefix.log" >&2; }
	return $rc
}

# Jobs side by side, one a GPU (or CPU slot): queue_job CMD..., then wait_jobs.
declare -A busy=()
queue_job() {
	local g
	while :; do
		for g in "${gpus[@]}"; do
			if [ -z "${busy[$g]:-}" ] || ! kill -0 "${busy[$g]}" 2>/dev/null; then
				[ -n "${busy[$g]:-}" ] && { wait "${busy[$g]}" || failed=1; }
				GPU=$g "$@" &
				busy[$g]=$!
				return 0
			fi
		done
		wait -n || true
	done
}
failed=0
wait_jobs() {
	local g
	for g in "${!busy[@]}"; do
		wait "${busy[$g]}" || failed=1
	done
	busy=()
	[ $failed = 0 ] || { echo "run.sh: an arm failed; see the .log files" >&2; exit 1; }
}

# The speed at which the baseline arm keeps the GPU LOAD busy on a window:
# one run with every request at once times the engine's passes, and the
# simulator, with a cost file fitted to them, finds the arrival scale.
speed_for() {	# PART_DIR WINDOW TPI POOL [replay flags]
	local d=$1 w=$2 tpi=$3 pool=$4
	shift 4
	GPU=${gpus[0]} run_arm "$d/capacity" "$w" "$tpi" "$pool" 0 base-2k fcfs "$@"
	python3 "$here/report.py" speed "$w" "$d/capacity" "$load" --sim "$sim" \
		--calibrate "$calibrate" --model "$model"
}

# The conv part's speed for SEED when it ran, else a capacity run here.
conv_speed() {	# PART_DIR WINDOW TPI SEED
	if [ -s "$out/conv/speed-s$4" ]; then
		cat "$out/conv/speed-s$4"
	else
		speed_for "$1" "$2" "$3" "$(pool_for "$2" "$3" "$pool_frac")"
	fi
}

window() {	# PART SEED FILE
	case $1 in
	conv) "$wlgen" conv --trace "$repo/data/traces/conversation_trace.jsonl" \
		--conversations "${CONV_N:-40}" --seed "$2" --out "$3";;
	rag) "$wlgen" rag --seed "$2" --requests "${RAG_N:-48}" \
		--docs "${RAG_DOCS:-60}" --doc-min "${RAG_DOC_MIN:-16384}" \
		--doc-max "${RAG_DOC_MAX:-126000}" --out "$3";;
	agent) read -r tmin tmax <<<"${AGENT_TURNS:-10 30}"
		"$wlgen" agent --seed "$2" --programs "${AGENT_N:-12}" \
		--rate "${AGENT_RATE:-0.5}" --turns-min "$tmin" --turns-max "$tmax" \
		--tool-scale "${AGENT_TOOL_SCALE:-1}" --out "$3";;
	esac
}

tpi_of() {
	case $1 in conv) echo "${CONV_TPI:-128}";; rag) echo "${RAG_TPI:-128}";;
	agent) echo "${AGENT_TPI:-128}";; esac
}

# Every arm under every order on every seed; one speed a seed (from the
# baseline's capacity), the same pool and arrivals for all arms of a seed.
matrix_part() {	# PART
	local part=$1 d=$out/$1 tpi seed w pool speed arm order
	tpi=$(tpi_of "$part")
	mkdir -p "$d"
	for seed in "${seeds[@]}"; do
		w=$d/window-s$seed.jsonl
		window "$part" "$seed" "$w"
		pool=$(pool_for "$w" "$tpi" "$pool_frac")
		log "$part seed $seed: $(wc -l <"$w") requests, pool $pool bytes; capacity run"
		speed=$(speed_for "$d" "$w" "$tpi" "$pool")
		mv "$d/capacity.jsonl" "$d/capacity-s$seed.jsonl"
		mv "$d/capacity.iter.jsonl" "$d/capacity-s$seed.iter.jsonl"
		echo "$speed" >"$d/speed-s$seed"
		log "$part seed $seed: speed $speed for load $load"
		for order in "${orders[@]}"; do
			for arm in "${arms[@]}"; do
				queue_job run_arm "$d/s$seed.$arm.$order" "$w" "$tpi" \
					"$pool" "$speed" "$arm" "$order"
			done
		done
		wait_jobs
	done
}

# Agent programs: the best arm and the baseline with TTL retention off and
# on, and the bound of a pool that holds everything. Arrivals are the
# generator's (program starts at AGENT_RATE, tool calls real time).
agent_part() {
	local d=$out/agent tpi seed w pool big order=${orders[-1]}
	tpi=$(tpi_of agent)
	mkdir -p "$d"
	for seed in "${seeds[@]}"; do
		w=$d/window-s$seed.jsonl
		window agent "$seed" "$w"
		pool=$(pool_for "$w" "$tpi" "$pool_frac")
		big=$(pool_for "$w" "$tpi" 1.2)
		log "agent seed $seed: $(grep -c . "$w") turns, pool $pool bytes (unlimited bound $big)"
		for arm in base-2k asym-msa-adaptive; do
			queue_job run_arm "$d/s$seed.$arm.$order.ttl0" "$w" "$tpi" "$pool" 1 \
				"$arm" "$order" --agent --ttl 0
			queue_job run_arm "$d/s$seed.$arm.$order.ttlauto" "$w" "$tpi" "$pool" 1 \
				"$arm" "$order" --agent --ttl auto
		done
		queue_job run_arm "$d/s$seed.asym-msa-adaptive.$order.unlimited" "$w" "$tpi" \
			"$big" 1 asym-msa-adaptive "$order" --agent --ttl 0
		wait_jobs
	done
}

# Two engines on one pool against the same two on private pools of half
# the size each, the conversation window dealt alternately.
share_part() {
	local d=$out/share tpi seed w pool speed arm=asym-msa-adaptive order=${orders[-1]}
	tpi=$(tpi_of conv)
	mkdir -p "$d"
	for seed in "${seeds[@]}"; do
		w=$d/window-s$seed.jsonl
		window conv "$seed" "$w"
		awk 'NR % 2 == 1' "$w" >"$d/half1-s$seed.jsonl"
		awk 'NR % 2 == 0' "$w" >"$d/half2-s$seed.jsonl"
		pool=$(pool_for "$w" "$tpi" "$pool_frac")
		speed=$(conv_speed "$d" "$w" "$tpi" "$seed")
		log "share seed $seed: pool $pool bytes, speed $speed"
		queue_job share_one "$d/s$seed" "$tpi" "$pool" "$speed" "$arm" "$order" "$seed"
		wait_jobs
	done
}

share_one() {	# PREFIX TPI POOL SPEED ARM ORDER SEED, on GPU $GPU
	local p=$1 tpi=$2 pool=$3 speed=$4 arm=$5 order=$6 seed=$7 gpu=${GPU:-0}
	local d1 d2 reuse chunking policy rc=0 half=$(( $3 / 2 ))
	local -a flags
	policy=$(arm_field "$arm" 2)
	reuse=$(arm_field "$arm" 3)
	chunking=$(arm_field "$arm" 4)
	flags=(--device "$device" -m "$model" --reuse "$reuse" --chunking "$chunking"
		--order "$order" --tokens-per-id "$tpi" --max-output "$max_output"
		--speed "$speed" -q)
	d1=$(mktemp -d -p "$tmp")
	d2=$(mktemp -d -p "$tmp")
	printf 'policy=%s pool_bytes=%s (shared) or %s each (private) block=%s %s\n' \
		"$policy" "$pool" "$half" "$block" "${flags[*]}" >"$p.flags"
	# Shared: one daemon, both engines.
	start_daemon "$d1" "$policy" "$order" "$pool" "$gpu"
	CUDA_VISIBLE_DEVICES=$gpu "$engine" replay -s "$d1/s.sock" "${flags[@]}" --name a \
		-o "$p.shared-a.jsonl" "$(dirname "$p")/half1-s$seed.jsonl" \
		>"$p.shared-a.summary" 2>"$p.shared-a.log" &
	local a=$!
	CUDA_VISIBLE_DEVICES=$gpu "$engine" replay -s "$d1/s.sock" "${flags[@]}" --name b \
		-o "$p.shared-b.jsonl" "$(dirname "$p")/half2-s$seed.jsonl" \
		>"$p.shared-b.summary" 2>"$p.shared-b.log" || rc=$?
	wait $a || rc=$?
	stop_daemon "$d1"
	# Private: a daemon of half the pool for each engine.
	start_daemon "$d1" "$policy" "$order" "$half" "$gpu"
	start_daemon "$d2" "$policy" "$order" "$half" "$gpu"
	CUDA_VISIBLE_DEVICES=$gpu "$engine" replay -s "$d1/s.sock" "${flags[@]}" --name a \
		-o "$p.private-a.jsonl" "$(dirname "$p")/half1-s$seed.jsonl" \
		>"$p.private-a.summary" 2>"$p.private-a.log" &
	a=$!
	CUDA_VISIBLE_DEVICES=$gpu "$engine" replay -s "$d2/s.sock" "${flags[@]}" --name b \
		-o "$p.private-b.jsonl" "$(dirname "$p")/half2-s$seed.jsonl" \
		>"$p.private-b.summary" 2>"$p.private-b.log" || rc=$?
	wait $a || rc=$?
	stop_daemon "$d1"
	stop_daemon "$d2"
	rm -rf "$d1" "$d2"
	return $rc
}

# TTFT against pool size and against load: the baseline and our arm, both
# under the last order, on the first seed's conversation window.
sweep_part() {	# pools|loads
	local kind=$1 d=$out/$1 tpi w base speed0 x arm order=${orders[-1]}
	tpi=$(tpi_of conv)
	mkdir -p "$d"
	w=$d/window-s${seeds[0]}.jsonl
	window conv "${seeds[0]}" "$w"
	speed0=$(conv_speed "$d" "$w" "$tpi" "${seeds[0]}")
	for x in ${SWEEP:-$([ "$kind" = pools ] && echo 0.1 0.2 0.3 0.5 0.8 || echo 0.4 0.55 0.7 0.85 1.0)}; do
		if [ "$kind" = pools ]; then
			base=$(pool_for "$w" "$tpi" "$x")
			speed=$speed0
		else
			base=$(pool_for "$w" "$tpi" "$pool_frac")
			speed=$(python3 -c "print(f'{$speed0 * $x / $load:.4f}')")
		fi
		for arm in base-2k asym-msa-adaptive; do
			queue_job run_arm "$d/x${x}_$arm.$order" "$w" "$tpi" "$base" "$speed" \
				"$arm" "$order"
		done
	done
	wait_jobs
}

gpu_name() {
	if [ "$device" = cuda ]; then
		nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1
	else
		echo "cpu $(nproc) cores"
	fi
}

{
	echo "# command: bench/e2e/run.sh BUILD OUT ${parts[*]}"
	echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  host: $(hostname)  device: $(gpu_name)"
	echo "# tree: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	for v in MODEL DEVICE BLOCK GPUS SEEDS ORDERS ARMS LOAD POOL_FRAC MAX_OUTPUT TPOT_US CONV_N \
		CONV_TPI RAG_N RAG_DOCS RAG_DOC_MIN RAG_DOC_MAX RAG_TPI AGENT_N AGENT_RATE \
		AGENT_TURNS AGENT_TPI AGENT_TOOL_SCALE COST QUICK; do
		[ -n "${!v:-}" ] && echo "# $v=${!v}"
	done
} >"$out/settings.txt"

for p in "${parts[@]}"; do
	t0=$(date +%s)
	log "part $p"
	case $p in
	conv|rag) matrix_part "$p";;
	agent) agent_part;;
	share) share_part;;
	pools|loads) sweep_part "$p";;
	esac
	log "part $p: $(( $(date +%s) - t0 )) s"
	# conv, rag and agent get the cost file the simulator predicts with,
	# fitted to every iteration of the part's runs (report.py --calibrate).
	python3 "$here/report.py" table "$out" "$p" --sim "$sim" --model "$model" \
		--calibrate "$calibrate" --gpu "$(gpu_name)" >"$out/$p/table.md"
	cat "$out/$p/table.md"
done
