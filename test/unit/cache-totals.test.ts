// Unit: the cache's object count and byte total that /metrics reads (cacheTotalsFromDb) are kept by the schema's
// triggers (database.ts, migration 7) and always equal count(*) and sum(size) over `objects`: after puts, the
// upsert of an existing key with another size, deletes through the index, eviction's deletes on the same
// connection, a second connection's writes (as a worker or `gomodgate cache` makes them), and the migration of a
// cache written before the triggers existed. Real SQLite files, real blobs; no mocks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openDatabase, type Db } from '../../src/store/database.js';
import { CacheIndex, type CachedObject } from '../../src/store/cache-index.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { evictToLimit } from '../../src/store/eviction.js';
import { cacheTotalsFromDb } from '../../src/admin/metrics.js';

function scanned(db: Db): { objects: number; bytes: number } {
  const row = db.prepare('SELECT count(*) AS objects, coalesce(sum(size), 0) AS bytes FROM objects').get() as { objects: number; bytes: number };
  return { objects: row.objects, bytes: row.bytes };
}

function object(key: string, size: number, sha256: string | null = `${key}-sha`): CachedObject {
  return {
    key, kind: 'zip', module: 'example.com/m', version: 'v1.0.0', status: 200, sha256, h1: null, size,
    contentType: 'application/zip', bodyInline: null, upstreamUrl: null, storedAt: 1, expiresAt: null,
  };
}

test('the kept totals equal a scan of the objects table after every kind of write', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-cache-totals-'));
  const file = join(dir, 'gomodgate.db');
  const db = openDatabase(file);
  const other = openDatabase(file); // a second writer: a worker, or `gomodgate cache prune`
  try {
    const totals = cacheTotalsFromDb(db);
    const index = new CacheIndex(db);
    assert.deepEqual(totals(), { objects: 0, bytes: 0 });

    for (let i = 0; i < 50; i++) index.put(object(`k${i}`, 1000 + i));
    assert.deepEqual(totals(), { objects: 50, bytes: 50 * 1000 + (49 * 50) / 2 });

    index.put(object('k7', 99_999)); // the upsert of an existing key, another size
    assert.deepEqual(totals(), scanned(db));
    index.delete('k8');
    index.delete('no-such-key');
    assert.deepEqual(totals(), scanned(db));

    new CacheIndex(other).put(object('from-the-other-connection', 5));
    other.prepare('DELETE FROM objects WHERE key = ?').run('k9');
    assert.deepEqual(totals(), scanned(db), 'writes on another connection count too');

    // eviction deletes by SQL on the same connection, and removes the blobs it names
    const blobs = new BlobStore(dir);
    const r = evictToLimit(db, blobs, 20_000, () => false);
    assert.ok(r.removedObjects > 0, 'eviction removed rows');
    assert.deepEqual(totals(), scanned(db));
    assert.ok(totals().bytes <= 20_000);
  } finally {
    other.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a cache written before the triggers existed gets its totals at the migration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-cache-totals-migrate-'));
  const file = join(dir, 'gomodgate.db');
  try {
    const db = openDatabase(file);
    const index = new CacheIndex(db);
    for (let i = 0; i < 30; i++) index.put(object(`k${i}`, 10 * i));
    db.close();
    // as an older gomodgate left it: no totals table, no triggers, no kept checksum-database reads, schema 6
    const raw = new Database(file);
    raw.exec('DROP TRIGGER objects_totals_insert; DROP TRIGGER objects_totals_delete; DROP TRIGGER objects_totals_update; DROP TABLE cache_totals; DROP TABLE sumdb_reads;');
    raw.pragma('user_version = 6');
    raw.prepare("INSERT INTO objects (key, kind, status, sha256, size, content_type, stored_at, last_access) VALUES ('late', 'mod', 200, 'x', 7, 'text/plain', 1, 1)").run();
    raw.close();

    const reopened = openDatabase(file);
    try {
      assert.equal(reopened.pragma('user_version', { simple: true }), 8);
      assert.deepEqual(cacheTotalsFromDb(reopened)(), { objects: 31, bytes: 10 * ((29 * 30) / 2) + 7 });
      assert.deepEqual(cacheTotalsFromDb(reopened)(), scanned(reopened));
    } finally {
      reopened.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
