// Unit: cache hits' last-access times are written in batches, and whatever reads them in the process (the cache
// size limit) writes the waiting ones first, so eviction keeps exact LRU order. A full batch is written in later
// turns, in chunks sized by the time the last ones took (an injected clock). Real SQLite files and blob files in a temp directory; waits are
// explicit flushes or bounded polls, never sleeps.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { openDatabase, type Db } from '../../src/store/database.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { CacheIndex, type CachedObject } from '../../src/store/cache-index.js';
import { CacheLimit } from '../../src/store/cache-limit.js';
import { waitFor } from '../helpers/gateway.js';
import { countTurns, settle } from '../helpers/settle.js';
import Database from 'better-sqlite3';

let dir: string;
let db: Db;
let blobs: BlobStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-touch-'));
  db = openDatabase(join(dir, 'gomodgate.db'));
  blobs = new BlobStore(dir);
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A row (and its blob of `size` bytes of `fill`) stored at `storedAt`. */
async function stored(index: CacheIndex, key: string, fill: number, size: number, storedAt: number): Promise<CachedObject> {
  const content = Buffer.alloc(size, fill);
  const sha = createHash('sha256').update(content).digest('hex');
  const temp = blobs.newTempPath();
  writeFileSync(temp, content);
  await blobs.commit(temp, sha);
  const obj: CachedObject = {
    key, kind: 'zip', module: 'example.com/m', version: 'v1.0.0', status: 200, sha256: sha, h1: null, size,
    contentType: 'application/zip', bodyInline: null, upstreamUrl: null, storedAt, expiresAt: null,
  };
  index.put(obj);
  return obj;
}

function lastAccess(key: string): number | undefined {
  return (db.prepare('SELECT last_access AS t FROM objects WHERE key = ?').get(key) as { t: number } | undefined)?.t;
}

test('a touch waits in memory until flushTouches, which writes the latest time of every key', async () => {
  const index = new CacheIndex(db, { touchBatchMs: 60_000 });
  await stored(index, 'a', 1, 10, 100);
  await stored(index, 'b', 2, 10, 100);
  index.touch('a', 200);
  index.touch('b', 300);
  index.touch('a', 400);
  index.touch('gone', 500); // no such row: nothing to write, no error
  assert.equal(lastAccess('a'), 100, 'not written yet');
  index.flushTouches();
  assert.equal(lastAccess('a'), 400);
  assert.equal(lastAccess('b'), 300);
  index.flushTouches(); // nothing waiting: no-op
  assert.equal(lastAccess('a'), 400);
});

test('a full batch is written within the next turns; a partial one by its timer', async () => {
  const index = new CacheIndex(db, { touchBatchMs: 5, touchBatchSize: 3 });
  for (const k of ['a', 'b', 'c', 'd']) await stored(index, k, k.charCodeAt(0), 10, 100);
  index.touch('a', 200);
  index.touch('b', 200);
  assert.equal(lastAccess('a'), 100);
  index.touch('c', 200); // fills the batch
  await settle('the full batch written', () => ['a', 'b', 'c'].every((k) => lastAccess(k) === 200));
  index.touch('d', 300);
  assert.equal(lastAccess('d'), 100);
  await waitFor('the timer to write the partial batch', () => lastAccess('d') === 300, 5000);
});

test('a row stored again after a hit keeps its newer stored time; a deleted row loses its waiting touch', async () => {
  const index = new CacheIndex(db, { touchBatchMs: 60_000 });
  const a = await stored(index, 'a', 1, 10, 100);
  index.touch('a', 200);
  index.put({ ...a, storedAt: 300 });
  index.touch('b', 250);
  index.delete('b');
  index.flushTouches();
  assert.equal(lastAccess('a'), 300);
});

test('the cache size limit writes waiting touches before it evicts: exact LRU order', async () => {
  const index = new CacheIndex(db, { touchBatchMs: 60_000 });
  await stored(index, 'old-but-hit', 1, 1000, 100);
  await stored(index, 'newer', 2, 1000, 200);
  await stored(index, 'newest', 3, 1000, 300);
  index.touch('old-but-hit', 400); // now the most recently used
  const limit = new CacheLimit(db, index, blobs, () => 2000, pino({ level: 'silent' }));
  limit.enforce();
  const keys = (db.prepare('SELECT key FROM objects ORDER BY key').all() as { key: string }[]).map((r) => r.key);
  assert.deepEqual(keys, ['newest', 'old-but-hit'], 'the least recently used one went, not the one hit last');
});

