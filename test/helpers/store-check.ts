// Checks a gateway's data directory the way a later request would find it: the SQLite index passes
// integrity_check, every row with status 200 names a blob file that exists, has the row's size and hashes to its
// name, rows for objects a test knows hash to what the upstream serves, and the totals the schema keeps equal a
// scan of the rows. Also lists the temp files of downloads in progress. Paths come from BlobStore, the one owner
// of the layout. Opens the index read-only (WAL: safe while the gateway runs); never writes.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { BlobStore } from '../../src/store/blob-store.js';
import { openDatabase } from '../../src/store/database.js';

export interface StoredRow {
  key: string;
  kind: string;
  status: number;
  sha256: string | null;
  size: number;
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (c) => hash.update(c))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', reject);
  });
}

export function storedRows(dataDir: string): StoredRow[] {
  const db = openDatabase(join(dataDir, 'gomodgate.db'), { readonly: true });
  try {
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok', 'the SQLite index passes integrity_check');
    // the totals the schema's triggers keep (migrations 7 and 9) agree with a scan, whatever wrote the rows
    const kept = db.prepare('SELECT objects, bytes, blob_bytes AS blobBytes FROM cache_totals WHERE id = 1').get();
    const scanned = db
      .prepare(
        `SELECT (SELECT count(*) FROM objects) AS objects, (SELECT coalesce(sum(size), 0) FROM objects) AS bytes,
           (SELECT coalesce(sum(size), 0) FROM (SELECT max(size) AS size FROM objects WHERE sha256 IS NOT NULL GROUP BY sha256)) AS blobBytes`,
      )
      .get();
    assert.deepEqual(kept, scanned, "the index's kept totals equal a scan of its objects");
    return db.prepare('SELECT key, kind, status, sha256, size FROM objects').all() as StoredRow[];
  } finally {
    db.close();
  }
}

/**
 * Every status-200 row names a complete blob; rows whose key is in `expected` (cache key → sha256 of the real
 * object) hold exactly that object. Returns the rows. `when` prefixes the assertion messages.
 */
export async function assertStoreConsistent(dataDir: string, expected: Record<string, string> = {}, when = 'store'): Promise<StoredRow[]> {
  const rows = storedRows(dataDir);
  for (const row of rows) {
    if (row.status !== 200) continue;
    assert.ok(row.sha256 && /^[0-9a-f]{64}$/.test(row.sha256), `${when}: ${row.key} has a blob name`);
    const file = new BlobStore(dataDir, { create: false }).pathOf(row.sha256);
    assert.ok(existsSync(file), `${when}: the blob of ${row.key} exists`);
    assert.equal(statSync(file).size, row.size, `${when}: the blob of ${row.key} has the indexed size`);
    assert.equal(await sha256File(file), row.sha256, `${when}: the blob of ${row.key} hashes to its name`);
    const want = expected[row.key];
    if (want !== undefined) assert.equal(row.sha256, want, `${when}: ${row.key} is the upstream's object, not another`);
  }
  return rows;
}

/** The row for a cache key, or undefined. */
export function rowFor(dataDir: string, key: string): StoredRow | undefined {
  return storedRows(dataDir).find((r) => r.key === key);
}

/** Names of partial downloads in DATA_DIR/tmp. */
export function tempFiles(dataDir: string): string[] {
  return new BlobStore(dataDir, { create: false }).listTempFiles().map((f) => basename(f.path));
}
