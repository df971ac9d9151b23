// Unit: what one eviction pass costs, counted in the rows it reads through its statements (never in time):
// - a blob that many index rows share (one go.mod for many versions of a module, one .info that is the same
//   bytes for many modules) is read twice per pass, not once per row: read again at each of its older rows, a
//   pass over 2,000 rows sharing one blob read 4 million rows;
// - the running gateway's passes go on where the last one stopped: scanning again, at every stored object, the
//   rows that earlier passes passed by cost 0.6-1.4 s a pass on a 400,000-object cache;
// - a pass runs a bounded time, one transaction per page, and CacheLimit removes the rest in later passes.
// LRU order and the shared blob's fate are asserted alongside. Real SQLite file, real blob store; no mocks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../../src/store/database.js';
import { CacheIndex, type CachedObject } from '../../src/store/cache-index.js';
import { BlobStore } from '../../src/store/blob-store.js';
import pino from 'pino';
import { evictToLimit, evictionPass, indexedBlobBytes, type EvictionCursor } from '../../src/store/eviction.js';
import { CacheLimit } from '../../src/store/cache-limit.js';
import { waitFor } from '../helpers/gateway.js';

function object(key: string, sha256: string, size: number, at: number): CachedObject {
  return {
    key, kind: 'mod', module: 'example.com/m', version: 'v1.0.0', status: 200, sha256, h1: null, size,
    contentType: 'text/plain; charset=utf-8', bodyInline: null, upstreamUrl: null, storedAt: at, expiresAt: null,
  };
}

