// The checksum-database client: looks up module@version, verifies the signed tree head with the
// configured key, proves the record is in that tree with tiles, and checks that each new tree head
// extends the last one it accepted (a database that forks its log is caught). The latest head lives in a
// LatestNoteStore shared by every verifier of the same database (routes, restarts); this module owns
// the rules for replacing it, and a bounded tile cache. What it computed is remembered by exact bytes (signed
// heads it verified, hashes of tile contents): the same bytes always verify the same way, other bytes afresh.
// Transport is the caller's (SumdbFetch): this module never opens sockets, never trusts bytes it has
// not authenticated, and never caches a tile before it has been checked against a signed tree head.
// What it authenticated can also be kept in a SumdbReadStore (lookups and tiles, read back and authenticated
// again); with fetch leases, processes that share that store read each lookup from upstream once between them.
import { escapePath, escapeVersion } from '../goproxy/module-path.js';
import { parseVerifierKey, verifyNote, type Verifier } from './note.js';
import {
  HASH_SIZE,
  checkRecordInTree,
  checkTreeConsistency,
  parseRecord,
  parseTilePath,
  parseTreeHead,
  storedHashIndex,
  tileHashReader,
  tilePath,
  TileHashMemo,
  type Tile,
  type TileReader,
  type Tree,
} from './tlog.js';
import { VerifyError, isVerifyError } from './verify-error.js';
import { MemoryLatestNoteStore, type LatestNoteStore } from './latest-note-store.js';
import type { SumdbReadStore } from './sumdb-read-store.js';
import type { FetchLeases } from '../service/fetch-leases.js';

/** Fetches a path relative to the database base ('/lookup/…', '/tile/…'). Throws on transport failure. */
export interface SumdbFetch {
  (path: string): Promise<{ status: number; body: Buffer; url?: string }>;
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
  /**
   * The latest tree head of this database, shared with every other verifier of it (and across restarts
   * when persistent). Default: a store of this verifier's own.
   */
  latestStore?: LatestNoteStore;
  /** Where authenticated lookups and tiles are kept for later readers (restarts, other workers). Default: none. */
  reads?: SumdbReadStore;
  /**
   * Who may read a lookup from upstream when several processes share `reads`: the others wait, then read it
   * from there. Default: every process reads for itself.
   */
  leases?: FetchLeases;
}

export interface VerifiedSums {
  /** The go.sum hash of the module zip ("h1:…"). */
  zipHash: string;
  /** The go.sum hash of the module's go.mod ("h1:…"). */
  modHash: string;
  /** Size of the tree head the record was proven against. */
  treeSize: number;
}

/** A lookup's verified sums with the answer they were read from (authenticated: record, signed head, proof). */
export interface LookupAnswer extends VerifiedSums {
  answer: { body: Buffer; url?: string };
}

