// The doctor's network steps, each bounded by a timeout: TCP connect, a CONNECT tunnel through an egress proxy,
// a TLS handshake that reports why verification failed instead of only failing, and one HTTP GET over an
// established socket. They never retry and never keep a socket: callers destroy what they get.
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { hostOf, portOf } from './doctor-targets.js';

export function errorCode(err: unknown): string {
  return String((err as NodeJS.ErrnoException)?.code ?? '');
}

export class StepTimeout extends Error {
  readonly code = 'TIMEOUT';
}

/** Runs `start`, rejecting with a StepTimeout after `ms` (and calling `onTimeout` to abort the work). */
export function bounded<T>(ms: number, start: () => Promise<T>, onTimeout: () => void = () => undefined): Promise<T> {
  return new Promise<T>((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      onTimeout();
      reject(new StepTimeout(`timed out after ${ms} ms`));
    }, ms);
    start().then(
      (v) => {
        clearTimeout(timer);
        resolvePromise(v);
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

export function tcpConnect(host: string, port: number, ms: number): Promise<net.Socket> {
  const socket = net.connect({ host, port });
  return bounded(
    ms,
    () =>
      new Promise<net.Socket>((ok, fail) => {
        socket.once('connect', () => {
          socket.off('error', fail);
          socket.on('error', () => undefined); // later errors surface through the TLS socket or the HTTP request
          ok(socket);
        });
        socket.once('error', fail);
      }),
    () => socket.destroy(),
  );
}

export interface TlsResult {
  socket: tls.TLSSocket;
  authorized: boolean;
  error: string;
  cert: tls.PeerCertificate;
}

export function tlsHandshake(socket: net.Socket, host: string, ca: string[], ms: number): Promise<TlsResult> {
  const tlsSocket = tls.connect({
    socket,
    host,
    servername: net.isIP(host) ? undefined : host,
    ca,
    rejectUnauthorized: false, // decided below, so that the reason can be reported
    ALPNProtocols: ['http/1.1'],
  });
  return bounded(
    ms,
    () =>
      new Promise<TlsResult>((ok, fail) => {
        tlsSocket.once('secureConnect', () => {
          tlsSocket.off('error', fail);
          tlsSocket.on('error', () => undefined); // later errors surface through the HTTP request
          // Node reports the verification failure as a code string (typed as Error)
          const err: unknown = tlsSocket.authorizationError;
          const error = !err ? '' : typeof err === 'string' ? err : String((err as NodeJS.ErrnoException).code ?? (err as Error).message);
          ok({ socket: tlsSocket, authorized: tlsSocket.authorized, error, cert: tlsSocket.getPeerCertificate() });
        });
        tlsSocket.once('error', fail);
      }),
    () => tlsSocket.destroy(),
  );
}

export interface ProbeAnswer {
  status: number;
  location: string;
  firstLine: string;
  lines: number;
}

/** GET `path` over an established socket (plain or TLS); reads at most 64 KiB of the body. */
export function httpGet(socket: net.Socket, hostHeader: string, path: string, ms: number, proxyAuth?: string): Promise<ProbeAnswer> {
  let req: http.ClientRequest | null = null;
  return bounded(
    ms,
    () =>
      new Promise<ProbeAnswer>((ok, fail) => {
        const headers: Record<string, string> = { host: hostHeader, 'user-agent': 'gomodgate-doctor', accept: '*/*', connection: 'close' };
        if (proxyAuth) headers['proxy-authorization'] = proxyAuth;
        req = http.request({ method: 'GET', path, headers, createConnection: () => socket });
        req.once('error', fail);
        req.once('response', (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          const done = () => {
            const body = Buffer.concat(chunks).toString('utf8');
            const firstLine = (body.split('\n').find((l) => l.trim() !== '') ?? '').replace(/[^\x20-\x7e]/g, ' ').trim().slice(0, 120);
            ok({ status: res.statusCode ?? 0, location: String(res.headers.location ?? ''), firstLine, lines: body.split('\n').filter((l) => l.trim() !== '').length });
          };
          res.on('data', (c: Buffer) => {
            if (size < 65_536) chunks.push(c);
            size += c.length;
            if (size >= 65_536) {
              res.destroy();
              done();
            }
          });
          res.once('end', done);
          res.once('error', fail);
        });
        req.end();
      }),
    () => req?.destroy(),
  );
}

/** CONNECT host:port through an HTTP egress proxy; resolves with the tunnel socket, or the proxy's status. */
export function connectTunnel(proxy: URL, host: string, port: number, ms: number): Promise<{ socket: net.Socket } | { status: number; firstLine: string }> {
  const held: { socket?: net.Socket } = {};
  return bounded(ms, async () => {
    const socket = await tcpConnect(hostOf(proxy), portOf(proxy), ms);
    held.socket = socket;
    const authority = net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
    const auth = proxyAuthorization(proxy);
    socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth ? `Proxy-Authorization: ${auth}\r\n` : ''}\r\n`);
    return new Promise((ok, fail) => {
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > 16_384) fail(new Error('the egress proxy sent an over-long response head'));
          return;
        }
        socket.off('data', onData);
        socket.off('error', fail);
        socket.off('end', onEnd);
        socket.pause();
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head.toString('latin1'))?.[1] ?? 0);
        if (status === 200) {
          const rest = head.subarray(end + 4);
          if (rest.length) socket.unshift(rest);
          ok({ socket });
          return;
        }
        const body = head.subarray(end + 4).toString('utf8');
        socket.destroy();
        ok({ status, firstLine: (body.split('\n').find((l) => l.trim() !== '') ?? '').replace(/[^\x20-\x7e]/g, ' ').trim().slice(0, 120) });
      };
      const onEnd = () => fail(Object.assign(new Error('the egress proxy closed the connection'), { code: 'ECONNRESET' }));
      socket.on('data', onData);
      socket.once('error', fail);
      socket.once('end', onEnd);
    });
  }, () => held.socket?.destroy());
}

export function proxyAuthorization(proxy: URL): string {
  if (!proxy.username) return '';
  return 'Basic ' + Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64');
}

export function stepCode(err: unknown): string {
  return err instanceof StepTimeout ? 'TIMEOUT' : errorCode(err);
}
