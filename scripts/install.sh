#!/usr/bin/env bash
# Installs gomodgate as a systemd service on this machine: the system user `gomodgate`, /etc/gomodgate with the
# example config (an existing config is never overwritten), /var/lib/gomodgate (cache and CA), the unit in
# /etc/systemd/system (ExecStart pointing at this node and the checkout given by --prefix), and the CA, created
# as the gomodgate user. Idempotent. It never starts or enables the service and never touches iptables: it
# prints those next steps instead. The code itself is not copied: --prefix names a built checkout (`npm ci`).
set -euo pipefail

PROG=install.sh
SCRIPT_DIR=${BASH_SOURCE[0]%/*}
[[ $SCRIPT_DIR == "${BASH_SOURCE[0]}" ]] && SCRIPT_DIR=. # invoked by name from scripts/ (no external dirname: PATH may be empty)
. "$SCRIPT_DIR/lib/common.sh"
SERVICE_USER=gomodgate
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLEAN_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

usage() {
  cat <<EOF
Usage: $PROG [--prefix DIR] [--dry-run] [--root DIR]

Installs gomodgate as the systemd service gomodgate.service:
  - the system user and group $SERVICE_USER (no login, home /var/lib/gomodgate)
  - /etc/gomodgate/gomodgate.yaml, the commented example config (kept as it is when it already exists)
  - /var/lib/gomodgate: the cache (data/) and the gateway CA (certs/), owned by $SERVICE_USER
  - /etc/systemd/system/gomodgate.service, running \`node DIR/bin/gomodgate.js serve\` sandboxed
  - the CA, created by \`gomodgate ca init\` as $SERVICE_USER (an existing CA is kept)
Safe to run again (e.g. after moving the checkout). It does not enable or start the service and does not
change iptables; it prints those steps.

Options:
  --prefix DIR   the built gomodgate checkout the service runs (default: $SRC, the checkout this script is
                 in). Run \`npm ci\` there first. Recommended: /opt/gomodgate. Not under /home, /root or /tmp:
                 the service cannot see those (ProtectHome=, PrivateTmp=).
  --dry-run      print what would be done; change nothing (needs no root). Works from any checkout (also
                 one under /tmp or /home, or not built yet): what a real run would refuse is a warning
  --root DIR     install into DIR as if it were / (for packaging and tests): no user is created, nothing is
                 chowned, systemctl is not called, and the CA is created as the invoking user
  -h, --help     show this help
EOF
}

prefix=$SRC
root=
dry_run=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --prefix | --root)
      [[ $# -ge 2 && -n $2 && $2 != --* ]] || usage_error "$1 needs a directory"
      if [[ $1 == --prefix ]]; then prefix=$2; else root=$2; fi
      shift 2
      ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage_error "unknown argument \"$1\"" ;;
  esac
done

# --- checks (read-only) -------------------------------------------------------------------------------------
warnings=0
# refuse MESSAGE / refuse_usage MESSAGE: what a real run refuses; --dry-run only warns and goes on previewing
refuse() {
  if ((dry_run)); then
    echo "# warning: a real run would refuse: $*" >&2
    warnings=$((warnings + 1))
  else
    die "$@"
  fi
}
refuse_usage() {
  if ((dry_run)); then refuse "$@"; else usage_error "$@"; fi
}
[[ $prefix == /* ]] || usage_error "--prefix must be an absolute path (got \"$prefix\")"
prefix=${prefix%/}
# systemd's ExecStart= splits on spaces and expands % and $: keep the path plain.
[[ $prefix =~ ^/[A-Za-z0-9._/+-]+$ ]] || refuse_usage "--prefix may contain only letters, digits and ._/+- (got \"$prefix\")"
case "$prefix/" in
  /home/* | /root/* | /run/user/* | /tmp/* | /var/tmp/*)
    refuse_usage "--prefix $prefix is hidden from the service (ProtectHome=/PrivateTmp=); put the checkout in /opt/gomodgate"
    ;;
esac
if [[ -n $root ]]; then
  [[ $root == /* ]] || usage_error "--root must be an absolute path (got \"$root\")"
  root=${root%/}
  [[ -d $root ]] || usage_error "--root $root is not a directory"
  [[ $root != "" ]] || root=
fi
[[ -f $prefix/bin/gomodgate.js ]] || die "$prefix/bin/gomodgate.js not found: --prefix must be a gomodgate checkout"
[[ -f $prefix/dist/src/cli/main.js && -d $prefix/node_modules ]] ||
  refuse "$prefix is not built: run \`npm ci\` in $prefix first"
for f in systemd/gomodgate.service systemd/gomodgate.yaml; do
  [[ -f $SRC/$f ]] || die "$SRC/$f is missing"
done
node_bin=$(command -v node || true)
[[ -n $node_bin ]] || die "node not found in PATH: install Node.js 20 or later"
node_bin=$(readlink -f "$node_bin")
case "$node_bin" in
  /home/* | /root/* | /run/user/* | /tmp/* | /var/tmp/*)
    refuse "$node_bin is hidden from the service (ProtectHome=/PrivateTmp=): install Node.js system-wide (e.g. /usr/bin/node)"
    ;;
esac
[[ $node_bin =~ ^/[A-Za-z0-9._/+-]+$ ]] || refuse "the path of node, $node_bin, has characters systemd's ExecStart= would misread"
node_major=$("$node_bin" -p 'process.versions.node.split(".")[0]')
((node_major >= 20)) || die "$node_bin is Node.js $node_major; gomodgate needs 20 or later"
if ((!dry_run)) && [[ -z $root && $EUID -ne 0 ]]; then
  die "must run as root (creates a user and installs a systemd unit); use --dry-run to see what it would do"
fi

etc_dir=$root/etc/gomodgate
config=$etc_dir/gomodgate.yaml
state_dir=$root/var/lib/gomodgate
unit_dir=$root/etc/systemd/system
unit=$unit_dir/gomodgate.service

say() { echo "$@"; }
report() { # report WOULD DID: one status line, in the conditional with --dry-run
  if ((dry_run)); then echo "# would $1"; else echo "$2"; fi
}
run() { # run CMD...: runs it, or prints it with --dry-run
  if ((dry_run)); then
    printf '+'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}
owner() { # owner USER GROUP → install(1) ownership flags, none under --root
  [[ -z $root ]] && echo "-o $1 -g $2"
  return 0
}

((dry_run)) && say "# $PROG --dry-run: nothing is changed; these steps would run"

# --- user ---------------------------------------------------------------------------------------------------
if [[ -n $root ]]; then
  say "user: not created under --root ($SERVICE_USER on the real system)"
elif getent passwd "$SERVICE_USER" >/dev/null; then
  say "user: $SERVICE_USER exists"
else
  command -v useradd >/dev/null || die "useradd not found (Debian: apt-get install passwd)"
  nologin=$(command -v nologin || echo /usr/sbin/nologin)
  run useradd --system --user-group --home-dir /var/lib/gomodgate --no-create-home --shell "$nologin" \
    --comment "gomodgate Go module gateway" "$SERVICE_USER"
  report "create the user $SERVICE_USER" "user: created $SERVICE_USER"
fi

# --- directories and config ---------------------------------------------------------------------------------
# shellcheck disable=SC2046 # owner's output is two flags or nothing
run install -d -m 0750 $(owner root "$SERVICE_USER") "$etc_dir"
# shellcheck disable=SC2046
run install -d -m 0750 $(owner "$SERVICE_USER" "$SERVICE_USER") "$state_dir"
if [[ -e $config ]]; then
  say "config: kept $config (the current example is $SRC/systemd/gomodgate.yaml)"
else
  # shellcheck disable=SC2046
  run install -m 0640 $(owner root "$SERVICE_USER") "$SRC/systemd/gomodgate.yaml" "$config"
  report "install $config" "config: installed $config"
fi

# --- unit ---------------------------------------------------------------------------------------------------
rendered=$(mktemp)
trap 'rm -f "$rendered"' EXIT
sed -e "s|^ExecStart=/usr/bin/node |ExecStart=$node_bin |" -e "s|/opt/gomodgate|$prefix|g" \
  "$SRC/systemd/gomodgate.service" >"$rendered"
grep -q "^ExecStart=$node_bin $prefix/bin/gomodgate.js serve " "$rendered" ||
  die "cannot render the unit: its ExecStart= line is not the expected /usr/bin/node /opt/gomodgate/... form"
if [[ -f $unit ]] && cmp -s "$rendered" "$unit"; then
  say "unit: $unit is up to date"
else
  what=installed would=install
  [[ -f $unit ]] && what=updated would=update
  run install -d -m 0755 "$unit_dir"
  if ((dry_run)); then
    printf '+ install -m 0644 %q %q   # the unit rendered from %q\n' RENDERED "$unit" "$SRC/systemd/gomodgate.service"
  else
    install -m 0644 "$rendered" "$unit"
  fi
  report "$would $unit" "unit: $what $unit"
  say "  ExecStart=$node_bin $prefix/bin/gomodgate.js serve --config /etc/gomodgate/gomodgate.yaml"
  if [[ -z $root && -d /run/systemd/system ]]; then
    run systemctl daemon-reload
  elif [[ -z $root ]]; then
    say "unit: systemd is not running here; no daemon-reload"
  fi
fi

# --- CA -----------------------------------------------------------------------------------------------------
# As the service user, with a clean environment (as systemd runs it) and the config's caDir; under --root the CA
# goes to ROOT/var/lib/gomodgate/certs whatever the config says.
ca_cmd=(env -i "PATH=$CLEAN_PATH" "$node_bin" "$prefix/bin/gomodgate.js" ca init --config "$config")
if [[ -n $root ]]; then
  ca_cmd+=(--ca-dir "$state_dir/certs")
else
  command -v runuser >/dev/null || die "runuser not found (Debian: util-linux)"
  ca_cmd=(runuser -u "$SERVICE_USER" -- "${ca_cmd[@]}")
fi
if ((dry_run)); then
  printf '+ cd %q &&' "$state_dir"
  printf ' %q' "${ca_cmd[@]}"
  printf '\n'
  ca_file="(the config's caDir, by default /var/lib/gomodgate/certs)/certs/ca.pem"
else
  ca_out=$(cd "$state_dir" && "${ca_cmd[@]}") ||
    die "\`gomodgate ca init\` failed (see above); the $SERVICE_USER user must be able to read $prefix"
  ca_file=${ca_out#*: }
  say "CA: ${ca_out%%:*} $ca_file"
fi

# --- interfaces: which one is the LAN? (read-only) ----------------------------------------------------------
# The default route's interface is the uplink; an interface with a private IPv4 range (10/8, 172.16/12,
# 192.168/16) or an IPv6 ULA (fc00::/7) and no default route looks like the LAN. Only interfaces that exist here.
default_ifs=" "
if [[ -r /proc/net/route ]]; then
  while read -r ifc dest _rest; do
    if [[ $dest == 00000000 ]]; then default_ifs+="$ifc "; fi
  done </proc/net/route
fi
if [[ -r /proc/net/ipv6_route ]]; then
  while read -r dest plen _src _slen _next _metric _ref _use _flags ifc; do
    if [[ $dest == 00000000000000000000000000000000 && $plen == 00 && $ifc != lo ]]; then default_ifs+="$ifc "; fi
  done </proc/net/ipv6_route
fi
lan_candidates=()
iface_lines=()
for path in /sys/class/net/*; do
  [[ -e $path ]] || continue
  ifc=${path##*/}
  [[ $ifc == lo ]] && continue
  addrs=
  if command -v ip >/dev/null 2>&1; then
    addrs=$(ip -o addr show dev "$ifc" 2>/dev/null | while read -r _n _i fam addr _rest; do
      if [[ $fam == inet || ($fam == inet6 && $addr != fe80:*) ]]; then printf '%s ' "$addr"; fi
    done || true)
  fi
  addrs=${addrs% }
  state=$(cat "$path/operstate" 2>/dev/null || echo unknown)
  private=0
  for a in $addrs; do
    if [[ $a =~ ^(10\.|192\.168\.|172\.(1[6-9]|2[0-9]|3[01])\.|f[cd][0-9a-f]{2}:) ]]; then private=1; fi
  done
  if [[ $default_ifs == *" $ifc "* ]]; then
    role="default route: the uplink, not the LAN"
  elif ((private)); then
    role="private addresses: looks like the LAN"
    lan_candidates+=("$ifc")
  elif [[ -z $addrs ]]; then
    role="no address"
  else
    role="public addresses"
  fi
  iface_lines+=("$(printf '  %-15s %-8s %-40s %s' "$ifc" "$state" "${addrs:--}" "$role")")
