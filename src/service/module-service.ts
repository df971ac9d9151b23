// Answers one Go-module request (GOPROXY protocol or checksum database) from the cache or from upstream:
// cache lookup → single-flight upstream fetch (along a GOPROXY-style chain; a checksum-database answer the
// verifier already read and authenticated for its own checks is taken from it instead) → write into a pending blob →
// check (.zip/.mod against the checksum database, zips against the go command's rules, every other answer for
// its protocol shape or its database signature) → seal (blob + index row) → later requests are hits.
// Mutable objects are refreshed after their TTL and served stale when upstream fails; upstream 404/410 are
// remembered briefly. Nothing is released whole before its check: clients are answered from the sealed
// object, except a zip that is still arriving after its first MiB: that one streams to its clients as its
// entries are walked and hashed (verify/zip-stream-hash.ts), and its tail (central directory, end record)
// follows only the verdict; a refused one is cut off.
// Knows nothing of sockets, TLS or HTTP servers: the caller turns a ModuleReply into a response and writes
// the audit row.
import { Readable } from 'node:stream';
import { GateError, describeCause } from '../errors.js';
import type { ModuleRequest } from '../goproxy/request-path.js';
import { classify, contentType, cacheControl, type CacheClass } from '../goproxy/cache-class.js';
import { isBlobGoneOrDamaged, SMALL_BLOB_BYTES, type BlobStore } from '../store/blob-store.js';
import type { CacheIndex, CachedObject } from '../store/cache-index.js';
import { PendingBlob } from '../store/pending-blob.js';
import { cutAtDeadline, discardBody, readUpTo, type Upstream, type UpstreamResponse, type UpstreamTarget } from '../upstream/upstream.js';
import { maskCredentialsOf } from '../redact.js';
import type { UpstreamChain } from '../upstream/upstream-chain.js';
import { SingleFlight, type FlightResult } from './single-flight.js';
import { soleProcessLeases, type FetchLeases } from './fetch-leases.js';
import { readFile } from 'node:fs/promises';
import { checkAnswer, hasAnswerCheck } from '../goproxy/answer-check.js';
import { hash1ModuleZip, type KnownDigests } from '../verify/dirhash.js';
import { InThreadZipWalks, type ZipWalk, type ZipWalkPool } from '../verify/zip-walk-pool.js';
import { withoutFilePath } from '../verify/verify-error.js';
import { privateLookupMessage, type ModulePolicy } from '../policy/module-policy.js';

export type Outcome = 'hit' | 'miss' | 'stale' | 'not-found' | 'error';

export interface ModuleQuery {
  request: ModuleRequest;
  upstream: UpstreamChain;
  method: 'GET' | 'HEAD';
}

/** What warm() did: nothing (cached, in flight, offline), or fetched and stored this object (or remembered 404/410). */
export type WarmResult = { done: 'skipped' } | { done: 'fetched'; object: CachedObject };

export interface ModuleReply {
  status: number;
  headers: Record<string, string>;
  /** null for HEAD */
  body: Readable | Buffer | null;
  outcome: Outcome;
  sha256?: string;
  /**
   * A zip streamed while it arrived has no SHA-256 when the reply starts: this gives it once the body is whole
   * (the last byte follows the seal), for the audit row written at the end of the exchange.
   */
  sealedSha256?: () => string | undefined;
  upstreamUrl?: string;
  /** Served, but a policy rule flagged it (action warn): the audit row's reason. */
  warning?: string;
  /** A miss answered by an upstream fetch another request had started (here, or in another worker). */
  joined?: boolean;
}

/** Verifies downloaded objects before they are stored (see verify/module-verifier.ts). */
export interface ObjectVerifier {
  needsVerification(req: ModuleRequest): boolean;
  /** Returns the verified h1:; throws GateError (INTEGRITY, UPSTREAM_UNAVAILABLE). `known`: digests of a zip's entries taken as it streamed. */
  verify(req: ModuleRequest, target: UpstreamTarget, file: string, known?: KnownDigests): Promise<string>;
  /** Starts what verify() will need from the checksum database while the object downloads; never throws. */
  prepare?(req: ModuleRequest, target: UpstreamTarget): void;
}

/** Checks a checksum-database answer of the configured database against its key and log. */
export interface SumdbAnswerCheck {
  /** Is this a request for the configured database's lookups, signed heads or hash tiles? Others are never cached. */
  covers(req: ModuleRequest): boolean;
  /** Throws GateError INTEGRITY (or UPSTREAM_UNAVAILABLE when the database cannot be reached to check). */
  authenticate(req: ModuleRequest, target: UpstreamTarget, body: Buffer): Promise<void>;
  /**
   * The answer to `req` along `target` when the verifier already read it for its own checks (the lookup a .mod's
   * check made, here or in another worker; a tile, /supported): the client's request then costs no upstream
   * round trip. Null when it has none. Never throws.
   */
  knownAnswer?(req: ModuleRequest, target: UpstreamTarget): Promise<{ body: Buffer; url: string } | null>;
}

