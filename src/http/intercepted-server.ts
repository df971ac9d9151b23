// The HTTP server behind the interception: it never listens. The TLS terminator hands it decrypted sockets
// and the transparent listener plain port-80 sockets, each with its ConnectionInfo, which reaches the request
// handler with every request on that socket (no lookups through private socket fields).
// It owns the HTTP-level limits of those connections (header and request timeouts, idle keep-alive, header
// count) and answers what is not a request we route: malformed HTTP (400/431/408) and CONNECT (405). Requests
// Node would refuse on its own without a word (no Host, an unknown Expect) go to the router like any other.
import http from 'node:http';
import type net from 'node:net';
import type { ConnectionInfo } from '../intercept/connection-info.js';
import { answerClientError, rawReply } from './raw-reply.js';
import { redactAuthority } from '../redact.js';

export interface InterceptedServerOptions {
  onRequest: (req: http.IncomingMessage, res: http.ServerResponse, conn: ConnectionInfo) => void;
  /** A connection refused at the HTTP level (CONNECT, malformed request): for the audit and the log. */
  onRefused: (conn: ConnectionInfo, reason: string, detail?: unknown) => void;
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  /** Inactivity limit on a connection (no bytes either way). */
  idleTimeoutMs?: number;
}

export class InterceptedHttpServer {
  private readonly server: http.Server;
  private readonly connections = new WeakMap<net.Socket, ConnectionInfo>();

  constructor(private readonly opts: InterceptedServerOptions) {
    this.server = http.createServer({
      headersTimeout: opts.headersTimeoutMs ?? 30_000,
      requestTimeout: opts.requestTimeoutMs ?? 60_000,
      keepAliveTimeout: opts.keepAliveTimeoutMs ?? 30_000,
      connectionsCheckingInterval: 1000,
      maxHeaderSize: 16 * 1024,
      // Node would answer a missing Host (400) and an Expect other than 100-continue (417) itself: no reason, no
      // audit row, no log line. The router refuses a Host that is not the SNI (421), and any GET is answered.
      requireHostHeader: false,
    });
    this.server.maxHeadersCount = 100;
    this.server.timeout = opts.idleTimeoutMs ?? 60_000;
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const conn = this.connections.get(req.socket);
      if (!conn) {
        res.destroy(); // cannot happen: every socket arrives through accept()
        return;
      }
      this.opts.onRequest(req, res, conn);
    };
    this.server.on('request', onRequest);
    this.server.on('checkExpectation', onRequest);
    this.server.on('connect', (req: http.IncomingMessage, socket: net.Socket) => {
      const conn = this.connections.get(socket);
      if (conn) this.opts.onRefused(conn, `CONNECT ${redactAuthority(String(req.url)).slice(0, 200)} inside an intercepted connection`);
      rawReply(socket, 405, 'CONNECT is not allowed here');
    });
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
      const conn = this.connections.get(socket);
      if (answerClientError(err, socket) && conn) this.opts.onRefused(conn, `malformed HTTP request (${String(err.code ?? '')})`, err);
    });
    // Node starts its header/request-timeout sweeps and connection tracking on 'listening', which a server
    // that never listens does not emit: without this, a client sending a header a minute is never cut off.
    this.server.emit('listening');
  }

  /** Serves HTTP on this socket (decrypted TLS or plain), every request carrying `conn`. */
  accept(socket: net.Socket, conn: ConnectionInfo): void {
    this.connections.set(socket, conn);
    this.server.emit('connection', socket);
    // a plain socket comes paused, with the peeked request head put back in its buffer: Node's parser reads
    // new bytes from the handle itself, but the buffered ones only flow as 'data' once the socket is resumed
    socket.resume();
  }

  /** Ends keep-alive connections that are idle; in-flight responses finish. */
  closeIdle(): void {
    this.server.closeIdleConnections();
  }

  closeAll(): void {
    this.server.closeAllConnections();
  }

  /** Stops the timeout sweeps (at shutdown). */
  close(): void {
    this.server.close();
  }
}
