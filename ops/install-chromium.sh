#!/bin/sh
# Install the headless browser the report tests render with, from Debian's packages:
#   chromium -> chromium (run as `chromium --headless`)
# Idempotent: when chromium is already on PATH it prints nothing and exits 0.
# Needs root (or sudo) and apt-get; run it before the test suite (make test does).
# The checks and the installation are ops/apt-install.sh's.
set -eu
exec sh "$(dirname "$0")/apt-install.sh" install-chromium "chromium" "chromium fonts-dejavu-core"
