// Verify-before-cache: checks every .zip and .mod fetched from upstream against the configured checksum
// database before it is stored or released, the way the go command does (signed tree head + Merkle proof of
// the record, then the h1: hash of the downloaded bytes). Reaches the database as the go command does: through
// the upstream proxy's /sumdb/NAME/ when it answers /supported, else directly (GOSUMDB URL or https://NAME);
// those reads go straight to the upstream (the `fetch` given by the composition root), never through the
// cache this module guards. It also authenticates the checksum-database answers the gateway serves to
// clients (lookups, signed heads, tiles) before they are cached, and hands out those it has already read and
// authenticated itself (a lookup, a tile, /supported), so a client's request for them costs no round trip. The
// /supported answer is remembered for a while (not for the life of the process); the latest tree head is
// one per database, shared by all routes (and kept across restarts when a persistent store is given).
// Never lets an unverifiable object through: an unreachable database is a failure, not a pass.
import { readFile } from 'node:fs/promises';
import { GateError, describeCause } from '../errors.js';
import { parseProxyPath, parseSumdbDirectPath, type ModuleRequest } from '../goproxy/request-path.js';
import type { UpstreamTarget } from '../upstream/upstream-client.js';
import { SumdbVerifier, type LookupAnswer } from './sumdb-verifier.js';
import { hash1GoMod, hash1ModuleZip, type KnownDigests } from './dirhash.js';
import { isVerifyError, withoutFilePath, type VerifyError } from './verify-error.js';
import { MemoryLatestNoteStore, type LatestNoteStore } from './latest-note-store.js';
import type { SumdbReadStore } from './sumdb-read-store.js';
import type { FetchLeases } from '../service/fetch-leases.js';

export interface SumdbSetting {
  name: string;
  verifierKey: string;
  /** Direct URL of the database (GOSUMDB's optional URL), default https://NAME */
  url: URL;
}

/** Parses GOSUMDB syntax: "NAME+HASH+KEY [URL]", or "off" (null). Throws CONFIG_INVALID. */
export function parseSumdbSetting(value: string): SumdbSetting | null {
  const v = value.trim();
  if (v === 'off') return null;
  const [key, url, ...rest] = v.split(/\s+/);
  const name = key?.split('+')[0];
  if (!key || !name || rest.length) throw new GateError('CONFIG_INVALID', `sumdb must be "NAME+HASH+KEY [URL]" or "off" (got "${value}")`);
  let base: URL;
  try {
    base = new URL(url ?? `https://${name}`);
  } catch {
    throw new GateError('CONFIG_INVALID', `sumdb URL is not a URL (got "${url}")`);
  }
  return { name, verifierKey: key, url: base };
}

/** Reads a checksum-database path from upstream. Returns any status with its body; throws GateError on transport failure. */
export type DatabaseFetch = (request: ModuleRequest, target: UpstreamTarget) => Promise<{ status: number; body: Buffer; url?: string }>;

export interface ModuleVerifierOptions {
  /** The latest tree head per database; default: in memory, shared by this verifier's routes. */
  latestNotes?: LatestNoteStore;
  /** Where authenticated lookups and tiles are kept across restarts and processes (SumdbVerifierOptions.reads). */
  reads?: SumdbReadStore;
  /** Who reads a lookup from upstream among the processes sharing `reads` (SumdbVerifierOptions.leases). */
  leases?: FetchLeases;
  /** How long a route's /supported answer (200, 404, 410) is remembered. Default 10 minutes. */
  supportedTtlMs?: number;
  /** How long a failed /supported question (error, other status) is remembered. Default 30 seconds. */
  supportedRetryMs?: number;
  /** Clock (ms), for tests. */
  now?: () => number;
}

const MAX_ROUTES = 32;
/** Checksum-database lookups remembered (verified records never change; a failed one is forgotten at once). */
const MAX_REMEMBERED_LOOKUPS = 1024;
const DEFAULT_SUPPORTED_TTL_MS = 10 * 60_000;
const DEFAULT_SUPPORTED_RETRY_MS = 30_000;

interface RouteVerifier {
  verifier: Promise<SumdbVerifier>;
  expiresAt: number;
  /** The route's /supported answer once known ('yes': the verifier reads the database through the proxy). */
  supported?: { answer: 'yes' | 'no' | 'unknown'; url: string };
}

/** An answer of the checksum database that the verifier read and authenticated itself (see knownAnswer). */
export interface KnownAnswer {
  body: Buffer;
  url: string;
}

