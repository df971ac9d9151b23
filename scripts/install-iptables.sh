#!/usr/bin/env bash
# Sends the LAN's HTTPS (443) and HTTP (80) connections to gomodgate with iptables/ip6tables REDIRECT.
# Owns exactly one chain per family, GOMODGATE in the nat table, and one jump to it at the top of PREROUTING
# (tagged with the comment "gomodgate"); uninstall-iptables.sh removes exactly these. Idempotent: the chain is
# replaced atomically (iptables-restore --noflush) and the jump added only when missing, so running it again,
# or with other arguments, converges to what the arguments say. Only PREROUTING: the gateway's own traffic
# (including gomodgate's upstream fetches) never passes it, and connections addressed to the gateway itself
# are left alone, except http://<gateway>/ (port 80), which shows gomodgate's onboarding page (the CA and how to
# trust it) unless --no-onboarding. Never touches any other chain, rule or table.
set -euo pipefail

PROG=install-iptables.sh
SCRIPT_DIR=${BASH_SOURCE[0]%/*}
[[ $SCRIPT_DIR == "${BASH_SOURCE[0]}" ]] && SCRIPT_DIR=. # invoked by name from scripts/ (no external dirname: PATH may be empty)
. "$SCRIPT_DIR/lib/common.sh"

usage() {
  cat <<EOF
Usage: $PROG [--lan-if IF]... [--lan-cidr CIDR]... [options]

Redirects TCP connections arriving from the LAN for port 443 to gomodgate's TLS port and for port 80 to its
HTTP port (iptables for IPv4, ip6tables for IPv6), in the nat chain $CHAIN jumped to from PREROUTING.
A connection is redirected when it arrives on one of the --lan-if interfaces OR comes from one of the
--lan-cidr ranges. Connections addressed to the gateway itself are not redirected, except port 80:
http://<gateway>/ then shows gomodgate's onboarding page (its CA and how to trust it); --no-onboarding leaves
the gateway's own port 80 alone. Run it again at any time: the rules are replaced to match the new arguments.
Remove everything with uninstall-iptables.sh.

LAN selection (at least one):
  --lan-if IF        LAN-side interface (repeatable; iptables wildcards such as eth+ allowed). IPv4 and IPv6.
  --lan-cidr CIDR    LAN source range (repeatable), e.g. 10.0.0.0/8 (iptables) or fd00::/8 (ip6tables).

Options:
  --tls-port PORT    gomodgate's transparent TLS port, target for port 443 (default 8443)
  --http-port PORT   gomodgate's transparent HTTP port, target for port 80 (default 8080; 0 = leave port 80 alone)
  --no-onboarding    do not redirect port 80 addressed to the gateway itself (e.g. a web server runs there)
  --no-ipv6          IPv4 only: do not run ip6tables at all
  --dry-run          print the commands instead of running them (needs neither root nor iptables)
  -h, --help         show this help

A family (IPv4 or IPv6) without any selector (no --lan-if and no --lan-cidr of that family) gets no rules:
gomodgate's chain of that family is removed if an earlier run created it.

The rules do not survive a reboot by themselves: save them with your distribution's tool (Debian:
apt-get install iptables-persistent && netfilter-persistent save), or run this script at boot.

Examples:
  $PROG --lan-if eth1
  $PROG --lan-cidr 10.20.0.0/16 --lan-cidr fd00:20::/64 --tls-port 8443 --http-port 8080
  $PROG --lan-if eth1 --dry-run
EOF
}

valid_port() {
  [[ $1 =~ ^[0-9]{1,5}$ ]] && ((10#$1 >= 1 && 10#$1 <= 65535))
}

valid_ifname() {
  # Linux interface names: at most 15 bytes, no '/', ':' or whitespace; a trailing '+' is iptables' wildcard.
  [[ $1 =~ ^[A-Za-z0-9_.@-]{1,15}$ || $1 =~ ^[A-Za-z0-9_.@-]{0,14}\+$ ]]
}

valid_ipv4_cidr() {
  local re='^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})(/([0-9]{1,2}))?$'
  [[ $1 =~ $re ]] || return 1
  local i
  for i in 1 2 3 4; do ((10#${BASH_REMATCH[$i]} <= 255)) || return 1; done
  [[ -z ${BASH_REMATCH[6]} ]] || ((10#${BASH_REMATCH[6]} <= 32))
}

valid_ipv6_cidr() {
  local addr=${1%%/*} bits=
  [[ $1 == */* ]] && bits=${1#*/}
  if [[ -n $bits || $1 == */ ]]; then
    [[ $bits =~ ^[0-9]{1,3}$ ]] && ((10#$bits <= 128)) || return 1
  fi
  [[ $addr == *:* && $addr =~ ^[0-9A-Fa-f:.]+$ ]] || return 1
  # at most one "::", at most 8 groups of 1-4 hex digits (the last may be a dotted IPv4 address)
  local rest=${addr//::/}
  ((${#addr} - ${#rest} <= 2)) || return 1
  [[ $addr != *:::* ]] || return 1
  local groups group n=0 last i
  IFS=: read -ra groups <<<"$addr"
  last=$((${#groups[@]} - 1))
  for i in "${!groups[@]}"; do
    group=${groups[$i]}
    [[ -z $group ]] && continue
    if ((i == last)) && [[ $group == *.* ]]; then
      valid_ipv4_cidr "$group" || return 1
      n=$((n + 2))
      continue
    fi
    [[ $group =~ ^[0-9A-Fa-f]{1,4}$ ]] || return 1
    n=$((n + 1))
  done
  ((n <= 8)) || return 1
  [[ $addr == *::* ]] || ((n == 8)) || return 1
}

lan_ifs=()
cidrs4=()
cidrs6=()
tls_port=8443
http_port=8080
ipv6=1
dry_run=0
onboarding=1

need_value() {
  [[ $# -ge 2 && -n $2 && $2 != --* ]] || usage_error "$1 needs a value"
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --lan-if)
      need_value "$@"
      valid_ifname "$2" || usage_error "--lan-if: not an interface name: \"$2\" (at most 15 characters, e.g. eth1 or vlan+)"
      lan_ifs+=("$2")
      shift 2
      ;;
    --lan-cidr)
      need_value "$@"
      if valid_ipv4_cidr "$2"; then
        cidrs4+=("$2")
      elif valid_ipv6_cidr "$2"; then
        cidrs6+=("$2")
      else
        usage_error "--lan-cidr: not an IPv4 or IPv6 address range: \"$2\" (e.g. 10.0.0.0/8 or fd00::/8)"
      fi
      shift 2
      ;;
    --tls-port)
      need_value "$@"
      valid_port "$2" || usage_error "--tls-port must be a port number 1-65535 (got \"$2\")"
      tls_port=$((10#$2))
      shift 2
      ;;
    --http-port)
      need_value "$@"
      [[ $2 == 0 ]] || valid_port "$2" || usage_error "--http-port must be a port number 1-65535, or 0 to leave port 80 alone (got \"$2\")"
      http_port=$((10#$2))
      shift 2
      ;;
    --no-ipv6) ipv6=0; shift ;;
    --no-onboarding) onboarding=0; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument \"$1\"" ;;
  esac
done

if [[ ${#lan_ifs[@]} -eq 0 && ${#cidrs4[@]} -eq 0 && ${#cidrs6[@]} -eq 0 ]]; then
  usage_error "say which traffic comes from the LAN: at least one --lan-if or --lan-cidr"
fi
if ((ipv6 == 0 && ${#cidrs6[@]} > 0)); then
  usage_error "--no-ipv6 contradicts the IPv6 --lan-cidr ${cidrs6[*]}"
fi
if ((tls_port == http_port)); then
  usage_error "--tls-port and --http-port must differ (both $tls_port)"
fi

families=(4)
((ipv6)) && families+=(6)

tool() { # tool FAMILY NAME → iptables / ip6tables / iptables-restore / ip6tables-restore
  if [[ $1 == 4 ]]; then echo "ip$2"; else echo "ip6$2"; fi
}

if ((!dry_run)); then
  [[ $EUID -eq 0 ]] || die "must run as root (changes the nat table); use --dry-run to see the commands"
  for family in "${families[@]}"; do
    for name in tables tables-restore; do
      t=$(tool "$family" "$name")
      if ! command -v "$t" >/dev/null 2>&1; then
        if [[ $family == 6 ]]; then die "$t not found: install the iptables package (apt-get install iptables), or pass --no-ipv6"; fi
        die "$t not found: install the iptables package (apt-get install iptables)"
      fi
    done
    t=$(tool "$family" tables)
    "$t" "${WAIT[@]}" -t nat -S PREROUTING >/dev/null 2>&1 ||
      die "$t cannot read the nat table (is the kernel's nat support, iptable_nat / ip6table_nat or nf_tables, available?)"
  done
  for i in "${lan_ifs[@]}"; do
    if [[ $i != *+ && ! -e /sys/class/net/$i ]]; then
      echo "$PROG: warning: interface $i does not exist (yet); its rules will apply once it does" >&2
    fi
  done
fi

# --- the commands, as a shell script: printed by --dry-run, run by bash otherwise --------------------------

family_script() { # family_script FAMILY CIDR...
  local family=$1
  shift
  local ipt restore sel
  ipt="$(tool "$family" tables) ${WAIT[*]}"
  restore="$(tool "$family" tables-restore) ${WAIT[*]}"
  local selectors=()
  for sel in "${lan_ifs[@]}"; do selectors+=("-i $sel"); done
  for sel in "$@"; do selectors+=("-s $sel"); done
  echo "# IPv$family"
  if [[ ${#selectors[@]} -eq 0 ]]; then
    echo "# no IPv$family selector: remove gomodgate's IPv$family rules, if any"
    removal_script "$family"
    return
  fi
  echo "$restore --noflush <<'RULES'"
  echo "*nat"
  echo ":$CHAIN - [0:0]"
  if ((http_port != 0 && onboarding)); then
    # port 80 first, whatever the destination: http://<gateway>/ reaches the onboarding page too
    for sel in "${selectors[@]}"; do
      echo "-A $CHAIN $sel -p tcp -m tcp --dport 80 -j REDIRECT --to-ports $http_port"
    done
  fi
  echo "-A $CHAIN -m addrtype --dst-type LOCAL -j RETURN"
  for sel in "${selectors[@]}"; do
    echo "-A $CHAIN $sel -p tcp -m tcp --dport 443 -j REDIRECT --to-ports $tls_port"
    if ((http_port != 0 && !onboarding)); then
      echo "-A $CHAIN $sel -p tcp -m tcp --dport 80 -j REDIRECT --to-ports $http_port"
    fi
  done
  echo "COMMIT"
  echo "RULES"
  echo "${ipt} -t nat -C PREROUTING $JUMP_ARGS 2>/dev/null || ${ipt} -t nat -I PREROUTING 1 $JUMP_ARGS"
}

removal_script() { # the same commands as uninstall-iptables.sh
  chain_removal_commands "$(tool "$1" tables) ${WAIT[*]}"
}

build_script() {
  echo "set -euo pipefail"
  family_script 4 "${cidrs4[@]}"
  if ((ipv6)); then family_script 6 "${cidrs6[@]}"; fi
}

script=$(build_script)
if ((dry_run)); then
  echo "# $PROG --dry-run: these commands would run (as root)"
  echo "$script"
  exit 0
fi
bash -c "$script" || die "failed; the message above comes from iptables. Nothing outside the $CHAIN chain and its PREROUTING jump was touched."
for family in "${families[@]}"; do
  t=$(tool "$family" tables)
  if "$t" "${WAIT[@]}" -t nat -S "$CHAIN" >/dev/null 2>&1; then
    n=$("$t" "${WAIT[@]}" -t nat -S "$CHAIN" | grep -c -- '-j REDIRECT' || true)
    echo "IPv$family: $n REDIRECT rule(s) in nat/$CHAIN (port 443 → $tls_port$( ((http_port)) && echo ", port 80 → $http_port"))"
  fi
done
