// Unit: the cache's object count and byte total that /metrics reads (cacheTotalsFromDb), and the bytes of the
// distinct blobs that the cache limit reads (indexedBlobBytes), are kept by the schema's triggers (database.ts,
// migrations 7 and 9) and always equal count(*), sum(size) and the distinct blobs' sizes over `objects`: after
// puts, rows sharing a blob, the upsert of an existing key with another size or another blob, deletes through
// the index, eviction's deletes on the same connection, a second connection's writes (as a worker or `gomodgate
// cache` makes them), and the migration of a cache written before the triggers existed; `cache stats` reads the
// distinct blobs from them, or groups an index older than them. Real SQLite files, real blobs; no mocks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openDatabase, type Db } from '../../src/store/database.js';
import { CacheIndex, type CachedObject } from '../../src/store/cache-index.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { evictToLimit, indexedBlobBytes } from '../../src/store/eviction.js';
import { cacheTotalsFromDb } from '../../src/admin/metrics.js';
import { indexedBlobs } from '../../src/tools/cache-report.js';

/** The distinct blobs' bytes as the cache limit summed them before migration 9: a scan of every object. */
function scannedBlobBytes(db: Db): number {
  return (db.prepare('SELECT coalesce(sum(size), 0) AS b FROM (SELECT max(size) AS size FROM objects WHERE sha256 IS NOT NULL GROUP BY sha256)').get() as { b: number }).b;
}

function scanned(db: Db): { objects: number; bytes: number; blobBytes: number } {
  const row = db.prepare('SELECT count(*) AS objects, coalesce(sum(size), 0) AS bytes FROM objects').get() as { objects: number; bytes: number };
  return { objects: row.objects, bytes: row.bytes, blobBytes: scannedBlobBytes(db) };
}

function object(key: string, size: number, sha256: string | null = `${key}-sha`): CachedObject {
  return {
    key, kind: 'zip', module: 'example.com/m', version: 'v1.0.0', status: 200, sha256, h1: null, size,
    contentType: 'application/zip', bodyInline: null, upstreamUrl: null, storedAt: 1, expiresAt: null,
  };
}

/** 30 rows of 0 to 290 bytes, each its own blob, and 5 rows sharing one blob of 50 bytes (one go.mod). */
function putSample(index: CacheIndex): void {
  for (let i = 0; i < 30; i++) index.put(object(`k${i}`, 10 * i));
  for (let i = 0; i < 5; i++) index.put(object(`shared${i}`, 50, 'one-go-mod'));
}

