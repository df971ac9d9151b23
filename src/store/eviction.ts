// Removes cached objects to bound the cache: least recently used blobs first until the blobs the index points at
// total at most a byte limit (evictToLimit: the running gateway after each stored object, and
// `gomodgate cache prune --max-bytes`), or every object not used since a cutoff (pruneOlderThan,
// `cache prune --older-than`). Index rows are deleted first (one transaction), then the blob files no row points
// at any more: a crash in between leaves an orphan blob, never a row without its blob.
// Never removes a blob for which inUse returns true (being served or being stored), and never awaits: the
// caller's event loop sees one synchronous step. Cost: the blobs' total is one row the schema keeps
// (database.ts, migration 9); then the least recently used rows in order, reading a blob's rows where the scan
// first meets it and again where it evicts it. The running gateway's passes go on where the last one stopped
// and run a bounded time each (cache-limit.ts).
import type { Db, Statement } from './database.js';
import type { BlobStore } from './blob-store.js';

export interface EvictionResult {
  /** Index rows removed. */
  removedObjects: number;
  /** Bytes of blob files removed from disk (a blob shared by several rows counts once). */
  removedBytes: number;
}

/** A place in least-recently-used order (last_access, rowid): where a pass stopped, and the next goes on. */
export type EvictionCursor = readonly [lastAccess: number, rowid: number];

export interface LimitPassResult extends EvictionResult {
  /** Where the next pass starts: the scan passed every row before it (and evicted what it could). */
  resumeAt: EvictionCursor | null;
  /** The pass ran out of its budget with the cache still over its limit. */
  more: boolean;
}

export interface RemovedObject {
  key: string;
  kind: string;
  module: string | null;
  version: string | null;
  sha256: string | null;
  size: number;
  lastAccess: number;
  /** true when this removal also deleted its blob file (no other row points at it) */
  blobRemoved: boolean;
}

export interface EvictionOptions {
  /** Report what would be removed without removing anything. */
  dryRun?: boolean;
  onRemove?: (o: RemovedObject) => void;
}

export interface LimitPassOptions extends EvictionOptions {
  /**
   * Start the scan here (the previous pass's resumeAt) rather than at the oldest row; it goes round to the
   * oldest row once if it reaches the end still over the limit. Rows before it were passed already: their blob
   * has a more recent row (evicted with it when the scan gets there) or was in use then.
   */
  from?: EvictionCursor | null;
  /** Stop (more: true) once the pass has run this long (ms), between two rows of the scan. */
  budgetMs?: number;
}

export interface Row {
  rowid: number;
  key: string;
  kind: string;
  module: string | null;
  version: string | null;
  sha256: string | null;
  size: number;
  last_access: number;
}

const ROW_COLS = 'rowid, key, kind, module, version, sha256, size, last_access';
const BATCH = 256;

/** Total size of the distinct blobs the index points at (each counted once): one row the schema's triggers keep. */
export function indexedBlobBytes(db: Db): number {
  const r = db.prepare('SELECT blob_bytes FROM cache_totals WHERE id = 1').get() as { blob_bytes: number } | undefined;
  return Number(r?.blob_bytes ?? 0);
}

/** The statements removeBlobFile runs, prepared once per connection. */
const recheckStatements = new WeakMap<Db, { rowsOf: Statement<[string], Row>; deleteRows: Statement<[string]> }>();

/**
 * Removes the file of a blob no row names (its rows were just deleted, or it is an orphan), then reads its rows
 * again: another process (a worker, the running gateway beside `cache prune` or `cache verify --repair`) may have
 * renamed the same content into place and written a row for it in between. Such rows name a file that is gone
 * now; they are deleted and returned (fetched again at their next request). Null when the file could not be
 * removed: it stays, an orphan for `cache verify --repair`. The process that wrote a row checks for its file
 * after the row as well (ModuleService), which covers a row written after this second read. Blobs this process
 * is storing or reading are never passed here (inUse). Every removal of a blob file goes through here: eviction,
 * prune, repair, the orphan sweep and the cleanup of a blob a replaced row left.
 */
