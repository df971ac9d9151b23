// Answers one Go-module request (GOPROXY protocol or checksum database) from the cache or from upstream:
// cache lookup → single-flight upstream fetch → stream into a pending blob → seal (blob + index row) →
// later requests are hits. Mutable objects are refreshed after their TTL and served stale when upstream
// fails; upstream 404/410 are remembered briefly. Knows nothing of sockets, TLS or HTTP servers: the caller
// turns a ModuleReply into a response and writes the audit row.
import type { Readable } from 'node:stream';
import { GateError, describeCause } from '../errors.js';
import type { ModuleRequest } from '../goproxy/request-path.js';
import { classify, contentType, cacheControl, type CacheClass } from '../goproxy/cache-class.js';
import type { BlobStore } from '../store/blob-store.js';
import type { CacheIndex, CachedObject } from '../store/cache-index.js';
import { PendingBlob } from '../store/pending-blob.js';
import type { UpstreamClient, UpstreamTarget } from '../upstream/upstream-client.js';
import { SingleFlight } from './single-flight.js';

export type Outcome = 'hit' | 'miss' | 'stale' | 'not-found' | 'error';

export interface ModuleQuery {
  request: ModuleRequest;
  target: UpstreamTarget;
  method: 'GET' | 'HEAD';
}

export interface ModuleReply {
  status: number;
  headers: Record<string, string>;
  /** null for HEAD */
  body: Readable | Buffer | null;
  outcome: Outcome;
  sha256?: string;
  upstreamUrl?: string;
}

/** Upper bounds from the go command (modfetch): a go.mod ≤ 16 MiB, a zip ≤ 500 MiB. */
const MAX_BYTES: Record<string, number> = { zip: 500 << 20 };
const DEFAULT_MAX_BYTES = 16 << 20;
const NEGATIVE_BODY_MAX = 4096;

type Fetched =
  | { type: 'blob'; pending: PendingBlob; size: number | null; contentType: string; upstreamUrl: string; key: string }
  | { type: 'negative'; object: CachedObject };

export interface ModuleServiceOptions {
  index: CacheIndex;
  blobs: BlobStore;
  upstream: UpstreamClient;
  mutableTtlSeconds: number;
  negativeTtlSeconds: number;
  /** Called for failures the admin should see but the client must not (e.g. a disk error while storing). */
  onBackgroundError?: (err: unknown, key: string) => void;
}

export class ModuleService {
  private readonly flights = new SingleFlight<Fetched>();

  constructor(private readonly opts: ModuleServiceOptions) {}

  get inflightFetches(): number {
    return this.flights.size;
  }

  get joinedFetches(): number {
    return this.flights.joinedTotal;
  }

  /** Throws GateError for anything that is not a reply from cache or upstream. */
  async answer(q: ModuleQuery): Promise<ModuleReply> {
    const req = q.request;
    const cls = classify(req);
    const cached = this.opts.index.get(req.cacheKey);
    if (cached && (cached.expiresAt === null || cached.expiresAt > Date.now())) {
      const reply = await this.fromCache(q, cached, cls, 'hit');
      if (reply) return reply;
    }
    let fetched: Fetched;
    try {
      fetched = await this.flights.run(req.cacheKey, () => this.fetch(q, cls));
    } catch (err) {
      if (cached && isUpstreamTrouble(err)) {
        const stale = await this.fromCache(q, cached, cls, 'stale');
        if (stale) return stale;
      }
      throw err;
    }
    if (fetched.type === 'negative') return this.negativeReply(q, fetched.object, 'not-found');
    const body = fetched.pending.createReader();
    if (body === null) {
      // the download finished between our join and now: it is in the index
      const stored = this.opts.index.get(req.cacheKey);
      const reply = stored && (await this.fromCache(q, stored, cls, 'miss'));
      if (reply) return reply;
      throw new GateError('STORE_IO', 'the object vanished from the cache while being stored; retry');
    }
    const headers = this.headersFor(req, cls, fetched.contentType, fetched.size, 'miss');
    if (q.method === 'HEAD') body.destroy();
    return {
      status: 200,
      headers,
      body: q.method === 'HEAD' ? null : body,
      outcome: 'miss',
      upstreamUrl: fetched.upstreamUrl,
    };
  }

  private headersFor(req: ModuleRequest, cls: CacheClass, type: string, size: number | null, state: Outcome): Record<string, string> {
    const h: Record<string, string> = {
      'content-type': type,
      'cache-control': cacheControl(req, this.opts.mutableTtlSeconds),
      'x-gomodgate-cache': state,
    };
    if (size !== null) h['content-length'] = String(size);
    if (state === 'stale') h['warning'] = '110 gomodgate "Response is stale: upstream unavailable"';
    void cls;
    return h;
  }

  private negativeReply(q: ModuleQuery, obj: CachedObject, outcome: Outcome): ModuleReply {
    const body = obj.bodyInline ?? Buffer.from('not found\n');
    return {
      status: obj.status,
      headers: {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': String(body.length),
        'cache-control': `public, max-age=${this.opts.negativeTtlSeconds}`,
        'x-gomodgate-cache': outcome === 'not-found' ? 'miss' : outcome,
      },
      body: q.method === 'HEAD' ? null : body,
      outcome: outcome === 'stale' ? 'stale' : 'not-found',
      upstreamUrl: obj.upstreamUrl ?? undefined,
    };
  }

