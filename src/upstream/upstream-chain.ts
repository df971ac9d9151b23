// An ordered list of upstreams with GOPROXY semantics: after an entry followed by ",", only a 404/410 falls
// through to the next; after "|", any error does. The last entry's answer is final. Pure.
import type { UpstreamTarget } from './upstream-client.js';
import { redactUrl } from '../redact.js';

export interface UpstreamHop {
  target: UpstreamTarget;
  /** What lets a request move on to the next hop. */
  fallthrough: 'not-found' | 'any-error' | 'none';
}

export type UpstreamChain = readonly UpstreamHop[];

/** "https://a,https://b|https://c" → three hops. Entries were validated by the config loader. */
export function parseUpstreamList(list: string): UpstreamChain {
  const hops: UpstreamHop[] = [];
  const re = /([^,|]+)([,|]?)/g;
  for (const m of list.matchAll(re)) {
    const url = m[1]!.trim();
    if (!url) continue;
    hops.push({ target: { base: new URL(url) }, fallthrough: m[2] === ',' ? 'not-found' : m[2] === '|' ? 'any-error' : 'none' });
  }
  if (hops.length) hops[hops.length - 1] = { ...hops[hops.length - 1]!, fallthrough: 'none' };
  return hops;
}

export function singleHop(target: UpstreamTarget): UpstreamChain {
  return [{ target, fallthrough: 'none' }];
}

export function describeChain(chain: UpstreamChain): string {
  return chain.map((h, i) => redactUrl(h.target.base.href.replace(/\/$/, '')) + (i < chain.length - 1 ? (h.fallthrough === 'not-found' ? ',' : '|') : '')).join('');
}
