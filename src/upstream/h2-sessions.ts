// HTTP/2 towards upstreams that offer it: a multiplexed session per route (address, port, verified name), and
// another when the peer's limit of concurrent streams is reached on the open ones, each opened with ALPN (h2,
// http/1.1) and the same TLS verification as every upstream connection (the trusted roots,
// rejectUnauthorized). A route whose server picks HTTP/1.1 (or no ALPN) is remembered as such for a while and
// left to the caller's HTTP/1.1 agent (the connection that found out is handed to the caller, which closes
// it). A session that sends GOAWAY, fails or closes is dropped, so the next request opens a new one; its
// streams fail on their own. Owns sessions only: it never sends a request and never retries one
// (UpstreamClient does the requests, and tells streamEnded when each stream it was handed a session for is over).
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
  /** The open sessions of each route: more than one when the peer's stream limit is reached on the others. */
  private readonly live = new Map<string, http2.ClientHttp2Session[]>();
  /** Streams handed out on each session and not over yet (reserved in session(), released in streamEnded()). */
  private readonly streams = new WeakMap<http2.ClientHttp2Session, number>();
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
    const open = this.withRoom(key);
    if (open) return Promise.resolve(this.reserved(open));
    const joined = this.pending.get(key);
    // a caller that joins a connection being made gets its session; an HTTP/1.1 socket goes to its maker alone
    if (joined) return joined.then((r) => (r instanceof tls.TLSSocket || r === null ? null : this.reserved(r)));
    const p = this.connect(key, route);
    this.pending.set(key, p);
    const settle = () => {
      if (this.pending.get(key) === p) this.pending.delete(key);
    };
    p.then(settle, settle);
    return p.then((r) => (r instanceof tls.TLSSocket || r === null ? r : this.reserved(r)));
  }

  /**
   * An open session of the route with a stream to spare under the peer's SETTINGS_MAX_CONCURRENT_STREAMS. With
   * none, the caller's request opens another session, as Go's HTTP/2 transport does: a stream queued behind a
   * full session waited for a long download on it and failed as a timeout the upstream never saw.
   */
  private withRoom(key: string): http2.ClientHttp2Session | null {
    const list = this.live.get(key);
    if (!list) return null;
    for (const s of list) {
      if (s.closed || s.destroyed) continue;
      if ((this.streams.get(s) ?? 0) < (s.remoteSettings.maxConcurrentStreams ?? Infinity)) return s;
    }
    return null;
  }

  private reserved(session: http2.ClientHttp2Session): http2.ClientHttp2Session {
    this.streams.set(session, (this.streams.get(session) ?? 0) + 1);
    return session;
  }

  private drop(key: string, session: http2.ClientHttp2Session): void {
    const list = this.live.get(key);
    if (!list) return;
    const rest = list.filter((s) => s !== session);
    if (rest.length) this.live.set(key, rest);
    else this.live.delete(key);
  }

  /**
   * Called once for each session handed out, when its stream is over (or was never made): the stream is
   * released, and a session that has gone takes its socket with it.
   */
  streamEnded(session: http2.ClientHttp2Session): void {
    this.streams.set(session, Math.max(0, (this.streams.get(session) ?? 1) - 1));
    if (session.destroyed) this.sockets.get(session)?.destroy();
  }

  /** No new streams on this session (the ones on it finish); the next request opens a new one. */
  retire(session: http2.ClientHttp2Session): void {
    for (const key of [...this.live.keys()]) this.drop(key, session);
    if (!session.closed && !session.destroyed) session.close();
  }

  close(): void {
    this.closed = true;
    for (const list of this.live.values()) {
      for (const s of list) {
        s.destroy();
        this.sockets.get(s)?.destroy();
      }
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
        const drop = () => this.drop(key, session);
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
        this.live.set(key, [...(this.live.get(key) ?? []), session]);
        resolve(session);
      });
    });
  }
}
