// A gomodgate.db filled with generated rows, for the scenarios that measure the gateway against a large index:
// console (audit rows over a year) and scale (cached objects, audit rows, and the per-version fetch counts the
// hit path writes). The caller opens the file with openDatabase, so the schema is exactly what migrations made.
// Each table is filled by one INSERT ... SELECT over a recursive CTE, with the table's own secondary indexes
// dropped first and rebuilt from their own SQL afterwards (no ANALYZE: a gateway's database never has
// statistics). Every value is a function of the row number, except the objects' blob hashes (random, so
// distinct). Objects are index rows only: NO BLOB FILE IS WRITTEN, so a gateway on this index must never serve
// or evict them (run it without --cache-max-bytes, and never ask for their keys). Owns the generated names:
// modules github.com/orgN/modM (module 0 is rsc.io/quote, the test advisories' module), versions v1.K.J,
// clients A.x.y.z for a first octet A the caller picks.
import type { Db } from '../src/store/database.js';
import { FETCHES_FROM_AUDIT_SQL } from '../src/store/database.js';

/** Modules are spread over this many organisations (github.com/orgN/...). */
const ORGS = 40;

// The names, once in TypeScript and once as SQL over an integer column: the two must stay the same function.
/** The path of generated module m. */
export function generatedModulePath(m: number): string {
  return m === 0 ? 'rsc.io/quote' : `github.com/org${m % ORGS}/mod${m}`;
}
const modulePathSql = (m: string) => `CASE WHEN ${m} = 0 THEN 'rsc.io/quote' ELSE 'github.com/org' || (${m} % ${ORGS}) || '/mod' || ${m} END`;

/** Version v of every generated module: v1.0.0, v1.1.0, ... v1.7.0, v1.0.1, ... */
export function generatedVersion(v: number): string {
  return `v1.${v % 8}.${Math.floor(v / 8)}`;
}
const versionSql = (v: string) => `'v1.' || (${v} % 8) || '.' || (${v} / 8)`;

/** The address of generated client c (c < 63,750): firstOctet.(c/250).(c%250/10).(c%10+1). */
export function generatedClientAddress(c: number, firstOctet: number): string {
  return `${firstOctet}.${Math.floor(c / 250)}.${Math.floor((c % 250) / 10)}.${(c % 10) + 1}`;
}
const clientSql = (c: string, firstOctet: number) => `'${firstOctet}.' || (${c} / 250) || '.' || (${c} % 250 / 10) || '.' || (${c} % 10 + 1)`;

/**
 * For generating: no journal and no fsync (a generation cut short leaves a file to throw away, never one a gateway
 * opens), a large page cache and in-memory sorts with a helper thread, which building an index on millions of
 * rows needs most. The last four are the connection's own; endBulkSettings puts the journal back to WAL and
 * leaves no -wal file, so the database is one file to copy.
 */
export function useBulkSettings(db: Db): void {
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -262144'); // 256 MiB
  db.pragma('temp_store = MEMORY');
  db.pragma('threads = 2');
}

export function endBulkSettings(db: Db): void {
  db.pragma('journal_mode = WAL');
  db.pragma('wal_checkpoint(TRUNCATE)');
}

export interface FillSeconds {
  /** The INSERT ... SELECT. */
  insert: number;
  /** Rebuilding the table's secondary indexes. */
  indexes: number;
}

