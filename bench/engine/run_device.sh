#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The engine's GPU checks and benchmarks on the device machine, which has
# CUDA, cuBLAS, ncu and PyTorch but not the Debian libraries the binaries
# link: those are built on the build host (meson with CUDA) and carried in
# the git-ignored .devcarry/ with the libraries `ldd` lists (OpenBLAS
# xz-compressed): .devcarry/g10/ the binaries and the fresh libasymcache,
# .devcarry/lib/ the rest; .devcarry/g10/ab/ may hold a libasymcache built
# with another MSA split (-DAC_MSA_MIN_SPLIT_KEYS=...) for the ab step.
# Results go to $OUT (or ./engine-out), at most one file a step.
#   bench/engine/run_device.sh [env|test|gemv|bench|ab|peers|quickpeers|profile]...
# (test sets AC_EXPECT_WGMMA=1: every MSA case not forced onto mma.sync
# must take the wgmma kernel on the H200)
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-$PWD/engine-out}
mkdir -p "$out"
c=$PWD/.devcarry
[ -e $c/lib/libopenblas.so.0 ] || xz -dc $c/openblas.xz > $c/lib/libopenblas.so.0
libs=$c/lib:/usr/local/cuda/lib64
export LD_LIBRARY_PATH=$c/g10:$libs
export PYTHONUNBUFFERED=1
b=$c/g10

# Mean and median of gpu_bench --decode-only's step times.
steps() {
	python3 -c 'import re,sys,statistics as s
t=[float(m.group(1)) for m in re.finditer(r": ([0-9.]+) ms", sys.stdin.read())]
print(f"{len(t)} steps: mean {s.mean(t):.3f} ms, median {s.median(t):.3f} ms")'
}

for w in ${*:-env test gemv bench peers}; do
	case $w in
	env)
		nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
		python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" ;;
	test)
		for t in test_engine_ops_gpu test_engine_forward_gpu test_msa_gpu; do
			AC_EXPECT_WGMMA=1 timeout 240 $b/$t --verbose 2>&1
		done > $out/tests.txt
		grep -E "cuda vs|holes vs|Synthesis|FAIL|Assert|expected|taken" $out/tests.txt ;;
	gemv) timeout 120 $b/gemv_bench 2>&1 | tee $out/gemv_bench.txt ;;
	bench) timeout 300 $b/gpu_bench --reps 5 2>&1 | tee $out/gpu_bench.txt ;;
	ab)
		# Decode at 2k, 64 steps, this build's MSA split against ab/'s,
		# twice each, interleaved.
		for i in 1 2; do
			for lib in $b $b/ab; do
				echo -n "$(basename $lib) $i: "
				LD_LIBRARY_PATH=$lib:$libs timeout 60 $b/gpu_bench --decode-only 64 | steps
			done
		done 2>&1 | tee $out/ab.txt ;;
	peers) timeout 300 python3 bench/engine/torch_peers.py 2>&1 | grep -v Warning | tee $out/torch_peers.txt ;;
	quickpeers) timeout 200 python3 bench/engine/torch_peers.py --quick 2>&1 | grep -v Warning | tee $out/torch_peers.txt ;;
	profile)
		# Kernel times of three decode steps (graph nodes one by one).
		timeout 200 ncu --clock-control none --profile-from-start off \
			--metrics gpu__time_duration.sum --csv \
			$b/gpu_bench --decode-only 3 > /tmp/decode_ncu.csv 2>/tmp/decode_ncu.err
		python3 bench/engine/ncu_summary.py /tmp/decode_ncu.csv | tee $out/decode_profile.txt
		tail -3 /tmp/decode_ncu.err ;;
	*) echo "unknown step $w"; exit 2 ;;
	esac
done
