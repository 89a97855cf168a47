#!/bin/sh
# SPDX-License-Identifier: MIT
# Prints who depends on whom between the files of one source folder, so a
# layering claim can be checked rather than believed:
#   include A -> B   A has #include "B" and B is a header of that folder
#   call    A -> B   A's object needs a symbol that B's object defines (nm)
#   module  A -> B   the same edges with foo.c and foo.h merged into foo
# then the modules bottom-up, or the cycle when there is one (exit 1).
#
# Usage: scripts/include-graph.sh [SRC_DIR] [BUILD_DIR]
#        (defaults: daemon build-daemon; BUILD_DIR must be built)
set -eu

src=${1:-daemon}
build=${2:-build-daemon}
src=${src%/}

if [ ! -d "$src" ]; then
	echo "include-graph: $src: no such folder" >&2
	exit 2
fi
objs=$(find "$build/$src" -path '*.p/*.c.o' 2>/dev/null | sort)
if [ -z "$objs" ]; then
	echo "include-graph: no objects under $build/$src: build it first" >&2
	exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Include edges: only quoted includes that name a header of $src.
for f in "$src"/*.c "$src"/*.h; do
	[ -e "$f" ] || continue
	sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" |
	while read -r h; do
		if [ -e "$src/$h" ]; then
			echo "include $(basename "$f") -> $h"
		fi
	done
done | sort -u > "$tmp/include"

# Call edges: undefined symbols of one object against the definitions of
# the others. An object outside the folder's own sources is skipped.
for o in $objs; do
	c=$(basename "$o" .o)
	[ -e "$src/$c" ] || continue
	nm --defined-only -g "$o" | awk -v f="$c" 'NF == 3 { print $3, f }'
done | sort -k1,1 > "$tmp/defs"
for o in $objs; do
	c=$(basename "$o" .o)
	[ -e "$src/$c" ] || continue
	nm -u "$o" | awk -v f="$c" '{ print $NF, f }'
done | sort -k1,1 > "$tmp/uses"
join "$tmp/uses" "$tmp/defs" | awk '$2 != $3 { print "call", $2, "->", $3 }' |
	sort -u > "$tmp/call"

cat "$tmp/include" "$tmp/call"

# Modules: foo.c and foo.h are one node; edges inside a module vanish.
awk '{ a = $2; b = $4; sub(/\.[ch]$/, "", a); sub(/\.[ch]$/, "", b);
       if (a != b) print a, b }' "$tmp/include" "$tmp/call" | sort -u > "$tmp/mod"
awk '{ print "module", $1, "->", $2 }' "$tmp/mod"

# tsort wants "before after"; feed it "callee caller" so the output runs
# from the bottom layer up. It names the files of a loop on stderr.
if awk '{ print $2, $1 }' "$tmp/mod" | tsort > "$tmp/order" 2> "$tmp/loops"; then
	echo "layers (bottom first): $(tr '\n' ' ' < "$tmp/order")"
	echo "no cycle"
else
	echo "CYCLE:"
	sed 's/^tsort: /  /' "$tmp/loops"
	exit 1
fi
