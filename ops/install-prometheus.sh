#!/bin/sh
# Install the Prometheus tools the ops tests need, from Debian's packages:
#   prometheus              -> prometheus, promtool
#   prometheus-alertmanager -> prometheus-alertmanager, amtool
# Idempotent: when every binary is already on PATH it prints nothing and exits 0.
# Needs root (or sudo) and apt-get; run it before the test suite (CI does).
set -eu

missing=""
for binary in prometheus promtool prometheus-alertmanager amtool; do
    command -v "$binary" >/dev/null 2>&1 || missing="$missing $binary"
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-prometheus: missing$missing and apt-get is not available; install Debian's prometheus and prometheus-alertmanager packages (or put the binaries on PATH) and retry." >&2
    exit 1
fi

as_root=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        as_root="sudo"
    else
        echo "install-prometheus: missing$missing; run this script as root (or install sudo)." >&2
        exit 1
    fi
fi

echo "install-prometheus: installing prometheus and prometheus-alertmanager (missing:$missing)" >&2
export DEBIAN_FRONTEND=noninteractive
$as_root apt-get update -qq
$as_root apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null

for binary in prometheus promtool prometheus-alertmanager amtool; do
    if ! command -v "$binary" >/dev/null 2>&1; then
        echo "install-prometheus: $binary is still missing after apt-get install; check the apt output above." >&2
        exit 1
    fi
done
