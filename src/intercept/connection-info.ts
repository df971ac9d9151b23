// What the gateway knows about one client connection: who the client is, where it meant to go (original
// destination or CONNECT target), the TLS SNI (or Host), and how it arrived. Made once by the listener that
// accepted the connection and handed on with the socket, explicitly, to whoever serves it.
import type { SocketAddress } from './original-destination.js';

export type Arrival = 'transparent-tls' | 'transparent-http' | 'connect' | 'proxy-http';

export interface ConnectionInfo {
  id: string;
  arrival: Arrival;
  client: { address: string; port: number };
  /** Where the client meant to connect: SO_ORIGINAL_DST, or the resolved CONNECT target. */
  originalDestination: SocketAddress | null;
  /**
   * The original destination is one of the gateway's own addresses: the LAN's DNS names the gateway for the
   * intercepted host (no REDIRECT). The host is then reached by its name, never at that address (itself).
   */
  destinationIsGateway: boolean;
  /** Lower-cased SNI for TLS arrivals, or the Host for plain HTTP. */
  sni: string | null;
}

let nextConnectionId = 1;

export function newConnectionId(): string {
  return (nextConnectionId++).toString(36);
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
