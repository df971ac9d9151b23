// Integration: evictToLimit and pruneOlderThan over a cache that a real gateway filled from a real HTTPS module
// upstream (real blob files, real SQLite index, the gateway still running). Least recently used blobs go first,
// a blob in use never goes, a blob shared by several rows goes with all of them and counts once, negative
// entries stay, and the gateway fetches an evicted object again on the next request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createTestPki, type TestPki } from '../helpers/test-pki.js';
import { startModuleUpstream, type ModuleUpstream, type AddedModule } from '../helpers/module-upstream.js';
import { startTestGateway, fetchVia, waitFor, type TestGateway } from '../helpers/gateway.js';
import { openDatabase, type Db } from '../../src/store/database.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { evictToLimit, indexedBlobBytes, pruneOlderThan, type RemovedObject } from '../../src/store/eviction.js';

let dir: string;
let pki: TestPki;
let upstream: ModuleUpstream;
let gw: TestGateway;
let db: Db;
let blobs: BlobStore;
const mods: Record<'a' | 'b' | 'c', AddedModule> = {} as never;
const zipPath = (name: string) => `/example.com/${name}/@v/v1.0.0.zip`;
/** Resolves once the clock has moved past the current millisecond, so the next access gets a later last_access. */
const nextMillisecond = () => {
  const t = Date.now();
  return waitFor('the clock to tick', () => Date.now() > t);
};

interface ObjRow {
  key: string;
  sha256: string | null;
  size: number;
  status: number;
}

function objects(): ObjRow[] {
  return db.prepare('SELECT key, sha256, size, status FROM objects ORDER BY key').all() as ObjRow[];
}

function keyOf(name: string, ext = 'zip', version = 'v1.0.0'): string {
  return `mod:example.com/${name}@${version}.${ext}`;
}

async function fetchOk(path: string, cache: string): Promise<void> {
  const r = await fetchVia(gw.baseUrl + path);
  assert.equal(r.status, 200, path);
  assert.equal(r.headers['x-gomodgate-cache'], cache, path);
  gw.gateway.flushCacheAccess(); // a hit's last access is written in batches; this test reads it from the database
  // distinct milliseconds, so last_access orders these steps the way they happened
  await nextMillisecond();
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gmg-evict-'));
  pki = createTestPki(join(dir, 'pki'));
  upstream = await startModuleUpstream({ pki });
  // random data does not compress: the zips differ in size (about 20, 30 and 40 KiB)
  mods.a = upstream.addModule({ path: 'example.com/a', version: 'v1.0.0', files: { 'data.bin': randomBytes(20_000) } });
  mods.b = upstream.addModule({ path: 'example.com/b', version: 'v1.0.0', files: { 'data.bin': randomBytes(30_000) } });
  mods.c = upstream.addModule({ path: 'example.com/c', version: 'v1.0.0', files: { 'data.bin': randomBytes(40_000) } });
  gw = await startTestGateway({ upstream: upstream.url, upstreamCa: [pki.caFile] });
  db = openDatabase(join(gw.dataDir, 'gomodgate.db'));
  blobs = new BlobStore(gw.dataDir);
});

