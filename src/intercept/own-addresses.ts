// Loop protection: is an address:port one of gomodgate's own listeners on this machine? A connection whose
// original destination is our own listener would otherwise be spliced back to ourselves forever.
import { networkInterfaces } from 'node:os';
import type { SocketAddress } from './original-destination.js';
import { plainAddress } from './connection-info.js';
import { CidrSet } from '../cidr.js';

/** Loopback and unspecified addresses: always this machine. */
const ALWAYS_LOCAL = new CidrSet(['127.0.0.0/8', '::1', '0.0.0.0', '::']);

export function isOwnListener(dst: SocketAddress, ownPorts: readonly number[]): boolean {
  return ownPorts.includes(dst.port) && isLocalAddress(dst.address);
}

/** Is this one of the gateway's own addresses (a connection to the gateway itself, not through it)? */
export function isLocalAddress(address: string): boolean {
  const addr = plainAddress(address);
  if (ALWAYS_LOCAL.has(addr)) return true;
  return localAddresses().has(addr);
}

// Every port-80 connection asks: read the interface list at most once a second, not per connection.
let cached: { at: number; addresses: Set<string> } | null = null;

function localAddresses(): Set<string> {
  const now = Date.now();
  if (!cached || now - cached.at > 1000) {
    const addresses = new Set<string>();
    for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) addresses.add(plainAddress(i.address));
    cached = { at: now, addresses };
  }
  return cached.addresses;
}
