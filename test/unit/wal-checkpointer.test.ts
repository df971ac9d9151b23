// WalCheckpointer: the gateway's connection no longer checkpoints the WAL itself (no page copying or fsync on
// the event loop); a thread does, on a schedule and when asked, without moving the connection's data_version;
// a thread that dies gives checkpoints back to the connection. A real SQLite file in WAL mode throughout.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../../src/store/database.js';
import { WalCheckpointer } from '../../src/store/wal-checkpointer.js';
import { waitFor } from '../helpers/gateway.js';

const EXITING_THREAD = new URL('../helpers/exiting-thread.js', import.meta.url);
const FAILING_THREAD = new URL('../helpers/failing-checkpoint-thread.js', import.meta.url);

let dir: string;
let file: string;
let db: Db;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-walcp-'));
  file = join(dir, 'gomodgate.db');
  db = openDatabase(file);
});

afterEach(() => {
  if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

const autocheckpoint = () => db.pragma('wal_autocheckpoint', { simple: true }) as number;
const dataVersion = () => db.pragma('data_version', { simple: true }) as number;
const size = (f: string) => statSync(f).size;

/** Commits `batches` transactions of 200 audit rows of about 1.2 KB each (about 0.3 MB a batch with indexes). */
function writeAudit(batches: number): void {
  const insert = db.prepare("INSERT INTO audit (ts, client, host, path, module, version, kind, outcome, status, bytes, reason) VALUES (?, '10.0.0.2', 'proxy.golang.org', ?, 'rsc.io/quote', 'v1.5.2', 'zip', 'hit', 200, 1780, ?)");
  const batch = db.transaction((first: number) => {
    for (let i = first; i < first + 200; i++) insert.run(1_700_000_000_000 + i, `/rsc.io/quote/@v/v1.5.${i}.zip`, 'x'.repeat(1000));
  });
  for (let b = 0; b < batches; b++) batch(b * 200);
}

test('the connection stops checkpointing; the thread checkpoints every frame when asked, and data_version stays', async () => {
  const checkpoints = new WalCheckpointer(db, { file, intervalMs: 3_600_000 });
  try {
    assert.equal(autocheckpoint(), 0);
    writeAudit(40);
    // SQLite's default would have checkpointed at 1,000 pages (4 MiB) and started the WAL over
    assert.ok(size(`${file}-wal`) > 8 << 20, `WAL ${size(`${file}-wal`)} bytes: the connection checkpointed on its own`);
    const dbBefore = size(file);
    const version = dataVersion();
    const r = await checkpoints.checkpointNow();
    assert.equal(r.busy, 0);
    assert.ok(r.log > 2000, JSON.stringify(r));
    assert.equal(r.checkpointed, r.log);
    assert.ok(size(file) > dbBefore + (4 << 20), `the pages reached the database file (${dbBefore} → ${size(file)})`);
    assert.equal(dataVersion(), version, 'a checkpoint is not another connection\'s commit');
    // the next commit starts the WAL over from its beginning
    writeAudit(1);
    const next = await checkpoints.checkpointNow();
    assert.ok(next.log > 0 && next.log < 400, JSON.stringify(next));
    assert.equal((db.prepare('SELECT count(*) AS n FROM audit').get() as { n: number }).n, 41 * 200);
  } finally {
    await checkpoints.close();
  }
  assert.equal(autocheckpoint(), 1000, 'closed: the connection checkpoints for itself again');
});

test('on its own schedule the thread copies committed pages into the database file', async () => {
  const checkpoints = new WalCheckpointer(db, { file, intervalMs: 20 });
  try {
    const dbBefore = size(file);
    writeAudit(10);
    await waitFor('a scheduled checkpoint', () => size(file) > dbBefore + (1 << 20), 10_000);
  } finally {
    await checkpoints.close();
  }
});

test('a thread that dies gives checkpoints back to the connection, and says so once', async () => {
  const errors: Error[] = [];
  const checkpoints = new WalCheckpointer(db, { file, intervalMs: 3_600_000, workerUrl: EXITING_THREAD, onError: (e) => errors.push(e) });
  assert.equal(autocheckpoint(), 0);
  await assert.rejects(checkpoints.checkpointNow(), /exited \(code 3\)/);
  assert.equal(autocheckpoint(), 1000);
  assert.equal(errors.length, 1);
  await assert.rejects(checkpoints.checkpointNow(), /not running/);
  await checkpoints.close();
  assert.equal(errors.length, 1, 'closing a dead thread is not a second failure');
});

test('a scheduled checkpoint that fails gives the thread up: the connection checkpoints again, said once', async () => {
  const errors: Error[] = [];
  const checkpoints = new WalCheckpointer(db, { file, workerUrl: FAILING_THREAD, onError: (e) => errors.push(e) });
  await waitFor('the failure reported', () => errors.length > 0, 10_000);
  assert.match(errors[0]!.message, /scheduled WAL checkpoint failed: database or disk is full/);
  assert.equal(autocheckpoint(), 1000);
  await assert.rejects(checkpoints.checkpointNow(), /not running/);
  await checkpoints.close(); // the thread was ended: close returns
  assert.equal(errors.length, 1);
});