const DEFAULT_FETCH_DEADLINE_MS = 10 * 60_000;
const DEFAULT_MAX_NEGATIVE_ENTRIES = 10_000;

/** Upper bounds from the go command (modfetch): a go.mod ≤ 16 MiB, a zip ≤ 500 MiB. */
const MAX_BYTES: Record<string, number> = { zip: 500 << 20 };
const DEFAULT_MAX_BYTES = 16 << 20;
const NEGATIVE_BODY_MAX = 4096;
/**
 * A zip starts streaming to its clients once this much of it is walked and hashed. A smaller one is whole
 * and checked first, so a refusal is a status with its reason (the go command prints it), not a cut-off.
 */
const STREAM_AFTER_BYTES = 1 << 20;

type Fetched =
  | { type: 'streaming'; pending: PendingBlob; size: number | null; contentType: string; upstreamUrl: string; stored: Promise<GateError | CachedObject> }
  | { type: 'stored'; object: CachedObject; /** stored by another process, whose fetch lease this one waited for */ byOther: boolean }
  | { type: 'negative'; object: CachedObject };

export interface ModuleServiceOptions {
  index: CacheIndex;
  blobs: BlobStore;
  upstream: Upstream;
  /** The clock for TTLs, remembered 404/410 and expiry, ms since epoch (default Date.now; tests advance their own). */
  now?: () => number;
  mutableTtlSeconds: number;
  negativeTtlSeconds: number;
  /** Answer only from the cache (read at each request: a reload applies it). */
  offline?: () => boolean;
  /** Concurrent fetches of one object share one upstream request (shared with the metrics). */
  flights?: SingleFlight;
  /** Who of several processes sharing the cache fetches a key (default: this process alone, no coordination). */
  leases?: FetchLeases;
  /** Private paths and allow/deny rules, asked before anything else. */
  policy?: Pick<ModulePolicy, 'classify'> | null;
  verifier?: ObjectVerifier | null;
  /** Authenticates checksum-database answers (lookups, signed heads, tiles) before they are cached. */
  sumdbAnswers?: SumdbAnswerCheck | null;
  /** No upstream body may take longer than this from request to last byte (default 10 min). */
  fetchDeadlineMs?: number;
  /** Remembered upstream 404/410 answers are bounded in count (default 10,000). */
  maxNegativeEntries?: number;
  /** Called after an object is stored (e.g. to enforce the cache size limit). */
  onStored?: (obj: CachedObject) => void;
  /** Called for failures the admin should see but the client must not (e.g. a disk error while storing). */
  onBackgroundError?: (err: unknown, key: string) => void;
  /** Called once per upstream response or failure (metrics). */
  onUpstream?: (host: string, status: number | 'error', seconds: number) => void;
  /** Where zips are walked and hashed as they stream in (default: on the event loop). */
  zipWalks?: ZipWalkPool;
}

export class ModuleService {
  private readonly flights: SingleFlight;
  private readonly verifier: ObjectVerifier | null;
  private readonly now: () => number;
  private readonly zipWalks: ZipWalkPool;

  constructor(private readonly opts: ModuleServiceOptions) {
    this.verifier = opts.verifier ?? null;
    this.zipWalks = opts.zipWalks ?? new InThreadZipWalks();
    this.now = opts.now ?? Date.now;
    this.flights = opts.flights ?? new SingleFlight();
  }

  /** Upstream fetches in progress (shutdown waits for them). */
  get inflightFetches(): number {
    return this.flights.size;
  }

  private get offline(): boolean {
    return this.opts.offline?.() ?? false;
  }

  /** Throws GateError for anything that is not a reply from cache or upstream. */
  async answer(q: ModuleQuery): Promise<ModuleReply> {
    const req = q.request;
    const warning = this.enforcePolicy(req);
    if (warning === null) return this.answerAllowed(q); // the hit path: no extra turn
    const reply = await this.answerAllowed(q);
    return { ...reply, warning: reply.warning ? `${warning}; ${reply.warning}` : warning };
  }