export function removeBlobFile(db: Db, blobs: BlobStore, sha256: string): Row[] | null {
  if (!blobs.removeSync(sha256)) return null;
  let s = recheckStatements.get(db);
  if (s === undefined) {
    s = { rowsOf: db.prepare<[string], Row>(`SELECT ${ROW_COLS} FROM objects WHERE sha256 = ?`), deleteRows: db.prepare<[string]>('DELETE FROM objects WHERE sha256 = ?') };
    recheckStatements.set(db, s);
  }
  const rows = s.rowsOf.all(sha256);
  if (rows.length === 0 || blobs.sizeOfSync(sha256) !== null) return [];
  s.deleteRows.run(sha256);
  return rows;
}

function emit(opts: EvictionOptions, rows: Row[], blobRemoved: boolean): void {
  if (!opts.onRemove) return;
  for (const r of rows) {
    opts.onRemove({ key: r.key, kind: r.kind, module: r.module, version: r.version, sha256: r.sha256, size: r.size, lastAccess: r.last_access, blobRemoved });
  }
}

/**
 * Evicts least recently used blobs (a blob's last use is the latest last_access of the rows pointing at it),
 * with every row pointing at them, until the indexed blobs total at most maxBytes. Skips blobs for which
 * inUse returns true. Negative entries (remembered 404/410, no blob) are left alone.
 */
export function evictToLimit(
  db: Db,
  blobs: BlobStore,
  maxBytes: number,
  inUse: (sha256: string) => boolean,
  options: EvictionOptions = {},
): EvictionResult {
  const { removedObjects, removedBytes } = evictionPass(db, blobs, maxBytes, inUse, options);
  return { removedObjects, removedBytes };
}

/**
 * evictToLimit's scan, from where a previous pass stopped and for a bounded time (the running gateway's
 * passes, cache-limit.ts). Each page of the scan deletes its rows in one transaction, then removes
 * their blob files.
 */
