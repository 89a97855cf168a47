#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Copies the Debian shared libraries that the built test binaries need into
# .devcarry/lib, for running GPU tests on a machine that has the CUDA driver
# but not our Debian dependencies (a bare GPU host). glibc and the C++
# runtime are left out: the target's own, newer ones are used.
set -euo pipefail
build=${1:-build}
dest=.devcarry/lib
mkdir -p "$dest"
bins=$(find "$build/daemon" "$build/tests/gpu" "$build/libclient" -maxdepth 3 -type f -perm -u+x 2>/dev/null)
for b in $bins; do
	ldd "$b" 2>/dev/null | awk '/=> \//{print $3}'
done | sort -u | grep -v -E '/(libc|libm|libresolv|libgcc_s|libstdc\+\+|libpthread|libdl|librt)\.so' |
	while read -r lib; do cp -L "$lib" "$dest/"; done
du -sh "$dest"
