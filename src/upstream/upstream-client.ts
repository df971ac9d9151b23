// HTTPS client towards upstream Go proxies and checksum databases. Always verifies the upstream certificate
// (system roots + NODE_EXTRA_CA_CERTS + --upstream-ca) for the host name the client asked for, optionally
// connecting to the client's original destination address instead of resolving the name again.
// Follows redirects (never https → http), bounds every wait, and turns every failure into a GateError
// whose reason is safe to show a client; the technical cause stays in `cause` for the admin log.
// Connections are kept and reused: HTTP/2 (one multiplexed session per route, h2-sessions.ts) where a direct
// upstream offers it by ALPN, else keep-alive HTTP/1.1; through an egress proxy and after a redirect to
// another host, HTTP/1.1 (the tunnel agent, the guarded resolver).
import https from 'node:https';
import http from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { createSecureContext, rootCertificates, TLSSocket } from 'node:tls';
import { isIP } from 'node:net';
import { CidrSet } from '../cidr.js';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { cutAtDeadline, discardBody, readUpTo, type Upstream, type UpstreamResponse, type UpstreamTarget } from './upstream.js';
import type { IncomingMessage } from 'node:http';
import { GateError, describeCause } from '../errors.js';
import { egressProxyFor, TunnelingAgent, type EgressSettings } from './egress-proxy.js';
import { H2Sessions } from './h2-sessions.js';
import type { ClientHttp2Session } from 'node:http2';
import { redactUrl } from '../redact.js';

export type { UpstreamResponse, UpstreamTarget };

const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt'];
const TLS_FAILURE = /CERT|SELF_SIGNED|ALTNAME|UNABLE_TO_VERIFY|ERR_SSL|ERR_TLS|EPROTO/;
const MAX_REDIRECTS = 5;

/** Where a redirect may never lead: loopback, link-local, unspecified (the gateway's own services); IPv4-mapped
 *  IPv6 forms of them too (CidrSet matches those as IPv4). */
const FORBIDDEN_REDIRECT_TARGETS = new CidrSet(['127.0.0.0/8', '169.254.0.0/16', '0.0.0.0/8', '::1', '::', 'fe80::/10']);

export function isForbiddenRedirectAddress(address: string, isGatewayAddress: (a: string) => boolean = () => false): boolean {
  if (!isIP(address)) return true;
  return FORBIDDEN_REDIRECT_TARGETS.has(address) || isGatewayAddress(address);
}

/** How to reach an upstream over HTTPS: where to connect, the name to verify, and the agent (direct or tunnel). */
export interface UpstreamRoute {
  host: string;
  port: number;
  servername: string | undefined;
  hostHeader: string;
  agent: https.Agent;
}

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
      throw new GateError('CONFIG_INVALID', `the --upstream-ca file ${f} (upstreamCa in the config file) is not usable: ${describeCause(err)}`);
    }
  }
  return roots;
}

export class UpstreamClient implements Upstream {
  private readonly httpsAgent: https.Agent;
  private readonly httpAgent: http.Agent;
  private readonly tunnels = new Map<string, TunnelingAgent>();
  private readonly agentOptions: https.AgentOptions;
  private readonly h2: H2Sessions | null;