/** Runs `fill` with `table`'s secondary indexes dropped, then creates them again from their own SQL. */
function withoutIndexes(db: Db, table: string, fill: () => void): FillSeconds {
  const started = performance.now();
  const indexes = db.prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL`).all(table) as Array<{ name: string; sql: string }>;
  for (const i of indexes) db.exec(`DROP INDEX ${i.name}`);
  fill();
  const filled = performance.now();
  for (const i of indexes) db.exec(i.sql);
  return { insert: (filled - started) / 1000, indexes: (performance.now() - filled) / 1000 };
}

export interface AuditGeneration {
  rows: number;
  /** The rows' times are spread evenly over [endMs - spanMs, endMs), in id order. */
  endMs: number;
  spanMs: number;
  /** Client c of row i is (i * 7919) % clients. */
  clients: number;
  /** First octet of the clients' addresses (10 for a LAN; 127 for clients the bench can be on loopback). */
  clientFirstOctet: number;
  /** Module (i * 104729) % modules and version (i * 31) % versions: numbers with no common factor make more pairs. */
  modules: number;
  versions: number;
  /** Also fill vuln_fetched and vuln_fetch_clients from the rows, as the audit writer would have (migration 5's SQL). */
  fetchCounts: boolean;
}

/**
 * Fills `audit` with `rows` rows: kinds info, mod, zip and list (one in seven, without a version), outcomes with
 * about 1 % security events (80 % hit, 14 % miss, 2 % stale, 2 % not-found, 1 % denied, 1 % tampered).
 */
export function generateAuditRows(db: Db, g: AuditGeneration): FillSeconds {
  const t0 = g.endMs - g.spanMs;
  const step = g.spanMs / g.rows;
  return withoutIndexes(db, 'audit', () => {
    db.exec(`
      WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ${g.rows - 1}),
      r AS (SELECT i, (i * 7919) % ${g.clients} AS c, (i * 104729) % ${g.modules} AS m, (i * 31) % ${g.versions} AS v, i % 100 AS o, i % 7 AS k FROM n)
      INSERT INTO audit (ts, client, orig_dst, host, method, path, module, version, kind, outcome, status, bytes, duration_ms)
      SELECT ${t0} + CAST(i * ${step} AS INTEGER),
        ${clientSql('c', g.clientFirstOctet)},
        '142.250.1.1:443', 'proxy.golang.org', 'GET', '/x',
        ${modulePathSql('m')},
        CASE WHEN k = 6 THEN NULL ELSE ${versionSql('v')} END,
        CASE k WHEN 0 THEN 'info' WHEN 1 THEN 'mod' WHEN 2 THEN 'zip' WHEN 3 THEN 'zip' WHEN 4 THEN 'info' WHEN 5 THEN 'mod' ELSE 'list' END,
        CASE WHEN o < 80 THEN 'hit' WHEN o < 94 THEN 'miss' WHEN o < 96 THEN 'stale' WHEN o < 98 THEN 'not-found' WHEN o = 98 THEN 'denied' ELSE 'tampered' END,
        CASE WHEN o < 96 THEN 200 WHEN o < 98 THEN 404 WHEN o = 98 THEN 403 ELSE 502 END,
        CASE WHEN o < 96 THEN 1000 + (i % 50000) ELSE 0 END,
        1 + i % 40
      FROM r`);
    // the audit writer's per-version fetch counts, while the table has no index to choose over a scan and a sort
    if (g.fetchCounts) db.exec(FETCHES_FROM_AUDIT_SQL);
  });
}

export interface ObjectGeneration {
  /** Modules 0 .. modules-1, each with versions 0 .. versions-1 (the names of generatedModulePath/generatedVersion). */
  modules: number;
  versions: number;
  /** Stored at times over [endMs - spanMs, endMs), last accessed between then and endMs. */
  endMs: number;
  spanMs: number;
  /** The upstream the rows name (list keys are per upstream). */
  upstream: string;
}

/** Object rows per module: info, mod and zip of each version, and the module's version list. */
export const objectsPerModule = (versions: number) => 3 * versions + 1;

/**
 * Fills `objects` with the .info, .mod and .zip of every module version (immutable) and one version list per
 * module (expires a minute after it was stored, as the default mutable TTL), each pointing at a distinct blob
 * that does not exist. Sizes as on a real cache: .info about 100 bytes, .mod 60 bytes to 2 KB, zips 1 KB to
 * 300 KB and one in 50 from 2 to 22 MB. The triggers of migrations 7 and 9 keep cache_totals and cache_blobs
 * as the rows go in (checkCacheTotals compares them with a scan). Returns the rows inserted.
 */
export function generateObjects(db: Db, g: ObjectGeneration): { rows: number; seconds: FillSeconds } {
  const before = (db.prepare('SELECT count(*) AS n FROM objects').get() as { n: number }).n;
  // h is a scrambled 32-bit function of the row number (Knuth's multiplicative hash): times and sizes from it
  const h = (i: string, salt: number) => `((${i} * 2654435761 + ${salt}) % 4294967296)`;
  const seconds = withoutIndexes(db, 'objects', () =>
    db.exec(`
      WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ${g.modules * g.versions - 1}),
      mv AS (SELECT i, ${modulePathSql(`(i / ${g.versions})`)} AS module, ${versionSql(`(i % ${g.versions})`)} AS version,
               ${g.endMs - g.spanMs} + ${h('i', 0)} % ${g.spanMs} AS stored FROM n),
      kinds(kind, content_type, n) AS (VALUES ('info', 'application/json', 0), ('mod', 'text/plain; charset=utf-8', 1), ('zip', 'application/zip', 2)),
      rows AS (SELECT 3 * i + n AS j, module, version, kind, content_type, stored FROM mv, kinds)
      INSERT INTO objects (key, kind, module, version, status, sha256, h1, size, content_type, body_inline, upstream_url, stored_at, expires_at, last_access)
      SELECT 'mod:' || module || '@' || version || '.' || kind, kind, module, version, 200, lower(hex(randomblob(32))),
        CASE WHEN kind = 'info' THEN NULL ELSE 'h1:' || substr(hex(randomblob(24)), 1, 43) || '=' END,
        CASE kind WHEN 'info' THEN 60 + ${h('j', 1)} % 80
                  WHEN 'mod' THEN 60 + ${h('j', 2)} % 2000
                  ELSE CASE WHEN ${h('j', 3)} % 50 = 0 THEN 2000000 + ${h('j', 4)} % 20000000 ELSE 1000 + ${h('j', 4)} % 300000 END END,
        content_type, NULL, '${g.upstream}/' || module || '/@v/' || version || '.' || kind,
        stored, NULL, stored + ${h('j', 5)} % (${g.endMs} - stored + 1)
      FROM rows ORDER BY 1;
      WITH RECURSIVE n(m) AS (SELECT 0 UNION ALL SELECT m + 1 FROM n WHERE m < ${g.modules - 1}),
      lists AS (SELECT ${modulePathSql('m')} AS module, ${g.endMs - g.spanMs} + ${h('m', 6)} % ${g.spanMs} AS stored FROM n)
      INSERT INTO objects (key, kind, module, version, status, sha256, h1, size, content_type, body_inline, upstream_url, stored_at, expires_at, last_access)
      SELECT 'list:' || module || ' via ${g.upstream}', 'list', module, NULL, 200, lower(hex(randomblob(32))), NULL, ${7 * g.versions},
        'text/plain; charset=utf-8', NULL, '${g.upstream}/' || module || '/@v/list', stored, stored + 60000, stored
      FROM lists ORDER BY 1;`),
  );
  const after = (db.prepare('SELECT count(*) AS n FROM objects').get() as { n: number }).n;
  return { rows: after - before, seconds };
}

/**
 * Throws unless cache_totals (objects, bytes, blob_bytes) and cache_blobs (refs and size per blob) equal a scan
 * of `objects`: what the triggers of migrations 7 and 9 keep, and what /metrics and the cache limit read.
 */
export function checkCacheTotals(db: Db): void {
  const kept = db.prepare('SELECT objects, bytes, blob_bytes AS blobBytes FROM cache_totals WHERE id = 1').get() as { objects: number; bytes: number; blobBytes: number };
  const scanned = db.prepare(`SELECT count(*) AS objects, coalesce(sum(size), 0) AS bytes,
      (SELECT coalesce(sum(size), 0) FROM (SELECT max(size) AS size FROM objects WHERE sha256 IS NOT NULL GROUP BY sha256)) AS blobBytes FROM objects`).get() as typeof kept;
  if (kept.objects !== scanned.objects || kept.bytes !== scanned.bytes || kept.blobBytes !== scanned.blobBytes) {
    throw new Error(`generated index: cache_totals ${JSON.stringify(kept)} differ from a scan of objects ${JSON.stringify(scanned)}`);
  }
  const wrong = db.prepare(`SELECT count(*) AS n FROM (SELECT sha256, count(*) AS refs, max(size) AS size FROM objects WHERE sha256 IS NOT NULL GROUP BY sha256) s
      FULL JOIN cache_blobs b USING (sha256) WHERE s.refs IS NOT b.refs OR s.size IS NOT b.size`).get() as { n: number };
  if (wrong.n !== 0) throw new Error(`generated index: ${wrong.n} cache_blobs rows differ from a scan of objects`);
}
