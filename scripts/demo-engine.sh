#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What `make demo` runs: asymcached (host pool, on a private D-Bus for
# asymcachectl) and asymcache-engine serving processes with
# SmolLM2-135M-Instruct, answering chat questions about three documents
# behind one system prompt (data/demo/chats.jsonl).
#
# 1. engine-a answers the first question about each document.
# 2. engine-a and engine-b run at once, each with new questions: both find
#    the documents engine-a computed and compute only their questions.
# 3. The pool runs short (asymcachectl evict: the policy picks; pensieve
#    evicts a chain's cheap leading blocks first), and engine-b's last
#    questions find holes in the middle of the documents, recomputed with
#    MSA.
# 4. A table: the same requests after the same eviction with each reuse
#    mode (msa, prefix, none) and eviction policy (pensieve, asym, lru),
#    one flag changed per row, each on a fresh daemon. The output hash is
#    the same in every row: the text does not change.
#
# Usage: scripts/demo-engine.sh [BUILD_DIR]
# Environment: AC_MODEL (the .gguf), AC_DEMO_EVICT (blocks evicted, 24).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$PWD/$build ;; esac
daemon=$build/daemon/asymcached
engine=$build/engine/cli/asymcache-engine
ctl=$build/tools/asymcachectl/asymcachectl
model=${AC_MODEL:-$repo/models/SmolLM2-135M-Instruct.Q4_1.gguf}
chats=$repo/data/demo/chats.jsonl
evict=${AC_DEMO_EVICT:-24}
for f in "$daemon" "$engine" "$ctl"; do
	[ -x "$f" ] || { echo "demo-engine.sh: $f is missing; build first (make build)" >&2; exit 1; }
done
[ -r "$model" ] || { echo "demo-engine.sh: no model at $model; scripts/fetch-model.sh fetches it" >&2; exit 1; }
command -v dbus-daemon >/dev/null ||
	{ echo "demo-engine.sh: dbus-daemon is missing (scripts/bootstrap.sh installs it)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/asymcache-engine-demo.XXXXXX")
pid=
bus=
stop_daemon() {
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	if ! wait "$pid"; then
		echo "demo-engine.sh: asymcached did not exit cleanly; its log:" >&2
		cat "$tmp/daemon.log" >&2
		pid=
		return 1
	fi
	pid=
}
cleanup() {
	stop_daemon || true
	[ -n "$bus" ] && kill "$bus" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# A bus of our own: asymcachectl talks to the daemon over it.
dbus-daemon --session --nofork --nopidfile --print-address=3 \
	--address="unix:path=$tmp/bus" 3>"$tmp/bus.addr" &
bus=$!
for _ in $(seq 50); do [ -s "$tmp/bus.addr" ] && break; sleep 0.1; done
addr=$(head -n 1 "$tmp/bus.addr")

# SmolLM2 in fp32 on the CPU: 30 layers x 2 x 3 heads x 64 x 16 tokens x
# 4 B = 720 KiB a block of 16 tokens; 320 MiB holds 455 of them, and a
# session may hold half of a pool (max_blocks_per_session): enough for the
# requests of a table row at once (about 22 blocks each).
start_daemon() {	# POLICY
	rm -f "$tmp/s.sock"
	"$daemon" --foreground -c /dev/null --socket "$tmp/s.sock" \
		--backend host --pool-bytes 320M --block-bytes 720K \
		--group "$(id -gn)" --policy "$1" --dbus-address "$addr" \
		>"$tmp/daemon.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do [ -S "$tmp/s.sock" ] && return 0; sleep 0.1; done
	cat "$tmp/daemon.log" >&2
	return 1
}

# Two processes share two cores: one BLAS thread each.
replay() {	# NAME TRACE [OPTIONS...]
	local name=$1 trace=$2
	shift 2
	OPENBLAS_NUM_THREADS=${threads:-2} "$engine" replay -s "$tmp/s.sock" \
		-m "$model" --name "$name" --stop-eos --max-output "${max_output:-32}" \
		-q -o /dev/null "$@" "$trace"
}
serve() {	# NAME TRACE: figures and answer of each request
	replay "$1" "$2" --show 99 2>&1 | sed -n '/^  #/,/^ *"/p' |
		sed "s/^  #/  [$1] #/"
}

"$engine" tokenize -m "$model" "$chats" "$tmp/trace.jsonl" 2>/dev/null
# Rounds of three requests (one question per document), 0.4 s apart.
for r in 1 2 3 4; do
	sed -n "$((r * 3 - 2)),$((r * 3))p" "$tmp/trace.jsonl" >"$tmp/r$r.jsonl"
done
# The table's requests: the second and third questions about each document.
cat "$tmp/r2.jsonl" "$tmp/r3.jsonl" >"$tmp/later.jsonl"

echo "== asymcached (policy pensieve, host pool of 320 MiB) and asymcache-engine with $(basename "$model")"
echo "   12 questions about 3 documents of ~260 tokens behind one system prompt"
start_daemon pensieve
echo
echo "-- 1. engine-a answers the first question about each document"
serve engine-a "$tmp/r1.jsonl"
echo
echo "-- 2. engine-a and engine-b at once, new questions: the documents come from the pool"
threads=1 serve engine-a "$tmp/r2.jsonl" &
a=$!
threads=1 serve engine-b "$tmp/r3.jsonl"
wait "$a"
echo
echo "-- 3. the pool runs short: asymcachectl evict $evict (the policy picks the blocks);"
echo "      engine-b's next questions find holes inside the documents, recomputed with MSA"
"$ctl" -A "$addr" evict "$evict" | sed 's/^/   /'
serve engine-b "$tmp/r4.jsonl"
stop_daemon

echo
echo "-- 4. the 6 requests of rounds 2 and 3 after round 1 and the same eviction, each row on a fresh"
echo "      daemon, one flag changed per row"
printf 'run\trequests\tTTFT mean ms\tTTFT p50 ms\tTPOT ms\treused\tholes\tcomputed\twall s\toutput hash\n' >"$tmp/table.tsv"
for row in "pensieve msa" "pensieve prefix" "pensieve none" "asym msa" "lru prefix"; do
	set -- $row
	start_daemon "$1"
	# Only the prompts' KV matters here: one token each.
	max_output=1 replay warm "$tmp/r1.jsonl" --speed 0 >/dev/null 2>"$tmp/replay.log" ||
		{ cat "$tmp/replay.log" >&2; exit 1; }
	"$ctl" -A "$addr" evict "$evict" >/dev/null
	replay measured "$tmp/later.jsonl" --reuse "$2" --speed 0 \
		--label "policy=$1 reuse=$2" --summary "$tmp/table.tsv" \
		>/dev/null 2>"$tmp/replay.log" ||
		{ cat "$tmp/replay.log" >&2; exit 1; }
	stop_daemon
done
# Aligned columns with awk alone (column(1) is not on a minimal system).
awk -F '\t' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NF }
	END { pad = sprintf("%80s", ""); for (r = 1; r <= NR; r++) { printf "  "; for (i = 1; i <= n; i++) printf " %s%s", c[r, i], substr(pad, 1, w[i] - length(c[r, i])); print "" } }' "$tmp/table.tsv"
hashes=$(tail -n +2 "$tmp/table.tsv" | cut -f 10 | sort -u | wc -l)
echo
if [ "$hashes" = 1 ]; then
	echo "   The same output hash in every row: the answers do not depend on what was reused."
else
	echo "demo-engine.sh: the runs produced different text (see the output hash column)" >&2
	exit 1
fi
