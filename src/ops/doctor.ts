// `gomodgate doctor`: the troubleshooting chapters of the "go mod download fails behind a corporate network"
// guide, automated against the gateway's own configuration. For each upstream it walks the layers in order
// (DNS, TCP, TLS with the gateway's trust, an HTTP probe of a known module path, through the egress proxy when
// one is configured) and explains a failure in one line plus one hint; locally it checks the CA, the data
// directory, the listeners and the iptables REDIRECT rules. Checks are data ({ id, title, ok, detail, hint }).
// It never changes anything: the only write is a temp file in the data directory, removed at once.
import { execFile } from 'node:child_process';
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { accessSync, constants, existsSync, readFileSync, statSync, unlinkSync, writeFileSync, statfsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import tls from 'node:tls';
import type { GatewayConfig } from '../config/load.js';
import { describeCause } from '../errors.js';
import { escapePath } from '../goproxy/module-path.js';
import { caPaths } from '../intercept/ca-store.js';
import { openDatabase } from '../store/database.js';
import { loadTrustedRoots } from '../upstream/upstream-client.js';

export type CheckResult = boolean | 'warn';

export interface DoctorCheck {
  /** Stable identifier: the check kind, and for per-target checks `@` and the target (e.g. upstream-tcp@https://proxy.golang.org). */
  id: string;
  title: string;
  /** true = fine, 'warn' = worth a look but not a failure, false = something is wrong. */
  ok: CheckResult;
  /** One line: what was found. */
  detail: string;
  /** One line: what to check or do ('' when there is nothing to do). */
  hint: string;
}

export interface DoctorOptions {
  config: GatewayConfig;
  /** Module path whose @v/list is fetched from each proxy upstream; default golang.org/x/text. */
  probeModule?: string;
  /** Bound of each network step (DNS, TCP, TLS, CONNECT, HTTP); default 5000 ms. */
  timeoutMs?: number;
  /** Environment for HTTPS_PROXY / NO_PROXY when config.egressProxy is empty; default process.env. */
  env?: NodeJS.ProcessEnv;
}

export const DEFAULT_PROBE_MODULE = 'golang.org/x/text';
export const DEFAULT_PROBE_TIMEOUT_MS = 5000;
const CA_WARN_DAYS = 30;
const UPSTREAM_CERT_WARN_DAYS = 7;
const LOW_DISK_BYTES = 1024 ** 3;
const DAY_MS = 86_400_000;

// ---------------------------------------------------------------------------------------------- targets

export interface ProbeTarget {
  /** Base URL of the upstream (a Go proxy or a checksum database). */
  url: URL;
  role: 'proxy' | 'sumdb';
  /** Path (with the base path) fetched as the HTTP probe. */
  probePath: string;
}

export interface SumdbSpec {
  name: string;
  url: URL;
}

/** Name and URL of a GOSUMDB-syntax spec "NAME+HASH+KEY [URL]" (URL default https://NAME); null for "off". */
export function parseSumdbSpec(spec: string): SumdbSpec | null {
  const v = spec.trim();
  if (v === 'off') return null;
  const [key, url] = v.split(/\s+/);
  const name = key!.split('+')[0]!;
  return { name, url: new URL(url ?? `https://${name}`) };
}

function basePath(url: URL): string {
  return url.pathname.replace(/\/+$/, '');
}

/** The configured proxy upstreams (GOPROXY syntax, split on , and |), each once; empty when none is set. */
export function proxyTargets(upstream: string, probeModule = DEFAULT_PROBE_MODULE): ProbeTarget[] {
  const modulePath = `/${escapePath(probeModule)}/@v/list`;
  const seen = new Set<string>();
  const out: ProbeTarget[] = [];
  for (const entry of upstream.split(/[,|]/).map((e) => e.trim()).filter((e) => e !== '')) {
    const url = new URL(entry);
    if (seen.has(url.href)) continue;
    seen.add(url.href);
    out.push({ url, role: 'proxy', probePath: basePath(url) + modulePath });
  }
  return out;
}

export function sumdbTarget(sumdb: SumdbSpec): ProbeTarget {
  return { url: sumdb.url, role: 'sumdb', probePath: basePath(sumdb.url) + '/latest' };
}

/**
 * What the gateway contacts with no --upstream: the host the client asked for, i.e. proxy.golang.org (the plain
 * GOPROXY endpoint's default) and the checksum database.
 */
export function defaultTargets(sumdb: SumdbSpec | null, probeModule = DEFAULT_PROBE_MODULE): ProbeTarget[] {
  const out = proxyTargets('https://proxy.golang.org', probeModule);
  if (sumdb) out.push(sumdbTarget(sumdb));
  return out;
}

function targetName(url: URL): string {
  return url.origin + basePath(url);
}

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

function portOf(url: URL): number {
  return Number(url.port || (url.protocol === 'https:' ? 443 : 80));
}

/** NO_PROXY as curl and Go read it: host suffixes, leading dots, '*', optional ports (as src/upstream/egress-proxy.ts). */
function bypassesProxy(host: string, port: number, noProxy: string): boolean {
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

/** The egress proxy for `target`: config.egressProxy, else HTTPS_PROXY (HTTP_PROXY for http URLs) unless NO_PROXY matches. */
export function egressProxyFor(config: Pick<GatewayConfig, 'egressProxy'>, env: NodeJS.ProcessEnv, target: URL): URL | null {
  const pick = (name: string) => env[name] ?? env[name.toLowerCase()] ?? '';
  const configured = config.egressProxy || (target.protocol === 'https:' ? pick('HTTPS_PROXY') : pick('HTTP_PROXY'));
  if (!configured) return null;
  if (!config.egressProxy && bypassesProxy(target.hostname, portOf(target), pick('NO_PROXY'))) return null;
  try {
    return new URL(configured.includes('://') ? configured : `http://${configured}`);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------- explanations

/** One line for a socket-level error code, in the words of the guide's chapters. */
export function explainNetworkError(code: string, where: string, timeoutMs: number): { detail: string; hint: string } {
  const seconds = Math.round(timeoutMs / 1000);
  switch (code) {
    case 'ECONNREFUSED':
      return { detail: `connection refused by ${where}: nothing listens there, or a firewall rejects the connection`, hint: 'check the host and port in the URL, that the service runs, and the firewall rules between the gateway and it' };
    case 'TIMEOUT':
    case 'ETIMEDOUT':
      return { detail: `no answer from ${where} within ${seconds} s: a firewall probably drops the traffic silently`, hint: 'check the egress firewall for this host and port, or route through the corporate proxy with --egress-proxy' };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { detail: `no route to ${where} (${code})`, hint: "check the gateway's routing table and default route (ip route)" };
    case 'ECONNRESET':
      return { detail: `${where} reset the connection: a firewall or filtering proxy cut it`, hint: 'check the corporate firewall/egress proxy policy for this host' };
    case 'EPIPE':
      return { detail: `${where} closed the connection early`, hint: 'check the firewall/egress proxy policy for this host' };
    case 'ENOTFOUND':
      return { detail: `${where} does not resolve (no such name)`, hint: "check the spelling and the gateway's DNS servers (/etc/resolv.conf)" };
    case 'EAI_AGAIN':
      return { detail: `no DNS answer for ${where}: the resolver is unreachable or timed out`, hint: 'check /etc/resolv.conf and that port 53 to the resolver is open' };
    default:
      return { detail: `${where}: ${code || 'unknown error'}`, hint: 'check the network path between the gateway and this host' };
  }
}

const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
]);

/** Why a certificate failed verification, in plain words. */
export function explainCertificateError(code: string, issuer: string, host: string, names: string): { detail: string; hint: string } {
  if (UNTRUSTED.has(code)) {
    const self = code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ? 'is self-signed' : `was issued by "${issuer}", a CA the gateway does not trust`;
    return {
      detail: `the certificate of ${host} ${self} (${code})`,
      hint: `if "${issuer}" is your company's TLS-inspection or private CA, give its root PEM with --upstream-ca; otherwise something in between is intercepting the traffic`,
    };
  }
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return { detail: `the certificate of ${host} has expired (${code})`, hint: "the upstream must renew it; also check the gateway's clock (timedatectl)" };
    case 'CERT_NOT_YET_VALID':
      return { detail: `the certificate of ${host} is not valid yet (${code})`, hint: "check the gateway's clock (timedatectl)" };
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return { detail: `the certificate is for ${names || 'other names'}, not ${host} (${code})`, hint: 'check the upstream URL; a mismatch also means something in between answers for this host' };
    default:
      return { detail: `the certificate of ${host} failed verification: ${code}`, hint: 'check the upstream certificate chain and --upstream-ca' };
  }
}

/** What an HTTP status from an upstream probe means for the gateway. */
export function explainProbeStatus(status: number, role: ProbeTarget['role'], probe: string): { ok: CheckResult; detail: string; hint: string } {
  if (status === 200) return { ok: true, detail: `GET ${probe}: 200`, hint: '' };
  if (status === 403) {
    return { ok: false, detail: `GET ${probe}: 403 forbidden: the upstream or a proxy in between refuses`, hint: 'check the corporate firewall/egress proxy policy for this host (a block page often names the rule)' };
  }
  if (status === 404 || status === 410) {
    if (role === 'sumdb') {
      return { ok: false, detail: `GET ${probe}: ${status}: this is not a checksum database`, hint: 'check the URL in --sumdb ("NAME+HASH+KEY URL")' };
    }
    return {
      ok: 'warn',
      detail: `GET ${probe}: ${status}: the module is not on this upstream (the go command then tries its next GOPROXY entry)`,
      hint: 'for a private module set --private; otherwise check the upstream URL path, or probe a module it serves with --probe-module',
    };
  }
  if (status === 401 || status === 407) {
    return { ok: false, detail: `GET ${probe}: ${status}: credentials are required`, hint: status === 407 ? 'the egress proxy wants credentials: --egress-proxy http://user:password@proxy:port' : "check the upstream's access rules for the gateway's address" };
  }
  if (status === 429) return { ok: false, detail: `GET ${probe}: 429: the upstream rate-limits the gateway`, hint: 'retry later; a shared egress address can hit the limit for everyone' };
  if (status === 502 || status === 503 || status === 504) {
    const what = status === 502 ? 'a gateway or proxy in between got no valid answer from the server behind it' : status === 503 ? 'the upstream is unavailable' : 'a gateway or proxy in between timed out waiting for the server behind it';
    return { ok: false, detail: `GET ${probe}: ${status}: upstream trouble: ${what}`, hint: 'retry later; check the egress proxy and the upstream status page' };
  }
  if (status >= 500) return { ok: false, detail: `GET ${probe}: ${status}: upstream trouble`, hint: 'retry later; check the upstream status page' };
  return { ok: false, detail: `GET ${probe}: unexpected status ${status}`, hint: 'check that the URL points at a Go module proxy' };
}

// ---------------------------------------------------------------------------------------------- network steps

function errorCode(err: unknown): string {
  return String((err as NodeJS.ErrnoException)?.code ?? '');
}

class StepTimeout extends Error {
  readonly code = 'TIMEOUT';
}

/** Runs `start`, rejecting with a StepTimeout after `ms` (and calling `onTimeout` to abort the work). */
function bounded<T>(ms: number, start: () => Promise<T>, onTimeout: () => void = () => undefined): Promise<T> {
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

function tcpConnect(host: string, port: number, ms: number): Promise<net.Socket> {
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

interface TlsResult {
  socket: tls.TLSSocket;
  authorized: boolean;
  error: string;
  cert: tls.PeerCertificate;
}

function tlsHandshake(socket: net.Socket, host: string, ca: string[], ms: number): Promise<TlsResult> {
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

interface ProbeAnswer {
  status: number;
  location: string;
  firstLine: string;
  lines: number;
}

/** GET `path` over an established socket (plain or TLS); reads at most 64 KiB of the body. */
function httpGet(socket: net.Socket, hostHeader: string, path: string, ms: number, proxyAuth?: string): Promise<ProbeAnswer> {
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
function connectTunnel(proxy: URL, host: string, port: number, ms: number): Promise<{ socket: net.Socket } | { status: number; firstLine: string }> {
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

function proxyAuthorization(proxy: URL): string {
  if (!proxy.username) return '';
  return 'Basic ' + Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64');
}

function isSinkhole(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '0:0:0:0:0:0:0:0';
}

// ---------------------------------------------------------------------------------------------- upstream checks

interface NetContext {
  timeoutMs: number;
  roots: string[];
  env: NodeJS.ProcessEnv;
  config: GatewayConfig;
}

async function checkDns(id: string, host: string, ms: number): Promise<DoctorCheck> {
  const title = `DNS ${host}`;
  if (net.isIP(host)) return { id, title, ok: true, detail: `${host} is an IP address: nothing to resolve`, hint: '' };
  try {
    const addrs = await bounded(ms, () => lookup(host, { all: true, verbatim: true }));
    const list = addrs.map((a) => a.address);
    if (list.length > 0 && list.every(isSinkhole)) {
      return { id, title, ok: false, detail: `${host} resolves to ${list.join(', ')}: a DNS filter blocks it`, hint: 'ask for the name to be allowed in the corporate DNS filter' };
    }
    return { id, title, ok: true, detail: `${host} → ${list.join(', ')}`, hint: '' };
  } catch (err) {
    if (err instanceof StepTimeout) {
      return { id, title, ok: false, detail: `no DNS answer for ${host} within ${Math.round(ms / 1000)} s`, hint: 'check /etc/resolv.conf and that port 53 to the resolver is open' };
    }
    return { id, title, ok: false, ...explainNetworkError(errorCode(err), host, ms) };
  }
}

function describeCert(cert: tls.PeerCertificate, now: number): { issuer: string; days: number; names: string; validTo: string } {
  const issuer = String(cert.issuer?.CN ?? cert.issuer?.O ?? 'unknown issuer');
  const validToMs = Date.parse(cert.valid_to);
  const days = Math.floor((validToMs - now) / DAY_MS);
  const names = String(cert.subjectaltname ?? '').replace(/DNS:|IP Address:/g, '').replace(/\s+/g, ' ').trim();
  return { issuer, days, names, validTo: Number.isFinite(validToMs) ? new Date(validToMs).toISOString().slice(0, 10) : cert.valid_to };
}

function stepCode(err: unknown): string {
  return err instanceof StepTimeout ? 'TIMEOUT' : errorCode(err);
}

/** An open byte stream to the upstream (TLS done when https), ready for one HTTP request. */
interface UpstreamStream {
  socket: net.Socket;
  /** The request target: a path, or an absolute URL for a plain-http upstream behind an HTTP proxy. */
  requestPath: (path: string) => string;
  proxyAuth?: string;
}

/**
 * Walks DNS → TCP → TLS (or CONNECT through the egress proxy → TLS), one check per layer, stopping at the first
 * failure. Every socket it opens is in `sockets` for the caller to destroy.
 */
async function openUpstream(target: URL, ctx: NetContext, sockets: net.Socket[]): Promise<{ checks: DoctorCheck[]; stream: UpstreamStream | null }> {
  const checks: DoctorCheck[] = [];
  const name = targetName(target);
  const host = hostOf(target);
  const port = portOf(target);
  const where = `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
  const ms = ctx.timeoutMs;
  const proxy = egressProxyFor(ctx.config, ctx.env, target);
  const https = target.protocol === 'https:';
  let socket: net.Socket;

  if (!proxy) {
    const dns = await checkDns(`upstream-dns@${name}`, host, ms);
    checks.push(dns);
    if (dns.ok === false) return { checks, stream: null };
    const id = `upstream-tcp@${name}`;
    const title = `TCP ${where}`;
    try {
      socket = await tcpConnect(host, port, ms);
      sockets.push(socket);
      checks.push({ id, title, ok: true, detail: `connected to ${socket.remoteAddress}:${socket.remotePort}`, hint: '' });
    } catch (err) {
      checks.push({ id, title, ok: false, ...explainNetworkError(stepCode(err), where, ms) });
      return { checks, stream: null };
    }
  } else if (https) {
    const id = `upstream-connect@${name}`;
    const title = `CONNECT ${where} via egress proxy ${proxy.host}`;
    try {
      const t = await connectTunnel(proxy, host, port, ms);
      if ('status' in t) {
        const why =
          t.status === 407 ? { detail: 'the egress proxy wants credentials (407)', hint: 'give them in the URL: --egress-proxy http://user:password@proxy:port' }
          : t.status === 403 ? { detail: `the egress proxy refuses a tunnel to ${where} (403)`, hint: 'ask for this host to be allowed in the egress proxy policy' }
          : t.status >= 500 ? { detail: `the egress proxy could not reach ${where} (${t.status}): its DNS or its own connection failed`, hint: "check the egress proxy's log, or whether the host is reachable from it" }
          : { detail: `the egress proxy answered ${t.status} to CONNECT`, hint: 'check that --egress-proxy is an HTTP proxy that allows CONNECT to this port' };
        checks.push({ id, title, ok: false, detail: why.detail + (t.firstLine ? `: "${t.firstLine}"` : ''), hint: why.hint });
        return { checks, stream: null };
      }
      socket = t.socket;
      sockets.push(socket);
      checks.push({ id, title, ok: true, detail: `the egress proxy opened a tunnel to ${where}`, hint: '' });
    } catch (err) {
      const e = explainNetworkError(stepCode(err), `the egress proxy ${proxy.host}`, ms);
      checks.push({ id, title, ok: false, detail: e.detail, hint: `${e.hint}; or fix --egress-proxy / HTTPS_PROXY` });
      return { checks, stream: null };
    }
  } else {
    const id = `upstream-tcp@${name}`;
    const title = `TCP egress proxy ${proxy.host}`;
    try {
      socket = await tcpConnect(hostOf(proxy), portOf(proxy), ms);
      sockets.push(socket);
      checks.push({ id, title, ok: true, detail: `connected to the egress proxy ${proxy.host} (plain-http upstream: absolute-form requests)`, hint: '' });
    } catch (err) {
      checks.push({ id, title, ok: false, ...explainNetworkError(stepCode(err), `the egress proxy ${proxy.host}`, ms) });
      return { checks, stream: null };
    }
    return { checks, stream: { socket, requestPath: (path) => target.origin + path, proxyAuth: proxyAuthorization(proxy) || undefined } };
  }

  if (!https) return { checks, stream: { socket, requestPath: (path) => path } };
  const id = `upstream-tls@${name}`;
  const title = `TLS ${where}`;
  try {
    const t = await tlsHandshake(socket, host, ctx.roots, ms);
    sockets.push(t.socket);
    const c = describeCert(t.cert, Date.now());
    if (!t.authorized) {
      checks.push({ id, title, ok: false, ...explainCertificateError(t.error, c.issuer, host, c.names) });
      return { checks, stream: null };
    }
    const detail = `${t.socket.getProtocol() ?? 'TLS'}, certificate issued by "${c.issuer}", expires ${c.validTo} (${c.days} days)`;
    if (c.days < UPSTREAM_CERT_WARN_DAYS) checks.push({ id, title, ok: 'warn', detail, hint: 'the upstream certificate expires soon; after that the gateway refuses it' });
    else checks.push({ id, title, ok: true, detail, hint: '' });
    return { checks, stream: { socket: t.socket, requestPath: (path) => path } };
  } catch (err) {
    const code = stepCode(err);
    if (code === 'TIMEOUT') {
      checks.push({ id, title, ok: false, detail: `no TLS handshake with ${where} within ${Math.round(ms / 1000)} s`, hint: 'something accepts the connection but does not speak TLS: check the port, the egress firewall and proxy' });
    } else if (code === 'ECONNRESET' || code === 'EPIPE') {
      checks.push({ id, title, ok: false, detail: `${where} reset the connection during the TLS handshake: a filtering firewall or proxy cut it`, hint: 'check the corporate firewall/egress proxy policy for this host (SNI filtering)' });
    } else {
      checks.push({ id, title, ok: false, detail: `TLS handshake with ${where} failed: ${describeCause(err)}`, hint: 'the server may not speak TLS on this port (an http:// URL?), or only old protocol versions' });
    }
    return { checks, stream: null };
  }
}

/** Layer checks for one upstream, ending with an HTTP probe of a known path. */
async function checkUpstream(target: ProbeTarget, ctx: NetContext): Promise<DoctorCheck[]> {
  const sockets: net.Socket[] = [];
  try {
    const { checks, stream } = await openUpstream(target.url, ctx, sockets);
    if (!stream) return checks;
    const name = targetName(target.url);
    const id = `upstream-http@${name}`;
    const title = `GET ${target.role === 'sumdb' ? 'checksum DB tree head' : 'module list'} from ${name}`;
    const ms = ctx.timeoutMs;
    try {
      const a = await httpGet(stream.socket, target.url.host, stream.requestPath(target.probePath), ms, stream.proxyAuth);
      let e = explainProbeStatus(a.status, target.role, target.probePath);
      if (a.status >= 300 && a.status < 400 && a.location) {
        const next = new URL(a.location, target.url);
        e = target.url.protocol === 'https:' && next.protocol !== 'https:'
          ? { ok: false, detail: `GET ${target.probePath}: ${a.status} redirect to ${next.href}`, hint: 'the gateway never follows an https → http redirect: use the final https URL as the upstream' }
          : { ok: true, detail: `GET ${target.probePath}: ${a.status} redirect to ${next.href} (the gateway follows it)`, hint: '' };
      } else if (a.status === 200) {
        e = { ...e, detail: `${e.detail}, ${target.role === 'sumdb' ? `signed tree head (${a.lines} lines)` : `${a.lines} versions listed`}` };
      } else if (a.firstLine) {
        e = { ...e, detail: `${e.detail}: "${a.firstLine}"` };
      }
      checks.push({ id, title, ...e });
    } catch (err) {
      const code = stepCode(err);
      const x = explainNetworkError(code, name, ms);
      checks.push({ id, title, ok: false, detail: code === 'TIMEOUT' ? `no HTTP answer from ${name} within ${Math.round(ms / 1000)} s: the upstream or a proxy in between is stalled` : `GET ${target.probePath} failed: ${x.detail}`, hint: x.hint });
    }
    return checks;
  } finally {
    for (const s of sockets.reverse()) s.destroy(); // TLS before the socket under it
  }
}

/**
 * Whether a proxy upstream also serves the checksum database (GET /sumdb/NAME/supported), as the gateway's
 * verifier asks before going to the database directly. `direct` = the gateway goes to the database's own URL.
 */
async function checkSumdbRoute(target: ProbeTarget, sumdb: SumdbSpec, ctx: NetContext): Promise<{ check: DoctorCheck; direct: boolean }> {
  const name = targetName(target.url);
  const id = `sumdb-route@${name}`;
  const title = `checksum DB ${sumdb.name} through ${name}`;
  const path = `${basePath(target.url)}/sumdb/${sumdb.name}/supported`;
  if (hostOf(target.url) === hostOf(sumdb.url)) {
    return { check: { id, title, ok: true, detail: `the upstream is the checksum database's own host: the gateway asks ${targetName(sumdb.url)} directly`, hint: '' }, direct: true };
  }
  const sockets: net.Socket[] = [];
  try {
    const { stream } = await openUpstream(target.url, ctx, sockets);
    if (!stream) return { check: { id, title, ok: 'warn', detail: 'the upstream could not be reached a second time', hint: 'see the checks above' }, direct: true };
    const a = await httpGet(stream.socket, target.url.host, stream.requestPath(path), ctx.timeoutMs, stream.proxyAuth);
    if (a.status === 200) return { check: { id, title, ok: true, detail: `GET ${path}: 200: the gateway verifies modules through this upstream`, hint: '' }, direct: false };
    const detail = `GET ${path}: ${a.status}: the upstream does not proxy ${sumdb.name}, so the gateway asks ${targetName(sumdb.url)} directly (checked below)`;
    return { check: { id, title, ok: true, detail, hint: '' }, direct: true };
  } catch (err) {
    const x = explainNetworkError(stepCode(err), name, ctx.timeoutMs);
    return { check: { id, title, ok: 'warn', detail: `GET ${path} failed (${x.detail}); the gateway then asks ${targetName(sumdb.url)} directly`, hint: x.hint }, direct: true };
  } finally {
    for (const s of sockets.reverse()) s.destroy(); // TLS before the socket under it
  }
}

/** All upstream checks for the config: each proxy, its route to the checksum database, and the database when asked directly. */
async function checkUpstreams(config: GatewayConfig, probeModule: string | undefined, ctx: NetContext): Promise<DoctorCheck[]> {
  if (config.offline) return [{ id: 'upstream', title: 'upstreams', ok: true, detail: 'offline mode: the gateway never contacts an upstream', hint: '' }];
  const sumdb = parseSumdbSpec(config.sumdb);
  const proxies = proxyTargets(config.upstream, probeModule);
  if (proxies.length === 0) return (await Promise.all(defaultTargets(sumdb, probeModule).map((t) => checkUpstream(t, ctx)))).flat();
  const results = await Promise.all(proxies.map((t) => checkUpstream(t, ctx)));
  const out = results.flat();
  if (!sumdb) {
    out.push({ id: 'sumdb', title: 'checksum database', ok: true, detail: '--sumdb off: modules are cached without being checked', hint: '' });
    return out;
  }
  const healthy = proxies.filter((_, i) => results[i]!.every((c) => c.ok !== false));
  const routes = await Promise.all(healthy.map((t) => checkSumdbRoute(t, sumdb, ctx)));
  out.push(...routes.map((r) => r.check));
  if (healthy.length === 0 || routes.some((r) => r.direct)) out.push(...(await checkUpstream(sumdbTarget(sumdb), ctx)));
  return out;
}

// ---------------------------------------------------------------------------------------------- local checks

function checkCa(caDir: string, now: number): DoctorCheck[] {
  const p = caPaths(caDir);
  const title = `gateway CA ${p.certFile}`;
  if (!existsSync(p.certFile) && !existsSync(p.privateKeyFile)) {
    return [{ id: 'ca', title, ok: 'warn', detail: `no CA in ${caDir} yet (serve creates one on its first start)`, hint: `gomodgate ca init --ca-dir ${caDir}, then install \`gomodgate ca export\` on the clients` }];
  }
  if (!existsSync(p.certFile)) {
    return [{ id: 'ca', title, ok: false, detail: `the CA certificate is missing but its key exists`, hint: `move ${caDir} away and run \`gomodgate ca init --ca-dir ${caDir}\` (clients must then trust the new CA)` }];
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(p.certFile));
  } catch (err) {
    return [{ id: 'ca', title, ok: false, detail: `the CA certificate does not parse: ${describeCause(err)}`, hint: `restore ${p.certFile} from a backup, or create a new CA with \`gomodgate ca init\`` }];
  }
  const out: DoctorCheck[] = [];
  const subject = /CN=([^\n]+)/.exec(cert.subject)?.[1] ?? cert.subject.replace(/\n/g, ', ');
  const validTo = Date.parse(cert.validTo);
  const days = Math.floor((validTo - now) / DAY_MS);
  const summary = `"${subject}", SHA-256 ${cert.fingerprint256.slice(0, 23)}…, expires ${new Date(validTo).toISOString().slice(0, 10)}`;
  if (!cert.ca) out.push({ id: 'ca', title, ok: false, detail: `${summary}: not a CA certificate (basicConstraints CA:FALSE)`, hint: 'the gateway cannot issue leaf certificates with it: create a CA with `gomodgate ca init` in an empty directory' });
  else if (Date.parse(cert.validFrom) > now) out.push({ id: 'ca', title, ok: false, detail: `${summary}: not valid before ${cert.validFrom}`, hint: "check the gateway's clock (timedatectl)" });
  else if (days < 0) out.push({ id: 'ca', title, ok: false, detail: `${summary}: expired ${-days} days ago; clients refuse every intercepted connection`, hint: 'create a new CA (`gomodgate ca init` in a new --ca-dir) and distribute it to the clients' });
  else if (days < CA_WARN_DAYS) out.push({ id: 'ca', title, ok: 'warn', detail: `${summary}: ${days} days left`, hint: 'plan a new CA now: every client must trust it before this one expires' });
  else out.push({ id: 'ca', title, ok: true, detail: `${summary} (${days} days left)`, hint: '' });

  const keyTitle = `gateway CA key ${p.privateKeyFile}`;
  if (!existsSync(p.privateKeyFile)) {
    out.push({ id: 'ca-key', title: keyTitle, ok: false, detail: 'the CA private key is missing', hint: `restore ${p.privateKeyFile} from a backup, or create a new CA in an empty --ca-dir` });
    return out;
  }
  const mode = statSync(p.privateKeyFile).mode & 0o777;
  const dirMode = statSync(caDir).mode & 0o777;
  if (mode & 0o077) {
    out.push({ id: 'ca-key', title: keyTitle, ok: false, detail: `mode ${mode.toString(8).padStart(4, '0')}: others can read the CA key, so the gateway refuses to start`, hint: `chmod 600 ${p.privateKeyFile}` });
  } else if (dirMode & 0o077) {
    out.push({ id: 'ca-key', title: keyTitle, ok: false, detail: `the CA directory has mode ${dirMode.toString(8).padStart(4, '0')}, so the gateway refuses to start`, hint: `chmod 700 ${caDir}` });
  } else {
    try {
      const matches = cert.checkPrivateKey(createPrivateKey(readFileSync(p.privateKeyFile)));
      out.push(matches
        ? { id: 'ca-key', title: keyTitle, ok: true, detail: `mode ${mode.toString(8).padStart(4, '0')}, matches the CA certificate`, hint: '' }
        : { id: 'ca-key', title: keyTitle, ok: false, detail: 'the private key does not belong to the CA certificate', hint: `restore the matching pair, or create a new CA in an empty --ca-dir` });
    } catch (err) {
      out.push({ id: 'ca-key', title: keyTitle, ok: false, detail: `the private key cannot be read: ${describeCause(err)}`, hint: `check ${p.privateKeyFile} (PEM, readable by the gateway's user)` });
    }
  }
  return out;
}

function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

function checkDataDir(dataDir: string): DoctorCheck[] {
  const dir = resolve(dataDir);
  const id = 'data-dir';
  const title = `data directory ${dir}`;
  if (!existsSync(dir)) {
    let parent = dirname(dir);
    for (let i = 0; i < 64 && !existsSync(parent); i++) parent = dirname(parent);
    try {
      accessSync(parent, constants.W_OK);
      return [{ id, title, ok: true, detail: `does not exist yet; serve creates it (${parent} is writable)`, hint: '' }];
    } catch {
      return [{ id, title, ok: false, detail: `${dir} does not exist and ${parent} is not writable, so serve cannot create it`, hint: `create it for the gateway's user: install -d -m 750 ${dir}` }];
    }
  }
  if (!statSync(dir).isDirectory()) return [{ id, title, ok: false, detail: `${dir} is not a directory`, hint: 'point --data-dir at a directory' }];
  const probe = join(dir, `.gomodgate-doctor-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    writeFileSync(probe, 'gomodgate doctor write test\n', { flag: 'wx', mode: 0o600 });
    unlinkSync(probe);
  } catch (err) {
    const code = errorCode(err);
    const why = code === 'EACCES' || code === 'EPERM' ? "the gateway's user may not write there" : code === 'EROFS' ? 'the file system is read-only' : code === 'ENOSPC' ? 'the disk is full' : describeCause(err);
    return [{ id, title, ok: false, detail: `cannot create a file in ${dir}: ${why}`, hint: `fix ownership or mount options: chown -R <gateway user> ${dir}` }];
  }
  const out: DoctorCheck[] = [];
  let free = -1;
  try {
    const s = statfsSync(dir);
    free = s.bavail * s.bsize;
  } catch {
    free = -1;
  }
  if (free >= 0 && free < LOW_DISK_BYTES) {
    out.push({ id, title, ok: 'warn', detail: `writable, but only ${formatBytes(free)} free`, hint: 'module zips are up to 500 MiB: free space or set --cache-max-bytes' });
  } else {
    out.push({ id, title, ok: true, detail: `writable${free >= 0 ? `, ${formatBytes(free)} free` : ''}`, hint: '' });
  }
  const dbFile = join(dir, 'gomodgate.db');
  if (existsSync(dbFile)) {
    try {
      const db = openDatabase(dbFile, { readonly: true });
      try {
        const row = db.prepare('SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM objects').get() as { n: number; bytes: number };
        out.push({ id: 'cache-index', title: `cache index ${dbFile}`, ok: true, detail: `${row.n} objects, ${formatBytes(Number(row.bytes))}`, hint: '' });
      } finally {
        db.close();
      }
    } catch (err) {
      out.push({ id: 'cache-index', title: `cache index ${dbFile}`, ok: false, detail: `the cache index cannot be read: ${describeCause(err)}`, hint: 'stop the gateway and move gomodgate.db away; serve rebuilds an empty index (cached blobs are fetched again)' });
    }
  }
  return out;
}

function loopbackAddresses(listen: string): string[] {
  if (listen === '::' || listen === '0:0:0:0:0:0:0:0') return ['127.0.0.1', '::1'];
  if (listen === '0.0.0.0') return ['127.0.0.1'];
  return [listen];
}

async function checkListeners(config: GatewayConfig, ms: number): Promise<DoctorCheck[]> {
  const listeners = [
    { id: 'listener-tls', what: 'transparent TLS listener', flag: '--tls-port', port: config.tlsPort, addrs: loopbackAddresses(config.listen) },
    { id: 'listener-http', what: 'transparent HTTP listener', flag: '--http-port', port: config.httpPort, addrs: loopbackAddresses(config.listen) },
    { id: 'listener-proxy', what: 'proxy listener', flag: '--proxy-port', port: config.proxyPort, addrs: loopbackAddresses(config.listen) },
    { id: 'listener-admin', what: 'admin listener', flag: '--admin-port', port: config.adminPort, addrs: loopbackAddresses(config.adminListen) },
  ];
  const results = await Promise.all(
    listeners.map(async (l) => {
      if (l.port === 0) return { l, listening: null as string | null, skipped: true };
      for (const addr of l.addrs) {
        try {
          const s = await tcpConnect(addr, l.port, Math.min(ms, 2000));
          s.destroy();
          return { l, listening: addr, skipped: false };
        } catch {
          // next address
        }
      }
      return { l, listening: null, skipped: false };
    }),
  );
  const anyUp = results.some((r) => r.listening !== null);
  return results.map(({ l, listening, skipped }): DoctorCheck => {
    const title = `${l.what} port ${l.port}`;
    if (skipped) return { id: l.id, title, ok: true, detail: `${l.flag} 0 (any free port): nothing to check`, hint: '' };
    const at = (a: string) => (net.isIPv6(a) ? `[${a}]:${l.port}` : `${a}:${l.port}`);
    if (listening) return { id: l.id, title, ok: true, detail: `something listens on ${at(listening)}`, hint: '' };
    return {
      id: l.id,
      title,
      ok: 'warn',
      detail: `nothing listens on ${l.addrs.map(at).join(' or ')}`,
      hint: anyUp ? `other gateway ports answer: did serve fail to bind ${l.flag} ${l.port}? check its log` : 'the gateway is not running here: start it (gomodgate serve, or systemctl start gomodgate)',
    };
  });
}

// ---------------------------------------------------------------------------------------------- REDIRECT rules

export interface RedirectRule {
  chain: string;
  /** -i value, '!' prefixed when negated; '' when absent. */
  inInterface: string;
  /** Destination port ranges [low, high]. */
  dports: Array<[number, number]>;
  toPort: number;
  /** The rule as iptables-save printed it. */
  text: string;
}

function tokenize(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line)) !== null) out.push(m[1] ?? m[2]!);
  return out;
}

function parsePorts(spec: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const part of spec.split(',')) {
    const [lo, hi] = part.split(':');
    const a = Number(lo);
    const b = hi === undefined ? a : Number(hi);
    if (Number.isInteger(a) && Number.isInteger(b)) out.push([a, b]);
  }
  return out;
}

/** The TCP REDIRECT rules of `iptables-save -t nat` (or ip6tables-save) output, in any chain. */
export function parseRedirectRules(saved: string): RedirectRule[] {
  const rules: RedirectRule[] = [];
  for (const raw of saved.split('\n')) {
    const line = raw.trim();
    if (!line.startsWith('-A ')) continue;
    const t = tokenize(line);
    let target = '';
    let proto = '';
    let inInterface = '';
    let dports: Array<[number, number]> = [];
    let toPort = 0;
    let negatedPorts = false;
    for (let i = 2; i < t.length; i++) {
      const negated = t[i - 1] === '!';
      switch (t[i]) {
        case '-j':
          target = t[++i] ?? '';
          break;
        case '-p':
          proto = t[++i] ?? '';
          break;
        case '-i':
          inInterface = (negated ? '!' : '') + (t[++i] ?? '');
          break;
        case '--dport':
        case '--dports':
        case '--destination-port':
        case '--destination-ports':
          if (negated) negatedPorts = true;
          dports = parsePorts(t[++i] ?? '');
          break;
        case '--to-ports':
        case '--to-port':
          toPort = Number((t[++i] ?? '').split('-')[0]);
          break;
      }
    }
    if (target !== 'REDIRECT' || proto !== 'tcp' || negatedPorts || dports.length === 0 || !Number.isInteger(toPort) || toPort <= 0) continue;
    rules.push({ chain: t[1]!, inInterface, dports, toPort, text: line });
  }
  return rules;
}

export interface SaveOutput {
  /** null when the command could not run; then `problem` says why. */
  stdout: string | null;
  problem: 'missing' | 'denied' | 'failed' | null;
  message: string;
}

/** Judges one family's REDIRECT rules for 443 → tlsPort and 80 → httpPort. */
export function judgeRedirects(family: 'IPv4' | 'IPv6', saved: SaveOutput, tlsPort: number, httpPort: number): DoctorCheck {
  const id = family === 'IPv4' ? 'redirect-ipv4' : 'redirect-ipv6';
  const tool = family === 'IPv4' ? 'iptables' : 'ip6tables';
  const title = `${family} REDIRECT rules (${tool} -t nat)`;
  const without = 'clients can still use the gateway with HTTPS_PROXY or GOPROXY on the proxy port';
  if (saved.stdout === null) {
    const detail = saved.problem === 'missing' ? `${tool}-save is not installed: the rules cannot be checked` : saved.problem === 'denied' ? `${tool}-save is not permitted: ${saved.message}` : `${tool}-save failed: ${saved.message}`;
    return { id, title, ok: 'warn', detail, hint: saved.problem === 'denied' ? 'run doctor as root to check the REDIRECT rules' : `install iptables to check the rules (${without})` };
  }
  const rules = parseRedirectRules(saved.stdout);
  const covering = (port: number) => rules.filter((r) => r.dports.some(([lo, hi]) => port >= lo && port <= hi));
  const describe = (r: RedirectRule, port: number) => `${port} → ${r.toPort} (${r.chain}${r.inInterface ? ` -i ${r.inInterface}` : ''})`;
  const parts: string[] = [];
  const wrong: string[] = [];
  const missing: Array<{ port: number; to: number }> = [];
  for (const [port, listener] of [[443, tlsPort], [80, httpPort]] as const) {
    const found = covering(port);
    const right = found.filter((r) => r.toPort === listener);
    if (right.length > 0) parts.push(describe(right[0]!, port));
    else if (found.length > 0) wrong.push(`port ${port} is redirected to ${found[0]!.toPort}, but the ${port === 443 ? 'TLS' : 'HTTP'} listener is on ${listener} (${found[0]!.chain})`);
    else missing.push({ port, to: listener });
  }
  if (wrong.length > 0) {
    return { id, title, ok: false, detail: wrong.join('; '), hint: `fix the rule's --to-ports or the gateway's ${wrong[0]!.includes('TLS') ? '--tls-port' : '--http-port'}: redirected clients reach nothing or the wrong listener` };
  }
  if (missing.length > 0) {
    const m = missing.map((x) => `${x.port} → ${x.to}`).join(' and ');
    return {
      id,
      title,
      ok: 'warn',
      detail: `no REDIRECT rule for ${m}${parts.length ? ` (found ${parts.join(', ')})` : ''}; ${without}`,
      hint: `for transparent mode: ${tool} -t nat -A PREROUTING -i <LAN interface> -p tcp --dport ${missing[0]!.port} -j REDIRECT --to-ports ${missing[0]!.to}`,
    };
  }
  return { id, title, ok: true, detail: parts.join(', '), hint: '' };
}

function runSave(command: string, ms: number): Promise<SaveOutput> {
  return new Promise((done) => {
    execFile(command, ['-t', 'nat'], { timeout: ms, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (!err) {
        done({ stdout, problem: null, message: '' });
        return;
      }
      const code = errorCode(err);
      const message = (String(stderr).trim().split('\n')[0] ?? '') || describeCause(err);
      if (code === 'ENOENT') done({ stdout: null, problem: 'missing', message });
      else if (code === 'EACCES' || /permission denied|must be root|not permitted/i.test(message)) done({ stdout: null, problem: 'denied', message });
      else done({ stdout: null, problem: 'failed', message });
    });
  });
}

// ---------------------------------------------------------------------------------------------- the run

/** Every check, in a stable order: upstreams (in config order), then CA, data directory, listeners, REDIRECT rules. */
export async function runDoctor(opts: DoctorOptions): Promise<DoctorCheck[]> {
  const { config } = opts;
  const ms = opts.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const env = opts.env ?? process.env;
  const checks: DoctorCheck[] = [];

  let roots: string[];
  try {
    roots = loadTrustedRoots(config.upstreamCa);
    if (config.upstreamCa.length > 0) {
      checks.push({ id: 'upstream-ca', title: 'extra upstream roots (--upstream-ca)', ok: true, detail: `${config.upstreamCa.join(', ')} readable`, hint: '' });
    }
  } catch (err) {
    checks.push({ id: 'upstream-ca', title: 'extra upstream roots (--upstream-ca)', ok: false, detail: describeCause(err), hint: 'fix the path in --upstream-ca: the gateway does not start without it' });
    roots = loadTrustedRoots([]);
  }

  const [upstream, listeners, v4, v6] = await Promise.all([
    checkUpstreams(config, opts.probeModule, { timeoutMs: ms, roots, env, config }),
    checkListeners(config, ms),
    runSave('iptables-save', ms),
    runSave('ip6tables-save', ms),
  ]);
  checks.push(...upstream);
  checks.push(...checkCa(config.caDir, Date.now()));
  checks.push(...checkDataDir(config.dataDir));
  checks.push(...listeners);
  checks.push(judgeRedirects('IPv4', v4, config.tlsPort, config.httpPort));
  checks.push(judgeRedirects('IPv6', v6, config.tlsPort, config.httpPort));
  return checks;
}

export function hasFailures(checks: readonly DoctorCheck[]): boolean {
  return checks.some((c) => c.ok === false);
}

/** The human-readable report: one line per check (✔ ok, ! warning, ✘ failed), its hint below when there is one. */
export function formatReport(checks: readonly DoctorCheck[]): string {
  const lines: string[] = [];
  for (const c of checks) {
    const mark = c.ok === true ? '✔' : c.ok === 'warn' ? '!' : '✘';
    lines.push(`${mark} ${c.title}: ${c.detail}`);
    if (c.ok !== true && c.hint) lines.push(`    → ${c.hint}`);
  }
  const failed = checks.filter((c) => c.ok === false).length;
  const warned = checks.filter((c) => c.ok === 'warn').length;
  lines.push('');
  lines.push(`${checks.length} checks: ${checks.length - failed - warned} ok, ${warned} warnings, ${failed} failed`);
  return lines.join('\n') + '\n';
}
