// The latest signed tree head is one per checksum database, shared by every upstream route and kept in SQLite
// across restarts (issue 12, item 3); the /supported answer is remembered with a TTL (item 6). Real parts:
// ModuleVerifier, SumdbVerifier, SqliteLatestNoteStore on a real SQLite file in a temp dir, real module zips;
// the two "upstream proxies" are in-memory checksum databases (test/helpers/sumdb-log.ts) signed with one key,
// one of them forked. Asserts verdicts, the stored head, and how often /supported is asked.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GateError } from '../../src/errors.js';
import { parseProxyPath, type ModuleRequest } from '../../src/goproxy/request-path.js';
import { openDatabase, type Db } from '../../src/store/database.js';
import { SqliteLatestNoteStore } from '../../src/verify/latest-note-store.js';
import { ModuleVerifier, type DatabaseFetch } from '../../src/verify/module-verifier.js';
import { parseTreeHead } from '../../src/verify/tlog.js';
import { hash1, goModHash1 } from '../helpers/dirhash.js';
import { buildRawZip } from '../helpers/raw-zip.js';
import { TEST_DB_NAME, goSumRecord, makeKey, makeLog, type TestLog } from '../helpers/sumdb-log.js';

const KEY = makeKey(7);
const M = 'example.com/m';
const V = 'v1.0.0';
const P = `${M}@${V}/`;
const GO_MOD = `module ${M}\n`;
const FILES = [
  { name: `${P}go.mod`, data: Buffer.from(GO_MOD) },
  { name: `${P}m.go`, data: Buffer.from('package m\n') },
];
const ZIP_H1 = hash1(FILES);
const TARGET = goSumRecord(M, V, ZIP_H1, goModHash1(GO_MOD));
const filler = (tag: string, n: number) => Array.from({ length: n }, (_, i) => goSumRecord(`example.com/${tag}${i}`, 'v1.0.0', ZIP_H1, ZIP_H1));

/** An upstream proxy serving one database log (and /supported with the given status). */
interface Route {
  base: URL;
  log: TestLog;
  records: string[];
  head: Buffer;
  supported: number;
  supportedAsked: number;
}

async function route(host: string, records: string[]): Promise<Route> {
  const log = makeLog(records, KEY);
  return { base: new URL(`https://${host}`), log, records, head: (await log.head()).note, supported: 200, supportedAsked: 0 };
}

function fetchFrom(routes: Route[]): DatabaseFetch {
  return async (request: ModuleRequest, target) => {
    const r = routes.find((x) => x.base.hostname === target.base.hostname);
    if (!r) throw new GateError('UPSTREAM_UNAVAILABLE', `no route to ${target.base.hostname}`);
    const path = request.upstreamPath.replace(`/sumdb/${TEST_DB_NAME}`, '');
    if (path === '/supported') {
      r.supportedAsked++;
      return { status: r.supported, body: Buffer.alloc(0) };
    }
    if (path === `/lookup/${M}@${V}`) {
      const i = r.records.indexOf(TARGET);
      return { status: 200, body: Buffer.concat([Buffer.from(`${i}\n${TARGET}\n`), r.head]) };
    }
    const tile = r.log.files[path];
    return tile ? { status: 200, body: tile } : { status: 404, body: Buffer.from('not found') };
  };
}

const SETTING = { name: TEST_DB_NAME, verifierKey: KEY.vkey, url: new URL(`https://${TEST_DB_NAME}`) };
const zipRequest = (() => {
  const r = parseProxyPath(`/${M}/@v/${V}.zip`);
  assert.ok(r.ok === true);
  return r.request;
})();

let dir = '';
let zipFile = '';
let dbFile = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gomodgate-latest-'));
  zipFile = join(dir, 'm.zip');
  dbFile = join(dir, 'gomodgate.db');
  await writeFile(zipFile, buildRawZip(FILES));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rejectsIntegrity(p: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof GateError && err.code === 'INTEGRITY' && message.test(`${err.message} ${(err.cause as Error)?.message}`));
}