  /** A reply from an index row, or null when its blob is gone (then the row is dropped). */
  private async fromCache(q: ModuleQuery, obj: CachedObject, cls: CacheClass, outcome: 'hit' | 'stale' | 'miss'): Promise<ModuleReply | null> {
    if (obj.status !== 200) return this.negativeReply(q, obj, outcome === 'stale' ? 'stale' : 'not-found');
    if (!obj.sha256) return null;
    this.opts.index.touch(obj.key);
    let body: Readable | null = null;
    if (q.method === 'GET') {
      try {
        body = await this.opts.blobs.openRead(obj.sha256);
      } catch (err) {
        this.opts.onBackgroundError?.(err, obj.key);
        this.opts.index.delete(obj.key);
        return null;
      }
    }
    return {
      status: 200,
      headers: this.headersFor(q.request, cls, obj.contentType, obj.size, outcome),
      body,
      outcome,
      sha256: obj.sha256,
      upstreamUrl: obj.upstreamUrl ?? undefined,
    };
  }

  private async fetch(q: ModuleQuery, cls: CacheClass): Promise<{ value: Fetched; settled?: Promise<unknown> }> {
    const req = q.request;
    const res = await this.opts.upstream.request(q.target, req.upstreamPath);
    const host = q.target.base.hostname;
    if (res.status === 404 || res.status === 410) {
      const text = await readSmall(res.body, NEGATIVE_BODY_MAX);
      const now = Date.now();
      const object: CachedObject = {
        key: req.cacheKey,
        kind: req.kind,
        module: req.module ?? null,
        version: req.version ?? null,
        status: res.status,
        sha256: null,
        size: text.length,
        contentType: 'text/plain; charset=utf-8',
        bodyInline: text,
        upstreamUrl: res.url,
        storedAt: now,
        expiresAt: now + this.opts.negativeTtlSeconds * 1000,
      };
      this.opts.index.put(object);
      return { value: { type: 'negative', object } };
    }
    if (res.status !== 200) {
      res.body.resume();
      throw new GateError('UPSTREAM_UNAVAILABLE', `upstream ${host} answered ${res.status} for ${req.upstreamPath}`);
    }
    const max = MAX_BYTES[req.kind] ?? DEFAULT_MAX_BYTES;
    const declared = parseContentLength(res.headers['content-length']);
    if (declared !== null && declared > max) {
      res.body.destroy();
      throw new GateError('UPSTREAM_UNAVAILABLE', `upstream ${host} offers ${declared} bytes for ${req.upstreamPath}, over the ${max}-byte limit`);
    }
    let pending: PendingBlob;
    try {
      pending = await PendingBlob.create(this.opts.blobs.newTempPath(), declared);
    } catch (err) {
      res.body.destroy();
      throw new GateError('STORE_IO', 'the gateway cannot write to its cache', { cause: err });
    }
    const type = contentType(req);
    const settled = this.store(q, cls, res.body, pending, declared, max, type, res.url);
    return {
      value: { type: 'blob', pending, size: declared, contentType: type, upstreamUrl: res.url, key: req.cacheKey },
      settled,
    };
  }

  /** Pumps the upstream body into the pending blob and seals it; never rejects (failures fail the blob). */
  private async store(
    q: ModuleQuery,
    cls: CacheClass,
    body: NodeJS.ReadableStream & { destroy(): void },
    pending: PendingBlob,
    declared: number | null,
    max: number,
    type: string,
    upstreamUrl: string,
  ): Promise<void> {
    const req = q.request;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (pending.bytesWritten + chunk.length > max) throw new Error(`body exceeds the ${max}-byte limit`);
        await pending.append(chunk);
      }
      if (declared !== null && pending.bytesWritten !== declared) {
        throw new Error(`upstream sent ${pending.bytesWritten} of ${declared} bytes`);
      }
      const { sha256, size } = await pending.finishWriting();
      await this.opts.blobs.commit(pending.tempPath, sha256);
      const now = Date.now();
      this.opts.index.put({
        key: req.cacheKey,
        kind: req.kind,
        module: req.module ?? null,
        version: req.version ?? null,
        status: 200,
        sha256,
        size,
        contentType: type,
        bodyInline: null,
        upstreamUrl,
        storedAt: now,
        expiresAt: cls === 'immutable' ? null : now + this.opts.mutableTtlSeconds * 1000,
      });
      pending.seal();
    } catch (err) {
      body.destroy();
      this.opts.onBackgroundError?.(new GateError('UPSTREAM_UNAVAILABLE', `download of ${req.upstreamPath} failed: ${describeCause(err)}`, { cause: err }), req.cacheKey);
      await pending.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }
}

function isUpstreamTrouble(err: unknown): boolean {
  return err instanceof GateError && (err.code === 'UPSTREAM_UNAVAILABLE' || err.code === 'UPSTREAM_TIMEOUT');
}

function parseContentLength(v: string | undefined): number | null {
  if (v === undefined || !/^\d+$/.test(v)) return null;
  return Number(v);
}

async function readSmall(body: NodeJS.ReadableStream & { destroy(): void }, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      parts.push(chunk);
      n += chunk.length;
      if (n >= max) {
        body.destroy();
        break;
      }
    }
  } catch {
    // a truncated error body is still an answer
  }
  return Buffer.concat(parts).subarray(0, max);
}
