#!/bin/bash
# SPDX-License-Identifier: MIT
# The adversarial run of issue 14, compact: what an attacker and a careless
# operator would try, against the real daemon.
#   bench/soak/adversarial.sh -d ASYMCACHED -s SOAK [-o FILE] [-- SOAK OPTIONS...]
# 1. Bad configurations and command lines: each must be refused within 5 s
#    with the exit status given and a message naming the file, line or
#    flag, never a signal, never a control byte of the file in the output.
# 2. The soak (bench/soak/soak.c) with every attack, one phase each after
#    the baseline: crash storm, malformed and mutated packets, connection
#    flood, unprivileged peers, SIGSTOP of the daemon. Its options default
#    to a compact run (16 clients, 20 s a phase); more go to the soak.
# Point -d at a sanitizer build of the daemon to count sanitizer reports:
# ASan, LSan and (with halt_on_error, set here) UBSan end the daemon with
# a non-zero status, which fails the soak's verdict. Must run as root (the
# unprivileged peers are made with setuid). Exit status 0 only when every
# case was refused as expected and the soak passed.
set -uo pipefail

daemon= soak= out=/dev/stdout
while getopts d:s:o: opt; do
	case $opt in
	d) daemon=$OPTARG ;;
	s) soak=$OPTARG ;;
	o) out=$OPTARG ;;
	*) echo "usage: $0 -d ASYMCACHED -s SOAK [-o FILE] [-- SOAK OPTIONS...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ -x "$daemon" ] && [ -x "$soak" ] || {
	echo "adversarial: -d ASYMCACHED and -s SOAK must be executables" >&2
	exit 2
}
[ "$(id -u)" = 0 ] || { echo "adversarial: run as root (peers as nobody)" >&2; exit 2; }
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

work=$(mktemp -d /tmp/ac-adversarial-XXXXXX)
trap 'rm -rf "$work"' EXIT
fails=0

# case NAME STATUS EXPECT [DAEMON ARGS...]: the daemon on a fresh socket
# path with ARGS must exit STATUS with EXPECT in its output.
case_row() {
	local name=$1 want=$2 expect=$3 rc msg
	shift 3
	rm -f "$work/s.sock" "$work/s.sock.lock"
	timeout 5 "$daemon" --foreground --socket "$work/s.sock" --backend host \
		--group '' --pool-bytes 1M --block-bytes 64K "$@" >"$work/out" 2>&1
	rc=$?
	# The message without the log's timestamp and pid.
	msg=$(grep -m1 -E 'err:|asymcached:' "$work/out" | sed -E 's/^.*(err|crit): //; s/\|/\\|/g')
	local ok=yes
	[ "$rc" = "$want" ] || ok=no
	grep -qF -- "$expect" "$work/out" || ok=no
	# Bytes of a binary file must come out escaped (\xNN), never raw.
	LC_ALL=C grep -qP '[\x00-\x08\x0b-\x1f\x7f]' "$work/out" && ok=no
	[ $ok = yes ] || fails=$((fails + 1))
	printf '| %s | %s | %s | `%s` | %s |\n' "$name" "$want" "$rc" "${msg:-(none)}" "$ok" >>"$out"
}

conf() { printf "$2" >"$work/$1"; echo "$work/$1"; }

{
	echo "<!-- SPDX-License-Identifier: MIT -->"
	echo "# Adversarial run (issue 14, compact)"
	echo
	echo "Command: \`bench/soak/adversarial.sh -d $daemon -s $soak${*:+ -- $*}\`."
	echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -n) ($(nproc) CPUs, $(uname -sr)),"
	echo "tree $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown);"
	echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)."
	echo
	echo "## Bad configurations and command lines"
	echo
	echo "Each must be refused within 5 s with the exit status given and a message that names"
	echo "the file and line or the flag; no signal, no raw control byte in the output."
	echo
	echo "| case | wanted status | status | message | as expected |"
	echo "| --- | --- | --- | --- | --- |"
} >>"$out"

mkfifo "$work/fifo"
head -c 512 /dev/urandom >"$work/binary.conf"
printf '[daemon]\nlog_level = in\0fo\n' >"$work/nul.conf"
: >"$work/not-a-socket"
case_row "a directory as the config" 1 "is a directory" -c "$work"
case_row "/dev/zero as the config" 1 "is a character device" -c /dev/zero
case_row "a FIFO as the config (no writer)" 1 "is a FIFO" -c "$work/fifo"
case_row "a NUL byte in a value" 1 "a NUL byte in the line" -c "$work/nul.conf"
case_row "a binary file" 1 "binary.conf:" -c "$work/binary.conf"
case_row "an unknown section" 1 "unknown section" -c "$(conf a.conf '[bogus]\nx = 1\n')"
case_row "an unknown key" 1 "unknown key" -c "$(conf b.conf '[limits]\nmax_pinz = 1\n')"
case_row "a key set twice" 1 "set twice" -c "$(conf c.conf '[limits]\nmax_sessions = 8\nmax_sessions = 9\n')"
case_row "a number out of range" 1 "max_pins_per_session" -c "$(conf d.conf '[limits]\nmax_pins_per_session = 4294967296\n')"
case_row "a share over 100%" 1 "not a share of the pool" -c "$(conf e.conf '[limits]\nmax_blocks_per_uid = 101%%\n')"
case_row "a pool smaller than a block" 1 "smaller than block_bytes" -c /dev/null --pool-bytes 1000
case_row "a block size not a multiple of 256" 1 "not a multiple of 256" -c /dev/null --block-bytes 1000
case_row "a tenant pool without a group" 1 "needs bytes, block_bytes and group" -c "$(conf f.conf '[pool.1]\nbytes = 1M\nblock_bytes = 64K\n')"
case_row "a tenant pool of a group that does not exist" 1 "no group named" -c "$(conf g.conf '[pool.1]\nbytes = 1M\nblock_bytes = 64K\ngroup = no-such-group-ac\n')"
case_row "a long option without its argument" 2 "needs an argument" -c /dev/null --policy
case_row "an unknown policy" 1 "policy" -c /dev/null --policy nosuch
case_row "the socket path is a regular file" 1 "is not a socket" -c /dev/null --socket "$work/not-a-socket"

{
	echo
	echo "## Every attack beside well-behaved clients"
	echo
	echo "\`soak --attacks storm,garbage,flood,nobody,sigstop\` (bench/soak/soak.c says what each"
	echo "attack does and what is checked at the end); the target is the well-behaved clients'"
	echo "request p99 at most 3x the baseline's while one hostile peer runs (SIGSTOP aside: the"
	echo "daemon is not running then; there the bound is the client's deadline per call and"
	echo "service again within 2 s of SIGCONT)."
	echo
} >>"$out"
"$soak" -d "$daemon" --clients 16 --baseline 20 --duration 20 --crashers 1 \
	--hostile 1 --flood 1000 --stop-s 5 --prompts 1024 --pool-mb 32 \
	--attacks storm,garbage,flood,nobody,sigstop "$@" >>"$out" 2>"$work/soak.err"
src=$?
[ -s "$work/soak.err" ] && { echo; echo '```'; cat "$work/soak.err"; echo '```'; } >>"$out"
[ $src -eq 0 ] || fails=$((fails + 1))
echo >>"$out"
echo "Verdict: $([ $fails -eq 0 ] && echo passed || echo "FAILED ($fails)")." >>"$out"
[ $fails -eq 0 ]
