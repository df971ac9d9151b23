// Unit: fetch leases across worker processes without processes. The supervisor's LeaseCoordinator table, the
// worker side (WorkerLeases) talking to it through an in-memory channel that delivers like IPC (later, in
// order), and two ModuleService instances -- two "workers" with their own SQLite connection to one cache file
// and one blob directory -- asking for one object at once: exactly one upstream fetch, identical bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { LeaseCoordinator } from '../../src/cluster/lease-coordinator.js';
import { WorkerLeases, type LeaseMessage } from '../../src/cluster/worker-leases.js';
import { openDatabase } from '../../src/store/database.js';
import { BlobStore } from '../../src/store/blob-store.js';
import { CacheIndex } from '../../src/store/cache-index.js';
import { ModuleService, type ModuleReply } from '../../src/service/module-service.js';
import { parseProxyPath, type ModuleRequest } from '../../src/goproxy/request-path.js';
import { singleHop } from '../../src/upstream/upstream-chain.js';
import type { Upstream, UpstreamResponse, UpstreamTarget } from '../../src/upstream/upstream.js';
import { settle } from '../helpers/settle.js';

const CHAIN = singleHop({ base: new URL('https://proxy.test') });

/** Workers 1..n wired to one coordinator; messages are delivered on a later turn, in order, as IPC does. */
function cluster(n: number, maxWaitMs = 60_000): { coordinator: LeaseCoordinator; workers: WorkerLeases[]; kill(worker: number): void } {
  const coordinator = new LeaseCoordinator();
  const workers: WorkerLeases[] = [];
  const dead = new Set<number>();
  for (let id = 1; id <= n; id++) {
    const send = (m: LeaseMessage) =>
      setImmediate(() => {
        if (dead.has(id)) return;
        const g = m.type === 'gmg-lease-acquire' ? coordinator.acquire(m.key, id, m.ask) : m.type === 'gmg-lease-release' ? coordinator.release(m.key, id, m.ask) : null;
        if (g) setImmediate(() => workers[g.worker - 1]!.onMessage({ type: 'gmg-lease-grant', ask: g.ask, waited: g.waited }));
      });
    workers.push(new WorkerLeases({ send, maxWaitMs }));
  }
  return {
    coordinator,
    workers,
    kill(worker) {
      dead.add(worker);
      for (const g of coordinator.workerGone(worker)) setImmediate(() => workers[g.worker - 1]!.onMessage({ type: 'gmg-lease-grant', ask: g.ask, waited: g.waited }));
    },
  };
}

test('the coordinator grants one holder per key and passes the key on in arrival order', () => {
  const c = new LeaseCoordinator();
  assert.deepEqual(c.acquire('k', 1, 1), { worker: 1, ask: 1, waited: false });
  assert.equal(c.acquire('k', 2, 1), null);
  assert.equal(c.acquire('k', 3, 7), null);
  assert.deepEqual(c.acquire('other', 2, 2), { worker: 2, ask: 2, waited: false });
  assert.equal(c.waiting, 2);
  assert.equal(c.release('k', 2, 1), null, 'a queued ask withdrawn (its worker gave up waiting)');
  assert.equal(c.waiting, 1);
  assert.deepEqual(c.release('k', 1, 1), { worker: 3, ask: 7, waited: true });
  assert.equal(c.release('k', 1, 1), null, 'a second release of the same lease changes nothing');
  assert.equal(c.release('k', 3, 7), null);
  assert.equal(c.release('other', 2, 2), null);
  assert.equal(c.size, 0);
});

test('a dead worker\'s leases pass to the next asker and its queued asks are dropped', () => {
  const c = new LeaseCoordinator();
  c.acquire('a', 1, 1);
  c.acquire('b', 2, 1);
  c.acquire('a', 2, 2);
  c.acquire('b', 1, 2);
  c.acquire('c', 1, 3);
  const grants = c.workerGone(1);
  assert.deepEqual(grants, [{ worker: 2, ask: 2, waited: true }]);
  assert.equal(c.waiting, 0);
  assert.equal(c.size, 2, 'a (now worker 2) and b (worker 2); c freed');
  assert.deepEqual(c.acquire('c', 2, 3), { worker: 2, ask: 3, waited: false });
});

