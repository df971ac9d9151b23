// Loop protection: is an address:port one of gomodgate's own listeners on this machine? A connection whose
// original destination is our own listener would otherwise be spliced back to ourselves forever.
import { networkInterfaces } from 'node:os';
import type { SocketAddress } from './original-destination.js';
import { CidrSet } from '../cidr.js';

/** Loopback and unspecified addresses: always this machine. */
const ALWAYS_LOCAL = new CidrSet(['127.0.0.0/8', '::1', '0.0.0.0', '::']);

export function isOwnListener(dst: SocketAddress, ownPorts: readonly number[]): boolean {
  return ownPorts.includes(dst.port) && isLocalAddress(dst.address);
}

/**
 * Is this one of the gateway's own addresses (a connection to the gateway itself, not through it)? Matched as
 * addresses, not strings: every spelling of one (fd00:1:0:0:0:0:0:1, ::ffff:a00:1, fe80::1%eth0) is the same.
 */
export function isLocalAddress(address: string): boolean {
  return ALWAYS_LOCAL.has(address) || localAddresses().has(address);
}

// Every port-80 connection asks: read the interface list at most once a second, not per connection.
let cached: { at: number; addresses: CidrSet } | null = null;

function localAddresses(): CidrSet {
  const now = Date.now();
  if (!cached || now - cached.at > 1000) {
    const addresses: string[] = [];
    for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) addresses.push(i.address.split('%')[0]!);
    cached = { at: now, addresses: new CidrSet(addresses) };
  }
  return cached.addresses;
}