  private async answerAllowed(q: ModuleQuery): Promise<ModuleReply> {
    const req = q.request;
    if (req.kind.startsWith('sumdb-') && req.kind !== 'sumdb-supported' && !this.opts.sumdbAnswers?.covers(req)) {
      return this.uncached(q); // another database's answers: the client checks them; we cannot, so we keep none
    }
    const cls = classify(req);
    const key = cacheKeyFor(req, q.upstream);
    const cached = this.opts.index.get(key);
    const fresh = cached && this.isFresh(cached);
    if (cached && (fresh || this.offline)) {
      const reply = await this.fromCache(q, cached, fresh ? 'hit' : 'stale');
      if (reply) return reply;
    }
    if (this.offline) {
      throw new GateError('UPSTREAM_UNAVAILABLE', `the gateway is offline and has no cached copy of ${describeRequest(req)}`);
    }
    // twice at most: an object evicted between its store and this read (another worker enforcing a small
    // cache limit) is fetched once more rather than answered with an error, and by this process itself: what
    // another worker stores may be evicted again before this one reads it, what this one stores it holds
    for (let attempt = 1; ; attempt++) {
      let fetched: Fetched;
      // a fetch for this key already under way: this request joins it, and causes no upstream fetch of its own
      let joined = this.flights.has(key);
      try {
        fetched = await this.flights.run<Fetched>(key, () => this.fetchUnderLease(q, cls, key, attempt === 1));
      } catch (err) {
        if (cached && isUpstreamTrouble(err)) {
          const stale = await this.fromCache(q, cached, 'stale');
          // the audit row and the log line say why the copy is stale
          if (stale) return { ...stale, warning: `served the cached copy: ${err instanceof GateError ? err.message : describeCause(err)}` };
        }
        throw err;
      }
      if (fetched.type === 'negative') return this.negativeReply(q, fetched.object, 'not-found');
      if (fetched.type === 'streaming') {
        const streaming = await this.streamingReply(q, fetched, joined);
        if (streaming) return streaming;
      }
      if (fetched.type === 'stored' && fetched.byOther) joined = true;
      // checked and stored before any byte was released; answered from the row as stored (another process may
      // have evicted it already: a small blob is still in this process's memory)
      const stored = fetched.type === 'stored' ? fetched.object : this.opts.index.get(key);
      const reply = stored && (await this.fromCache(q, stored, 'miss', joined));
      if (reply) return reply;
      if (attempt === 2) throw new GateError('STORE_IO', 'the object was evicted from the cache as soon as it was stored, twice (is cache.maxBytes too small?); retry');
    }
  }

  /**
   * Brings one object into the cache without answering anyone (a prefetch). Does nothing for what is cached and
   * fresh, already being fetched, or when offline; otherwise fetches it as answer() would (single-flight: a
   * client asking meanwhile joins it). Throws GateError as answer() does (DENIED, PRIVATE, upstream trouble,
   * INTEGRITY); nothing is stored then.
   */
  async warm(q: ModuleQuery): Promise<WarmResult> {
    const req = q.request;
    this.enforcePolicy(req);
    if (this.offline) return { done: 'skipped' };
    const key = cacheKeyFor(req, q.upstream);
    const cached = this.opts.index.get(key);
    if (cached && this.isFresh(cached)) return { done: 'skipped' };
    if (this.flights.has(key)) return { done: 'skipped' };
    const fetched = await this.flights.run<Fetched>(key, () => this.fetchUnderLease(q, classify(req), key));
    if (fetched.type !== 'streaming') return { done: 'fetched', object: fetched.object };
    // a large zip resolves its flight while it still arrives: the prefetch is done when it is stored
    const outcome = await fetched.stored;
    if (outcome instanceof GateError) throw outcome;
    return { done: 'fetched', object: outcome };
  }

  /** Immutable, or its TTL not yet over: served from the cache without asking upstream. */
  private isFresh(obj: CachedObject): boolean {
    return obj.expiresAt === null || obj.expiresAt > this.now();
  }

  /**
   * Private modules never leave the gateway; denied ones never come in. Throws PRIVATE or DENIED (a
   * vulnerability denial is the exact sentence the go command shows). Returns a warn rule's reason, else null.
   */
  private enforcePolicy(req: ModuleRequest): string | null {
    if (!req.module || !this.opts.policy) return null;
    const c = this.opts.policy.classify(req.module, req.version ?? null, req.kind);
    if (c.kind === 'private') {
      if (req.kind === 'sumdb-lookup') throw new GateError('PRIVATE', privateLookupMessage(req.module, c.pattern), { status: 403, verbatim: true });
      throw new GateError('PRIVATE', `${req.module} is private here (${c.pattern}): the go command fetches it directly when GOPRIVATE or GONOPROXY covers it`);
    }
    if (c.kind === 'denied' && c.advisories) throw new GateError('DENIED', c.reason, { verbatim: true });
    if (c.kind === 'denied') throw new GateError('DENIED', `${req.module}${req.version ? `@${req.version}` : ''} is blocked by the gateway policy: ${c.reason}`);
    return c.warning ?? null;
  }

