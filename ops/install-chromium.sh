#!/bin/sh
# Install the headless browser the report tests render with, from Debian's packages:
#   chromium -> chromium (run as `chromium --headless`)
# Idempotent: when chromium is already on PATH it prints nothing and exits 0.
# Needs root (or sudo) and apt-get; run it before the test suite (make test does).
set -eu

command -v chromium >/dev/null 2>&1 && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-chromium: chromium is missing and apt-get is not available; install Debian's chromium package (or put a chromium binary on PATH) and retry." >&2
    exit 1
fi

as_root=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        as_root="sudo"
    else
        echo "install-chromium: chromium is missing; run this script as root (or install sudo)." >&2
        exit 1
    fi
fi

echo "install-chromium: installing chromium" >&2
export DEBIAN_FRONTEND=noninteractive
$as_root apt-get update -qq
$as_root apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null

if ! command -v chromium >/dev/null 2>&1; then
    echo "install-chromium: chromium is still missing after apt-get install; check the apt output above." >&2
    exit 1
fi
