// The proxy port, for machines that are not behind the REDIRECT: an explicit HTTPS proxy (HTTPS_PROXY,
// CONNECT to port 443 only) that intercepts only the configured Go hosts and tunnels everything else
// untouched, and a plain GOPROXY endpoint (GOPROXY=http://gateway:3128). Only clients in --allow-clients
// may use it. It is not a general HTTP proxy: absolute-form requests for other hosts are refused.
import http from 'node:http';
import net from 'node:net';
import { lookup } from 'node:dns/promises';
import type { Logger } from 'pino';
import type { ClientAcl } from './client-acl.js';
import type { InterceptHosts } from './intercept-hosts.js';
import type { RequestRouter } from './request-router.js';
import { hostWithoutPort } from './request-router.js';
import { inspectClientHello } from './client-hello.js';
import { peekSocket } from './peek.js';
import { passThrough, newConnectionId, type TransparentDeps, type TransparentListener } from './transparent-listener.js';
import { plainAddress, type ConnectionInfo } from './connection-info.js';

const MAX_CLIENT_HELLO = 16 * 1024 + 5;

export interface ExplicitProxyDeps extends Pick<TransparentDeps, 'audit' | 'log' | 'connectTimeoutMs' | 'stats' | 'peekTimeoutMs' | 'maxConnections'> {
  acl: () => ClientAcl;
  hosts: InterceptHosts;
  router: RequestRouter;
  transparent: TransparentListener;
  log: Logger;
  /** Answers the onboarding paths (/, /gomodgate-ca.pem, ...); false for anything else. */
  onboarding: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

function rawReply(socket: net.Socket, status: number, text: string): void {
  const body = `gomodgate: ${text}\n`;
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

export class ExplicitProxy {
  readonly server: http.Server;

  constructor(private readonly deps: ExplicitProxyDeps) {
    this.server = http.createServer({ requestTimeout: 60_000, headersTimeout: 30_000, keepAliveTimeout: 30_000 });
    this.server.maxHeadersCount = 100;
    this.server.maxConnections = deps.maxConnections;
    this.server.on('connection', (socket: net.Socket) => {
      const client = plainAddress(socket.remoteAddress);
      if (!this.deps.acl().allows(client)) {
        this.deps.stats.refused++;
        this.deps.log.warn({ client }, 'proxy port: client not in allowClients; connection closed');
        socket.destroy();
      }
    });
    this.server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void this.onConnect(req, socket, head));
    this.server.on('request', (req, res) => this.onRequest(req, res));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
      if (!socket.writable) {
        socket.destroy();
        return;
      }
      if (err.code === 'HPE_HEADER_OVERFLOW') rawReply(socket, 431, 'request headers too large');
      else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') rawReply(socket, 408, 'request not received in time');
      else rawReply(socket, 400, 'malformed request');
    });
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
      sni,
    };
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/';
    if (url.startsWith('/')) {
      if (this.deps.onboarding(req, res)) return;
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
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' })
        .end(`gomodgate: ${host} is not a Go module host; this proxy relays only Go module traffic (HTTPS via CONNECT is tunnelled)\n`);
      return;
    }
    req.url = target.pathname + target.search;
    req.headers.host = host;
    this.deps.router.onInterceptedRequest(req, res, { ...this.connInfo(req, host), arrival: 'proxy-http' }, null);
  }

  private async onConnect(req: http.IncomingMessage, socket: net.Socket, head: Buffer): Promise<void> {
    socket.on('error', () => undefined);
    const client = plainAddress(socket.remoteAddress);
    const m = /^(\[[^\]]+\]|[^:\[\]]+):(\d+)$/.exec(req.url ?? '');
    if (!m) return rawReply(socket, 400, 'CONNECT needs host:port');
    const host = hostWithoutPort(m[1])!.replace(/^\[|\]$/g, '');
    const port = Number(m[2]);
    if (port !== 443) return rawReply(socket, 403, `CONNECT is allowed to port 443 only (asked for ${port})`);
    if (this.deps.hosts.has(host)) {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) socket.unshift(head);
      const { bytes, result } = await peekSocket(socket, (buf) => {
        const r = inspectClientHello(buf, MAX_CLIENT_HELLO);
        return r.kind === 'need-more' ? 'need-more' : r;
      }, { maxBytes: MAX_CLIENT_HELLO, timeoutMs: this.deps.peekTimeoutMs });
      if (typeof result === 'string' || result.kind !== 'tls' || result.sni !== host) {
        this.deps.log.warn({ client, host, sni: typeof result === 'string' ? result : result.kind === 'tls' ? result.sni : 'not-tls' }, 'CONNECT to an intercepted host without a matching TLS server name; closed');
        socket.destroy();
        return;
      }
      this.deps.transparent.intercept(socket, bytes, { arrival: 'connect', client, dst: null, sni: host });
      return;
    }
    let address: string;
    try {
      address = net.isIP(host) ? host : (await lookup(host)).address;
    } catch {
      return rawReply(socket, 502, `cannot resolve ${host} from the gateway`);
    }
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    passThrough(this.deps, socket, head, { address, port, family: net.isIP(address) === 6 ? 6 : 4 }, { client, host, why: 'CONNECT to a host not intercepted' });
  }

  close(): void {
    this.server.close();
    this.server.closeIdleConnections();
  }
}