export class ModuleVerifier {
  private readonly verifiers = new Map<string, RouteVerifier>();
  /** Lookups started or done, per route and module@version: a .zip's check joins the one its download started. */
  private readonly lookups = new Map<string, Promise<LookupAnswer>>();
  private readonly latestNotes: LatestNoteStore;
  private readonly reads: SumdbReadStore | undefined;
  private readonly leases: FetchLeases | undefined;
  private readonly supportedTtlMs: number;
  private readonly supportedRetryMs: number;
  private readonly now: () => number;

  constructor(
    private readonly sumdb: SumdbSetting,
    private readonly fetch: DatabaseFetch,
    /** false for modules under --nosumdb or --private */
    private readonly shouldCheck: (module: string) => boolean,
    options: ModuleVerifierOptions = {},
  ) {
    this.latestNotes = options.latestNotes ?? new MemoryLatestNoteStore();
    this.reads = options.reads;
    this.leases = options.leases;
    this.supportedTtlMs = options.supportedTtlMs ?? DEFAULT_SUPPORTED_TTL_MS;
    this.supportedRetryMs = options.supportedRetryMs ?? DEFAULT_SUPPORTED_RETRY_MS;
    this.now = options.now ?? Date.now;
  }

  get databaseName(): string {
    return this.sumdb.name;
  }

  needsVerification(req: ModuleRequest): boolean {
    return (req.kind === 'zip' || req.kind === 'mod') && !!req.module && !!req.version && this.shouldCheck(req.module);
  }

  /** Checksum-database answers of the configured database that can be authenticated: lookups, signed heads, hash tiles. */
  covers(req: ModuleRequest): boolean {
    if (req.sumdb !== this.sumdb.name) return false;
    return req.kind === 'sumdb-lookup' || req.kind === 'sumdb-latest' || (req.kind === 'sumdb-tile' && req.tile?.level !== 'data');
  }

  /**
   * Authenticates a checksum-database answer before it is cached or served: a lookup's record and proof, a
   * signed head's signature and consistency with the latest head, a tile's hashes against the signed tree.
   * Throws GateError INTEGRITY when it does not check out, UPSTREAM_UNAVAILABLE when the database cannot be
   * reached to check it.
   */
  async authenticate(req: ModuleRequest, target: UpstreamTarget, body: Buffer): Promise<void> {
    const verifier = await this.verifierFor(target);
    const what = req.kind === 'sumdb-lookup' ? `the checksum-database record of ${req.module}@${req.version}` : req.kind === 'sumdb-latest' ? `the signed tree head of ${this.sumdb.name}` : `a tile of ${this.sumdb.name}`;
    try {
      if (req.kind === 'sumdb-lookup') await verifier.checkLookupAnswer(req.module!, req.version!, body);
      else if (req.kind === 'sumdb-latest') await verifier.checkSignedHead(body);
      else await verifier.checkTile(req.upstreamPath.slice(req.upstreamPath.lastIndexOf('/tile/') + 1), body);
    } catch (err) {
      if (isVerifyError(err, 'unavailable')) throw this.unavailable(`cannot check ${what}`, err);
      // say why (a bad signature, a record that does not prove, a forked log): each points the admin elsewhere
      throw new GateError('INTEGRITY', `upstream sent ${what} that does not verify (${describeCause(err)}); refusing it`, { cause: err });
    }
  }

  /** The client's line when the database could not be read: a 504 when it was too slow, else a 502. */
  private unavailable(what: string, err: VerifyError): GateError {
    const slow = err.cause instanceof GateError && err.cause.code === 'UPSTREAM_TIMEOUT';
    return slow
      ? new GateError('UPSTREAM_TIMEOUT', `${what}: the checksum database ${this.sumdb.name} did not answer in time`, { cause: err })
      : new GateError('UPSTREAM_UNAVAILABLE', `${what}: the checksum database ${this.sumdb.name} is unreachable from the gateway`, { cause: err });
  }

  /**
   * Starts the checksum-database lookup of a .zip or .mod (with the /supported question and the tiles its proof
   * needs) without waiting for it, so that it runs while the object downloads; verify() then joins it. Never
   * throws: a failed lookup is forgotten and verify() asks again (and reports that failure).
   */
  prepare(req: ModuleRequest, target: UpstreamTarget): void {
    if (!this.needsVerification(req)) return;
    this.lookupFor(req.module!, req.version!, target).catch(() => undefined);
  }

