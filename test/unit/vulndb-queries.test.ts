// Unit: the vulndb query API (src/vulndb/vuln-queries.ts) over a real SQLite file: fetches recorded through the
// one audit writer before and after an advisory is stored are both matched; withdrawn advisories, aliases,
// filters and ordering; and the plans reach the audit trail only through its (module, version, ts) index.
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
import { advisoriesFor, affectedFetches, getAdvisory, listAdvisories } from '../../src/vulndb/vuln-queries.js';
import { vulndbFixture } from '../helpers/vulndb-fixtures.js';

function fetchRow(client: string, module: string, version: string, ts: number, kind = 'zip', outcome: AuditRecord['outcome'] = 'miss'): AuditRecord {
  return auditRow({ ts, client, host: 'proxy.golang.org', method: 'GET', path: `/${module}/@v/${version}.${kind}`, module, version, kind, outcome, status: 200 });
}

function putFixture(store: VulnStore, id: string): void {
  const body = vulndbFixture(`ID/${id}.json`);
  store.putAdvisory(parseOsv(body.toString('utf8'), `ID/${id}.json`, id), body);
}

function withDb(fn: (db: Db, audit: AuditLog, store: VulnStore) => void | Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gmg-vulnq-'));
    const db = openDatabase(join(dir, 'g.db'));
    try {
      await fn(db, new AuditLog(db, (err) => assert.fail(String(err)), 60_000, 1000), new VulnStore(db));
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('fetches before and after an advisory is stored are matched; withdrawn ones are not listed', withDb((db, audit, store) => {
  audit.record(fetchRow('10.0.0.1', 'rsc.io/quote', 'v1.5.2', 1000, 'info'));
  audit.record(fetchRow('10.0.0.1', 'rsc.io/quote', 'v1.5.2', 1001, 'mod'));
  audit.record(fetchRow('10.0.0.1', 'rsc.io/quote', 'v1.5.2', 1002, 'zip'));
  audit.record(fetchRow('10.0.0.2', 'rsc.io/quote', 'v1.4.0', 1100)); // before the range
  audit.record(fetchRow('10.0.0.3', 'rsc.io/quote', 'v1.5.2', 1200, 'zip', 'denied')); // not served: no fetch
  audit.record(fetchRow('10.0.0.4', 'rsc.io/sampler', 'v1.3.0', 1300)); // only a withdrawn advisory
  audit.flush();
  for (const id of ['GO-2099-0001', 'GO-2099-0002', 'GO-2099-0003']) putFixture(store, id);
  // a fetch after the advisory is in: matched by the audit writer itself
  audit.record(fetchRow('10.0.0.5', 'golang.org/x/text', 'v0.0.0-20170915032832-14c0d48ead0c', 2000));
  audit.record(fetchRow('10.0.0.6', 'rsc.io/quote', 'v1.5.2', 2100, 'zip', 'hit'));
  audit.record(fetchRow('10.0.0.7', 'golang.org/x/text', 'v0.3.0', 2200)); // a release, not in the pseudo range
  audit.flush();

  const list = listAdvisories(db, { limit: 10, offset: 0 });
  assert.deepEqual(list.map((a) => [a.id, a.affectedVersions, a.affectedClients, a.lastFetch]), [
    ['GO-2099-0001', 1, 2, 2100],
    ['GO-2099-0002', 1, 1, 2000],
  ]);
  assert.deepEqual(list[0]!.aliases, ['CVE-2099-1001', 'GHSA-test-quot-0001']);
  assert.deepEqual(list[0]!.modules, ['rsc.io/quote']);
  assert.equal(list[0]!.published, Date.parse('2099-01-05T00:00:00Z'));
  const all = listAdvisories(db, { includeWithdrawn: true, limit: 10, offset: 0 });
  assert.deepEqual(all.map((a) => [a.id, a.affectedVersions, a.withdrawn !== null]), [
    ['GO-2099-0001', 1, false], ['GO-2099-0002', 1, false], ['GO-2099-0003', 1, true],
  ]);
  assert.deepEqual(listAdvisories(db, { includeWithdrawn: true, limit: 1, offset: 1 }).map((a) => a.id), ['GO-2099-0002']);
  assert.deepEqual(listAdvisories(db, { search: 'x/TEXT', limit: 10, offset: 0 }).map((a) => a.id), ['GO-2099-0002']);
  assert.deepEqual(listAdvisories(db, { search: 'cve-2099-1001', limit: 10, offset: 0 }).map((a) => a.id), ['GO-2099-0001']);
  assert.deepEqual(listAdvisories(db, { search: '100%', limit: 10, offset: 0 }), []);

  const fetches = affectedFetches(db, { limit: 10 });
  assert.deepEqual(fetches, [
    { advisory: 'GO-2099-0001', aliases: ['CVE-2099-1001', 'GHSA-test-quot-0001'], module: 'rsc.io/quote', version: 'v1.5.2', clients: ['10.0.0.1', '10.0.0.6'], fetches: 4, firstFetch: 1000, lastFetch: 2100, fixed: 'v1.5.3-pre1' },
    { advisory: 'GO-2099-0002', aliases: ['CVE-2099-1002'], module: 'golang.org/x/text', version: 'v0.0.0-20170915032832-14c0d48ead0c', clients: ['10.0.0.5'], fetches: 1, firstFetch: 2000, lastFetch: 2000, fixed: 'v0.0.0-20180101000000-000000000000' },
  ]);
  // by alias, by client, by time, by module (and below)
  assert.deepEqual(affectedFetches(db, { advisory: 'CVE-2099-1001', limit: 10 }).map((f) => f.clients), [['10.0.0.1', '10.0.0.6']]);
  assert.deepEqual(affectedFetches(db, { advisory: 'GO-2099-0003', limit: 10 }).map((f) => [f.module, f.clients]), [['rsc.io/sampler', ['10.0.0.4']]]);
  assert.deepEqual(affectedFetches(db, { client: '10.0.0.1', limit: 10 }).map((f) => [f.advisory, f.fetches]), [['GO-2099-0001', 3]]);
  assert.deepEqual(affectedFetches(db, { since: 1001, until: 2000, limit: 10 }).map((f) => [f.advisory, f.fetches, f.firstFetch, f.lastFetch]), [['GO-2099-0001', 2, 1001, 1002]]);
  assert.deepEqual(affectedFetches(db, { module: 'golang.org/x', limit: 10 }).map((f) => f.advisory), ['GO-2099-0002']);
  assert.deepEqual(affectedFetches(db, { module: 'golang.org/x/te', limit: 10 }), []);
  assert.equal(affectedFetches(db, { limit: 1 }).length, 1);
}));

test('advisoriesFor answers for versions never fetched, and marks withdrawn ones', withDb((db, _audit, store) => {
  for (const id of ['GO-2099-0001', 'GO-2099-0003']) putFixture(store, id);
  assert.deepEqual(advisoriesFor(db, 'rsc.io/quote', 'v1.5.0'), [
    { id: 'GO-2099-0001', aliases: ['CVE-2099-1001', 'GHSA-test-quot-0001'], summary: 'Quotes leak sampler state in rsc.io/quote', fixed: 'v1.5.3-pre1', withdrawn: null },
  ]);
  assert.deepEqual(advisoriesFor(db, 'rsc.io/quote', 'v1.5.3-pre1'), []);
  assert.deepEqual(advisoriesFor(db, 'rsc.io/quote', 'v1.4.0'), []);
  assert.deepEqual(advisoriesFor(db, 'rsc.io/quote', 'master'), []);
  const sampler = advisoriesFor(db, 'rsc.io/sampler', 'v1.3.0');
  assert.deepEqual(sampler.map((a) => [a.id, a.withdrawn]), [['GO-2099-0003', Date.parse('2099-01-12T00:00:00Z')]]);
}));

test('getAdvisory returns the OSV file verbatim, by ID or alias', withDb((db, _audit, store) => {
  putFixture(store, 'GO-2099-0001');
  const a = getAdvisory(db, 'GO-2099-0001');
  assert.ok(a);
  assert.equal(a.osv, vulndbFixture('ID/GO-2099-0001.json').toString('utf8'));
  assert.equal(a.modified, Date.parse('2099-01-10T00:00:00Z'));
  assert.match(a.details, /v1\.5\.0 up to/);
  assert.equal(getAdvisory(db, 'GHSA-test-quot-0001')?.id, 'GO-2099-0001');
  assert.equal(getAdvisory(db, 'GO-1999-0000'), null);
}));

test('a changed advisory re-matches past fetches in its one transaction', withDb((db, audit, store) => {
  audit.record(fetchRow('10.0.0.1', 'rsc.io/quote', 'v1.4.0', 1000));
  audit.flush();
  putFixture(store, 'GO-2099-0001');
  assert.deepEqual(affectedFetches(db, { limit: 10 }), []);
  const widened = JSON.parse(vulndbFixture('ID/GO-2099-0001.json').toString('utf8'));
  widened.modified = '2099-02-01T00:00:00Z';
  widened.affected[0].ranges[0].events[0].introduced = '1.0.0';
  const text = JSON.stringify(widened);
  store.putAdvisory(parseOsv(text, 'x', 'GO-2099-0001'), Buffer.from(text));
  assert.deepEqual(affectedFetches(db, { limit: 10 }).map((f) => f.version), ['v1.4.0']);
  assert.equal(db.prepare('SELECT count(*) FROM vuln_ranges').pluck().get(), 1, 'the old ranges were replaced');
}));

test('the plans reach the audit trail through audit_by_module_version_ts, never a scan', withDb((db) => {
  const plan = (sql: string, ...params: unknown[]): string =>
    (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((r) => r.detail).join('\n');
  const spy = db.prepare.bind(db);
  const seen: string[] = [];
  (db as unknown as { prepare: typeof db.prepare }).prepare = ((sql: string) => {
    seen.push(sql);
    return spy(sql);
  }) as typeof db.prepare;
  listAdvisories(db, { search: 'x', limit: 10, offset: 0 });
  affectedFetches(db, { advisory: 'GO-2099-0001', since: 1, limit: 10 });
  affectedFetches(db, { limit: 10 });
  (db as unknown as { prepare: typeof db.prepare }).prepare = spy;
  const named = (sql: string): Record<string, unknown> => {
    const p: Record<string, unknown> = {};
    for (const m of sql.matchAll(/@(\w+)/g)) p[m[1]!] = m[1] === 'limit' || m[1] === 'offset' || m[1] === 'since' ? 1 : 'x';
    return p;
  };
  for (const sql of seen.filter((s) => s.includes("JOIN audit a"))) {
    const detail = plan(sql, named(sql));
    assert.match(detail, /SEARCH a USING (COVERING )?INDEX audit_by_module_version_ts/, detail);
    assert.doesNotMatch(detail, /SCAN a\b/, detail);
  }
  assert.equal(seen.filter((s) => s.includes("JOIN audit a")).length, 3);
}));
