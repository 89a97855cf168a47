#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian packages AsymCache needs to build, test and package.
# Idempotent: when everything is already installed it changes nothing.
set -euo pipefail

pkgs=(
	build-essential meson ninja-build pkg-config
	liburing-dev libprotobuf-c-dev protobuf-c-compiler
	libsystemd-dev libcriterion-dev libinih-dev libxxhash-dev libssl-dev
	libjson-c-dev libopenblas-dev libpcre2-dev
	dbus systemd procps valgrind python3 python3-pip libseccomp-dev
	dpkg-dev debhelper rpm fakeroot libdbus-1-dev
	clang libclang-rt-dev
)

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "bootstrap: all ${#pkgs[@]} packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "bootstrap: missing packages: ${missing[*]}" >&2
	echo "bootstrap: run as root (or: sudo $0) to install them" >&2
	exit 1
fi

echo "bootstrap: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
