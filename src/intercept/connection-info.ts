// What the gateway knows about one client connection, attached to its raw socket: who the client is,
// where it meant to go (original destination or CONNECT target), the TLS SNI, and how it arrived.
// Request handlers on a TLS socket find it through the socket underneath.
import type net from 'node:net';
import type { SocketAddress } from './original-destination.js';

export type Arrival = 'transparent-tls' | 'transparent-http' | 'connect' | 'proxy-http';

export interface ConnectionInfo {
  id: string;
  arrival: Arrival;
  client: { address: string; port: number };
  /** Where the client meant to connect: SO_ORIGINAL_DST, or the resolved CONNECT target. */
  originalDestination: SocketAddress | null;
  /** Lower-cased SNI for TLS arrivals, or the Host for plain HTTP. */
  sni: string | null;
}

const infos = new WeakMap<object, ConnectionInfo>();

export function attachConnectionInfo(socket: net.Socket, info: ConnectionInfo): void {
  infos.set(socket, info);
}

/** Finds the info for a raw socket or for a TLS socket wrapping one. */
export function connectionInfoOf(socket: unknown): ConnectionInfo | null {
  let s = socket as { _parent?: unknown; _handle?: unknown } | null | undefined;
  for (let depth = 0; s && depth < 4; depth++) {
    const found = infos.get(s as object);
    if (found) return found;
    s = s._parent as typeof s;
  }
  return null;
}

export function formatAddress(a: { address: string; port: number } | null): string | null {
  if (!a) return null;
  return a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/** "::ffff:10.0.0.5" → "10.0.0.5" */
export function plainAddress(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