  private headersFor(req: ModuleRequest, type: string, size: number | null, state: Outcome): Record<string, string> {
    const h: Record<string, string> = {
      'content-type': type,
      'cache-control': cacheControl(req, this.opts.mutableTtlSeconds),
      'x-gomodgate-cache': state,
    };
    if (size !== null) h['content-length'] = String(size);
    if (state === 'stale') h['warning'] = '110 gomodgate "Response is stale: upstream unavailable"';
    return h;
  }

  private negativeReply(q: ModuleQuery, obj: CachedObject, outcome: Outcome): ModuleReply {
    const body = obj.bodyInline ?? Buffer.from('not found\n');
    return {
      status: obj.status,
      headers: {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': String(body.length),
        'cache-control': `public, max-age=${Math.floor(this.opts.negativeTtlSeconds)}`,
        'x-gomodgate-cache': outcome === 'stale' ? 'stale' : obj.storedAt < this.now() - 1000 ? 'hit' : 'miss',
      },
      body: q.method === 'HEAD' ? null : body,
      outcome: outcome === 'stale' ? 'stale' : 'not-found',
      upstreamUrl: obj.upstreamUrl ?? undefined,
    };
  }

  /** A reply from an index row, or null when its blob is gone (then the row is dropped). */
  private async fromCache(q: ModuleQuery, obj: CachedObject, outcome: 'hit' | 'stale' | 'miss', joined = false): Promise<ModuleReply | null> {
    if (obj.status !== 200) return this.negativeReply(q, obj, outcome === 'stale' ? 'stale' : 'not-found');
    if (!obj.sha256) return null;
    if (obj.h1 === null && this.verifier?.needsVerification(q.request)) {
      // cached while verification did not apply (--sumdb off, --nosumdb): verified before this client gets it
      try {
        const h1 = await this.verifier.verify(q.request, q.upstream[0]!.target, this.opts.blobs.pathOf(obj.sha256));
        this.putIndexed({ ...obj, h1 });
      } catch (err) {
        if (err instanceof GateError && err.code === 'INTEGRITY') this.opts.index.deleteIfNames(obj.key, obj.sha256);
        throw err;
      }
    }
    this.opts.index.touch(obj.key, this.now());
    let body: Readable | Buffer | null = null;
    if (q.method === 'GET') {
      try {
        if (obj.size <= SMALL_BLOB_BYTES) {
          // lists, .info, .mod, tiles and most zips: one read (or none: kept in memory), no stream machinery
          body = await this.opts.blobs.readSmall(obj.sha256, obj.size);
        } else {
          body = await this.opts.blobs.openRead(obj.sha256, obj.size);
        }
      } catch (err) {
        this.opts.onBackgroundError?.(err, obj.key);
        // a blob gone or cut short loses its row (fetched again); a failure to read it (too many open files,
        // permissions) says nothing about the blob, and dropping the row would orphan a good file for good
        if (isBlobGoneOrDamaged(err)) this.opts.index.deleteIfNames(obj.key, obj.sha256);
        return null;
      }
    }
    return {
      status: 200,
      headers: this.headersFor(q.request, obj.contentType, obj.size, outcome),
      body,
      outcome,
      sha256: obj.sha256,
      upstreamUrl: obj.upstreamUrl ?? undefined,
      joined,
    };
  }

  /**
   * A miss answered while its zip still arrives: the body follows the download, its tail only the verdict
   * (a refusal cuts it). HEAD waits for the verdict. Null once the zip is stored (answer from the cache).
   */
  private async streamingReply(q: ModuleQuery, f: Extract<Fetched, { type: 'streaming' }>, joined: boolean): Promise<ModuleReply | null> {
    const failed = f.pending.failureReason;
    if (failed) throw failed;
    const body = q.method === 'GET' ? f.pending.createReader() : null;
    if (body) return { status: 200, headers: this.headersFor(q.request, f.contentType, f.size, 'miss'), body, outcome: 'miss', upstreamUrl: f.upstreamUrl, sealedSha256: () => f.pending.sha256, joined };
    const outcome = await f.stored;
    if (outcome instanceof GateError) throw outcome;
    return null;
  }

