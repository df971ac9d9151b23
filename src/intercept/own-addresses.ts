// Loop protection: is an address:port one of gomodgate's own listeners on this machine? A connection whose
// original destination is our own listener would otherwise be spliced back to ourselves forever.
import { networkInterfaces } from 'node:os';
import type { SocketAddress } from './original-destination.js';
import { plainAddress } from './connection-info.js';

export function isOwnListener(dst: SocketAddress, ownPorts: readonly number[]): boolean {
  if (!ownPorts.includes(dst.port)) return false;
  const addr = plainAddress(dst.address);
  if (addr === '0.0.0.0' || addr === '::' || addr.startsWith('127.') || addr === '::1') return true;
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (plainAddress(i.address) === addr) return true;
  }
  return false;
}