  /**
   * Returns the verified h1: of the downloaded file; throws GateError INTEGRITY on mismatch. `known`: a
   * zip's entry digests taken while it streamed in (used only where they prove themselves).
   */
  async verify(req: ModuleRequest, target: UpstreamTarget, file: string, known?: KnownDigests): Promise<string> {
    const module = req.module!;
    const version = req.version!;
    const started = this.lookupFor(module, version, target);
    started.catch(() => undefined); // awaited below, after hashing
    const actual = req.kind === 'zip' ? await this.hashZip(file, module, version, known) : hash1GoMod(await readFile(file));
    await this.verifierFor(target); // its failures propagate as they are, as before any lookup
    let sums;
    try {
      sums = await started;
    } catch (err) {
      if (isVerifyError(err, 'not-found')) {
        throw new GateError('INTEGRITY', `${module}@${version} is not in the checksum database ${this.sumdb.name}; refusing it (for a private module set --private or --nosumdb)`, { cause: err });
      }
      if (isVerifyError(err, 'unavailable')) throw this.unavailable(`cannot verify ${module}@${version}`, err);
      throw new GateError('INTEGRITY', `the checksum database ${this.sumdb.name} gave an answer that does not verify for ${module}@${version}; refusing it`, { cause: err });
    }
    const expected = req.kind === 'zip' ? sums.zipHash : sums.modHash;
    if (actual !== expected) {
      const what = req.kind === 'zip' ? `${module}@${version}` : `${module}@${version}/go.mod`;
      throw new GateError('INTEGRITY', `checksum mismatch for ${what}: upstream ${actual} database ${expected}`);
    }
    return actual;
  }

  /**
   * Reads ahead, in the background, what the first check along this route will need: the route's /supported
   * answer, the database's signed head and the tiles at its edge, so that the first lookup costs one round trip
   * (the lookup) rather than three (/supported, lookup, tiles). Never throws: a failure is forgotten and the
   * first check asks again (and reports its own failure).
   */
  warmRoute(target: UpstreamTarget): void {
    this.verifierFor(target).then((verifier) => verifier.warmLatest()).catch(() => undefined);
  }

  /**
   * A checksum-database answer for `req` (asked by a client along `target`) that this verifier already read from
   * that route and authenticated for its own checks, so the gateway can answer it without asking upstream again:
   * the route's /supported 200, a lookup done or in flight (awaited), or kept by another worker or before a
   * restart (one another worker is reading now is waited for), a hash tile it holds. Null when it has none (or
   * its lookup failed): then the caller asks upstream as usual. Never fetches anything itself, never throws.
   * The caller still checks the answer as it checks any (SumdbAnswerCheck.authenticate).
   */
  async knownAnswer(req: ModuleRequest, target: UpstreamTarget): Promise<KnownAnswer | null> {
    if (req.sumdb !== this.sumdb.name) return null;
    const route = this.verifiers.get(routeKey(target));
    if (req.kind === 'sumdb-supported') {
      const supported = route !== undefined && route.expiresAt > this.now() ? route.supported : undefined;
      return supported?.answer === 'yes' ? { body: Buffer.alloc(0), url: supported.url } : null;
    }
    if (req.kind === 'sumdb-lookup' && req.module && req.version) {
      const lookup = this.lookups.get(`${routeKey(target)}|${req.module}@${req.version}`);
      const sums = lookup ? await lookup.catch(() => null) : null;
      if (sums) return { body: sums.answer.body, url: sums.answer.url ?? this.whereRead(route, target, req.upstreamPath) };
      // kept by another worker or before a restart, or being read by another worker now (waited for)
      const verifier = route === undefined ? null : await route.verifier.catch(() => null);
      const kept = (await verifier?.keptLookupAnswer(req.module, req.version)) ?? null;
      return kept ? { body: kept, url: this.whereRead(route, target, req.upstreamPath) } : null;
    }
    if (req.kind === 'sumdb-tile' && req.tile?.level !== 'data' && route !== undefined) {
      const verifier = await route.verifier.catch(() => null);
      const body = verifier?.authenticatedTile(req.upstreamPath.slice(req.upstreamPath.lastIndexOf('/tile/') + 1));
      return body ? { body, url: this.whereRead(route, target, req.upstreamPath) } : null;
    }
    return null;
  }

  /** The URL this route's verifier reads a checksum-database path (`/sumdb/NAME/...`) from. */
  private whereRead(route: RouteVerifier | undefined, target: UpstreamTarget, proxyPath: string): string {
    if (route?.supported?.answer === 'yes') return target.base.origin + target.base.pathname.replace(/\/+$/, '') + proxyPath;
    return this.sumdb.url.origin + this.sumdb.url.pathname.replace(/\/+$/, '') + proxyPath.slice(`/sumdb/${this.sumdb.name}`.length);
  }

