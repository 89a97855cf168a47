#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Starts asymcached on a temporary socket (host backend, a small pool so
# eviction happens), runs asymcache-demo against it, stops the daemon with
# SIGTERM and checks it exited cleanly.
#
# Usage: scripts/demo.sh [BUILD_DIR] [asymcache-demo options...]
# Environment: AC_TRACE (trace file), AC_DEMO_POOL_BYTES, AC_DEMO_CLIENTS,
# AC_DEMO_POLICY (eviction policy; the daemon's default when unset).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build}
[ $# -gt 0 ] && shift
case $build in /*) ;; *) build=$PWD/$build ;; esac

daemon=$build/daemon/asymcached
demo=$build/engine/asymcache-demo
for b in "$daemon" "$demo"; do
	if [ ! -x "$b" ]; then
		echo "demo.sh: $b is missing; build first (make build)" >&2
		exit 1
	fi
done

trace=${AC_TRACE:-$repo/../shared/traces/conversation_trace.jsonl}
# 8,192 blocks of 4 KiB: a twelfth of the working set of the first 200
# requests (about 105k blocks), so eviction runs from the first seconds.
pool_bytes=${AC_DEMO_POOL_BYTES:-32M}
clients=${AC_DEMO_CLIENTS:-4}
policy=()
[ -n "${AC_DEMO_POLICY:-}" ] && policy=(--policy "$AC_DEMO_POLICY")

tmp=$(mktemp -d /tmp/asymcache-demo.XXXXXX)
sock=$tmp/asymcached.sock
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

"$daemon" --foreground -c /dev/null --socket "$sock" --backend host \
	--pool-bytes "$pool_bytes" --block-bytes 4096 \
	--group "$(id -gn)" "${policy[@]}" >"$tmp/daemon.log" 2>&1 &
pid=$!

for _ in $(seq 200); do
	[ -S "$sock" ] && break
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "demo.sh: asymcached exited during start-up:" >&2
		cat "$tmp/daemon.log" >&2
		exit 1
	fi
	sleep 0.05
done
[ -S "$sock" ] || { echo "demo.sh: no socket after 10 s" >&2; exit 1; }
echo "asymcached pid $pid on $sock (host pool $pool_bytes, 4 KiB blocks)"

rc=0
"$demo" --socket "$sock" --trace "$trace" --clients "$clients" "$@" || rc=$?

kill -TERM "$pid"
drc=0
wait "$pid" || drc=$?
pid=
if [ "$drc" -ne 0 ]; then
	echo "demo.sh: asymcached exited with status $drc; its log:" >&2
	cat "$tmp/daemon.log" >&2
	exit 1
fi
echo "asymcached stopped cleanly"
exit "$rc"
