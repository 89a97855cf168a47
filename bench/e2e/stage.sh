#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Stage bench/e2e's binaries for a GPU machine that lacks the build's
# Debian libraries: DEST/tree holds them in the build directory's layout
# (the BUILD_DIR run.sh takes) and DEST/lib every shared library they load
# that is not the C library, the CUDA driver or the CUDA toolkit's (those
# the GPU machine has), OpenBLAS xz-compressed (DEST/lib/openblas.xz).
#
# Usage: bench/e2e/stage.sh BUILD_DIR DEST
# On the GPU machine:
#   xz -dc DEST/lib/openblas.xz >DEST/lib/libopenblas.so.0
#   LD_LIBRARY_PATH=DEST/lib:/usr/local/cuda/lib64 bench/e2e/run.sh DEST/tree OUT PART...
set -euo pipefail

[ $# = 2 ] || { sed -n '3,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
build=$1
dest=$2
bins=(daemon/asymcached engine/cli/asymcache-engine bench/workloads/asymcache-workload
	bench/sim/asymcache-sim tools/calibrate/asymcache-calibrate)
for b in "${bins[@]}"; do
	[ -x "$build/$b" ] || { echo "stage.sh: $build/$b is not built" >&2; exit 1; }
done
mkdir -p "$dest/tree" "$dest/lib"
for b in "${bins[@]}"; do
	mkdir -p "$dest/tree/$(dirname "$b")"
	cp "$build/$b" "$dest/tree/$b"
	strip --strip-debug "$dest/tree/$b" 2>/dev/null || true
done
# The libraries: what ldd resolves, less what every GPU machine brings.
for b in "${bins[@]}"; do ldd "$build/$b"; done |
	awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
	while read -r lib; do
		case $(basename "$lib") in
		libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libgcc_s*|libstdc++*) continue;;
		libcuda.so*|libcudart*|libcublas*|libnvidia*) continue;;
		libopenblas*) xz -9 -c "$(readlink -f "$lib")" >"$dest/lib/openblas.xz"; continue;;
		esac
		cp -L "$lib" "$dest/lib/$(basename "$lib")"
	done
du -sh "$dest"
