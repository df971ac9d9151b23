// The one decision about a client connection: intercept it (terminate TLS, answer Go module requests),
// splice it untouched to where it was going, or refuse it. Both listeners (the REDIRECT targets and the
// CONNECT proxy) ask it at each stage, with the facts they have gathered so far; it asks for the next fact
// it needs ('peek', 'resolve') instead of guessing. Pure: no sockets, no clock, no configuration reads.
// Its promises: only an exact, configured name is ever decrypted; a connection is never spliced to the
// gateway itself (a loop, or a way into its loopback-only listeners); nothing unredirected is relayed.
import type { SocketAddress } from './original-destination.js';

export type Arrival = 'transparent-tls' | 'transparent-http' | 'connect';

export type Peeked =
  | { kind: 'tls'; sni: string | null }
  | { kind: 'http'; host: string | null }
  | { kind: 'not-tls' | 'not-http' }
  | { kind: 'timeout' | 'closed' | 'too-large' };

export interface ConnectionFacts {
  arrival: Arrival;
  /** SO_ORIGINAL_DST, or the resolved CONNECT target; null while unknown (or not redirected). */
  destination: SocketAddress | null;
  /** The destination is one of the gateway's own addresses (any port). */
  destinationIsGateway: boolean;
  /** The destination is one of the gateway's own listeners (a loop). */
  destinationIsOwnListener: boolean;
  /** For CONNECT: the host name in the request line (lower-cased, brackets removed). */
  connectHost?: string;
  /** What the first bytes said, once peeked. */
  peeked?: Peeked;
  /** Is this exact, lower-cased name one we intercept? */
  intercepted: (name: string | null) => boolean;
}

export type ConnectionDecision =
  | { action: 'peek' }
  | { action: 'resolve' }
  | { action: 'onboarding' }
  | { action: 'intercept'; host: string }
  | { action: 'splice'; why: string }
  | { action: 'refuse'; why: string }
  /** The client went quiet or away before saying anything: close without a record. */
  | { action: 'drop'; why: string };

function nameOf(p: Peeked | undefined): string | null {
  if (!p) return null;
  if (p.kind === 'tls') return p.sni;
  if (p.kind === 'http') return p.host;
  return null;
}

export function decideConnection(f: ConnectionFacts): ConnectionDecision {
  if (f.arrival === 'connect') return decideConnect(f);
  if (!f.destination) return { action: 'refuse', why: 'not redirected: no original destination (connect through iptables REDIRECT, or use the proxy port)' };
  if (f.destinationIsOwnListener) return { action: 'refuse', why: 'original destination is gomodgate itself (loop)' };
  // http://<gateway>/ : the onboarding page, like mitm.it
  if (f.arrival === 'transparent-http' && f.destinationIsGateway && f.destination.port === 80) return { action: 'onboarding' };
  const p = f.peeked;
  if (!p) return { action: 'peek' };
  if (p.kind === 'timeout' || p.kind === 'closed') return { action: 'drop', why: `no ${f.arrival === 'transparent-tls' ? 'ClientHello' : 'request head'} (${p.kind})` };
  const name = nameOf(p);
  if (f.intercepted(name)) return { action: 'intercept', host: name! };
  if (f.destinationIsGateway) return { action: 'refuse', why: 'destination is the gateway itself, for a host it does not serve' };
  if (p.kind === 'too-large') return { action: 'splice', why: 'oversized first record' };
  if (p.kind === 'tls' || p.kind === 'http') return { action: 'splice', why: 'host not intercepted' };
  return { action: 'splice', why: f.arrival === 'transparent-tls' ? 'not TLS' : 'not HTTP' };
}

function decideConnect(f: ConnectionFacts): ConnectionDecision {
  const host = f.connectHost ?? null;
  if (f.intercepted(host)) {
    const p = f.peeked;
    if (!p) return { action: 'peek' };
    if (p.kind === 'timeout' || p.kind === 'closed') return { action: 'drop', why: `no ClientHello after CONNECT (${p.kind})` };
    if (p.kind === 'tls' && p.sni === host) return { action: 'intercept', host: host! };
    return { action: 'refuse', why: `CONNECT to ${host} without a matching TLS server name` };
  }
  if (!f.destination) return { action: 'resolve' };
  if (f.destinationIsGateway) return { action: 'refuse', why: `CONNECT to the gateway's own address ${f.destination.address}` };
  return { action: 'splice', why: 'CONNECT to a host not intercepted' };
}
