#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine (run as root): the real go command and the
# Go team's test module proxy source (golang-go), nginx as the TLS front of the test upstream, iptables and
# iproute2 for the network-namespace end-to-end tests, the toolchain for the native addon, wrk for the
# fault-injection load and Chromium for the onboarding page's browser test.
# Runs apt-get as root: as root directly (a fresh machine or container often has no sudo), otherwise it runs
# itself again through sudo, so `npm run test:deps` is the same command for both.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then exec sudo -- bash "$0" "$@"; fi
  echo "install-test-deps.sh: needs root for apt-get, and sudo is not installed: run it as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  golang-go nginx-light iptables iproute2 openssl curl ca-certificates python3 make g++ procps systemd \
  unzip bsdutils wrk chromium >/dev/null
go version