  /** Asks each hop in turn, as the go command walks GOPROXY; returns the first answer that ends the walk. */
  private async requestAlongChain(q: ModuleQuery): Promise<{ res: UpstreamResponse; target: UpstreamTarget }> {
    let lastError: unknown = null;
    for (let i = 0; i < q.upstream.length; i++) {
      const hop = q.upstream[i]!;
      const last = i === q.upstream.length - 1;
      const started = process.hrtime.bigint();
      const host = hop.target.base.hostname;
      let res: UpstreamResponse;
      try {
        res = await this.opts.upstream.request(hop.target, q.request.upstreamPath);
      } catch (err) {
        this.opts.onUpstream?.(host, 'error', Number(process.hrtime.bigint() - started) / 1e9);
        lastError = err;
        if (!last && hop.fallthrough === 'any-error') continue;
        throw err;
      }
      this.opts.onUpstream?.(host, res.status, Number(process.hrtime.bigint() - started) / 1e9);
      const notFound = res.status === 404 || res.status === 410;
      const moveOn = !last && ((notFound && hop.fallthrough !== 'none') || (!notFound && res.status !== 200 && hop.fallthrough === 'any-error'));
      if (moveOn) {
        discardBody(res);
        continue;
      }
      return { res, target: hop.target };
    }
    throw lastError ?? new GateError('UPSTREAM_UNAVAILABLE', 'no upstream is configured');
  }

  /** An answer relayed from upstream without being stored (a checksum database we cannot check). */
  private async uncached(q: ModuleQuery): Promise<ModuleReply> {
    if (this.offline) throw new GateError('UPSTREAM_UNAVAILABLE', `the gateway is offline and keeps no copy of ${describeRequest(q.request)}`);
    const { res, target } = await this.requestAlongChain(q);
    if (res.status !== 200 && res.status !== 404 && res.status !== 410) throw await upstreamRefusal(res, q.request);
    this.armDeadline(res, q.request);
    if (res.status !== 200) {
      // the upstream's reason as text, as a cached 404 is answered (it was labelled as the kind's content)
      const text = await negativeText(res, target);
      const headers = { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(text.length), 'cache-control': 'no-store', 'x-gomodgate-cache': 'miss' };
      return { status: res.status, headers, body: q.method === 'HEAD' ? null : text, outcome: 'not-found', upstreamUrl: res.url };
    }
    const headers: Record<string, string> = { 'content-type': contentType(q.request), 'cache-control': 'no-store', 'x-gomodgate-cache': 'miss' };
    const declared = parseContentLength(res.headers['content-length']);
    if (declared !== null) headers['content-length'] = String(declared);
    if (q.method === 'HEAD') res.body.destroy();
    return { status: 200, headers, body: q.method === 'HEAD' ? null : res.body, outcome: 'miss', upstreamUrl: res.url };
  }

  /**
   * Stores a row; the blob it replaced, once no row points at it (a refreshed list or @latest, a 200 that became a
   * remembered 404), is removed, unless it is in use (then `cache verify --repair` finds it). A row whose file is
   * gone once the row is written is deleted again: another process removed the same content between this
   * process's rename and its row (it evicted the content's other rows; see removeBlobFile).
   */
  private putIndexed(obj: CachedObject): void {
    const { index, blobs } = this.opts;
    const orphan = index.put(obj);
    if (orphan !== null && !blobs.inUse(orphan)) index.removeBlob(blobs, orphan);
    if (obj.sha256 !== null && blobs.sizeOfSync(obj.sha256) === null) index.deleteIfNames(obj.key, obj.sha256);
  }

  /** Cuts an upstream body that is still arriving after the fetch deadline. */
  private armDeadline(res: UpstreamResponse, req: ModuleRequest): void {
    const ms = this.opts.fetchDeadlineMs ?? DEFAULT_FETCH_DEADLINE_MS;
    cutAtDeadline(res, ms, `upstream took longer than ${Math.round(ms / 1000)} s to send ${describeRequest(req)}`);
  }

  /**
   * The flight leader's fetch, under the key's lease across processes: one that waited for another process
   * answers from what that one stored (fresh) instead of fetching again, unless `takeOthers` is false (that
   * copy was evicted before it could be read once already). The lease is held until the object is stored or the
   * fetch failed (a streaming zip: until its last byte is checked and stored).
   */
  private async fetchUnderLease(q: ModuleQuery, cls: CacheClass, key: string, takeOthers = true): Promise<FlightResult<Fetched>> {
    const lease = await (this.opts.leases ?? soleProcessLeases).acquire(key);
    let handedOn = false;
    try {
      if (lease.waited && takeOthers) {
        const now = this.opts.index.get(key);
        if (now && this.isFresh(now)) return { value: now.status === 200 ? { type: 'stored', object: now, byOther: true } : { type: 'negative', object: now } };
      }
      const result = await this.fetch(q, cls, key);
      if (result.settled) {
        handedOn = true;
        void result.settled.then(
          () => lease.release(),
          () => lease.release(),
        );
      }
      return result;
    } finally {
      if (!handedOn) lease.release();
    }
  }