  /** The lookup of module@version along this route: the one in flight or done, else a new one. */
  private lookupFor(module: string, version: string, target: UpstreamTarget): Promise<LookupAnswer> {
    const key = `${routeKey(target)}|${module}@${version}`;
    const known = this.lookups.get(key);
    if (known) {
      this.lookups.delete(key); // most recently used last
      this.lookups.set(key, known);
      return known;
    }
    const lookup = this.verifierFor(target).then((verifier) => verifier.lookup(module, version));
    this.lookups.set(key, lookup);
    if (this.lookups.size > MAX_REMEMBERED_LOOKUPS) this.lookups.delete(this.lookups.keys().next().value!);
    lookup.catch(() => {
      if (this.lookups.get(key) === lookup) this.lookups.delete(key);
    });
    return lookup;
  }

  private async hashZip(file: string, module: string, version: string, known?: KnownDigests): Promise<string> {
    try {
      return await hash1ModuleZip(file, module, version, known);
    } catch (err) {
      if (err instanceof GateError) throw err; // the gateway's own trouble (its hashing thread stopped), not the zip's
      const why = isVerifyError(err, 'bad-zip') ? `: ${withoutFilePath(err.message, file)}` : '';
      throw new GateError('INTEGRITY', `upstream sent a zip for ${module}@${version} that the go command would refuse or could read differently${why}; refusing it`, { cause: err });
    }
  }

  /**
   * One verifier (tile cache, and how it reaches the database) per route, re-decided when its /supported
   * answer expires. The tree-head state is not the route's: all share this database's LatestNoteStore.
   */
  private verifierFor(target: UpstreamTarget): Promise<SumdbVerifier> {
    const key = routeKey(target);
    const now = this.now();
    const cached = this.verifiers.get(key);
    if (cached !== undefined && cached.expiresAt > now) return cached.verifier;
    this.verifiers.delete(key);
    if (this.verifiers.size >= MAX_ROUTES) this.verifiers.delete(this.verifiers.keys().next().value!);
    const route: RouteVerifier = { verifier: Promise.resolve(null as unknown as SumdbVerifier), expiresAt: now + this.supportedRetryMs };
    route.verifier = this.createVerifier(target, route);
    this.verifiers.set(key, route);
    route.verifier.catch(() => {
      if (this.verifiers.get(key) === route) this.verifiers.delete(key);
    });
    return route.verifier;
  }

  private async createVerifier(target: UpstreamTarget, route: RouteVerifier): Promise<SumdbVerifier> {
    const name = this.sumdb.name;
    const { answer: supported, url } = await this.proxySupportsSumdb(target);
    // A definite answer is remembered for the TTL; a failed question only briefly (then asked again).
    route.expiresAt = this.now() + (supported === 'unknown' ? this.supportedRetryMs : this.supportedTtlMs);
    route.supported = { answer: supported, url };
    const viaProxy = supported === 'yes';
    const fetch = viaProxy
      ? async (path: string) => this.fetch(this.parsed(parseProxyPath(`/sumdb/${name}${path}`), path), target)
      : async (path: string) => this.fetch(this.parsed(parseSumdbDirectPath(path, this.sumdb.url.hostname)), { base: this.sumdb.url });
    return new SumdbVerifier({ verifierKey: this.sumdb.verifierKey, fetch, latestStore: this.latestNotes, reads: this.reads, leases: this.leases });
  }

  private async proxySupportsSumdb(target: UpstreamTarget): Promise<{ answer: 'yes' | 'no' | 'unknown'; url: string }> {
    const req = this.parsed(parseProxyPath(`/sumdb/${this.sumdb.name}/supported`));
    const asked = target.base.origin + target.base.pathname.replace(/\/+$/, '') + req.upstreamPath;
    if (target.base.hostname === this.sumdb.url.hostname) return { answer: 'no', url: asked };
    try {
      const { status, url } = await this.fetch(req, target);
      if (status === 200) return { answer: 'yes', url: url ?? asked };
      return { answer: status === 404 || status === 410 ? 'no' : 'unknown', url: url ?? asked };
    } catch {
      return { answer: 'unknown', url: asked }; // the go command falls back to the direct URL too
    }
  }

  private parsed(result: ReturnType<typeof parseProxyPath>, path = ''): ModuleRequest {
    if (result.ok !== true) {
      throw new GateError('INTEGRITY', `checksum database path ${path} is not valid`);
    }
    return result.request;
  }
}

function routeKey(target: UpstreamTarget): string {
  return `${target.base.href}|${target.connectTo ? `${target.connectTo.address}:${target.connectTo.port}` : ''}`;
}

export { isVerifyError };
