// The checksum-database reads the verifier keeps (src/verify/sumdb-read-store.ts) against the Go team's test
// module proxy and its checksum database, with a real SQLite file: a verifier of a later process (a restart,
// another worker) re-authenticates a kept lookup and its tiles instead of reading them again; a kept lookup
// that no longer authenticates is dropped and read afresh; and two processes that share the store and the
// fetch leases (the supervisor's LeaseCoordinator and each worker's WorkerLeases, their IPC carried in process
// here) read a lookup from the database once between them. Counts are the database's own requests.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Db } from '../../src/store/database.js';
import { SqliteLatestNoteStore } from '../../src/verify/latest-note-store.js';
import { SqliteSumdbReadStore } from '../../src/verify/sumdb-read-store.js';
import { SumdbVerifier, type SumdbFetch } from '../../src/verify/sumdb-verifier.js';
import { LeaseCoordinator } from '../../src/cluster/lease-coordinator.js';
import { WorkerLeases, type LeaseMessage } from '../../src/cluster/worker-leases.js';
import { TEST_SUMDB_KEY, ensureGoTestProxyBinary } from '../helpers/go-test-proxy.js';
import { httpGet, startLocalProxy, TEST_SUMDB_PATH, type LocalProxy } from '../helpers/local-go-proxy.js';
import { waitFor } from '../helpers/gateway.js';

/** A fetch into the test proxy's checksum database that counts the requests per path; `hold` keeps paths waiting. */
function countingFetch(proxy: LocalProxy) {
  const counts = new Map<string, number>();
  const held = new Map<string, Promise<void>>();
  const fetch: SumdbFetch = async (path) => {
    counts.set(path, (counts.get(path) ?? 0) + 1);
    await held.get(path);
    return httpGet(`${proxy.base}${TEST_SUMDB_PATH}${path}`);
  };
  /** Requests for `path` wait until the returned function is called. */
  const hold = (path: string): (() => void) => {
    let release!: () => void;
    held.set(path, new Promise<void>((r) => (release = r)));
    return () => {
      held.delete(path);
      release();
    };
  };
  const total = (prefix: string) => [...counts].filter(([p]) => p.startsWith(prefix)).reduce((n, [, c]) => n + c, 0);
  return { fetch, counts, total, hold };
}

/** The supervisor's coordinator and two workers' lease clients, their messages delivered on later turns as IPC would. */
function leasesOfTwoWorkers(): [WorkerLeases, WorkerLeases] {
  const coordinator = new LeaseCoordinator();
  const workers: WorkerLeases[] = [];
  const deliver = (grant: ReturnType<LeaseCoordinator['acquire']>) => {
    if (grant) setImmediate(() => workers[grant.worker]!.onMessage({ type: 'gmg-lease-grant', ask: grant.ask, waited: grant.waited }));
  };
  for (const id of [0, 1]) {
    workers.push(
      new WorkerLeases({
        maxWaitMs: 60_000,
        send: (m: LeaseMessage) =>
          setImmediate(() => {
            if (m.type === 'gmg-lease-acquire') deliver(coordinator.acquire(m.key, id, m.ask));
            else if (m.type === 'gmg-lease-release') deliver(coordinator.release(m.key, id, m.ask));
          }),
      }),
    );
  }
  return [workers[0]!, workers[1]!];
}

