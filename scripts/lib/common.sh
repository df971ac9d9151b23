# Sourced by the scripts in scripts/ (set PROG first): their one-line error exits, and the names of what the
# iptables scripts own (one nat chain per family and its tagged jump from PREROUTING) with the commands that
# remove them, so install-iptables.sh (when a family loses its selectors) and uninstall-iptables.sh remove
# exactly the same things.

CHAIN=GOMODGATE
JUMP_COMMENT=gomodgate
WAIT=(-w 10)
JUMP_ARGS="-p tcp -m comment --comment $JUMP_COMMENT -j $CHAIN"

die() {
  echo "$PROG: $*" >&2
  exit 1
}

usage_error() {
  echo "$PROG: $*" >&2
  echo "Run \`$PROG --help\` for usage." >&2
  exit 2
}

# Prints the shell commands that remove our jump(s) and chain for one tool ("iptables -w 10" or "ip6tables -w 10").
chain_removal_commands() {
  local ipt=$1
  echo "for _ in \$(seq 1 50); do ${ipt} -t nat -D PREROUTING $JUMP_ARGS 2>/dev/null || break; done"
  echo "if ${ipt} -t nat -S $CHAIN >/dev/null 2>&1; then ${ipt} -t nat -F $CHAIN && ${ipt} -t nat -X $CHAIN; fi"
}

# proc_address HEX: a local address of /proc/net/tcp (8 hex digits) or tcp6 (32: four 32-bit words, each in host
# byte order, little-endian here) as text: 127.0.0.1, ::1, fd00:1::2 (the longest run of zero groups as "::").
proc_address() {
  local h=$1 i w bytes= text n run
  if ((${#h} == 8)); then
    printf '%d.%d.%d.%d\n' "0x${h:6:2}" "0x${h:4:2}" "0x${h:2:2}" "0x${h:0:2}"
    return 0
  fi
  for i in 0 8 16 24; do
    w=${h:i:8}
    bytes+=${w:6:2}${w:4:2}${w:2:2}${w:0:2}
  done
  text=
  for i in 0 4 8 12 16 20 24 28; do text+=$(printf ':%x' "0x${bytes:i:4}"); done
  text+=:
  for ((n = 8; n >= 2; n--)); do
    printf -v run '%*s' "$n" ''
    run=${run// /:0}:
    if [[ $text == *"$run"* ]]; then
      text=${text/"$run"/::}
      break
    fi
  done
  [[ $text == ::* ]] || text=${text#:}
  [[ $text == *:: ]] || text=${text%:}
  echo "$text"
}

# listening_addresses PORT: the local addresses of the TCP sockets listening on PORT in this network namespace,
# one a line (0.0.0.0 and :: for "every address"). Reads /proc/net/tcp and tcp6 (state 0A = LISTEN) with bash
# alone, so it needs neither ss nor netstat.
listening_addresses() {
  local hex f _sl local_addr _rem st _rest
  printf -v hex '%04X' "$1"
  for f in /proc/net/tcp /proc/net/tcp6; do
    [[ -r $f ]] || continue
    while read -r _sl local_addr _rem st _rest; do
      if [[ $st == 0A && ${local_addr##*:} == "$hex" ]]; then proc_address "${local_addr%:*}"; fi
    done <"$f"
  done
  return 0
}

# listening_on PORT: true when a TCP socket listens on PORT (any address) in this network namespace.
listening_on() {
  [[ -n $(listening_addresses "$1") ]]
}
