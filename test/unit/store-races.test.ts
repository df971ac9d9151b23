// Unit: a store and a removal of the same blob, interleaved, in one process and across two (a second SQLite
// connection on the same file stands for another worker or `gomodgate cache prune`). Two cache keys share a blob
// when their content is equal (the same go.mod for two versions). Whatever the interleaving, no row may name a
// missing file: the store pins its blob from before the rename until its row (BlobStore.pin), a removal reads
// the blob's rows again after the file is gone (removeBlobFile), and a store checks its file after its row
// (ModuleService.putIndexed). Also: `cache verify` does not report a row that eviction deleted while it ran.
// No sockets and no sleeps: each interleaving is made by a BlobStore whose commit or removal runs a step between.
import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { openDatabase, type Db } from '../../src/store/database.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { CacheIndex } from '../../src/store/cache-index.js';
import { evictToLimit, type RemovedObject } from '../../src/store/eviction.js';
import { ModuleService } from '../../src/service/module-service.js';
import { parseProxyPath, type ModuleRequest } from '../../src/goproxy/request-path.js';
import { singleHop } from '../../src/upstream/upstream-chain.js';
import type { Upstream, UpstreamResponse, UpstreamTarget } from '../../src/upstream/upstream.js';
import { verifyCache } from '../../src/tools/cache-verify.js';

const CHAIN = singleHop({ base: new URL('https://proxy.test') });
const GO_MOD = 'module example.com/shared\n\ngo 1.19\n';
const SHA = createHash('sha256').update(GO_MOD).digest('hex');
const V1 = '/example.com/shared/@v/v1.0.0.mod';
const V2 = '/example.com/shared/@v/v1.0.1.mod';

/** Every version of example.com/shared has GO_MOD as its .mod; example.com/other has its own. Requests counted by path. */
class SameModUpstream implements Upstream {
  readonly hits = new Map<string, number>();
  async request(target: UpstreamTarget, path: string): Promise<UpstreamResponse> {
    this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
    const body = path.startsWith('/example.com/shared/') ? GO_MOD : 'module example.com/other\n';
    return { status: 200, headers: {}, body: Readable.from([Buffer.from(body)]), url: target.base.origin + path };
  }
}

/** A blob store that runs a step of the test at a chosen point: after a commit's rename, or before a removal. */
class SteppedBlobs extends BlobStore {
  afterCommit: ((sha: string) => Promise<void> | void) | null = null;
  beforeRemove: ((sha: string) => void) | null = null;

  override async commit(tempPath: string, sha256: string, size?: number): Promise<void> {
    await super.commit(tempPath, sha256, size);
    const step = this.afterCommit;
    this.afterCommit = null;
    await step?.(sha256);
  }

  override removeSync(sha256: string): boolean {
    const step = this.beforeRemove;
    this.beforeRemove = null;
    step?.(sha256);
    return super.removeSync(sha256);
  }
}

let dir: string;
let db: Db;
/** Another process's connection to the same index. */
let other: Db;
let index: CacheIndex;
let blobs: SteppedBlobs;
let upstream: SameModUpstream;

function request(path: string): ModuleRequest {
  const parsed = parseProxyPath(path);
  assert.equal(parsed.ok, true);
  return (parsed as { ok: true; request: ModuleRequest }).request;
}

function service(): ModuleService {
  return new ModuleService({ index, blobs, upstream, mutableTtlSeconds: 60, negativeTtlSeconds: 30 });
}

async function ask(svc: ModuleService, path: string): Promise<string> {
  const reply = await svc.answer({ request: request(path), upstream: CHAIN, method: 'GET' });
  assert.equal(reply.status, 200);
  const body = reply.body;
  if (Buffer.isBuffer(body)) return body.toString();
  const parts: Buffer[] = [];
  for await (const c of body as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts).toString();
}

function keys(): string[] {
  return (other.prepare('SELECT key FROM objects ORDER BY key').all() as { key: string }[]).map((r) => r.key);
}

/** Rows that name a blob whose file is not there. */
function dangling(): string[] {
  const rows = other.prepare('SELECT key, sha256 FROM objects WHERE sha256 IS NOT NULL').all() as { key: string; sha256: string }[];
  return rows.filter((r) => !existsSync(blobs.pathOf(r.sha256))).map((r) => r.key);
}

