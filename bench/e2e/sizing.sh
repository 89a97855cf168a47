#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Before the GPU: what windows of the e2e workloads can show, by the
# simulator with a cost file (the H200's measured one by default). For each
# window size it prints lru+prefix against asym+MSA (fixed 8,192, FCFS,
# the cache manager's contribution with the order held constant) at two
# pool shares, with the load found for 70% busy: hit rates, the TTFT ratio,
# the makespan (how long one arm runs) and the prefill GPU-seconds.
#
# Usage: bench/e2e/sizing.sh BUILD_DIR [COST_FILE]
set -euo pipefail

build=$1
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cost=${2:-$repo/policy/costs/h200-llama-3-8b-measured.json}
wl=$build/bench/workloads/asymcache-workload
sim=$build/bench/sim/asymcache-sim
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "| workload | window | tokens/id | seed | pool share | pool tokens | lru hit | asym hit | TTFT lru / asym | makespan s | prefill GPU-s |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
row() {	# NAME WINDOW_DESC TPI SEED FILE
	local ws pool f
	ws=$(python3 -c "
import json, sys
ids = set()
for l in open(sys.argv[1]): ids.update(json.loads(l)['hash_ids'])
print(len(ids) * int(sys.argv[2]))" "$5" "$3")
	for f in 0.15 0.3; do
		pool=$(python3 -c "print(int($ws * $f))")
		"$sim" --trace "$5" --cost "$cost" --tokens-per-id "$3" --max-output 64 \
			--max-seqs 64 --pool "$pool" \
			--setup lru:prefix:fixed8192:fcfs,asym:msa:fixed8192:fcfs \
			--target-busy 0.7 --ref-pool "$pool" --quiet --csv "$tmp/r.csv" >/dev/null
		python3 - "$tmp/r.csv" "$1" "$2" "$3" "$4" "$f" "$pool" <<'PY'
import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))
l, a = r[0], r[1]
print(f"| {sys.argv[2]} | {sys.argv[3]} | {sys.argv[4]} | {sys.argv[5]} | {sys.argv[6]} | {sys.argv[7]} | "
      f"{100 * float(l['hit_rate']):.0f}% | {100 * float(a['hit_rate']):.0f}% | "
      f"{float(l['ttft_mean']) / float(a['ttft_mean']):.2f}x | {float(l['makespan_s']):.0f} | "
      f"{float(l['prefill_gpu_s']):.0f} |")
PY
	done
}

for seed in 1 2; do
	for n in 48 300; do
		"$wl" rag --seed "$seed" --requests "$n" --docs 60 --out "$tmp/w.jsonl"
		row rag "$n requests, 60 documents" 128 "$seed" "$tmp/w.jsonl"
	done
	"$wl" rag --seed "$seed" --requests 150 --docs 30 --out "$tmp/w.jsonl"
	row rag "150 requests, 30 documents" 512 "$seed" "$tmp/w.jsonl"
	"$wl" rag --seed "$seed" --requests 2000 --out "$tmp/w.jsonl"
	row rag "2000 requests, 400 documents (issue 13's)" 512 "$seed" "$tmp/w.jsonl"
	for n in 40 150; do
		"$wl" conv --trace "$repo/data/traces/conversation_trace.jsonl" --conversations "$n" \
			--seed "$seed" --out "$tmp/w.jsonl"
		row conv "$n conversations" 128 "$seed" "$tmp/w.jsonl"
	done
done
