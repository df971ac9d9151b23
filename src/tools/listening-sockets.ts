// Which TCP ports have a listening socket in this network namespace, read from /proc/net/tcp and tcp6, so
// doctor can check the transparent listeners without connecting to them: a connection there from the gateway's
// own host has no original destination, and the listener rightly refuses and audits it as a client event. Also
// judges whether connections REDIRECTed from the LAN can reach those sockets at all. Read-only; Linux only (like the REDIRECT the gateway depends on); returns null when /proc cannot be read.
import { readFileSync } from 'node:fs';

const TCP_LISTEN = '0A';

/** "0100007F" → "127.0.0.1"; 32 hex digits → an IPv6 address (each 32-bit word in host byte order, little-endian here). */
export function procAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => (w.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16)));
  if (bytes.length === 4) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1); // the URL parser writes the short form
}

/** The local addresses listening on TCP `port` (empty: none), or null when /proc/net/tcp* is unreadable. */
export function listeningAddresses(port: number, procDir = '/proc/net'): string[] | null {
  const found: string[] = [];
  let readAny = false;
  for (const file of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`${procDir}/${file}`, 'utf8');
      readAny = true;
    } catch {
      continue; // no IPv6 here, or no /proc
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== TCP_LISTEN) continue;
      const [addr, portHex] = f[1]!.split(':');
      if (parseInt(portHex ?? '', 16) === port) found.push(procAddress(addr!));
    }
  }
  return readAny ? found : null;
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:7f');
}

/**
 * The listening addresses when a connection REDIRECTed from the LAN can reach none of them, else null (also when
 * nothing listens). REDIRECT delivers to the address of the interface the connection arrived on, so 0.0.0.0 and ::
 * always get it, loopback never, and any other address only when it is one of `lanAddresses` (the LAN
 * interfaces' addresses; null when unknown: then any address but loopback is given the benefit of the doubt).
 * Same rule as install-iptables.sh's unreachable_listener.
 */
export function unreachableByRedirect(bound: readonly string[], lanAddresses: readonly string[] | null): string[] | null {
  if (bound.length === 0) return null;
  const reachable = (a: string) => a === '0.0.0.0' || a === '::' || (!isLoopback(a) && (lanAddresses === null || lanAddresses.includes(a)));
  return bound.some(reachable) ? null : [...new Set(bound)];
}
