// Upstream checks: for each upstream the layers in order (DNS, TCP or CONNECT through the egress proxy, TLS with
// the gateway's trust, an HTTP probe), stopping at the first failure, then whether the gateway reaches the
// checksum database through the upstream or directly. Sends only GET requests for public metadata.
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import type tls from 'node:tls';
import type { GatewayConfig } from '../config/load.js';
import { describeCause } from '../errors.js';
import { egressProxyFor } from '../upstream/egress-proxy.js';
import { DAY_MS, type DoctorCheck } from './doctor-check.js';
import { explainCertificateError, explainNetworkError, explainProbeStatus } from './doctor-explain.js';
import { StepTimeout, bounded, connectTunnel, errorCode, httpGet, proxyAuthorization, stepCode, tcpConnect, tlsHandshake } from './doctor-probe.js';
import {
  basePath,
  defaultTargets,
  hostOf,
  parseSumdbSpec,
  portOf,
  proxyTargets,
  sumdbTarget,
  targetName,
  type ProbeTarget,
  type SumdbSpec,
} from './doctor-targets.js';

const UPSTREAM_CERT_WARN_DAYS = 7;

function isSinkhole(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '0:0:0:0:0:0:0:0';
}

export interface NetContext {
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
  const proxy = egressProxyFor(target, { egressProxy: ctx.config.egressProxy, env: ctx.env }); // the gateway's own rule
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
export async function checkUpstreams(config: GatewayConfig, probeModule: string | undefined, ctx: NetContext): Promise<DoctorCheck[]> {
  if (config.offline) return [{ id: 'upstream', title: 'upstreams', ok: true, detail: 'offline mode: the gateway never contacts an upstream', hint: '' }];
  const checks = await checkEachUpstream(config, probeModule, ctx);
  const advice = unreachableAdvice(config, checks);
  return advice ? [...checks, advice] : checks;
}

/**
 * When an upstream check failed: what clients see (502 for what is not cached) and the options that help,
 * as a warning of its own (the failed checks above already fail the run).
 */
export function unreachableAdvice(config: GatewayConfig, checks: readonly DoctorCheck[]): DoctorCheck | null {
  const failed = [...new Set(checks.filter((c) => c.ok === false).map((c) => c.id.slice(c.id.indexOf('@') + 1)))];
  if (failed.length === 0) return null;
  const route = config.egressProxy
    ? `check the egress proxy (--egress-proxy ${config.egressProxy})`
    : 'route through your corporate proxy with --egress-proxy http://proxy.corp:3128 (or HTTPS_PROXY)';
  return {
    id: 'upstream-unreachable',
    title: 'while an upstream is unreachable',
    ok: 'warn',
    detail: `clients get 502 for anything not already cached (failing: ${failed.join(', ')}); what is cached is still served`,
    hint: `${route}; or put a mirror you can reach first in --upstream (e.g. --upstream "https://goproxy.corp.example,https://proxy.golang.org"); or run with --offline to answer only from the cache`,
  };
}

async function checkEachUpstream(config: GatewayConfig, probeModule: string | undefined, ctx: NetContext): Promise<DoctorCheck[]> {
  const sumdb = parseSumdbSpec(config.sumdb);
  const proxies = proxyTargets(config.upstream, probeModule);
  if (proxies.length === 0) return (await Promise.all(defaultTargets(sumdb, probeModule, config.interceptHosts, new URL(config.vulndbUrl).hostname).map((t) => checkUpstream(t, ctx)))).flat();
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