describe('one latest tree head per database, across routes and restarts', () => {
  let a: Route;
  let forked: Route;
  let db: Db;

  before(async () => {
    a = await route('proxy-a.test', [...filler('a', 2), TARGET]);
    // Signed by the same key, but not an extension of route A's log: a split view.
    forked = await route('proxy-b.test', [...filler('b', 2), TARGET, ...filler('c', 1)]);
    db = openDatabase(dbFile);
  });

  after(() => db.close());

  test('a fork served on a second route is refused, and the stored head stays', async () => {
    const store = new SqliteLatestNoteStore(db);
    const verifier = new ModuleVerifier(SETTING, fetchFrom([a, forked]), () => true, { latestNotes: store });
    assert.equal(await verifier.verify(zipRequest, { base: a.base }, zipFile), ZIP_H1);
    assert.deepEqual(store.get(TEST_DB_NAME), a.head);
    await rejectsIntegrity(verifier.verify(zipRequest, { base: forked.base }, zipFile), /not a prefix|misbehaviour/);
    assert.deepEqual(store.get(TEST_DB_NAME), a.head);
  });

  test('the same fork is refused after a restart (a new database handle and verifier)', async () => {
    db.close();
    db = openDatabase(dbFile);
    const verifier = new ModuleVerifier(SETTING, fetchFrom([a, forked]), () => true, { latestNotes: new SqliteLatestNoteStore(db) });
    await rejectsIntegrity(verifier.verify(zipRequest, { base: forked.base }, zipFile), /not a prefix|misbehaviour/);
    assert.equal(await verifier.verify(zipRequest, { base: a.base }, zipFile), ZIP_H1);
  });

  test('a newer head that extends the stored one replaces it', async () => {
    const grown = await route('proxy-a.test', [...a.records, ...filler('d', 3)]);
    const store = new SqliteLatestNoteStore(db);
    const verifier = new ModuleVerifier(SETTING, fetchFrom([grown]), () => true, { latestNotes: store });
    assert.equal(await verifier.verify(zipRequest, { base: grown.base }, zipFile), ZIP_H1);
    const stored = store.get(TEST_DB_NAME);
    assert.ok(stored);
    assert.equal(parseTreeHead(stored.toString().split('\n\n')[0] + '\n').size, 6);
  });

  test('a stored head that does not verify with the configured key is an error, not a fresh start', async () => {
    const store = new SqliteLatestNoteStore(db);
    store.put(TEST_DB_NAME, makeKey(9).signNote('go.sum database tree\n1\n' + Buffer.alloc(32).toString('base64') + '\n'));
    const verifier = new ModuleVerifier(SETTING, fetchFrom([a]), () => true, { latestNotes: store });
    await rejectsIntegrity(verifier.verify(zipRequest, { base: a.base }, zipFile), /saved latest tree head/);
  });
});

describe('/supported is remembered with a TTL', () => {
  test('a failed answer is asked again after the retry time, a definite one after the TTL', async () => {
    const r = await route('proxy-c.test', [...filler('e', 1), TARGET]);
    let now = 1_000_000;
    const verifier = new ModuleVerifier(SETTING, fetchFrom([r]), () => true, { now: () => now, supportedTtlMs: 600_000, supportedRetryMs: 30_000 });
    r.supported = 503; // then the direct URL is tried, and there is no route to it
    await assert.rejects(verifier.verify(zipRequest, { base: r.base }, zipFile), (err: unknown) => err instanceof GateError);
    assert.equal(r.supportedAsked, 1);
    now += 10_000;
    await assert.rejects(verifier.verify(zipRequest, { base: r.base }, zipFile), (err: unknown) => err instanceof GateError);
    assert.equal(r.supportedAsked, 1, 'a failure is remembered briefly');
    r.supported = 200;
    now += 30_000;
    assert.equal(await verifier.verify(zipRequest, { base: r.base }, zipFile), ZIP_H1);
    assert.equal(r.supportedAsked, 2, 'asked again after the retry time');
    now += 599_000;
    assert.equal(await verifier.verify(zipRequest, { base: r.base }, zipFile), ZIP_H1);
    assert.equal(r.supportedAsked, 2, 'a definite answer is remembered for the TTL');
    now += 2_000;
    assert.equal(await verifier.verify(zipRequest, { base: r.base }, zipFile), ZIP_H1);
    assert.equal(r.supportedAsked, 3, 'and asked again after it');
  });
});
