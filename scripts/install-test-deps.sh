#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine (run as root): the real go command and the
# Go team's test module proxy source (golang-go), nginx as the TLS front of the test upstream, iptables and
# iproute2 for the network-namespace end-to-end tests, the toolchain for the native addon, wrk for the
# fault-injection load and Chromium for the onboarding page's browser test.
# Runs apt-get as root: as root directly (a fresh machine or container often has no sudo), otherwise it runs
# itself again through sudo, so `npm run test:deps` is the same command for both. --help and --dry-run
# change nothing and need neither root nor apt-get.
set -euo pipefail

PROG=install-test-deps.sh
SCRIPT_DIR=${BASH_SOURCE[0]%/*}
[[ $SCRIPT_DIR == "${BASH_SOURCE[0]}" ]] && SCRIPT_DIR=.
. "$SCRIPT_DIR/lib/common.sh"

PACKAGES=(golang-go nginx-light iptables iproute2 openssl curl ca-certificates python3 make g++ procps systemd
  unzip bsdutils wrk chromium)

usage() {
  cat <<USAGE
Usage: $PROG [--dry-run]

Installs the Debian packages the test suite needs (npm run test:deps), with apt-get as root (through sudo when
not root): ${PACKAGES[*]}.

Options:
  --dry-run   print the commands instead of running them (needs neither root nor apt-get)
  -h, --help  show this help
USAGE
}

dry_run=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument \"$1\"" ;;
  esac
done

commands=(
  "apt-get update -qq"
  "apt-get install -y -qq --no-install-recommends ${PACKAGES[*]} >/dev/null"
  "go version"
)
if ((dry_run)); then
  echo "# $PROG --dry-run: these commands would run (as root)"
  printf '%s\n' "${commands[@]}"
  exit 0
fi

if [[ $EUID -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then exec sudo -- bash "$0" "$@"; fi
  die "needs root for apt-get, and sudo is not installed: run it as root"
fi
export DEBIAN_FRONTEND=noninteractive
for c in "${commands[@]}"; do bash -c "$c"; done