  private async fetch(q: ModuleQuery, cls: CacheClass, key: string): Promise<{ value: Fetched; settled?: Promise<unknown> }> {
    const req = q.request;
    this.startChecksumLookup(q);
    const { res, target } = (await this.alreadyRead(q)) ?? (await this.requestAlongChain(q));
    const host = target.base.hostname;
    // from the headers on: a 404's text that trickles in is cut at the deadline too, not only a 200's body
    this.armDeadline(res, req);
    if (res.status === 404 || res.status === 410) {
      const text = await negativeText(res, target);
      const now = this.now();
      const object: CachedObject = {
        key,
        kind: req.kind,
        module: req.module ?? null,
        version: req.version ?? null,
        status: res.status,
        sha256: null,
        h1: null,
        size: text.length,
        contentType: 'text/plain; charset=utf-8',
        bodyInline: text,
        upstreamUrl: res.url,
        storedAt: now,
        expiresAt: now + this.opts.negativeTtlSeconds * 1000,
      };
      this.putIndexed(object);
      this.opts.index.pruneNegatives(this.opts.maxNegativeEntries ?? DEFAULT_MAX_NEGATIVE_ENTRIES, now);
      return { value: { type: 'negative', object } };
    }
    if (res.status !== 200) throw await upstreamRefusal(res, req);
    const max = MAX_BYTES[req.kind] ?? DEFAULT_MAX_BYTES;
    const declared = parseContentLength(res.headers['content-length']);
    if (declared !== null && declared > max) {
      res.body.destroy();
      throw new GateError('UPSTREAM_UNAVAILABLE', `upstream ${host} offers ${declared} bytes for ${req.upstreamPath}, over the ${max}-byte limit`, { upstreamUrl: res.url });
    }
    // a zip is hashed as it arrives, and its clients get what the walk has vouched for
    const walk = req.kind === 'zip' ? this.zipWalks.start() : null;
    let pending: PendingBlob;
    try {
      pending = await PendingBlob.create(this.opts.blobs.newTempPath(), declared, { gated: walk !== null });
    } catch (err) {
      res.body.destroy();
      throw new GateError('STORE_IO', 'the gateway cannot write to its cache', { cause: err });
    }
    const type = contentType(req);
    const verify = this.verifier?.needsVerification(req) ? this.verifier : null;
    // every kind is checked before it is stored (checksum database, module zip rules, protocol shape), and
    // nothing is released whole before its check
    const stored = this.store(req, key, cls, res, pending, declared, max, type, verify, target, walk);
    if (walk) {
      await Promise.race([stored, pending.whenReleased(STREAM_AFTER_BYTES)]);
      if (pending.writing) {
        return { value: { type: 'streaming', pending, size: declared, contentType: type, upstreamUrl: res.url, stored }, settled: stored };
      }
    }
    const outcome = await stored;
    if (outcome instanceof GateError) throw outcome;
    return { value: { type: 'stored', object: outcome, byOther: false } };
  }

  /**
   * The checksum-database lookup a .zip or .mod will be checked with, started alongside its download rather
   * than after it (along the first hop: the one that answers unless it falls through).
   */
  private startChecksumLookup(q: ModuleQuery): void {
    const first = q.upstream[0];
    if (first && this.verifier?.prepare && this.verifier.needsVerification(q.request)) this.verifier.prepare(q.request, first.target);
  }

  /**
   * A checksum-database answer the verifier read from the first hop for its own checks, as that hop's response
   * (a 200 from the first hop ends the walk), so the go command's own lookup after a .mod costs no round trip.
   * It is checked and stored like any upstream answer.
   */
  private async alreadyRead(q: ModuleQuery): Promise<{ res: UpstreamResponse; target: UpstreamTarget } | null> {
    const first = q.upstream[0];
    const sumdb = this.opts.sumdbAnswers;
    if (!first || !sumdb?.knownAnswer || !q.request.kind.startsWith('sumdb-')) return null;
    const known = await sumdb.knownAnswer(q.request, first.target);
    if (!known) return null;
    const res: UpstreamResponse = { status: 200, headers: { 'content-length': String(known.body.length) }, body: Readable.from(known.body.length ? [known.body] : []), url: known.url };
    return { res, target: first.target };
  }

