#!/bin/sh
# The one body of the ops/install-*.sh scripts: install Debian packages when any of the
# binaries they provide is missing from PATH.
#   sh ops/apt-install.sh NAME "BINARY ..." "PACKAGE ..."
# NAME prefixes every message (the calling script's name). Idempotent: when every binary
# is already on PATH it prints nothing and exits 0. Needs root (or sudo) and apt-get.
set -eu

name=$1
binaries=$2
packages=$3

missing=""
for binary in $binaries; do
    command -v "$binary" >/dev/null 2>&1 || missing="$missing $binary"
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "$name: missing$missing and apt-get is not available; install Debian's packages ($packages) (or put the binaries on PATH) and retry." >&2
    exit 1
fi

as_root=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        as_root="sudo"
    else
        echo "$name: missing$missing; run this script as root (or install sudo)." >&2
        exit 1
    fi
fi

echo "$name: installing $packages (missing:$missing)" >&2
export DEBIAN_FRONTEND=noninteractive
$as_root apt-get update -qq
# shellcheck disable=SC2086 # the package list is split into words on purpose
$as_root apt-get install -y -qq --no-install-recommends $packages >/dev/null

for binary in $binaries; do
    if ! command -v "$binary" >/dev/null 2>&1; then
        echo "$name: $binary is still missing after apt-get install; check the apt output above." >&2
        exit 1
    fi
done
