#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine (run as root): the real go command and the
# Go team's test module proxy source (golang-go), nginx as the TLS front of the test upstream, iptables and
# iproute2 for the network-namespace end-to-end tests, the toolchain for the native addon, wrk for the
# fault-injection load and Chromium for the onboarding page's browser test.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then echo "install-test-deps.sh: run as root (apt-get)" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  golang-go nginx-light iptables iproute2 openssl curl ca-certificates python3 make g++ procps systemd \
  unzip bsdutils wrk chromium >/dev/null
go version
