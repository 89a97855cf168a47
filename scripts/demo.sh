#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The policy comparison: for each eviction policy, start a fresh asymcached
# on a temporary socket (host backend, one pool size for all), run the same
# asymcache-demo workload against it (several client processes sharing the
# pool, live progress lines), stop the daemon with SIGTERM and check that it
# exited cleanly. Then print one table with a row per policy.
#
# Usage: scripts/demo.sh [BUILD_DIR] [extra asymcache-demo options...]
# Environment (defaults below, the reasons in docs/demo.md):
#   AC_TRACE            trace file (data/traces/conversation_trace.jsonl;
#                       a synthetic workload with a message when missing)
#   AC_DEMO_POLICIES    policies to compare, in order ("lru pensieve asym";
#                       AC_DEMO_POLICY=NAME runs that one alone)
#   AC_DEMO_REQUESTS    first N requests of the trace
#   AC_DEMO_POOL_BYTES  pool size (K/M/G suffix)
#   AC_DEMO_CLIENTS     client processes sharing the pool
#   AC_DEMO_COSTS       cost model for the recompute estimates
#   AC_DEMO_LOCKSTEP    1 (default): the clients take the requests in trace
#                       order, so a rerun gives the same table (pensieve
#                       aside, which reads the clock); 0: free-running
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build}
[ $# -gt 0 ] && shift
case $build in /*) ;; *) build=$PWD/$build ;; esac

daemon=$build/daemon/asymcached
demo=$build/tools/demo/asymcache-demo
for b in "$daemon" "$demo"; do
	if [ ! -x "$b" ]; then
		echo "demo.sh: $b is missing; build first (make build)" >&2
		exit 1
	fi
done

trace=${AC_TRACE:-$repo/data/traces/conversation_trace.jsonl}
if [ ! -r "$trace" ]; then
	echo "demo.sh: no trace at $trace (set AC_TRACE to a Mooncake" >&2
	echo "demo.sh: trace file); the demo falls back to a synthetic" >&2
	echo "demo.sh: multi-turn workload, numbers will differ" >&2
fi
# Defaults (measured on a 2-core host; docs/demo.md has the scan):
# - the first 3,000 requests (16.5 minutes of the trace): conversations
#   come back turns later, so shorter windows hold little reuse (200
#   requests: 9% hits even with an unbounded cache, 3,000: 34%);
# - 512 MiB = 131,072 blocks of 16 tokens against 1.08M distinct blocks:
#   small enough that every policy evicts ~1.2M blocks, large enough that a
#   conversation's next turn often finds part of its chain. With 64-128 MiB
#   the pool turns over before the next turn and all three policies sit at
#   7-9% hits with few holes; from 1 GiB on lru and asym tie;
# - 4 client processes: twice the cores, so requests interleave in the
#   pool as they would from several engines;
# - 16-token blocks (asymcache-demo's default, vLLM's and the cost file's);
# - lockstep: free-running clients interleave differently on every run and
#   the policies' hit rates then swap places from run to run (they differ by
#   less than that noise); in trace order lru and asym repeat exactly.
# About 20 s for all three policies on 2 cores; only pensieve makes holes
# in numbers (it evicts a chain's cheap leading blocks first).
requests=${AC_DEMO_REQUESTS:-3000}
pool_bytes=${AC_DEMO_POOL_BYTES:-512M}
clients=${AC_DEMO_CLIENTS:-4}
lockstep=()
[ "${AC_DEMO_LOCKSTEP:-1}" = 1 ] && lockstep=(--lockstep)
policies=${AC_DEMO_POLICIES:-${AC_DEMO_POLICY:-lru pensieve asym}}
costs=${AC_DEMO_COSTS:-$repo/policy/costs/h200-llama-3-8b-measured.json}

# Not mktemp: coreutils' mktemp leaks under valgrind --trace-children
# (tests/integration/core/test_demo.c runs this script), and mkdir of a
# name that exists fails, which is all the safety mktemp -d adds here.
tmp=
for _ in 1 2 3 4 5 6 7 8; do
	t=${TMPDIR:-/tmp}/asymcache-demo.$$.$RANDOM
	if mkdir -m 700 "$t" 2>/dev/null; then
		tmp=$t
		break
	fi
done
[ -n "$tmp" ] || { echo "demo.sh: cannot make a temporary folder" >&2; exit 1; }
sock=$tmp/asymcached.sock
summary=$tmp/summary.txt
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# One policy: a fresh daemon, so no run inherits another's cache.
run_policy() {
	local policy=$1 rc=0 drc=0 i

	shift

	rm -f "$sock"
	"$daemon" --foreground -c /dev/null --socket "$sock" --backend host \
		--pool-bytes "$pool_bytes" --block-bytes 4096 \
		--group "$(id -gn)" --policy "$policy" >"$tmp/daemon.log" 2>&1 &
	pid=$!
	for ((i = 0; i < 200; i++)); do
		[ -S "$sock" ] && break
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "demo.sh: asymcached --policy $policy exited during start-up:" >&2
			cat "$tmp/daemon.log" >&2
			pid=
			return 1
		fi
		sleep 0.05
	done
	if [ ! -S "$sock" ]; then
		echo "demo.sh: no socket after 10 s" >&2
		return 1
	fi
	echo
	echo "=== policy $policy: asymcached pid $pid on $sock (host pool $pool_bytes, 4 KiB blocks)"

	"$demo" --socket "$sock" --trace "$trace" --clients "$clients" \
		--requests "$requests" --costs "$costs" --summary "$summary" \
		"${lockstep[@]}" "$@" || rc=$?

	kill -TERM "$pid"
	wait "$pid" || drc=$?
	pid=
	if [ "$drc" -ne 0 ]; then
		echo "demo.sh: asymcached --policy $policy exited with status $drc; its log:" >&2
		cat "$tmp/daemon.log" >&2
		return 1
	fi
	echo "asymcached stopped cleanly"
	return "$rc"
}

for p in $policies; do
	run_policy "$p" "$@" || exit 1
done
"$demo" --compare "$summary"
