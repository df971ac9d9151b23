// An https.Agent whose connections go through an HTTP proxy's CONNECT tunnel (what HTTPS_PROXY makes the go
// command do): CONNECT host:443 to the proxy, then TLS inside the tunnel with the agent's servername and CA.
// Keep-alive and pooling are the stock Agent's; TLS sessions are never resumed (as the go command's default
// transport), so with keepAlive off every request pays a full handshake.
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';

export interface TunnelOptions extends https.AgentOptions {
  proxyHost: string;
  proxyPort: number;
  /** Name asked for in CONNECT and sent as SNI. */
  servername: string;
  ca: string;
}

export class ConnectTunnelAgent extends https.Agent {
  constructor(private readonly tunnel: TunnelOptions) {
    super({ ...tunnel, maxCachedSessions: 0 });
  }

  override createConnection(_options: https.RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const done = callback ?? (() => undefined);
    const { proxyHost, proxyPort, servername, ca } = this.tunnel;
    const req = http.request({ host: proxyHost, port: proxyPort, method: 'CONNECT', path: `${servername}:443`, headers: { host: `${servername}:443` }, agent: false });
    req.setTimeout(10_000, () => req.destroy(new Error('CONNECT timed out')));
    req.once('connect', (res, socket, head) => {
      req.setTimeout(0);
      if (res.statusCode !== 200) {
        socket.destroy();
        done(new Error(`CONNECT ${servername}:443 answered ${res.statusCode}`), socket);
        return;
      }
      if (head.length) socket.unshift(head);
      done(null, tls.connect({ socket, servername, ca, rejectUnauthorized: true }));
    });
    req.once('error', (err) => done(err, req.socket ?? (null as unknown as Duplex)));
    req.end();
    return undefined;
  }
}
