// What is in the cache, for `gomodgate cache stats` and `gomodgate cache ls`: index rows by kind and size, the
// blob files on disk, and the hit ratio the audit trail shows. Read-only: never changes the index or a blob.
import { schemaVersion, type Db } from '../store/database.js';
import { BlobStore } from '../store/blob-store.js';
import { indexedBlobBytes } from '../store/eviction.js';
import { AUDIT_OUTCOMES, CONSOLE_OUTCOMES } from '../audit/audit-log.js';
import { moduleMatchesPattern, parseModulePatterns, patternLiteralPrefix, prefixUpperBound } from './audit-query.js';

export interface KindStats {
  kind: string;
  objects: number; // rows with a blob (status 200)
  bytes: number;
  negative: number; // remembered upstream 404/410
}

export interface CacheStats {
  kinds: KindStats[];
  objects: number;
  negative: number;
  /** Sum of the sizes of all rows with a blob (a blob shared by several rows counts for each). */
  bytes: number;
  /** Distinct blobs the index points at, and their total size. */
  blobs: number;
  blobBytes: number;
  disk: DiskUsage;
  hitRatio: HitRatio;
}

export interface DiskUsage {
  blobFiles: number;
  blobBytes: number;
  tempFiles: number;
  tempBytes: number;
}

export interface HitRatio {
  /** ms since epoch; null = the whole audit trail */
  since: number | null;
  hits: number;
  stale: number;
  misses: number;
  /** (hits + stale) / (hits + stale + misses); null when there was no such request */
  ratio: number | null;
  /** Go requests answered otherwise (not-found, error, denied, ...), by outcome: they count for no ratio. */
  other: Record<string, number>;
}

/** Outcomes of requests that were neither served from the cache nor fetched (connections not included). */
const OTHER_OUTCOMES = AUDIT_OUTCOMES.filter((o) => !['hit', 'stale', 'miss', 'passthrough', 'refused', ...CONSOLE_OUTCOMES].includes(o));

/** Files under the blob directory (strays included) and the temp directory, as BlobStore lists them. */
export function diskUsage(dataDir: string): DiskUsage {
  const blobs = new BlobStore(dataDir, { create: false });
  const u: DiskUsage = { blobFiles: 0, blobBytes: 0, tempFiles: 0, tempBytes: 0 };
  for (const f of blobs.listBlobFiles()) {
    u.blobFiles++;
    u.blobBytes += f.size;
  }
  for (const f of blobs.listTempFiles()) {
    u.tempFiles++;
    u.tempBytes += f.size;
  }
  return u;
}

/** Served from cache (hit, stale) against fetched upstream (miss), from audit_by_outcome_ts. */
export function hitRatio(db: Db, since: number | null): HitRatio {
  const rows = db
    .prepare(`SELECT outcome, COUNT(*) AS n FROM audit WHERE outcome IN ('hit', 'stale', 'miss', ${OTHER_OUTCOMES.map(() => '?').join(', ')}) AND ts >= ? GROUP BY outcome`)
    .all(...OTHER_OUTCOMES, since ?? Number.MIN_SAFE_INTEGER) as Array<{ outcome: string; n: number }>;
  const count = (o: string) => rows.find((r) => r.outcome === o)?.n ?? 0;
  const hits = count('hit');
  const stale = count('stale');
  const misses = count('miss');
  const all = hits + stale + misses;
  const other: Record<string, number> = {};
  for (const r of rows) if (OTHER_OUTCOMES.includes(r.outcome as (typeof OTHER_OUTCOMES)[number])) other[r.outcome] = r.n;
  return { since, hits, stale, misses, ratio: all === 0 ? null : (hits + stale) / all, other };
}

export function cacheStats(db: Db, dataDir: string, since: number | null): CacheStats {
  const kinds = db
    .prepare(
      `SELECT kind, SUM(status = 200 AND sha256 IS NOT NULL) AS objects,
              COALESCE(SUM(CASE WHEN status = 200 AND sha256 IS NOT NULL THEN size END), 0) AS bytes,
              SUM(status <> 200) AS negative
       FROM objects GROUP BY kind ORDER BY kind`,
    )
    .all() as KindStats[];
  const blobs = indexedBlobs(db);
  return {
    kinds,
    objects: kinds.reduce((a, k) => a + k.objects, 0),
    negative: kinds.reduce((a, k) => a + k.negative, 0),
    bytes: kinds.reduce((a, k) => a + k.bytes, 0),
    blobs: blobs.n,
    blobBytes: blobs.bytes,
    disk: diskUsage(dataDir),
    hitRatio: hitRatio(db, since),
  };
}

/** The schema whose triggers keep the distinct blobs (database.ts, migration 9). */
const KEPT_BLOBS_SCHEMA = 9;

/**
 * The distinct blobs the index points at, and their bytes: the rows migration 9's triggers keep (grouping every
 * object took 1.6 s of `cache stats` on 400,000 objects). An older index, which a read-only open leaves as it
 * is, is grouped.
 */
export function indexedBlobs(db: Db): { n: number; bytes: number } {
  if (schemaVersion(db) >= KEPT_BLOBS_SCHEMA) {
    const { n } = db.prepare('SELECT COUNT(*) AS n FROM cache_blobs').get() as { n: number };
    return { n, bytes: indexedBlobBytes(db) };
  }
  return db
    .prepare(`SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM (SELECT sha256, MAX(size) AS size FROM objects WHERE sha256 IS NOT NULL GROUP BY sha256)`)
    .get() as { n: number; bytes: number };
}

export interface CacheEntry {
  key: string;
  module: string | null;
  version: string | null;
  kind: string;
  status: number;
  size: number;
  storedAt: number;
  lastAccess: number;
  expiresAt: number | null;
  sha256: string | null;
}

/**
 * Index rows, ordered by module, version and key; with patterns (GOPRIVATE syntax) only rows whose module
 * matches one (a range over objects_by_module_version per pattern, checked exactly here).
 */
export function listCache(db: Db, modulePatterns: readonly string[] = []): CacheEntry[] {
  const patterns = parseModulePatterns(modulePatterns);
  const cols = `key, module, version, kind, status, size, stored_at AS storedAt, last_access AS lastAccess, expires_at AS expiresAt, sha256`;
  if (patterns.length === 0) {
    return db.prepare(`SELECT ${cols} FROM objects ORDER BY module, version, key`).all() as CacheEntry[];
  }
  const terms: string[] = [];
  const params: string[] = [];
  for (const p of patterns) {
    const lo = patternLiteralPrefix(p);
    const hi = lo === '' ? null : prefixUpperBound(lo);
    if (hi === null) terms.push('module IS NOT NULL');
    else {
      terms.push('(module >= ? AND module < ?)');
      params.push(lo, hi);
    }
  }
  const rows = db.prepare(`SELECT ${cols} FROM objects WHERE ${terms.join(' OR ')} ORDER BY module, version, key`).all(...params) as CacheEntry[];
  return rows.filter((r) => r.module !== null && patterns.some((p) => moduleMatchesPattern(p, r.module!)));
}
