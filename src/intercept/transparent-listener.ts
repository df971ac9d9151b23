// The listeners that iptables REDIRECT feeds (LAN port 443 → --tls-port, port 80 → --http-port).
// For each connection: recover the original destination (refuse when there is none or it is ourselves),
// peek the TLS ClientHello (or the HTTP request head), and either hand the connection to the TLS terminator
// (exact SNI / Host match on an intercepted host) or splice the untouched bytes to the original destination.
// Never decrypts or alters a connection to a host that is not configured.
import net from 'node:net';
import type http from 'node:http';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import { inspectClientHello } from './client-hello.js';
import { inspectHttpRequestHead } from './http-request-head.js';
import { originalDestination, type SocketAddress } from './original-destination.js';
import { peekSocket } from './peek.js';
import { spliceConnection } from './splice.js';
import { isLocalAddress, isOwnListener } from './own-addresses.js';
import { attachConnectionInfo, formatAddress, plainAddress, type Arrival, type ConnectionInfo } from './connection-info.js';
import type { InterceptHosts } from './intercept-hosts.js';
import type { TlsTerminator } from './tls-terminator.js';

export interface TransparentDeps {
  hosts: InterceptHosts;
  terminator: TlsTerminator;
  /** Serves plain-HTTP requests for intercepted hosts (port 80). */
  plainHttpServer: http.Server;
  /** Serves the onboarding page to port-80 connections meant for the gateway itself. */
  onboardingServer: http.Server;
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
let nextConnectionId = 1;

export function newConnectionId(): string {
  return (nextConnectionId++).toString(36);
}

/** Splices a connection we do not intercept and records it. Shared with the explicit proxy's CONNECT. */
export function passThrough(deps: Pick<TransparentDeps, 'audit' | 'log' | 'connectTimeoutMs' | 'stats'>, socket: net.Socket, peeked: Buffer, dst: SocketAddress, info: { client: string; host: string | null; why: string }): void {
  deps.stats.spliced++;
  const started = Date.now();
  spliceConnection(socket, peeked, dst, {
    connectTimeoutMs: deps.connectTimeoutMs,
    onEnd: (s) => {
      deps.log.debug({ client: info.client, dst: formatAddress(dst), host: info.host, bytesUp: s.bytesUp, bytesDown: s.bytesDown, error: s.error, why: info.why }, 'passthrough closed');
      deps.audit.record({
        ts: started, client: info.client, origDst: formatAddress(dst), host: info.host, method: null, path: null,
        module: null, version: null, kind: null, outcome: 'passthrough', status: null, bytes: s.bytesUp + s.bytesDown,
        durationMs: Date.now() - started, sha256: null, upstreamUrl: null, reason: s.error ?? info.why,
      });
    },
  });
}

export class TransparentListener {
  private readonly servers: net.Server[] = [];

  constructor(private readonly deps: TransparentDeps) {}

  async listen(host: string, tlsPort: number, httpPort: number): Promise<{ tlsPort: number; httpPort: number }> {
    const tls = await this.listenOne(host, tlsPort, (s) => void this.onTlsConnection(s));
    const plain = await this.listenOne(host, httpPort, (s) => void this.onHttpConnection(s));
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

  private admit(socket: net.Socket, arrival: Arrival): { dst: SocketAddress; client: string } | null {
    socket.on('error', () => undefined); // errors end the connection; each stage reports its own
    const client = plainAddress(socket.remoteAddress);
    const dst = originalDestination(socket);
    const refuse = (why: string) => {
      this.deps.stats.refused++;
      this.deps.log.warn({ client, arrival, dst: dst && formatAddress(dst), why }, 'connection refused');
      this.deps.audit.record({
        ts: Date.now(), client, origDst: dst && formatAddress(dst), host: null, method: null, path: null, module: null,
        version: null, kind: null, outcome: 'refused', status: null, bytes: 0, durationMs: 0, sha256: null, upstreamUrl: null, reason: why,
      });
      socket.destroy();
      return null;
    };
    if (!dst) return refuse('not redirected: no original destination (connect through iptables REDIRECT, or use the proxy port)');
    if (isOwnListener(dst, this.deps.ownPorts())) return refuse('original destination is gomodgate itself (loop)');
    return { dst, client };
  }

  private async onTlsConnection(socket: net.Socket): Promise<void> {
    const admitted = this.admit(socket, 'transparent-tls');
    if (!admitted) return;
    const { bytes, result } = await peekSocket(socket, (buf) => {
      const r = inspectClientHello(buf, MAX_CLIENT_HELLO);
      return r.kind === 'need-more' ? 'need-more' : r;
    }, { maxBytes: MAX_CLIENT_HELLO, timeoutMs: this.deps.peekTimeoutMs });
    if (result === 'timeout' || result === 'closed' || result === 'too-large') {
      this.deps.log.debug({ client: admitted.client, dst: formatAddress(admitted.dst), result }, 'no ClientHello');
      if (result === 'too-large') passThrough(this.deps, socket, bytes, admitted.dst, { client: admitted.client, host: null, why: 'oversized first record' });
      else socket.destroy();
      return;
    }
    const sni = result.kind === 'tls' ? result.sni : null;
    if (this.deps.hosts.has(sni)) {
      this.intercept(socket, bytes, { arrival: 'transparent-tls', client: admitted.client, dst: admitted.dst, sni });
      return;
    }
    passThrough(this.deps, socket, bytes, admitted.dst, { client: admitted.client, host: sni, why: result.kind === 'tls' ? 'host not intercepted' : 'not TLS' });
  }

  private async onHttpConnection(socket: net.Socket): Promise<void> {
    const admitted = this.admit(socket, 'transparent-http');
    if (!admitted) return;
    if (admitted.dst.port === 80 && isLocalAddress(admitted.dst.address)) {
      // http://<gateway>/ : the onboarding page, like mitm.it
      this.deps.onboardingServer.emit('connection', socket);
      socket.resume();
      return;
    }
    const { bytes, result } = await peekSocket(socket, (buf) => {
      const r = inspectHttpRequestHead(buf, MAX_HTTP_HEAD);
      return r.kind === 'need-more' ? 'need-more' : r;
    }, { maxBytes: MAX_HTTP_HEAD, timeoutMs: this.deps.peekTimeoutMs });
    if (result === 'timeout' || result === 'closed') {
      socket.destroy();
      return;
    }
    const host = result !== 'too-large' && result.kind === 'http' ? result.host : null;
    if (this.deps.hosts.has(host)) {
      const info = this.info('transparent-http', admitted.client, socket, admitted.dst, host);
      attachConnectionInfo(socket, info);
      this.deps.stats.intercepted++;
      socket.unshift(bytes);
      this.deps.plainHttpServer.emit('connection', socket);
      return;
    }
    passThrough(this.deps, socket, bytes, admitted.dst, { client: admitted.client, host, why: 'host not intercepted' });
  }

  private info(arrival: Arrival, client: string, socket: net.Socket, dst: SocketAddress | null, sni: string): ConnectionInfo {
    return { id: newConnectionId(), arrival, client: { address: client, port: socket.remotePort ?? 0 }, originalDestination: dst, sni };
  }

  intercept(socket: net.Socket, peeked: Buffer, c: { arrival: Arrival; client: string; dst: SocketAddress | null; sni: string }): void {
    attachConnectionInfo(socket, this.info(c.arrival, c.client, socket, c.dst, c.sni));
    this.deps.stats.intercepted++;
    this.deps.terminator.accept(socket, peeked);
  }
}
