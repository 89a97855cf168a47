#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the GPU Criterion suites on a GPU machine from a build made elsewhere
# (carried with .devcarry/lib, see scripts/device-libs.sh). Output to $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$PWD/gpu-out}
mkdir -p "$out"
export LD_LIBRARY_PATH=$PWD/.devcarry/lib:$PWD/build/libclient
export AC_BUILD_ROOT=$PWD/build AC_SOURCE_ROOT=$PWD CRITERION_VERBOSITY_LEVEL=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"
rc=0
export AC_TEST_KEEP_LOGS=1
rm -rf /tmp/acd-test-*
for t in ${AC_GPU_TESTS:-build/tests/gpu/pool/test-gpu-pool build/tests/gpu/kernels/test_msa_gpu}; do
	echo "== $t" | tee -a "$out/gpu-tests.txt"
	timeout 300 "$t" -j1 2>&1 | tee -a "$out/gpu-tests.txt" || rc=1
done
# The daemons' own logs, for failures that the test binary cannot explain.
for d in /tmp/acd-test-*; do
	[ -f "$d/daemon.log" ] && { echo "== $d/daemon.log"; tail -40 "$d/daemon.log"; } | tee -a "$out/daemon-logs.txt"
done
exit $rc