after(async () => {
  db?.close();
  await gw?.close();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('least recently used first, never a blob in use; the gateway fetches an evicted object again', async () => {
  await fetchOk(zipPath('a'), 'miss');
  await fetchOk(zipPath('b'), 'miss');
  await fetchOk(zipPath('c'), 'miss');
  await fetchOk(zipPath('a'), 'hit'); // a is now the most recently used: the order is b, c, a
  const { a, b, c } = mods;
  assert.equal(indexedBlobBytes(db), a.zipSize + b.zipSize + c.zipSize);

  assert.deepEqual(evictToLimit(db, blobs, a.zipSize + b.zipSize + c.zipSize, () => false), { removedObjects: 0, removedBytes: 0 }, 'at the limit: nothing to do');

  const removed: RemovedObject[] = [];
  const r1 = evictToLimit(db, blobs, a.zipSize + c.zipSize, () => false, { onRemove: (o) => removed.push(o) });
  assert.deepEqual(r1, { removedObjects: 1, removedBytes: b.zipSize });
  assert.deepEqual(removed.map((o) => [o.key, o.sha256, o.blobRemoved]), [[keyOf('b'), b.zipSha256, true]]);
  assert.deepEqual(objects().map((o) => o.key), [keyOf('a'), keyOf('c')]);
  assert.equal(existsSync(blobs.pathOf(b.zipSha256)), false, 'the blob file is gone');
  assert.equal(existsSync(blobs.pathOf(a.zipSha256)), true);
  assert.equal(existsSync(blobs.pathOf(c.zipSha256)), true);

  // c is next by age, but in use: a goes instead, and the limit cannot be met without c
  const asked: string[] = [];
  const r2 = evictToLimit(db, blobs, 1, (sha) => {
    asked.push(sha);
    return sha === c.zipSha256;
  });
  assert.deepEqual(r2, { removedObjects: 1, removedBytes: a.zipSize });
  assert.deepEqual(asked, [c.zipSha256, a.zipSha256], 'asked in least-recently-used order');
  assert.deepEqual(objects().map((o) => o.key), [keyOf('c')]);
  assert.equal(existsSync(blobs.pathOf(c.zipSha256)), true);
  assert.equal(existsSync(blobs.pathOf(a.zipSha256)), false);

  upstream.resetHits();
  const again = await fetchVia(gw.baseUrl + zipPath('b'));
  assert.equal(again.status, 200);
  assert.equal(again.headers['x-gomodgate-cache'], 'miss');
  assert.equal(again.sha256, b.zipSha256);
  assert.equal(upstream.hits(zipPath('b')), 1, 'an evicted object is fetched upstream again');
  assert.equal(existsSync(blobs.pathOf(b.zipSha256)), true);
});

test('a blob shared by several rows is evicted with all of them, its bytes counted once; negative entries stay', async () => {
  upstream.addModule({ path: 'example.com/a', version: 'v1.1.0', files: { 'x.go': 'package a\n' } });
  upstream.addModule({ path: 'example.com/a', version: 'v1.2.0', files: { 'x.go': 'package a\n' } });
  const modV1 = await fetchVia(gw.baseUrl + '/example.com/a/@v/v1.1.0.mod');
  const modV2 = await fetchVia(gw.baseUrl + '/example.com/a/@v/v1.2.0.mod');
  assert.equal(modV1.sha256, modV2.sha256, 'two versions with the same go.mod share one blob');
  assert.equal((await fetchVia(gw.baseUrl + '/example.com/none/@v/v1.0.0.mod')).status, 404);
  await nextMillisecond();
  await fetchOk(zipPath('c'), 'hit'); // c most recent; b (refetched in the last test) older than the .mod rows
  await fetchOk(zipPath('b'), 'hit'); // b most recent now: order .mod (shared), c, b

  const modSize = modV1.bytes;
  const before = indexedBlobBytes(db);
  assert.equal(before, mods.b.zipSize + mods.c.zipSize + modSize, 'the shared blob counts once');
  const removed: RemovedObject[] = [];
  const r = evictToLimit(db, blobs, before - 1, () => false, { onRemove: (o) => removed.push(o) });
  assert.deepEqual(r, { removedObjects: 2, removedBytes: modSize });
  assert.deepEqual(removed.map((o) => o.key).sort(), [keyOf('a', 'mod', 'v1.1.0'), keyOf('a', 'mod', 'v1.2.0')]);
  assert.equal(existsSync(blobs.pathOf(modV1.sha256)), false);
  const left = objects();
  assert.deepEqual(left.filter((o) => o.status === 200).map((o) => o.key), [keyOf('b'), keyOf('c')]);
  assert.deepEqual(left.filter((o) => o.status !== 200).map((o) => o.key), ['mod:example.com/none@v1.0.0.mod'], 'the remembered 404 stays');
});

test('dry run reports the same choice without removing anything', () => {
  const before = objects();
  const removed: RemovedObject[] = [];
  const r = evictToLimit(db, blobs, mods.b.zipSize, () => false, { dryRun: true, onRemove: (o) => removed.push(o) });
  assert.deepEqual(r, { removedObjects: 1, removedBytes: mods.c.zipSize });
  assert.deepEqual(removed.map((o) => o.key), [keyOf('c')]);
  assert.deepEqual(objects(), before);
  assert.equal(existsSync(blobs.pathOf(mods.c.zipSha256)), true);
});

test('pruneOlderThan removes what was not used since the cutoff, rows first, then unreferenced blobs', async () => {
  const cutoff = Date.now();
  await nextMillisecond();
  await fetchOk(zipPath('b'), 'hit'); // b used after the cutoff
  const removed: RemovedObject[] = [];
  const r = pruneOlderThan(db, blobs, cutoff, () => false, { onRemove: (o) => removed.push(o) });
  assert.deepEqual(removed.map((o) => [o.key, o.blobRemoved]).sort(), [[keyOf('c'), true], ['mod:example.com/none@v1.0.0.mod', false]]);
  assert.deepEqual(r, { removedObjects: 2, removedBytes: mods.c.zipSize });
  assert.deepEqual(objects().map((o) => o.key), [keyOf('b')]);
  assert.equal(existsSync(blobs.pathOf(mods.c.zipSha256)), false);
  assert.equal(existsSync(blobs.pathOf(mods.b.zipSha256)), true);
});