/** `db` whose statements count every row their all() returns. */
function countingRows(db: Db): { db: Db; rowsRead: () => number } {
  let rows = 0;
  const statement = <S extends object>(s: S): S =>
    new Proxy(s, {
      get(target, prop) {
        const value = Reflect.get(target, prop) as unknown;
        if (prop === 'all') {
          return (...args: unknown[]) => {
            const out = (value as (...a: unknown[]) => unknown[]).apply(target, args);
            rows += out.length;
            return out;
          };
        }
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  const counted = new Proxy(db, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (prop === 'prepare') return (sql: string) => statement(target.prepare(sql));
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { db: counted, rowsRead: () => rows };
}

test('a blob shared by 2,000 rows is read twice per pass, not once per row, and stays while one row is recent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-evict-shared-'));
  const db = openDatabase(join(dir, 'gomodgate.db'));
  try {
    const index = new CacheIndex(db);
    const SHARED = 2000;
    const DISTINCT = 100;
    // the shared go.mod's rows are the oldest but one, which is the most recent row of all
    for (let i = 0; i < SHARED - 1; i++) index.put(object(`mod:example.com/m@v1.0.${i}.mod`, 'shared', 100, 1000 + i));
    for (let i = 0; i < DISTINCT; i++) index.put(object(`mod:example.com/d${i}@v1.0.0.zip`, `distinct-${i}`, 10_000, 10_000 + i));
    index.put(object('mod:example.com/m@v1.0.9999.mod', 'shared', 100, 50_000));

    const counting = countingRows(db);
    // 100 + 100 × 10,000 bytes indexed: half of the distinct blobs must go
    const r = evictToLimit(counting.db, new BlobStore(dir), 100 + (DISTINCT / 2) * 10_000, () => false);

    assert.equal(r.removedObjects, DISTINCT / 2);
    assert.equal(r.removedBytes, (DISTINCT / 2) * 10_000);
    const left = db.prepare('SELECT sha256, count(*) AS n FROM objects GROUP BY sha256 ORDER BY sha256').all() as { sha256: string; n: number }[];
    assert.equal(left.find((x) => x.sha256 === 'shared')?.n, SHARED, 'every row of the shared blob stays');
    const distinctLeft = left.filter((x) => x.sha256.startsWith('distinct-')).map((x) => Number(x.sha256.slice(9))).sort((a, b) => a - b);
    assert.deepEqual(distinctLeft, Array.from({ length: DISTINCT / 2 }, (_, i) => DISTINCT / 2 + i), 'the least recently used half went');
    // the scan's pages (the shared rows and the evicted half) plus the shared blob's rows twice and each evicted
    // blob's one row: linear in the rows, where reading the shared rows at each of them is SHARED² (4 million)
    const bound = SHARED + DISTINCT + 2 * SHARED + DISTINCT;
    assert.ok(counting.rowsRead() <= bound, `rows read: ${counting.rowsRead()} (bound ${bound})`);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('passes go on where the last one stopped: the rows passed by are not read again at every stored object', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-evict-resume-'));
  const db = openDatabase(join(dir, 'gomodgate.db'));
  try {
    const index = new CacheIndex(db);
    const SHARED = 2000;
    const PASSES = 50;
    // the oldest rows share one blob whose latest row is recent: every pass from the oldest row passes them all
    for (let i = 0; i < SHARED - 1; i++) index.put(object(`mod:example.com/m@v1.0.${i}.mod`, 'shared', 100, 1000 + i));
    for (let i = 0; i < 200; i++) index.put(object(`mod:example.com/d${i}@v1.0.0.zip`, `distinct-${i}`, 1000, 10_000 + i));
    index.put(object('mod:example.com/m@v1.0.9999.mod', 'shared', 100, 50_000));
    const blobs = new BlobStore(dir);
    const counting = countingRows(db);
    let from: EvictionCursor | null = null;
    const evictedOrder: number[] = [];
    for (let p = 0; p < PASSES; p++) {
      // as after a store: one new object, and the limit one object below the total
      index.put(object(`mod:example.com/new${p}@v1.0.0.zip`, `new-${p}`, 1000, 60_000 + p));
      const r = evictionPass(counting.db, blobs, indexedBlobBytes(db) - 1000, (sha) => sha === `new-${p}`, {
        from,
        onRemove: (o) => evictedOrder.push(Number(o.sha256!.slice(9))),
      });
      assert.equal(r.removedBytes, 1000, `pass ${p} evicted one object`);
      from = r.resumeAt;
    }
    assert.deepEqual(evictedOrder, Array.from({ length: PASSES }, (_, i) => i), 'least recently used first');
    // the first pass reads the shared rows (page and refs, about 2 × SHARED); each later one a page at most. From
    // the oldest row each time, every pass read about 2 × SHARED: 200,000 rows.
    const bound = 2 * SHARED + 300 + PASSES * 260;
    assert.ok(counting.rowsRead() <= bound, `rows read over ${PASSES} passes: ${counting.rowsRead()} (bound ${bound})`);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a pass runs its budget; CacheLimit removes the rest in later passes; a pass goes round', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-evict-bounded-'));
  const db = openDatabase(join(dir, 'gomodgate.db'));
  try {
    const index = new CacheIndex(db);
    for (let i = 0; i < 1000; i++) index.put(object(`mod:example.com/d${i}@v1.0.0.zip`, `distinct-${i}`, 100, 1000 + i));
    const blobs = new BlobStore(dir);

    // a budget of 0: the pass gets past one row, then stops
    const bounded = evictionPass(db, blobs, 50_000, () => false, { budgetMs: 0 });
    assert.deepEqual([bounded.removedObjects, bounded.more], [1, true]);
    // from near the end (rows 1997-1999 after it), still over the limit after those three: the scan goes round
    // to the oldest row and carries on there
    const round = evictionPass(db, blobs, 99_000, () => false, { from: [1996, 997] });
    assert.deepEqual([round.removedObjects, round.more], [9, false]);
    const left = (db.prepare('SELECT min(last_access) AS oldest, max(last_access) AS newest FROM objects').get() as { oldest: number; newest: number });
    assert.deepEqual(left, { oldest: 1007, newest: 1996 }, 'the three after the cursor, then the six oldest');

    // a budget of 0: each pass gets past one row, then leaves the rest to the next
    const limit = new CacheLimit(db, index, blobs, () => 20_000, pino({ level: 'silent' }), 0);
    limit.enforce();
    const afterOneTurn = (db.prepare('SELECT count(*) AS n FROM objects').get() as { n: number }).n;
    assert.equal(afterOneTurn, 990 - 1, 'one pass: one blob');
    await waitFor('the later passes', () => indexedBlobBytes(db) <= 20_000);
    const kept = db.prepare('SELECT count(*) AS n, min(last_access) AS oldest FROM objects').get() as { n: number; oldest: number };
    assert.deepEqual(kept, { n: 200, oldest: 1797 }, 'the 200 most recently used stay');
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
