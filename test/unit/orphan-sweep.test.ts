// Unit: sweepOrphanBlobs over a real blob directory and SQLite index: a blob file no row names and last written
// before the cutoff is removed; one a row names, one this process has pinned (a store between its rename and
// its row), and one written at or after the cutoff stay. A closing index stops the sweep between shards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { openDatabase } from '../../src/store/database.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { CacheIndex } from '../../src/store/cache-index.js';
import { sweepOrphanBlobs } from '../../src/store/orphan-sweep.js';

const CUTOFF = Date.UTC(2026, 10, 1);

async function blob(blobs: BlobStore, writtenAt: number): Promise<string> {
  const body = randomBytes(100);
  const sha = createHash('sha256').update(body).digest('hex');
  const temp = blobs.newTempPath();
  writeFileSync(temp, body);
  await blobs.commit(temp, sha);
  utimesSync(blobs.pathOf(sha), new Date(writtenAt), new Date(writtenAt));
  return sha;
}

test('removes old blob files no row names; keeps named, pinned and newer ones', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'orphan-sweep-'));
  const db = openDatabase(join(dir, 'gomodgate.db'));
  try {
    const blobs = new BlobStore(dir);
    const named = await blob(blobs, CUTOFF - 1000);
    new CacheIndex(db).put({ key: 'k', kind: 'mod', module: null, version: null, status: 200, sha256: named, h1: null, size: 100, contentType: 'text/plain', bodyInline: null, upstreamUrl: null, storedAt: 1, expiresAt: null });
    const orphans = [await blob(blobs, CUTOFF - 1000), await blob(blobs, CUTOFF - 1)];
    const pinned = await blob(blobs, CUTOFF - 1000);
    const unpin = blobs.pin(pinned);
    const newer = await blob(blobs, CUTOFF);
    const r = await sweepOrphanBlobs(db, blobs, { olderThan: CUTOFF });
    assert.deepEqual(r, { removed: 2, bytes: 200 });
    for (const sha of orphans) assert.equal(existsSync(blobs.pathOf(sha)), false);
    for (const sha of [named, pinned, newer]) assert.equal(existsSync(blobs.pathOf(sha)), true);
    unpin();
    assert.deepEqual(await sweepOrphanBlobs(db, blobs, { olderThan: CUTOFF }), { removed: 1, bytes: 100 }, 'unpinned, it is an orphan like the others');
    assert.deepEqual(await sweepOrphanBlobs(db, blobs, { olderThan: CUTOFF, open: () => false }), { removed: 0, bytes: 0 });
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
