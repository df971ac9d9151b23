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

# listening_on PORT: true when a TCP socket listens on PORT (any address) in this network namespace. Reads
# /proc/net/tcp and tcp6 (state 0A = LISTEN) with bash alone, so it needs neither ss nor netstat.
listening_on() {
  local hex f _sl local_addr _rem st _rest
  printf -v hex '%04X' "$1"
  for f in /proc/net/tcp /proc/net/tcp6; do
    [[ -r $f ]] || continue
    while read -r _sl local_addr _rem st _rest; do
      [[ $st == 0A && ${local_addr##*:} == "$hex" ]] && return 0
    done <"$f"
  done
  return 1
}
