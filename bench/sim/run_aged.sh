#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# asym with aged frequency counts (asym-aged) beside asym, asym-nofreq,
# pensieve and lru on the generated workloads and the conversation trace,
# FCFS and vLLM's 8k budget (bench/results/sim_workloads.md, "Aged
# frequency"). usage: run_aged.sh BUILD_DIR [OUT_DIR]
set -euo pipefail
build=${1:-build}
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${2:-$src/bench/results/sim_workloads_aged}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$src"
sim=$build/bench/sim/asymcache-sim; gen=$build/bench/workloads/asymcache-workload; cost=policy/costs/h200-llama-3-8b.json
set=lru:prefix:fixed8192:fcfs,asym:msa:fixed8192:fcfs,asym-aged:msa:fixed8192:fcfs,pensieve:msa:fixed8192:fcfs,asym-nofreq:msa:fixed8192:fcfs
mkdir -p "$out"
for s in 1 2 3 4 5; do
 $gen rag --seed $s --requests 2000 --out $tmp/rag$s.jsonl
 $gen tenants --seed $s --requests 2000 --out $tmp/ten$s.jsonl
 $gen agent --seed $s --programs 150 --out $tmp/ag$s.jsonl
 for w in rag:1000000 rag:2000000 rag:8000000 ten:1000000 ag:1000000; do
  IFS=: read n p <<< "$w"; f=""; [ $n = ag ] && f=--agent
  $sim --trace $tmp/$n$s.jsonl --cost $cost --quiet --target-busy 0.7 --ref-pool $p --pool $p $f --setup $set --csv $out/${n}_pool${p}_seed$s.csv > /dev/null
 done
done
for p in 225000 900000 1800000; do
 $sim --trace data/traces/conversation_trace.jsonl --cost $cost --quiet --target-busy 0.7 --ref-pool $p --pool $p --setup $set --csv $out/conv_pool${p}_seed1.csv > /dev/null
done
python3 bench/sim/seeds.py $out/*.csv > $out/summary.md