describe('checksum-database reads kept in the SQLite file and shared by processes', { timeout: 10 * 60_000 }, () => {
  let proxy: LocalProxy;
  let work = '';
  const dbs: Db[] = [];

  before(async () => {
    const binary = await ensureGoTestProxyBinary();
    work = await mkdtemp(join(tmpdir(), 'gomodgate-sumdb-reads-'));
    proxy = await startLocalProxy(binary, join(work, 'proxy'));
  });

  after(async () => {
    for (const db of dbs) db.close();
    await proxy?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** A gateway process's view of one SQLite file: its own connection, verifier and counted database reads. */
  function processOn(file: string, opts: { leases?: WorkerLeases; keep?: boolean } = {}) {
    const db = openDatabase(file);
    dbs.push(db);
    const counter = countingFetch(proxy);
    const verifier = new SumdbVerifier({
      verifierKey: TEST_SUMDB_KEY,
      fetch: counter.fetch,
      latestStore: new SqliteLatestNoteStore(db),
      reads: opts.keep === false ? undefined : new SqliteSumdbReadStore(db),
      leases: opts.leases,
    });
    return { db, verifier, counter };
  }

  test('after a restart, a kept lookup and its tiles are authenticated again, not read again', async () => {
    const file = join(work, 'restart.db');
    const first = processOn(file);
    const sums = await first.verifier.lookup('rsc.io/quote', 'v1.5.2');
    assert.equal(first.counter.total('/lookup/'), 1);
    assert.ok(first.counter.total('/tile/') > 0, 'the first lookup reads tiles');
    const kept = first.db.prepare('SELECT count(*) FROM sumdb_reads WHERE verifier_key = ?').pluck().get(TEST_SUMDB_KEY) as number;
    assert.equal(kept, 1 + first.counter.total('/tile/'), 'the lookup and every tile it read are kept');

    const restarted = processOn(file);
    const again = await restarted.verifier.lookup('rsc.io/quote', 'v1.5.2');
    assert.deepEqual({ zip: again.zipHash, mod: again.modHash }, { zip: sums.zipHash, mod: sums.modHash });
    assert.deepEqual([...restarted.counter.counts], [], 'nothing read from the database');
    // served to a client as it was read
    assert.deepEqual(await restarted.verifier.keptLookupAnswer('rsc.io/quote', 'v1.5.2'), sums.answer.body);
  });

  test('a kept lookup that no longer authenticates is dropped and read afresh', async () => {
    const file = join(work, 'tampered.db');
    const first = processOn(file);
    const sums = await first.verifier.lookup('rsc.io/sampler', 'v1.3.0');
    const path = '/lookup/rsc.io/sampler@v1.3.0';
    const forged = Buffer.from(sums.answer.body.toString('utf8').replace(sums.zipHash, 'h1:' + 'A'.repeat(43) + '='));
    assert.notDeepEqual(forged, sums.answer.body);
    first.db.prepare('UPDATE sumdb_reads SET body = ? WHERE verifier_key = ? AND path = ?').run(forged, TEST_SUMDB_KEY, path);

    const restarted = processOn(file);
    const again = await restarted.verifier.lookup('rsc.io/sampler', 'v1.3.0');
    assert.equal(again.zipHash, sums.zipHash, 'the answer read afresh, not the forged one');
    assert.equal(restarted.counter.counts.get(path), 1);
    const row = restarted.db.prepare('SELECT body FROM sumdb_reads WHERE verifier_key = ? AND path = ?').pluck().get(TEST_SUMDB_KEY, path) as Buffer;
    assert.deepEqual(row, sums.answer.body, 'the store holds the authentic answer again');
  });

  test('two workers sharing the store and the leases read a lookup once; without the leases both read it', async () => {
    const shared = join(work, 'workers.db');
    const [l0, l1] = leasesOfTwoWorkers();
    const w0 = processOn(shared, { leases: l0 });
    const w1 = processOn(shared, { leases: l1 });
    const [a, b] = await Promise.all([w0.verifier.lookup('golang.org/x/text', 'v0.0.0-20170915032832-14c0d48ead0c'), w1.verifier.lookup('golang.org/x/text', 'v0.0.0-20170915032832-14c0d48ead0c')]);
    assert.equal(a.zipHash, b.zipHash);
    assert.equal(w0.counter.total('/lookup/') + w1.counter.total('/lookup/'), 1, 'one read of the lookup between the two');
    const waiter = w0.counter.total('/lookup/') === 0 ? w0 : w1;
    assert.equal(waiter.counter.total('/tile/'), 0, 'the worker that waited read the tiles the other kept');
    assert.equal(l0.pending + l1.pending, 0);

    // a client's lookup on one worker while the other's verifier reads it: waited for, then taken as kept
    const release = w0.counter.hold('/lookup/rsc.io/sampler@v1.3.0');
    const reading = w0.verifier.lookup('rsc.io/sampler', 'v1.3.0');
    await waitFor('w0 reading the lookup (held at the database)', () => w0.counter.counts.get('/lookup/rsc.io/sampler@v1.3.0') === 1);
    const asking = w1.verifier.keptLookupAnswer('rsc.io/sampler', 'v1.3.0'); // w0 holds the lease: w1 waits
    release();
    assert.deepEqual(await asking, (await reading).answer.body);
    assert.equal(w0.counter.counts.get('/lookup/rsc.io/sampler@v1.3.0') ?? 0, 1);
    assert.equal(w1.counter.counts.get('/lookup/rsc.io/sampler@v1.3.0') ?? 0, 0);

    // the control: the same two processes without leases each read it (so the counts above can fail)
    const control = join(work, 'control.db');
    const c0 = processOn(control, { keep: true });
    const c1 = processOn(control, { keep: true });
    await Promise.all([c0.verifier.lookup('rsc.io/QUOTE', 'v1.5.3-PRE'), c1.verifier.lookup('rsc.io/QUOTE', 'v1.5.3-PRE')]);
    assert.equal(c0.counter.total('/lookup/') + c1.counter.total('/lookup/'), 2);
  });
});
