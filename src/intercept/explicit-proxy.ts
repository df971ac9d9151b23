// The proxy port, for machines that are not behind the REDIRECT: an explicit HTTPS proxy (HTTPS_PROXY,
// CONNECT to port 443 only) that intercepts only the configured Go hosts and tunnels everything else
// untouched, and a plain GOPROXY endpoint (GOPROXY=http://gateway:3128). Only clients in --allow-clients
// may use it, and a reload that removes a client closes its open connections and tunnels
// (closeDisallowedClients). It is not a general HTTP proxy: absolute-form requests for other hosts are refused.
import http from 'node:http';
import net from 'node:net';
import { lookup } from 'node:dns/promises';
import type { Logger } from 'pino';
import type { ClientAcl } from './client-acl.js';
import type { InterceptHosts } from './intercept-hosts.js';
import type { RequestRouter } from '../http/request-router.js';
import { hostWithoutPort, malformedRequest } from '../http/request-router.js';
import { answerClientError, rawReply } from '../http/raw-reply.js';
import { passThrough, peekClientHello, refuseConnection, type ConnectionDeps } from './transparent-listener.js';
import { formatAddress, newConnectionId, plainAddress, type ConnectionInfo } from './connection-info.js';
import { decideConnection, type ConnectionFacts } from './connection-decision.js';
import { isLocalAddress } from './own-addresses.js';
import type { SocketAddress } from './original-destination.js';
import { auditRow } from '../audit/audit-row.js';

export interface ExplicitProxyDeps extends Pick<ConnectionDeps, 'audit' | 'log' | 'connectTimeoutMs' | 'stats' | 'peekTimeoutMs' | 'maxConnections' | 'terminateTls'> {
  acl: () => ClientAcl;
  hosts: InterceptHosts;
  router: RequestRouter;
  log: Logger;
  /** Answers the onboarding paths (/, /gomodgate-ca.pem, ...); false for anything else. */
  onboarding: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

export class ExplicitProxy {
  readonly server: http.Server;
  /** Every open client connection, with the tunnels and TLS sessions a CONNECT turned it into. */
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly deps: ExplicitProxyDeps) {
    // requireHostHeader off and checkExpectation routed: the router answers those with a reason and an audit
    // row, where Node would send a bare 400 or 417
    this.server = http.createServer({ requestTimeout: 60_000, headersTimeout: 30_000, keepAliveTimeout: 30_000, requireHostHeader: false });
    this.server.maxHeadersCount = 100;
    this.server.maxConnections = deps.maxConnections;
    this.server.on('connection', (socket: net.Socket) => {
      const client = plainAddress(socket.remoteAddress);
      if (!this.deps.acl().allows(client)) {
        this.deps.stats.refused++;
        this.deps.log.warn({ client }, 'proxy port: client not in allowClients; connection closed');
        socket.destroy();
        return;
      }
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void this.onConnect(req, socket, head));
    this.server.on('request', (req, res) => this.onRequest(req, res));
    this.server.on('checkExpectation', (req, res) => this.onRequest(req, res));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => void answerClientError(err, socket));
  }

  /**
   * Closes the connections of clients the current allowClients no longer lists (after a reload): a keep-alive
   * connection or an open tunnel would otherwise outlive the change.
   */
  closeDisallowedClients(): void {
    const acl = this.deps.acl();
    for (const socket of this.sockets) {
      const client = plainAddress(socket.remoteAddress);
      if (acl.allows(client)) continue;
      this.deps.log.warn({ client }, 'proxy port: client no longer in allowClients; open connection closed');
      socket.destroy();
    }
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port, ipv6Only: false }, () => {
        this.server.removeListener('error', reject);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  private connInfo(req: http.IncomingMessage, sni: string | null): ConnectionInfo {
    return {
      id: newConnectionId(),
      arrival: 'proxy-http',
      client: { address: plainAddress(req.socket.remoteAddress), port: req.socket.remotePort ?? 0 },
      originalDestination: null,
      destinationIsGateway: false,
      sni,
    };
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/';
    // origin-form, or the asterisk-form of OPTIONS * (the router answers it for the endpoint as a whole)
    if (url.startsWith('/') || url === '*') {
      // a malformed request (not HTTP/1.x, an HTTP/1.1 request without Host, or with two) goes to the router,
      // which refuses it with its reason and audit row
      if (malformedRequest(req) === null && this.deps.onboarding(req, res)) return;
      this.deps.router.onGoproxyEndpointRequest(req, res, this.connInfo(req, null));
      return;
    }
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end('gomodgate: malformed request target\n');
      return;
    }
    const host = target.hostname.toLowerCase();
    if (target.protocol !== 'http:' || !this.deps.hosts.has(host)) {
      const why = target.protocol !== 'http:'
        ? `${target.protocol.slice(0, -1)}:// URLs are not fetched by this proxy; HTTPS goes through CONNECT (HTTPS_PROXY)`
        : `${host} is not a Go module host; this proxy relays only Go module traffic (HTTPS via CONNECT is tunnelled)`;
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' }).end(`gomodgate: ${why}\n`);
      return;
    }
    req.url = target.pathname + target.search;
    req.headers.host = host;
    this.deps.router.onInterceptedRequest(req, res, { ...this.connInfo(req, host), arrival: 'proxy-http' });
  }

