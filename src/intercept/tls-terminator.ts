// Terminates TLS for intercepted Go-module hosts with http-mitm-proxy's HTTPS server (forceSNI), handing it
// sockets we accepted and peeked ourselves (no CONNECT, no per-host servers). Certificates for the configured
// hosts are issued once at start-up with one leaf key, so nothing slow runs on the request path.
// It replaces the library's error path, which logs with console.error and echoes internal error text to clients.
import type net from 'node:net';
import type https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Proxy } from 'http-mitm-proxy';
import { generateRsaKeyPair, issueLeafCertificate, type CertificateAuthority } from './certificates.js';
import type { ConnectionInfo } from './connection-info.js';
import { connectionInfoOf } from './connection-info.js';

/** Called for every request on an intercepted connection. `forward()` relays it unchanged to upstream. */
export type InterceptedRequestHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  conn: ConnectionInfo,
  forward: () => void,
) => void;

export interface TlsTerminatorOptions {
  caDir: string;
  ca: CertificateAuthority;
  hosts: readonly string[];
  /** Agent for forwarded (non-module) requests: verifies upstream TLS with the gateway's trusted roots. */
  upstreamAgent: https.Agent;
  onRequest: InterceptedRequestHandler;
  onError: (kind: string, err: unknown, conn: ConnectionInfo | null) => void;
  leafValidDays?: number;
  /** Close a handed-over connection whose TLS handshake has not completed in this time (default 10 s). */
  handshakeTimeoutMs?: number;
}

/** Ends a connection the HTTP parser rejected: 400 (431 for oversized headers) when the TLS layer is up, then closes. */
function closeBadClient(socket: net.Socket, err: unknown): void {
  if (socket.destroyed) return;
  const code = String((err as NodeJS.ErrnoException)?.code ?? '');
  if (code.startsWith('HPE_') && socket.writable && (socket as net.Socket & { encrypted?: boolean }).encrypted) {
    const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const body = `gomodgate: ${status === 431 ? 'request headers too large' : 'malformed HTTP request'}\n`;
    socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    setTimeout(() => socket.destroy(), 1000).unref();
    return;
  }
  socket.destroy();
}

type ProxyContext = {
  clientToProxyRequest: IncomingMessage;
  proxyToClientResponse: ServerResponse;
  proxyToServerRequestOptions?: Record<string, unknown>;
};

export class TlsTerminator {
  private readonly proxy = new Proxy();
  private readonly leafKey = generateRsaKeyPair(2048);
  private server: https.Server | null = null;
  private issued = new Set<string>();
  private readonly handshakeTimers = new WeakMap<net.Socket, NodeJS.Timeout>();
  certificatesIssued = 0;

  constructor(private readonly opts: TlsTerminatorOptions) {}

  async start(): Promise<void> {
    const proxy = this.proxy as unknown as Record<string, unknown> & Proxy;
    // The library's own error path writes `${kind}: ${err}` to the client and console.error: replace it.
    (proxy as unknown as { _onError: unknown })._onError = (kind: string, ctx: ProxyContext | null, err: unknown, socket?: net.Socket) => {
      const conn = ctx ? connectionInfoOf(ctx.clientToProxyRequest.socket) : socket ? connectionInfoOf(socket) : null;
      this.opts.onError(kind, err, conn);
      if (kind === 'HTTPS_CLIENT_ERROR' && socket) {
        // a listener for clientError means Node no longer closes the socket itself: answer what can be answered, then close
        closeBadClient(socket, err);
        return;
      }
      const res = ctx?.proxyToClientResponse;
      if (res && !res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
      }
      if (res && !res.writableEnded) res.end('gomodgate: the upstream request failed; see the gateway log\n');
    };
    proxy.onRequest((ctx, callback) => {
      const c = ctx as unknown as ProxyContext;
      const conn = connectionInfoOf(c.clientToProxyRequest.socket);
      if (!conn) {
        c.proxyToClientResponse.writeHead(421, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
        c.proxyToClientResponse.end('gomodgate: connection without routing information\n');
        return;
      }
      this.opts.onRequest(c.clientToProxyRequest, c.proxyToClientResponse, conn, () => {
        const o = c.proxyToServerRequestOptions!;
        if (conn.originalDestination) {
          o.host = conn.originalDestination.address;
          o.port = conn.originalDestination.port;
        }
        o.servername = conn.sni;
        callback();
      });
    });
    const quiet = { info: console.info, debug: console.debug };
    console.info = () => undefined; // the library announces "SNI enabled" on stdout, which must stay JSON
    console.debug = () => undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        proxy.listen(
          {
            host: '127.0.0.1',
            port: 0,
            httpsPort: 0,
            sslCaDir: this.opts.caDir,
            forceSNI: true,
            keepAlive: true,
            httpsAgent: this.opts.upstreamAgent,
          },
          (err?: Error | null) => (err ? reject(err) : resolve()),
        );
      });
    } finally {
      console.info = quiet.info;
      console.debug = quiet.debug;
    }
    // We accept connections ourselves: stop the library's own listeners (its explicit proxy and its HTTPS port).
    proxy.httpServer?.close();
    this.server = proxy.httpsServer as https.Server;
    this.server.close();
    this.server.removeAllListeners('upgrade'); // no WebSocket relaying through an intercepted Go host
    this.server.timeout = 60_000; // inactivity, after the handshake (the library sets 0: never)
    this.server.on('secureConnection', (tlsSocket: { _parent?: net.Socket }) => {
      const raw = tlsSocket._parent;
      if (raw) clearTimeout(this.handshakeTimers.get(raw));
    });
    this.server.headersTimeout = 30_000;
    this.server.requestTimeout = 60_000;
    this.server.keepAliveTimeout = 30_000;
    this.server.maxHeadersCount = 100;
    this.setHosts(this.opts.hosts);
  }

  /** Issues (once) and installs certificates for these hosts. */
  setHosts(hosts: readonly string[]): void {
    for (const host of hosts) {
      if (this.issued.has(host)) continue;
      const cert = issueLeafCertificate(this.opts.ca, this.leafKey.publicKeyPem, [host], this.opts.leafValidDays ?? 397);
      this.server!.addContext(host, { key: this.leafKey.privateKeyPem, cert: cert + this.opts.ca.certPem });
      this.issued.add(host);
      this.certificatesIssued++;
    }
  }

  /** Hands over a connection whose ClientHello (already read into `peeked`) named an intercepted host. */
  accept(socket: net.Socket, peeked: Buffer): void {
    const timer = setTimeout(() => socket.destroy(), this.opts.handshakeTimeoutMs ?? 10_000);
    timer.unref();
    this.handshakeTimers.set(socket, timer);
    socket.once('close', () => clearTimeout(timer));
    socket.pause();
    if (peeked.length) socket.unshift(peeked);
    this.server!.emit('connection', socket);
  }

  /** Stops keep-alive connections that are idle; in-flight responses finish. */
  closeIdle(): void {
    this.server?.closeIdleConnections();
  }

  closeAll(): void {
    this.server?.closeAllConnections();
  }
}
