// Unit: the audit writer notes served module@versions once per module@version and client of a batch
// (src/vulndb/vuln-match.ts). Over real SQLite files: the same rows written in one batch and one row per batch
// leave vuln_fetched, vuln_fetch_clients and vuln_matches identical, counts and times included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../../src/store/database.js';
import { AuditLog, type AuditRecord } from '../../src/audit/audit-log.js';
import { auditRow } from '../../src/audit/audit-row.js';
import { parseOsv } from '../../src/vulndb/osv.js';
import { VulnStore } from '../../src/vulndb/vuln-store.js';
import { vulndbFixture } from '../helpers/vulndb-fixtures.js';

function row(client: string | null, module: string, version: string, ts: number, kind = 'zip', outcome: AuditRecord['outcome'] = 'hit'): AuditRecord {
  return auditRow({ ts, client, host: 'proxy.golang.org', method: 'GET', path: `/${module}/@v/${version}.${kind}`, module, version, kind, outcome, status: 200 });
}

// out of time order on purpose (a row's ts is when its request began; rows are recorded as requests end)
const ROWS: AuditRecord[] = [
  row('10.0.0.1', 'rsc.io/quote', 'v1.5.2', 1005),
  row('10.0.0.1', 'rsc.io/quote', 'v1.5.2', 1001, 'mod'),
  row('10.0.0.2', 'rsc.io/quote', 'v1.5.2', 1003),
  row('10.0.0.1', 'rsc.io/quote', 'v1.5.2', 1009, 'info', 'miss'),
  row('10.0.0.1', 'rsc.io/quote', 'v1.5.2', 1002),
  row(null, 'rsc.io/quote', 'v1.5.2', 1004),
  row('10.0.0.1', 'rsc.io/quote', 'v1.5.2', 1000, 'zip', 'denied'), // not served: not a fetch
  row('10.0.0.1', 'rsc.io/quote', 'v1.5.2', 999, 'list'), // not a fetch kind
  row('10.0.0.3', 'golang.org/x/text', 'v0.0.0-20170915032832-14c0d48ead0c', 1100),
  row('10.0.0.3', 'golang.org/x/text', 'v0.0.0-20170915032832-14c0d48ead0c', 1090, 'mod'),
  row('10.0.0.3', 'golang.org/x/text', 'master', 1095, 'info'), // a query, not a version
  row('10.0.0.4', 'rsc.io/sampler', 'v1.3.0', 1200, 'zip', 'stale'),
];

function tables(batchSize: number, rows: readonly AuditRecord[]): Record<string, unknown[]> {
  const dir = mkdtempSync(join(tmpdir(), 'gmg-vulnbatch-'));
  const db: Db = openDatabase(join(dir, 'g.db'));
  try {
    const store = new VulnStore(db);
    for (const id of ['GO-2099-0001', 'GO-2099-0002']) {
      const body = vulndbFixture(`ID/${id}.json`);
      store.putAdvisory(parseOsv(body.toString('utf8'), `ID/${id}.json`, id), body);
    }
    const audit = new AuditLog(db, (err) => assert.fail(String(err)), 60_000, batchSize);
    for (const r of rows) audit.record(r);
    audit.flush();
    return {
      fetched: db.prepare('SELECT * FROM vuln_fetched ORDER BY module, version').all(),
      clients: db.prepare('SELECT * FROM vuln_fetch_clients ORDER BY module, version, client').all(),
      matches: db.prepare('SELECT * FROM vuln_matches ORDER BY advisory, module, version').all(),
      audit: db.prepare('SELECT count(*) AS n FROM audit').all(),
    };
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('one batch of many rows leaves the vulnerability tables as one row per batch does', () => {
  const together = tables(1000, [...ROWS, ...ROWS]);
  const oneByOne = tables(1, [...ROWS, ...ROWS]);
  assert.deepEqual(together, oneByOne);
  // and what they hold, spelled out: counts per client, the span of times, the first row's time per version
  assert.deepEqual(together.clients, [
    { module: 'golang.org/x/text', version: 'v0.0.0-20170915032832-14c0d48ead0c', client: '10.0.0.3', fetches: 4, first_ts: 1090, last_ts: 1100 },
    { module: 'rsc.io/quote', version: 'v1.5.2', client: '', fetches: 2, first_ts: 1004, last_ts: 1004 },
    { module: 'rsc.io/quote', version: 'v1.5.2', client: '10.0.0.1', fetches: 8, first_ts: 1001, last_ts: 1009 },
    { module: 'rsc.io/quote', version: 'v1.5.2', client: '10.0.0.2', fetches: 2, first_ts: 1003, last_ts: 1003 },
    { module: 'rsc.io/sampler', version: 'v1.3.0', client: '10.0.0.4', fetches: 2, first_ts: 1200, last_ts: 1200 },
  ]);
  assert.deepEqual(together.fetched, [
    { module: 'golang.org/x/text', version: 'v0.0.0-20170915032832-14c0d48ead0c', first_ts: 1100 },
    { module: 'rsc.io/quote', version: 'v1.5.2', first_ts: 1005 },
    { module: 'rsc.io/sampler', version: 'v1.3.0', first_ts: 1200 },
  ]);
  assert.deepEqual((together.matches as { advisory: string; module: string }[]).map((m) => `${m.advisory} ${m.module}`), [
    'GO-2099-0001 rsc.io/quote',
    'GO-2099-0002 golang.org/x/text',
  ]);
  assert.deepEqual(together.audit, [{ n: 24 }]);
});
