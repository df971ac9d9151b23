// The checksum database's tamper-evident log (golang.org/x/mod/sumdb/tlog): RFC 6962 record and node
// hashes, the stored-hash numbering, tiles (paths and contents), tree heads, records, and proofs that a
// record is in a tree and that an older tree is a prefix of a newer one.
// Owns the algorithms only: tile bytes come from a caller-supplied TileReader. Every hash read from tiles
// is checked against the signed tree hash before it is used; this module must never return a hash or
// accept a record it has not authenticated that way.
//
// Numbers: record ids and stored-hash indexes are JavaScript numbers (exact below 2^53, far beyond any
// real log); shifts are written as multiplications/divisions because JS bit operators are 32-bit.
import { createHash, hash as oneShotHash } from 'node:crypto';
import { VerifyError } from './verify-error.js';

export const HASH_SIZE = 32;

/** A 32-byte SHA-256 hash. */
export type Hash = Buffer;

/** A tree head: the number of records and the root hash over them. */
export interface Tree {
  size: number;
  hash: Hash;
}

/** A tile: H = height, L = level (-1 for record data), N = index within the level, W = width (1..2^H). */
export interface Tile {
  height: number;
  level: number;
  n: number;
  width: number;
}

/** Fetches tile contents: one Buffer per tile, in order. Errors propagate unchanged. */
export interface TileReader {
  readonly height: number;
  readTiles(tiles: Tile[]): Promise<Buffer[]>;
  /** Called with tiles whose contents have been authenticated against a tree head (for caching). */
  saveTiles?(tiles: Tile[], data: Buffer[]): void;
  /** Where the hashes computed from tile contents are remembered between proofs (see TileHashMemo). */
  readonly hashMemo?: TileHashMemo;
}

/** Reads stored hashes by index; the result has one hash per index, in order. */
export type HashReader = (indexes: number[]) => Promise<Hash[]>;

function pow2(k: number): number {
  return 2 ** k;
}

/** floor(n / 2^k) for non-negative n. */
function shr(n: number, k: number): number {
  return Math.floor(n / pow2(k));
}

function trailingZeros(n: number): number {
  if (n === 0) return 64;
  let z = 0;
  while (n % 2 === 0) {
    n /= 2;
    z++;
  }
  return z;
}

/** The largest power of two k < n (n > 1), and its log2; (1, 0) for n ≤ 2. */
function maxPow2(n: number): { k: number; level: number } {
  let level = 0;
  while (pow2(level + 1) < n) level++;
  return { k: pow2(level), level };
}

function bad(message: string): VerifyError {
  return new VerifyError('bad-proof', message);
}

function internal(message: string): Error {
  return new Error(`tlog: internal error: ${message}`);
}

// ---------------------------------------------------------------------------------------------------
// Hashes

/** SHA-256(0x00 ‖ data): the leaf hash of a record. */
export function recordHash(data: Buffer | string): Hash {
  return createHash('sha256').update(Buffer.from([0])).update(data).digest();
}

/** 0x01 ‖ left ‖ right of nodeHash, filled for each call (nodeHash never yields while it is in use). */
const nodeInput = Buffer.alloc(1 + 2 * HASH_SIZE, 1);

/** SHA-256(0x01 ‖ left ‖ right): an interior node. One-shot: a proof computes thousands of these. */
export function nodeHash(left: Hash, right: Hash): Hash {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) throw internal('nodeHash of something that is not two hashes');
  left.copy(nodeInput, 1);
  right.copy(nodeInput, 1 + HASH_SIZE);
  return oneShotHash('sha256', nodeInput, 'buffer');
}

// ---------------------------------------------------------------------------------------------------
// Stored-hash numbering: hashes are stored in the order they become computable as records are appended.

/** The storage index of the hash at `level` covering records [n·2^level, (n+1)·2^level). */
export function storedHashIndex(level: number, n: number): number {
  // Position of the last hash stored for record (n+1)·2^level − 1, minus what is stored after it.
  for (let l = level; l > 0; l--) n = 2 * n + 1;
  let i = 0;
  for (; n > 0; n = shr(n, 1)) i += n;
  return i + level;
}

