// Unit: AuditLog batching against a real SQLite file: rows are written in batches, and whenFlushed() resolves
// only once every row recorded before it is in the table, so tests wait on it instead of on the batch interval;
// a batch the database refuses (another connection holds the write lock) is kept and written later, in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/database.js';
import { AuditLog, type AuditRecord } from '../../src/audit/audit-log.js';
import Database from 'better-sqlite3';

const row = (path: string): AuditRecord => ({
  ts: 1, client: '10.0.0.1', origDst: null, host: 'proxy.golang.org', method: 'GET', path, module: null, version: null, kind: null,
  outcome: 'hit', status: 200, bytes: 0, durationMs: 0, sha256: null, upstreamUrl: null, reason: null,
});

test('whenFlushed resolves after the batch holding every earlier row is written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-auditlog-'));
  const db = openDatabase(join(dir, 'a.db'));
  try {
    const count = () => (db.prepare('SELECT COUNT(*) AS n FROM audit').get() as { n: number }).n;
    const audit = new AuditLog(db, (err) => assert.fail(String(err)), 60_000, 1000); // a batch interval no test waits out
    await audit.whenFlushed(); // nothing queued: resolves at once
    audit.record(row('/a'));
    audit.record(row('/b'));
    assert.equal(count(), 0, 'queued, not yet written');
    const flushed = audit.whenFlushed();
    let done = false;
    void flushed.then(() => (done = true));
    await Promise.resolve();
    assert.equal(done, false, 'not resolved before the rows are written');
    audit.flush();
    await flushed;
    assert.equal(count(), 2);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a full batch is written at once and settles waiters', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-auditlog-'));
  const db = openDatabase(join(dir, 'a.db'));
  try {
    const audit = new AuditLog(db, undefined, 60_000, 3);
    audit.record(row('/1'));
    audit.record(row('/2'));
    const flushed = audit.whenFlushed();
    audit.record(row('/3')); // the third row fills the batch
    await flushed;
    assert.equal((db.prepare('SELECT COUNT(*) AS n FROM audit').get() as { n: number }).n, 3);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a batch the database refuses (another process holds the write lock) is kept and written, in order, once it can be', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-auditlog-'));
  const file = join(dir, 'a.db');
  const db = openDatabase(file);
  const other = new Database(file);
  try {
    const errors: string[] = [];
    const audit = new AuditLog(db, (err) => errors.push((err as Error).message), 60_000, 1000);
    const paths = (): string[] => (db.prepare('SELECT path FROM audit ORDER BY id').pluck().all() as string[]);
    other.exec('BEGIN EXCLUSIVE');
    for (const p of ['/a', '/b', '/c']) audit.record(row(p));
    audit.flush();
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /^cannot write 3 audit rows \(database is locked\); 3 kept, next try in 1 s$/);
    assert.equal(audit.pending, 3);
    audit.record(row('/d')); // recorded while refused: after the kept ones
    audit.flush();
    assert.match(errors[1]!, /^cannot write 4 audit rows .*; 4 kept, next try in 2 s$/, 'tried less often');
    other.exec('COMMIT');
    audit.flush();
    assert.deepEqual(paths(), ['/a', '/b', '/c', '/d'], 'nothing lost, nothing twice, in order');
    assert.equal(audit.pending, 0);
    assert.equal(errors.length, 2);
  } finally {
    other.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
