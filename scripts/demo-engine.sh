#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The engine on the pool: one asymcached (host backend) and asymcache-engine
# processes with SmolLM2-135M-Instruct answering questions about the same
# document. The second process finds the first one's KV blocks in the pool
# and computes only its own question; a third run of the same request with
# --reuse=none shows what the cache saved. Text on stdout, each request's
# figures (reused tokens, TTFT, TPOT) on stderr.
#
# Usage: scripts/demo-engine.sh [BUILD_DIR]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$PWD/$build ;; esac
daemon=$build/daemon/asymcached
engine=$build/engine/cli/asymcache-engine
model=${AC_MODEL:-$repo/models/SmolLM2-135M-Instruct.Q4_1.gguf}
for f in "$daemon" "$engine"; do
	[ -x "$f" ] || { echo "demo-engine.sh: $f is missing; build first (make build)" >&2; exit 1; }
done
[ -r "$model" ] || { echo "demo-engine.sh: no model at $model; scripts/fetch-model.sh fetches it" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/asymcache-engine-demo.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# SmolLM2 in fp32 on the CPU: 30 layers x 2 x 3 heads x 64 x 16 tokens x 4 B
# = 720 KiB a block of 16 tokens; 256 MiB holds 364 of them.
"$daemon" --foreground -c /dev/null --socket "$tmp/s.sock" --backend host \
	--pool-bytes 256M --block-bytes 720K --group "$(id -gn)" \
	>"$tmp/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$tmp/s.sock" ] && break; sleep 0.1; done
[ -S "$tmp/s.sock" ] || { cat "$tmp/daemon.log" >&2; exit 1; }

doc="AsymCache keeps the key-value cache of a language model in one pool of
GPU memory that several serving processes share. A privileged daemon owns
the pool and decides which blocks stay when memory runs out; the serving
processes map the pool and run attention directly on the shared blocks.
When a block in the middle of a long prompt has been evicted, the engine
recomputes only that hole with multi-segment attention instead of everything
after it, so the output stays exactly the same while most of the work is
skipped."

ask() {	# REUSE QUESTION
	echo
	echo "=== asymcache-engine --reuse=$1: $2"
	printf '%s\n\nQuestion: %s' "$doc" "$2" |
		"$engine" generate --socket "$tmp/s.sock" -m "$model" --chat \
			-n 40 --reuse "$1"
}

echo "asymcached on $tmp/s.sock (host pool, 256 MiB); model $(basename "$model")"
ask msa "Who owns the pool?"
ask msa "What happens when a block in the middle was evicted?"
ask none "What happens when a block in the middle was evicted?"
kill -TERM "$pid"
wait "$pid"
pid=
echo
echo "asymcached stopped cleanly. The second process reused the document's blocks that the first"
echo "one computed; the last run computed everything and printed the same text."