  /** Checks an answer that no checksum verification covered; throws (nothing is stored) when it is not acceptable. */
  private async checkAnswer(req: ModuleRequest, target: UpstreamTarget, file: string, size: number, url: string, known: KnownDigests | null): Promise<void> {
    if (req.kind === 'zip') {
      // not covered by the checksum database (--sumdb off, --nosumdb, --private): still a module zip the go
      // command would accept, whole (a short Content-Length or a cut-off body is not)
      try {
        await hash1ModuleZip(file, req.module!, req.version!, known ?? undefined);
      } catch (err) {
        if (err instanceof GateError) throw err; // the gateway's own trouble (its hashing thread stopped), not the zip's
        throw new GateError('UPSTREAM_UNAVAILABLE', `upstream ${target.base.hostname} sent a zip for ${describeRequest(req)} that the go command would refuse (${withoutFilePath(describeCause(err), file).slice(0, 200)}); nothing was cached`, { upstreamUrl: url, cause: err });
      }
      return;
    }
    const sumdb = req.kind.startsWith('sumdb-') && req.kind !== 'sumdb-supported' ? this.opts.sumdbAnswers : null;
    if (!sumdb && !hasAnswerCheck(req)) return;
    const body = size === 0 ? Buffer.alloc(0) : await readFile(file);
    if (sumdb) {
      await sumdb.authenticate(req, target, body);
      return;
    }
    const reason = checkAnswer(req, body);
    if (reason) {
      throw new GateError('UPSTREAM_UNAVAILABLE', `upstream ${target.base.hostname} sent an invalid answer for ${describeRequest(req)}: ${reason}; nothing was cached`, { upstreamUrl: url });
    }
  }

  /**
   * Pumps the upstream body into the pending blob, verifies and seals it. Resolves to the row stored, or the failure.
   * With a `walk` (zips), each chunk is also hashed as it passes, and readers get what the walk has passed
   * (local entries): the central directory and end record, at least, wait for the verdict.
   */
  private async store(
    req: ModuleRequest,
    key: string,
    cls: CacheClass,
    res: UpstreamResponse,
    pending: PendingBlob,
    declared: number | null,
    max: number,
    type: string,
    verifier: ObjectVerifier | null,
    target: UpstreamTarget,
    walk: ZipWalk | null,
  ): Promise<GateError | CachedObject> {
    let unpin = () => {};
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (pending.bytesWritten + chunk.length > max) throw new Error(`body exceeds the ${max}-byte limit`);
        if (walk) {
          await Promise.all([pending.append(chunk).catch(storeFailure), walk.write(chunk)]);
          pending.releaseUpTo(walk.walkedBytes);
        } else {
          await pending.append(chunk).catch(storeFailure);
        }
      }
      await walk?.end();
      if (declared !== null && pending.bytesWritten !== declared) {
        throw new Error(`upstream sent ${pending.bytesWritten} of ${declared} bytes`);
      }
      const { sha256, size } = await pending.finishWriting().catch(storeFailure);
      const h1 = verifier ? await verifier.verify(req, target, pending.tempPath, walk ?? undefined) : null;
      if (!verifier) await this.checkAnswer(req, target, pending.tempPath, size, res.url, walk);
      unpin = this.opts.blobs.pin(sha256);
      await this.opts.blobs.commit(pending.tempPath, sha256, size);
      const now = this.now();
      const obj: CachedObject = {
        key,
        kind: req.kind,
        module: req.module ?? null,
        version: req.version ?? null,
        status: 200,
        sha256,
        h1,
        size,
        contentType: type,
        bodyInline: null,
        upstreamUrl: res.url,
        storedAt: now,
        expiresAt: cls === 'immutable' ? null : now + this.opts.mutableTtlSeconds * 1000,
      };
      this.putIndexed(obj);
      unpin();
      pending.seal();
      this.opts.onStored?.(obj);
      return obj;
    } catch (err) {
      unpin();
      res.body.destroy();
      walk?.destroy();
      // the audit row and the log line name the upstream that was asked, whatever went wrong with its answer
      const gate = err instanceof GateError
        ? err.upstreamUrl ? err : new GateError(err.code, err.message, { cause: err.cause, status: err.status, upstreamUrl: res.url })
        : new GateError('UPSTREAM_UNAVAILABLE', `the download of ${describeRequest(req)} from ${target.base.hostname} failed`, { cause: err, upstreamUrl: res.url });
      if (!(err instanceof GateError) || err.code !== 'INTEGRITY') {
        // the admin's line names what went wrong underneath (ENOSPC, a reset), not the client's sentence twice
        // (once: a GateError with nothing underneath is its own sentence, not that sentence three times)
        const underneath = err instanceof GateError ? err.cause : err;
        const detail = underneath === undefined ? null : describeCause(underneath);
        this.opts.onBackgroundError?.(new GateError(gate.code, detail && detail !== gate.message ? `${gate.message}: ${detail}` : gate.message), key);
      }
      await pending.fail(gate);
      return gate;
    }
  }
}

