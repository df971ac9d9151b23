// A client of the gateway's explicit proxy: opens `CONNECT host:443` tunnels on the proxy port and speaks TLS
// (trusting only the CA it is given) through them, so a test reaches the same TLS terminator and request handler
// as the transparent listener without iptables. ConnectAgent plugs this into node:https (keep-alive works);
// openTlsViaConnect gives the raw TLS socket for tests that misbehave on purpose. Every wait is bounded.
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { Duplex } from 'node:stream';

export interface TunnelOptions {
  proxyPort: number;
  proxyHost?: string; // default 127.0.0.1
  host?: string; // the CONNECT target and TLS server name; default proxy.golang.org
  ca: string | Buffer; // the gateway CA
  timeoutMs?: number; // for the tunnel to be established (default 10 s)
  maxVersion?: tls.SecureVersion; // of the TLS over the tunnel (default: Node's, TLS 1.3)
}

/** Sends CONNECT and resolves with the raw socket once the proxy answered 200; rejects otherwise. */
export function openTunnel(o: TunnelOptions): Promise<net.Socket> {
  const host = o.host ?? 'proxy.golang.org';
  return new Promise((resolve, reject) => {
    const raw = net.connect({ host: o.proxyHost ?? '127.0.0.1', port: o.proxyPort });
    let head = '';
    const fail = (err: Error): void => {
      clearTimeout(timer);
      raw.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`CONNECT ${host}:443 not answered within ${o.timeoutMs ?? 10_000} ms`)), o.timeoutMs ?? 10_000);
    raw.once('error', fail);
    raw.once('close', () => fail(new Error(`proxy closed the connection before answering CONNECT: ${JSON.stringify(head)}`)));
    raw.once('connect', () => raw.write(`CONNECT ${host}:443 HTTP/1.1\r\nHost: ${host}:443\r\n\r\n`));
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      raw.off('data', onData);
      raw.removeAllListeners('close');
      raw.off('error', fail);
      clearTimeout(timer);
      if (!/^HTTP\/1\.[01] 200 /.test(head) || end + 4 !== head.length) {
        raw.destroy();
        reject(new Error(`CONNECT refused: ${head.split('\r\n')[0]}`));
        return;
      }
      raw.pause();
      raw.on('error', () => undefined); // from here on the TLS socket over it reports the failures
      resolve(raw);
    };
    raw.on('data', onData);
  });
}

/** A TLS socket over a tunnel, with the TCP socket under it (to reset: `raw.resetAndDestroy()`). */
export type TunnelledTls = tls.TLSSocket & { raw: net.Socket };

/** The TCP socket under a socket this module made (or the socket itself): the one that can send an RST. */
export function rawSocketOf(socket: net.Socket): net.Socket {
  return (socket as Partial<TunnelledTls>).raw ?? socket;
}

/**
 * TLS over the tunnel socket through a JS stream in between: given a net.Socket directly, node:tls takes over its
 * handle, and resetting that handle under the TLS socket then throws (an uncaught "read ECONNRESET" in the test
 * process). With the stream between them, `raw` keeps its own handle and can be reset at any moment.
 */
function tlsOver(raw: net.Socket, o: TunnelOptions): TunnelledTls {
  const between = new Duplex({
    read() {
      raw.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      if (raw.destroyed) return callback(new Error('tunnel closed'));
      raw.write(chunk, () => callback());
    },
    final(callback) {
      raw.end();
      callback();
    },
    destroy(err, callback) {
      raw.destroy();
      callback(err);
    },
  });
  raw.on('data', (c: Buffer) => {
    if (!between.push(c)) raw.pause();
  });
  raw.on('end', () => between.push(null));
  raw.on('close', () => between.destroy());
  return Object.assign(tls.connect({ socket: between, servername: o.host ?? 'proxy.golang.org', ca: o.ca, maxVersion: o.maxVersion }), { raw });
}

/** A TLS connection to the intercepted host through a tunnel; resolves after the handshake. */
export async function openTlsViaConnect(o: TunnelOptions): Promise<TunnelledTls> {
  const raw = await openTunnel(o);
  return await new Promise((resolve, reject) => {
    const s = tlsOver(raw, o);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('TLS handshake through the tunnel timed out'));
    }, o.timeoutMs ?? 10_000);
    s.once('secureConnect', () => {
      clearTimeout(timer);
      s.off('error', reject);
      // the caller misbehaves on purpose (resets, half requests): the errors that follow are expected
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      raw.destroy();
      reject(err);
    });
  });
}

type CreateConnection = (options: unknown, callback: (err: Error | null, socket?: net.Socket) => void) => net.Socket | undefined;

/**
 * An https.Agent whose connections are CONNECT tunnels through the gateway's proxy port. Use it with URLs of the
 * intercepted host (https://proxy.golang.org/...). `connections` counts the tunnels it opened.
 */
export class ConnectAgent extends https.Agent {
  connections = 0;

  constructor(private readonly tunnel: TunnelOptions, options: https.AgentOptions = {}) {
    super(options);
    (this as unknown as { createConnection: CreateConnection }).createConnection = (_options, callback) => {
      this.connections++;
      openTunnel(this.tunnel).then(
        (raw) => callback(null, tlsOver(raw, this.tunnel)),
        (err: Error) => callback(err),
      );
      return undefined;
    };
  }
}