/** What another process's eviction of the blob does: its rows, then its file. */
function evictElsewhere(sha: string): void {
  other.prepare('DELETE FROM objects WHERE sha256 = ?').run(sha);
  rmSync(blobs.pathOf(sha), { force: true });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'store-races-'));
  db = openDatabase(join(dir, 'gomodgate.db'));
  other = openDatabase(join(dir, 'gomodgate.db'));
  index = new CacheIndex(db);
  blobs = new SteppedBlobs(dir);
  upstream = new SameModUpstream();
});

afterEach(() => {
  other.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

test('this process evicts while a second key of the same blob is between its rename and its row: the blob is pinned', async () => {
  const svc = service();
  assert.equal(await ask(svc, V1), GO_MOD);
  const removed: RemovedObject[] = [];
  blobs.afterCommit = (sha) => {
    assert.equal(sha, SHA);
    // the gateway's own eviction, as another stored object's pass would run it here
    evictToLimit(db, blobs, 0, (s) => blobs.inUse(s), { onRemove: (o) => removed.push(o) });
  };
  assert.equal(await ask(svc, V2), GO_MOD);
  assert.deepEqual(removed, [], 'a blob being stored is not evicted');
  assert.deepEqual(dangling(), []);
  assert.deepEqual(keys(), ['mod:example.com/shared@v1.0.0.mod', 'mod:example.com/shared@v1.0.1.mod']);
  assert.equal(upstream.hits.get(V2), 1);
});

test('another process stores the same content between an eviction\'s delete and its removal: its row goes with the file', async () => {
  const row = { kind: 'mod', module: null, version: null, status: 200, sha256: SHA, h1: null, size: GO_MOD.length, contentType: 'text/plain', bodyInline: null, upstreamUrl: null, expiresAt: null };
  const temp = blobs.newTempPath();
  writeFileSync(temp, GO_MOD);
  await blobs.commit(temp, SHA);
  index.put({ ...row, key: 'a', storedAt: 1 });
  const otherIndex = new CacheIndex(other);
  blobs.beforeRemove = () => {
    // the other process renamed the same content into place and wrote its row: after our delete, before our removal
    otherIndex.put({ ...row, key: 'b', storedAt: 2 });
  };
  const removed: RemovedObject[] = [];
  const r = evictToLimit(db, blobs, 0, () => false, { onRemove: (o) => removed.push(o) });
  assert.deepEqual(dangling(), [], 'no row names the removed file');
  assert.deepEqual(keys(), []);
  assert.deepEqual(removed.map((o) => o.key).sort(), ['a', 'b'], 'the late row is reported with the blob');
  assert.equal(r.removedObjects, 2);
});

test('another process evicts the same content between this store\'s rename and its row: the row is not left naming nothing', async () => {
  const svc = service();
  assert.equal(await ask(svc, V1), GO_MOD);
  blobs.afterCommit = (sha) => evictElsewhere(sha);
  // answered all the same: a small blob is kept in memory from its store
  assert.equal(await ask(svc, V2), GO_MOD);
  assert.deepEqual(dangling(), []);
  assert.deepEqual(keys(), [], 'both keys are gone with the blob (fetched again at their next request)');
  assert.equal(upstream.hits.get(V2), 1);
  assert.equal(await ask(svc, V2), GO_MOD);
  assert.equal(upstream.hits.get(V2), 2);
  assert.deepEqual(dangling(), []);
});

test('cache verify: a row eviction deleted while verify ran is not reported missing; one still there is', async () => {
  const svc = service();
  await ask(svc, V1);
  await ask(svc, '/example.com/other/@v/v1.0.0.mod');
  // both files gone; the eviction deletes V1's rows only after verify read them (a row is deleted before its file
  // in eviction; verify reading the rows before both is the interleaving this stands for)
  const otherSha = (other.prepare("SELECT sha256 FROM objects WHERE key LIKE '%other%'").get() as { sha256: string }).sha256;
  assert.notEqual(otherSha, SHA);
  rmSync(blobs.pathOf(SHA));
  rmSync(blobs.pathOf(otherSha));
  const report = await verifyCache(db, dir, {
    onTotal: () => {
      other.prepare('DELETE FROM objects WHERE sha256 = ?').run(SHA);
    },
  });
  assert.deepEqual(report.missing.map((m) => m.key), ['mod:example.com/other@v1.0.0.mod']);
});