export function evictionPass(
  db: Db,
  blobs: BlobStore,
  maxBytes: number,
  inUse: (sha256: string) => boolean,
  options: LimitPassOptions = {},
): LimitPassResult {
  let total = indexedBlobBytes(db);
  const result: LimitPassResult = { removedObjects: 0, removedBytes: 0, resumeAt: options.from ?? null, more: false };
  if (total <= maxBytes) return result;
  const stopAt = options.budgetMs === undefined ? Infinity : performance.now() + options.budgetMs;
  const page = db.prepare<[number, number], Row>(
    `SELECT ${ROW_COLS} FROM objects INDEXED BY objects_by_last_access
     WHERE (last_access, rowid) > (?, ?) AND sha256 IS NOT NULL ORDER BY last_access, rowid LIMIT ${BATCH}`,
  );
  const refsOf = db.prepare<[string], Row>(`SELECT ${ROW_COLS} FROM objects WHERE sha256 = ?`);
  const deleteRefs = db.prepare<[string]>('DELETE FROM objects WHERE sha256 = ?');
  const deleteAll = db.transaction((doomed: string[]) => {
    for (const sha of doomed) deleteRefs.run(sha);
  });
  const handled = new Set<string>();
  // blob → the row where the scan evicts it (its most recently used one): the blob's older rows are passed by
  // without reading its rows again. Read at each of them, a blob shared by n rows (one go.mod for many
  // versions) cost n² rows per pass.
  const evictAt = new Map<string, number>();
  const oldest: EvictionCursor = [Number.MIN_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
  let cursor: EvictionCursor = options.from ?? oldest;
  let wentRound = options.from == null;
  let rowsSeen = 0;
  // Bounded: each page moves the cursor forward or ends the scan, and the scan goes round to the oldest row once.
  for (;;) {
    const rows = page.all(...cursor);
    if (rows.length === 0) {
      if (wentRound) break;
      wentRound = true;
      cursor = oldest;
      continue;
    }
    const doomed: { sha: string; refs: Row[] }[] = [];
    let outOfTurn = false;
    for (const row of rows) {
      if (total <= maxBytes) break;
      // every pass gets past one row at least, however small its budget
      outOfTurn = rowsSeen > 0 && performance.now() >= stopAt;
      if (outOfTurn) break;
      rowsSeen++;
      cursor = [row.last_access, row.rowid];
      const sha = row.sha256!;
      if (handled.has(sha)) continue;
      const at = evictAt.get(sha);
      if (at !== undefined && at !== row.rowid) continue;
      if (inUse(sha)) {
        handled.add(sha);
        continue;
      }
      const refs = refsOf.all(sha);
      // The blob is as recent as its most recently used row: evict it when the scan reaches that row.
      const latest = refs.reduce((a, b) => (b.last_access > a.last_access || (b.last_access === a.last_access && b.rowid > a.rowid) ? b : a), row);
      if (latest.rowid !== row.rowid) {
        evictAt.set(sha, latest.rowid);
        continue;
      }
      handled.add(sha);
      doomed.push({ sha, refs });
      const size = refs.reduce((m, r) => Math.max(m, r.size), 0);
      total -= size;
      result.removedObjects += refs.length;
      result.removedBytes += size;
    }
    if (!options.dryRun && doomed.length > 0) {
      // rows first, in one transaction; then the files no row points at (a crash between leaves orphans only)
      deleteAll(doomed.map((d) => d.sha));
      for (const d of doomed) {
        const late = removeBlobFile(db, blobs, d.sha) ?? [];
        d.refs.push(...late);
        result.removedObjects += late.length;
      }
    }
    for (const d of doomed) emit(options, d.refs, true);
    result.resumeAt = cursor;
    if (total <= maxBytes) return result;
    if (outOfTurn) {
      result.more = true;
      return result;
    }
  }
  result.resumeAt = null;
  return result;
}

/**
 * Removes every object (negative entries too) last used before `cutoff` (ms since epoch), then the blobs no
 * remaining row points at. Skips objects whose blob is in use.
 */
export function pruneOlderThan(
  db: Db,
  blobs: BlobStore,
  cutoff: number,
  inUse: (sha256: string) => boolean,
  options: EvictionOptions = {},
): EvictionResult {
  const result: EvictionResult = { removedObjects: 0, removedBytes: 0 };
  const page = db.prepare<[number, number, number], Row>(
    `SELECT ${ROW_COLS} FROM objects INDEXED BY objects_by_last_access
     WHERE last_access < ? AND (last_access, rowid) > (?, ?) ORDER BY last_access, rowid LIMIT ${BATCH}`,
  );
  const deleteRow = db.prepare<[number]>('DELETE FROM objects WHERE rowid = ?');
  const stillReferenced = db.prepare<[string]>('SELECT 1 FROM objects WHERE sha256 = ? LIMIT 1').pluck();
  const doomed = new Map<string, Row[]>(); // blob → its removed rows (dry run: to tell whether all of them go)
  const refCount = db.prepare<[string]>('SELECT COUNT(*) FROM objects WHERE sha256 = ?').pluck();
  let cursor: [number, number] = [Number.MIN_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
  for (;;) {
    const rows = page.all(cutoff, ...cursor);
    if (rows.length === 0) break;
    cursor = [rows.at(-1)!.last_access, rows.at(-1)!.rowid];
    const chosen = rows.filter((r) => r.sha256 === null || !inUse(r.sha256));
    if (!options.dryRun) {
      db.transaction(() => {
        for (const r of chosen) deleteRow.run(r.rowid);
      })();
    }
    for (const r of chosen) {
      result.removedObjects++;
      if (r.sha256 === null) emit(options, [r], false);
      else {
        const list = doomed.get(r.sha256) ?? [];
        list.push(r);
        doomed.set(r.sha256, list);
      }
    }
  }
  for (const [sha, rows] of doomed) {
    const orphaned = options.dryRun ? (refCount.get(sha) as number) === rows.length : !stillReferenced.get(sha);
    if (orphaned) {
      if (!options.dryRun) {
        const late = removeBlobFile(db, blobs, sha) ?? [];
        rows.push(...late);
        result.removedObjects += late.length;
      }
      result.removedBytes += rows.reduce((m, r) => Math.max(m, r.size), 0);
    }
    emit(options, rows, orphaned);
  }
  return result;
}
