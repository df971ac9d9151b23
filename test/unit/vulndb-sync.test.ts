// Unit: syncing the vulnerability database through the Upstream seam (an in-memory upstream that counts its
// requests, no ports) into a real SQLite file: the first sync takes everything, an unchanged db.json stops
// after one request, a changed one fetches only the advisories whose modified changed, and a bad or lying
// file changes no advisory and says which file is wrong; a sync of many advisories writes them 32 to a turn of
// the event loop. Also the offline directory source, and the syncer's single flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { openDatabase, type Db } from '../../src/store/database.js';
import { VulnStore } from '../../src/vulndb/vuln-store.js';
import { syncVulnDb } from '../../src/vulndb/vuln-sync.js';
import { directoryVulnSource, upstreamVulnSource } from '../../src/vulndb/vuln-source.js';
import type { Upstream, UpstreamResponse, UpstreamTarget } from '../../src/upstream/upstream.js';
import { getAdvisory } from '../../src/vulndb/vuln-queries.js';
import { VulnSyncer } from '../../src/vulndb/vuln-syncer.js';
import { VULNDB_FIXTURES, vulndbFixture } from '../helpers/vulndb-fixtures.js';
import { countTurns } from '../helpers/settle.js';

/** An upstream serving a mutable map of files; counts requests by path. */
class FakeVulnUpstream implements Upstream {
  readonly files = new Map<string, Buffer>();
  readonly hits: string[] = [];
  constructor() {
    for (const p of ['index/db.json', 'index/vulns.json', 'index/modules.json', 'ID/GO-2099-0001.json', 'ID/GO-2099-0002.json', 'ID/GO-2099-0003.json']) {
      this.files.set(`/${p}`, vulndbFixture(p));
    }
  }
  async request(target: UpstreamTarget, path: string): Promise<UpstreamResponse> {
    assert.equal(target.base.hostname, 'vuln.go.dev');
    this.hits.push(path);
    const body = this.files.get(path);
    return { status: body ? 200 : 404, headers: {}, body: Readable.from(body ? [body] : []), url: `https://vuln.go.dev${path}` };
  }
  /** Changes one advisory's modified time (in its file and, unless `lie`, in vulns.json) and db.json's. */
  touch(id: string, modified: string, lie = false): void {
    const adv = JSON.parse(this.files.get(`/ID/${id}.json`)!.toString());
    adv.modified = modified;
    adv.summary = `updated ${modified}`;
    this.files.set(`/ID/${id}.json`, Buffer.from(JSON.stringify(adv)));
    if (!lie) {
      const vulns = JSON.parse(this.files.get('/index/vulns.json')!.toString()) as { id: string; modified: string }[];
      for (const v of vulns) if (v.id === id) v.modified = modified;
      this.files.set('/index/vulns.json', Buffer.from(JSON.stringify(vulns)));
    }
    this.files.set('/index/db.json', Buffer.from(JSON.stringify({ modified })));
  }
}

