// End to end with worker processes: the real go command in a client network namespace, `gomodgate serve
// --workers 2` in the gateway namespace behind the iptables REDIRECT, and the Go team's test module proxy behind
// nginx upstream (test/helpers/go-world.ts, prefix gmgwrk). The connections the REDIRECT delivers are accepted
// by the workers themselves (cluster SCHED_NONE), so each one reads its own SO_ORIGINAL_DST: the audit names
// the original destination. A cold build fetches every object once across both workers; a second client with
// fresh caches builds from the cache alone. Needs root, iproute2, iptables, nginx, curl and golang-go.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createGoWorld, type Gateway, type GoWorld } from '../helpers/go-world.js';
import { HELLO_QUOTE, type HelloRun } from '../helpers/go-client.js';
import { describeResult, runInNamespace } from '../helpers/netns.js';
import { auditAfter, auditMark } from '../helpers/e2e-audit.js';


describe('gomodgate --workers 2 end to end (network namespaces, REDIRECT, real go command)', { timeout: 10 * 60_000 }, () => {
  let world: GoWorld;
  let gateway: Gateway;

  before(async () => {
    world = await createGoWorld({ prefix: 'gmgwrk', subnet: 233 });
    gateway = await world.startGateway({ freshData: true, args: ['--workers', '2'] });
  });

  after(async () => {
    await world?.close();
  });

  function assertBuilt(run: HelloRun): void {
    assert.ok(run.ok, `the go command failed:\n${run.transcript()}\n${world.diagnostics(40)}`);
    assert.equal(run.output, HELLO_QUOTE);
  }

  async function metrics(): Promise<string> {
    const r = await runInNamespace(world.namespaces.gateway, ['curl', '-sS', '--max-time', '20', 'http://127.0.0.1:9464/metrics']);
    assert.equal(r.code, 0, describeResult(r));
    return r.stdout;
  }

  test('two workers serve behind the REDIRECT: the build succeeds, rows carry the original destination, each object is fetched once', async () => {
    const log = gateway.logs(200);
    assert.equal((log.match(/"msg":"worker serving"/g) ?? []).length, 2, log);
    const mark = await auditMark();
    const run = await world.runHello({ ns: world.namespaces.client, certFile: gateway.caFile });
    assertBuilt(run);
    const rows = await auditAfter(gateway.dbFile, mark, (rs) => rs.some((r) => r.module === 'rsc.io/quote' && r.kind === 'zip' && r.outcome === 'miss'));
    const listing = rows.map((r) => `${r.outcome} ${r.status ?? ''}\t${r.client}->${r.orig_dst}\t${r.kind}\t${r.module ?? ''}@${r.version ?? ''}`).join('\n');
    const quote = rows.find((r) => r.module === 'rsc.io/quote' && r.kind === 'zip' && r.outcome === 'miss');
    assert.ok(quote, `no miss row for the rsc.io/quote zip:\n${listing}`);
    // read with SO_ORIGINAL_DST on the fd the worker accepted
    assert.equal(quote.orig_dst, `${world.addresses.upstream.v4}:443`, listing);
    assert.equal(quote.client, world.addresses.client.v4, listing);
    // the go command asks for some paths' parents (rsc.io/@v/list) in parallel and drops those requests once
    // it has its answer: such a row is the client leaving (499), not a gateway error
    assert.ok(rows.every((r) => r.outcome !== 'error' || (r.status === 499 && r.kind === 'list')), listing);
    // single-flight across workers: no object fetched from upstream twice
    const misses = new Map<string, number>();
    for (const r of rows.filter((x) => x.outcome === 'miss' && (x.kind === 'zip' || x.kind === 'mod' || x.kind === 'info'))) {
      const key = `${r.kind} ${r.module}@${r.version}`;
      misses.set(key, (misses.get(key) ?? 0) + 1);
    }
    assert.ok(misses.size >= 3, listing);
    for (const [key, n] of misses) assert.equal(n, 1, `${key} fetched ${n} times:\n${listing}`);
    const text = await metrics();
    const served = [...text.matchAll(/^gomodgate_worker_requests_total\{worker="(\d)"\} (\d+)/gm)].map((m) => Number(m[2]));
    assert.equal(served.length, 2, 'both workers report to the supervisor');
    const total = [...text.matchAll(/^gomodgate_requests_total\{[^}]*\} (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
    assert.equal(served.reduce((a, b) => a + b, 0), total, 'the per-worker counts add up to the gateway total');
  });

  test('a second client with fresh caches builds from the gateway cache: no upstream fetch', async () => {
    const mark = await auditMark();
    const run = await world.runHello({ ns: world.namespaces.client, certFile: gateway.caFile });
    assertBuilt(run);
    const rows = await auditAfter(gateway.dbFile, mark, (rs) => rs.some((r) => r.module === 'rsc.io/quote' && r.kind === 'zip'));
    const listing = rows.map((r) => `${r.outcome}\t${r.kind}\t${r.module ?? ''}@${r.version ?? ''}`).join('\n');
    const fetched = rows.filter((r) => (r.kind === 'zip' || r.kind === 'mod' || r.kind === 'info') && r.outcome === 'miss');
    assert.deepEqual(fetched, [], listing);
    assert.ok(rows.some((r) => r.kind === 'zip' && r.outcome === 'hit'), listing);
  });

  test('SIGTERM: the supervisor drains both workers and exits 0', async () => {
    await gateway.stop();
    const log = gateway.logs(400);
    assert.equal((log.match(/"msg":"gomodgate stopped"/g) ?? []).length, 3, log);
  });
});
