#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build, check and time the MSA kernels on the device machine, which has
# nvcc and PyTorch but not meson's Debian dependencies.  Results go to $OUT
# (or ./msa-out).  Usage:
#   bench/msa/run_device.sh [build|probe|check|sanitize|bench|quickbench|baselines|all]...
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-$PWD/msa-out}
b=/tmp/msa-build
mkdir -p "$out" "$b"
what=${*:-all}
gencode=${NVCC_GENCODE:--gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_80,code=compute_80}
inc="-Ikernels -Ikernels/include -Iinclude -Ibench/msa -Itests/lib -Itests/unit/kernels -Itests/gpu/kernels"
cflags="-O2 -std=gnu11 -D_GNU_SOURCE -DAC_HAVE_CUDA=1 -Wall $inc -I/usr/local/cuda/include"

build() {
	nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
	nvcc --version | tail -1
	t0=$(date +%s)
	# The library's kernels and the benchmark's research variants, side
	# by side: two independent nvcc runs.
	nvflags="$gencode -DAC_MSA_SM90A=1 -O3 -std=c++17 -Xcompiler -fPIC -Xptxas -v -DAC_HAVE_CUDA=1 $inc"
	nvcc $nvflags -c kernels/msa_cuda.cu -o $b/msa_cuda.o 2>$b/ptxas.txt &
	lib_pid=$!
	nvcc $nvflags -c bench/msa/msa_variants.cu -o $b/msa_variants.o 2>$b/ptxas_variants.txt
	bench_rc=$?
	wait $lib_pid || { cat $b/ptxas.txt; exit 1; }
	[ $bench_rc = 0 ] || { cat $b/ptxas_variants.txt; exit 1; }
	grep -E "registers|spill" $b/ptxas.txt $b/ptxas_variants.txt | sort | uniq -c | head -30
	for f in kernels/msa_plan.c kernels/msa_cpu.c kernels/msa_cuda_ops.c \
		 tests/lib/th_seed.c \
		 tests/unit/kernels/msa_testlib.c tests/gpu/kernels/msa_gpu_check.c \
		 tests/gpu/kernels/msa_gpu_main.c bench/msa/msa_bench.c; do
		gcc $cflags -c $f -o $b/$(basename $f .c).o || exit 1
	done
	lib="$b/msa_cuda.o $b/msa_plan.o $b/msa_cpu.o $b/msa_cuda_ops.o"
	nvcc -o $b/msa_gpu_check $b/msa_gpu_main.o $b/msa_gpu_check.o \
		$b/msa_testlib.o $b/th_seed.o $lib -lm || exit 1
	nvcc -o $b/msa_bench $b/msa_bench.o $b/msa_variants.o $lib -lm || exit 1
	# Instruction mix of each kernel: HMMA share and what else it issues.
	cuobjdump --dump-sass $b/msa_cuda.o $b/msa_variants.o > $b/sass.txt
	python3 - $b/sass.txt > $out/build.txt <<'PY'
import re, sys, collections
txt = open(sys.argv[1]).read()
for f in re.split(r"\n\s+Function : ", txt)[1:]:
    name = f.split("\n")[0]
    if "bfloat16" not in name and "kv_write" not in name:
        continue
    ops = re.findall(r"/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_]*)", f)
    c = collections.Counter(ops)
    print(name[:90], "total", len(ops), c.most_common(14))
PY
	cat $b/ptxas.txt $b/ptxas_variants.txt >> $out/build.txt
	echo "build: $(( $(date +%s) - t0 )) s"
}

for w in $what; do
	case $w in
	build) build ;;
	probe)
		# One small wgmma case first: a hang or a fault shows here in
		# seconds rather than eating the whole check's time.
		AC_EXPECT_WGMMA=1 AC_MSA_CASES="wgmma small" timeout 30 \
			$b/msa_gpu_check 2>&1 | tee $out/gpu_probe.txt ;;
	check) AC_EXPECT_WGMMA=1 timeout 150 $b/msa_gpu_check 2>&1 | tee $out/gpu_check.txt ;;
	sanitize)
		timeout 120 compute-sanitizer --tool memcheck --error-exitcode 3 $b/msa_gpu_check --small 2>&1 | tail -8 | tee -a $out/gpu_check.txt
		# Racecheck is far slower than memcheck; run 10 hit 120 s.
		timeout 300 compute-sanitizer --tool racecheck --error-exitcode 3 $b/msa_gpu_check --small 2>&1 | tail -8 | tee -a $out/gpu_check.txt ;;
	bench)
		timeout 200 $b/msa_bench --out $out 2>&1 | tee $out/msa_bench.txt ;;
	quickbench) timeout 120 $b/msa_bench --quick --out $out 2>&1 | tee $out/msa_bench.txt ;;
	baselines)
		PYTHONUNBUFFERED=1 timeout 150 python3 bench/msa/msa_torch.py $out 2>&1 | grep -v Warning | tee $out/baselines.txt ;;
	all) build; $0 probe check sanitize bench baselines ;;
	*) echo "unknown step $w"; exit 2 ;;
	esac
done