function withStore(fn: (db: Db, store: VulnStore) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gmg-vulnsync-'));
    const db = openDatabase(join(dir, 'g.db'));
    try {
      await fn(db, new VulnStore(db));
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const BASE = new URL('https://vuln.go.dev');
/** Each file's deadline: the in-memory upstream answers at once. */
const DEADLINE_MS = 60_000;
const summaries = (db: Db) => db.prepare('SELECT id, summary FROM vuln_advisories ORDER BY id').all();

test('first sync takes everything; unchanged db.json stops there; a change fetches only that advisory', withStore(async (db, store) => {
  const up = new FakeVulnUpstream();
  const source = upstreamVulnSource(up, BASE, DEADLINE_MS);
  let clock = 1000;
  const r1 = await syncVulnDb(store, source, () => clock);
  assert.deepEqual({ ...r1 }, { source: 'https://vuln.go.dev', changed: true, updated: 3, total: 3, dbModified: Date.UTC(2099, 0, 12) });
  assert.deepEqual(up.hits.slice(0, 3), ['/index/db.json', '/index/vulns.json', '/index/modules.json']);
  assert.deepEqual(up.hits.slice(3).sort(), ['/ID/GO-2099-0001.json', '/ID/GO-2099-0002.json', '/ID/GO-2099-0003.json']);
  assert.deepEqual(store.file('index/modules.json')?.body, vulndbFixture('index/modules.json'));
  assert.equal(store.state('https://vuln.go.dev')?.lastSuccess, 1000);

  up.hits.length = 0;
  clock = 2000;
  const r2 = await syncVulnDb(store, source, () => clock);
  assert.equal(r2.changed, false);
  assert.deepEqual(up.hits, ['/index/db.json']);
  assert.equal(store.state('https://vuln.go.dev')?.lastSuccess, 2000);

  up.hits.length = 0;
  up.touch('GO-2099-0002', '2099-03-01T00:00:00Z');
  const r3 = await syncVulnDb(store, source, () => clock);
  assert.deepEqual([r3.changed, r3.updated, r3.total], [true, 1, 3]);
  assert.deepEqual(up.hits, ['/index/db.json', '/index/vulns.json', '/index/modules.json', '/ID/GO-2099-0002.json']);
  assert.equal(getAdvisory(db, 'GO-2099-0002')?.summary, 'updated 2099-03-01T00:00:00Z');
  assert.equal(getAdvisory(db, 'GO-2099-0002')?.osv, up.files.get('/ID/GO-2099-0002.json')!.toString());
}));

test('a lying or bad file changes no advisory and names the file; the next good sync recovers', withStore(async (db, store) => {
  const up = new FakeVulnUpstream();
  const source = upstreamVulnSource(up, BASE, DEADLINE_MS);
  await syncVulnDb(store, source);
  const before = summaries(db);
  const dbJsonBefore = store.file('index/db.json')!.body;

  // vulns.json promises a newer GO-2099-0001 but the file is the old one
  const vulns = JSON.parse(up.files.get('/index/vulns.json')!.toString()) as { id: string; modified: string }[];
  vulns.find((v) => v.id === 'GO-2099-0001')!.modified = '2099-04-01T00:00:00Z';
  up.files.set('/index/vulns.json', Buffer.from(JSON.stringify(vulns)));
  up.files.set('/index/db.json', Buffer.from('{"modified":"2099-04-01T00:00:00Z"}'));
  await assert.rejects(syncVulnDb(store, source), (err: Error & { code: string }) => {
    assert.equal(err.code, 'INTEGRITY');
    assert.equal(err.message, 'vulnerability database file ID/GO-2099-0001.json: modified 2099-01-10T00:00:00.000Z is not the 2099-04-01T00:00:00.000Z index/vulns.json lists');
    return true;
  });
  assert.deepEqual(summaries(db), before);
  assert.deepEqual(store.file('index/db.json')!.body, dbJsonBefore, 'index files untouched');
  assert.match(store.state('https://vuln.go.dev')!.lastResult!, /^failed: vulnerability database file ID\/GO-2099-0001\.json/);

  // one good change and one file served under another advisory's name: neither is written
  up.touch('GO-2099-0001', '2099-04-01T00:00:00Z');
  up.touch('GO-2099-0002', '2099-04-02T00:00:00Z');
  up.files.set('/ID/GO-2099-0002.json', up.files.get('/ID/GO-2099-0003.json')!);
  await assert.rejects(syncVulnDb(store, source), /ID\/GO-2099-0002\.json: holds GO-2099-0003, not GO-2099-0002/);
  assert.deepEqual(summaries(db), before);

  for (const [path, body, re] of [
    ['/index/db.json', Buffer.from('{"modified":"soon"}'), /index\/db\.json: modified must be an RFC 3339 time/],
    ['/index/vulns.json', Buffer.from('{'), /index\/vulns\.json: not valid JSON/],
  ] as const) {
    const saved = up.files.get(path)!;
    up.files.set(path, body);
    await assert.rejects(syncVulnDb(store, source), re);
    up.files.set(path, saved);
  }
  up.files.delete('/index/modules.json');
  await assert.rejects(syncVulnDb(store, source), /index\/modules\.json: missing from https:\/\/vuln\.go\.dev/);
  up.files.set('/index/modules.json', vulndbFixture('index/modules.json'));
  assert.deepEqual(summaries(db), before);

  up.files.set('/ID/GO-2099-0002.json', vulndbFixture('ID/GO-2099-0002.json'));
  up.touch('GO-2099-0002', '2099-04-02T00:00:00Z'); // a true file again
  const ok = await syncVulnDb(store, source);
  assert.deepEqual([ok.updated, ok.total], [2, 3]);
  assert.equal(getAdvisory(db, 'GO-2099-0002')?.summary, 'updated 2099-04-02T00:00:00Z');
}));

test('an offline directory imports the same advisories', withStore(async (db, store) => {
  const r = await syncVulnDb(store, directoryVulnSource(VULNDB_FIXTURES));
  assert.deepEqual([r.changed, r.updated, r.total, r.source], [true, 3, 3, VULNDB_FIXTURES]);
  assert.deepEqual((summaries(db) as { id: string }[]).map((a) => a.id), ['GO-2099-0001', 'GO-2099-0002', 'GO-2099-0003']);
  await assert.rejects(syncVulnDb(store, directoryVulnSource(join(VULNDB_FIXTURES, 'nope'))), /index\/db\.json: missing from/);
}));

test('VulnSyncer: concurrent syncs share one run; with interval 0 nothing is scheduled', withStore(async (_db, store) => {
  const up = new FakeVulnUpstream();
  const results: boolean[] = [];
  const syncer = new VulnSyncer({
    store,
    source: upstreamVulnSource(up, BASE, DEADLINE_MS),
    intervalSeconds: () => 0,
    onResult: (r) => results.push(r.ok),
  });
  syncer.schedule(); // interval 0: no timer, so no request
  assert.deepEqual(up.hits, []);
  const [a, b, c] = await Promise.all([syncer.syncNow(), syncer.syncNow(), syncer.syncNow()]);
  assert.equal(a, b);
  assert.equal(b, c);
  assert.equal(up.hits.filter((h) => h === '/index/db.json').length, 1, 'one sync for three callers');
  assert.deepEqual(results, [true]);
  up.files.delete('/index/db.json');
  await assert.rejects(syncer.syncNow(), /index\/db\.json: missing from https:\/\/vuln\.go\.dev/);
  assert.deepEqual(results, [true, false]);
  syncer.stop();
}));

test('a sync of 200 advisories writes them 32 to a turn of the event loop, not all in one', withStore(async (db, store) => {
  const up = new FakeVulnUpstream();
  const template = JSON.parse(up.files.get('/ID/GO-2099-0001.json')!.toString()) as { id: string; modified: string };
  const listed: { id: string; modified: string }[] = [];
  for (let i = 0; i < 200; i++) {
    const id = `GO-2099-${String(1000 + i)}`;
    up.files.set(`/ID/${id}.json`, Buffer.from(JSON.stringify({ ...template, id })));
    listed.push({ id, modified: template.modified });
  }
  up.files.set('/index/vulns.json', Buffer.from(JSON.stringify(listed)));
  const loop = countTurns();
  const writesPerTurn = new Map<number, number>();
  const putAdvisory = store.putAdvisory.bind(store);
  store.putAdvisory = (adv, body) => {
    writesPerTurn.set(loop.turns, (writesPerTurn.get(loop.turns) ?? 0) + 1);
    putAdvisory(adv, body);
  };
  try {
    const r = await syncVulnDb(store, upstreamVulnSource(up, BASE, DEADLINE_MS));
    assert.equal(r.updated, 200);
  } finally {
    loop.stop();
  }
  assert.equal(db.prepare('SELECT count(*) FROM vuln_advisories').pluck().get(), 200);
  assert.ok(Math.max(...writesPerTurn.values()) <= 32, `at most 32 writes in one turn: ${[...writesPerTurn.values()].join(',')}`);
  assert.ok(writesPerTurn.size >= 7, `200 writes over ${writesPerTurn.size} turns`);
}));