/** Inverse of storedHashIndex. */
export function splitStoredHashIndex(index: number): { level: number; n: number } {
  // Every record stores at least one hash, so n ≤ index/2; walk forward to the record that stored it.
  let n = Math.floor(index / 2);
  let indexN = storedHashIndex(0, n);
  if (indexN > index) throw internal('splitStoredHashIndex');
  for (;;) {
    const x = indexN + 1 + trailingZeros(n + 1);
    if (x > index) break;
    n++;
    indexN = x;
  }
  const level = index - indexN;
  return { level, n: shr(n, level) };
}

/** How many hashes a log of n records stores. */
export function storedHashCount(n: number): number {
  if (n === 0) return 0;
  let count = storedHashIndex(0, n - 1) + 1;
  for (let i = n - 1; i % 2 === 1; i = shr(i, 1)) count++;
  return count;
}

/**
 * The hashes to append when record n (with leaf hash h) is added: the leaf, then each newly completed
 * parent. `read` gives earlier stored hashes (synchronously: it is for building logs, e.g. in tests).
 */
export function storedHashesForRecordHash(n: number, h: Hash, read: (indexes: number[]) => Hash[]): Hash[] {
  const m = trailingZeros(n + 1);
  const indexes: number[] = [];
  for (let i = m - 1; i >= 0; i--) indexes.push(storedHashIndex(i, shr(n, i) - 1));
  const old = read(indexes);
  if (old.length !== indexes.length) throw internal('read returned the wrong number of hashes');
  const out = [h];
  for (let i = 0; i < m; i++) {
    h = nodeHash(old[m - 1 - i], h);
    out.push(h);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Tree hashes: the root over [0, n) is the hash of complete power-of-two subtrees, largest first.

function subTreeIndex(lo: number, hi: number, need: number[]): number[] {
  while (lo < hi) {
    const { k, level } = maxPow2(hi - lo + 1);
    if (lo % k !== 0) throw internal('subTreeIndex');
    need.push(storedHashIndex(level, shr(lo, level)));
    lo += k;
  }
  return need;
}

/** Combines the subtree hashes for [lo, hi) from the front of `hashes`; returns the rest. */
function subTreeHash(lo: number, hi: number, hashes: Hash[]): [Hash, Hash[]] {
  let numTree = 0;
  while (lo < hi) {
    const { k } = maxPow2(hi - lo + 1);
    if (lo % k !== 0 || lo >= hi) throw internal('subTreeHash');
    numTree++;
    lo += k;
  }
  if (hashes.length < numTree) throw internal('subTreeHash: too few hashes');
  let h = hashes[numTree - 1];
  for (let i = numTree - 2; i >= 0; i--) h = nodeHash(hashes[i], h);
  return [h, hashes.slice(numTree)];
}

async function readExactly(read: HashReader, indexes: number[]): Promise<Hash[]> {
  const hashes = await read(indexes);
  if (hashes.length !== indexes.length) throw internal(`read ${indexes.length} hashes, got ${hashes.length}`);
  return hashes;
}

/** The root hash of the first n records (all zero bytes for n = 0). */
export async function treeHash(n: number, read: HashReader): Promise<Hash> {
  if (n === 0) return Buffer.alloc(HASH_SIZE);
  const indexes = subTreeIndex(0, n, []);
  const [h, rest] = subTreeHash(0, n, await readExactly(read, indexes));
  if (rest.length !== 0) throw internal('treeHash');
  return h;
}

// ---------------------------------------------------------------------------------------------------
// Record (inclusion) proofs

function leafProofIndex(lo: number, hi: number, n: number, need: number[]): number[] {
  if (!(lo <= n && n < hi)) throw internal('leafProofIndex');
  if (lo + 1 === hi) return need;
  const { k } = maxPow2(hi - lo);
  if (n < lo + k) {
    leafProofIndex(lo, lo + k, n, need);
    subTreeIndex(lo + k, hi, need);
  } else {
    subTreeIndex(lo, lo + k, need);
    leafProofIndex(lo + k, hi, n, need);
  }
  return need;
}

function leafProof(lo: number, hi: number, n: number, hashes: Hash[]): [Hash[], Hash[]] {
  if (!(lo <= n && n < hi)) throw internal('leafProof');
  if (lo + 1 === hi) return [[], hashes];
  const { k } = maxPow2(hi - lo);
  let p: Hash[];
  let th: Hash;
  if (n < lo + k) {
    [p, hashes] = leafProof(lo, lo + k, n, hashes);
    [th, hashes] = subTreeHash(lo + k, hi, hashes);
  } else {
    [th, hashes] = subTreeHash(lo, lo + k, hashes);
    [p, hashes] = leafProof(lo + k, hi, n, hashes);
  }
  return [[...p, th], hashes];
}

/** The proof that record n is in the tree of size t: sibling subtree hashes, bottom-up. */
export async function proveRecord(t: number, n: number, read: HashReader): Promise<Hash[]> {
  if (t < 0 || n < 0 || n >= t) throw new RangeError(`proveRecord: record ${n} is not in a tree of ${t}`);
  const indexes = leafProofIndex(0, t, n, []);
  if (indexes.length === 0) return [];
  const [p, rest] = leafProof(0, t, n, await readExactly(read, indexes));
  if (rest.length !== 0) throw internal('proveRecord');
  return p;
}

function runRecordProof(p: Hash[], lo: number, hi: number, n: number, leaf: Hash): Hash {
  if (!(lo <= n && n < hi)) throw internal('runRecordProof');
  if (lo + 1 === hi) {
    if (p.length !== 0) throw bad('record proof has too many hashes');
    return leaf;
  }
  if (p.length === 0) throw bad('record proof has too few hashes');
  const { k } = maxPow2(hi - lo);
  const last = p[p.length - 1];
  const rest = p.slice(0, -1);
  return n < lo + k
    ? nodeHash(runRecordProof(rest, lo, lo + k, n, leaf), last)
    : nodeHash(last, runRecordProof(rest, lo + k, hi, n, leaf));
}

/** Checks that record n with leaf hash h is in the tree of size t with root th; throws 'bad-proof'. */
export function checkRecord(p: Hash[], t: number, th: Hash, n: number, h: Hash): void {
  if (t < 0 || n < 0 || n >= t) throw bad(`record ${n} cannot be in a tree of ${t} records`);
  if (!runRecordProof(p, 0, t, n, h).equals(th)) throw bad(`record ${n} is not in tree ${t}: proof does not reach the tree hash`);
}

// ---------------------------------------------------------------------------------------------------
// Tree (consistency) proofs

function treeProofIndex(lo: number, hi: number, n: number, need: number[]): number[] {
  if (!(lo < n && n <= hi)) throw internal('treeProofIndex');
  if (n === hi) return lo === 0 ? need : subTreeIndex(lo, hi, need);
  const { k } = maxPow2(hi - lo);
  if (n <= lo + k) {
    treeProofIndex(lo, lo + k, n, need);
    subTreeIndex(lo + k, hi, need);
  } else {
    subTreeIndex(lo, lo + k, need);
    treeProofIndex(lo + k, hi, n, need);
  }
  return need;
}

function treeProof(lo: number, hi: number, n: number, hashes: Hash[]): [Hash[], Hash[]] {
  if (!(lo < n && n <= hi)) throw internal('treeProof');
  if (n === hi) {
    if (lo === 0) return [[], hashes];
    const [th, rest] = subTreeHash(lo, hi, hashes);
    return [[th], rest];
  }
  const { k } = maxPow2(hi - lo);
  let p: Hash[];
  let th: Hash;
  if (n <= lo + k) {
    [p, hashes] = treeProof(lo, lo + k, n, hashes);
    [th, hashes] = subTreeHash(lo + k, hi, hashes);
  } else {
    [th, hashes] = subTreeHash(lo, lo + k, hashes);
    [p, hashes] = treeProof(lo + k, hi, n, hashes);
  }
  return [[...p, th], hashes];
}

/** The proof that the tree of size n is a prefix of the tree of size t (1 ≤ n ≤ t). */
export async function proveTree(t: number, n: number, read: HashReader): Promise<Hash[]> {
  if (t < 1 || n < 1 || n > t) throw new RangeError(`proveTree: invalid sizes ${n} and ${t}`);
  const indexes = treeProofIndex(0, t, n, []);
  if (indexes.length === 0) return [];
  const [p, rest] = treeProof(0, t, n, await readExactly(read, indexes));
  if (rest.length !== 0) throw internal('proveTree');
  return p;
}

/** Runs a tree proof; returns [old tree hash, new tree hash] as the proof implies them. */
function runTreeProof(p: Hash[], lo: number, hi: number, n: number, old: Hash): [Hash, Hash] {
  if (!(lo < n && n <= hi)) throw internal('runTreeProof');
  if (n === hi) {
    if (lo === 0) {
      if (p.length !== 0) throw bad('tree proof has too many hashes');
      return [old, old];
    }
    if (p.length !== 1) throw bad('tree proof has the wrong number of hashes');
    return [p[0], p[0]];
  }
  if (p.length === 0) throw bad('tree proof has too few hashes');
  const { k } = maxPow2(hi - lo);
  const last = p[p.length - 1];
  const rest = p.slice(0, -1);
  if (n <= lo + k) {
    const [oh, th] = runTreeProof(rest, lo, lo + k, n, old);
    return [oh, nodeHash(th, last)];
  }
  const [oh, th] = runTreeProof(rest, lo + k, hi, n, old);
  return [nodeHash(last, oh), nodeHash(last, th)];
}

/** Checks that tree (n, h) is a prefix of tree (t, th) using proof p; throws 'bad-proof'. */
export function checkTree(p: Hash[], t: number, th: Hash, n: number, h: Hash): void {
  if (t < 1 || n < 1 || n > t) throw bad(`tree ${n} cannot be a prefix of tree ${t}`);
  const [h2, th2] = runTreeProof(p, 0, t, n, h);
  if (!h2.equals(h) || !th2.equals(th)) throw bad(`tree ${n} is not a prefix of tree ${t}: the log was rewritten`);
}

// ---------------------------------------------------------------------------------------------------
// Tiles: a tile of height H at level L holds 2^H consecutive hashes of tree level L·H (or fewer: partial).

const TILE_PATH_BASE = 1000;

function tileForIndexWithRange(height: number, index: number): { tile: Tile; start: number; end: number } {
  const split = splitStoredHashIndex(index);
  let level = split.level;
  let n = split.n;
  const tileLevel = Math.floor(level / height);
  level -= tileLevel * height; // level within the tile
  const tileN = shr(n * pow2(level), height);
  n -= (tileN * pow2(height)) / pow2(level); // n within the tile, at that level
  const width = (n + 1) * pow2(level);
  return {
    tile: { height, level: tileLevel, n: tileN, width },
    start: n * pow2(level) * HASH_SIZE,
    end: (n + 1) * pow2(level) * HASH_SIZE,
  };
}

/** The smallest tile of the given height from which the stored hash `index` can be computed. */
export function tileForIndex(height: number, index: number): Tile {
  if (!(height > 0)) throw new RangeError(`tileForIndex: invalid height ${height}`);
  return tileForIndexWithRange(height, index).tile;
}

/** Hashes a run of 2^k consecutive hashes from a tile down to their one parent. */
function tileHash(data: Buffer): Hash {
  if (data.length === 0) throw internal('tileHash of nothing');
  if (data.length === HASH_SIZE) return data;
  const half = data.length / 2;
  return nodeHash(tileHash(data.subarray(0, half)), tileHash(data.subarray(half)));
}

/**
 * The hashes computed from tile contents, remembered between proofs: every proof against a tree head rehashes
 * the same edge tiles and upper levels (256 node hashes per full tile at height 8), and a checksum lookup
 * makes two such proofs. An entry holds its own copy of the tile's bytes and answers only for equal bytes, so
 * it returns exactly what hashing them again would: it decides nothing, and other bytes under a known path
 * (an altered tile) are hashed afresh and fail their checks as before. Bounded, least recently used first.
 */
export class TileHashMemo {
  private readonly tiles = new Map<string, { data: Buffer; runs: Map<string, Hash> }>();
  /** Runs hashed rather than remembered: what a test counts. */
  computed = 0;

  constructor(private readonly capacity = 256) {}

  /** The hash of the run data[start, end) (2^k hashes) of tile t's contents. */
  runHash(t: Tile, data: Buffer, start: number, end: number): Hash {
    const path = tilePath(t);
    let entry = this.tiles.get(path);
    if (entry === undefined || !entry.data.equals(data)) entry = { data: Buffer.from(data), runs: new Map() };
    this.tiles.delete(path);
    this.tiles.set(path, entry);
    while (this.tiles.size > this.capacity) this.tiles.delete(this.tiles.keys().next().value as string);
    const key = `${start}:${end}`;
    let h = entry.runs.get(key);
    if (h === undefined) {
      this.computed++;
      h = tileHash(entry.data.subarray(start, end)); // its own copy: nothing the caller does later can change it
      entry.runs.set(key, h);
    }
    return h;
  }
}

/** The hash of data[start, end) of tile t: remembered by `memo` when there is one. */
function runHash(t: Tile, data: Buffer, start: number, end: number, memo: TileHashMemo | undefined): Hash {
  return memo ? memo.runHash(t, data, start, end) : tileHash(data.subarray(start, end));
}

/** The stored hash `index`, computed from the contents of tile t. */
export function hashFromTile(t: Tile, data: Buffer, index: number, memo?: TileHashMemo): Hash {
  if (t.height < 1 || t.height > 30 || t.level < 0 || t.level >= 64 || t.width < 1 || t.width > pow2(t.height)) {
    throw internal(`invalid tile ${tilePath(t)}`);
  }
  if (data.length < t.width * HASH_SIZE) throw bad(`tile ${tilePath(t)} is ${data.length} bytes, too short`);
  const { tile, start, end } = tileForIndexWithRange(t.height, index);
  if (t.level !== tile.level || t.n !== tile.n || t.width < tile.width) {
    throw internal(`index ${index} is in ${tilePath(tile)}, not ${tilePath(t)}`);
  }
  return Buffer.from(runHash(t, data, start, end, memo));
}

/**
 * The tiles that become available (new or wider) when a tree grows from oldSize to newSize, every partial
 * width included, as Go 1.19's x/mod lists them (newer x/mod lists only the widest partial tile per level).
 * A planning aid for mirrors; verification does not use it.
 */
export function newTiles(height: number, oldSize: number, newSize: number): Tile[] {
  if (!(height > 0)) throw new RangeError(`newTiles: invalid height ${height}`);
  const full = pow2(height);
  const tiles: Tile[] = [];
  for (let level = 0; shr(newSize, height * level) > 0; level++) {
    const oldN = shr(oldSize, height * level);
    const newN = shr(newSize, height * level);
    for (let n = shr(oldN, height); n < shr(newN, height); n++) tiles.push({ height, level, n, width: full });
    const n = shr(newN, height);
    const maxW = newN - n * full;
    const minW = oldN > n * full ? oldN - n * full : 1;
    for (let w = minW; w <= maxW; w++) tiles.push({ height, level, n, width: w });
  }
  return tiles;
}

/** The tile contents the server serves: the hashes, read from a complete stored-hash list (for building logs). */
export function readTileData(t: Tile, read: (indexes: number[]) => Hash[]): Buffer {
  const start = t.n * pow2(t.height);
  const indexes: number[] = [];
  for (let i = 0; i < t.width; i++) indexes.push(storedHashIndex(t.height * t.level, start + i));
  const hashes = read(indexes);
  if (hashes.length !== indexes.length) throw internal('read returned the wrong number of hashes');
  return Buffer.concat(hashes);
}

/** `tile/H/L/NNN[.p/W]`, N in groups of three digits (`x001/234`), L = `data` for record tiles. */
export function tilePath(t: Tile): string {
  let n = t.n;
  let nStr = String(n % TILE_PATH_BASE).padStart(3, '0');
  while (n >= TILE_PATH_BASE) {
    n = Math.floor(n / TILE_PATH_BASE);
    nStr = `x${String(n % TILE_PATH_BASE).padStart(3, '0')}/${nStr}`;
  }
  const partial = t.width !== pow2(t.height) ? `.p/${t.width}` : '';
  const level = t.level === -1 ? 'data' : String(t.level);
  return `tile/${t.height}/${level}/${nStr}${partial}`;
}

/** Parses a tile path (with or without a leading '/'); null unless it is exactly the canonical form. */
export function parseTilePath(path: string): Tile | null {
  const p = path.startsWith('/') ? path.slice(1) : path;
  let f = p.split('/');
  if (f.length < 4 || f[0] !== 'tile' || !/^[0-9]+$/.test(f[1])) return null;
  const height = Number(f[1]);
  const isData = f[2] === 'data';
  if (!isData && !/^[0-9]+$/.test(f[2])) return null;
  const level = isData ? -1 : Number(f[2]);
  if (height < 1 || height > 30 || level > 63) return null;
  let width = pow2(height);
  const dotP = f[f.length - 2];
  if (dotP.endsWith('.p')) {
    const last = f[f.length - 1];
    if (!/^[0-9]+$/.test(last)) return null;
    width = Number(last);
    if (width <= 0 || width >= pow2(height)) return null;
    f = [...f.slice(0, -2), dotP.slice(0, -2)];
  }
  let n = 0;
  for (const s of f.slice(3)) {
    const digits = s.startsWith('x') ? s.slice(1) : s;
    if (!/^[0-9]+$/.test(digits)) return null;
    const nn = Number(digits);
    if (nn >= TILE_PATH_BASE) return null;
    n = n * TILE_PATH_BASE + nn;
  }
  if (!Number.isSafeInteger(n)) return null;
  const t: Tile = { height, level, n, width };
  return tilePath(t) === p ? t : null;
}

/** The tile `k` levels above t, trimmed to what a tree of n records has; null if that tree has none of it. */
function tileParent(t: Tile, k: number, n: number): Tile | null {
  const level = t.level + k;
  const tileN = shr(t.n, k * t.height);
  const full = pow2(t.height);
  let width = full;
  const max = shr(n, level * t.height);
  if (tileN * full + width >= max) {
    if (tileN * full >= max) return null;
    width = max - tileN * full;
  }
  return { height: t.height, level, n: tileN, width };
}

/**
 * A HashReader over the tree `tree` that fetches tiles through `tr` and authenticates every tile against
 * tree.hash before returning any hash from it (Go's tlog.TileHashReader): the tiles on the right edge of
 * the tree must recompute tree.hash, and every other tile must hash to the entry its parent tile holds.
 * Throws VerifyError 'bad-proof' when the tiles do not match the tree; fetch errors propagate.
 */
export function tileHashReader(tree: Tree, tr: TileReader): HashReader {
  return async (indexes: number[]): Promise<Hash[]> => {
    const h = tr.height;
    const tiles: Tile[] = [];
    const order = new Map<string, number>(); // tile path → position in tiles

    // Tiles holding the complete subtrees whose hashes combine to the tree hash.
    const stx = subTreeIndex(0, tree.size, []);
    const stxTile: number[] = [];
    for (const x of stx) {
      const tile = tileParent(tileForIndex(h, x), 0, tree.size);
      if (tile === null) throw internal('tree edge tile outside the tree');
      const key = tilePath(tile);
      let j = order.get(key);
      if (j === undefined) {
        j = tiles.length;
        order.set(key, j);
        tiles.push(tile);
      }
      stxTile.push(j);
    }
    const edgeTiles = tiles.length; // authenticated by recomputing the tree hash; all later ones by their parent

    // For each wanted hash: its tile, and the chain of full parent tiles up to one already listed.
    const indexTile: number[] = [];
    for (const x of indexes) {
      if (x >= storedHashIndex(0, tree.size)) throw bad(`hash ${x} is not in a tree of ${tree.size} records`);
      const tile = tileForIndex(h, x);
      let k = 0;
      let found = -1;
      for (; ; k++) {
        const p = tileParent(tile, k, tree.size);
        if (k > 64) throw internal('no ancestor tile is on the tree edge');
        const j = p === null ? undefined : order.get(tilePath(p));
        if (j !== undefined) {
          found = j;
          break;
        }
      }
      if (k === 0) indexTile.push(found);
      for (k--; k >= 0; k--) {
        const p = tileParent(tile, k, tree.size);
        if (p === null || p.width !== pow2(p.height)) throw internal(`tile math for tree ${tree.size}, hash ${x}`);
        order.set(tilePath(p), tiles.length);
        if (k === 0) indexTile.push(tiles.length);
        tiles.push(p);
      }
    }

    const data = await tr.readTiles(tiles);
    if (data.length !== tiles.length) throw internal(`readTiles returned ${data.length} tiles, want ${tiles.length}`);
    tiles.forEach((tile, i) => {
      if (data[i].length !== tile.width * HASH_SIZE) {
        throw bad(`tile ${tilePath(tile)} is ${data[i].length} bytes, want ${tile.width * HASH_SIZE}`);
      }
    });

    // The edge tiles must rebuild the signed tree hash.
    const last = stx.length - 1;
    const memo = tr.hashMemo;
    let th = hashFromTile(tiles[stxTile[last]], data[stxTile[last]], stx[last], memo);
    for (let i = last - 1; i >= 0; i--) th = nodeHash(hashFromTile(tiles[stxTile[i]], data[stxTile[i]], stx[i], memo), th);
    if (!th.equals(tree.hash)) throw bad(`downloaded tiles do not match the hash of tree ${tree.size}`);

    // Every other tile must hash to the entry its (already authenticated) parent holds for it.
    // (Go 1.19's x/mod starts this loop at len(stx), the number of edge *hashes*, which can exceed the
    // number of edge *tiles* and so skip checking tiles on the path to the wanted hash; newer x/mod
    // tests for exactly this. We start at the first tile that is not an edge tile.)
    for (let i = edgeTiles; i < tiles.length; i++) {
      const tile = tiles[i];
      const p = tileParent(tile, 1, tree.size);
      const j = p === null ? undefined : order.get(tilePath(p));
      if (p === null || j === undefined) throw internal(`lost the parent of ${tilePath(tile)}`);
      const want = hashFromTile(p, data[j], storedHashIndex(p.level * p.height, tile.n), memo);
      if (!want.equals(runHash(tile, data[i], 0, data[i].length, memo))) throw bad(`downloaded tile ${tilePath(tile)} does not match its parent`);
    }

    tr.saveTiles?.(tiles, data);
    return indexes.map((x, i) => hashFromTile(tiles[indexTile[i]], data[indexTile[i]], x, memo));
  };
}

/**
 * Authenticates that `recordText` is record `id` of `tree`, reading hashes through tiles; throws 'bad-proof'.
 * `id` is as Go's sumdb client takes it (any int64 below the tree size).
 */
export async function checkRecordInTree(tree: Tree, id: number, recordText: Buffer | string, tr: TileReader): Promise<void> {
  if (!(id < tree.size)) throw bad(`record ${id} cannot be in a tree of ${tree.size} records`);
  // Go's StoredHashIndex(0, id) is 0 for a negative id: such an id names record 0 (Go accepts "-1").
  const [stored] = await tileHashReader(tree, tr)([id < 0 ? 0 : storedHashIndex(0, id)]);
  if (!stored.equals(recordHash(recordText))) throw bad(`record ${id} does not match the tree: its text was altered`);
}

/** Authenticates that `older` is a prefix of `newer` (older.size ≤ newer.size), via newer's tiles. */
export async function checkTreeConsistency(older: Tree, newer: Tree, tr: TileReader): Promise<void> {
  if (older.size > newer.size) throw internal('checkTreeConsistency: older tree is larger');
  // A tree of the same size is a prefix only of itself (as the go command's client decides it): the tiles would
  // rebuild newer's hash or fail to.
  const h = older.size === newer.size ? newer.hash : await treeHash(older.size, tileHashReader(newer, tr));
  if (!h.equals(older.hash)) {
    throw bad(
      `checksum database misbehaviour: tree ${older.size} (${older.hash.toString('base64')}) is not a prefix of tree ${newer.size} (${newer.hash.toString('base64')})`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------
// Text formats

const TREE_PREFIX = 'go.sum database tree\n';
const INT64_MAX = 2n ** 63n - 1n;

/** Parses the text of a tree head note: "go.sum database tree\nN\nbase64(hash)\n" (further lines ignored). */
export function parseTreeHead(text: string): Tree {
  const lines = text.split('\n');
  if (!text.startsWith(TREE_PREFIX) || lines.length < 4 || text.length > 1e6) {
    throw bad('malformed tree head: expected "go.sum database tree", a size and a hash');
  }
  // Go's ParseTree: a canonical decimal int64 ≥ 0.
  if (!/^(0|[1-9][0-9]{0,18})$/.test(lines[1]) || BigInt(lines[1]) > INT64_MAX) {
    throw bad(`malformed tree head: bad size ${JSON.stringify(lines[1].slice(0, 30))}`);
  }
  // Go would go on with a tree of 2^53 records or more; our numbers are exact only below that, and no real
  // log comes near it, so such a head is refused (deliberately stricter; its proofs could not succeed anyway).
  const size = Number(lines[1]);
  if (!Number.isSafeInteger(size)) throw bad(`tree head of ${lines[1]} records: beyond what this verifier can prove (2^53)`);
  const hash = /^[A-Za-z0-9+/]{43}=$/.test(lines[2]) ? Buffer.from(lines[2], 'base64') : null;
  if (hash === null || hash.length !== HASH_SIZE) throw bad('malformed tree head: bad hash');
  return { size, hash };
}

export function formatTreeHead(tree: Tree): string {
  return `${TREE_PREFIX}${tree.size}\n${tree.hash.toString('base64')}\n`;
}

/** Record text: valid UTF-8 lines, no control characters but '\n', no blank lines, ending in '\n'. */
function isValidRecordText(text: Buffer): boolean {
  let s: string;
  try {
    s = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(text);
  } catch {
    return false;
  }
  // eslint-disable-next-line no-control-regex
  return s.endsWith('\n') && !/[\x00-\x09\x0b-\x1f]/.test(s) && !s.includes('\n\n');
}

/**
 * Splits a lookup response "id\ntext\n\nrest": the record id, its text (through the last line's '\n'),
 * and the rest (the signed tree head). The id is parsed as Go's ParseRecord does ("+3", "-0", "-1" are
 * ids). Throws 'bad-proof' when malformed.
 */
export function parseRecord(msg: Buffer): { id: number; text: Buffer; rest: Buffer } {
  const nl = msg.indexOf('\n');
  const idStr = nl < 0 ? '' : msg.subarray(0, nl).toString('latin1');
  // strconv.ParseInt(s, 10, 64): an optional sign, decimal digits (leading zeros allowed), int64 range.
  const digits = /^[+-]?0*([0-9]{1,19})$/.exec(idStr);
  const idBig = digits ? BigInt(idStr.startsWith('-') ? `-${digits[1]}` : digits[1]) : null;
  if (idBig === null || idBig > INT64_MAX || idBig < -INT64_MAX - 1n) throw bad('malformed record: no record id');
  const body = msg.subarray(nl + 1);
  const end = body.indexOf('\n\n');
  if (end < 0) throw bad('malformed record: no blank line after the record');
  const text = body.subarray(0, end + 1);
  if (!isValidRecordText(text)) throw bad('malformed record text');
  // Ids beyond 2^53 lose precision here but stay beyond every tree size we accept, so they are refused.
  return { id: Number(idBig), text, rest: body.subarray(end + 2) };
}
