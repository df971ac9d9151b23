// The checksum-database client: looks up module@version, verifies the signed tree head with the
// configured key, proves the record is in that tree with tiles, and checks that each new tree head
// extends the last one it accepted (a database that forks its log is caught). Owns the in-memory
// latest tree head and a bounded tile cache.
// Transport is the caller's (SumdbFetch): this module never opens sockets, never trusts bytes it has
// not authenticated, and never caches a tile before it has been checked against a signed tree head.
import { escapePath, escapeVersion } from '../goproxy/module-path.js';
import { parseVerifierKey, verifyNote, type Verifier } from './note.js';
import {
  checkRecordInTree,
  checkTreeConsistency,
  parseRecord,
  parseTreeHead,
  tilePath,
  type Tile,
  type TileReader,
  type Tree,
} from './tlog.js';
import { VerifyError } from './verify-error.js';

/** Fetches a path relative to the database base ('/lookup/…', '/tile/…'). Throws on transport failure. */
export interface SumdbFetch {
  (path: string): Promise<{ status: number; body: Buffer }>;
}

export interface SumdbVerifierOptions {
  /** The database's verifier key, as in GOSUMDB: `name+hash+base64key`. */
  verifierKey: string;
  fetch: SumdbFetch;
  /** Tile height the database serves (sum.golang.org: 8). */
  tileHeight?: number;
  /** Authenticated tiles kept in memory (LRU). */
  tileCacheEntries?: number;
  /**
   * A signed tree head accepted earlier (e.g. `latestNote` saved before a restart): later heads must extend
   * it. Verified with the key here; throws VerifyError 'bad-signature' when it does not verify.
   */
  latestNote?: Buffer;
}

export interface VerifiedSums {
  /** The go.sum hash of the module zip ("h1:…"). */
  zipHash: string;
  /** The go.sum hash of the module's go.mod ("h1:…"). */
  modHash: string;
  /** Size of the tree head the record was proven against. */
  treeSize: number;
}

const DEFAULT_TILE_HEIGHT = 8;
const DEFAULT_TILE_CACHE_ENTRIES = 512;

/** A small insertion-ordered LRU of authenticated tile contents, keyed by tile path. */
class TileCache {
  private readonly map = new Map<string, Buffer>();
  constructor(private readonly capacity: number) {}

  get(key: string): Buffer | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: string, value: Buffer): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as string);
  }
}

export class SumdbVerifier {
  private readonly verifier: Verifier;
  private readonly fetchPath: SumdbFetch;
  private readonly tileHeight: number;
  private readonly tiles: TileCache;
  private readonly inflight = new Map<string, Promise<Buffer>>();
  private latest: { tree: Tree; note: Buffer } | null = null;
  private readonly tileReader: TileReader;

  /** Throws VerifyError 'bad-key' when the verifier key is malformed. */
  constructor(opts: SumdbVerifierOptions) {
    this.verifier = parseVerifierKey(opts.verifierKey);
    this.fetchPath = opts.fetch;
    this.tileHeight = opts.tileHeight ?? DEFAULT_TILE_HEIGHT;
    if (!Number.isInteger(this.tileHeight) || this.tileHeight < 1 || this.tileHeight > 30) {
      throw new RangeError(`tileHeight must be an integer from 1 to 30 (got ${opts.tileHeight})`);
    }
    const entries = opts.tileCacheEntries ?? DEFAULT_TILE_CACHE_ENTRIES;
    if (!Number.isInteger(entries) || entries < 0) throw new RangeError(`tileCacheEntries must be a non-negative integer (got ${entries})`);
    this.tiles = new TileCache(entries);
    if (opts.latestNote !== undefined) this.latest = { tree: this.openTreeHead(opts.latestNote), note: opts.latestNote };
    this.tileReader = {
      height: this.tileHeight,
      readTiles: (tiles) => Promise.all(tiles.map((t) => this.readTile(t))),
      saveTiles: (tiles, data) => tiles.forEach((t, i) => this.tiles.set(tilePath(t), data[i])),
    };
  }

  /** The database name from the verifier key (e.g. sum.golang.org). */
  get name(): string {
    return this.verifier.name;
  }

  /** The newest tree head this verifier has authenticated, if any. */
  get latestTree(): Tree | null {
    return this.latest?.tree ?? null;
  }

  /** The signed note of latestTree (worth saving: pass it back as `latestNote` after a restart). */
  get latestNote(): Buffer | null {
    return this.latest?.note ?? null;
  }

