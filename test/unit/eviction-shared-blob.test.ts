// Unit: eviction over a blob that many index rows share (one go.mod for many versions of a module, one .info
// that is the same bytes for many modules). The pass evicts in least-recently-used order, keeps the shared blob
// while any of its rows is recent, and reads the shared blob's rows a bounded number of times: the rows it reads
// are counted through the statements themselves. Read again at each of the blob's older rows, a pass over 2,000
// rows sharing one blob read 4 million rows and held the gateway's event loop for seconds at every stored
// object. Real SQLite file, real blob store; no mocks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../../src/store/database.js';
import { CacheIndex, type CachedObject } from '../../src/store/cache-index.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { evictToLimit } from '../../src/store/eviction.js';

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
