// HTTP/2 towards upstreams that offer it: one multiplexed session per route (address, port, verified name),
// opened with ALPN (h2, http/1.1) and the same TLS verification as every upstream connection (the trusted
// roots, rejectUnauthorized). A route whose server picks HTTP/1.1 (or no ALPN) is remembered as such for a
// while and left to the caller's HTTP/1.1 agent (the connection that found out is handed to the caller, which closes it). A session that sends GOAWAY, fails or closes is dropped, so
// the next request opens a new one; its streams fail on their own. Owns sessions only: it never sends a request
// and never retries one (UpstreamClient does the requests).
import http2 from 'node:http2';
import tls from 'node:tls';

export interface H2Route {
  /** Where to connect (a name or an address). */
  host: string;
  port: number;
  /** The name to verify and send as SNI (undefined for an IP literal upstream). */
  servername: string | undefined;
}

export interface H2SessionsOptions {
  /** The TLS context of the trusted roots for upstream TLS (the HTTP/1.1 agent's own). */
  secureContext: tls.SecureContext;
  /** Bound on TCP connect + TLS handshake. */
  connectTimeoutMs: number;
  /** How long a route that answered ALPN with HTTP/1.1 is not asked again (default 10 min). */
  h1RememberMs?: number;
  now?: () => number;
}

const DEFAULT_H1_REMEMBER_MS = 10 * 60_000;

export class H2Sessions {
  private readonly pending = new Map<string, Promise<http2.ClientHttp2Session | tls.TLSSocket | null>>();
  private readonly live = new Map<string, http2.ClientHttp2Session>();
  private readonly h1Until = new Map<string, number>();
  /** The TLS socket under each session: Node leaves a socket it did not open itself when the session goes. */
  private readonly sockets = new WeakMap<http2.ClientHttp2Session, tls.TLSSocket>();
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly opts: H2SessionsOptions) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * The open HTTP/2 session of this route, or a new one. When the route speaks HTTP/1.1 only: the verified TLS
   * socket that just found out (the caller closes it), or null when that was known
   * already (the caller uses its agent). Rejects with the connection's error (refused, TLS verification, timeout).
   */
  session(route: H2Route): Promise<http2.ClientHttp2Session | tls.TLSSocket | null> {
    if (this.closed) return Promise.resolve(null);
    const key = `${route.host}|${route.port}|${route.servername ?? ''}`;
    const until = this.h1Until.get(key);
    if (until !== undefined) {
      if (until > this.now()) return Promise.resolve(null);
      this.h1Until.delete(key);
    }
    const open = this.live.get(key);
    if (open && !open.closed && !open.destroyed) return Promise.resolve(open);
    if (open) this.live.delete(key);
    const joined = this.pending.get(key);
    // a caller that joins a connection being made gets its session; an HTTP/1.1 socket goes to its maker alone
    if (joined) return joined.then((r) => (r instanceof tls.TLSSocket ? null : r));
    const p = this.connect(key, route);
    this.pending.set(key, p);
    const settle = () => {
      if (this.pending.get(key) === p) this.pending.delete(key);
    };
    p.then(settle, settle);
    return p;
  }

  /** Called when a stream of this session is over: a session that has gone takes its socket with it. */
  streamEnded(session: http2.ClientHttp2Session): void {
    if (session.destroyed) this.sockets.get(session)?.destroy();
  }

  /** No new streams on this session (the ones on it finish); the next request opens a new one. */
  retire(session: http2.ClientHttp2Session): void {
    for (const [key, s] of this.live) if (s === session) this.live.delete(key);
    if (!session.closed && !session.destroyed) session.close();
  }

  close(): void {
    this.closed = true;
    for (const s of this.live.values()) {
      s.destroy();
      this.sockets.get(s)?.destroy();
    }
    this.live.clear();
  }

  private connect(key: string, route: H2Route): Promise<http2.ClientHttp2Session | tls.TLSSocket | null> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host: route.host,
        port: route.port,
        servername: route.servername,
        secureContext: this.opts.secureContext,
        rejectUnauthorized: true,
        ALPNProtocols: ['h2', 'http/1.1'],
      });
      const fail = (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const timer = setTimeout(() => fail(Object.assign(new Error(`TLS connection to ${route.host}:${route.port} not established in time`), { code: 'ETIMEDOUT' })), this.opts.connectTimeoutMs);
      socket.once('error', fail);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        socket.off('error', fail);
        if (this.closed) {
          socket.destroy();
          resolve(null);
          return;
        }
        if (socket.alpnProtocol !== 'h2') {
          this.h1Until.set(key, this.now() + (this.opts.h1RememberMs ?? DEFAULT_H1_REMEMBER_MS));
          socket.on('error', () => undefined); // until the caller's request takes it (and reports its errors)
          resolve(socket);
          return;
        }
        const authority = `https://${route.servername ?? route.host}:${route.port}`;
        const session = http2.connect(authority, { createConnection: () => socket });
        const drop = () => {
          if (this.live.get(key) === session) this.live.delete(key);
        };
        this.sockets.set(session, socket);
        session.on('goaway', () => {
          drop();
          if (!session.closed && !session.destroyed) session.close(); // its open streams finish, then it goes
          setImmediate(() => this.streamEnded(session)); // no stream open: it has gone already
        });
        session.on('close', () => {
          drop();
          socket.destroy();
        });
        session.on('error', drop); // its streams report the failure to their requests
        this.live.set(key, session);
        resolve(session);
      });
    });
  }
}
