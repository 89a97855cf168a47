#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The engine's GPU checks and benchmarks on the device machine, which has
# CUDA, cuBLAS, ncu and PyTorch but not the Debian libraries the binaries
# link: those are built on the build host (meson with CUDA) and carried in
# the git-ignored .devcarry/ with the libraries `ldd` lists (OpenBLAS
# xz-compressed): .devcarry/g10/ the binaries and the fresh libasymcache,
# .devcarry/lib/ the rest. Results go to $OUT (or ./engine-out).
#   bench/engine/run_device.sh [env|test|gemv|bench|peers|quickpeers|profile]...
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-$PWD/engine-out}
mkdir -p "$out"
c=$PWD/.devcarry
[ -e $c/lib/libopenblas.so.0 ] || xz -dc $c/openblas.xz > $c/lib/libopenblas.so.0
export LD_LIBRARY_PATH=$c/g10:$c/lib:/usr/local/cuda/lib64
export PYTHONUNBUFFERED=1
b=$c/g10

for w in ${*:-env test gemv bench peers}; do
	case $w in
	env)
		nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
		python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" ;;
	test)
		for t in test_engine_ops_gpu test_engine_forward_gpu; do
			timeout 240 $b/$t --verbose 2>&1 | tee $out/$t.txt |
				grep -E "cuda vs|Synthesis|FAIL|Assert|expected"
		done ;;
	gemv) timeout 120 $b/gemv_bench 2>&1 | tee $out/gemv_bench.txt ;;
	bench) timeout 300 $b/gpu_bench --reps 5 2>&1 | tee $out/gpu_bench.txt ;;
	peers) timeout 300 python3 bench/engine/torch_peers.py 2>&1 | grep -v Warning | tee $out/torch_peers.txt ;;
	quickpeers) timeout 200 python3 bench/engine/torch_peers.py --quick 2>&1 | grep -v Warning | tee $out/torch_peers.txt ;;
	profile)
		# Kernel times of three decode steps (graph nodes one by one).
		timeout 200 ncu --clock-control none --profile-from-start off \
			--metrics gpu__time_duration.sum --csv \
			$b/gpu_bench --decode-only 3 > $out/decode_ncu.csv 2>$out/decode_ncu.err
		python3 bench/engine/ncu_summary.py $out/decode_ncu.csv | tee $out/decode_profile.txt ;;
	*) echo "unknown step $w"; exit 2 ;;
	esac
done
