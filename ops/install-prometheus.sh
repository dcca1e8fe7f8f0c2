#!/bin/sh
# Install the Prometheus tools the ops tests need, from Debian's packages:
#   prometheus              -> prometheus, promtool
#   prometheus-alertmanager -> prometheus-alertmanager, amtool
# Idempotent: when every binary is already on PATH it prints nothing and exits 0.
# Needs root (or sudo) and apt-get; run it before the test suite (CI does).
# The checks and the installation are ops/apt-install.sh's.
set -eu
exec sh "$(dirname "$0")/apt-install.sh" install-prometheus \
    "prometheus promtool prometheus-alertmanager amtool" "prometheus prometheus-alertmanager"
