// Unit: the cache index keeps rows of immutable objects in memory once read, and never answers one that another
// writer may have changed: writes through the index apply at once, the gateway's eviction tells it, another
// connection's commit (another process: a worker, `gomodgate cache prune`) is seen from the next event-loop
// turn on, mutable and negative rows are always read from the table, and no row is older than keepRowsMs.
// "Another process" is a second SQLite connection to the same file; the clock is the test's own; a turn
// boundary is awaited with setImmediate, never a sleep.
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

let dir: string;
let db: Db;
let other: Db;
let clock: number;
const now = () => clock;
/** Resolves in a later event-loop turn (after the index's per-turn check has been reset). */
const nextTurn = () => new Promise<void>((r) => setImmediate(() => setImmediate(r)));

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-kept-'));
  db = openDatabase(join(dir, 'gomodgate.db'));
  other = openDatabase(join(dir, 'gomodgate.db'));
  clock = 1_000_000;
});

afterEach(() => {
  db.close();
  other.close();
  rmSync(dir, { recursive: true, force: true });
});

function row(key: string, over: Partial<CachedObject> = {}): CachedObject {
  return {
    key, kind: 'zip', module: 'example.com/m', version: 'v1.0.0', status: 200, sha256: 'a'.repeat(64), h1: 'h1:abc=', size: 10,
    contentType: 'application/zip', bodyInline: null, upstreamUrl: null, storedAt: 100, expiresAt: null, ...over,
  };
}

/** What another process does: deletes the row in its own connection. */
function deleteElsewhere(key: string): void {
  assert.equal(other.prepare('DELETE FROM objects WHERE key = ?').run(key).changes, 1, `${key} was in the table`);
}

test("a kept row is answered without the table within its turn; another process's delete shows from the next turn", async () => {
  const index = new CacheIndex(db, { keepRowsMs: 60_000, now });
  index.put(row('zip'));
  assert.equal(index.get('zip')?.h1, 'h1:abc=');
  await nextTurn();
  assert.equal(index.get('zip')?.h1, 'h1:abc=', 'kept, and nothing changed');
  deleteElsewhere('zip');
  assert.equal(index.get('zip')?.h1, 'h1:abc=', 'the same turn: answered from memory (no SELECT)');
  await nextTurn();
  assert.equal(index.get('zip'), null, 'the next turn reads data_version, sees the commit and reads the table');
});

test('no kept row is older than keepRowsMs, even when nothing else changed', async () => {
  const index = new CacheIndex(db, { keepRowsMs: 1000, now });
  index.put(row('zip'));
  const first = index.get('zip');
  await nextTurn();
  clock += 999;
  assert.equal(index.get('zip'), first, 'the same object: kept');
  clock += 1;
  const again = index.get('zip');
  assert.notEqual(again, first, 'read from the table again');
  assert.deepEqual({ ...again }, { ...first });
});

test('put and delete through the index apply at once, in the same turn', () => {
  const index = new CacheIndex(db, { keepRowsMs: 60_000, now });
  index.put(row('zip', { h1: null }));
  assert.equal(index.get('zip')?.h1, null);
  index.put(row('zip', { h1: 'h1:verified=' }));
  assert.equal(index.get('zip')?.h1, 'h1:verified=', 'the newer row');
  index.delete('zip');
  assert.equal(index.get('zip'), null);
});

test('rows that can change are never kept: a list with an expiry, a remembered 404', () => {
  const index = new CacheIndex(db, { keepRowsMs: 60_000, now });
  index.put(row('list', { kind: 'list', version: null, expiresAt: clock + 60_000 }));
  index.put(row('gone', { status: 404, sha256: null, bodyInline: Buffer.from('not found\n'), expiresAt: clock + 60_000 }));
  index.put(row('zip'));
  assert.ok(index.get('zip') && index.get('list') && index.get('gone'));
  other.prepare('UPDATE objects SET expires_at = 5 WHERE key = ?').run('list');
  deleteElsewhere('gone');
  assert.equal(index.get('list')?.expiresAt, 5, "another process's update is seen at once, even within the turn");
  assert.equal(index.get('gone'), null, "another process's delete is seen at once, even within the turn");
});

test("the gateway's eviction (the same connection, which data_version does not report) tells the index", async () => {
  const blobs = new BlobStore(dir);
  const index = new CacheIndex(db, { keepRowsMs: 60_000, now, touchBatchMs: 60_000 });
  for (const [key, fill, at] of [['old', 1, 100], ['new', 2, 200]] as const) {
    const content = Buffer.alloc(1000, fill);
    const sha = createHash('sha256').update(content).digest('hex');
    const temp = blobs.newTempPath();
    writeFileSync(temp, content);
    await blobs.commit(temp, sha);
    index.put(row(key, { sha256: sha, size: 1000, storedAt: at }));
    assert.ok(index.get(key), `${key} read, so kept`);
  }
  await nextTurn();
  new CacheLimit(db, index, blobs, () => 1000, pino({ level: 'silent' })).enforce();
  assert.equal(index.get('old'), null, 'evicted: not answered from memory');
  assert.equal(index.get('new')?.storedAt, 200);
  await nextTurn();
  assert.equal(index.get('old'), null);
});

test('at most keepRowsMax rows are kept, the least recently used go first; keepRowsMs 0 keeps none', () => {
  const index = new CacheIndex(db, { keepRowsMs: 60_000, keepRowsMax: 2, now });
  for (const k of ['a', 'b', 'c']) index.put(row(k));
  index.get('a');
  index.get('b');
  index.get('a'); // b is now the least recently used
  index.get('c'); // b goes
  for (const k of ['a', 'b', 'c']) deleteElsewhere(k);
  assert.deepEqual(['a', 'b', 'c'].map((k) => index.get(k) !== null), [true, false, true], 'within the turn: a and c from memory');

  const never = new CacheIndex(db, { keepRowsMs: 0, now });
  never.put(row('d'));
  assert.ok(never.get('d'));
  deleteElsewhere('d');
  assert.equal(never.get('d'), null);
});
