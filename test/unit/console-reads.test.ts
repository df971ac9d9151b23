// Unit: the console's reads on their own thread (src/console/console-reads.ts) against a real SQLite file: each
// read answers what ConsoleQueries answers on the caller's thread, a refused filter comes back as the same
// GateError, the caller's event loop keeps turning while a long read runs (it did not turn at all when the read
// ran on it), and a thread that dies fails the reads it held with a clear error while the next read starts a
// new thread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/database.js';
import { AuditLog, type AuditRecord } from '../../src/audit/audit-log.js';
import { ConsoleQueries } from '../../src/console/console-queries.js';
import { ConsoleReadThread } from '../../src/console/console-reads.js';
import { GateError } from '../../src/errors.js';
import { countTurns } from '../helpers/settle.js';

const NOW = Date.UTC(2026, 10, 30, 12);

function row(i: number): AuditRecord {
  const module = `example.com/m${i % 300}`;
  return {
    ts: NOW - (i % 86_400) * 1000, client: `10.0.${(i >> 8) % 4}.${i % 256}`, origDst: null, host: 'proxy.golang.org', method: 'GET',
    path: `/${module}/@v/v1.0.${i % 7}.zip`, module, version: `v1.0.${i % 7}`, kind: 'zip', outcome: i % 5 === 0 ? 'miss' : 'hit',
    status: 200, bytes: 1000 + (i % 100), durationMs: 1, sha256: null, upstreamUrl: null, reason: null, joined: false,
  };
}

/** Turns of the event loop while `work` runs. */
async function turnsDuring<T>(work: () => Promise<T> | T): Promise<{ value: T; turns: number }> {
  const loop = countTurns();
  try {
    const value = await work();
    return { value, turns: loop.turns };
  } finally {
    loop.stop();
  }
}

test('the thread answers as ConsoleQueries does, refused filters included, and leaves the event loop turning', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-console-reads-'));
  const file = join(dir, 'gomodgate.db');
  const db = openDatabase(file);
  const reads = new ConsoleReadThread({ file });
  try {
    const audit = new AuditLog(db, (err) => assert.fail(String(err)), 60_000, 1_000_000);
    for (let i = 0; i < 50_000; i++) audit.record(row(i));
    audit.flush();
    const here = new ConsoleQueries(db);

    assert.deepEqual(await reads.read('traffic', NOW - 86_400_000, NOW + 3_600_000, 3_600_000), here.traffic(NOW - 86_400_000, NOW + 3_600_000, 3_600_000));
    assert.deepEqual(await reads.read('rows', { modules: ['example.com/m7'] }, 20), here.rows({ modules: ['example.com/m7'] }, 20));
    assert.deepEqual(await reads.read('groups', {}, 10), here.groups({}, 10));
    assert.deepEqual(await reads.read('versions', { modules: ['example.com/m1*'] }, 25, 0), here.versions({ modules: ['example.com/m1*'] }, 25, 0));
    assert.deepEqual(await reads.read('clientsOf', 'example.com/m3', 'v1.0.3', 10), here.clientsOf('example.com/m3', 'v1.0.3', 10));
    assert.deepEqual(await reads.read('versionsOfClient', '10.0.1.3', 10), here.versionsOfClient('10.0.1.3', 10));

    const bad = { clients: ['10.0.0.0/99'] };
    const expected = (() => {
      try {
        here.rows(bad, 10);
      } catch (err) {
        return err as GateError;
      }
      return assert.fail('the filter should be refused');
    })();
    await assert.rejects(reads.read('rows', bad, 10), (err: unknown) => err instanceof GateError && err.code === expected.code && err.message === expected.message);

    // the groups of 50,000 rows: on the caller's thread no turn passes, through the thread several do
    const inline = await turnsDuring(() => here.groups({}, 100));
    assert.equal(inline.turns, 0);
    const threaded = await turnsDuring(() => reads.read('groups', {}, 100));
    assert.deepEqual(threaded.value, inline.value);
    assert.ok(threaded.turns >= 2, `turns while the thread read: ${threaded.turns}`);
  } finally {
    await reads.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a thread that dies fails the reads it held; the next read starts a new thread', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-console-reads-die-'));
  const file = join(dir, 'gomodgate.db');
  const db = openDatabase(file);
  // a thread that exits at its first message, then the real one
  const dying = new ConsoleReadThread({ file, workerUrl: new URL('../helpers/exiting-thread.js', import.meta.url) });
  const reads = new ConsoleReadThread({ file });
  try {
    await assert.rejects(dying.read('securityEvents', 10), (err: unknown) => err instanceof GateError && err.code === 'INTERNAL' && /the console's read thread stopped \(exit code 3\)/.test(err.message));
    await assert.rejects(dying.read('securityEvents', 10), /stopped \(exit code 3\)/, 'a new thread was started for the next read (and died the same way)');
    assert.deepEqual(await reads.read('securityEvents', 10), []);
    await reads.close();
    await assert.rejects(reads.read('securityEvents', 10), /closed/);
  } finally {
    await dying.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
