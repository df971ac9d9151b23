// `gomodgate cache warm FILE`: fetches every .mod (and .zip) a go.sum or go.mod names through a running gateway's
// plain GOPROXY endpoint, a few at a time, so the cache holds them before anyone asks. Reads each body to the end
// (counting bytes, never keeping them) and tells from X-Gomodgate-Cache whether it was already cached.
// Never talks to an upstream itself and never touches the data directory: the gateway does the storing.
import http from 'node:http';
import https from 'node:https';
import { escapePath, escapeVersion } from '../goproxy/module-path.js';
import type { WantedModule } from './go-sum-file.js';

export interface WarmItem {
  module: string;
  version: string;
  file: 'mod' | 'zip';
  /** The path under the GOPROXY base: /MODULE/@v/VERSION.mod, case-encoded. */
  path: string;
}

export interface WarmFailure {
  item: WarmItem;
  reason: string;
}

export interface WarmResult {
  items: number;
  fetched: number; // the gateway fetched it upstream now (X-Gomodgate-Cache: miss)
  cached: number; // the gateway already had it (hit, stale)
  failed: WarmFailure[];
  bytes: number;
}

export interface WarmOptions {
  /** Base URL of the gateway's plain GOPROXY endpoint, e.g. http://127.0.0.1:3128 */
  gateway: string;
  /** Requests in flight at once (default 4). */
  concurrency?: number;
  /** Give up on a response that sends nothing for this long (default 120 s). */
  idleTimeoutMs?: number;
  /** After every finished item. */
  onItemDone?: (done: number, total: number, item: WarmItem) => void;
}

/** The requests for a module list: .mod for each module@version, .zip where wanted. */
export function warmItems(modules: readonly WantedModule[]): WarmItem[] {
  const items: WarmItem[] = [];
  for (const m of modules) {
    const base = `/${escapePath(m.module)}/@v/${escapeVersion(m.version)}`;
    if (m.mod) items.push({ module: m.module, version: m.version, file: 'mod', path: `${base}.mod` });
    if (m.zip) items.push({ module: m.module, version: m.version, file: 'zip', path: `${base}.zip` });
  }
  return items;
}

interface Outcome {
  cache: string | null;
  bytes: number;
}

function fetchThrough(url: URL, agent: http.Agent, idleTimeoutMs: number): Promise<Outcome> {
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.get(url, { agent, headers: { 'user-agent': 'gomodgate-cache-warm' } }, (res) => {
      const status = res.statusCode ?? 0;
      if (status !== 200) {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          if (text.length < 2000) text += c;
        });
        res.on('end', () => {
          const line = text.split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
          reject(new Error(`HTTP ${status}${line ? `: ${line.slice(0, 300)}` : ''}`));
        });
        res.on('error', reject);
        return;
      }
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => {
        if (!res.complete) reject(new Error(`the response ended after ${bytes} bytes`));
        else {
          const h = res.headers['x-gomodgate-cache'];
          resolve({ cache: typeof h === 'string' ? h : null, bytes });
        }
      });
      res.on('aborted', () => reject(new Error(`the response was cut off after ${bytes} bytes`)));
      res.on('error', reject);
    });
    req.setTimeout(idleTimeoutMs, () => req.destroy(new Error(`no data for ${Math.round(idleTimeoutMs / 1000)} s`)));
    req.on('error', reject);
  });
}

function joinUrl(base: string, path: string): URL {
  const u = new URL(base);
  u.pathname = u.pathname.replace(/\/+$/, '') + path;
  return u;
}

export async function warmCache(modules: readonly WantedModule[], opts: WarmOptions): Promise<WarmResult> {
  const items = warmItems(modules);
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  const idle = opts.idleTimeoutMs ?? 120_000;
  const base = new URL(opts.gateway); // throws on a bad URL before anything is sent
  const agent = base.protocol === 'https:' ? new https.Agent({ keepAlive: true, maxSockets: concurrency }) : new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const result: WarmResult = { items: items.length, fetched: 0, cached: 0, failed: [], bytes: 0 };
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        const out = await fetchThrough(joinUrl(opts.gateway, item.path), agent, idle);
        result.bytes += out.bytes;
        if (out.cache === 'hit' || out.cache === 'stale') result.cached++;
        else result.fetched++;
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        result.failed.push({ item, reason: e.code && !e.message.includes(e.code) ? `${e.code}: ${e.message}` : e.message });
      }
      done++;
      opts.onItemDone?.(done, items.length, item);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  } finally {
    agent.destroy();
  }
  return result;
}
