#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One call on a GPU machine that has only what bench/e2e/stage.sh staged:
# unpacks OpenBLAS, points the loader at the staged libraries, runs
# bench/e2e/run.sh on PARTs within LIMIT seconds (a part cut short by the
# limit still writes what finished), and copies the tables and the compact
# raw files (requests, flags, summaries; not the per-iteration timings
# unless KEEP_ITER=1) to OUT_DIR.
#
# Usage: bench/e2e/device_call.sh STAGED_DIR OUT_DIR LIMIT PART...
# Environment: what run.sh reads (SEEDS, ARMS, GPUS, ...).
set -uo pipefail

[ $# -ge 4 ] || { sed -n '3,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
staged=$(cd "$1" && pwd)
out=$2
limit=$3
shift 3
mkdir -p "$out"
[ -f "$staged/lib/openblas.xz" ] && [ ! -f "$staged/lib/libopenblas.so.0" ] &&
	xz -dc "$staged/lib/openblas.xz" >"$staged/lib/libopenblas.so.0"
export LD_LIBRARY_PATH=$staged/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
{
	nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
	date -u +%FT%TZ
} >"$out/machine.txt" 2>&1
work=$(mktemp -d)
rc=0
timeout --signal=TERM --kill-after=20 "$limit" \
	bash "$here/run.sh" "$staged/tree" "$work" "$@" >"$out/run.log" 2>&1 || rc=$?
echo "run.sh exit $rc" >>"$out/run.log"
# Tables of parts the limit cut short: from what finished.
for p in "$@"; do
	[ -d "$work/$p" ] || continue
	[ -s "$work/$p/table.md" ] ||
		python3 "$here/report.py" table "$work" "$p" --sim "$staged/tree/bench/sim/asymcache-sim" \
			--model "${MODEL:-llama3-8b}" \
			--calibrate "$staged/tree/tools/calibrate/asymcache-calibrate" \
			--gpu "$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)" \
			>"$work/$p/table.md" 2>>"$out/run.log"
done
cp "$work/settings.txt" "$out/" 2>/dev/null
# tar, not cpio: every machine has it.
(cd "$work" && find . \( -name '*.md' -o -name '*.png' -o -name '*.flags' -o -name '*.summary' \
	-o -name 'cost.json' -o -name 'speed-s*' -o -name '*.jsonl' \) -print0 |
	{ if [ "${KEEP_ITER:-0}" = 1 ]; then cat; else grep -zv '\.iter\.jsonl$'; fi; } |
	tar --null -T - -cf -) | tar -xf - -C "$out"
rm -rf "$work"
tail -3 "$out/run.log"
exit $rc