test('workers wait for the holder over the channel, and a dead holder does not leave a key stuck', async () => {
  const { coordinator, workers, kill } = cluster(3);
  const first = await workers[0]!.acquire('k');
  assert.equal(first.waited, false);
  let second: { waited: boolean } | null = null;
  let third: { waited: boolean; release(): void } | null = null;
  void workers[1]!.acquire('k').then((l) => (second = l));
  void workers[2]!.acquire('k').then((l) => (third = l));
  await settle('both asks queued', () => coordinator.waiting === 2);
  assert.equal(second, null);
  kill(1); // the holder dies without releasing
  await settle('worker 2 granted', () => second !== null);
  assert.equal(second!.waited, true);
  assert.equal(third, null, 'worker 3 still waits for worker 2');
  kill(2);
  await settle('worker 3 granted', () => third !== null);
  third!.release();
  await settle('key free', () => coordinator.size === 0);
});

test('a wait is bounded: the worker goes ahead without the lease and withdraws its ask', async () => {
  const { coordinator, workers } = cluster(2, 30);
  const holder = await workers[0]!.acquire('k');
  const late = await workers[1]!.acquire('k'); // the holder never releases within 30 ms
  assert.equal(late.waited, true);
  await settle('the ask withdrawn', () => coordinator.waiting === 0);
  assert.equal(workers[1]!.pending, 0);
  holder.release();
  await settle('key free', () => coordinator.size === 0);
});

/** One upstream for both "workers": /example.com/m/@v/v1.0.0.mod's body is a stream the test ends. */
class CountingUpstream implements Upstream {
  readonly body = new PassThrough();
  hits = 0;
  async request(target: UpstreamTarget, path: string): Promise<UpstreamResponse> {
    this.hits++;
    return { status: 200, headers: {}, body: this.body, url: target.base.origin + path };
  }
}

async function bodyOf(reply: ModuleReply): Promise<Buffer> {
  if (reply.body === null || Buffer.isBuffer(reply.body)) return reply.body ?? Buffer.alloc(0);
  const parts: Buffer[] = [];
  for await (const chunk of reply.body as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts);
}

test('two services on one cache file: 16 concurrent askers, one upstream fetch, identical bytes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fetch-leases-'));
  const { coordinator, workers } = cluster(2);
  const upstream = new CountingUpstream();
  const dbs = [openDatabase(join(dir, 'gomodgate.db')), openDatabase(join(dir, 'gomodgate.db'))];
  try {
    const services = dbs.map(
      (db, i) =>
        new ModuleService({ index: new CacheIndex(db), blobs: new BlobStore(join(dir, 'blobs')), upstream, leases: workers[i], mutableTtlSeconds: 60, negativeTtlSeconds: 30 }),
    );
    const parsed = parseProxyPath('/example.com/m/@v/v1.0.0.mod');
    assert.ok(parsed.ok);
    const request = (parsed as { ok: true; request: ModuleRequest }).request;
    const replies = Array.from({ length: 16 }, (_, i) => services[i % 2]!.answer({ request, upstream: CHAIN, method: 'GET' }));
    await settle('one fetch under way and the other worker queued', () => upstream.hits === 1 && coordinator.waiting === 1);
    const goMod = 'module example.com/m\n\ngo 1.21\n';
    upstream.body.end(goMod);
    const bodies = await Promise.all(replies.map(async (r) => bodyOf(await r)));
    assert.equal(upstream.hits, 1, 'exactly one upstream fetch for 16 askers in two workers');
    const hashes = new Set(bodies.map((b) => createHash('sha256').update(b).digest('hex')));
    assert.deepEqual([...hashes], [createHash('sha256').update(goMod).digest('hex')]);
    await settle('every lease released', () => coordinator.size === 0);
  } finally {
    for (const db of dbs) db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
