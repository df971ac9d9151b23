// Which upstreams the gateway contacts with a given config (GOPROXY-syntax list, or proxy.golang.org and the
// checksum database) and what to fetch from each to prove it works.
// Pure: no I/O.
import { escapePath } from '../goproxy/module-path.js';
import { DEFAULT_PROBE_MODULE } from './doctor-check.js';

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

export function basePath(url: URL): string {
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

/** A host the gateway intercepts that serves a checksum database rather than a module proxy (probed at /latest). */
function isChecksumDbHost(host: string, sumdb: SumdbSpec | null): boolean {
  return host === sumdb?.url.hostname || host.startsWith('sum.');
}

/**
 * What the gateway contacts with no --upstream: each intercepted host itself (a client's request goes to the
 * host it asked for: proxy.golang.org, sum.golang.org, goproxy.cn, ...), the plain GOPROXY endpoint's
 * https://proxy.golang.org, and the checksum database; each once (not the vulnerability database's host).
 */
export function defaultTargets(
  sumdb: SumdbSpec | null,
  probeModule = DEFAULT_PROBE_MODULE,
  interceptHosts: readonly string[] = [],
  /** The vulnerability database's host: the gateway answers it from its synced copy, never as a module proxy. */
  vulndbHost = 'vuln.go.dev',
): ProbeTarget[] {
  const out = proxyTargets('https://proxy.golang.org', probeModule);
  const seen = new Set(out.map((t) => t.url.href));
  const add = (t: ProbeTarget) => {
    if (seen.has(t.url.href)) return;
    seen.add(t.url.href);
    out.push(t);
  };
  if (sumdb) add(sumdbTarget(sumdb));
  for (const host of interceptHosts) {
    if (host === vulndbHost) continue;
    const url = new URL(`https://${host}`);
    if (isChecksumDbHost(host, sumdb)) add(sumdbTarget({ name: host, url }));
    else for (const t of proxyTargets(url.href, probeModule)) add(t);
  }
  return out;
}

export function targetName(url: URL): string {
  return url.origin + basePath(url);
}

export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

export function portOf(url: URL): number {
  return Number(url.port || (url.protocol === 'https:' ? 443 : 80));
}