test('access times written while another process holds the write lock are skipped, not an error; the connection keeps its own wait', () => {
  const index = new CacheIndex(db, { touchBatchMs: 60_000 });
  index.put({ key: 'k', kind: 'mod', module: 'm', version: 'v1.0.0', status: 200, sha256: null, h1: null, size: 1, contentType: 'text/plain', bodyInline: Buffer.from('x'), upstreamUrl: null, storedAt: 1, expiresAt: null });
  const other = new Database(join(dir, 'gomodgate.db'));
  try {
    other.exec('BEGIN EXCLUSIVE');
    index.touch('k', 5000);
    assert.doesNotThrow(() => index.flushTouches());
    assert.equal(index.get('k')?.key, 'k', 'hits go on');
    other.exec('COMMIT');
  } finally {
    other.close();
  }
  // the short wait was for that write only: the connection's own (for stores) is back
  assert.equal(db.pragma('busy_timeout', { simple: true }), 5000);
  index.touch('k', 6000);
  index.flushTouches();
  assert.equal(db.prepare("SELECT last_access FROM objects WHERE key = 'k'").pluck().get(), 6000);
});

/** A clock that moves 10 ms at each reading: every chunk seems to take 10 ms, so the next ones shrink. */
function slowClock(): () => number {
  let t = 0;
  return () => (t += 10);
}

test('a full batch is written in later turns, in chunks sized by what the last ones took; put, delete and flushTouches meet it as they meet waiting touches', async () => {
  const index = new CacheIndex(db, { touchBatchMs: 60_000, touchBatchSize: 120, chunkClock: slowClock() });
  const keys = Array.from({ length: 121 }, (_, i) => `k${i}`);
  for (const [i, k] of keys.entries()) await stored(index, k, i % 250, 10, 100);
  const written = () => keys.filter((k) => ![100, undefined].includes(lastAccess(k))).length;
  const turns = countTurns();
  try {
    for (const k of keys.slice(0, 120)) index.touch(k, 200);
    assert.equal(written(), 0, 'the 120th key starts the batch, written in later turns, not in this one');
    index.delete('k118');
    index.touch('k120', 300); // waits for the batch being written
    index.put({ ...(await stored(index, 'k119', 119, 10, 100)), storedAt: 500 }); // stored again while its touch is in the batch
    await settle('the batch written', () => written() === 118 + 1); // k0-k117, and k119 by its put
  } finally {
    turns.stop(); // also when an assertion fails: its immediates would keep the runner alive
  }
  assert.ok(turns.turns >= 8, `${turns.turns} turns: chunks of 50, 23, 10, 4 and then 1`);
  assert.equal(lastAccess('k119'), 500, 'the put wins over the touch it replaced');
  assert.equal(lastAccess('k118'), undefined);
  assert.equal(lastAccess('k120'), 100, 'not a full batch: waits for its timer or a flush');
  index.flushTouches();
  assert.equal(lastAccess('k120'), 300);
  // flushTouches while a batch waits for its turns writes all of it at once
  for (const k of keys) if (k !== 'k118') index.touch(k, 600); // the 120th starts a batch
  index.touch('x', 600);
  assert.equal(keys.filter((k) => lastAccess(k) === 600).length, 0);
  index.flushTouches();
  assert.deepEqual(keys.filter((k) => k !== 'k118' && lastAccess(k) !== 600), []);
});

test('flushTouches writes a batch being written and a full batch that waited behind it, both before it returns', async () => {
  const index = new CacheIndex(db, { touchBatchMs: 60_000, touchBatchSize: 3 });
  const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
  for (const [i, k] of keys.entries()) await stored(index, k, i, 10, 100);
  for (const k of keys.slice(0, 3)) index.touch(k, 200); // the third starts a batch, written in later turns
  for (const k of keys.slice(3)) index.touch(k, 300); // a full batch waiting behind the one being written
  index.flushTouches();
  assert.deepEqual(keys.map(lastAccess), [200, 200, 200, 300, 300, 300]);
});
