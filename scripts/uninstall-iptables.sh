#!/usr/bin/env bash
# Removes what install-iptables.sh added, and nothing else: the jump to GOMODGATE at PREROUTING (the rule
# tagged with the comment "gomodgate") and the GOMODGATE chain of the nat table, for IPv4 and IPv6.
# Idempotent: with nothing installed it changes nothing and succeeds. Never touches another chain or rule.
set -euo pipefail

PROG=uninstall-iptables.sh
SCRIPT_DIR=${BASH_SOURCE[0]%/*}
[[ $SCRIPT_DIR == "${BASH_SOURCE[0]}" ]] && SCRIPT_DIR=. # invoked by name from scripts/ (no external dirname: PATH may be empty)
. "$SCRIPT_DIR/lib/common.sh"

usage() {
  cat <<EOF2
Usage: $PROG [options]

Removes gomodgate's REDIRECT rules: the nat chain $CHAIN and its jump from PREROUTING, for iptables (IPv4) and
ip6tables (IPv6). Other rules are left exactly as they are. Safe to run when nothing is installed.

Options:
  --family 4|6  remove only the IPv4 (iptables) or only the IPv6 (ip6tables) rules
  --no-ipv6     IPv4 only: do not run ip6tables at all (the same as --family 4)
  --dry-run     print the commands instead of running them (needs neither root nor iptables)
  -h, --help    show this help
EOF2
}

ipv4=1
ipv6=1
dry_run=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --family)
      [[ $# -ge 2 && ($2 == 4 || $2 == 6) ]] || usage_error "--family needs 4 or 6"
      if [[ $2 == 4 ]]; then ipv6=0; else ipv4=0; fi
      shift 2
      ;;
    --no-ipv6) ipv6=0; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument \"$1\"" ;;
  esac
done

((ipv4 || ipv6)) || usage_error "--family 6 and --no-ipv6 leave nothing to remove"
tools=()
((ipv4)) && tools+=(iptables)
((ipv6)) && tools+=(ip6tables)

if ((!dry_run)); then
  [[ $EUID -eq 0 ]] || die "must run as root (changes the nat table); use --dry-run to see the commands"
  for t in "${tools[@]}"; do
    if ! command -v "$t" >/dev/null 2>&1; then
      if [[ $t == ip6tables ]]; then die "$t not found: install the iptables package (apt-get install iptables), or pass --no-ipv6"; fi
      die "$t not found: install the iptables package (apt-get install iptables)"
    fi
  done
fi

build_script() {
  echo "set -euo pipefail"
  local t
  for t in "${tools[@]}"; do
    echo "# $t"
    chain_removal_commands "$t ${WAIT[*]}"
  done
}

script=$(build_script)
if ((dry_run)); then
  echo "# $PROG --dry-run: these commands would run (as root)"
  echo "$script"
  exit 0
fi
# Each family on its own: a chain that IPv4 cannot remove does not keep the IPv6 one (nor the reverse).
failed=0
for t in "${tools[@]}"; do
  if ! bash -c "set -euo pipefail; $(chain_removal_commands "$t ${WAIT[*]}")"; then
    failed=1
    # what still jumps to the chain once our own tagged jump is gone: rules someone else added
    refs=$("$t" "${WAIT[@]}" -t nat -S 2>/dev/null | grep -E -- "-[jg] $CHAIN( |\$)" | grep -v -F -- "--comment $JUMP_COMMENT -j $CHAIN" || true)
    if [[ -n $refs ]]; then
      echo "$PROG: $t: the $CHAIN chain is still used by rules that install-iptables.sh did not add:" >&2
      echo "$refs" >&2
    fi
  fi
done
if ((failed)); then
  die "failed; remove the rules above by hand (iptables -t nat -D ...) and run it again"
fi
for t in "${tools[@]}"; do
  if "$t" "${WAIT[@]}" -t nat -S "$CHAIN" >/dev/null 2>&1; then die "$t: the $CHAIN chain is still there"; fi
done
echo "removed gomodgate's REDIRECT rules ($(IFS=/; echo "${tools[*]}"))"