const DEFAULT_TILE_HEIGHT = 8;
const DEFAULT_TILE_CACHE_ENTRIES = 512;
/** Signed tree heads remembered as verified, by their bytes (each lookup answer carries the head of its day). */
const OPENED_HEADS = 16;
/** Tiles read and not (yet) checked by a proof that are remembered for keeping (see fetchedTiles). */
const MAX_UNCHECKED_TILES = 1024;

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
  private readonly latestStore: LatestNoteStore;
  /** The last stored note authenticated, so an unchanged note is not verified again. */
  private opened: { note: Buffer; tree: Tree } | null = null;
  private readonly tileReader: TileReader;
  private readonly reads: SumdbReadStore | null;
  private readonly leases: FetchLeases | null;
  private readonly verifierKey: string;
  /** Tiles read from upstream and not yet authenticated: kept in `reads` once a proof has checked them. */
  private readonly fetchedTiles = new Set<string>();
  /** Signed notes whose signature verified, by their exact bytes, with the tree head they carry. */
  private readonly openedHeads = new Map<string, Tree>();

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
    this.latestStore = opts.latestStore ?? new MemoryLatestNoteStore();
    this.reads = opts.reads ?? null;
    this.leases = opts.leases ?? null;
    this.verifierKey = opts.verifierKey;
    if (opts.latestNote !== undefined) {
      this.openTreeHead(opts.latestNote);
      if (this.latestStore.get(this.name) === null) this.latestStore.put(this.name, opts.latestNote);
    }
    this.tileReader = {
      height: this.tileHeight,
      hashMemo: new TileHashMemo(),
      readTiles: (tiles) => Promise.all(tiles.map((t) => this.readTile(t))),
      saveTiles: (tiles, data) =>
        tiles.forEach((t, i) => {
          const key = tilePath(t);
          this.tiles.set(key, data[i]);
          if (this.fetchedTiles.delete(key)) this.keep(`/${key}`, data[i]);
        }),
    };
  }

  /** The database name from the verifier key (e.g. sum.golang.org). */
  get name(): string {
    return this.verifier.name;
  }

  /** The newest tree head this verifier has authenticated, if any. */
  get latestTree(): Tree | null {
    const latest = this.readLatest();
    return latest.note === null ? null : latest.tree;
  }

  /** The signed note of latestTree (the store keeps it; `latestNote` seeds a store that has none). */
  get latestNote(): Buffer | null {
    return this.readLatest().note;
  }

  /**
   * The stored latest head, authenticated; with none stored, the empty tree (size 0, zero hash), which
   * is where the go command starts too. Throws 'bad-signature' when the stored note does not verify.
   */
  private readLatest(): { tree: Tree; note: Buffer | null } {
    const note = this.latestStore.get(this.name);
    if (note === null) return { tree: { size: 0, hash: Buffer.alloc(32) }, note: null };
    if (this.opened === null || !this.opened.note.equals(note)) {
      try {
        this.opened = { note, tree: this.openTreeHead(note) };
      } catch (err) {
        throw new VerifyError(
          'bad-signature',
          `the saved latest tree head of ${this.name} does not verify with the configured key (was the key changed? then delete its row from sumdb_latest)`,
          { cause: err },
        );
      }
    }
    return { tree: this.opened.tree, note };
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
  async lookup(module: string, version: string): Promise<LookupAnswer> {
    const what = `${module}@${version}`;
    let path: string;
    try {
      path = lookupPath(module, version);
    } catch (err) {
      throw new VerifyError('not-found', `${what}: cannot be in a checksum database: ${(err as Error).message}`, { cause: err });
    }
    const kept = await this.keptLookup(module, version, path);
    if (kept !== null) return kept;
    const lease = this.leases === null ? null : await this.leases.acquire(this.readLeaseKey(path));
    try {
      if (lease?.waited) {
        const read = await this.keptLookup(module, version, path); // usually: the holder kept what it read
        if (read !== null) return read;
      }
      const res = await this.get(path, what);
      if (res.status === 404 || res.status === 410) {
        throw new VerifyError('not-found', `${what}: not in checksum database ${this.name} (${res.status})`);
      }
      if (res.status !== 200) {
        throw new VerifyError('unavailable', `${what}: checksum database ${this.name} answered ${res.status}`);
      }
      const sums = await this.checkLookupAnswer(module, version, res.body);
      this.keep(path, res.body);
      return { zipHash: sums.zipHash, modHash: sums.modHash, treeSize: sums.treeSize, answer: { body: res.body, url: res.url } };
    } finally {
      lease?.release();
    }
  }

  /**
   * A lookup kept in `reads`, authenticated again (its head against the latest, its proof with tiles). One that
   * no longer authenticates is dropped, and null returned: then it is read from upstream.
   */
  private async keptLookup(module: string, version: string, path: string): Promise<LookupAnswer | null> {
    const body = this.recall(path);
    if (body === null) return null;
    try {
      const sums = await this.checkLookupAnswer(module, version, body);
      return { zipHash: sums.zipHash, modHash: sums.modHash, treeSize: sums.treeSize, answer: { body } };
    } catch (err) {
      if (isVerifyError(err, 'unavailable')) throw err; // the tiles could not be read: as for a fresh answer
      this.forget(path);
      return null;
    }
  }

  /** The lease for reading `path` from upstream: never a cache key, so it cannot wait on the service's own lease. */
  private readLeaseKey(path: string): string {
    return `sumdb-read ${this.name}${path}`;
  }

  /**
   * The store is a shortcut, never a condition: when it cannot be read or written the answer is read from (or
   * stays with) upstream, as without one.
   */
  private recall(path: string): Buffer | null {
    try {
      return this.reads?.get(this.verifierKey, path) ?? null;
    } catch {
      return null;
    }
  }

  private keep(path: string, body: Buffer): void {
    try {
      this.reads?.put(this.verifierKey, path, body);
    } catch {
      // see recall
    }
  }

  private forget(path: string): void {
    try {
      this.reads?.drop(this.verifierKey, path);
    } catch {
      // see recall
    }
  }

  /**
   * Authenticates a lookup answer for module@version (fetched by us or by anyone): its signed tree head, the
   * head's consistency with the latest, the record's proof, and that the record is for module@version.
   * Returns the hashes it vouches for. Throws VerifyError as lookup does.
   */
  async checkLookupAnswer(module: string, version: string, body: Buffer): Promise<VerifiedSums> {
    const what = `${module}@${version}`;
    const { id, text, rest } = this.withContext(what, () => parseRecord(body));
    const tree = this.withContext(what, () => this.openTreeHead(rest));
    // At least as new as `tree`, and consistent with it.
    const latest = await this.withContextAsync(what, () => this.mergeLatest(tree, rest));
    await this.withContextAsync(what, () => checkRecordInTree(latest, id, text, this.tileReader));
    const { zipHash, modHash } = this.extractHashes(module, version, body.toString('utf8'));
    // the sums are written out here and in lookup(), never spread: see http/exchange.ts, summarize()
    return { zipHash, modHash, treeSize: latest.size };
  }

  /** Authenticates a signed tree head (a /latest answer): signed by the key, consistent with the latest head. */
  async checkSignedHead(note: Buffer): Promise<Tree> {
    const tree = this.withContext('latest', () => this.openTreeHead(note));
    await this.withContextAsync('latest', () => this.mergeLatest(tree, note));
    return tree;
  }

  /**
   * Authenticates the contents of a hash tile (`tile/H/L/NNN[.p/W]`) against the latest signed tree head,
   * fetching a newer head first when the tile lies beyond it. Throws VerifyError 'bad-proof' when the bytes
   * are not that tile of this database's log.
   */
  async checkTile(path: string, data: Buffer): Promise<void> {
    const tile = parseTilePath(path);
    if (tile === null || tile.level < 0) throw new VerifyError('bad-proof', `${path}: not a hash tile path`);
    if (tile.height !== this.tileHeight) throw new VerifyError('bad-proof', `${path}: tile height ${tile.height}, this database uses ${this.tileHeight}`);
    if (data.length !== tile.width * HASH_SIZE) throw new VerifyError('bad-proof', `${path}: ${data.length} bytes, want ${tile.width * HASH_SIZE}`);
    const level = tile.level * tile.height;
    const first = tile.n * 2 ** tile.height;
    const needed = (first + tile.width) * 2 ** level; // records the tree must have for the tile's last hash
    let tree = this.latestTree;
    if (tree === null || tree.size < needed) {
      const res = await this.get('/latest', path);
      if (res.status !== 200) throw new VerifyError('unavailable', `${path}: checksum database ${this.name} answered ${res.status} for /latest`);
      tree = await this.checkSignedHead(res.body);
      tree = this.latestTree ?? tree;
    }
    if (tree.size < needed) throw new VerifyError('bad-proof', `${path}: beyond the latest signed tree (${tree.size} records)`);
    const overlay: TileReader = {
      height: this.tileHeight,
      // the candidate stands in for itself and its narrower widths; anything else is read (and checked) as usual
      readTiles: (tiles) => Promise.all(tiles.map((t) => (t.level === tile.level && t.n === tile.n && t.width <= tile.width ? Promise.resolve(data.subarray(0, t.width * HASH_SIZE)) : this.readTile(t)))),
      saveTiles: this.tileReader.saveTiles,
      hashMemo: this.tileReader.hashMemo, // it answers only for the bytes it hashed: the candidate's are its own
    };
    const indexes = Array.from({ length: tile.width }, (_, i) => storedHashIndex(level, first + i));
    const hashes = await this.withContextAsync(path, () => tileHashReader(tree!, overlay)(indexes));
    hashes.forEach((h, i) => {
      if (!h.equals(data.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE))) throw new VerifyError('bad-proof', `${path}: hash ${i} does not match the signed tree`);
    });
  }

  /**
   * Reads ahead what the first lookups will need: the database's signed head (/latest, authenticated and merged
   * as any head) and the tiles at the right edge of its tree, which every proof against that head reads to
   * rebuild the tree hash (checked against it before they are kept). Throws VerifyError as lookup does.
   */
  async warmLatest(): Promise<void> {
    const res = await this.get('/latest', 'latest');
    if (res.status !== 200) throw new VerifyError('unavailable', `latest: checksum database ${this.name} answered ${res.status}`);
    await this.checkSignedHead(res.body);
    const tree = this.latestTree;
    if (tree !== null && tree.size > 0) await this.withContextAsync('latest', () => tileHashReader(tree, this.tileReader)([storedHashIndex(0, tree.size - 1)]));
  }

  /**
   * A hash tile (`tile/H/L/NNN[.p/W]`) this verifier holds or kept, authenticated then (only checked tiles are
   * held or kept): the tile itself or the prefix of its full tile. Undefined when it has neither; never fetches.
   */
  authenticatedTile(path: string): Buffer | undefined {
    const tile = parseTilePath(path);
    if (tile === null || tile.level < 0 || tile.height !== this.tileHeight) return undefined;
    return this.heldTile(tile);
  }

  /**
   * A tile held in memory or kept in the store (both authenticated when they were put there), or the prefix of its
   * full tile: memory first, then the store. Undefined when neither has it.
   */
  private heldTile(tile: Tile): Buffer | undefined {
    const key = tilePath(tile);
    const fullKey = tilePath({ ...tile, width: 2 ** tile.height });
    const found = this.tiles.get(key) ?? this.tiles.get(fullKey) ?? this.recall(`/${key}`) ?? this.recall(`/${fullKey}`) ?? null;
    return found !== null && found.length >= tile.width * HASH_SIZE ? found.subarray(0, tile.width * HASH_SIZE) : undefined;
  }

  /**
   * The lookup answer for module@version kept by any verifier sharing this one's store, as it was when it was
   * authenticated; a caller that serves it authenticates it again (checkLookupAnswer). When another process holds
   * the lookup's lease (it is reading it now), waits for it first. Null when none is kept; never fetches, never
   * throws.
   */
  async keptLookupAnswer(module: string, version: string): Promise<Buffer | null> {
    let path: string;
    try {
      path = lookupPath(module, version);
    } catch {
      return null; // cannot be case-encoded: cannot have been kept
    }
    const kept = this.recall(path);
    if (kept !== null || this.leases === null) return kept;
    const lease = await this.leases.acquire(this.readLeaseKey(path));
    lease.release();
    return lease.waited ? this.recall(path) : null;
  }

  /**
   * Verifies a signed tree head note; returns the tree. The same bytes verify the same way with the same key:
   * a note verified lately is not verified again (a signature check per lookup answer, all carrying one head).
   */
  private openTreeHead(note: Buffer): Tree {
    const key = note.toString('latin1');
    const known = this.openedHeads.get(key);
    if (known !== undefined) return { size: known.size, hash: Buffer.from(known.hash) };
    const { text } = verifyNote(note, [this.verifier]);
    let tree: Tree;
    try {
      tree = parseTreeHead(text);
    } catch (err) {
      throw new VerifyError('bad-signature', `signed note is not a tree head: ${(err as Error).message}`, { cause: err });
    }
    this.openedHeads.set(key, { size: tree.size, hash: Buffer.from(tree.hash) });
    if (this.openedHeads.size > OPENED_HEADS) this.openedHeads.delete(this.openedHeads.keys().next().value as string);
    return tree;
  }

  /**
   * Accepts `tree` if it is consistent with the latest accepted head (the go command's mergeLatest): an
   * older or equal tree must be a prefix of the latest (a size-0 tree must have the zero hash); a newer one
   * must extend it, and then replaces it in the store. Returns the tree to prove records against.
   * A head that fails leaves the stored head as it was.
   */
  private async mergeLatest(tree: Tree, note: Buffer): Promise<Tree> {
    // Bounded: each retry means another lookup stored a newer head meanwhile.
    for (let attempt = 0; attempt < 16; attempt++) {
      const latest = this.readLatest();
      if (tree.size <= latest.tree.size) {
        await checkTreeConsistency(tree, latest.tree, this.tileReader);
        return latest.tree;
      }
      await checkTreeConsistency(latest.tree, tree, this.tileReader);
      const now = this.latestStore.get(this.name);
      if (now === latest.note || (now !== null && latest.note !== null && now.equals(latest.note))) {
        this.latestStore.put(this.name, note);
        return tree;
      }
    }
    throw new VerifyError('unavailable', `checksum database ${this.name}: the latest tree head keeps changing; try again`);
  }

  /**
   * The expected hashes, by cmd/go's rule (checkSumDB over sumdb.Client.Lookup's lines): among the lines of
   * the authenticated response, the first that starts `module version h1:` is the verdict for the zip, and
   * the first that starts `module version/go.mod h1:` for the go.mod; whatever follows the version is the
   * hash the download must equal ("h1:X junk" is then a mismatch, as in Go). Go accepts a download when
   * there is no such line; we refuse (deliberately stricter: nothing unverified gets in).
   */
  private extractHashes(module: string, version: string, body: string): { zipHash: string; modHash: string } {
    const zipPrefix = `${module} ${version} h1:`;
    const modPrefix = `${module} ${version}/go.mod h1:`;
    let zipHash: string | undefined;
    let modHash: string | undefined;
    for (const line of body.split('\n')) {
      if (zipHash === undefined && line.startsWith(zipPrefix)) zipHash = line.slice(zipPrefix.length - 3);
      if (modHash === undefined && line.startsWith(modPrefix)) modHash = line.slice(modPrefix.length - 3);
    }
    if (zipHash === undefined || modHash === undefined) {
      throw new VerifyError('bad-proof', `${module}@${version}: the authenticated record is not for this module version`);
    }
    return { zipHash, modHash };
  }

  /** Fetches one tile: from the cache, or a full cached tile cut down, or the database (one request per tile at a time). */
  private async readTile(tile: Tile): Promise<Buffer> {
    // held or kept (the proof that reads it checks it again)
    const held = this.heldTile(tile);
    if (held !== undefined) return held;
    const key = tilePath(tile);
    const fullKey = tilePath({ ...tile, width: 2 ** tile.height });
    let p = this.inflight.get(key);
    if (p === undefined) {
      p = this.fetchTile(key, fullKey, tile.width).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async fetchTile(key: string, fullKey: string, width: number): Promise<Buffer> {
    const res = await this.get(`/${key}`, key);
    if (res.status === 200) {
      if (this.fetchedTiles.size >= MAX_UNCHECKED_TILES) this.fetchedTiles.clear(); // tiles no proof took (a lying database)
      this.fetchedTiles.add(key);
      return res.body;
    }
    // A partial tile may be gone once the full one exists: take the full tile's prefix.
    if (fullKey !== key && (res.status === 404 || res.status === 410)) {
      const f = await this.get(`/${fullKey}`, fullKey);
      // Too short a body is left as is: the tile reader rejects its length.
      if (f.status === 200) return f.body.length >= width * 32 ? f.body.subarray(0, width * 32) : f.body;
    }
    throw new VerifyError('unavailable', `checksum database ${this.name}: ${key} answered ${res.status}`);
  }

  private async get(path: string, what: string): Promise<{ status: number; body: Buffer; url?: string }> {
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

/** The database path of module@version's record, case-encoded ("!" + lower case); throws when it cannot be. */
function lookupPath(module: string, version: string): string {
  return `/lookup/${escapePath(module)}@${escapeVersion(version)}`;
}

function addContext(what: string, err: unknown): unknown {
  if (err instanceof VerifyError && !err.message.startsWith(`${what}: `)) {
    return new VerifyError(err.code, `${what}: ${err.message}`, { cause: err.cause ?? err });
  }
  return err;
}
