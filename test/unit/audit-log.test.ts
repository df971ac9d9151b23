// Unit: AuditLog batching against a real SQLite file: rows are written in batches, and whenFlushed() resolves
// only once every row recorded before it is in the table, so tests wait on it instead of on the batch interval;
// a batch the database refuses (another connection holds the write lock) is kept and written later, in order.
// A full batch is written in later turns, in chunks sized by the time the last ones took (an injected clock),
// as one transaction would write it: the same rows, order and fetch counts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/database.js';
import { AuditLog, type AuditRecord } from '../../src/audit/audit-log.js';
import { countTurns, settle } from '../helpers/settle.js';
import Database from 'better-sqlite3';

const row = (path: string): AuditRecord => ({
  ts: 1, client: '10.0.0.1', origDst: null, host: 'proxy.golang.org', method: 'GET', path, module: null, version: null, kind: null,
  outcome: 'hit', status: 200, bytes: 0, durationMs: 0, sha256: null, upstreamUrl: null, reason: null, joined: false,
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

/** A clock that moves 10 ms at each reading: every chunk seems to take 10 ms, so the next ones shrink. */
function slowClock(): () => number {
  let t = 0;
  return () => (t += 10);
}

const served = (i: number, client: string): AuditRecord => ({
  ...row(`/m${i % 7}/@v/v1.0.${i % 5}.zip`), client, module: `example.com/m${i % 7}`, version: `v1.0.${i % 5}`, kind: 'zip',
});

test('a full batch is written in later turns, in chunks sized by what the last ones took, in order, with the same fetch counts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-auditlog-'));
  const db = openDatabase(join(dir, 'a.db'));
  const whole = openDatabase(join(dir, 'b.db'));
  try {
    const chunks: number[][] = [];
    const audit = new AuditLog(db, (err) => assert.fail(String(err)), 60_000, 200, null, { clock: slowClock() });
    audit.subscribe((rows) => chunks.push(rows.map((r) => r.id)));
    const once = new AuditLog(whole, (err) => assert.fail(String(err)), 60_000, 1_000_000);
    const count = () => (db.prepare('SELECT COUNT(*) AS n FROM audit').get() as { n: number }).n;
    const turns = countTurns();
    let flushed: Promise<void>;
    try {
      for (let i = 0; i < 200; i++) {
        audit.record(served(i, `10.0.0.${i % 3}`));
        once.record(served(i, `10.0.0.${i % 3}`));
      }
      assert.equal(count(), 0, 'the 200th row starts the batch, written in later turns, not in this one');
      assert.equal(audit.pending, 200);
      audit.record(served(200, '10.0.0.9')); // recorded while the batch is written: after it
      once.record(served(200, '10.0.0.9'));
      flushed = audit.whenFlushed();
      await settle('the batch written', () => count() === 200);
    } finally {
      turns.stop(); // also when an assertion fails: its immediates would keep the runner alive
    }
    const sizes = chunks.map((c) => c.length);
    assert.ok(sizes.length > 20 && sizes[0]! <= 50, `chunks of ${sizes.join(',')}`);
    assert.ok(sizes.every((n, i) => i === 0 || n <= sizes[i - 1]!), `slow chunks make the next ones smaller: ${sizes.join(',')}`);
    assert.ok(turns.turns >= sizes.length, `${turns.turns} turns for ${sizes.length} chunks`);
    audit.flush();
    await flushed;
    once.flush();
    const paths = (d: typeof db) => d.prepare('SELECT path, client FROM audit ORDER BY id').all();
    assert.deepEqual(paths(db), paths(whole), 'the same rows in the same order as one transaction writes them');
    assert.deepEqual(chunks.flat(), [...chunks.flat()].sort((a, b) => a - b), 'published in order');
    const counts = (d: typeof db) => d.prepare('SELECT module, version, client, fetches, first_ts, last_ts FROM vuln_fetch_clients ORDER BY 1, 2, 3').all();
    assert.deepEqual(counts(db), counts(whole), 'fetch counts as one transaction keeps them');
    assert.equal(audit.pending, 0);
  } finally {
    db.close();
    whole.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('flush() writes a batch being written, and what was queued behind it, at once', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-auditlog-'));
  const db = openDatabase(join(dir, 'a.db'));
  try {
    const audit = new AuditLog(db, (err) => assert.fail(String(err)), 60_000, 50, null, { clock: slowClock() });
    for (let i = 0; i < 60; i++) audit.record(row(`/${i}`));
    assert.equal(audit.pending, 60);
    audit.flush();
    assert.equal(audit.pending, 0);
    assert.deepEqual(db.prepare('SELECT path FROM audit ORDER BY id').pluck().all(), Array.from({ length: 60 }, (_, i) => `/${i}`));
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a chunk the database refuses keeps the rest of its batch, written once and in order when it can be', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-auditlog-'));
  const file = join(dir, 'a.db');
  const db = openDatabase(file);
  const other = new Database(file);
  try {
    const errors: string[] = [];
    const audit = new AuditLog(db, (err) => errors.push((err as Error).message), 60_000, 200, null, { clock: slowClock() });
    const count = () => (db.prepare('SELECT COUNT(*) AS n FROM audit').get() as { n: number }).n;
    for (let i = 0; i < 200; i++) audit.record(row(`/${i}`));
    await settle('the first chunk written', () => count() > 0);
    const written = count();
    assert.ok(written < 200);
    other.exec('BEGIN EXCLUSIVE'); // the next chunk meets the lock
    await settle('the refused chunk reported', () => errors.length === 1);
    assert.match(errors[0]!, new RegExp(`^cannot write ${200 - written} audit rows \\(database is locked\\); ${200 - written} kept`));
    assert.equal(audit.pending, 200 - written);
    other.exec('COMMIT');
    audit.flush();
    assert.deepEqual(db.prepare('SELECT path FROM audit ORDER BY id').pluck().all(), Array.from({ length: 200 }, (_, i) => `/${i}`), 'nothing lost, nothing twice');
  } finally {
    other.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
