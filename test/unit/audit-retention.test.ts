// Unit: the audit trail's retention (src/audit/audit-retention.ts) against a real SQLite file and an injected
// clock: rows older than the retention go (in batches of 200, the first before pruneNow returns), younger ones
// and the per-module@version fetch counts stay, 0 keeps everything, and a run already going is joined rather
// than started twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { openDatabase } from '../../src/store/database.js';
import { AuditLog, type AuditRecord } from '../../src/audit/audit-log.js';
import { AuditRetention } from '../../src/audit/audit-retention.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 30);

const row = (ts: number, version: string): AuditRecord => ({
  ts, client: '10.0.0.1', origDst: null, host: 'proxy.golang.org', method: 'GET', path: `/example.com/m/@v/${version}.zip`, module: 'example.com/m', version, kind: 'zip',
  outcome: 'hit', status: 200, bytes: 1, durationMs: 1, sha256: null, upstreamUrl: null, reason: null, joined: false,
});

test('rows past the retention are deleted in batches, younger rows and the fetch counts stay; 0 keeps all', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-retention-'));
  const db = openDatabase(join(dir, 'gomodgate.db'));
  try {
    const audit = new AuditLog(db, (err) => assert.fail(String(err)), 60_000, 100_000);
    // 12,000 rows 100 days old (60 batches), 300 rows 10 days old
    for (let i = 0; i < 12_000; i++) audit.record(row(NOW - 100 * DAY + i, `v1.0.${i % 50}`));
    for (let i = 0; i < 300; i++) audit.record(row(NOW - 10 * DAY + i, 'v2.0.0'));
    audit.flush();
    const count = () => db.prepare('SELECT count(*) FROM audit').pluck().get() as number;
    const fetched = () => db.prepare('SELECT count(*) FROM vuln_fetched').pluck().get() as number;
    assert.equal(count(), 12_300);
    const versions = fetched();
    assert.equal(versions, 51);

    let retention = 0;
    const r = new AuditRetention(db, { retentionSeconds: () => retention, log: pino({ level: 'silent' }), now: () => NOW });
    assert.equal(await r.pruneNow(), 0, '0 keeps every row');
    assert.equal(count(), 12_300);

    retention = 90 * 86_400;
    const [a, b] = [r.pruneNow(), r.pruneNow()];
    assert.equal(a, b, 'a second call joins the run going');
    // the first batch ran before pruneNow returned, and only it: 5,000 rows a batch held a 5-million-row table's
    // event loop 144-336 ms at a time
    assert.equal(count(), 12_300 - 200, 'one batch of 200 rows per turn');
    assert.equal(await a, 12_000);
    assert.equal(count(), 300);
    assert.equal(db.prepare('SELECT min(ts) FROM audit').pluck().get(), NOW - 10 * DAY);
    assert.equal(fetched(), versions, 'what the rows summed up stays');
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
