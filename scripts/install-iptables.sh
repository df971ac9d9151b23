#!/usr/bin/env bash
# Sends the LAN's HTTPS (443) and HTTP (80) connections to gomodgate with iptables/ip6tables REDIRECT.
# Owns exactly one chain per family, GOMODGATE in the nat table, and one jump to it at the top of PREROUTING
# (tagged with the comment "gomodgate"); uninstall-iptables.sh removes exactly these. Idempotent: the chain is
# replaced atomically (iptables-restore --noflush) and the jump added only when missing, so running it again,
# or with other arguments, converges to what the arguments say. Only PREROUTING: the gateway's own traffic
# (including gomodgate's upstream fetches) never passes it, and connections addressed to the gateway itself
# are left alone, except http://<gateway>/ (port 80), which shows gomodgate's onboarding page (the CA and how to
# trust it) unless --no-onboarding. Never touches any other chain, rule or table.
# Each family is independent: a run that gives no selector of a family (e.g. only an IPv6 --lan-cidr) leaves
# that family's rules as they are. It refuses (unless --force) when nothing listens on the TLS port, since the
# rules would then send every LAN HTTPS connection to a closed port, and when the TLS or HTTP port listens only
# where a redirected connection never arrives (loopback, --listen 127.0.0.1). --fail-open instead installs a systemd
# drop-in whose ExecStartPost/ExecStopPost add the rules when gomodgate has started and remove them when it
# stops, so that LAN traffic goes straight to its destination whenever the gateway is down.
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
  --fail-open        rules only while gomodgate runs: writes the drop-in
                     SYSTEMD_DIR/gomodgate.service.d/50-redirect-fail-open.conf, whose ExecStartPost= runs this
                     script (with the same arguments) once gomodgate is ready and whose ExecStopPost= runs
                     uninstall-iptables.sh when it stops or crashes; adds the rules now only if gomodgate listens
  --systemd-dir DIR  where the unit's drop-in directory is (default /etc/systemd/system; with --fail-open)
  --force            add the rules even though nothing listens on the TLS port (LAN HTTPS then fails until
                     gomodgate runs), or it listens only on loopback (--listen 127.0.0.1: LAN HTTPS fails)
  --tls-port PORT    gomodgate's transparent TLS port, target for port 443 (default 8443)
  --http-port PORT   gomodgate's transparent HTTP port, target for port 80 (default 8080; 0 = leave port 80 alone)
  --no-onboarding    do not redirect port 80 addressed to the gateway itself (e.g. a web server runs there)
  --no-ipv6          IPv4 only: do not run ip6tables at all
  --dry-run          print the commands instead of running them (needs neither root nor iptables)
  -h, --help         show this help

Each family is independent. A family (IPv4 or IPv6) without any selector (no --lan-if and no --lan-cidr of
that family) is left exactly as it is: an earlier run's rules of that family stay. Remove one family's rules with
uninstall-iptables.sh --family 4 (or 6).

Without --fail-open the rules stay when gomodgate stops: while it restarts or is down, LAN connections to port
443 (and 80) are refused (fail closed); nothing reaches the internet around the gateway. With --fail-open they
go straight to their destination instead (the gateway must forward and NAT them like any other traffic), and
clients simply get no caching until gomodgate is back.

The rules do not survive a reboot by themselves: save them with your distribution's tool (Debian:
apt-get install iptables-persistent && netfilter-persistent save), or run this script at boot.