  constructor(private readonly opts: {
    trustedRoots: string[];
    /** Idle bound: no response headers, or no body bytes, for this long. */
    timeoutMs: number;
    maxSocketsPerHost?: number;
    egress?: EgressSettings;
    /** One of the gateway's own addresses: redirects never lead there. */
    isGatewayAddress?: (address: string) => boolean;
    /** Use HTTP/2 with upstreams that offer it (default true). */
    http2?: boolean;
    /** How long a pooled HTTP/1.1 connection may sit idle before it is closed (default IDLE_SOCKET_MS). */
    idleSocketMs?: number;
  }) {
    // an idle pooled connection is closed after IDLE_SOCKET_MS: one a NAT or firewall dropped without a word
    // would otherwise take the next request's whole timeout (a 504) to find out
    const common = { keepAlive: true, maxSockets: opts.maxSocketsPerHost ?? 32, maxFreeSockets: 8, timeout: opts.idleSocketMs ?? IDLE_SOCKET_MS };
    // The trusted roots as one TLS context, built once, never as a `ca` option: with `ca`, every new connection
    // parsed all ~300 roots again, and https.Agent joined them into each request's pool key (a string of
    // ~400 KB built and hashed per request: 40% of the gateway's CPU in a cold go mod download).
    const secureContext = createSecureContext({ ca: opts.trustedRoots });
    this.agentOptions = { ...common, secureContext, rejectUnauthorized: true };
    this.httpsAgent = new https.Agent(this.agentOptions);
    this.httpAgent = new http.Agent(common);
    this.h2 = opts.http2 === false ? null : new H2Sessions({ secureContext, connectTimeoutMs: opts.timeoutMs });
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
    url.username = target.base.username; // credentials of an --upstream URL (sent as Basic auth, never logged)
    url.password = target.base.password;
    let connectTo = target.connectTo;
    let redirected = false;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      // the guard is for where a redirect leads: the origin asked for (configured, or where the client was
      // going) is trusted as it was, wherever it lives; refusing it broke a mirror on the gateway's own host
      const res = await this.once(url, redirected && !connectTo && url.host !== target.base.host, connectTo, method);
      const location = res.headers.location;
      if (res.status >= 300 && res.status < 400 && res.status !== 304 && location) {
        discardBody(res);
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw new GateError('UPSTREAM_UNAVAILABLE', `upstream ${url.hostname} redirected to an invalid URL; refused`, { upstreamUrl: redactUrl(url.toString()) });
        }
        if (next.protocol !== 'https:') {
          throw new GateError('UPSTREAM_UNAVAILABLE', `upstream ${url.hostname} redirected to a non-https URL; refused`, { upstreamUrl: redactUrl(url.toString()) });
        }
        // userinfo a Location names itself is refused; a relative one (or one without an authority) inherits ours
        // from `url`, and the configured credentials stay with their own origin, as the go command's client keeps them
        const ownAuthority = /^(?:[a-z][a-z0-9+.-]*:)?\/\//i.test(location.trimStart());
        if (ownAuthority && (next.username || next.password)) {
          throw new GateError('UPSTREAM_UNAVAILABLE', `upstream ${url.hostname} redirected to a URL with credentials; refused`, { upstreamUrl: redactUrl(url.toString()) });
        }
        const sameOrigin = next.protocol === url.protocol && next.host === url.host;
        next.username = sameOrigin ? url.username : '';
        next.password = sameOrigin ? url.password : '';
        if (next.host !== url.host) connectTo = undefined; // a new host is resolved by name, and checked
        redirected = true;
        url = next;
        continue;
      }
      return res;
    }
    throw new GateError('UPSTREAM_UNAVAILABLE', `upstream ${target.base.hostname} redirected more than ${MAX_REDIRECTS} times`);
  }

  /**
   * GET a small object whole: any status, the body bounded to maxBytes (over it: UPSTREAM_UNAVAILABLE) and in
   * time to deadlineMs from the request (after it: UPSTREAM_TIMEOUT): the idle bound alone let a body that
   * trickles in a byte at a time hold its waiting clients for as long as maxBytes times the idle timeout.
   */
  async getSmall(target: UpstreamTarget, path: string, maxBytes: number, deadlineMs: number): Promise<{ status: number; body: Buffer; url: string }> {
    const started = Date.now();
    const res = await this.request(target, path);
    const disarm = cutAtDeadline(res, deadlineMs - (Date.now() - started), `upstream ${target.base.hostname} took longer than ${Math.round(deadlineMs / 1000)} s to send ${path}`);
    const tooLong = () => new GateError('UPSTREAM_UNAVAILABLE', `upstream ${target.base.hostname} sent more than ${maxBytes} bytes for ${path}`, { upstreamUrl: redactUrl(res.url) });
    try {
      return { status: res.status, body: await readUpTo(res.body, maxBytes, tooLong), url: res.url };
    } catch (err) {
      throw toGateError(err, target.base.hostname, new URL(res.url));
    } finally {
      disarm();
    }
  }

  /** The route to an HTTPS upstream: through the egress proxy by name when one applies, else direct. */
  routeFor(url: URL, connectTo?: UpstreamTarget['connectTo']): UpstreamRoute {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const servername = isIP(host) ? undefined : host;
    const proxy = this.opts.egress ? egressProxyFor(url, this.opts.egress) : null;
    if (proxy) {
      // the tunnel goes where the proxy resolves the upstream
      return { host, port: Number(url.port || 443), servername, hostHeader: url.host, agent: this.tunnelFor(proxy) };
    }
    return { host: connectTo?.address ?? host, port: connectTo?.port ?? Number(url.port || 443), servername, hostHeader: url.host, agent: this.httpsAgent };
  }

  /** A DNS lookup that refuses the gateway's own, loopback and link-local addresses (for redirect targets). */
  private readonly guardedLookup = (hostname: string, options: object, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const list = addresses as LookupAddress[];
      const bad = list.find((a) => isForbiddenRedirectAddress(a.address, this.opts.isGatewayAddress));
      if (bad) {
        const refused: NodeJS.ErrnoException = new Error(`redirect target ${hostname} resolves to ${bad.address}, which the gateway never fetches from`);
        refused.code = 'EREDIRECTREFUSED';
        return callback(refused, []);
      }
      if ((options as { all?: boolean }).all) return callback(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };

  private async once(url: URL, guardAddress: boolean, connectTo: UpstreamTarget['connectTo'], method: string, retried = false): Promise<UpstreamResponse> {
    const isHttps = url.protocol === 'https:';
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (guardAddress && isIP(host) && isForbiddenRedirectAddress(host, this.opts.isGatewayAddress)) {
      throw new GateError('UPSTREAM_UNAVAILABLE', `upstream redirected to ${host}, which the gateway never fetches from; refused`, { upstreamUrl: redactUrl(url.toString()) });
    }
    const proxy = this.opts.egress ? egressProxyFor(url, this.opts.egress) : null;
    const headers: Record<string, string> = { host: url.host, 'user-agent': 'gomodgate', accept: '*/*' };
    // credentials in an --upstream URL (https://user:pass@mirror/...) are sent as the go command sends them:
    // Basic auth to that host only (a redirect to another host carries none)
    if (url.username || url.password) {
      headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    }
    if (isHttps && !proxy && !guardAddress && this.h2) {
      const port = connectTo?.port ?? Number(url.port || 443);
      let session: ClientHttp2Session | TLSSocket | null;
      try {
        session = await this.h2.session({ host: connectTo?.address ?? host, port, servername: isIP(host) ? undefined : host });
      } catch (err) {
        throw toGateError(err, host, url);
      }
      // HTTP/1.1 only: the connection that found out is closed and the request goes to the keep-alive agent.
      // (Handing that socket to http.request through createConnection cut large bodies mid-way: a 12 MB zip
      // ended in ECONNRESET 'aborted' in crash-safety; one extra handshake per route every 10 minutes is cheap.)
      if (session instanceof TLSSocket) session.destroy();
      else if (session) return this.onceH2(session, url, headers, method, host);
    }
    let options: https.RequestOptions;
    if (proxy && isHttps) {
      const r = this.routeFor(url, connectTo);
      options = { method, host: r.host, port: r.port, path: url.pathname + url.search, servername: r.servername, headers, agent: r.agent };
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
        lookup: guardAddress ? this.guardedLookup : undefined,
      };
    }
    return new Promise((resolve, reject) => {
      const req = (isHttps ? https : http).request(options);
      const timedOut = () => new GateError('UPSTREAM_TIMEOUT', `upstream ${host} did not answer within ${Math.round(this.opts.timeoutMs / 1000)} s`, { upstreamUrl: redactUrl(url.toString()) });
      // idle bound on a connected socket: Node starts this timer only at 'connect'
      req.setTimeout(this.opts.timeoutMs, () => req.destroy(timedOut()));
      // so the head of the answer has its own bound from now: a new connection whose packets are dropped (a
      // firewall, a dead host) or a request queued for one of the agent's sockets waited until the client's
      // own request timeout (60 s), and the client got no answer at all
      const headDeadline = setTimeout(() => req.destroy(timedOut()), this.opts.timeoutMs);
      req.once('close', () => clearTimeout(headDeadline));
      let response: IncomingMessage | null = null;
      req.once('response', (body) => {
        clearTimeout(headDeadline);
        response = body;
        resolve({ status: body.statusCode ?? 0, headers: body.headers, body, url: url.toString() });
      });
      req.on('error', (err) => {
        // a pooled connection the upstream closed while it sat idle fails as it is reused, before any answer: the
        // request never reached the upstream, so it goes again, once, on a new connection (as Go's client does)
        if (!response && req.reusedSocket && !retried && isClosedConnection(err)) {
          dropIdleSockets(options.agent, options);
          return resolve(this.once(url, guardAddress, connectTo, method, true));
        }
        if (!response) return reject(toGateError(err, host, url));
        // after the headers: Node reports bytes beyond Content-Length (HPE_*) here, before the body's 'end';
        // the body is then not the upstream's whole answer, so it must fail rather than end cleanly
        const code = String((err as NodeJS.ErrnoException).code ?? '');
        const reason = code.startsWith('HPE_') ? `upstream ${host} sent a malformed response (more bytes than its Content-Length)` : `upstream ${host} failed mid-response`;
        response.destroy(new GateError('UPSTREAM_UNAVAILABLE', reason, { cause: err, upstreamUrl: redactUrl(url.toString()) }));
      });
      req.end();
    });
  }

  /** One request as a stream of the route's HTTP/2 session: the same bounds and errors as over HTTP/1.1. */
  private onceH2(session: ClientHttp2Session, url: URL, headers: Record<string, string>, method: string, host: string): Promise<UpstreamResponse> {
    const { host: authority, ...rest } = headers;
    return new Promise((resolve, reject) => {
      let stream: ReturnType<ClientHttp2Session['request']>;
      try {
        stream = session.request({ ':method': method, ':path': url.pathname + url.search, ':authority': authority!, ':scheme': 'https', ...rest }, { endStream: true });
      } catch (err) {
        this.h2!.retire(session); // closing or gone: the next request opens a new session
        this.h2!.streamEnded(session); // the stream reserved for this request was never made
        reject(toGateError(err, host, url));
        return;
      }
      let responded = false;
      stream.setTimeout(this.opts.timeoutMs, () => {
        // this stream alone fails; its session takes no new streams (a stalled connection is replaced)
        this.h2!.retire(session);
        stream.destroy(new GateError('UPSTREAM_TIMEOUT', `upstream ${host} did not answer within ${Math.round(this.opts.timeoutMs / 1000)} s`, { upstreamUrl: redactUrl(url.toString()) }));
      });
      stream.once('response', (h2headers) => {
        responded = true;
        const out: IncomingMessage['headers'] = {};
        for (const [k, v] of Object.entries(h2headers)) if (!k.startsWith(':')) (out as Record<string, unknown>)[k] = v;
        resolve({ status: Number(h2headers[':status'] ?? 0), headers: out, body: stream, url: url.toString() });
      });
      stream.on('error', (err) => {
        if (!responded) reject(toGateError(err, host, url));
        // after the headers, the body (this stream) fails with the error and its reader sees it
      });
      stream.once('close', () => {
        this.h2!.streamEnded(session);
        if (!responded) reject(new GateError('UPSTREAM_UNAVAILABLE', `upstream ${host} closed the stream before answering`, { upstreamUrl: redactUrl(url.toString()) }));
      });
    });
  }

  close(): void {
    this.h2?.close();
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
    for (const t of this.tunnels.values()) t.destroy();
  }
}