/**
 * The cache key of a request asked along `chain`. Answers that may differ between upstreams (lists, @latest,
 * .info of a query, /supported) carry the upstream they came from; verified objects (.zip, .mod, canonical
 * .info, checksum-database answers checked against the database's key) are the same wherever they come from.
 */
export function cacheKeyFor(req: ModuleRequest, chain: UpstreamChain): string {
  const perUpstream = req.kind === 'list' || req.kind === 'latest' || req.kind === 'sumdb-supported' || (req.kind === 'info' && classify(req) === 'mutable');
  if (!perUpstream) return req.cacheKey;
  return `${req.cacheKey} via ${chain.map((h) => h.target.base.origin + h.target.base.pathname.replace(/\/+$/, '')).join(',')}`;
}

export function describeRequest(req: ModuleRequest): string {
  if (req.module && req.version) return `${req.module}@${req.version} (${req.kind})`;
  if (req.module) return `${req.module} (${req.kind})`;
  return req.upstreamPath;
}

/** A failure of the gateway's own disk while storing (ENOSPC, EIO, a read-only file system): not the upstream's fault. */
function storeFailure(err: unknown): never {
  const code = (err as NodeJS.ErrnoException)?.code;
  throw new GateError('STORE_IO', `the gateway cannot write to its cache${code === 'ENOSPC' ? ' (its disk is full)' : ''}; see the gateway log`, { cause: err });
}

function isUpstreamTrouble(err: unknown): boolean {
  return err instanceof GateError && (err.code === 'UPSTREAM_UNAVAILABLE' || err.code === 'UPSTREAM_TIMEOUT');
}

function parseContentLength(v: string | undefined): number | null {
  if (v === undefined || !/^\d+$/.test(v)) return null;
  return Number(v);
}

/** An upstream answer's media type ("text/plain" of "text/plain; charset=utf-8"), lower case; `absent` without one. */
function mediaType(res: UpstreamResponse, absent: string): string {
  const header = res.headers['content-type'];
  return header === undefined ? absent : header.split(';')[0]!.trim().toLowerCase();
}

/** How long an upstream's error text is waited for: it only adds to the client's line. */
const REFUSAL_TEXT_MS = 2000;

/**
 * An upstream answer other than 200, 404 and 410, as the client gets it: a 4xx keeps its status (a 403 or 429 is
 * the upstream's to give, as the go command shows it direct), anything else is a 502; the line carries the
 * first line of the upstream's text/plain reason, as the go command would print it direct.
 */
async function upstreamRefusal(res: UpstreamResponse, req: ModuleRequest): Promise<GateError> {
  let said = '';
  if (mediaType(res, '') === 'text/plain') {
    const timer = setTimeout(() => res.body.destroy(), REFUSAL_TEXT_MS);
    said = (await readUpTo(res.body, 512, null)).toString('utf8').split('\n').find((l) => l.trim() !== '')?.trim().slice(0, 200) ?? '';
    clearTimeout(timer);
  } else {
    discardBody(res);
  }
  const host = new URL(res.url).hostname;
  const status = res.status >= 400 && res.status < 500 ? res.status : undefined;
  return new GateError('UPSTREAM_UNAVAILABLE', `upstream ${host} answered ${res.status} for ${req.upstreamPath}${said ? `: ${said}` : ''}`, { upstreamUrl: res.url, status });
}

/**
 * An upstream's 404/410 body as clients and the cache get it: bounded, with echoed upstream credentials masked.
 * The go command prints a text/plain body's first lines to the user; a body of another type (a mirror's HTML
 * error page) is replaced by one line saying what came, rather than printed as markup.
 */
async function negativeText(res: UpstreamResponse, target: UpstreamTarget): Promise<Buffer> {
  const type = mediaType(res, 'text/plain'); // no Content-Type: as proxy.golang.org's 404s are, text
  if (type !== 'text/plain') {
    res.body.destroy();
    return Buffer.from(`${res.status === 410 ? 'gone' : 'not found'}: upstream ${target.base.host} answered ${res.status} with a ${type} page (not shown)\n`);
  }
  const body = await readUpTo(res.body, NEGATIVE_BODY_MAX, null);
  if (!target.base.username && !target.base.password) return body;
  return Buffer.from(maskCredentialsOf(target.base, body.toString('utf8')));
}

