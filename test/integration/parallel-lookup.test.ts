// Integration: a .zip or .mod fetched on a cold cache has its checksum-database lookup in flight together with
// its download, not after it. The upstream is the Go team's real test module proxy behind a relay that holds
// every .zip back until it has seen the lookup of that module version (bounded: after HOLD_BOUND_MS it lets the
// zip go anyway and notes that the lookup had not come), so a gateway that asks in turn is caught by what the
// relay saw, never by a clock. The verdict is unchanged: the zip is verified and stored with its h1:.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { ensureGoTestProxyBinary, TEST_SUMDB_KEY } from '../helpers/go-test-proxy.js';
import { startLocalProxy, httpGet, type LocalProxy } from '../helpers/local-go-proxy.js';
import { startTestGateway, fetchVia, type TestGateway } from '../helpers/gateway.js';

/** How long the relay holds a zip waiting for its lookup before it gives up waiting (a bound, not a measure). */
const HOLD_BOUND_MS = 8000;
const DB = '/sumdb/localhost.localdev/sumdb';

let work: string;
let proxy: LocalProxy;
let relay: http.Server;
let gw: TestGateway;
const seen: string[] = [];
/** Per held path: whether the lookup it waited for came while it was held. */
const heldOutcome = new Map<string, 'lookup-seen' | 'gave-up'>();
const lookupWaiters = new Map<string, Array<() => void>>();
/** Paths whose body the relay alters (one byte appended), as a compromised mirror would. */
const tamper = new Set<string>();

function lookupPathFor(zipPath: string): string {
  const m = /^\/(.+)\/@v\/(.+)\.(zip|mod)$/.exec(zipPath)!;
  return `${DB}/lookup/${m[1]}@${m[2]}`;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'gmg-parlookup-'));
  proxy = await startLocalProxy(await ensureGoTestProxyBinary(), join(work, 'proxy'));
  relay = http.createServer(async (req, res) => {
    const path = req.url ?? '/';
    seen.push(path);
    if (path.startsWith(`${DB}/lookup/`)) {
      for (const wake of lookupWaiters.get(path) ?? []) wake();
      lookupWaiters.delete(path);
    }
    if (path.endsWith('.zip')) {
      const lookup = lookupPathFor(path);
      if (seen.includes(lookup)) {
        heldOutcome.set(path, 'lookup-seen');
      } else {
        heldOutcome.set(
          path,
          await new Promise<'lookup-seen' | 'gave-up'>((resolve) => {
            const timer = setTimeout(() => resolve('gave-up'), HOLD_BOUND_MS);
            const waiters = lookupWaiters.get(lookup) ?? [];
            waiters.push(() => {
              clearTimeout(timer);
              resolve('lookup-seen');
            });
            lookupWaiters.set(lookup, waiters);
          }),
        );
      }
    }
    const up = await httpGet(proxy.base + path);
    const body = tamper.has(path) && up.status === 200 ? Buffer.concat([up.body, Buffer.from('\n')]) : up.body;
    res.writeHead(up.status, { 'content-length': String(body.length) }).end(body);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  const relayBase = `http://127.0.0.1:${(relay.address() as { port: number }).port}`;
  gw = await startTestGateway({ upstream: relayBase, sumdb: TEST_SUMDB_KEY, prefetch: 'off' });
});

after(async () => {
  await gw?.close();
  relay?.close();
  await proxy?.stop();
  await rm(work, { recursive: true, force: true });
});

function storedH1(key: string): string | null | undefined {
  const db = gw.db();
  try {
    return (db.prepare('SELECT h1 FROM objects WHERE key = ?').get(key) as { h1: string | null } | undefined)?.h1;
  } finally {
    db.close();
  }
}

test('a cold .zip: its checksum-database lookup is asked while the zip is still held upstream, and the zip is verified as before', async () => {
  const zipPath = '/rsc.io/quote/@v/v1.5.2.zip';
  const direct = await httpGet(`${proxy.base}${zipPath}`);
  const r = await fetchVia(`${gw.baseUrl}${zipPath}`, { timeoutMs: 30_000 });
  assert.equal(r.status, 200, r.body.toString());
  assert.equal(r.sha256, createHash('sha256').update(direct.body).digest('hex'));
  assert.equal(heldOutcome.get(zipPath), 'lookup-seen', `the relay saw, in order: ${seen.join(' ')}`);
  const lookup = (await httpGet(`${proxy.base}${lookupPathFor(zipPath)}`)).body.toString();
  const zipLine = lookup.split('\n').find((l) => l.startsWith('rsc.io/quote v1.5.2 h1:'))!;
  assert.equal(storedH1('mod:rsc.io/quote@v1.5.2.zip'), zipLine.split(' ')[2]);
});

test('the .mod and .zip of one version share one checksum-database lookup', async () => {
  const before = seen.filter((p) => p === `${DB}/lookup/rsc.io/sampler@v1.3.0`).length;
  const mod = await fetchVia(`${gw.baseUrl}/rsc.io/sampler/@v/v1.3.0.mod`, { timeoutMs: 30_000 });
  assert.equal(mod.status, 200, mod.body.toString());
  const zip = await fetchVia(`${gw.baseUrl}/rsc.io/sampler/@v/v1.3.0.zip`, { timeoutMs: 30_000 });
  assert.equal(zip.status, 200, zip.body.toString());
  assert.equal(seen.filter((p) => p === `${DB}/lookup/rsc.io/sampler@v1.3.0`).length - before, 1);
  assert.ok(storedH1('mod:rsc.io/sampler@v1.3.0.zip')?.startsWith('h1:'));
  assert.ok(storedH1('mod:rsc.io/sampler@v1.3.0.mod')?.startsWith('h1:'));
});

test('a go.mod whose bytes do not match the record is still refused and kept nowhere (the verdict does not change)', async () => {
  const modPath = '/rsc.io/sampler/@v/v1.99.99.mod';
  tamper.add(modPath);
  const r = await fetchVia(`${gw.baseUrl}${modPath}`, { timeoutMs: 30_000 });
  assert.equal(r.status, 502, r.body.toString());
  assert.match(r.body.toString(), /checksum mismatch/);
  assert.equal(storedH1('mod:rsc.io/sampler@v1.99.99.mod'), undefined);
  assert.equal(seen.filter((p) => p === `${DB}/lookup/rsc.io/sampler@v1.99.99`).length, 1);
});
