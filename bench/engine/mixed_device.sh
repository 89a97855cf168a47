#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/engine/mixed_bench.c on a GPU machine that has only what
# bench/e2e/stage.sh staged (plus tree/bench/engine/mixed_bench and the GPU
# test binaries under tree/tests/gpu/engine), and the engine's GPU op tests
# first. Writes to OUT_DIR: tests.txt, mixed.md (a table for each chunk
# prefix of PREFIXES, "0 4096"; MIXED_ARGS go to each run), and ncu-M.txt
# (the kernels of one warm pass with an M-token chunk, summed per kernel by
# ncu_summary.py) for each M of NCU_CHUNKS ("300 2000"; empty: none).
#
# Usage: bench/engine/mixed_device.sh STAGED_DIR OUT_DIR
set -uo pipefail

[ $# = 2 ] || { sed -n '3,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
staged=$(cd "$1" && pwd)
out=$2
mkdir -p "$out"
[ -f "$staged/lib/openblas.xz" ] && [ ! -f "$staged/lib/libopenblas.so.0" ] &&
	xz -dc "$staged/lib/openblas.xz" >"$staged/lib/libopenblas.so.0"
export LD_LIBRARY_PATH=$staged/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
t=$staged/tree
{
	nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
	date -u +%FT%TZ
} >"$out/machine.txt" 2>&1
for b in test_engine_ops_gpu test_engine_forward_gpu; do
	timeout 300 "$t/tests/gpu/engine/$b" --verbose 2>&1 | tail -40
done >"$out/tests.txt"
for x in ${PREFIXES:-0 4096}; do
	timeout 300 "$t/bench/engine/mixed_bench" --prefix "$x" ${MIXED_ARGS:-} \
		>>"$out/mixed.md" 2>>"$out/mixed.log"
	echo "mixed_bench --prefix $x exit $?" >>"$out/mixed.log"
	echo >>"$out/mixed.md"
done
for m in ${NCU_CHUNKS-300 2000}; do
	timeout 200 ncu --profile-from-start off --metrics gpu__time_duration.sum --csv \
		"$t/bench/engine/mixed_bench" --profile-pass "$m" >"$out/ncu-$m.csv" 2>"$out/ncu-$m.log"
	{
		grep '^mixed pass' "$out/ncu-$m.csv"
		python3 "$here/ncu_summary.py" "$out/ncu-$m.csv" | head -30
	} >"$out/ncu-$m.txt" 2>&1
	"$t/bench/engine/mixed_bench" --profile-pass "$m" >>"$out/ncu-$m.txt" 2>&1
	rm -f "$out/ncu-$m.csv"
done
cat "$out/mixed.md"