  private async onConnect(req: http.IncomingMessage, socket: net.Socket, head: Buffer): Promise<void> {
    socket.on('error', () => undefined);
    const client = plainAddress(socket.remoteAddress);
    const m = /^(\[[^\]]+\]|[^:\[\]]+):(\d+)$/.exec(req.url ?? '');
    if (!m) return rawReply(socket, 400, 'CONNECT needs host:port');
    const host = hostWithoutPort(m[1])!.replace(/^\[|\]$/g, '');
    const port = Number(m[2]);
    if (port !== 443) return rawReply(socket, 403, `CONNECT is allowed to port 443 only (asked for ${port})`);
    const facts: ConnectionFacts = {
      arrival: 'connect',
      destination: null,
      destinationIsGateway: false,
      destinationIsOwnListener: false,
      connectHost: host,
      intercepted: (name) => this.deps.hosts.has(name),
    };
    let decision = decideConnection(facts);
    let bytes = head;
    let peekKind: string | undefined;
    /** Whether the client has its 200: a peek needs it first (the ClientHello comes only after it). */
    let tunnelOpen = false;
    if (decision.action === 'peek') {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      tunnelOpen = true;
      if (head.length) socket.unshift(head);
      const peek = await peekClientHello(socket, this.deps.peekTimeoutMs);
      bytes = peek.bytes;
      peekKind = peek.peeked.kind === 'tls' ? `sni ${peek.peeked.sni ?? 'none'}` : peek.peeked.kind;
      facts.peeked = peek.peeked; // not `{ ...facts, peeked }`: a spread's result gets a hidden class of its own each time
      decision = decideConnection(facts);
    } else if (decision.action === 'resolve') {
      let address: string;
      try {
        address = net.isIP(host) ? host : (await lookup(host)).address;
      } catch {
        return rawReply(socket, 502, `cannot resolve ${host} from the gateway`);
      }
      facts.destination = { address, port, family: net.isIP(address) === 6 ? 6 : 4 };
      facts.destinationIsGateway = isLocalAddress(address);
      decision = decideConnection(facts);
      if (decision.action === 'refuse') return this.refuse(socket, client, host, facts.destination, decision.why, true);
    }
    switch (decision.action) {
      case 'intercept':
        this.deps.stats.intercepted++;
        this.deps.terminateTls(socket, bytes, { id: newConnectionId(), arrival: 'connect', client: { address: client, port: socket.remotePort ?? 0 }, originalDestination: null, destinationIsGateway: false, sni: decision.host });
        return;
      case 'splice':
        // without a peek, the client hears the tunnel is open only once the destination accepted, or why not
        passThrough(this.deps, socket, bytes, facts.destination!, { client, host, why: decision.why }, tunnelOpen ? undefined : {
          established: () => socket.write('HTTP/1.1 200 Connection Established\r\n\r\n'),
          failed: (status, reason) => rawReply(socket, status, `cannot open a tunnel to ${host}:${port} from the gateway (${reason.replace(/^upstream: /, '')})`),
        });
        return;
      case 'refuse':
        return this.refuse(socket, client, host, facts.destination, `${decision.why} (${peekKind})`, false);
      default:
        this.deps.log.info({ client, host, peek: peekKind, why: decision.action === 'drop' ? decision.why : decision.action }, 'CONNECT closed before a ClientHello');
        socket.destroy();
    }
  }

  /** Refuses a CONNECT: with a 403 while the tunnel is not yet open, else by closing it. */
  private refuse(socket: net.Socket, client: string, host: string, dst: SocketAddress | null, why: string, beforeTunnel: boolean): void {
    if (beforeTunnel) {
      this.deps.stats.refused++;
      this.deps.log.warn({ client, host, why }, 'CONNECT refused');
      this.deps.audit.record(auditRow({ client, origDst: formatAddress(dst), host, outcome: 'refused', reason: why }));
      rawReply(socket, 403, why);
      return;
    }
    refuseConnection(this.deps, socket, { client, arrival: 'connect', dst, host, why });
  }

  close(): void {
    this.server.close();
    this.server.closeIdleConnections();
  }
}
