// The listeners that iptables REDIRECT feeds (LAN port 443 → --tls-port, port 80 → --http-port).
// For each connection: recover the original destination, peek the TLS ClientHello (or the HTTP request
// head), ask decideConnection, and carry out its answer: hand the connection to the TLS terminator or the
// HTTP server behind the interception, splice the untouched bytes to the original destination, serve the
// onboarding page, or refuse. Never decrypts or alters a connection to a host that is not configured.
import net from 'node:net';
import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import { auditRow } from '../audit/audit-row.js';
import { inspectClientHello } from './client-hello.js';
import { inspectHttpRequestHead } from './http-request-head.js';
import { originalDestination, type SocketAddress } from './original-destination.js';
import { peekSocket } from './peek.js';
import { spliceConnection, type SpliceOptions } from './splice.js';
import { isLocalAddress, isOwnListener } from './own-addresses.js';
import { formatAddress, newConnectionId, plainAddress, type ConnectionInfo } from './connection-info.js';
import { decideConnection, type Arrival, type ConnectionDecision, type ConnectionFacts, type Peeked } from './connection-decision.js';
import type { InterceptHosts } from './intercept-hosts.js';

export interface ConnectionDeps {
  hosts: InterceptHosts;
  /** Terminates TLS for an intercepted connection (its ClientHello already peeked). */
  terminateTls: (socket: net.Socket, peeked: Buffer, conn: ConnectionInfo) => void;
  /** Serves HTTP for an intercepted plain connection (its request head put back). */
  serveHttp: (socket: net.Socket | tls.TLSSocket, conn: ConnectionInfo) => void;
  /** Serves the onboarding page on a port-80 connection meant for the gateway itself. */
  serveOnboarding: (socket: net.Socket) => void;
  audit: AuditLog;
  log: Logger;
  ownPorts: () => number[];
  peekTimeoutMs: number;
  connectTimeoutMs: number;
  maxConnections: number;
  stats: { intercepted: number; spliced: number; refused: number };
}

const MAX_CLIENT_HELLO = 16 * 1024 + 5;
const MAX_HTTP_HEAD = 16 * 1024;

/** Peeks a TLS ClientHello, bounded in bytes and time. */
export async function peekClientHello(socket: net.Socket, timeoutMs: number): Promise<{ bytes: Buffer; peeked: Peeked }> {
  const { bytes, result } = await peekSocket(socket, (buf) => {
    const r = inspectClientHello(buf, MAX_CLIENT_HELLO);
    return r.kind === 'need-more' ? 'need-more' : r;
  }, { maxBytes: MAX_CLIENT_HELLO, timeoutMs });
  const peeked: Peeked = typeof result === 'string' ? { kind: result } : result.kind === 'tls' ? { kind: 'tls', sni: result.sni } : { kind: 'not-tls' };
  return { bytes, peeked };
}

async function peekRequestHead(socket: net.Socket, timeoutMs: number): Promise<{ bytes: Buffer; peeked: Peeked }> {
  const { bytes, result } = await peekSocket(socket, (buf) => {
    const r = inspectHttpRequestHead(buf, MAX_HTTP_HEAD);
    return r.kind === 'need-more' ? 'need-more' : r;
  }, { maxBytes: MAX_HTTP_HEAD, timeoutMs });
  const peeked: Peeked = typeof result === 'string' ? { kind: result } : result.kind === 'http' ? { kind: 'http', host: result.host } : { kind: 'not-http' };
  return { bytes, peeked };
}

/** Records and closes a refused connection. Shared with the explicit proxy. */
export function refuseConnection(deps: Pick<ConnectionDeps, 'audit' | 'log' | 'stats'>, socket: net.Socket, f: { client: string; arrival: Arrival; dst: SocketAddress | null; host: string | null; why: string }): void {
  deps.stats.refused++;
  deps.log.warn({ client: f.client, arrival: f.arrival, dst: formatAddress(f.dst), host: f.host, why: f.why }, 'connection refused');
  deps.audit.record(auditRow({ client: f.client, origDst: formatAddress(f.dst), host: f.host, outcome: 'refused', status: null, reason: f.why }));
  socket.destroy();
}