test('the kept totals equal a scan of the objects table after every kind of write', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-cache-totals-'));
  const file = join(dir, 'gomodgate.db');
  const db = openDatabase(file);
  const other = openDatabase(file); // a second writer: a worker, or `gomodgate cache prune`
  try {
    const totals = cacheTotalsFromDb(db);
    const index = new CacheIndex(db);
    assert.deepEqual(totals(), { objects: 0, bytes: 0, blobBytes: 0 });

    for (let i = 0; i < 50; i++) index.put(object(`k${i}`, 1000 + i));
    assert.deepEqual(totals(), { objects: 50, bytes: 50 * 1000 + (49 * 50) / 2, blobBytes: 50 * 1000 + (49 * 50) / 2 });

    assert.equal(indexedBlobBytes(db), scannedBlobBytes(db));

    index.put(object('k7', 99_999)); // the upsert of an existing key, another size
    assert.deepEqual(totals(), scanned(db));
    assert.equal(indexedBlobBytes(db), scannedBlobBytes(db));
    index.delete('k8');
    index.delete('no-such-key');
    assert.deepEqual(totals(), scanned(db));
    assert.equal(indexedBlobBytes(db), scannedBlobBytes(db));

    // rows sharing a blob (one go.mod for three versions) count it once; it goes with its last row
    for (const v of ['a', 'b', 'c']) index.put(object(`shared-${v}`, 300, 'shared-sha'));
    assert.equal(indexedBlobBytes(db), scannedBlobBytes(db));
    index.put(object('shared-b', 400, 'other-sha')); // the upsert of a key onto another blob
    index.delete('shared-a');
    assert.equal(indexedBlobBytes(db), scannedBlobBytes(db));
    index.delete('shared-c');
    assert.equal((db.prepare("SELECT count(*) AS n FROM cache_blobs WHERE sha256 = 'shared-sha'").get() as { n: number }).n, 0, 'a blob no row points at is not counted');
    assert.equal(indexedBlobBytes(db), scannedBlobBytes(db));
    index.put(object('negative', 0, null)); // a remembered 404: no blob
    assert.equal(indexedBlobBytes(db), scannedBlobBytes(db));

    new CacheIndex(other).put(object('from-the-other-connection', 5));
    other.prepare('DELETE FROM objects WHERE key = ?').run('k9');
    assert.deepEqual(totals(), scanned(db), 'writes on another connection count too');
    assert.equal(indexedBlobBytes(db), scannedBlobBytes(db));

    // eviction deletes by SQL on the same connection, and removes the blobs it names
    const blobs = new BlobStore(dir);
    const r = evictToLimit(db, blobs, 20_000, () => false);
    assert.ok(r.removedObjects > 0, 'eviction removed rows');
    assert.deepEqual(totals(), scanned(db));
    assert.equal(indexedBlobBytes(db), scannedBlobBytes(db));
    assert.ok(indexedBlobBytes(db) <= 20_000);
  } finally {
    other.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Takes the schema back to what an older gomodgate left (6: before the totals; 8: before the blob totals and audit.joined). */
function downgrade(file: string, to: 6 | 8): void {
  const raw = new Database(file);
  raw.exec(`DROP TRIGGER objects_blobs_insert; DROP TRIGGER objects_blobs_delete; DROP TRIGGER objects_blobs_update;
    DROP TRIGGER cache_blobs_bytes_insert; DROP TRIGGER cache_blobs_bytes_update; DROP TRIGGER cache_blobs_bytes_delete;
    DROP TABLE cache_blobs; ALTER TABLE cache_totals DROP COLUMN blob_bytes; ALTER TABLE audit DROP COLUMN joined;`);
  if (to === 6) raw.exec('DROP TRIGGER objects_totals_insert; DROP TRIGGER objects_totals_delete; DROP TRIGGER objects_totals_update; DROP TABLE cache_totals; DROP TABLE sumdb_reads;');
  raw.pragma(`user_version = ${to}`);
  // a row the older gomodgate wrote after the cache was last opened here: no trigger saw it
  raw.prepare("INSERT INTO objects (key, kind, status, sha256, size, content_type, stored_at, last_access) VALUES ('late', 'mod', 200, 'x', 7, 'text/plain', 1, 1)").run();
  raw.close();
}

for (const from of [6, 8] as const) {
  test(`a cache at schema ${from} gets its kept totals at the migration`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'gmg-cache-totals-migrate-'));
    const file = join(dir, 'gomodgate.db');
    try {
      const db = openDatabase(file);
      const index = new CacheIndex(db);
      putSample(index);
      db.close();
      downgrade(file, from);

      const reopened = openDatabase(file);
      try {
        assert.equal(reopened.pragma('user_version', { simple: true }), 10);
        assert.deepEqual(cacheTotalsFromDb(reopened)(), { objects: 36, bytes: 10 * ((29 * 30) / 2) + 5 * 50 + 7, blobBytes: 10 * ((29 * 30) / 2) + 50 + 7 });
        assert.deepEqual(cacheTotalsFromDb(reopened)(), scanned(reopened));
        assert.equal(indexedBlobBytes(reopened), 10 * ((29 * 30) / 2) + 50 + 7);
        assert.equal(indexedBlobBytes(reopened), scannedBlobBytes(reopened));
      } finally {
        reopened.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('cache stats counts the distinct blobs from the kept rows, and groups the objects of an index at schema 8 (a read-only open does not migrate it)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-cache-totals-stats-'));
  const file = join(dir, 'gomodgate.db');
  try {
    const db = openDatabase(file);
    const index = new CacheIndex(db);
    putSample(index);
    const bytes = 10 * ((29 * 30) / 2) + 50;
    assert.deepEqual(indexedBlobs(db), { n: 31, bytes });
    // what it reads is the kept rows: a row only they hold shows, where a scan of the objects would not see it
    db.prepare("INSERT INTO cache_blobs (sha256, refs, size) VALUES ('only-kept', 1, 1000)").run();
    assert.deepEqual(indexedBlobs(db), { n: 32, bytes: bytes + 1000 });
    db.prepare("DELETE FROM cache_blobs WHERE sha256 = 'only-kept'").run();
    db.close();
    downgrade(file, 8);

    const old = openDatabase(file, { readonly: true });
    try {
      assert.equal(old.pragma('user_version', { simple: true }), 8);
      assert.deepEqual(indexedBlobs(old), { n: 32, bytes: bytes + 7 }); // the late row no trigger saw is grouped too
    } finally {
      old.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
