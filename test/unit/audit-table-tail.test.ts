// Unit: the live tail's source with worker processes. Two AuditLog writers on their own connections to one
// SQLite file (two workers) and an AuditTableTail on a third: every committed row of both reaches the subscriber
// once, in id order; nothing is read while no one is subscribed. Polls are called by hand: no timers waited on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/database.js';
import { AuditLog, type StoredAuditRecord } from '../../src/audit/audit-log.js';
import { auditRow } from '../../src/audit/audit-row.js';
import { AuditTableTail } from '../../src/audit/audit-table-tail.js';
import { AuditQuery } from '../../src/tools/audit-query.js';

test('rows committed by two writers reach the subscriber once each, in id order, from the moment it subscribes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'audit-tail-'));
  const file = join(dir, 'gomodgate.db');
  const dbs = [openDatabase(file), openDatabase(file), openDatabase(file)];
  try {
    const fail = (err: unknown) => assert.fail(String(err));
    const writers = [new AuditLog(dbs[0]!, fail, 60_000, 1000), new AuditLog(dbs[1]!, fail, 60_000, 1000)];
    const row = (w: number, i: number) => auditRow({ client: `10.0.0.${w}`, host: 'proxy.golang.org', module: `example.com/m${i}`, version: 'v1.0.0', kind: 'zip', outcome: 'hit', status: 200 });
    writers[0]!.record(row(0, 0));
    writers[0]!.flush(); // before anyone subscribed: not delivered
    let reads = 0;
    const query = new AuditQuery(dbs[2]!);
    const counted = { after: (...a: Parameters<AuditQuery['after']>) => (reads++, query.after(...a)), lastId: () => query.lastId() };
    const tail = new AuditTableTail(counted, 60_000, fail);
    tail.poll();
    assert.equal(reads, 0, 'nothing new: no rows read');
    const seen: StoredAuditRecord[] = [];
    const unsubscribe = tail.subscribe((rows) => seen.push(...rows));
    for (let i = 1; i <= 3; i++) {
      writers[0]!.record(row(0, i));
      writers[1]!.record(row(1, i));
    }
    writers[1]!.flush();
    writers[0]!.flush();
    tail.poll();
    tail.poll();
    writers[1]!.record(row(1, 4));
    writers[1]!.flush();
    tail.poll();
    assert.deepEqual(seen.map((r) => `${r.client} ${r.module}`), [
      '10.0.0.1 example.com/m1', '10.0.0.1 example.com/m2', '10.0.0.1 example.com/m3',
      '10.0.0.0 example.com/m1', '10.0.0.0 example.com/m2', '10.0.0.0 example.com/m3',
      '10.0.0.1 example.com/m4',
    ]);
    const ids = seen.map((r) => r.id);
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(seen[0]!.outcome, 'hit');
    unsubscribe();
    writers[0]!.record(row(0, 9));
    writers[0]!.flush();
    assert.equal(seen.length, 7, 'no delivery after the last subscriber left');
  } finally {
    for (const db of dbs) db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