Examples:
  $PROG --lan-if eth1
  $PROG --lan-cidr 10.20.0.0/16 --lan-cidr fd00:20::/64 --tls-port 8443 --http-port 8080
  $PROG --lan-if eth1 --fail-open
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
force=0
fail_open=0
from_unit=0
systemd_dir=/etc/systemd/system

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
    --systemd-dir)
      need_value "$@"
      [[ $2 == /* ]] || usage_error "--systemd-dir must be an absolute path (got \"$2\")"
      systemd_dir=${2%/}
      shift 2
      ;;
    --no-ipv6) ipv6=0; shift ;;
    --no-onboarding) onboarding=0; shift ;;
    --force) force=1; shift ;;
    --fail-open) fail_open=1; shift ;;
    --from-unit) from_unit=1; shift ;; # set by the --fail-open drop-in's ExecStartPost=
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
if ((fail_open && from_unit)); then
  usage_error "--fail-open and --from-unit exclude each other (--from-unit is what the drop-in runs)"
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

# --- listening where a redirected connection cannot arrive: every LAN connection would be refused -----------
# REDIRECT delivers a connection to the address of the interface it arrived on (IPv4: that interface's primary
# address), so a listener on every address (0.0.0.0, ::) gets it, one on loopback never does, and one on another
# address only when that address is the LAN interface's. Which interface the LAN uses is known only for
# --lan-if names without a wildcard and without --lan-cidr; otherwise any address but loopback is accepted.
lan_addresses=()
lan_addresses_known=0
if ((!dry_run && ${#cidrs4[@]} + ${#cidrs6[@]} == 0)) && command -v ip >/dev/null 2>&1; then
  lan_addresses_known=1
  for i in "${lan_ifs[@]}"; do
    if [[ $i == *+ || ! -e /sys/class/net/$i ]]; then
      lan_addresses_known=0
      break
    fi
    while read -r _ _ inet addr rest; do
      [[ $inet == inet && $rest == *secondary* ]] && continue # REDIRECT uses the primary IPv4 address
      lan_addresses+=("${addr%/*}")
    done < <(ip -o addr show dev "$i" 2>/dev/null)
  done
fi

reachable_from_lan() { # reachable_from_lan ADDRESS
  local a
  case $1 in
    0.0.0.0 | ::) return 0 ;;
    127.* | ::1 | ::ffff:7f*) return 1 ;;
  esac
  ((lan_addresses_known)) || return 0
  for a in "${lan_addresses[@]}"; do [[ $a == "$1" ]] && return 0; done
  return 1
}

# unreachable_listener PORT: prints where PORT listens (e.g. "127.0.0.1 and ::1") when it does, but only at
# addresses a redirected LAN connection cannot reach; false when nothing listens or one address is reachable.
unreachable_listener() {
  local a at=()
  while read -r a; do
    reachable_from_lan "$a" && return 1
    [[ " ${at[*]} " == *" $a "* ]] || at+=("$a") # once, though several workers listen there
  done < <(listening_addresses "$1")
  ((${#at[@]})) || return 1
  local IFS=,
  local list="${at[*]}"
  echo "${list//,/ and }"
}

if ((!dry_run && !force)); then
  for port_flag in "$tls_port --tls-port" "$http_port --http-port"; do
    port=${port_flag% *}
    ((port != 0)) || continue
    if at=$(unreachable_listener "$port"); then
      if ((lan_addresses_known)); then where="the address of ${lan_ifs[*]}, the interface they arrive on"; else where="the address of the interface they arrive on"; fi
      die "gomodgate listens on port $port (${port_flag#* }) only at $at: redirected LAN connections go to $where, so every one would be refused. Restart gomodgate listening on every address (--listen ::, or listen: \"::\" in the config file: the default), or use --force"
    fi
  done
fi

# --- fail open: the drop-in that adds the rules while the service runs and removes them when it stops -------
dropin_dir=$systemd_dir/gomodgate.service.d
dropin=$dropin_dir/50-redirect-fail-open.conf
hook_args=()
for sel in "${lan_ifs[@]}"; do hook_args+=(--lan-if "$sel"); done
for sel in "${cidrs4[@]}" "${cidrs6[@]}"; do hook_args+=(--lan-cidr "$sel"); done
hook_args+=(--tls-port "$tls_port" --http-port "$http_port")
((onboarding)) || hook_args+=(--no-onboarding)
((ipv6)) || hook_args+=(--no-ipv6)

render_dropin() {
  local here
  here=$(cd "$SCRIPT_DIR" && pwd)
  [[ $here =~ ^/[A-Za-z0-9._/+-]+$ ]] ||
    die "the path of this script, $here, has characters systemd's ExecStartPost= would misread; run it from the installed checkout (e.g. /opt/gomodgate)"
  cat <<EOF
# Written by $PROG --fail-open: gomodgate's REDIRECT rules exist only while gomodgate runs.
# ExecStartPost= runs once gomodgate is ready (Type=notify), ExecStopPost= whenever it stops, fails or crashes
# (also between the stop and the start of a restart). "+" runs them as root outside the sandbox, "-" keeps a
# failure from failing the service: without the rules the gateway is simply bypassed (fail open).
# Remove this file (and systemctl daemon-reload) to keep the rules whether or not gomodgate runs.
[Service]
ExecStartPost=-+$here/install-iptables.sh --from-unit ${hook_args[*]}
ExecStopPost=-+$here/uninstall-iptables.sh$( ((ipv6)) || echo ' --no-ipv6')
EOF
}

if ((fail_open)); then
  content=$(render_dropin)
  if ((dry_run)); then
    echo "# $PROG --dry-run: would write $dropin:"
    echo "$content" | sed 's/^/#   /'
  else
    mkdir -p "$dropin_dir"
    if [[ -f $dropin ]] && [[ $(<"$dropin") == "$content" ]]; then
      echo "fail-open: $dropin is up to date"
    else
      printf '%s\n' "$content" >"$dropin.tmp" && mv -f "$dropin.tmp" "$dropin"
      echo "fail-open: wrote $dropin (REDIRECT rules only while gomodgate runs)"
      if [[ $systemd_dir == /etc/systemd/system && -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
        systemctl daemon-reload || die "systemctl daemon-reload failed; run it yourself"
      fi
    fi
    if ! listening_on "$tls_port"; then
      echo "fail-open: gomodgate does not listen on port $tls_port now: no rules added; they are added when it starts (systemctl enable --now gomodgate)"
      exit 0
    fi
  fi
elif ((!from_unit && !dry_run)) && [[ -f $dropin ]]; then
  echo "$PROG: warning: $dropin exists: gomodgate's ExecStartPost=/ExecStopPost= add and remove the rules with the arguments written there; remove it (and systemctl daemon-reload) to keep these rules when gomodgate stops" >&2
fi

# --- nothing listening: the rules would turn every LAN HTTPS connection into "connection refused" ------------
if ((!dry_run && !force && !fail_open)) && ! listening_on "$tls_port"; then
  die "nothing listens on port $tls_port (--tls-port) here: the rules would send every LAN HTTPS connection to a closed port. Start gomodgate first (systemctl enable --now gomodgate), or use --fail-open (rules only while it runs), or --force"
fi
if ((!dry_run && http_port != 0)) && ! listening_on "$http_port"; then
  echo "$PROG: warning: nothing listens on port $http_port (--http-port) here: LAN port-80 connections will be refused until gomodgate runs" >&2
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
    echo "# no IPv$family selector: gomodgate's IPv$family rules, if any, stay as they are"
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
  if [[ $family == 4 ]]; then given=${#cidrs4[@]}; else given=${#cidrs6[@]}; fi
  given=$((given + ${#lan_ifs[@]}))
  if "$t" "${WAIT[@]}" -t nat -S "$CHAIN" >/dev/null 2>&1; then
    n=$("$t" "${WAIT[@]}" -t nat -S "$CHAIN" | grep -c -- '-j REDIRECT' || true)
    if ((given)); then
      echo "IPv$family: $n REDIRECT rule(s) in nat/$CHAIN (port 443 → $tls_port$( ((http_port)) && echo ", port 80 → $http_port"))"
    else
      echo "IPv$family: no IPv$family selector given: left as it was ($n REDIRECT rule(s) from an earlier run; uninstall-iptables.sh --family $family removes them)"
    fi
  fi
done