/** Splices a connection we do not intercept and records it. Shared with the explicit proxy's CONNECT. */
export function passThrough(
  deps: Pick<ConnectionDeps, 'audit' | 'log' | 'connectTimeoutMs' | 'stats'>,
  socket: net.Socket,
  peeked: Buffer,
  dst: SocketAddress,
  info: { client: string; host: string | null; why: string },
  /** A CONNECT whose 200 is not sent yet: sent once the destination accepted, else a 502/504 with the reason. */
  tunnel?: SpliceOptions['tunnel'],
): void {
  deps.stats.spliced++;
  const started = Date.now();
  spliceConnection(socket, peeked, dst, {
    connectTimeoutMs: deps.connectTimeoutMs,
    tunnel,
    onEnd: (s) => {
      deps.log.debug({ client: info.client, dst: formatAddress(dst), host: info.host, bytesUp: s.bytesUp, bytesDown: s.bytesDown, error: s.error, why: info.why }, 'passthrough closed');
      deps.audit.record(auditRow({
        ts: started, client: info.client, origDst: formatAddress(dst), host: info.host, outcome: 'passthrough', status: null,
        bytes: s.bytesUp + s.bytesDown, durationMs: Date.now() - started, reason: s.error ?? info.why,
      }));
    },
  });
}

export class TransparentListener {
  private readonly servers: net.Server[] = [];

  constructor(private readonly deps: ConnectionDeps) {}

  async listen(host: string, tlsPort: number, httpPort: number): Promise<{ tlsPort: number; httpPort: number }> {
    const tls = await this.listenOne(host, tlsPort, (s) => void this.onConnection(s, 'transparent-tls'));
    const plain = await this.listenOne(host, httpPort, (s) => void this.onConnection(s, 'transparent-http'));
    return { tlsPort: (tls.address() as net.AddressInfo).port, httpPort: (plain.address() as net.AddressInfo).port };
  }

  private listenOne(host: string, port: number, onConnection: (s: net.Socket) => void): Promise<net.Server> {
    const server = net.createServer({ pauseOnConnect: true, noDelay: true }, onConnection);
    server.maxConnections = this.deps.maxConnections;
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, ipv6Only: false }, () => {
        server.removeListener('error', reject);
        resolve(server);
      });
    });
  }

  close(): void {
    for (const s of this.servers) s.close();
  }

  private async onConnection(socket: net.Socket, arrival: 'transparent-tls' | 'transparent-http'): Promise<void> {
    socket.on('error', () => undefined); // errors end the connection; each stage reports its own
    const client = plainAddress(socket.remoteAddress);
    const dst = originalDestination(socket);
    const facts: ConnectionFacts = {
      arrival,
      destination: dst,
      destinationIsGateway: dst !== null && isLocalAddress(dst.address),
      destinationIsOwnListener: dst !== null && isOwnListener(dst, this.deps.ownPorts()),
      intercepted: (name: string | null) => this.deps.hosts.has(name),
    };
    let decision: ConnectionDecision = decideConnection(facts);
    let bytes: Buffer = Buffer.alloc(0);
    let peeked: Peeked | undefined;
    if (decision.action === 'peek') {
      ({ bytes, peeked } = await (arrival === 'transparent-tls' ? peekClientHello(socket, this.deps.peekTimeoutMs) : peekRequestHead(socket, this.deps.peekTimeoutMs)));
      facts.peeked = peeked; // not `{ ...facts, peeked }`: a spread's result gets a hidden class of its own each time
      decision = decideConnection(facts);
    }
    const host = peeked && (peeked.kind === 'tls' ? peeked.sni : peeked.kind === 'http' ? peeked.host : null);
    switch (decision.action) {
      case 'refuse':
        refuseConnection(this.deps, socket, { client, arrival, dst, host: host ?? null, why: decision.why });
        return;
      case 'drop':
        this.deps.log.info({ client, arrival, dst: formatAddress(dst), peek: peeked?.kind, why: decision.why }, 'connection closed before it said where it was going');
        socket.destroy();
        return;
      case 'onboarding':
        this.deps.serveOnboarding(socket);
        return;
      case 'splice':
        passThrough(this.deps, socket, bytes, dst!, { client, host: host ?? null, why: decision.why });
        return;
      case 'intercept': {
        this.deps.stats.intercepted++;
        const conn: ConnectionInfo = { id: newConnectionId(), arrival, client: { address: client, port: socket.remotePort ?? 0 }, originalDestination: dst, destinationIsGateway: facts.destinationIsGateway, sni: decision.host };
        if (arrival === 'transparent-tls') {
          this.deps.terminateTls(socket, bytes, conn);
        } else {
          socket.unshift(bytes);
          this.deps.serveHttp(socket, conn);
        }
        return;
      }
      default:
        socket.destroy(); // 'peek' twice or 'resolve': cannot happen for a transparent arrival
    }
  }
}
