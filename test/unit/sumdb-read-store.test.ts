// Unit: the verifier's kept checksum-database reads (src/verify/sumdb-read-store.ts) in a real SQLite file:
// rows are per verifier key (a changed key reads none of the old key's), the first answer kept for a path stays
// (answers of a path never change; a second put does not replace it), drop removes one row, and the table is
// bounded: the oldest rows go once it exceeds its bound by the pruning interval.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/database.js';
import { SqliteSumdbReadStore } from '../../src/verify/sumdb-read-store.js';

test('kept reads: per key, first answer stays, drop, and a bound on the rows', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gomodgate-sumdb-reads-'));
  const db = openDatabase(join(dir, 'gomodgate.db'));
  try {
    const store = new SqliteSumdbReadStore(db, 100);
    store.put('k1', '/lookup/a@v1.0.0', Buffer.from('one'));
    store.put('k1', '/lookup/a@v1.0.0', Buffer.from('two'));
    assert.deepEqual(store.get('k1', '/lookup/a@v1.0.0'), Buffer.from('one'));
    assert.equal(store.get('k2', '/lookup/a@v1.0.0'), null, 'another key reads nothing of k1');
    store.drop('k1', '/lookup/a@v1.0.0');
    assert.equal(store.get('k1', '/lookup/a@v1.0.0'), null);

    for (let i = 0; i < 1000; i++) store.put('k1', `/tile/8/0/${String(i).padStart(3, '0')}`, Buffer.alloc(32, i % 256));
    const rows = db.prepare('SELECT count(*) FROM sumdb_reads').pluck().get() as number;
    assert.ok(rows <= 100 + 64, `${rows} rows kept, bound 100 (+ 64 between prunes)`);
    assert.ok(rows >= 100, `${rows} rows kept: the newest 100 at least`);
    assert.deepEqual(store.get('k1', '/tile/8/0/999'), Buffer.alloc(32, 999 % 256), 'the newest stays');
    assert.equal(store.get('k1', '/tile/8/0/000'), null, 'the oldest went');
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
