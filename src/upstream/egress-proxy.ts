// Reaching upstreams through a corporate egress proxy: which proxy applies to a URL (--egress-proxy, else the
// usual HTTPS_PROXY/HTTP_PROXY unless NO_PROXY matches), and an https.Agent that opens each upstream TLS
// connection inside an HTTP CONNECT tunnel. TLS is still verified end to end for the upstream's name; the
// proxy only sees the host:port. Proxy credentials (user:pass@ in the URL) are sent as Proxy-Authorization
// and never logged.
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';

export interface EgressSettings {
  /** --egress-proxy; '' = take HTTPS_PROXY / HTTP_PROXY from the environment */
  egressProxy: string;
  env: NodeJS.ProcessEnv;
}

function envValue(env: NodeJS.ProcessEnv, name: string): string {
  return env[name] ?? env[name.toLowerCase()] ?? '';
}

/** NO_PROXY semantics as curl and Go read them: host suffixes, leading dots, '*', optional ports. */
export function bypassesProxy(host: string, port: number, noProxy: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  for (const raw of noProxy.split(/[,\s]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    const m = /^(.*?)(?::(\d+))?$/.exec(entry.replace(/^\[|\]$/g, ''))!;
    const name = m[1]!.replace(/^\*?\./, '');
    if (m[2] && Number(m[2]) !== port) continue;
    if (h === name || h.endsWith(`.${name}`)) return true;
  }
  return false;
}

/** The proxy to use for this upstream URL, or null for a direct connection. */
export function egressProxyFor(url: URL, settings: EgressSettings): URL | null {
  const configured = settings.egressProxy || (url.protocol === 'https:' ? envValue(settings.env, 'HTTPS_PROXY') : envValue(settings.env, 'HTTP_PROXY'));
  if (!configured) return null;
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  if (!settings.egressProxy && bypassesProxy(url.hostname, port, envValue(settings.env, 'NO_PROXY'))) return null;
  try {
    return new URL(configured.includes('://') ? configured : `http://${configured}`);
  } catch {
    return null;
  }
}

/** An https.Agent whose connections are CONNECT tunnels through `proxy`. */
export class TunnelingAgent extends https.Agent {
  constructor(
    private readonly proxy: URL,
    options: https.AgentOptions,
    private readonly connectTimeoutMs: number,
  ) {
    super(options);
  }

  override createConnection(args: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): undefined {
    const options = args as tls.ConnectionOptions & { host?: string; port?: number; servername?: string };
    const fail = (err: Error) => callback?.(err, undefined as unknown as Duplex);
    const target = `${options.servername || options.host}:${options.port ?? 443}`;
    const headers: Record<string, string> = { host: target };
    if (this.proxy.username) {
      const creds = `${decodeURIComponent(this.proxy.username)}:${decodeURIComponent(this.proxy.password)}`;
      headers['proxy-authorization'] = `Basic ${Buffer.from(creds).toString('base64')}`;
    }
    const req = http.request({
      host: this.proxy.hostname.replace(/^\[|\]$/g, ''),
      port: Number(this.proxy.port || 80),
      method: 'CONNECT',
      path: target,
      headers,
      timeout: this.connectTimeoutMs,
    });
    req.once('timeout', () => req.destroy(Object.assign(new Error(`egress proxy ${this.proxy.host} did not open a tunnel in time`), { code: 'ETIMEDOUT' })));
    req.once('error', fail);
    req.once('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        fail(Object.assign(new Error(`egress proxy ${this.proxy.host} refused the tunnel to ${target}: ${res.statusCode}`), { code: 'EPROXY' }));
        return;
      }
      const secure = tls.connect({ ...options, socket, servername: options.servername || options.host });
      callback?.(null, secure);
    });
    req.end();
    return undefined;
  }
}
