#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One engine against two on one pool: a window of the conversation trace
# replayed at a load that keeps the GPU about 70% busy, once by one
# asymcache-engine process and once by two (the trace's requests dealt
# alternately), each arm on a fresh asymcached, same model, pool, flags and
# arrival times. The load comes from a first run of the window with every
# request at once (the capacity), scaled so that the offered tokens are
# LOAD of it.
#
# Usage: bench/engine/serve_replay.sh BUILD_DIR OUT_DIR
# Environment: MODEL (llama3-8b), DEVICE (cuda), REQUESTS (200), TPI
# (tokens per hash id, 128), MAX_OUTPUT (64), LOAD (0.7), POOL (40G),
# BLOCK (2M: llama3-8b bf16 16-token blocks), TRACE.
set -euo pipefail

build=$1
out=$2
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
model=${MODEL:-llama3-8b}
device=${DEVICE:-cuda}
requests=${REQUESTS:-200}
tpi=${TPI:-128}
max_output=${MAX_OUTPUT:-64}
load=${LOAD:-0.7}
pool=${POOL:-40G}
block=${BLOCK:-2M}
trace=${TRACE:-$repo/data/traces/conversation_trace.jsonl}
daemon=$build/daemon/asymcached
engine=$build/engine/cli/asymcache-engine
backend=host
[ "$device" = cuda ] && backend=cuda
mkdir -p "$out"
tmp=$(mktemp -d)
pid=
stop() {
	[ -n "$pid" ] || return 0
	kill -TERM "$pid"
	wait "$pid" || { echo "serve_replay: asymcached exit status $?" >&2; cat "$tmp/d.log" >&2; }
	pid=
}
trap 'stop; rm -rf "$tmp"' EXIT
start() {
	rm -f "$tmp/s.sock"
	"$daemon" --foreground -c /dev/null --socket "$tmp/s.sock" --backend "$backend" \
		--pool-bytes "$pool" --block-bytes "$block" --group "$(id -gn)" >"$tmp/d.log" 2>&1 &
	pid=$!
	for _ in $(seq 300); do [ -S "$tmp/s.sock" ] && return 0; sleep 0.1; done
	cat "$tmp/d.log" >&2
	exit 1
}
replay() {	# NAME TRACE SPEED
	"$engine" replay -s "$tmp/s.sock" -m "$model" --device "$device" \
		--tokens-per-id "$tpi" --max-output "$max_output" --speed "$3" \
		-q --name "$1" -o "$out/$1.jsonl" "$2" >"$out/$1.summary" 2>"$out/$1.log"
}

head -n "$requests" "$trace" >"$tmp/window.jsonl"
awk 'NR % 2 == 1' "$tmp/window.jsonl" >"$tmp/half1.jsonl"
awk 'NR % 2 == 0' "$tmp/window.jsonl" >"$tmp/half2.jsonl"

# Capacity: everything at once, one engine.
start
replay capacity "$tmp/window.jsonl" 0
stop
speed=$(python3 - "$tmp/window.jsonl" "$out/capacity.jsonl" "$load" "$tpi" <<'PY'
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
res = [json.loads(l) for l in open(sys.argv[2])]
tpi, load = int(sys.argv[4]), float(sys.argv[3])
toks = sum(r["prompt_tokens"] + r["output_tokens"] for r in res)
wall = max(r["arrival_ms"] + r["ttft_ms"] + r.get("tpot_ms", 0) * (r["output_tokens"] - 1) for r in res) / 1e3
span = (reqs[-1]["timestamp"] - reqs[0]["timestamp"]) / 1e3
# Offered tokens per second at speed s: toks / (span / s).
print(f"{load * (toks / wall) * span / toks:.4f}")
PY
)
echo "capacity run: $(grep -E 'output ' "$out/capacity.summary" | sed 's/^ *//'); speed for load $load: $speed" | tee "$out/speed.txt"

start
replay one "$tmp/window.jsonl" "$speed"
stop
start
replay two-a "$tmp/half1.jsonl" "$speed" &
a=$!
replay two-b "$tmp/half2.jsonl" "$speed"
wait "$a"
stop

python3 - "$out" "$model" "$device" "$requests" "$tpi" "$max_output" "$speed" <<'PY'
import json, sys, statistics
out, model, device, n, tpi, mo, speed = sys.argv[1:]
def load(names):
    rs = []
    for nm in names:
        rs += [json.loads(l) for l in open(f"{out}/{nm}.jsonl")]
    return rs
def row(label, rs):
    ok = [r for r in rs if "error" not in r]
    toks = sum(r["prompt_tokens"] + r["output_tokens"] for r in ok)
    end = max(r["arrival_ms"] + r["ttft_ms"] + r.get("tpot_ms", 0) * (r["output_tokens"] - 1) for r in ok) / 1e3
    start = min(r["arrival_ms"] for r in ok) / 1e3
    ttft = [r["ttft_ms"] for r in ok]
    tpot = [r["tpot_ms"] for r in ok if "tpot_ms" in r]
    reused = sum(r["reused_tokens"] for r in ok) / max(1, sum(r["prompt_tokens"] for r in ok))
    print(f"| {label} | {len(ok)} | {toks / (end - start):.0f} | {statistics.mean(ttft):.1f} | "
          f"{statistics.median(ttft):.1f} | {statistics.mean(tpot):.2f} | {100 * reused:.1f}% |")
print(f"# serve_replay: {model} on {device}, the first {n} requests of the conversation trace, "
      f"{tpi} tokens per hash id, at most {mo} output tokens, arrivals at speed {speed} (about 70% of the one-engine capacity)")
print("| arm | requests | tokens/s | mean TTFT ms | p50 TTFT ms | mean TPOT ms | prompt reused |")
print("|---|---|---|---|---|---|---|")
row("one engine, all requests", load(["one"]))
row("two engines on one pool, requests dealt alternately", load(["two-a", "two-b"]))
PY