  /**
   * Returns the verified go.sum lines for module@version: { zipHash: 'h1:...', modHash: 'h1:...' }.
   * Verifies the signed tree head with the key, checks it extends the last accepted head, then proves the
   * record is in the tree using tiles.
   * Throws VerifyError: 'not-found' (the database answered 404/410, or the path/version cannot be
   * case-encoded), 'bad-signature' (tree head not signed
   * by the key), 'bad-proof' (record, tiles or tree history do not check out), 'unavailable' (transport
   * failure or unexpected status).
   */
  async lookup(module: string, version: string): Promise<VerifiedSums> {
    const what = `${module}@${version}`;
    let escaped: string;
    try {
      escaped = `${escapePath(module)}@${escapeVersion(version)}`; // case encoding: "!" + lower case
    } catch (err) {
      throw new VerifyError('not-found', `${what}: cannot be in a checksum database: ${(err as Error).message}`, { cause: err });
    }
    const res = await this.get(`/lookup/${escaped}`, what);
    if (res.status === 404 || res.status === 410) {
      throw new VerifyError('not-found', `${what}: not in checksum database ${this.name} (${res.status})`);
    }
    if (res.status !== 200) {
      throw new VerifyError('unavailable', `${what}: checksum database ${this.name} answered ${res.status}`);
    }

    const { id, text, rest } = this.withContext(what, () => parseRecord(res.body));
    const tree = this.withContext(what, () => this.openTreeHead(rest));
    await this.withContextAsync(what, () => this.mergeLatest(tree, rest));
    const latest = this.latest!.tree; // at least as new as `tree`, and consistent with it
    await this.withContextAsync(what, () => checkRecordInTree(latest, id, text, this.tileReader));
    return { ...this.extractHashes(module, version, text.toString('utf8')), treeSize: latest.size };
  }

  /** Verifies a signed tree head note; returns the tree. */
  private openTreeHead(note: Buffer): Tree {
    const { text } = verifyNote(note, [this.verifier]);
    try {
      return parseTreeHead(text);
    } catch (err) {
      throw new VerifyError('bad-signature', `signed note is not a tree head: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Accepts `tree` if it is consistent with the latest accepted head: an older or equal tree must be a
   * prefix of the latest; a newer one must extend it (then it becomes the latest).
   */
  private async mergeLatest(tree: Tree, note: Buffer): Promise<void> {
    for (;;) {
      const latest = this.latest;
      if (latest === null) {
        this.latest = { tree, note };
        return;
      }
      if (tree.size <= latest.tree.size) {
        await checkTreeConsistency(tree, latest.tree, this.tileReader);
        return;
      }
      await checkTreeConsistency(latest.tree, tree, this.tileReader);
      // Another lookup may have installed a newer head meanwhile: then check against that one too.
      if (this.latest === latest) {
        this.latest = { tree, note };
        return;
      }
    }
  }

  /** Picks `module version h1:` and `module version/go.mod h1:` out of authenticated record text. */
  private extractHashes(module: string, version: string, text: string): { zipHash: string; modHash: string } {
    let zipHash: string | undefined;
    let modHash: string | undefined;
    for (const line of text.split('\n')) {
      const f = line.split(' ');
      if (f.length !== 3 || f[0] !== module || !f[2].startsWith('h1:')) continue;
      if (f[1] === version) zipHash ??= f[2];
      else if (f[1] === `${version}/go.mod`) modHash ??= f[2];
    }
    if (zipHash === undefined || modHash === undefined) {
      throw new VerifyError('bad-proof', `${module}@${version}: the authenticated record is not for this module version`);
    }
    return { zipHash, modHash };
  }

  /** Fetches one tile: from the cache, or a full cached tile cut down, or the database (one request per tile at a time). */
  private async readTile(tile: Tile): Promise<Buffer> {
    const key = tilePath(tile);
    const cached = this.tiles.get(key);
    if (cached !== undefined) return cached;
    const full = { ...tile, width: 2 ** tile.height };
    const fullKey = tilePath(full);
    if (fullKey !== key) {
      const f = this.tiles.get(fullKey);
      if (f !== undefined) return f.subarray(0, tile.width * 32);
    }
    let p = this.inflight.get(key);
    if (p === undefined) {
      p = this.fetchTile(key, fullKey, tile.width).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async fetchTile(key: string, fullKey: string, width: number): Promise<Buffer> {
    const res = await this.get(`/${key}`, key);
    if (res.status === 200) return res.body;
    // A partial tile may be gone once the full one exists: take the full tile's prefix.
    if (fullKey !== key && (res.status === 404 || res.status === 410)) {
      const f = await this.get(`/${fullKey}`, fullKey);
      // Too short a body is left as is: the tile reader rejects its length.
      if (f.status === 200) return f.body.length >= width * 32 ? f.body.subarray(0, width * 32) : f.body;
    }
    throw new VerifyError('unavailable', `checksum database ${this.name}: ${key} answered ${res.status}`);
  }

  private async get(path: string, what: string): Promise<{ status: number; body: Buffer }> {
    try {
      return await this.fetchPath(path);
    } catch (err) {
      throw new VerifyError('unavailable', `${what}: checksum database ${this.name} unreachable: ${(err as Error).message ?? err}`, {
        cause: err,
      });
    }
  }

  private withContext<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw addContext(what, err);
    }
  }

  private async withContextAsync<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw addContext(what, err);
    }
  }
}

function addContext(what: string, err: unknown): unknown {
  if (err instanceof VerifyError && !err.message.startsWith(`${what}: `)) {
    return new VerifyError(err.code, `${what}: ${err.message}`, { cause: err.cause ?? err });
  }
  return err;
}
