// HTTPS client towards upstream Go proxies and checksum databases. Always verifies the upstream certificate
// (system roots + NODE_EXTRA_CA_CERTS + --upstream-ca) for the host name the client asked for, optionally
// connecting to the client's original destination address instead of resolving the name again.
// Follows redirects (never https → http), bounds every wait, and turns every failure into a GateError
// whose reason is safe to show a client; the technical cause stays in `cause` for the admin log.
import https from 'node:https';
import http from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { isIP } from 'node:net';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { GateError, describeCause } from '../errors.js';
import { egressProxyFor, TunnelingAgent, type EgressSettings } from './egress-proxy.js';

export interface UpstreamTarget {
  /** Base URL of the Go proxy or checksum DB, e.g. https://proxy.golang.org or https://mirror.corp/goproxy */
  base: URL;
  /** Connect here (the client's original destination) and verify the certificate for base.hostname. */
  connectTo?: { address: string; port: number };
}

export interface UpstreamResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  /** The URL that finally answered (after redirects). */
  url: string;
}

const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt'];
const TLS_FAILURE = /CERT|SELF_SIGNED|ALTNAME|UNABLE_TO_VERIFY|ERR_SSL|ERR_TLS|EPROTO/;
const MAX_REDIRECTS = 5;

/** The trusted roots for upstream TLS. Throws CONFIG_INVALID for an unreadable --upstream-ca file. */
export function loadTrustedRoots(extraFiles: readonly string[]): string[] {
  const roots = [...rootCertificates];
  for (const f of SYSTEM_BUNDLES) if (existsSync(f)) roots.push(readFileSync(f, 'utf8'));
  const fromEnv = process.env.NODE_EXTRA_CA_CERTS;
  const files = fromEnv ? [fromEnv, ...extraFiles] : [...extraFiles];
  for (const f of files) {
    try {
      const pem = readFileSync(f, 'utf8');
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
      roots.push(pem);
    } catch (err) {
      throw new GateError('CONFIG_INVALID', `upstreamCa file ${f} is not usable: ${describeCause(err)}`);
    }
  }
  return roots;
}

export class UpstreamClient {
  private readonly httpsAgent: https.Agent;
  private readonly httpAgent: http.Agent;
  private readonly tunnels = new Map<string, TunnelingAgent>();
  private readonly agentOptions: https.AgentOptions;

  constructor(private readonly opts: { trustedRoots: string[]; timeoutMs: number; maxSocketsPerHost?: number; egress?: EgressSettings }) {
    const common = { keepAlive: true, maxSockets: opts.maxSocketsPerHost ?? 32, maxFreeSockets: 8 };
    this.agentOptions = { ...common, ca: opts.trustedRoots, rejectUnauthorized: true };
    this.httpsAgent = new https.Agent(this.agentOptions);
    this.httpAgent = new http.Agent(common);
  }

  private tunnelFor(proxy: URL): TunnelingAgent {
    let agent = this.tunnels.get(proxy.href);
    if (!agent) {
      agent = new TunnelingAgent(proxy, this.agentOptions, this.opts.timeoutMs);
      this.tunnels.set(proxy.href, agent);
    }
    return agent;
  }

  /** GET (or HEAD) `path` relative to the target's base. Resolves on response headers, any status. */
  async request(target: UpstreamTarget, path: string, method: 'GET' | 'HEAD' = 'GET'): Promise<UpstreamResponse> {
    const basePath = target.base.pathname.replace(/\/+$/, '');
    let url = new URL(target.base.origin + basePath + path);
    let connectTo = target.connectTo;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const res = await this.once(url, connectTo, method);
      const location = res.headers.location;
      if (res.status >= 300 && res.status < 400 && res.status !== 304 && location) {
        res.body.resume(); // drain and reuse the socket
        const next = new URL(location, url);
        if (url.protocol === 'https:' && next.protocol !== 'https:') {
          throw new GateError('UPSTREAM_UNAVAILABLE', `upstream ${url.hostname} redirected to a non-https URL; refused`);
        }
        if (next.host !== url.host) connectTo = undefined; // a new host is resolved by name
        url = next;
        continue;
      }
      return res;
    }
    throw new GateError('UPSTREAM_UNAVAILABLE', `upstream ${target.base.hostname} redirected more than ${MAX_REDIRECTS} times`);
  }

  private once(url: URL, connectTo: UpstreamTarget['connectTo'], method: string): Promise<UpstreamResponse> {
    const isHttps = url.protocol === 'https:';
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const proxy = this.opts.egress ? egressProxyFor(url, this.opts.egress) : null;
    const headers: Record<string, string> = { host: url.host, 'user-agent': 'gomodgate', accept: '*/*' };
    let options: https.RequestOptions;
    if (proxy && isHttps) {
      // through the egress proxy by name: the tunnel goes where the proxy resolves the upstream
      options = { method, host, port: url.port || 443, path: url.pathname + url.search, servername: isIP(host) ? undefined : host, headers, agent: this.tunnelFor(proxy) };
    } else if (proxy) {
      if (proxy.username) headers['proxy-authorization'] = `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`;
      options = { method, host: proxy.hostname.replace(/^\[|\]$/g, ''), port: proxy.port || 80, path: url.href, headers, agent: this.httpAgent };
    } else {
      options = {
        method,
        host: connectTo?.address ?? host,
        port: connectTo?.port ?? (url.port || (isHttps ? 443 : 80)),
        path: url.pathname + url.search,
        servername: isHttps && !isIP(host) ? host : undefined,
        headers,
        agent: isHttps ? this.httpsAgent : this.httpAgent,
      };
    }
    return new Promise((resolve, reject) => {
      const req = (isHttps ? https : http).request(options);
      req.setTimeout(this.opts.timeoutMs, () => {
        req.destroy(new GateError('UPSTREAM_TIMEOUT', `upstream ${host} did not answer within ${Math.round(this.opts.timeoutMs / 1000)} s`));
      });
      req.once('response', (body) => {
        resolve({ status: body.statusCode ?? 0, headers: body.headers, body, url: url.toString() });
      });
      req.once('error', (err) => reject(toGateError(err, host)));
      req.end();
    });
  }

  close(): void {
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
    for (const t of this.tunnels.values()) t.destroy();
  }
}

export function toGateError(err: unknown, host: string): GateError {
  if (err instanceof GateError) return err;
  const code = String((err as NodeJS.ErrnoException)?.code ?? '');
  if (code === 'ETIMEDOUT') return new GateError('UPSTREAM_TIMEOUT', `upstream ${host} timed out`, { cause: err });
  if (TLS_FAILURE.test(code)) {
    return new GateError('UPSTREAM_UNAVAILABLE', `upstream ${host} failed TLS verification; the gateway refuses to use it`, { cause: err });
  }
  if (code === 'EPROXY') return new GateError('UPSTREAM_UNAVAILABLE', `the egress proxy refused the tunnel to upstream ${host}`, { cause: err });
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new GateError('UPSTREAM_UNAVAILABLE', `upstream ${host} cannot be resolved from the gateway`, { cause: err });
  }
  return new GateError('UPSTREAM_UNAVAILABLE', `upstream ${host} is unreachable from the gateway`, { cause: err });
}