done

echo
if ((dry_run)); then
  if ((warnings)); then
    echo "Dry run: nothing was changed; a real run from here would stop at the $warnings warning(s) above. After a real run:"
  else
    echo "Dry run: nothing was changed. After a real run:"
  fi
else
  echo "gomodgate is installed."
fi
echo "Interfaces here:"
if ((${#iface_lines[@]})); then printf '%s\n' "${iface_lines[@]}"; else echo "  (none besides lo)"; fi
case ${#lan_candidates[@]} in
  1) lan_if=${lan_candidates[0]} lan_note="${lan_candidates[0]} looks like the LAN; check it" ;;
  0) lan_if=IF lan_note="no interface here looks like the LAN: name the one your clients reach, or use --lan-cidr" ;;
  *) lan_if=IF lan_note="candidates: ${lan_candidates[*]}; pick the one your clients reach" ;;
esac
cat <<EOF
The CA certificate that clients must trust:
  $ca_file
Next steps, in this order (the LAN is redirected only once gomodgate listens):
  1. Review $config (every option is listed with its default).
  2. systemctl enable --now gomodgate
     journalctl -u gomodgate -o cat -f ; curl -s http://127.0.0.1:9464/readyz
  3. Send the LAN's port 443/80 through it ($lan_note):
     $prefix/scripts/install-iptables.sh --lan-if $lan_if --fail-open
     (--fail-open: the rules exist only while gomodgate runs, so a stopped gateway is bypassed instead of
     refusing the LAN's HTTPS; leave it out to keep the rules, and refuse, whenever it is down)
  4. On developer machines, trust the CA (nothing else changes for Go): http://<this gateway>/ shows how, or
     $node_bin $prefix/bin/gomodgate.js ca export --config /etc/gomodgate/gomodgate.yaml > gomodgate-ca.pem
     sudo cp gomodgate-ca.pem /usr/local/share/ca-certificates/gomodgate.crt && sudo update-ca-certificates
     Publish its fingerprint so they can check it:
     $node_bin $prefix/bin/gomodgate.js ca export --fingerprint --config /etc/gomodgate/gomodgate.yaml
  Changes to the config or the policy file: systemctl reload gomodgate (no connection is dropped).
EOF