/** How long a pooled upstream connection may sit idle before it is closed. */
const IDLE_SOCKET_MS = 30_000;

/** The errors of a request written on a connection the other end had already closed. */
function isClosedConnection(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED';
}

/**
 * Closes the agent's idle connections to the origin of `options`: one of them was found closed by the upstream,
 * and the others, as old, likely are too (an upstream restart closes them all), so the retry opens a new one.
 */
function dropIdleSockets(agent: https.RequestOptions['agent'], options: https.RequestOptions): void {
  if (!(agent instanceof http.Agent)) return;
  const name = agent.getName(options);
  for (const socket of agent.freeSockets[name] ?? []) socket.destroy();
}

export function toGateError(err: unknown, host: string, url?: URL): GateError {
  if (err instanceof GateError) return err;
  const code = String((err as NodeJS.ErrnoException)?.code ?? '');
  const upstreamUrl = url ? redactUrl(url.toString()) : undefined;
  if (code === 'EREDIRECTREFUSED') return new GateError('UPSTREAM_UNAVAILABLE', `upstream redirected to ${host}, which resolves to an address the gateway never fetches from; refused`, { cause: err, upstreamUrl });
  if (code === 'ETIMEDOUT') return new GateError('UPSTREAM_TIMEOUT', `upstream ${host} timed out`, { cause: err, upstreamUrl });
  if (TLS_FAILURE.test(code)) {
    return new GateError('UPSTREAM_UNAVAILABLE', `upstream ${host} failed TLS verification; the gateway refuses to use it`, { cause: err, upstreamUrl });
  }
  if (code === 'EPROXY') return new GateError('UPSTREAM_UNAVAILABLE', `the egress proxy refused the tunnel to upstream ${host}`, { cause: err, upstreamUrl });
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new GateError('UPSTREAM_UNAVAILABLE', `upstream ${host} cannot be resolved from the gateway`, { cause: err, upstreamUrl });
  }
  return new GateError('UPSTREAM_UNAVAILABLE', `upstream ${host} is unreachable from the gateway`, { cause: err, upstreamUrl });
}
