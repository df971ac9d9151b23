// Checksum-database tile coordinates and their path form, as the go command writes them (golang.org/x/mod
// sumdb/tlog Tile.Path and ParseTilePath): "tile/H/L/N[.p/W]" with L a level or "data", and the index N in
// groups of three digits, every group but the last prefixed with "x" ("x001/x234/067" is 1234067, "005" is 5).
// Owns: parsing and formatting of tile paths. Pure: it must never do I/O, and never accept a tile path that is
// not exactly the one the go command would write for the same tile (Go's round-trip check), so one tile has
// one path and one cache key.

export interface TileCoordinates {
  /** Tile height: each tile holds up to 2^height hashes (sum.golang.org uses 8). 1..30. */
  height: number;
  /** Level in the tree, or 'data' for a tile of record data. */
  level: number | 'data';
  /** Index of the tile within its level. */
  index: number;
  /** Number of hashes in a partial tile (1..2^height-1); null for a full tile. */
  width: number | null;
}

export type TileParse = { ok: true; tile: TileCoordinates; path: string } | { ok: false; problem: string };

const GROUP = 1000;
const MAX_HEIGHT = 30;

function formatGroup(n: number): string {
  return String(n).padStart(3, '0');
}

/** Go's Tile.Path: the one path of a tile, starting "tile/". */
export function formatTilePath(tile: TileCoordinates): string {
  let n = tile.index;
  let indexPath = formatGroup(n % GROUP);
  while (n >= GROUP) {
    n = Math.floor(n / GROUP);
    indexPath = `x${formatGroup(n % GROUP)}/${indexPath}`;
  }
  const level = tile.level === 'data' ? 'data' : String(tile.level);
  const partial = tile.width === null ? '' : `.p/${tile.width}`;
  return `tile/${tile.height}/${level}/${indexPath}${partial}`;
}

function decimal(s: string): number | null {
  if (!/^[0-9]{1,15}$/.test(s)) return null;
  return Number(s);
}

const SHAPE = 'expected tile/H/L/N or tile/H/data/N, optionally followed by .p/W';

/**
 * Parses "tile/8/0/x001/234.p/5" (no leading slash). Fails with a one-line problem unless the path is
 * exactly the one formatTilePath gives for the parsed tile; the problem then names that canonical form.
 */
export function parseTilePath(path: string): TileParse {
  const f = path.split('/');
  if (f.length < 4 || f[0] !== 'tile') return { ok: false, problem: SHAPE };
  const height = decimal(f[1]!);
  if (height === null || height < 1 || height > MAX_HEIGHT) {
    return { ok: false, problem: `tile height must be a number from 1 to ${MAX_HEIGHT}` };
  }
  let level: number | 'data';
  if (f[2] === 'data') {
    level = 'data';
  } else {
    const l = decimal(f[2]!);
    if (l === null) return { ok: false, problem: 'tile level must be a non-negative number or "data"' };
    level = l;
  }
  let width: number | null = null;
  let indexParts = f.slice(3);
  const beforeLast = f[f.length - 2]!;
  if (f.length > 4 && beforeLast.endsWith('.p')) {
    const w = decimal(f[f.length - 1]!);
    if (w === null || w <= 0 || w >= 2 ** height) {
      return { ok: false, problem: `partial tile width must be a number from 1 to ${2 ** height - 1} for height ${height}` };
    }
    width = w;
    indexParts = f.slice(3, f.length - 1);
    indexParts[indexParts.length - 1] = beforeLast.slice(0, -'.p'.length);
  }
  // A safe integer has at most 16 digits: six groups of three could overflow.
  if (indexParts.length > 5) return { ok: false, problem: 'tile index is too large' };
  let index = 0;
  for (const part of indexParts) {
    const g = decimal(part.startsWith('x') ? part.slice(1) : part);
    if (g === null || g >= GROUP) {
      return {
        ok: false,
        problem: `tile index must be written in groups of three digits, each but the last prefixed with "x" (x001/x234/067 is 1234067)`,
      };
    }
    index = index * GROUP + g;
  }
  const tile: TileCoordinates = { height, level, index, width };
  const canonical = formatTilePath(tile);
  if (canonical !== path) {
    return { ok: false, problem: `not in the form the go command writes; for this tile that is "${canonical}"` };
  }
  return { ok: true, tile, path: canonical };
}
